//! Writers blocked behind readers (`c_writer_behind_readers`): two readers hold a pthread
//! rwlock and wait for what the writer would publish, two writers wait to write it. hangscan
//! reports a writer-behind-readers finding with the reader count read from the lock (live and
//! from a core: proven; from gdb's owners dump: symbolic), never names a reader as certain, and
//! gives both writers the rwlock's own address whichever futex word they sleep on (the
//! publisher sleeps on `__wrphase_futex`, the compactor on `__writers_futex`). From a plain
//! gdb `bt full`, which prints neither field of the global lock, it says whether readers hold
//! it cannot be told, and what would tell.

mod support;

use support::{gcore, gdb_owners_dump, hangscan, require, scratch, HungProcess};

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
    let dir = scratch("readers", "core");
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
    let dir = scratch("readers", "gdb");
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

/// A plain gdb `bt full` prints the global rwlock only as its address: neither its writer nor
/// its reader count. The report says what it shows (both writers wait on the lock, no thread
/// is seen holding it as a writer), that whether readers hold it cannot be told from this dump,
/// and what would tell; it never names readers nor reports a writer behind readers.
#[test]
fn a_plain_bt_full_says_whether_readers_hold_the_lock_cannot_be_told_and_what_would_tell() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("readers", "btfull");
    let p = HungProcess::start("c_writer_behind_readers");
    let dump = support::gdb_dump(p.pid, true);
    drop(p);
    let file = dir.join("btfull.txt");
    std::fs::write(&file, &dump).unwrap();
    let (code, out, err) = hangscan(&["parse", file.to_str().unwrap()]);
    let context = format!("{out}\n{err}\n--- the dump:\n{dump}");
    // Every thread waits: the stall stays the verdict.
    assert_eq!(code, Some(1), "{context}");
    assert!(out.starts_with("STALL: "), "{context}");
    let head = out
        .lines()
        .find(|l| l.contains("] rwlock-readers-unknown (warning, evidence: symbolic)"))
        .unwrap_or_else(|| panic!("no undecided finding: {context}"));
    let mut lines = out.lines().skip_while(|l| *l != head).skip(1);
    let title = lines.next().unwrap_or_default();
    assert!(
        title.contains("write wait on rwlock table_lock (0x")
            && title.contains("2 threads wait to take it for writing")
            && title.contains("no thread is seen holding it as a writer")
            && title.contains("whether readers hold it cannot be told from this dump"),
        "{context}"
    );
    // Both writers, each at its program frame; no reader named, no holder.
    let finding: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
    let finding = finding.join("\n");
    for (name, function) in [("publisher", "publish ("), ("compactor", "compact (")] {
        assert!(
            finding.lines().any(|l| l
                .contains(&format!("\"{name}\" waits for rwlock (write) table_lock"))
                && l.contains(function)),
            "{context}"
        );
    }
    // What would tell: the lock's fields, read by attach, a core or the owners script.
    for decides in [
        "hangscan attach",
        "hangscan core",
        "owners.gdb",
        "hangscan-owners",
    ] {
        assert!(finding.contains(decides), "{decides}: {context}");
    }
    for other in [
        "writer-behind-readers",
        "held by",
        "may be one of the readers",
        "lock-cycle",
    ] {
        assert!(!out.contains(other), "{other} reported: {context}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
