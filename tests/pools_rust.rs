//! Rust crates' pools and async runtimes, built against the real crates
//! (`fixtures/programs/rust_crates`, pinned by its `Cargo.lock`), each found attached, from a
//! gcore core, and from gdb's `bt` and `bt full` of the same process:
//! - `threadpool_self_join`: a `threadpool::ThreadPool::join` called from one of the pool's
//!   jobs waits for itself: a self-join on the pool, the other worker idle in the pool's job
//!   channel;
//! - `rayon_starvation`: both workers of a rayon pool block on a crossbeam channel whose
//!   sender is a job queued behind them: pool starvation; so does one whose two workers each
//!   block so in one half of a `rayon::join`, the half that would send pushed on a worker's
//!   own deque (`rayon_join_starvation`);
//! - `tokio_blocked_workers`: both workers of a tokio runtime block in a `std::sync::Mutex`
//!   held by the task `block_on` runs, which awaits them: the runtime is starved by blocking
//!   calls; so is one whose workers block in `std::sync::mpsc::Receiver::recv` for a task
//!   queued behind them (`tokio_blocking_recv`), the runtime's finding and not a pool
//!   starvation;
//! - `smol_blocked_workers`: both threads of smol's global executor (`SMOL_THREADS=2`) block
//!   in `std::sync::mpsc::Receiver::recv` for a task queued behind them: the executor is
//!   starved; so is async-std's (`async_std_blocked_workers`), whose two threads block in a
//!   `std::sync::Mutex` that main's `block_on` future holds while it awaits them. An idle
//!   executor thread parks in async-io's `block_on`, right above its loop, or waits there for
//!   I/O in the reactor; main's own `block_on` parks the same way but runs no executor's loop
//!   and is no member;
//! - `tokio_worker_block_on`: both workers of a tokio runtime run `futures::executor::block_on`
//!   inside a task, on a future a task queued behind them would complete: the runtime is
//!   starved, each worker waiting for a future;
//! - `tokio_current_thread_block_on`: the future a current-thread runtime's `block_on` runs
//!   spawns a task and waits for it with `futures::executor::block_on`, on the runtime's only
//!   thread: that runtime of one thread is starved;
//! - `tokio_blocking_starvation`: tokio's blocking pool at its cap (`max_blocking_threads(2)`),
//!   both threads in a `spawn_blocking` closure blocked in `std::sync::mpsc::Receiver::recv`
//!   for a closure queued behind them: pool starvation of `tokio blocking pool`, a warning
//!   (the queued closure is in no stack, and the idle runtime's tasks might still end the
//!   waits, as they do in a program whose blocking thread drains a channel its tasks feed); so
//!   is one
//!   whose closures call `Handle::block_on` on a future such a closure completes
//!   (`tokio_blocking_block_on`). The runtime's workers run on threads the blocking pool
//!   started (the same name, `Inner::run` below `worker::run`) and stay the runtime's: idle
//!   in it, never in the blocking pool;
//! - `scope_join_cycle`: a `std::thread::scope`'s owner waits for its two scoped threads,
//!   which receive from a channel the owner sends on only after the scope: a wait cycle, the
//!   owner joining the threads spawned in its scope (their closures are its scope closure's)
//!   and they waiting for the only thread left that could send; so is a `crossbeam::scope`
//!   whose owner joins its threads so (`crossbeam_scope_join_cycle`).
//!
//! Each is graded `heuristic`: no frame names the pool instance its workers and its join
//! share. Their healthy twins, a scope whose threads receive from a feeder outside it that
//! sleeps between rows, an idle tokio runtime, an idle current-thread runtime parked in
//! its `block_on`, an idle blocking pool (its threads waiting for closures), idle smol and
//! async-std executors and ones busy with blocking steps that end by themselves (a sleep), an idle rayon pool and a rayon pool busy computing, exit 0 with no finding,
//! in the same four ways.

mod support;

use serde_json::Value;
use std::process::Command;
use support::report::{function, views_of};
use support::{build_crate_fixture, require, HungProcess};

/// The tids of the threads with a frame in a function starting with `prefix`.
fn threads_in(report: &Value, prefix: &str) -> Vec<Value> {
    (report["threads"].as_array().unwrap().iter())
        .filter(|t| {
            (t["frames"].as_array().unwrap().iter()).any(|f| function(f).starts_with(prefix))
        })
        .map(|t| t["tid"].clone())
        .collect()
}

/// The report's one finding, of `kind`, graded `heuristic`, of the threads inside `caller`
/// (sorted by tid, as the report's threads may come in another order).
fn assert_one(report: &Value, kind: &str, caller: &str) -> Value {
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    let f = &findings[0];
    assert_eq!(f["kind"], kind, "{report}");
    assert_eq!(f["confidence"], "heuristic", "{report}");
    let sorted = |v: Vec<Value>| {
        let mut v: Vec<u64> = v.iter().filter_map(Value::as_u64).collect();
        v.sort_unstable();
        v
    };
    let expected = threads_in(report, caller);
    assert!(!expected.is_empty(), "no thread in {caller}: {report}");
    assert_eq!(
        sorted(f["threads"].as_array().unwrap().clone()),
        sorted(expected),
        "{report}"
    );
    f.clone()
}

/// The process's report from each source: attached, gdb `bt`, gdb `bt full`, then a gcore
/// core of it; each (exit code, report) handed to `check` with the source's name.
fn from_every_source(bin: &str, check: impl Fn(&str, Option<i32>, &Value)) {
    if !require("gdb") || !require("gcore") {
        return;
    }
    let p = HungProcess::spawn(bin, Command::new(build_crate_fixture(bin)));
    for (how, code, report) in views_of("pools-rust", bin, p) {
        check(how, code, &report);
    }
}

#[test]
fn a_threadpool_joined_by_its_own_job_is_a_self_join() {
    from_every_source("threadpool_self_join", |how, code, report| {
        assert_eq!(code, Some(1), "{how}: {report}");
        let f = assert_one(report, "self-join", "threadpool_self_join::Exporter::flush");
        assert_eq!(
            f["detail"]["object"]["pool"], "threadpool ThreadPool",
            "{how}: {f}"
        );
        let steps = f["steps"].as_array().unwrap();
        assert!(
            function(&steps[0]).starts_with("threadpool::ThreadPool::join"),
            "{how}: {f}"
        );
        assert_eq!(steps[1]["shows"]["itself"], true, "{how}: {f}");
        // The pool's other worker waits for a job: idle, not part of the hang.
        let idle: Vec<&Value> = (report["threads"].as_array().unwrap().iter())
            .filter(|t| t["pool"]["member"] == "idle")
            .collect();
        assert_eq!(idle.len(), 1, "{how}: {report}");
        assert_eq!(
            idle[0]["pool"]["name"], "threadpool ThreadPool",
            "{how}: {report}"
        );
    });
}

#[test]
fn a_rayon_pool_whose_workers_wait_on_a_job_queued_behind_them_starves() {
    rayon_starves("rayon_starvation", "rayon_starvation::merge");
}

#[test]
fn a_rayon_pool_whose_workers_wait_on_the_other_half_of_their_join_starves() {
    rayon_starves("rayon_join_starvation", "rayon_join_starvation::merge");
}

/// Program `bin`'s rayon pool starves, each worker in `caller` waiting on a crossbeam channel.
fn rayon_starves(bin: &str, caller: &str) {
    from_every_source(bin, |how, code, report| {
        assert_eq!(code, Some(1), "{how}: {report}");
        let f = assert_one(report, "pool-starvation", caller);
        assert_eq!(f["detail"]["pool"], "rayon ThreadPool", "{how}: {f}");
        let text: Vec<&str> = (f["steps"].as_array().unwrap().iter())
            .filter_map(|s| s["text"].as_str())
            .collect();
        assert!(
            text.len() == 2
                && (text.iter()).all(|t| {
                    t.contains("rayon_core::registry::main_loop")
                        && t.contains("crossbeam_channel::channel::Receiver")
                }),
            "each worker waits on the crossbeam channel: {how}: {text:?}"
        );
    });
}

#[test]
fn a_tokio_runtime_whose_workers_block_in_a_std_mutex_is_starved() {
    starved(
        "tokio_blocked_workers",
        "tokio_blocked_workers::record",
        "tokio runtime",
        "waits for mutex",
    );
}

#[test]
fn a_tokio_runtime_whose_workers_block_in_a_channel_receive_is_starved() {
    starved(
        "tokio_blocking_recv",
        "tokio_blocking_recv::apply",
        "tokio runtime",
        "waits for channel",
    );
}

#[test]
fn a_smol_executor_whose_threads_block_in_a_channel_receive_is_starved() {
    starved(
        "smol_blocked_workers",
        "smol_blocked_workers::apply",
        "smol executor",
        "waits for channel",
    );
}

#[test]
fn an_async_std_executor_whose_threads_block_in_a_std_mutex_is_starved() {
    starved(
        "async_std_blocked_workers",
        "async_std_blocked_workers::record",
        "async-std executor",
        "waits for mutex",
    );
}

/// Program `bin`'s `runtime` is starved, a deadlock: both its workers block in `caller`,
/// each step saying it `waits` so (the runtime's starvation, not a pool starvation of its
/// workers as well); the advice names async locks.
fn starved(bin: &str, caller: &str, runtime: &str, waits: &str) {
    from_every_source(bin, |how, code, report| {
        assert_eq!(code, Some(1), "{how}: {report}");
        let f = assert_one(report, "runtime-starved", caller);
        assert_eq!(f["severity"], "deadlock", "{how}: {f}");
        assert_eq!(f["detail"]["runtime"], runtime, "{how}: {f}");
        let text: Vec<&str> = (f["steps"].as_array().unwrap().iter())
            .filter_map(|s| s["text"].as_str())
            .collect();
        assert!(
            text.len() == 2 && (text.iter()).all(|t| t.contains(waits) && t.contains(caller)),
            "each worker {waits} in {caller}: {how}: {text:?}"
        );
        assert!(
            (f["suggestion"].as_str()).is_some_and(
                |s| s.contains("tokio::sync::Mutex") && s.contains("async_lock::Mutex")
            ),
            "{how}: {f}"
        );
    });
}

/// Each step of `f`, a runtime's starvation, says its worker waits for a future in
/// `futures::executor::block_on` called from `caller`; the advice says not to.
fn assert_waits_in_block_on(how: &str, f: &Value, caller: &str, workers: usize) {
    assert_eq!(f["severity"], "deadlock", "{how}: {f}");
    let text: Vec<&str> = (f["steps"].as_array().unwrap().iter())
        .filter_map(|s| s["text"].as_str())
        .collect();
    assert!(
        text.len() == workers
            && (text.iter()).all(|t| {
                t.contains("waits for future")
                    && t.contains("futures_executor::local_pool::block_on")
                    && t.contains(caller)
            }),
        "each worker waits for a future in block_on: {how}: {text:?}"
    );
    assert!(
        (f["suggestion"].as_str()).is_some_and(|s| s.contains("block_on")),
        "{how}: {f}"
    );
}

#[test]
fn a_tokio_runtime_whose_workers_block_on_futures_is_starved() {
    from_every_source("tokio_worker_block_on", |how, code, report| {
        assert_eq!(code, Some(1), "{how}: {report}");
        let f = assert_one(report, "runtime-starved", "tokio_worker_block_on::settle");
        assert_eq!(f["detail"]["runtime"], "tokio runtime", "{how}: {f}");
        assert_waits_in_block_on(how, &f, "tokio_worker_block_on::settle", 2);
    });
}

#[test]
fn a_current_thread_runtime_blocking_on_its_own_task_is_starved() {
    from_every_source("tokio_current_thread_block_on", |how, code, report| {
        assert_eq!(code, Some(1), "{how}: {report}");
        let f = assert_one(
            report,
            "runtime-starved",
            "tokio_current_thread_block_on::reconcile",
        );
        assert_eq!(
            f["detail"]["runtime"], "tokio current-thread runtime",
            "{how}: {f}"
        );
        assert_waits_in_block_on(how, &f, "tokio_current_thread_block_on::reconcile", 1);
    });
}

#[test]
fn a_tokio_blocking_pool_whose_closures_wait_on_one_queued_behind_them_starves() {
    blocking_pool_starves(
        "tokio_blocking_starvation",
        "tokio_blocking_starvation::drain",
        "std::sync::mpsc::Receiver",
    );
}

#[test]
fn a_tokio_blocking_pool_whose_closures_block_on_futures_starves() {
    blocking_pool_starves(
        "tokio_blocking_block_on",
        "tokio_blocking_block_on::confirm",
        "tokio::runtime::park::CachedParkThread::block_on",
    );
}

/// Program `bin`'s blocking pool starves, each of its threads in `caller` waiting in `wait`;
/// the runtime's two workers are the runtime's members, idle, none the blocking pool's. The
/// closure queued behind the blocking threads is in no stack, and the idle runtime's tasks
/// might still end their waits: a warning (exit 0), not a deadlock.
fn blocking_pool_starves(bin: &str, caller: &str, wait: &str) {
    from_every_source(bin, |how, code, report| {
        assert_eq!(code, Some(0), "{how}: {report}");
        let f = assert_one(report, "pool-starvation", caller);
        assert_eq!(f["severity"], "warning", "{how}: {f}");
        assert_eq!(f["detail"]["pool"], "tokio blocking pool", "{how}: {f}");
        let text: Vec<&str> = (f["steps"].as_array().unwrap().iter())
            .filter_map(|s| s["text"].as_str())
            .collect();
        assert!(
            text.len() == 2
                && (text.iter()).all(|t| {
                    t.contains("tokio::runtime::blocking::pool::Inner::run") && t.contains(wait)
                }),
            "each blocking thread waits in {wait}: {how}: {text:?}"
        );
        let pool_of = |name: &str| -> Vec<&Value> {
            (report["threads"].as_array().unwrap().iter())
                .filter(|t| t["pool"]["name"] == name)
                .collect()
        };
        let workers = pool_of("tokio runtime");
        assert!(
            workers.len() == 2 && workers.iter().all(|t| t["pool"]["member"] == "idle"),
            "{how}: {report}"
        );
        assert_eq!(pool_of("tokio blocking pool").len(), 2, "{how}: {report}");
    });
}

#[test]
fn a_scope_whose_threads_wait_for_what_its_owner_sends_after_it_is_a_wait_cycle() {
    scope_cycle("scope_join_cycle", "scope_join_cycle::publish");
}

#[test]
fn a_crossbeam_scope_whose_threads_wait_for_what_its_owner_sends_after_it_is_a_wait_cycle() {
    scope_cycle(
        "crossbeam_scope_join_cycle",
        "crossbeam_scope_join_cycle::audit",
    );
}

/// Program `bin`'s scope, opened in `opener`, and the threads spawned in it wait on each other.
fn scope_cycle(bin: &str, opener: &str) {
    from_every_source(bin, |how, code, report| {
        assert_eq!(code, Some(1), "{how}: {report}");
        // The owner (in the opener) and both scoped threads (in its closures).
        let f = assert_one(report, "wait-cycle", opener);
        assert_eq!(f["severity"], "deadlock", "{how}: {f}");
        let text: Vec<&str> = (f["steps"].as_array().unwrap().iter())
            .filter_map(|s| s["text"].as_str())
            .collect();
        let said = |what: &str| text.iter().any(|t| t.contains(what));
        assert!(
            said("waits for a thread to exit")
                && said("was spawned in that scope")
                && said("waits for channel")
                && said("opened the scope that joins it"),
            "{how}: {text:?}"
        );
        assert!(
            (f["suggestion"].as_str()).is_some_and(|s| s.contains("scope")),
            "{how}: {f}"
        );
    });
}

#[test]
fn a_scope_whose_threads_wait_for_a_feeder_outside_it_is_no_hang() {
    healthy("scope_fed");
}

/// No finding, exit 0, from every source.
fn healthy(bin: &str) {
    from_every_source(bin, |how, code, report| {
        assert_eq!(code, Some(0), "{how}: {report}");
        assert_eq!(report["findings"], serde_json::json!([]), "{how}: {report}");
    });
}

#[test]
fn an_idle_tokio_runtime_is_no_hang() {
    healthy("tokio_idle");
}

#[test]
fn an_idle_tokio_blocking_pool_is_no_hang() {
    healthy("tokio_blocking_idle");
}

#[test]
fn an_idle_current_thread_runtime_is_no_hang() {
    healthy("tokio_current_thread_idle");
}

#[test]
fn an_idle_smol_executor_is_no_hang() {
    healthy("smol_idle");
}

#[test]
fn a_smol_executor_busy_with_blocking_steps_that_end_is_no_hang() {
    healthy("smol_busy");
}

#[test]
fn an_idle_async_std_executor_is_no_hang() {
    healthy("async_std_idle");
}

#[test]
fn an_async_std_executor_busy_with_blocking_steps_that_end_is_no_hang() {
    healthy("async_std_busy");
}

#[test]
fn an_idle_rayon_pool_is_no_hang() {
    healthy("rayon_idle");
}

#[test]
fn a_rayon_pool_busy_computing_is_no_hang() {
    healthy("rayon_busy");
}
