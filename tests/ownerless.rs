//! Locks that record no owner: a GLib `GMutex` taken with plain `g_mutex_lock`, a hand-rolled
//! futex lock whose word holds 0, 1 or 2 and no tid, Rust std `Mutex`es whose guards are kept
//! where no guard rule looks (inside a struct a helper returns), and `absl::Mutex`es locked
//! with a plain `Lock()` in a helper. Nothing names a holder,
//! so where every thread stands decides: an ABBA of each is a `heuristic` lock cycle, attached
//! live, from a gcore core and (when its frames name the locks) from a gdb `bt`. Each edge
//! names the other thread that could hold the lock (the main thread, which would close a cycle
//! through its join), except where a capture read that the main thread's code names neither
//! lock (global locks, attached or from a core): then each holder is the only one. Never
//! `proven`. Three threads waiting on two such locks that a fourth
//! holds while it sleeps (it could hold both, and then there is no cycle) are no deadlock, in
//! every view. From a gdb `bt`, GLib's unnamed slow path shows no lock word: that ABBA stays a
//! stall, never a cycle. A GMutex ABBA beside a thread asleep in a loop of the program's own
//! (`c_glib_abba_ticker`, the C twin of Go's `mutex_abba`) is a cycle attached and from a core:
//! the ticker's code names neither mutex, so it cannot hold one. Stripped, no symbol names the
//! ticker's code: the capture says the cycle is undecidable and what decides it.

mod support;

use serde_json::Value;
use support::report::json;
use support::{gcore, gdb_dump, require, scratch, HungProcess};

/// One view of a hung fixture: its name, hangscan's exit code and JSON report, and the input
/// as text when it is a dump (for messages).
struct View {
    how: &'static str,
    code: Option<i32>,
    report: Value,
    dump: String,
}

/// `fixture` attached live, from gcore's core of it, and from a gdb `bt` of it.
fn views(fixture: &str) -> Vec<View> {
    let dir = scratch("ownerless", fixture);
    let p = HungProcess::start(fixture);
    let pid = p.pid.to_string();
    let (code, report) = json(&["attach", &pid]);
    let mut out = vec![View {
        how: "attached",
        code,
        report,
        dump: String::new(),
    }];
    let dump = gdb_dump(p.pid, false);
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    out.push(View {
        how: "core",
        code,
        report,
        dump: String::new(),
    });
    let file = dir.join("bt.txt");
    std::fs::write(&file, &dump).unwrap();
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    out.push(View {
        how: "gdb bt",
        code,
        report,
        dump,
    });
    out
}

/// The finding kinds of a report.
fn kinds(report: &Value) -> Vec<&str> {
    (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .collect()
}

/// Whether thread `index` of the report has a frame in `function`.
fn runs(report: &Value, index: &Value, function: &str) -> bool {
    let t = &report["threads"][index.as_u64().unwrap() as usize];
    (t["frames"].as_array().unwrap().iter()).any(|f| f["function"] == function)
}

/// The view's lock cycle is `heuristic` between the threads in `pair`'s functions, each holder
/// derived (the lock records no owner), with another thread (the main one) named as a possible
/// holder too; `locks`, when given, name the waits' locks by their symbols.
fn assert_derived_cycle(v: &View, pair: [&str; 2], locks: &[&str]) {
    let report = &v.report;
    let why = || {
        let findings = &report["findings"];
        format!("{}: {findings:#}\n{}", v.how, v.dump)
    };
    assert_eq!(v.code, Some(1), "{}", why());
    let f = (report["findings"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "lock-cycle")
        .unwrap_or_else(|| panic!("no lock cycle: {}", why()));
    assert_eq!(f["confidence"], "heuristic", "{}", why());
    assert_eq!(f["severity"], "deadlock", "{}", why());
    let threads = f["thread_indexes"].as_array().unwrap();
    assert_eq!(threads.len(), 2, "{}", why());
    for function in pair {
        assert!(
            threads.iter().any(|t| runs(report, t, function)),
            "a thread of the cycle runs {function}: {}",
            why()
        );
    }
    let steps: Vec<&str> = (f["steps"].as_array().unwrap().iter())
        .filter_map(|s| s["text"].as_str())
        .collect();
    let held: Vec<&&str> = steps.iter().filter(|s| s.starts_with("held by")).collect();
    assert_eq!(held.len(), 2, "{}", why());
    // A capture reads which code names a lock at a static address: the main thread's names
    // neither, so it cannot hold one. A dump carries no code, nor does a lock on the heap
    // have a static object to look for: there the main thread could hold it too.
    let by_code = !locks.is_empty() && v.how != "gdb bt";
    for h in held {
        assert!(h.contains("the lock records no owner"), "{h}\n{}", why());
        let other =
            h.contains("; or LWP") && h.contains("holds it, in which case the cycle runs through");
        assert_eq!(
            (other, h.contains("with what its code names")),
            (!by_code, by_code),
            "another thread could hold it too, unless the code decides: {h}\n{}",
            why()
        );
    }
    for lock in locks {
        assert!(
            steps
                .iter()
                .any(|s| s.contains(&format!("waits for mutex {lock} (0x"))),
            "the waits name {lock}: {}",
            why()
        );
    }
    // Nothing about these locks is read from memory: no finding is proven.
    assert!(
        (report["findings"].as_array().unwrap().iter()).all(|f| f["confidence"] != "proven"),
        "{}",
        why()
    );
}

#[test]
fn a_plain_gmutex_abba_is_a_heuristic_cycle_live_and_from_a_core_and_a_stall_in_a_gdb_bt() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for v in views("c_glib_plain_abba") {
        if v.how == "gdb bt" {
            // gdb shows GLib's slow path as `??` under `syscall ()`: no argument names the
            // word, nor says it is a lock. All wait, so a stall, never a cycle.
            assert_eq!(kinds(&v.report), ["stall"], "{}\n{}", v.report, v.dump);
            assert_eq!(v.code, Some(1));
            continue;
        }
        let locks = ["journal_lock", "accounts_lock"];
        assert_derived_cycle(&v, ["post_entry", "audit_books"], &locks);
    }
}

#[test]
fn a_gmutex_abba_beside_a_thread_asleep_in_the_program_is_a_cycle_once_its_code_is_read() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for v in views("c_glib_abba_ticker") {
        if v.how == "gdb bt" {
            // GLib's slow path shows no lock word in gdb's text, and the ticker could hold
            // anything there: no cycle is claimed.
            let found = kinds(&v.report);
            assert!(!found.iter().any(|k| k.contains("cycle")), "{found:?}");
            continue;
        }
        // The ticker stands in the program's own code, but its code names neither mutex.
        let locks = ["orders_lock", "stock_lock"];
        assert_derived_cycle(&v, ["ship", "bill"], &locks);
    }
}

#[test]
fn a_stripped_gmutex_abba_beside_a_sleeper_is_said_undecidable_not_no_deadlock() {
    if !require("glib-2.0") {
        return;
    }
    // Stripped, the ticker's code is named by no symbol: it could hold either mutex, and the
    // capture says so (with what decides) rather than "no deadlock found".
    let p = HungProcess::start_as("c_glib_abba_ticker", support::Build::Stripped);
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(kinds(&report), ["lock-holders-unknown"], "{report}");
    let f = &report["findings"][0];
    assert_eq!(f["detail"]["captured"], true, "{f}");
    assert_eq!(
        f["detail"]["locks"].as_array().map(Vec::len),
        Some(2),
        "{f}"
    );
    let title = f["title"].as_str().unwrap_or_default();
    assert!(title.contains("no symbol names their code"), "{title}");
    let fix = f["suggestion"].as_str().unwrap_or_default();
    assert!(fix.contains("symbols"), "{fix}");
}

#[test]
fn a_futex_lock_abba_is_a_heuristic_cycle_live_from_a_core_and_from_a_gdb_bt() {
    if !require("gcore") {
        return;
    }
    for v in views("c_futex_abba") {
        let locks = ["shelf_lock", "ledger_lock"];
        assert_derived_cycle(&v, ["pick_order", "count_stock"], &locks);
    }
}

#[test]
fn a_rust_mutex_abba_with_no_guard_in_view_is_a_heuristic_cycle_live_from_a_core_and_a_gdb_bt() {
    if !require("gcore") {
        return;
    }
    for v in views("rust_hidden_guard_abba") {
        assert_derived_cycle(&v, ["rust_hidden_guard_abba::Bank::transfer"; 2], &[]);
    }
}

#[test]
fn an_absl_mutex_abba_locked_with_plain_lock_is_a_heuristic_cycle_live_from_a_core_and_a_gdb_bt() {
    if !require("absl_synchronization") || !require("gcore") {
        return;
    }
    // The waits' mutexes are the `mu` of the absl::MutexLocks being built; the held ones no
    // MutexLock shows.
    for v in views("cpp_absl_plain_abba") {
        assert_derived_cycle(&v, ["route", "probe"], &[]);
    }
}

#[test]
fn waiters_on_ownerless_locks_a_sleeper_may_hold_are_no_deadlock_in_any_view() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for v in views("c_glib_plain_held") {
        let why = format!("{}: {:#}\n{}", v.how, v.report["findings"], v.dump);
        assert_ne!(v.report["verdict"], "deadlock", "{why}");
        let found = kinds(&v.report);
        assert!(!found.iter().any(|k| k.contains("cycle")), "{why}");
        assert_eq!(v.code, Some(0), "{why}");
    }
}
