//! RAII guards as proof of who holds a lock, beyond one guard and one mutex: a
//! `std::scoped_lock` of two mutexes (`cpp_scoped_lock_abba`) holds both through its tuple of
//! references, each read from memory (attached, from a gcore core: `proven`) and each printed
//! by gdb's `bt full` (`symbolic`); the settler, which holds the auditor's mutex only through
//! the tuple, is named as its holder by the guard in its own frame. Boost.Thread's guards
//! (`cpp_boost_abba`: an ABBA on two boost::mutex, each first lock held by a
//! boost::unique_lock): proven live and from a core, symbolic from a `bt full`, the steps at
//! the program's frames past Boost's inline lock calls; and `cpp_boost_shared_abba`, a cycle
//! through a boost::shared_mutex held by a boost::shared_lock, whose waiters sleep in a
//! condition variable inside it (the lock call's `this` names it). Abseil (`cpp_absl_abba`: an ABBA on
//! two absl::Mutex, each first lock held by an absl::MutexLock, built with `pkg-config
//! absl_synchronization`): an absl::Mutex records no owner and its waiters sleep on their own
//! semaphores, so the MutexLocks alone show who holds what and the constructor's `mu` which
//! mutex is waited for: proven live and from a core, symbolic from a `bt full`.

mod support;

use serde_json::Value;
use support::report::{cycle, json};
use support::{gcore, gdb_dump, hangscan, require, scratch, HungProcess};

/// The report's cycle, of `grade`: each `(function, line, rule)` is a frame whose guard holds
/// a lock of the cycle by that rule and that waits, at `line`, for another lock of it.
fn assert_guards_close_the_cycle(report: &Value, grade: &str, holders: &[(&str, &str, &str)]) {
    let (found, steps) = cycle(report);
    assert_eq!(found, grade, "{steps}");
    for (function, line, rule) in holders {
        assert!(
            steps.lines().any(|l| l.contains("held by")
                && l.contains(&format!("({rule}): a guard in #"))
                && l.contains(&format!(" {function} ("))
                && l.contains(line)),
            "a guard in {function} holds a lock of the cycle ({rule}): {steps}"
        );
        assert!(
            steps.lines().any(|l| l.contains(" waits for ")
                && l.contains(&format!(" {function} ("))
                && l.contains(line)),
            "{function} waits at {line}: {steps}"
        );
    }
}

/// Every guard variable read from memory in the frames of `function`: (name, every lock it
/// holds).
fn guards<'a>(report: &'a Value, function: &str) -> Vec<(&'a str, Vec<&'a str>)> {
    (report["threads"].as_array().unwrap().iter())
        .flat_map(|t| t["frames"].as_array().unwrap())
        .filter(|f| f["function"] == function)
        .flat_map(|f| f["vars"].as_array().into_iter().flatten())
        .map(|v| {
            let holds = &v["holds"];
            let locks = (holds["lock"].as_str().into_iter())
                .chain(
                    holds["also"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                )
                .collect();
            (v["name"].as_str().unwrap(), locks)
        })
        .collect()
}

const SCOPED_HOLDERS: &[(&str, &str, &str)] = &[
    (
        "settle",
        "cpp_scoped_lock_abba.cpp:35",
        "libstdcxx.scoped-lock-var",
    ),
    (
        "audit",
        "cpp_scoped_lock_abba.cpp:45",
        "libstdcxx.lock-guard-var",
    ),
];

/// From memory: the scoped_lock `books` holds both of its mutexes, one of them the mutex the
/// auditor waits for; the lock_guard being built where the settler waits holds nothing.
fn assert_scoped_lock_read_from_memory(report: &Value) {
    assert_guards_close_the_cycle(report, "proven", SCOPED_HOLDERS);
    let settle = guards(report, "settle");
    let books = (settle.iter().find(|(n, _)| *n == "books"))
        .unwrap_or_else(|| panic!("no `books` guard read in settle: {settle:?}"));
    assert_eq!(books.1.len(), 2, "ledger_lock and journal_lock: {settle:?}");
    assert_ne!(books.1[0], books.1[1], "{settle:?}");
    assert!(
        settle.iter().any(|(n, l)| *n == "audit" && l.is_empty()),
        "the guard settle waits to build holds nothing yet: {settle:?}"
    );
    let waits = (report["threads"].as_array().unwrap().iter())
        .filter_map(|t| t["summary"].as_str())
        .collect::<Vec<_>>();
    assert!(
        (books.1.iter()).any(|l| waits.iter().any(|w| {
            // The lock by its address, after its symbol when it has one.
            w.starts_with("waits for mutex ")
                && (w.contains(&format!("({l})")) || w.contains(&format!(" {l} ")))
        })),
        "the scoped_lock holds the lock another thread waits for: {settle:?} {waits:?}"
    );
}

#[test]
fn a_scoped_lock_of_two_mutexes_attached_and_saved_proves_it_holds_both() {
    let dir = scratch("guards", "scoped-live");
    let saved = dir.join("snapshot.json");
    let saved = saved.to_str().unwrap();
    let p = HungProcess::start("cpp_scoped_lock_abba");
    let (code, report) = json(&["attach", "--save", saved, &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_scoped_lock_read_from_memory(&report);
    // The saved snapshot keeps every lock of the guard.
    let (code, again) = json(&["parse", saved]);
    assert_eq!(code, Some(1), "{again}");
    assert_scoped_lock_read_from_memory(&again);
}

#[test]
fn a_scoped_lock_of_two_mutexes_in_a_core_proves_it_holds_both() {
    if !require("gcore") {
        return;
    }
    let dir = scratch("guards", "scoped-core");
    let p = HungProcess::start("cpp_scoped_lock_abba");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert_scoped_lock_read_from_memory(&report);
}

#[test]
fn a_scoped_lock_of_two_mutexes_in_a_gdb_bt_full_is_symbolic_by_its_tuple() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("guards", "scoped-gdb");
    let p = HungProcess::start("cpp_scoped_lock_abba");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    assert!(dump.contains("books = {_M_devices = "), "{dump}");
    let file = dir.join("dump.txt");
    std::fs::write(&file, &dump).unwrap();
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}\n--- the dump:\n{dump}");
    assert_guards_close_the_cycle(
        &report,
        "symbolic",
        &[
            (
                "settle",
                "cpp_scoped_lock_abba.cpp:35",
                "libstdcxx.scoped-lock-many-local",
            ),
            (
                "audit",
                "cpp_scoped_lock_abba.cpp:45",
                "libstdcxx.lock-guard-local",
            ),
        ],
    );
}

const BOOST_HOLDERS: &[(&str, &str, &str)] = &[
    ("ship", "cpp_boost_abba.cpp:34", "boost.unique-lock-var"),
    ("bill", "cpp_boost_abba.cpp:44", "boost.unique-lock-var"),
];

/// From memory: each thread's first boost::unique_lock holds its mutex; the guards being
/// built where they wait (a boost::lock_guard, a boost::unique_lock that has not locked yet)
/// hold nothing. The steps point at the program's frames, with Boost's advice.
fn assert_boost_read_from_memory(report: &Value, text: &str) {
    assert_guards_close_the_cycle(report, "proven", BOOST_HOLDERS);
    for (function, held, pending) in [
        ("ship", "picking", "booking"),
        ("bill", "invoicing", "counting"),
    ] {
        let found = guards(report, function);
        assert!(
            found.iter().any(|(n, l)| *n == held && l.len() == 1),
            "{function}'s {held} holds its mutex: {found:?}"
        );
        assert!(
            found.iter().any(|(n, l)| *n == pending && l.is_empty()),
            "{function}'s {pending} is not built yet: {found:?}"
        );
    }
    assert!(text.contains("boost::lock(a, b)"), "Boost's advice: {text}");
}

#[test]
fn a_boost_abba_attached_is_proven_by_its_unique_locks() {
    if !require("boost-thread") {
        return;
    }
    let p = HungProcess::start("cpp_boost_abba");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    let (_, text, _) = hangscan(&["attach", &p.pid.to_string()]);
    assert_boost_read_from_memory(&report, &text);
}

#[test]
fn a_boost_abba_core_is_proven_by_its_unique_locks() {
    if !require("boost-thread") || !require("gcore") {
        return;
    }
    let dir = scratch("guards", "boost-core");
    let p = HungProcess::start("cpp_boost_abba");
    let core = gcore(p.pid, &dir);
    drop(p);
    let core = core.to_str().unwrap();
    let (code, report) = json(&["core", core]);
    assert_eq!(code, Some(1), "{report}");
    let (_, text, _) = hangscan(&["core", core]);
    assert_boost_read_from_memory(&report, &text);
}

#[test]
fn a_boost_abba_in_a_gdb_bt_full_is_symbolic_by_its_unique_lock_locals() {
    if !require("boost-thread") || !require("gdb") {
        return;
    }
    let dir = scratch("guards", "boost-gdb");
    let p = HungProcess::start("cpp_boost_abba");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let file = dir.join("dump.txt");
    std::fs::write(&file, &dump).unwrap();
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}\n--- the dump:\n{dump}");
    assert_guards_close_the_cycle(
        &report,
        "symbolic",
        &[
            ("ship", "cpp_boost_abba.cpp:34", "boost.unique-lock-local"),
            ("bill", "cpp_boost_abba.cpp:44", "boost.unique-lock-local"),
        ],
    );
    let (_, steps) = cycle(&report);
    for lock in ["stock_lock", "orders_lock"] {
        assert!(
            steps.contains(&format!("waits for mutex {lock} (")),
            "the waits name the mutex by its symbol: {steps}"
        );
    }
}

const BOOST_SHARED_HOLDERS: &[(&str, &str, &str)] = &[
    (
        "compact",
        "cpp_boost_shared_abba.cpp:37",
        "boost.unique-lock-var",
    ),
    (
        "report",
        "cpp_boost_shared_abba.cpp:47",
        "boost.shared-lock-var",
    ),
];

/// From memory: the reporter's boost::shared_lock holds the boost::shared_mutex the compactor
/// waits to write, whose waiters sleep in a condition variable inside it: the lock waited for
/// is the `this` of `boost::shared_mutex::lock`, never that futex word.
fn assert_boost_shared_read_from_memory(report: &Value) {
    assert_guards_close_the_cycle(report, "proven", BOOST_SHARED_HOLDERS);
    let (_, steps) = cycle(report);
    assert!(
        steps
            .lines()
            .any(|l| l.contains("waits for rwlock (write) ")
                && l.contains("0x")
                && l.contains(" compact (")
                && l.contains("in boost::unique_lock<boost::shared_mutex>::unique_lock")),
        "{steps}"
    );
}

#[test]
fn a_boost_shared_mutex_cycle_attached_is_proven_by_its_shared_lock() {
    if !require("boost-thread") {
        return;
    }
    let p = HungProcess::start("cpp_boost_shared_abba");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_boost_shared_read_from_memory(&report);
}

#[test]
fn a_boost_shared_mutex_cycle_core_is_proven_and_its_gdb_bt_full_symbolic() {
    if !require("boost-thread") || !require("gcore") || !require("gdb") {
        return;
    }
    let dir = scratch("guards", "boost-shared");
    let p = HungProcess::start("cpp_boost_shared_abba");
    let dump = gdb_dump(p.pid, true);
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert_boost_shared_read_from_memory(&report);
    let file = dir.join("dump.txt");
    std::fs::write(&file, &dump).unwrap();
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}\n--- the dump:\n{dump}");
    // A shared_lock prints as a unique_lock does: `{m = 0x… <table_lock>, is_locked = true}`.
    assert_guards_close_the_cycle(
        &report,
        "symbolic",
        &[
            (
                "compact",
                "cpp_boost_shared_abba.cpp:37",
                "boost.unique-lock-local",
            ),
            (
                "report",
                "cpp_boost_shared_abba.cpp:47",
                "boost.unique-lock-local",
            ),
        ],
    );
    let (_, steps) = cycle(&report);
    assert!(
        steps.contains("waits for rwlock (write) table_lock ("),
        "{steps}"
    );
}

const ABSL_HOLDERS: &[(&str, &str, &str)] = &[
    ("route", "cpp_absl_abba.cpp:33", "abseil.mutex-lock-var"),
    ("probe", "cpp_absl_abba.cpp:43", "abseil.mutex-lock-var"),
];

/// From memory: each thread's first absl::MutexLock holds its mutex, the one being built
/// where it waits holds nothing, and the mutex each waits for is the `mu` argument of that
/// MutexLock's constructor (read through its DWARF location), never the futex word the thread
/// sleeps on (its own semaphore's).
fn assert_absl_read_from_memory(report: &Value, text: &str) {
    assert_guards_close_the_cycle(report, "proven", ABSL_HOLDERS);
    for (function, held, pending) in [
        ("route", "table", "neighbours"),
        ("probe", "neighbours", "table"),
    ] {
        let found = guards(report, function);
        assert!(
            found.iter().any(|(n, l)| *n == held && l.len() == 1),
            "{function}'s {held} holds its mutex: {found:?}"
        );
        assert!(
            found.iter().any(|(n, l)| *n == pending && l.is_empty()),
            "{function}'s {pending} is not built yet: {found:?}"
        );
    }
    assert!(
        text.contains("absl::SetMutexDeadlockDetectionMode"),
        "Abseil's advice: {text}"
    );
}

#[test]
fn an_absl_abba_attached_is_proven_by_its_mutex_locks() {
    if !require("absl_synchronization") {
        return;
    }
    let p = HungProcess::start("cpp_absl_abba");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    let (_, text, _) = hangscan(&["attach", &p.pid.to_string()]);
    assert_absl_read_from_memory(&report, &text);
}

#[test]
fn an_absl_abba_core_is_proven_by_its_mutex_locks() {
    if !require("absl_synchronization") || !require("gcore") {
        return;
    }
    let dir = scratch("guards", "absl-core");
    let p = HungProcess::start("cpp_absl_abba");
    let core = gcore(p.pid, &dir);
    drop(p);
    let core = core.to_str().unwrap();
    let (code, report) = json(&["core", core]);
    assert_eq!(code, Some(1), "{report}");
    let (_, text, _) = hangscan(&["core", core]);
    assert_absl_read_from_memory(&report, &text);
}

#[test]
fn an_absl_abba_in_a_gdb_bt_full_is_symbolic_by_its_mutex_lock_locals() {
    if !require("absl_synchronization") || !require("gdb") {
        return;
    }
    let dir = scratch("guards", "absl-gdb");
    let p = HungProcess::start("cpp_absl_abba");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let file = dir.join("dump.txt");
    std::fs::write(&file, &dump).unwrap();
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}\n--- the dump:\n{dump}");
    assert_guards_close_the_cycle(
        &report,
        "symbolic",
        &[
            ("route", "cpp_absl_abba.cpp:33", "abseil.mutex-lock-local"),
            ("probe", "cpp_absl_abba.cpp:43", "abseil.mutex-lock-local"),
        ],
    );
    let (_, steps) = cycle(&report);
    for lock in ["routes_mu", "peers_mu"] {
        assert!(
            steps.contains(&format!("waits for mutex {lock} (")),
            "the waits name the mutex by its symbol: {steps}"
        );
    }
}
