//! GLib's other locks, waits and main loop, built against the real GLib: `c_glib_rec_rw_abba`
//! has two ABBAs, one on GRecMutexes and one on GRWLocks taken for writing. GLib keeps a
//! pthread lock behind each, which records its holder: read from memory (attached, from a
//! core) and from gdb's owners dump both cycles are `proven`; a gdb `bt` or `bt full` shows no
//! owner, so, as for any pthread ABBA, every thread waits: a stall that says four of them wait
//! for locks, never a cycle, and each GRWLock's writer wait undecidable (readers may hold it). `c_glib_main_self_wait`'s main-loop callback pops a GAsyncQueue
//! that an idle source it queued on its own GMainContext would fill: the context's one thread
//! starves, live, from a core and from gdb `bt`/`bt full`. The healthy twin
//! (`c_glib_waits_idle`: a main loop idle in poll, a GAsyncQueue pop, a GCond wait, a sleeper
//! holding a GRecMutex and a GRWLock) exits 0 with no finding in the same four views, and
//! each wait is told as what it is (a channel, a condition variable).
//! Qt 5's locks record no owner: a QMutex ABBA through QMutexLockers (`cpp_qt_lock_abba`) and
//! a QReadWriteLock ABBA through QWriteLockers (`cpp_qt_rwlock_abba`) are `heuristic` cycles,
//! derived from where every thread stands, in every view; locks held by a sleeper with threads
//! waiting for them and on a QWaitCondition (`cpp_qt_locks_held`) are no deadlock.

mod support;

use serde_json::Value;
use support::report::{assert_healthy, function, json, views};
use support::{gdb_owners_dump, require, scratch, HungProcess};

/// The thread (its `tid`) with a frame in `function`.
fn thread_in<'a>(report: &'a Value, function_name: &str) -> &'a Value {
    let t = (report["threads"].as_array().unwrap().iter())
        .find(|t| {
            (t["frames"].as_array().unwrap().iter()).any(|f| {
                let name = function(f);
                name == function_name || name.strip_suffix("()") == Some(function_name)
            })
        })
        .unwrap_or_else(|| panic!("no thread in {function_name}: {report}"));
    &t["tid"]
}

/// The report's proven lock cycles are one between the GRecMutex takers, waiting for a mutex,
/// and one between the GRWLock writers, waiting for a rwlock for writing.
fn assert_two_proven_cycles(how: &str, report: &Value) {
    let cycles: Vec<&Value> = (report["findings"].as_array().unwrap().iter())
        .filter(|f| f["kind"] == "lock-cycle")
        .collect();
    assert_eq!(cycles.len(), 2, "{how}: {report}");
    for (pair, noun) in [
        (["post_entry", "audit_books"], "waits for mutex"),
        (["reindex", "recatalog"], "waits for rwlock (write)"),
    ] {
        let mut want: Vec<&Value> = pair.iter().map(|f| thread_in(report, f)).collect();
        want.sort_by_key(|t| t.as_u64());
        let f = (cycles.iter())
            .find(|f| {
                let mut got: Vec<&Value> = f["threads"].as_array().unwrap().iter().collect();
                got.sort_by_key(|t| t.as_u64());
                got == want
            })
            .unwrap_or_else(|| panic!("{how}: no cycle between {pair:?}: {report}"));
        assert_eq!(f["confidence"], "proven", "{how}: {f}");
        let steps = f["steps"].as_array().unwrap();
        assert!(
            (steps.iter()).any(|s| s["text"].as_str().unwrap().contains(noun)),
            "{how}: {f}"
        );
    }
}

#[test]
fn grecmutex_and_grwlock_abbas_are_proven_cycles_from_memory_and_stalls_from_gdb_text() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for (how, code, report) in views("pools-glib-qt", "c_glib_rec_rw_abba") {
        assert_eq!(code, Some(1), "{how}: {report}");
        if how.starts_with("gdb") {
            // gdb's text names the pthread locks but not their owners (nor a GRWLock's
            // readers): a stall, and each write wait undecidable, said so.
            let findings = &report["findings"];
            let kinds: Vec<&str> = (findings.as_array().unwrap().iter())
                .filter_map(|f| f["kind"].as_str())
                .collect();
            let unknown = ["rwlock-readers-unknown"; 2];
            assert_eq!(
                kinds,
                [&["stall"][..], &unknown].concat(),
                "{how}: {findings}"
            );
            assert_eq!(
                findings[0]["detail"]["unowned_locks"], 4,
                "{how}: {findings}"
            );
            continue;
        }
        assert_two_proven_cycles(how, &report);
    }
}

#[test]
fn grecmutex_and_grwlock_abbas_are_proven_cycles_from_gdb_owners() {
    if !require("glib-2.0") || !require("gdb") {
        return;
    }
    let dir = scratch("pools-glib-qt", "c_glib_rec_rw_abba-owners");
    let p = HungProcess::start("c_glib_rec_rw_abba");
    let file = dir.join("owners.txt");
    std::fs::write(&file, gdb_owners_dump(p.pid)).unwrap();
    drop(p);
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert_two_proven_cycles("gdb owners", &report);
}

#[test]
fn a_main_loop_callback_waiting_for_a_source_queued_behind_it_starves_its_context() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for (how, code, report) in views("pools-glib-qt", "c_glib_main_self_wait") {
        assert_eq!(code, Some(1), "{how}: {report}");
        let findings = report["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{how}: {report}");
        let f = &findings[0];
        assert_eq!(f["kind"], "pool-starvation", "{how}: {report}");
        assert_eq!(f["detail"]["pool"], "GLib GMainContext", "{how}: {report}");
        let main = thread_in(&report, "handle_request");
        assert_eq!(f["threads"], serde_json::json!([main]), "{how}: {report}");
    }
}

#[test]
fn glib_waits_at_rest_are_no_hang_and_each_is_told_as_what_it_is() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for (how, code, report) in views("pools-glib-qt", "c_glib_waits_idle") {
        assert_healthy(code, &report);
        for (function_name, wait) in [
            ("consumer", "waits for channel"),
            ("waiter", "waits for condition variable"),
            ("main", "idle, waiting for work"),
        ] {
            let tid = thread_in(&report, function_name);
            let t = (report["threads"].as_array().unwrap().iter())
                .find(|t| &t["tid"] == tid)
                .unwrap();
            let summary = t["summary"].as_str().unwrap_or_default();
            assert!(
                summary.starts_with(wait),
                "{how}: {function_name}: {summary}"
            );
        }
    }
}

/// Every view of `program` shows one `heuristic` lock cycle (never `proven`: Qt's locks record
/// no owner) between the threads in `pair`'s functions, each waiting for a `noun`.
fn assert_derived_cycle(program: &str, pair: [&str; 2], noun: &str) {
    if !require("Qt5Core") || !require("gcore") {
        return;
    }
    for (how, code, report) in views("pools-glib-qt", program) {
        let findings = &report["findings"];
        assert_eq!(code, Some(1), "{how}: {findings}");
        assert_eq!(findings.as_array().unwrap().len(), 1, "{how}: {findings}");
        let f = &findings[0];
        assert_eq!(f["kind"], "lock-cycle", "{how}: {findings}");
        assert_eq!(f["confidence"], "heuristic", "{how}: {findings}");
        let mut want: Vec<&Value> = pair.iter().map(|p| thread_in(&report, p)).collect();
        let mut got: Vec<&Value> = f["threads"].as_array().unwrap().iter().collect();
        want.sort_by_key(|t| t.as_u64());
        got.sort_by_key(|t| t.as_u64());
        assert_eq!(got, want, "{how}: {findings}");
        let waits = (f["steps"].as_array().unwrap().iter())
            .filter(|s| s["text"].as_str().unwrap().contains(noun))
            .count();
        assert_eq!(waits, 2, "{how}: {findings}");
    }
}

#[test]
fn a_qmutex_abba_through_lockers_is_a_heuristic_cycle_in_every_view() {
    assert_derived_cycle(
        "cpp_qt_lock_abba",
        ["Books::post", "Books::audit"],
        "waits for mutex",
    );
}

#[test]
fn a_qreadwritelock_abba_through_write_lockers_is_a_heuristic_cycle_in_every_view() {
    assert_derived_cycle(
        "cpp_qt_rwlock_abba",
        ["Catalog::reindex", "Catalog::reshelve"],
        "waits for rwlock (write)",
    );
}

#[test]
fn qt_locks_a_sleeper_holds_and_a_qwaitcondition_wait_are_no_deadlock_in_any_view() {
    if !require("Qt5Core") || !require("gcore") {
        return;
    }
    for (how, code, report) in views("pools-glib-qt", "cpp_qt_locks_held") {
        assert_healthy(code, &report);
        let tid = thread_in(&report, "Store::await_flag");
        let t = (report["threads"].as_array().unwrap().iter())
            .find(|t| &t["tid"] == tid)
            .unwrap();
        let summary = t["summary"].as_str().unwrap_or_default();
        assert!(
            summary.starts_with("waits for condition variable"),
            "{how}: {summary}"
        );
    }
}
