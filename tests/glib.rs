//! GLib locks, built against the real GLib (`pkg-config glib-2.0`): `c_glib_abba`'s two threads
//! each hold a GMutex through a `g_autoptr(GMutexLocker)` and wait in `g_mutex_locker_new` for
//! the other's. A GMutex records no owner, so only the lockers show who holds what: their
//! pointer value is the mutex. Read from memory (attached, from a gcore core) the cycle is
//! `proven`; from a gdb `bt full`, where the locker is printed without its type (`locker =
//! 0x… <journal_lock>`), `symbolic`. The lockers declared on the line the thread waits at are
//! not set yet: their stale bytes hold nothing. Guard rules of a `--rules` file are read by the
//! capture too, before the built-in ones. `c_glib_lock_abba` takes each second lock with a
//! plain `g_mutex_lock`, whose frames a distribution's GLib leaves unnamed: read from memory, a
//! bare futex wait on a locker's word is a wait for its mutex (proven); from gdb's text, where
//! nothing names the word, it stays a stall, never a cycle. Every wait of a cycle names its
//! GMutex by its symbol (`journal_lock`), as gdb prints it.

mod support;

use serde_json::Value;
use support::report::{cycle, json};
use support::{gcore, gdb_dump, hangscan, require, scratch, HungProcess};

/// The cycle on the report: each thread's `locker` (a `GMutexLocker_autoptr`) holds the
/// mutex the other waits for, in `g_mutex_locker_new`; the lockers still being set hold
/// nothing. Returns the cycle's grade.
fn assert_lockers_close_the_cycle(report: &Value) -> String {
    let (grade, steps) = cycle(report);
    for (holder, function, line) in [
        ("auditor", "audit_books", "c_glib_abba.c:44"),
        ("ledger", "post_entry", "c_glib_abba.c:34"),
    ] {
        assert!(
            steps.lines().any(|l| l.contains("held by")
                && l.contains("glib.")
                && l.contains(&format!("a guard in #3 {function} ("))
                && l.contains(line)),
            "{holder}'s locker in {function} holds a lock of the cycle: {steps}"
        );
        assert!(
            steps.lines().any(|l| l.contains("waits for mutex")
                && l.contains(&format!("{function} ("))
                && l.contains("in g_mutex_locker_new")),
            "{holder} waits in g_mutex_locker_new, called from {function}: {steps}"
        );
    }
    assert_locks_named(&steps);
    grade
}

/// The waits name each GMutex by its symbol, as gdb prints it: from gdb's text, and read from
/// memory by the data symbol at its address (the program's symbol table).
fn assert_locks_named(steps: &str) {
    for lock in ["journal_lock", "accounts_lock"] {
        assert!(
            steps.contains(&format!("waits for mutex {lock} (0x")),
            "the waits name the mutex by its symbol: {steps}"
        );
    }
}

/// Every locker read from memory: (name, the lock it holds), in the frames of `function`.
fn lockers<'a>(report: &'a Value, function: &str) -> Vec<(&'a str, Option<&'a str>)> {
    (report["threads"].as_array().unwrap().iter())
        .flat_map(|t| t["frames"].as_array().unwrap())
        .filter(|f| f["function"] == function)
        .flat_map(|f| f["vars"].as_array().into_iter().flatten())
        .filter(|v| v["type"] == "GMutexLocker_autoptr")
        .map(|v| (v["name"].as_str().unwrap(), v["holds"]["lock"].as_str()))
        .collect()
}

/// From memory: each thread's `locker` holds a lock, proven by `glib.mutex-locker`; the one
/// being set where the thread waits (`accounts`, `journal`) holds nothing.
fn assert_read_from_memory(report: &Value) {
    assert_eq!(assert_lockers_close_the_cycle(report), "proven", "{report}");
    for (function, pending) in [("post_entry", "accounts"), ("audit_books", "journal")] {
        let found = lockers(report, function);
        assert!(
            found.iter().any(|(n, l)| *n == "locker" && l.is_some()),
            "{function}: {found:?}"
        );
        assert!(
            found.iter().any(|(n, l)| *n == pending && l.is_none()),
            "{function}'s `{pending}` is not set yet: {found:?}"
        );
    }
}

#[test]
fn a_glib_abba_attached_is_proven_by_its_mutex_lockers() {
    if !require("glib-2.0") {
        return;
    }
    let p = HungProcess::start("c_glib_abba");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_read_from_memory(&report);
    let (_, text, _) = hangscan(&["attach", &p.pid.to_string()]);
    assert!(
        text.starts_with("DEADLOCK: lock cycle: 2 threads wait on each other's locks"),
        "{text}"
    );
    assert!(
        text.contains("Take the GMutexes in one global order"),
        "{text}"
    );
}

#[test]
fn a_glib_abba_core_is_proven_by_its_mutex_lockers() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    let dir = scratch("glib", "core");
    let p = HungProcess::start("c_glib_abba");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert_read_from_memory(&report);
}

#[test]
fn a_glib_abba_in_a_gdb_bt_full_is_symbolic_by_its_locker_locals() {
    if !require("glib-2.0") || !require("gdb") {
        return;
    }
    let dir = scratch("glib", "gdb");
    let p = HungProcess::start("c_glib_abba");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let file = dir.join("dump.txt");
    std::fs::write(&file, &dump).unwrap();
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}\n--- the dump:\n{dump}");
    let grade = assert_lockers_close_the_cycle(&report);
    assert_eq!(grade, "symbolic", "{report}");
}

/// A rule file whose guard rule comes before the built-in one for the same lockers.
const USER_GUARD: &str = r#"
[[rule]]
id = "mine.locker"
summary = "our own word for a GMutexLocker"
meaning = "hold"
kind = "mutex"
guard = '^GMutexLocker_autoptr$'
pointer = ""
examples = ["GMutexLocker_autoptr"]
counterexamples = ["GMutex"]
"#;

/// The rule each `locker` read from memory was proven by.
fn locker_rules(report: &Value) -> Vec<String> {
    (report["threads"].as_array().unwrap().iter())
        .flat_map(|t| t["frames"].as_array().unwrap())
        .flat_map(|f| f["vars"].as_array().into_iter().flatten())
        .filter(|v| v["name"] == "locker")
        .map(|v| v["holds"]["rule"].as_str().unwrap_or("none").to_string())
        .collect()
}

#[test]
fn guard_rules_given_with_rules_are_read_live_and_from_a_core() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    let dir = scratch("glib", "rules");
    let rules = dir.join("mine.toml");
    std::fs::write(&rules, USER_GUARD).unwrap();
    let rules = rules.to_str().unwrap();
    let p = HungProcess::start("c_glib_abba");
    let (code, live) = json(&["attach", "--rules", rules, &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{live}");
    assert_eq!(
        locker_rules(&live),
        ["mine.locker", "mine.locker"],
        "{live}"
    );
    let (grade, steps) = cycle(&live);
    assert_eq!(grade, "proven", "{steps}");
    assert!(steps.contains("(mine.locker)"), "{steps}");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, cored) = json(&["core", "--rules", rules, core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{cored}");
    assert_eq!(
        locker_rules(&cored),
        ["mine.locker", "mine.locker"],
        "{cored}"
    );
}

/// `c_glib_lock_abba`: each thread's second lock is a plain `g_mutex_lock`, whose frames a
/// distribution's GLib does not name: a bare futex wait under `syscall`, on the word the
/// other thread's locker points at. Read from memory, that is a wait for the locker's mutex,
/// named by its symbol.
fn assert_plain_lock_waits_close_the_cycle(report: &Value) {
    let (grade, steps) = cycle(report);
    assert_eq!(grade, "proven", "{steps}");
    for (function, line) in [
        ("post_entry", "c_glib_lock_abba.c:35"),
        ("audit_books", "c_glib_lock_abba.c:46"),
    ] {
        assert!(
            steps.lines().any(|l| l.contains("waits for mutex")
                && l.contains(&format!("{function} ("))
                && l.contains(line)
                && l.contains("in syscall")),
            "{function}'s g_mutex_lock: {steps}"
        );
        assert!(
            steps.lines().any(|l| l.contains("held by")
                && l.contains("(glib.mutex-locker)")
                && l.contains(&format!("a guard in #2 {function} ("))),
            "{function}'s locker: {steps}"
        );
    }
    assert_locks_named(&steps);
}

#[test]
fn plain_g_mutex_lock_waits_on_a_lockers_mutex_are_proven_live_saved_and_from_a_core() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    let dir = scratch("glib", "plain");
    let p = HungProcess::start("c_glib_lock_abba");
    let saved = dir.join("snapshot.json");
    let saved = saved.to_str().unwrap();
    let (code, live) = json(&["attach", "--save", saved, &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{live}");
    assert_plain_lock_waits_close_the_cycle(&live);
    let (code, again) = json(&["parse", saved]);
    assert_eq!(code, Some(1), "{again}");
    assert_plain_lock_waits_close_the_cycle(&again);
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, cored) = json(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{cored}");
    assert_plain_lock_waits_close_the_cycle(&cored);
}

#[test]
fn plain_g_mutex_lock_waits_in_a_gdb_bt_full_are_a_stall_never_a_cycle() {
    if !require("glib-2.0") || !require("gdb") {
        return;
    }
    let dir = scratch("glib", "plain-gdb");
    let p = HungProcess::start("c_glib_lock_abba");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let file = dir.join("dump.txt");
    std::fs::write(&file, &dump).unwrap();
    // gdb prints no argument of GLib's unnamed slow path: nothing says which word each waits on.
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    let kinds: Vec<&str> = (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["stall"], "{report}\n--- the dump:\n{dump}");
    assert_eq!(code, Some(1), "{report}");
}
