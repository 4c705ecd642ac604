//! Locks that record no owner on the heap (fields of structs made at run time, passed by
//! pointer), which no code names: their possible holders are the threads whose live stack
//! points at them (`model::Thread::stack_refs`), read live and from cores, kept by `--save`.
//!
//! Programs (`fixtures/programs/go/`): `heap_abba.go` (a `sync.Mutex` ABBA between two heap
//! accounts, beside a goroutine asleep in a loop and main waiting: live, from a core and saved,
//! a heuristic cycle of the two transfers alone, exit 1; its SIGQUIT dump, which carries no
//! stack memory, leaves it undecided and says attaching or a core decides), `heap_sleeper.go`
//! (its twin with no cycle: a keeper sleeps holding the ledger's mutex, a poster holds the
//! journal's and waits for the ledger's, a reader waits for the journal's: the keeper's stack
//! points at the ledger, so no view claims a cycle, which the poster and the reader alone
//! would close). Their C twins on GLib `GMutex`es (`c_glib_heap_abba.c`, `c_glib_heap_held.c`),
//! built `-O0` and `-O2 -fomit-frame-pointer` (where a holder may keep its pointer only in a
//! callee-saved register): the same verdicts, attached and from a core.

mod support;

use hangscan::analyze::{Analysis, Because, FindingKind, Grade, Held};
use hangscan::model::{Evidence, IdKind, Snapshot};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use support::runtimes::{build_go, quit_go, with_stderr_to};
use support::{gcore, require, scratch, Build, HungProcess};

/// The process attached live and read from a gcore core written into `dir`, each analysed.
fn live_and_core(pid: u32, dir: &Path) -> Vec<(&'static str, Snapshot, Analysis)> {
    let options = hangscan::Options::default();
    let live = hangscan::attach(pid, &options).expect("attach");
    let core = hangscan::read_core(&gcore(pid, dir), &options).expect("core");
    [("attach", live), ("core", core)]
        .into_iter()
        .map(|(how, snap)| {
            let a = hangscan::analyze(&snap);
            (how, snap, a)
        })
        .collect()
}

/// The goroutines with `function` on their stacks.
fn goroutines(snap: &Snapshot, function: &str) -> Vec<usize> {
    (0..snap.threads.len())
        .filter(|&t| {
            let thread = &snap.threads[t];
            thread.id_kind == IdKind::Goroutine
                && (thread.frames.iter()).any(|f| f.function.as_deref() == Some(function))
        })
        .collect()
}

/// The address of the first wait of thread `t`.
fn waits_for(a: &Analysis, t: usize) -> u64 {
    a.facts[t].waits[0].address.expect("a wait's address")
}

#[test]
fn a_go_mutex_abba_on_the_heap_is_a_heuristic_cycle_of_its_two_goroutines_live_core_and_saved() {
    if !(require("go") && require("gcore")) {
        return;
    }
    let dir = scratch("heap_locks", "heap_abba");
    let exe = build_go(&dir, "heap_abba");
    let err = dir.join("sigquit.txt");
    let mut hung = HungProcess::spawn("heap_abba", with_stderr_to(&err, &[&exe]));
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        let transfers = goroutines(&snap, "main.transfer");
        assert_eq!(transfers.len(), 2, "{how}");
        let (x, y) = (transfers[0], transfers[1]);
        // Two heap mutexes, neither named by any code: each waits for the other's.
        let (wx, wy) = (waits_for(&a, x), waits_for(&a, y));
        assert_ne!(wx, wy, "{how}");
        assert!(a.facts[x].waits[0].symbol.is_none(), "{how}");
        // Both mutexes were looked for on the stacks: each transfer's points at both
        // accounts; the ticker's and main's at neither.
        assert!(
            (snap.evidence.iter()).any(|e| matches!(e, Evidence::StackLocks { addresses }
                if addresses.contains(&wx) && addresses.contains(&wy))),
            "{how}"
        );
        for t in [x, y] {
            let found = snap.threads[t].stack_refs.as_ref().expect("stack read");
            assert!(found.contains(&wx) && found.contains(&wy), "{how}");
        }
        for f in ["main.tick", "main.main"] {
            let t = goroutines(&snap, f)[0];
            let found = snap.threads[t].stack_refs.as_ref().expect("stack read");
            assert!(!found.contains(&wx) && !found.contains(&wy), "{how} {f}");
        }
        let cycle = (a.findings.iter())
            .find(|f| f.kind == FindingKind::LockCycle)
            .unwrap_or_else(|| panic!("{how}: {:#?}", a.findings));
        assert_eq!(cycle.confidence, Grade::Heuristic, "{how}");
        let mut threads = cycle.threads.clone();
        threads.sort_unstable();
        assert_eq!(threads, [x.min(y), x.max(y)], "{how}");
        assert!(a.deadlocked(), "{how}");
        // The only holders: no other goroutine, no OS thread, named as an alternative.
        let derived: Vec<_> = (a.graph.edges.iter())
            .filter_map(|e| match &e.because {
                Because::Holds {
                    by:
                        Held::Consistent {
                            alternatives,
                            unlisted,
                            by_stack,
                            ..
                        },
                    ..
                } => Some((alternatives.len(), *unlisted, *by_stack)),
                _ => None,
            })
            .collect();
        assert_eq!(derived, [(0, 0, true), (0, 0, true)], "{how}");
    }
    // As a user runs it: exit 1, the evidence says what narrowed the holders; a saved snapshot
    // keeps what the stacks point at, so it reads back to the same cycle.
    let (grade, steps) = support::report::saved_cycle(hung.pid, &dir);
    assert_eq!(grade, "heuristic");
    assert!(
        steps.contains("with what the threads' stacks point at: the lock is on the heap"),
        "{steps}"
    );
    // The program's own dump carries no stack memory: the cycle cannot be told from it, and
    // the advice says what would decide.
    let text = quit_go(&mut hung, &err);
    let snap = hangscan::parse_dump(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let a = hangscan::analyze(&snap);
    assert!(!a.deadlocked(), "{:#?}", a.findings);
    let undecided = (a.findings.iter())
        .find(|f| f.kind == FindingKind::HoldersUnknown)
        .unwrap_or_else(|| panic!("{:#?}", a.findings));
    let advice = undecided.suggestion.as_deref().unwrap_or_default();
    assert!(
        advice.contains("hangscan attach") && advice.contains("stacks point at it"),
        "{advice}"
    );
}

#[test]
fn a_heap_mutex_held_by_a_sleeper_keeps_it_among_the_holders_and_no_view_claims_a_cycle() {
    if !(require("go") && require("gcore")) {
        return;
    }
    let dir = scratch("heap_locks", "heap_sleeper");
    let exe = build_go(&dir, "heap_sleeper");
    let hung = HungProcess::spawn("heap_sleeper", Command::new(exe));
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        let (keeper, poster, reader) = (
            goroutines(&snap, "main.keep")[0],
            goroutines(&snap, "main.post")[0],
            goroutines(&snap, "main.read")[0],
        );
        let (ledger, journal) = (waits_for(&a, poster), waits_for(&a, reader));
        assert_ne!(ledger, journal, "{how}");
        // The keeper sleeps holding the ledger: its stack points at it.
        let found = snap.threads[keeper]
            .stack_refs
            .as_ref()
            .expect("stack read");
        assert!(found.contains(&ledger), "{how}: {found:?}");
        let ticker = goroutines(&snap, "main.tick")[0];
        let found = snap.threads[ticker]
            .stack_refs
            .as_ref()
            .expect("stack read");
        assert!(found.is_empty(), "{how}: {found:?}");
        // So the poster and the reader close no cycle, and nothing blames anyone else.
        assert!(!a.deadlocked(), "{how}: {:#?}", a.findings);
        assert!(
            (a.findings.iter()).all(|f| f.kind != FindingKind::LockCycle),
            "{how}: {:#?}",
            a.findings
        );
    }
    let (code, report) = support::report::json(&["attach", &hung.pid.to_string()]);
    assert_ne!(code, Some(1), "{report}");
}

/// The C fixture `name`, built as `build`, attached live and read from a gcore core: (view,
/// exit code, JSON report).
fn c_views(name: &str, build: Build) -> Vec<(&'static str, Option<i32>, Value)> {
    let dir = scratch("heap_locks", &format!("{name}-{build:?}"));
    let hung = HungProcess::start_as(name, build);
    let (code, live) = support::report::json(&["attach", &hung.pid.to_string()]);
    let core = gcore(hung.pid, &dir);
    drop(hung);
    let (core_code, from_core) = support::report::json(&["core", core.to_str().unwrap()]);
    vec![("attach", code, live), ("core", core_code, from_core)]
}

/// The indexes of the report's threads whose frames include `function`.
fn running(report: &Value, function: &str) -> Vec<u64> {
    let threads = report["threads"].as_array().unwrap();
    (0..threads.len() as u64)
        .filter(|&i| {
            let frames = threads[i as usize]["frames"].as_array().unwrap();
            frames.iter().any(|f| f["function"] == function)
        })
        .collect()
}

#[test]
fn a_glib_mutex_abba_on_the_heap_is_a_heuristic_cycle_of_its_movers_at_o0_and_o2() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for build in [Build::Debug, Build::NoFramePointer] {
        for (how, code, report) in c_views("c_glib_heap_abba", build) {
            let why = format!("{build:?} {how}: {:#}", report["findings"]);
            assert_eq!(code, Some(1), "{why}");
            let (grade, steps) = support::report::cycle(&report);
            assert_eq!(grade, "heuristic", "{why}");
            assert!(steps.contains("stacks point at"), "{why}");
            let cycle = (report["findings"].as_array().unwrap().iter())
                .find(|f| f["kind"] == "lock-cycle")
                .unwrap();
            let mut threads: Vec<u64> = (cycle["thread_indexes"].as_array().unwrap().iter())
                .map(|t| t.as_u64().unwrap())
                .collect();
            threads.sort_unstable();
            // The two movers alone: neither the ticker nor main is named, even as another
            // possible holder.
            assert_eq!(threads, running(&report, "move"), "{why}");
            assert!(!steps.contains("; or "), "{why}");
            for other in running(&report, "tick") {
                assert!(!threads.contains(&other), "{why}");
            }
        }
    }
}

#[test]
fn a_glib_mutex_on_the_heap_held_by_a_sleeper_is_no_cycle_at_o0_and_o2() {
    if !require("glib-2.0") || !require("gcore") {
        return;
    }
    for build in [Build::Debug, Build::NoFramePointer] {
        for (how, code, report) in c_views("c_glib_heap_held", build) {
            let why = format!("{build:?} {how}: {:#}", report["findings"]);
            assert_ne!(code, Some(1), "{why}");
            let kinds: Vec<&str> = (report["findings"].as_array().unwrap().iter())
                .filter_map(|f| f["kind"].as_str())
                .collect();
            assert!(!kinds.contains(&"lock-cycle"), "{why}");
        }
    }
}
