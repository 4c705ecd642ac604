//! Files a test writes and reads back: a fresh scratch directory, and `hangscan parse` of a
//! dump written there.

use std::path::{Path, PathBuf};

/// A fresh directory for one test's files, `<suite>-<name>-<pid>` under the target's.
pub fn scratch(suite: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `hangscan parse` of `text`, written to a file in `dir`; the dump follows the report, so
/// that a failed assertion shows what the debugger saw.
pub fn parse_text(dir: &Path, text: &str) -> (Option<i32>, String, String) {
    let file = dir.join("dump.txt");
    std::fs::write(&file, text).unwrap();
    let (code, mut out, err) = super::hangscan(&["parse", file.to_str().unwrap()]);
    out.push_str(&format!("\n--- the dump:\n{text}"));
    (code, out, err)
}
