//! Owner died (`c_owner_died`): a worker dies holding a robust mutex; the next locker gets
//! `EOWNERDEAD`, takes it for a failure and bails out still holding the lock, never making it
//! consistent; a third thread waits for it. hangscan reports an owner-died finding naming the
//! thread that recovered the lock (read from the lock word: proven live and from a core,
//! symbolic from gdb's owners dump), never an orphaned lock or a stall; from a plain gdb
//! `bt full`, where no lock word is printed, it finds no owner-died and says how to read it.

mod support;

use support::HungProcess;
use support::{gcore, gdb_dump, gdb_owners_dump, hangscan, parse_text, require, scratch};

/// The fixture, running, with the tids of its flusher (the recovering thread) and reporter.
fn start() -> (HungProcess, String, String) {
    let p = HungProcess::start("c_owner_died");
    let named = |name: &str| {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", p.pid)).unwrap();
        tasks
            .map(|t| t.unwrap().file_name().to_string_lossy().into_owned())
            .find(|t| {
                std::fs::read_to_string(format!("/proc/{}/task/{t}/comm", p.pid))
                    .is_ok_and(|c| c.trim() == name)
            })
            .unwrap_or_else(|| panic!("no thread {name}"))
    };
    let (flusher, reporter) = (named("flusher"), named("reporter"));
    (p, flusher, reporter)
}

/// The report: one owner-died finding at `grade` on the mutex named by its symbol (as gdb
/// prints it; live and from a core, from the executable's symbol table), the reporter waiting
/// in `report_stats`, the flusher holding the lock, and nothing found instead.
fn assert_owner_died(out: &str, grade: &str, flusher: &str, reporter: &str) {
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("DEADLOCK: owner died: 1 thread(s) wait for mutex stats_lock (0x")
            && first.contains("a robust mutex whose previous owner died holding it; ")
            && first.contains(&format!(
                "LWP {flusher} \"flusher\" recovered it (EOWNERDEAD) and holds it without \
                 making it consistent"
            )),
        "{out}"
    );
    assert!(
        out.contains(&format!("[1] owner-died (deadlock, evidence: {grade})")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("1. LWP {reporter} "))
                && l.contains("waits for mutex")
                && l.contains("report_stats (")
                && l.contains("c_owner_died.c:")),
        "the reporter's step names its program frame: {out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("2. held by LWP {flusher} "))),
        "{out}"
    );
    assert!(out.contains("call pthread_mutex_consistent"), "{out}");
    for other in ["orphaned", "stall", "lock-cycle", "self-lock", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

#[test]
fn a_robust_mutex_recovered_and_kept_is_an_owner_died_live() {
    let (p, flusher, reporter) = start();
    let (code, out, err) = hangscan(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert_owner_died(&out, "proven", &flusher, &reporter);
    assert!(
        out.contains("The lock word (read from memory at 0x"),
        "{out}"
    );
}

#[test]
fn a_robust_mutex_recovered_and_kept_is_an_owner_died_in_a_core() {
    if !require("gcore") {
        return;
    }
    let dir = scratch("died", "core");
    let (p, flusher, reporter) = start();
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    // A core keeps no thread names: the flusher is its LWP alone.
    let out = out.replace(
        &format!("LWP {flusher} "),
        &format!("LWP {flusher} \"flusher\" "),
    );
    assert_owner_died(&out, "proven", &flusher, &reporter);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_robust_mutex_recovered_and_kept_is_an_owner_died_in_gdb_owners() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("died", "gdb");
    let (p, flusher, reporter) = start();
    let dump = gdb_owners_dump(p.pid);
    drop(p);
    let (code, out, err) = parse_text(&dir, &dump);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert_owner_died(&out, "symbolic", &flusher, &reporter);
    assert!(
        out.contains("(`__lock` printed at line"),
        "gdb prints the lock word: {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bt_full_without_the_lock_word_says_how_to_read_it_and_guesses_nothing() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("died", "bt-full");
    let (p, _, reporter) = start();
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let (_, out, _) = parse_text(&dir, &dump);
    for other in [
        "owner died:",
        "owner-died",
        "orphaned",
        "held by",
        "lock-cycle",
    ] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
    assert!(
        out.lines().any(|l| l.contains(&format!("LWP {reporter} "))
            && l.contains("waits for mutex stats_lock (0x")),
        "{out}"
    );
    let fix = out.lines().find(|l| l.trim_start().starts_with("fix:"));
    let fix = fix.unwrap_or_else(|| panic!("no fix: {out}"));
    assert!(
        fix.contains("print *mutex")
            && fix.contains("__lock & 0x3fffffff")
            && fix.contains("EOWNERDEAD"),
        "the fix says what decides it: {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
