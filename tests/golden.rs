//! Every report format on a few representative dumps (a lock cycle, a self-join through a
//! signal handler, a root blocker, a healthy process) is compared byte for byte with the output
//! recorded in `fixtures/expected/<case>.<ext>`: a change to any renderer shows up here as a
//! diff to review. `HANGSCAN_RECORD=1 cargo test --test golden` re-records them all (refused
//! under `CI`). Outputs are deterministic: the dump is named by its path relative to the
//! repository, and no report holds a time or a machine's path of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (case, dump relative to the repository, exit status hangscan gives it).
const CASES: &[(&str, &str, i32)] = &[
    ("lock-cycle", "fixtures/dumps/gdb/c_abba.owners.txt", 1),
    (
        "signal-self-join",
        "fixtures/corpus/seed/rr-nebula-sigterm-selfjoin.txt",
        1,
    ),
    (
        "root-blocker",
        "fixtures/dumps/gdb/c_root_blocker.owners.txt",
        0,
    ),
    ("healthy", "fixtures/dumps/gdb/cpp_idle_pool.bt.txt", 0),
];

/// (`--format` value, file extension of its recording).
const FORMATS: &[(&str, &str)] = &[
    ("text", "txt"),
    ("json", "json"),
    ("dot", "dot"),
    ("markdown", "md"),
    ("sarif", "sarif"),
    ("junit", "xml"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn expected_dir() -> PathBuf {
    repo().join("fixtures/expected")
}

/// What `hangscan parse --format FORMAT DUMP` prints, run in the repository.
fn render(dump: &str, format: &str, status: i32) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(["parse", "--color", "never", "--format", format, dump])
        .current_dir(repo())
        .env_remove("NO_COLOR")
        .output()
        .expect("run hangscan");
    assert_eq!(
        out.status.code(),
        Some(status),
        "{dump} as {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("reports are UTF-8")
}

/// Where `got` first differs from `want`, with the line before and the lines themselves.
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let at = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let line = |v: &[&str], i: usize| v.get(i).copied().unwrap_or("<end>").to_string();
    format!(
        "line {}:\n    recorded: {}\n    now:      {}",
        at + 1,
        line(&w, at),
        line(&g, at)
    )
}

#[test]
fn every_format_matches_its_recording() {
    let record = std::env::var_os("HANGSCAN_RECORD").is_some();
    assert!(
        !record || std::env::var_os("CI").is_none(),
        "HANGSCAN_RECORD under CI: recordings are made and reviewed by a person"
    );
    let mut failures = Vec::new();
    let mut recorded = Vec::new();
    for (case, dump, status) in CASES {
        for (format, ext) in FORMATS {
            let name = format!("{case}.{ext}");
            let path = expected_dir().join(&name);
            let got = render(dump, format, *status);
            assert!(!got.is_empty(), "{name}: nothing rendered");
            recorded.push(name.clone());
            if record {
                std::fs::create_dir_all(expected_dir()).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(want) if want == got => {}
                Ok(want) => failures.push(format!(
                    "{name} ({dump} as {format}) differs from its recording, {}",
                    first_difference(&want, &got)
                )),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
    }
    // A recording no case makes any more is stale.
    for entry in std::fs::read_dir(expected_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name != "README.md" && !recorded.contains(&name) {
            failures.push(format!("fixtures/expected/{name}: no case makes it"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(re-record with HANGSCAN_RECORD=1 cargo test --test golden, then review the diff)",
        failures.join("\n")
    );
}
