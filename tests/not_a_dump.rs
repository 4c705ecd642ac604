//! Inputs that are not dumps get an answer each, saying what they are and what to do instead:
//! nothing at all, an ELF program or core, compressed data, an image, text in no known format
//! (with the format it comes closest to); and `parse -` on a terminal says it reads stdin.

mod support;

use std::path::Path;
use support::{hangscan, require, scratch};

/// `hangscan parse` of `bytes` written to a file: its exit status and standard error.
fn parse_bytes(dir: &Path, name: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let (code, _, err) = hangscan(&["parse", file.to_str().unwrap()]);
    (code, err)
}

#[test]
fn each_kind_of_input_that_is_no_dump_says_what_it_is_and_what_to_do() {
    let dir = scratch("not-a-dump", "kinds");
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty.txt", Vec::new(), &["empty: there is no dump in it"]),
        ("blank.txt", b"\n  \n".to_vec(), &["empty"]),
        (
            "hangscan",
            std::fs::read(env!("CARGO_BIN_EXE_hangscan")).unwrap(),
            &["an ELF program or library", "hangscan attach PID"],
        ),
        (
            "core",
            // An ELF header whose type is 4, a core.
            [
                &b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x04\0\x3e\0"[..],
                &[0; 44],
            ]
            .concat(),
            &["an ELF core file", "hangscan core FILE"],
        ),
        (
            "shot.png",
            [&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], &[7; 64]].concat(),
            &["a PNG image", "pass the dump's text"],
        ),
        (
            "dump.txt.gz",
            b"\x1f\x8b\x08\0\0\0\0\0\0\x03".to_vec(),
            &["gzip-compressed", "zcat FILE | hangscan parse -"],
        ),
        (
            "blob.bin",
            (0u8..=255).cycle().take(4096).collect(),
            &["binary data"],
        ),
        (
            // A jstack grep-filtered down to its `at` lines: no thread header is left.
            "filtered.txt",
            b"\tat java.lang.Object.wait(Native Method)\n\tat App.drain(App.java:41)\n\
              \tat java.lang.Thread.run(Thread.java:829)\n"
                .to_vec(),
            &["closest to jstack", "nid="],
        ),
        (
            "traceback.txt",
            b"Traceback (most recent call last):\n  File \"app.py\", line 9, in <module>\n    \
              main()\nKeyboardInterrupt\n"
                .to_vec(),
            &["closest to python", "py-spy dump --pid PID"],
        ),
        (
            "log.txt",
            b"starting\nlistening on :8080\n".to_vec(),
            &[
                "not a dump in any format",
                "tried: ",
                "gdb",
                "nothing in it looks like a stack",
            ],
        ),
    ];
    for (name, bytes, says) in cases {
        let (code, err) = parse_bytes(&dir, name, &bytes);
        assert_eq!(code, Some(2), "{name}: {err}");
        for s in says {
            assert!(err.contains(s), "{name}: `{s}` not said: {err}");
        }
        // Only text that might be a dump is told to force a format.
        if !name.ends_with(".txt") || name.starts_with("empty") {
            assert!(!err.contains("--input-format"), "{name}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parse_stdin_on_a_terminal_says_it_is_reading_it() {
    if !require("script") {
        return;
    }
    // `script` runs hangscan on a terminal of its own; the text typed ends with Ctrl-D (EOT).
    let o = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf 'hello\\n\\004' | script -qec '{} parse -' /dev/null",
                env!("CARGO_BIN_EXE_hangscan")
            ),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("reading a dump from standard input (this terminal)")
            && said.contains("Ctrl-D"),
        "{said}"
    );
    // Not on a terminal, it says nothing of the kind.
    let (_, _, err) = hangscan(&["parse", "-"]);
    assert!(!err.contains("reading a dump"), "{err}");
}
