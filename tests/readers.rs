//! Writers blocked behind readers (`c_writer_behind_readers`): two readers hold a pthread
//! rwlock and wait for what the writer would publish, two writers wait to write it. hangscan
//! reports a writer-behind-readers finding with the reader count read from the lock (live and
//! from a core: proven; from gdb's owners dump: symbolic), never names a reader as certain, and
//! gives both writers the rwlock's own address whichever futex word they sleep on (the
//! publisher sleeps on `__wrphase_futex`, the compactor on `__writers_futex`).

mod support;

use std::path::{Path, PathBuf};
use support::{gcore, gdb_owners_dump, hangscan, require, HungProcess};

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("readers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The report on `c_writer_behind_readers`, at `grade`: the finding with its count, both
/// writers on one lock (`table_lock`, by its symbol), no reader named, nothing else found
/// instead.
fn assert_behind_readers(out: &str, grade: &str) {
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.contains("writer blocked behind readers: 2 threads wait to take rwlock ")
            && first.contains("no writer holds it, 2 readers hold it")
            && first.contains("the lock does not record which threads"),
        "{out}"
    );
    assert!(
        out.contains("[1] writer-behind-readers (") && out.contains(&format!("evidence: {grade})")),
        "{out}"
    );
    // Both writers wait for the rwlock's start, the compactor too (it sleeps 12 bytes in).
    let locks: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.trim_start().starts_with(['1', '2']) && l.contains("waits for rwlock (write) ")
        })
        .filter_map(|l| {
            l.split("waits for rwlock (write) ")
                .nth(1)?
                .split(':')
                .next()
        })
        .collect();
    assert_eq!(locks.len(), 2, "{out}");
    assert_eq!(locks[0], locks[1], "both writers wait for one lock: {out}");
    // Named by its symbol, as gdb names it (live and from a core: the executable's symbols).
    assert!(locks[0].starts_with("table_lock (0x"), "{out}");
    // Readers are never named as holders: the lock does not record them.
    for other in [
        "reader-1\" holds",
        "reader-2\" holds",
        "held by",
        "lock-cycle",
        "stall",
        "[2]",
    ] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

#[test]
fn writers_behind_blocked_readers_are_found_live_and_in_a_core() {
    let p = HungProcess::start("c_writer_behind_readers");
    let (code, out, err) = hangscan(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.starts_with("DEADLOCK: writer blocked behind readers"),
        "{out}"
    );
    assert_behind_readers(&out, "proven");
    if !require("gcore") {
        return;
    }
    let dir = scratch("core");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert_behind_readers(&out, "proven");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writers_behind_readers_are_found_in_gdbs_owners_dump() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("gdb");
    let p = HungProcess::start("c_writer_behind_readers");
    let dump = gdb_owners_dump(p.pid);
    drop(p);
    let file = dir.join("owners.txt");
    std::fs::write(&file, &dump).unwrap();
    let (_, out, err) = hangscan(&["parse", file.to_str().unwrap()]);
    // The owners dump shows only the threads taking locks: a warning, read from gdb's print.
    assert_behind_readers(&out, "symbolic");
    assert!(
        out.contains("(`__readers` printed at line "),
        "the count's source: {out}\n{err}\n--- the dump:\n{dump}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
