//! CPython read from its own memory, live and from a gcore core, on the distribution's
//! interpreter (Debian's `/usr/bin/python3.11`, stripped as shipped): each thread's Python
//! frames among its native ones (`module.qualname`, file and line), its `threading` name, the
//! `_thread` lock each waits for, the thread a `Thread.join` waits for, an `RLock`'s owner, the
//! GIL's holder; and the verdicts they give. Other versions: tests/python_versions.rs.
//!
//! Programs (`fixtures/programs/python/`): `lock_abba.py` (a `threading.Lock` ABBA: a plain
//! lock records no owner, so its holder is the thread whose frame is inside a `with` block over
//! it: a symbolic lock cycle), `self_lock.py` (a `with` over a lock the thread holds in a
//! caller's `with`: a self-lock), `rlock_abba.py` (an `RLock` ABBA: proven, each RLock naming
//! its owner), `join_cycle.py` (two threads joining each other: a join cycle by the joined
//! thread's tid), `idle_pool.py` (an idle executor and a serving main thread: exit 0),
//! `gil_spin.py` (a thread running Python code holds the GIL), `asyncio_tasks.py` (a loop's
//! waiting tasks, each shown under its thread with the line it awaits at), `condition_pool.py`,
//! `event_pool.py` and `queue_pool.py idle` (two threads waiting on one Condition, Event or
//! Queue: their waits name that object's address), and the pools of
//! `pools_python.rs` (starved, or idle and busy: exit 0) attached live. `churn.py` (threads and
//! frames created and destroyed all the time) is attached again and again: every read is whole
//! or says what it missed, no false verdict, and the program goes on. In its own PID namespace
//! (a container), threads are matched by the ids the interpreter holds. Embedded in a C program
//! (`c_python_embed.c`, linked to Debian's libpython3.11), the interpreter is found in the
//! library and its Lock ABBA is the same lock cycle.

mod support;

use hangscan::analyze::{FindingKind, Grade};
use hangscan::model::Language;
use std::path::Path;
use support::python::*;
use support::runtimes::programs;
use support::{hangscan, require, scratch, HungProcess};

#[test]
fn a_threading_lock_abba_on_the_distribution_s_python_is_a_lock_cycle_live_and_from_a_core() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    assert_lock_abba(Path::new(DEBIAN_PYTHON), "3.11");
}

#[test]
fn the_report_and_a_saved_snapshot_carry_the_python_frames() {
    if !require("debian-python3.11") {
        return;
    }
    let dir = scratch("python_memory", "saved");
    let hung = run(Path::new(DEBIAN_PYTHON), "lock_abba");
    let pid = hung.pid.to_string();
    let saved = dir.join("snapshot.json");
    let (code, report) =
        support::report::json(&["attach", &pid, "--save", saved.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    let (grade, steps) = support::report::cycle(&report);
    assert_eq!(grade, "symbolic");
    assert!(steps.contains("lock_abba.py:33"), "{steps}");
    let python_frames = (report["threads"].as_array().unwrap().iter())
        .flat_map(|t| t["frames"].as_array().unwrap())
        .filter(|f| f["language"] == "python")
        .count();
    assert!(python_frames >= 8, "{report}");
    // Read back, the snapshot gives the same finding.
    let (code, again) = support::report::json(&["parse", saved.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{again}");
    assert_eq!(
        again["findings"][0]["signature"],
        report["findings"][0]["signature"]
    );
    // The text report shows each transfer's Python line.
    let (code, text, _) = hangscan(&["attach", &pid]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("lock cycle")
            && text.contains("lock_abba.Bank.transfer (python/lock_abba.py:33)"),
        "{text}"
    );
}

#[test]
fn a_thread_taking_a_lock_it_holds_in_a_with_block_is_a_self_lock() {
    if !require("debian-python3.11") {
        return;
    }
    assert_self_lock(Path::new(DEBIAN_PYTHON));
}

#[test]
fn an_rlock_abba_is_proven_by_the_owner_each_rlock_records() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    assert_rlock_abba(Path::new(DEBIAN_PYTHON), "3.11");
}

#[test]
fn threads_joining_each_other_are_a_join_cycle_by_the_joined_thread_s_tid() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    assert_join_cycle(Path::new(DEBIAN_PYTHON), "3.11");
}

#[test]
fn an_asyncio_loop_s_tasks_are_shown_under_its_thread_with_the_lines_they_await_at() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    assert_asyncio_tasks(Path::new(DEBIAN_PYTHON), "3.11");
}

#[test]
fn an_idle_executor_and_a_serving_main_thread_exit_0_with_their_python_frames() {
    if !require("debian-python3.11") {
        return;
    }
    let hung = run(Path::new(DEBIAN_PYTHON), "idle_pool");
    let (code, report) = support::report::json(&["attach", &hung.pid.to_string()]);
    let findings: Vec<&str> = (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .filter(|&k| k != "io-wait")
        .collect();
    assert_eq!((code, findings), (Some(0), vec![]), "{report}");
    let workers = (report["threads"].as_array().unwrap().iter())
        .filter(|t| {
            (t["frames"].as_array().unwrap().iter())
                .any(|f| f["function"] == "concurrent.futures.thread._worker")
        })
        .count();
    assert_eq!(workers, 3, "{report}");
}

#[test]
fn a_thread_running_python_code_holds_the_gil() {
    if !require("debian-python3.11") {
        return;
    }
    assert_gil_holder(Path::new(DEBIAN_PYTHON));
}

#[test]
fn pools_read_from_memory_starve_or_idle_as_their_frames_say() {
    if !require("debian-python3.11") {
        return;
    }
    assert_pools(Path::new(DEBIAN_PYTHON));
}

#[test]
fn waits_on_one_condition_event_or_queue_share_its_address_live_and_from_a_core() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    assert_shared_waits(Path::new(DEBIAN_PYTHON), "3.11");
}

#[test]
fn attaching_again_and_again_to_an_interpreter_that_churns_threads_and_frames_is_safe() {
    if !require("debian-python3.11") {
        return;
    }
    assert_churn_is_safe(Path::new(DEBIAN_PYTHON));
}

#[test]
fn in_its_own_pid_namespace_threads_are_matched_by_the_ids_the_interpreter_holds() {
    if !(require("debian-python3.11") && require("unshare")) {
        return;
    }
    let script = programs("python").join("lock_abba.py");
    let ns = support::namespace::Namespaced::start_with(Path::new(DEBIAN_PYTHON), &[&script], None);
    let snap = hangscan::attach(ns.pid, &hangscan::Options::default()).expect("attach");
    let a = hangscan::analyze(&snap);
    assert_finding(
        "namespaced",
        &snap,
        &a,
        FindingKind::LockCycle,
        Grade::Symbolic,
    );
    let main = running(&snap, "lock_abba.main");
    let join = &a.facts[main[0]].waits[0];
    let joined = (snap.threads.iter()).find(|t| t.ns_tid.or(t.tid) == join.target_tid);
    assert!(
        joined.is_some_and(|t| has_frame(t, "lock_abba.Bank.transfer")),
        "{}",
        shown(&snap)
    );
}

#[test]
fn an_interpreter_embedded_in_a_c_program_is_read_from_its_libpython() {
    if !require("python-3.11-embed") {
        return;
    }
    let dir = scratch("python_memory", "embedded");
    let hung = HungProcess::start("c_python_embed");
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        assert_finding(how, &snap, &a, FindingKind::LockCycle, Grade::Symbolic);
        let mut names: Vec<&str> = (a.findings[0].threads.iter())
            .filter_map(|&t| snap.threads[t].name.as_deref())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["credit", "debit"], "{how}:\n{}", shown(&snap));
        // Each waits at the inner `with` of the code the C program ran (`<string>`, line 7).
        for &t in &a.findings[0].threads {
            let python = (snap.threads[t].frames.iter())
                .find(|f| f.language == Some(Language::Python) && f.file.is_some())
                .expect("a Python frame of code");
            assert_eq!(
                (
                    python.function.as_deref(),
                    python.file.as_deref(),
                    python.line
                ),
                (Some("move"), Some("<string>"), Some(7)),
                "{how}:\n{}",
                shown(&snap)
            );
        }
        let notes: Vec<&str> = snap.diagnostics.iter().map(|d| &*d.message).collect();
        assert!(
            (notes.iter())
                .any(|n| n.starts_with("CPython 3.11") && n.contains("/libpython3.11.so")),
            "{how}: {notes:?}"
        );
    }
}
