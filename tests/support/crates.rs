//! The fixture programs built against real crates (`fixtures/programs/rust_crates`, a cargo
//! project of its own, one `[[bin]]` per fixture, its versions pinned by its committed
//! `Cargo.lock`): built by cargo into the tests' scratch area, once per test run and again
//! only when a source of the project is newer than the program.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// `fixtures/programs/rust_crates`.
fn project() -> PathBuf {
    super::programs_dir().join("rust_crates")
}

/// The newest modification time of the project's sources: its manifest, its lock file and
/// every file under `src/`.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut pending = vec![
        dir.join("Cargo.toml"),
        dir.join("Cargo.lock"),
        dir.join("src"),
    ];
    while let Some(p) = pending.pop() {
        let Ok(meta) = fs::metadata(&p) else { continue };
        if meta.is_dir() {
            pending.extend(
                fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if let Ok(m) = meta.modified() {
            newest = newest.max(Some(m));
        }
    }
    newest
}

/// The program of fixture `bin` (`src/bin/<bin>.rs` of the project), built first if it is
/// missing or the project's sources changed since the last build. One build at a time across every test
/// process (a file lock): a test that finds it being built waits and then uses it.
pub fn build_crate_fixture(bin: &str) -> PathBuf {
    let dir = project();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust_crates");
    let out = target.join("debug").join(bin);
    // Written after each build: when the programs were last built from the sources.
    let stamp = target.join(".built");
    let stale = || {
        let built = fs::metadata(&stamp).and_then(|m| m.modified()).ok();
        built.is_none() || !out.is_file() || newest_source(&dir) > built
    };
    if !stale() {
        return out;
    }
    fs::create_dir_all(&target)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", target.display()));
    let lock = fs::File::create(target.join(".build.lock"))
        .unwrap_or_else(|e| panic!("cannot create the build lock of rust_crates: {e}"));
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("cannot lock the build of rust_crates: {e}"));
    if !stale() {
        return out;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&dir)
        .args(["build", "--locked", "--bins"])
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build rust_crates: {e}"));
    assert!(
        output.status.success(),
        "building the rust_crates fixtures failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.is_file(), "no program {bin} after building rust_crates");
    fs::write(&stamp, b"").unwrap_or_else(|e| panic!("cannot write {}: {e}", stamp.display()));
    out
}
