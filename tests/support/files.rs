//! Files a test writes and reads back: a scratch directory that goes away when the test passes,
//! and `hangscan parse` of a dump written there.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// One test's directory, `<suite>-<name>-<pid>` under the target's. It holds cores of a few
/// hundred MiB, so it is removed when the test passes; a failing test leaves it for a look.
pub struct Scratch(PathBuf);

/// A fresh scratch directory for one test's files.
pub fn scratch(suite: &str, name: &str) -> Scratch {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot make the scratch directory {}: {e}", dir.display()));
    Scratch(dir)
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the failed test's files are kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
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
