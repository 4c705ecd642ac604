//! C++ libraries' pools, built against the real libraries (Debian's -dev packages, with
//! pkg-config): each hang found with its kind and threads live, from a gcore core and from gdb's
//! `bt` and `bt full` of the same process, and each library's idle twin clean in the same four
//! ways.
//!
//! - Qt 5: a `QThreadPool` drained (`waitForDone`) from one of its own tasks
//!   (`cpp_qt_pool_self_drain`: a self-join); a `QThreadPool` whose two threads each wait for a
//!   `QFuture` that a task queued behind them would report (`cpp_qt_pool_starvation`), while
//!   main waits for a `QMutex` (a lock wait). Qt names its pool threads `Thread (pooled)`; a
//!   core keeps no thread names and a distribution's QtCore names no frame of the worker loop:
//!   from a core the self-drain is a stall that names the pool's wait, and the starvation is
//!   found from the stacks' shape alone (the same threads, the pool named by their shared loop).
//!   The same with `QtConcurrent::run` on the global pool (`cpp_qt_concurrent_starvation`):
//!   each task waits (`waitForFinished`) for a QFutureInterface's future that a task it queued
//!   would report (a future QtConcurrent::run returns would be run by its waiter instead).
//! - libuv: its threadpool (two threads) whose work callbacks wait on a `uv_sem` and a `uv_cond`
//!   that work queued behind them would post (`c_uv_pool_starvation`: starvation), while a
//!   thread waits for a `uv_mutex` (a lock wait). Its workers are known by their start routine,
//!   in libuv's object, so a core shows the same. Its idle twin: the loop in `uv_run`, the pool
//!   idle.
//! - oneTBB: an arena of two slots, main in `task_group::wait` and one worker, each running a
//!   task that pops a `concurrent_bounded_queue` the task queued behind them would fill
//!   (`cpp_tbb_queue_starvation`): starvation, main and the worker its threads. Workers are
//!   known by their start routine, in libtbb's object, a thread in `task_group::wait` by that
//!   frame. Its idle twin: an arena whose worker sleeps after its tasks and a parallel_for.
//! - Abseil: a hand-rolled pool (found from structure) whose two jobs wait, one on an
//!   `absl::Notification`, one on an `absl::BlockingCounter`, for parts queued behind them
//!   (`cpp_absl_pool_starvation`): both waits are futures, the pool starves.
//! - gRPC: an idle synchronous server (`cpp_grpc_idle`): its server thread polling the
//!   completion queue and the event engine's poller are idle loops woken from outside, so the
//!   executors and timers waiting for work are no stall.

mod support;

use serde_json::Value;
use support::report::{assert_healthy, function, json, parse_gdb, views};
use support::{gcore, require, scratch, HungProcess};

/// What a core shows of a hang whose pool is known by its threads' names.
enum InCore {
    /// The same finding, of the same pool.
    Same,
    /// The same finding and threads, the pool inferred from the stacks' shape (named by the
    /// loop they share, not the library's class).
    Structure,
    /// A stall: no member is known, but the waiting thread's wait is named.
    Stall,
}

/// A hang in a library's pool.
struct Hang {
    program: &'static str,
    needs: &'static [&'static str],
    /// The finding's kind.
    kind: &'static str,
    /// The pool's class, as the rules name it.
    pool: &'static str,
    /// The program's function each thread of the finding waits in.
    waiter: &'static str,
    /// How many threads wait there.
    count: usize,
    /// Another thread's wait the report must classify: (its function, the summary's start).
    also: Option<(&'static str, &'static str)>,
    core: InCore,
}

const QT_SELF_DRAIN: Hang = Hang {
    program: "cpp_qt_pool_self_drain",
    needs: &["Qt5Core"],
    kind: "self-join",
    pool: "Qt QThreadPool",
    waiter: "Exporter::finish",
    count: 1,
    also: None,
    core: InCore::Stall,
};

const QT_STARVATION: Hang = Hang {
    program: "cpp_qt_pool_starvation",
    needs: &["Qt5Core"],
    kind: "pool-starvation",
    pool: "Qt QThreadPool",
    waiter: "Cache::lookup",
    count: 2,
    also: Some(("Cache::size", "waits for mutex")),
    core: InCore::Structure,
};

const QT_CONCURRENT: Hang = Hang {
    program: "cpp_qt_concurrent_starvation",
    needs: &["Qt5Core", "Qt5Concurrent"],
    kind: "pool-starvation",
    pool: "Qt QThreadPool",
    waiter: "Reports::build",
    count: 2,
    also: None,
    core: InCore::Structure,
};

const UV_STARVATION: Hang = Hang {
    program: "c_uv_pool_starvation",
    needs: &["libuv"],
    kind: "pool-starvation",
    pool: "libuv threadpool",
    waiter: "decode",
    count: 2,
    also: Some(("report", "waits for mutex")),
    core: InCore::Same,
};

const TBB_STARVATION: Hang = Hang {
    program: "cpp_tbb_queue_starvation",
    needs: &["tbb"],
    kind: "pool-starvation",
    pool: "oneTBB arena",
    waiter: "Decoder::decode",
    count: 2,
    also: None,
    core: InCore::Same,
};

const ABSL_STARVATION: Hang = Hang {
    program: "cpp_absl_pool_starvation",
    needs: &["absl_synchronization"],
    kind: "pool-starvation",
    pool: "Pool",
    waiter: "operator()",
    count: 2,
    also: None,
    core: InCore::Same,
};

/// The report's threads with a frame in `f`: their tids.
fn threads_in<'a>(report: &'a Value, f: &str) -> Vec<&'a Value> {
    (report["threads"].as_array().unwrap().iter())
        .filter(|t| (t["frames"].as_array().unwrap().iter()).any(|fr| function(fr).starts_with(f)))
        .collect()
}

/// The report's one finding is `hang`'s, of its threads; its pool named as `pool` says (the
/// rules' class, or `None` for a pool found from structure).
fn assert_hang(report: &Value, hang: &Hang, pool: Option<&str>) {
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    let f = &findings[0];
    assert_eq!(f["kind"], hang.kind, "{report}");
    let detail = &f["detail"];
    let named = detail["pool"]
        .as_str()
        .or(detail["object"]["pool"].as_str());
    if let Some(pool) = pool {
        assert_eq!(named, Some(pool), "{report}");
    }
    let waiters: Vec<&Value> = (threads_in(report, hang.waiter).into_iter())
        .map(|t| &t["tid"])
        .collect();
    assert_eq!(waiters.len(), hang.count, "{report}");
    let mut found: Vec<&Value> = f["threads"].as_array().unwrap().iter().collect();
    found.sort_by_key(|v| v.as_u64());
    assert_eq!(found, waiters, "{report}");
    assert_also(report, hang);
}

/// The other wait `hang` has, classified.
fn assert_also(report: &Value, hang: &Hang) {
    let Some((f, summary)) = hang.also else {
        return;
    };
    let threads = threads_in(report, f);
    assert_eq!(threads.len(), 1, "{report}");
    let said = threads[0]["summary"].as_str().unwrap_or_default();
    assert!(said.starts_with(summary), "{f}: {said}");
}

/// A stall whose waiter's wait is `hang`'s pool's.
fn assert_stall(report: &Value, hang: &Hang) {
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["kind"], "stall", "{report}");
    let waiters = threads_in(report, hang.waiter);
    assert_eq!(waiters.len(), hang.count, "{report}");
    for t in waiters {
        let said = t["summary"].as_str().unwrap_or_default();
        assert!(said.contains(&format!("pool `{}`", hang.pool)), "{said}");
    }
}

/// Whether every library `needs` names is here, and the tools.
fn have(needs: &[&str], tools: &[&str]) -> bool {
    needs.iter().chain(tools).all(|n| require(n))
}

fn live(hang: &Hang) {
    if !have(hang.needs, &[]) {
        return;
    }
    let p = HungProcess::start(hang.program);
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_hang(&report, hang, Some(hang.pool));
}

fn core(hang: &Hang) {
    if !have(hang.needs, &["gcore"]) {
        return;
    }
    let dir = scratch("pools-cxx", &format!("{}-core", hang.program));
    let p = HungProcess::start(hang.program);
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    match hang.core {
        InCore::Same => assert_hang(&report, hang, Some(hang.pool)),
        InCore::Structure => assert_hang(&report, hang, None),
        InCore::Stall => assert_stall(&report, hang),
    }
    // A stall is a warning: exit 1 as well.
    assert_eq!(code, Some(1), "{report}");
}

fn gdb(hang: &Hang) {
    if !have(hang.needs, &["gdb"]) {
        return;
    }
    let dir = scratch("pools-cxx", &format!("{}-gdb", hang.program));
    let p = HungProcess::start(hang.program);
    for full in [false, true] {
        let (code, report) = parse_gdb(p.pid, full, &dir);
        assert_eq!(code, Some(1), "bt full: {full}: {report}");
        assert_hang(&report, hang, Some(hang.pool));
    }
}

fn healthy(program: &str, needs: &[&str]) {
    if !have(needs, &["gdb", "gcore"]) {
        return;
    }
    for (_, code, report) in views("pools-cxx", program) {
        assert_healthy(code, &report);
    }
}

#[test]
fn a_qt_pool_drained_by_its_own_task_is_a_self_join_attached() {
    live(&QT_SELF_DRAIN);
}

#[test]
fn a_qt_pool_drained_by_its_own_task_is_a_stall_naming_the_drain_in_a_core() {
    core(&QT_SELF_DRAIN);
}

#[test]
fn a_qt_pool_drained_by_its_own_task_is_a_self_join_in_gdb_bt_and_bt_full() {
    gdb(&QT_SELF_DRAIN);
}

#[test]
fn a_qt_pool_whose_tasks_wait_for_futures_queued_behind_them_starves_attached() {
    live(&QT_STARVATION);
}

#[test]
fn a_qt_pool_whose_tasks_wait_for_futures_queued_behind_them_starves_in_a_core() {
    core(&QT_STARVATION);
}

#[test]
fn a_qt_pool_whose_tasks_wait_for_futures_queued_behind_them_starves_in_gdb_bt_and_bt_full() {
    gdb(&QT_STARVATION);
}

#[test]
fn qtconcurrent_tasks_waiting_for_futures_queued_behind_them_starve_the_global_pool() {
    live(&QT_CONCURRENT);
    core(&QT_CONCURRENT);
    gdb(&QT_CONCURRENT);
}

#[test]
fn an_idle_grpc_server_is_no_hang() {
    healthy("cpp_grpc_idle", &["grpc++"]);
}

#[test]
fn idle_qt_pools_are_no_hang() {
    healthy("cpp_qt_idle", &["Qt5Core", "Qt5Concurrent"]);
}

#[test]
fn libuv_work_waiting_for_work_queued_behind_it_starves_the_threadpool_attached() {
    live(&UV_STARVATION);
}

#[test]
fn libuv_work_waiting_for_work_queued_behind_it_starves_the_threadpool_in_a_core() {
    core(&UV_STARVATION);
}

#[test]
fn libuv_work_waiting_for_work_queued_behind_it_starves_the_threadpool_in_gdb_bt_and_bt_full() {
    gdb(&UV_STARVATION);
}

#[test]
fn an_idle_libuv_loop_and_threadpool_are_no_hang() {
    healthy("c_uv_idle", &["libuv"]);
}

#[test]
fn a_tbb_arena_whose_tasks_pop_a_queue_filled_by_a_task_behind_them_starves_attached() {
    live(&TBB_STARVATION);
}

#[test]
fn a_tbb_arena_whose_tasks_pop_a_queue_filled_by_a_task_behind_them_starves_in_a_core() {
    core(&TBB_STARVATION);
}

#[test]
fn a_tbb_arena_whose_tasks_pop_a_queue_filled_by_a_task_behind_them_starves_in_gdb_bt_and_bt_full()
{
    gdb(&TBB_STARVATION);
}

#[test]
fn an_idle_tbb_arena_is_no_hang() {
    healthy("cpp_tbb_idle", &["tbb"]);
}

#[test]
fn pool_jobs_waiting_on_absl_notification_and_blocking_counter_starve_attached() {
    live(&ABSL_STARVATION);
}

#[test]
fn pool_jobs_waiting_on_absl_notification_and_blocking_counter_starve_in_a_core() {
    core(&ABSL_STARVATION);
}

#[test]
fn pool_jobs_waiting_on_absl_notification_and_blocking_counter_starve_in_gdb_bt_and_bt_full() {
    gdb(&ABSL_STARVATION);
}
