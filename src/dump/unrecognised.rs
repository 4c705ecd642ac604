//! What an input no format recognises is, said so the user knows what to do with it: nothing at
//! all, an ELF program or core (which `attach` or `core` read, not `parse`), compressed data, an
//! image or other binary, or text in no known format, with the format it comes closest to and
//! what that format's reader found missing.

/// Binary signatures, by their first bytes: (magic, what the input is, what to do).
const SIGNATURES: &[(&[u8], &str, &str)] = &[
    (
        b"\x1f\x8b",
        "gzip-compressed data",
        "decompress it first: `zcat FILE | hangscan parse -`",
    ),
    (
        b"\xfd7zXZ\0",
        "xz-compressed data",
        "decompress it first: `xzcat FILE | hangscan parse -`",
    ),
    (
        b"\x28\xb5\x2f\xfd",
        "zstd-compressed data",
        "decompress it first: `zstdcat FILE | hangscan parse -`",
    ),
    (
        b"BZh",
        "bzip2-compressed data",
        "decompress it first: `bzcat FILE | hangscan parse -`",
    ),
    (
        b"PK\x03\x04",
        "a zip archive",
        "extract the dump from it and pass that file",
    ),
    (
        b"\x89PNG\r\n\x1a\n",
        "a PNG image",
        "a screenshot of a dump cannot be read: pass the dump's text",
    ),
    (
        b"\xff\xd8\xff",
        "a JPEG image",
        "a screenshot of a dump cannot be read: pass the dump's text",
    ),
    (
        b"GIF8",
        "a GIF image",
        "a screenshot of a dump cannot be read: pass the dump's text",
    ),
    (
        b"%PDF-",
        "a PDF document",
        "copy the dump's text out of it and pass that",
    ),
];

/// Loose signs of each text format, for naming the one an unrecognised text comes closest to:
/// (format, words whose lines look like that format's, what its reader needs and did not find).
const NEAR: &[(&str, &[&str], &str)] = &[
    (
        "gdb",
        &[" LWP ", "#0 ", "#1 ", " in ", "(gdb)", "Thread 0x"],
        "a thread header (`Thread N (Thread 0x… (LWP N))`) or frame lines starting with `#N`",
    ),
    (
        "jstack",
        &[
            "\tat ",
            "java.lang.",
            " nid=",
            "- locked <",
            "- waiting to lock <",
        ],
        "a thread header (`\"name\" #N … tid=0x… nid=0x…`) or `Full thread dump`",
    ),
    (
        "go",
        &["goroutine ", "runtime.", ".go:", "created by "],
        "goroutine headers (`goroutine N [state]:`)",
    ),
    (
        "python",
        &[
            "Traceback (most recent call last)",
            "File \"",
            ".py\", line ",
        ],
        "every thread's stack: a traceback of one exception is not a dump of the threads; \
         record one with `py-spy dump --pid PID`, or faulthandler (`faulthandler.dump_traceback(\
         all_threads=True)`, or `faulthandler.register(signal.SIGUSR1)` and `kill -USR1 PID`)",
    ),
    (
        "rust",
        &["panicked at", "stack backtrace:", "RUST_BACKTRACE"],
        "a panic message with its `stack backtrace:` (run with `RUST_BACKTRACE=1`)",
    ),
    (
        "lldb",
        &["thread #", "frame #", "(lldb)"],
        "`* thread #N` headers and `frame #N: 0x…` lines",
    ),
    (
        "eu-stack",
        &["TID ", "PID "],
        "`PID N - process` and `TID N:` headers",
    ),
];

/// Why `raw`, which no format recognised, is not a dump, and what to do instead. `tried` names
/// the formats tried, for text in none of them.
pub fn explain(raw: &[u8], tried: &str) -> String {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return "empty: there is no dump in it (was the dump written to another file, or to \
                standard error?)"
            .into();
    }
    if let Some(kind) = elf_type(raw) {
        return match kind {
            ElfKind::Core => "an ELF core file, not a text dump: read it with `hangscan core \
                              FILE` (with `--exe PROGRAM` if the program moved)"
                .into(),
            ElfKind::Other => "an ELF program or library, not a dump: to see why a process of \
                               it hangs, run `hangscan attach PID` (or `hangscan run -- \
                               COMMAND`)"
                .into(),
        };
    }
    if let Some((_, what, todo)) = SIGNATURES.iter().find(|(magic, ..)| raw.starts_with(magic)) {
        return format!("{what}, not a text dump: {todo}");
    }
    let head = &raw[..raw.len().min(64 * 1024)];
    if is_binary(head) {
        return "binary data, not a text dump: pass the text a debugger or runtime printed \
                (gdb's `thread apply all bt`, jstack, a Go or Python dump)"
            .into();
    }
    let text = String::from_utf8_lossy(head);
    match closest(&text) {
        Some((format, needs)) => format!(
            "not a dump in any format hangscan reads (tried: {tried}); it looks closest to \
             {format}, but has no {needs}. If it is {format} text that was cut or filtered, \
             pass the whole dump, or force a format with --input-format"
        ),
        None => format!(
            "not a dump in any format hangscan reads (tried: {tried}), and nothing in it looks \
             like a stack: pass a debugger's or runtime's thread dump"
        ),
    }
}

enum ElfKind {
    Core,
    Other,
}

/// An ELF file's kind, from its header's `e_type` (4 is a core), either byte order.
fn elf_type(raw: &[u8]) -> Option<ElfKind> {
    if !raw.starts_with(b"\x7fELF") {
        return None;
    }
    let e_type = match raw.get(5) {
        Some(2) => raw.get(16..18).map(|b| u16::from_be_bytes([b[0], b[1]])),
        _ => raw.get(16..18).map(|b| u16::from_le_bytes([b[0], b[1]])),
    };
    Some(if e_type == Some(4) {
        ElfKind::Core
    } else {
        ElfKind::Other
    })
}

/// Binary, not text: a NUL byte, or mostly bytes that are neither printable nor UTF-8.
fn is_binary(head: &[u8]) -> bool {
    if memchr::memchr(0, head).is_some() {
        return true;
    }
    let bad = String::from_utf8_lossy(head)
        .chars()
        .filter(|&c| c == char::REPLACEMENT_CHARACTER || (c.is_control() && !c.is_whitespace()))
        .count();
    bad * 10 > head.len().min(4096)
}

/// The format whose loose signs most lines carry, and what its reader needs.
fn closest(text: &str) -> Option<(&'static str, &'static str)> {
    NEAR.iter()
        .map(|(format, signs, needs)| {
            let lines = (text.lines().take(2000))
                .filter(|l| signs.iter().any(|s| l.contains(s)))
                .count();
            (lines, *format, *needs)
        })
        .filter(|&(lines, ..)| lines > 0)
        .max_by_key(|&(lines, ..)| lines)
        .map(|(_, format, needs)| (format, needs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_non_dump_gets_its_own_answer() {
        assert!(explain(b"", "gdb").starts_with("empty"));
        assert!(explain(b" \n\n", "gdb").starts_with("empty"));
        let mut core = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        core.extend([4, 0, 0x3e, 0]);
        assert!(explain(&core, "gdb").contains("hangscan core FILE"));
        core[16] = 2;
        assert!(explain(&core, "gdb").contains("hangscan attach PID"));
        assert!(explain(b"\x89PNG\r\n\x1a\n\0\0", "gdb").starts_with("a PNG image"));
        assert!(explain(b"\x1f\x8b\x08\0", "gdb").contains("zcat"));
        assert!(explain(b"abc\0def", "gdb").starts_with("binary data"));
    }

    #[test]
    fn text_names_the_format_it_comes_closest_to() {
        let filtered = "\tat java.lang.Object.wait(Native Method)\n\tat App.run(App.java:3)\n";
        let why = explain(filtered.as_bytes(), "gdb, jstack");
        assert!(
            why.contains("closest to jstack") && why.contains("nid="),
            "{why}"
        );
        let trace = "Traceback (most recent call last):\n  File \"a.py\", line 3, in <module>\n";
        let why = explain(trace.as_bytes(), "gdb");
        assert!(
            why.contains("closest to python") && why.contains("py-spy"),
            "{why}"
        );
        let log = "just some log output\nnothing here\n";
        let why = explain(log.as_bytes(), "gdb, go");
        assert!(
            why.contains("tried: gdb, go") && why.contains("nothing in it"),
            "{why}"
        );
    }
}
