//! Library pools joined from their own tasks, built against the real libraries: a Boost.Asio
//! `thread_pool` whose task calls `join()` (`cpp_asio_pool_self_join`: the join waits for an
//! idle pool thread, which exits only when the pool's work, the joining task included, runs
//! out) and a GLib `GThreadPool` freed with `wait_` from one of its own tasks
//! (`c_glib_pool_self_free`). Each is a self-join on the pool, found live and from gdb's `bt`
//! and `bt full` of the same process (Asio's from a core too), graded `heuristic`: no frame
//! names the pool instance both the join and its workers are of (Asio's join shows the
//! thread_pool, its workers the scheduler; GLib's workers are known by the name GLib gives
//! their threads, `pool`, which a core does not keep: a distribution's GLib names no frame of
//! its worker loop).
//! An io_context whose two threads each block in a handler on a future that a handler queued
//! behind them would set (`cpp_asio_io_starvation`) starves: both are busy members of the
//! scheduler waiting for queued work, live and from gdb's `bt`. A strand's handler that waits
//! for a handler it posted to the same strand (`cpp_asio_strand_self_wait`) starves the strand,
//! a pool of one thread at a time, though the scheduler's other thread is idle: live, from gdb
//! `bt`/`bt full` and from a core; its twin whose handler waits for a thread that still
//! computes (`cpp_asio_strand_busy`) is no hang. Their healthy twins, idle pools and executors with a sleeping main, exit 0 with no
//! finding, in the same four ways.

mod support;

use serde_json::Value;
use support::report::{assert_healthy, function, json, parse_gdb, views};
use support::{gcore, require, scratch, HungProcess};

/// A library pool fixture: what it needs, the pool class the rules name, the join's frame and
/// the program's frame that calls it.
struct Pool {
    program: &'static str,
    needs: &'static str,
    class: &'static str,
    join: &'static str,
    caller: &'static str,
}

const ASIO: Pool = Pool {
    program: "cpp_asio_pool_self_join",
    needs: "boost-asio",
    class: "Boost.Asio scheduler",
    join: "boost::asio::thread_pool::join",
    caller: "ReportQueue::finish",
};

const GLIB: Pool = Pool {
    program: "c_glib_pool_self_free",
    needs: "glib-2.0",
    class: "GLib GThreadPool",
    join: "g_thread_pool_free",
    caller: "close_batch",
};

/// The report's one finding: a self-join, heuristic, of the thread inside `pool.caller`,
/// which waits in the pool's join and is itself one of the pool's workers.
fn assert_self_join(report: &Value, pool: &Pool) {
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    let f = &findings[0];
    assert_eq!(f["kind"], "self-join", "{report}");
    assert_eq!(f["confidence"], "heuristic", "{report}");
    assert_eq!(f["detail"]["object"]["pool"], pool.class, "{report}");
    let joiner = (report["threads"].as_array().unwrap().iter())
        .find(|t| {
            (t["frames"].as_array().unwrap().iter()).any(|fr| function(fr).starts_with(pool.caller))
        })
        .unwrap_or_else(|| panic!("no thread in {}: {report}", pool.caller));
    assert_eq!(f["threads"], serde_json::json!([joiner["tid"]]), "{report}");
    let steps = f["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{report}");
    assert!(function(&steps[0]).starts_with(pool.join), "{report}");
    let text = steps[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("pool `{}`", pool.class)) && text.contains(pool.caller),
        "the wait is shown at the program's call of the join: {text}"
    );
    assert_eq!(steps[1]["shows"]["because"]["is"], "member", "{report}");
    assert_eq!(steps[1]["shows"]["itself"], true, "{report}");
}

fn self_join_live(pool: &Pool) {
    if !require(pool.needs) {
        return;
    }
    let p = HungProcess::start(pool.program);
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_self_join(&report, pool);
}

fn self_join_core(pool: &Pool) {
    if !require(pool.needs) || !require("gcore") {
        return;
    }
    let dir = scratch("pools-libs", &format!("{}-core", pool.program));
    let p = HungProcess::start(pool.program);
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert_self_join(&report, pool);
}

fn self_join_gdb(pool: &Pool) {
    if !require(pool.needs) || !require("gdb") {
        return;
    }
    let dir = scratch("pools-libs", &format!("{}-gdb", pool.program));
    let p = HungProcess::start(pool.program);
    for full in [false, true] {
        let (code, report) = parse_gdb(p.pid, full, &dir);
        assert_eq!(code, Some(1), "bt full: {full}: {report}");
        assert_self_join(&report, pool);
    }
}

fn healthy(program: &str, needs: &str) {
    if !require(needs) || !require("gdb") || !require("gcore") {
        return;
    }
    for (_, code, report) in views("pools-libs", program) {
        assert_healthy(code, &report);
    }
}

#[test]
fn an_asio_pool_joined_by_its_own_task_is_a_self_join_attached() {
    self_join_live(&ASIO);
}

#[test]
fn an_asio_pool_joined_by_its_own_task_is_a_self_join_in_a_core() {
    self_join_core(&ASIO);
}

#[test]
fn an_asio_pool_joined_by_its_own_task_is_a_self_join_in_gdb_bt_and_bt_full() {
    self_join_gdb(&ASIO);
}

#[test]
fn a_glib_pool_freed_by_its_own_task_is_a_self_join_attached() {
    self_join_live(&GLIB);
}

#[test]
fn a_glib_pool_freed_by_its_own_task_is_a_self_join_in_gdb_bt_and_bt_full() {
    self_join_gdb(&GLIB);
}

#[test]
fn idle_asio_executors_are_no_hang() {
    healthy("cpp_asio_idle", "boost-asio");
}

#[test]
fn idle_glib_pools_are_no_hang() {
    healthy("c_glib_idle_pool", "glib-2.0");
}

/// The report's one finding: the io_context's two threads starve, each in `Server::handle`
/// waiting on a future, each a worker of the scheduler.
fn assert_io_starves(report: &Value) {
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    let f = &findings[0];
    assert_eq!(f["kind"], "pool-starvation", "{report}");
    assert_eq!(f["detail"]["pool"], "Boost.Asio scheduler", "{report}");
    let handlers: Vec<&Value> = (report["threads"].as_array().unwrap().iter())
        .filter(|t| {
            (t["frames"].as_array().unwrap().iter())
                .any(|fr| function(fr).starts_with("Server::handle"))
        })
        .map(|t| &t["tid"])
        .collect();
    assert_eq!(handlers.len(), 2, "{report}");
    let threads: Vec<&Value> = f["threads"].as_array().unwrap().iter().collect();
    assert_eq!(threads, handlers, "{report}");
}

#[test]
fn an_io_context_whose_handlers_wait_for_queued_handlers_starves() {
    if !require("boost-asio") || !require("gdb") {
        return;
    }
    let dir = scratch("pools-libs", "cpp_asio_io_starvation");
    let p = HungProcess::start("cpp_asio_io_starvation");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_io_starves(&report);
    let (code, report) = parse_gdb(p.pid, false, &dir);
    assert_eq!(code, Some(1), "{report}");
    assert_io_starves(&report);
}

#[test]
fn a_strand_handler_waiting_for_a_handler_queued_on_its_own_strand_starves_it() {
    if !require("boost-asio") || !require("gcore") {
        return;
    }
    for (how, code, report) in views("pools-libs", "cpp_asio_strand_self_wait") {
        let findings = &report["findings"];
        assert_eq!(code, Some(1), "{how}: {findings}");
        assert_eq!(findings.as_array().unwrap().len(), 1, "{how}: {findings}");
        let f = &findings[0];
        assert_eq!(f["kind"], "pool-starvation", "{how}: {findings}");
        assert_eq!(
            f["detail"]["pool"], "Boost.Asio strand",
            "{how}: {findings}"
        );
        let waiter = (report["threads"].as_array().unwrap().iter())
            .find(|t| {
                (t["frames"].as_array().unwrap().iter())
                    .any(|fr| function(fr).starts_with("Session::on_request"))
            })
            .unwrap_or_else(|| panic!("{how}: no thread in Session::on_request: {report}"));
        assert_eq!(
            f["threads"],
            serde_json::json!([waiter["tid"]]),
            "{how}: {findings}"
        );
    }
}

#[test]
fn a_strand_handler_waiting_for_a_thread_that_still_runs_is_no_hang() {
    if !require("boost-asio") || !require("gcore") {
        return;
    }
    for (_, code, report) in views("pools-libs", "cpp_asio_strand_busy") {
        assert_healthy(code, &report);
    }
}
