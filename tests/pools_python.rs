//! Python's pools, queues, events and locks as its own dumps show them, live: each program in
//! `fixtures/programs/python/` is run until it hangs (or idles), then dumped by py-spy
//! (`py-spy dump --pid`, plain, `--native` and `--locals`) and by faulthandler (the program's
//! own dump on SIGUSR1), and each dump is parsed and analysed.
//!
//! - `pool_starvation.py`: every `ThreadPoolExecutor` worker waits on a future it submitted
//!   to its own pool: pool starvation, its two workers, in every dump.
//! - `mp_pool_starvation.py`: the same with a `multiprocessing.pool.ThreadPool`, whose own
//!   handler threads wait beside the workers.
//! - `event_pool.py`: every worker waits on a `threading.Event` that a task queued behind them
//!   would set: pool starvation from py-spy (which names `Event.wait`); faulthandler prints
//!   `Event.wait` and `Condition.wait` alike (`wait`), so there every thread only waits: a
//!   stall, no deadlock claimed.
//! - `condition_pool.py`: every worker waits on a `threading.Condition` that only a task
//!   queued behind them notifies, and no thread outside the pool is left to: pool starvation
//!   from py-spy (which names `Condition.wait`); faulthandler's bare `wait`, again: a stall.
//! - `queue_pool.py`: a crew of consumer threads sharing one loop (`Crew.consume`), each
//!   running a task that waits for a reply only a queued job would give. The pool is found
//!   from structure: with `--locals` the loop's `self` is the same crew on every member, so
//!   the loop is told from the task and the crew starves (`symbolic`); without it the shared
//!   task may be the loop, so the dump says only that every thread waits (stall).
//! - `lock_abba.py`, `rlock_abba.py`: a `threading.Lock` and a `threading.RLock` ABBA. Their
//!   acquire is C code: `--native` shows each transfer waiting for a Python lock (not idle);
//!   no dump records a holder, so no cycle is claimed: a stall. Without `--native`, py-spy's
//!   `idle` over the `with` line is said as what it is: off the CPU in a call the dump does
//!   not show (neither idle nor a known wait).
//! - `asyncio_executor_starved.py`: asyncio's default executor (`loop.run_in_executor`), two
//!   workers each blocked in `Queue.get` for rows a job queued behind them would put: pool
//!   starvation of the executor, in every dump, while the event loop waits in select.
//! - `asyncio_loop_blocked.py`: a coroutine blocks its event loop's only thread in
//!   `run_coroutine_threadsafe(...).result()` on a coroutine submitted to that same loop: the
//!   loop (`_run_once`, an async runtime by `python.toml`) is runtime-starved, in every dump.
//! - `idle_pool.py`, `queue_pool.py idle`, `asyncio_idle.py`: an idle `ThreadPoolExecutor`, an
//!   idle consumer crew, and an idle event loop beside its idle default executor: exit 0 and no
//!   finding (the main thread's select is I/O, information only).
//! - `busy_pool.py`: every worker busy in a task waiting on a `Condition` that a ticker thread
//!   outside the pool, asleep between ticks, notifies: no starvation, no stall, exit 0 (the
//!   ticker asleep in `time.sleep` is C code; without `--native` py-spy shows it off the CPU
//!   in a call the dump does not show, which may wake).

mod support;

use hangscan::analyze::{
    Activity, Analysis, Detail, Does, FindingKind, Grade, MemberState, Verdict,
};
use hangscan::knowledge::WaitKind;
use hangscan::model::Snapshot;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::runtimes::{dump_in, signal, with_stderr_to};
use support::{hangscan, require, scratch, HungProcess};

/// One dump of the program: how it was taken, the dump's text, and what hangscan read.
struct View {
    how: &'static str,
    text: String,
    snap: Snapshot,
    a: Analysis,
}

/// py-spy's flags for each view.
const PY_SPY: &[(&str, &[&str])] = &[
    ("py-spy", &[]),
    ("py-spy --native", &["--native"]),
    ("py-spy --locals", &["--locals"]),
];

/// `fixtures/programs/python/NAME.py` run with `args` until it hangs, dumped by py-spy in
/// each of [`PY_SPY`]'s ways and then by faulthandler; `None` (outside CI) without python3
/// or py-spy.
fn views(name: &str, args: &[&str]) -> Option<Vec<View>> {
    if !(require("python3") && require("py-spy")) {
        return None;
    }
    let dir = scratch("pools_python", &format!("{name}{}", args.join("-")));
    let err = dir.join("faulthandler.txt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/programs/python")
        .join(format!("{name}.py"));
    let mut python = with_stderr_to(&err, &[Path::new("python3"), &script]);
    python.args(args);
    let hung = HungProcess::spawn(name, python);
    let mut out = Vec::new();
    for (how, flags) in PY_SPY {
        let dump = Command::new("py-spy")
            .args(["dump", "--pid", &hung.pid.to_string()])
            .args(*flags)
            .output()
            .expect("py-spy runs");
        let text = String::from_utf8_lossy(&dump.stdout).into_owned();
        assert!(dump.status.success(), "{how}: {text}");
        out.push(view(how, text));
    }
    signal(hung.pid, "-USR1");
    // The main thread's stack comes last, ending in the script's `<module>`.
    out.push(view("faulthandler", dump_in(&err, "in <module>")));
    Some(out)
}

fn view(how: &'static str, text: String) -> View {
    let snap = hangscan::parse_dump(&text).unwrap_or_else(|e| panic!("{how}: {e}: {text}"));
    let producer = how.split(' ').next().unwrap();
    assert_eq!(snap.producer, producer, "{text}");
    let a = hangscan::analyze(&snap);
    View { how, text, snap, a }
}

impl View {
    fn kinds(&self) -> Vec<FindingKind> {
        self.a.findings.iter().map(|f| f.kind).collect()
    }

    /// The threads running `function` (a frame of theirs is named so; faulthandler names a
    /// method without its class: `lock_abba.transfer` for `lock_abba.Bank.transfer`).
    fn running(&self, function: &str) -> Vec<usize> {
        let (module, name) = (function.split('.').next(), function.rsplit('.').next());
        let unqualified = format!("{}.{}", module.unwrap(), name.unwrap());
        (0..self.snap.threads.len())
            .filter(|&t| {
                (self.snap.threads[t].frames.iter())
                    .filter_map(|f| f.function.as_deref())
                    .any(|f| f == function || f == unqualified)
            })
            .collect()
    }

    /// What the view was, and the dump, for a failed assertion.
    fn what(&self) -> String {
        format!("{}:\n{}", self.how, self.text)
    }
}

/// The pool-starvation finding of `v`, its threads being `workers` (besides it, at most an
/// event loop's select said as I/O, information only).
fn assert_starves(v: &View, workers: &[usize], pool: &str) -> Grade {
    let kinds: Vec<FindingKind> = (v.kinds().into_iter())
        .filter(|&k| k != FindingKind::IoWait)
        .collect();
    assert_eq!(kinds, [FindingKind::PoolStarvation], "{}", v.what());
    let f = &v.a.findings[0];
    assert_eq!(f.threads, workers, "{}", v.what());
    let title = hangscan::report::narrate::title(&v.snap, f);
    assert!(title.contains(pool), "{title}\n{}", v.what());
    assert!(v.a.deadlocked(), "{}", v.what());
    f.confidence
}

#[test]
fn an_executor_or_a_thread_pool_whose_workers_wait_on_results_they_queued_to_it_starves() {
    for (name, worker, pool) in [
        (
            "pool_starvation",
            "concurrent.futures.thread._worker",
            "concurrent.futures.ThreadPoolExecutor",
        ),
        (
            "mp_pool_starvation",
            "multiprocessing.pool.worker",
            "multiprocessing.pool",
        ),
    ] {
        let Some(views) = views(name, &[]) else {
            return;
        };
        for v in &views {
            let workers = v.running(worker);
            assert_eq!(workers.len(), 2, "{}", v.what());
            let grade = assert_starves(v, &workers, pool);
            assert_eq!(grade, Grade::Heuristic, "{}", v.what());
            for &t in &workers {
                assert_eq!(v.a.facts[t].waits[0].kind, WaitKind::Future, "{}", v.what());
            }
        }
    }
}

#[test]
fn asyncios_default_executor_whose_jobs_wait_on_a_job_queued_behind_them_starves() {
    let Some(views) = views("asyncio_executor_starved", &[]) else {
        return;
    };
    for v in &views {
        let workers = v.running("asyncio_executor_starved.merge");
        assert_eq!(workers.len(), 2, "{}", v.what());
        assert_starves(v, &workers, "concurrent.futures.ThreadPoolExecutor");
        for &t in &workers {
            assert_eq!(
                v.a.facts[t].waits[0].kind,
                WaitKind::Channel,
                "{}",
                v.what()
            );
        }
    }
}

#[test]
fn an_asyncio_loop_blocked_on_a_coroutine_submitted_to_itself_is_starved() {
    let Some(views) = views("asyncio_loop_blocked", &[]) else {
        return;
    };
    for v in &views {
        let kinds = v.kinds();
        assert_eq!(kinds, [FindingKind::RuntimeStarved], "{}", v.what());
        let f = &v.a.findings[0];
        assert_eq!(
            f.threads,
            v.running("asyncio_loop_blocked.refresh"),
            "{}",
            v.what()
        );
        assert!(
            matches!(&f.detail, Detail::RuntimeStarved { runtime } if runtime == "asyncio event loop"),
            "{}",
            v.what()
        );
        assert_eq!(v.a.facts[f.threads[0]].waits[0].kind, WaitKind::Future);
        assert!(
            (f.suggestion.as_deref()).is_some_and(|s| s.contains("run_coroutine_threadsafe")),
            "{}",
            v.what()
        );
    }
}

#[test]
fn workers_waiting_on_an_event_or_a_condition_a_queued_task_would_set_starve_where_the_dump_says_which(
) {
    for (name, task, kind, rule) in [
        (
            "event_pool",
            "event_pool.load_shard",
            WaitKind::Future,
            "python.event-wait",
        ),
        (
            "condition_pool",
            "condition_pool.build_index",
            WaitKind::Condvar,
            "python.condition-wait-named",
        ),
    ] {
        let Some(views) = views(name, &[]) else {
            return;
        };
        starve_behind(&views, task, kind, rule);
    }
}

/// Every view's workers, running `task`, wait (by `rule`, of `kind`) for what a task queued
/// behind them would do: starvation where the dump names the wait, a stall in faulthandler's.
fn starve_behind(views: &[View], task: &str, kind: WaitKind, rule: &str) {
    for v in views {
        let workers = v.running(task);
        assert_eq!(workers.len(), 2, "{}", v.what());
        if v.how == "faulthandler" {
            // faulthandler names Event.wait and Condition.wait alike, `wait` in threading.py,
            // and what it waits for, the text does not say. Every thread waits; no cause is
            // claimed, and the workers are busy in their task, not idle.
            assert_eq!(v.kinds(), [FindingKind::Stall], "{}", v.what());
            assert!(!v.a.deadlocked());
            for &t in &workers {
                assert_eq!(v.a.facts[t].activity, Activity::Blocked, "{}", v.what());
            }
            continue;
        }
        assert_starves(v, &workers, "concurrent.futures.ThreadPoolExecutor");
        for &t in &workers {
            let w = &v.a.facts[t].waits[0];
            assert_eq!((w.kind, w.rule.as_str()), (kind, rule), "{}", v.what());
        }
    }
}

#[test]
fn a_consumer_crew_on_one_queue_is_a_pool_by_structure_and_starves_when_its_loop_shows() {
    let Some(views) = views("queue_pool", &[]) else {
        return;
    };
    for v in &views {
        let crew = v.running("queue_pool.split_batch");
        assert_eq!(crew.len(), 2, "{}", v.what());
        for &t in &crew {
            let w = &v.a.facts[t].waits[0];
            assert_eq!(
                (v.a.facts[t].activity, w.kind),
                (Activity::Blocked, WaitKind::Channel),
                "{}",
                v.what()
            );
        }
        if v.how != "py-spy --locals" {
            // No argument shows the loop's instance: the crew's shared task could be its loop,
            // so every member could be idle in it. Every thread waits: a stall, no more.
            assert_stall(v);
            continue;
        }
        // `self` is the same crew on both members: `Crew.consume` is the loop, and each
        // member is busy in a task blocked on a reply only queued work gives.
        let grade = assert_starves(v, &crew, "queue_pool.Crew.consume");
        assert_eq!(grade, Grade::Symbolic, "{}", v.what());
        let pool = (v.a.pools.iter())
            .find(|p| p.name == "queue_pool.Crew.consume")
            .unwrap_or_else(|| panic!("no crew: {:?}\n{}", v.a.pools, v.what()));
        assert!(pool.instance.is_some());
        assert!(pool.members.iter().all(|m| m.state == MemberState::Busy));
    }
}

/// Every thread waits: a stall, which needs every thread. faulthandler's dump shows it holds
/// them all (its main thread comes last, down to `<module>`); a py-spy dump prints no count
/// nor end, so from it the verdict is undecidable.
fn assert_stall(v: &View) {
    if v.how.starts_with("py-spy") {
        assert!(v.kinds().is_empty(), "{}", v.what());
        assert_eq!(v.a.verdict(), Verdict::Undecidable, "{}", v.what());
    } else {
        assert_eq!(v.kinds(), [FindingKind::Stall], "{}", v.what());
    }
}

#[test]
fn lock_and_rlock_abbas_are_python_lock_waits_with_no_holder_claimed() {
    for (name, threads) in [
        ("lock_abba", ["lock_abba.Bank.transfer"; 2]),
        (
            "rlock_abba",
            ["rlock_abba.Replica.push", "rlock_abba.Replica.pull"],
        ),
    ] {
        let Some(views) = views(name, &[]) else {
            return;
        };
        for v in &views {
            let mut waiting: Vec<usize> = threads.iter().flat_map(|f| v.running(f)).collect();
            waiting.sort_unstable();
            waiting.dedup();
            assert_eq!(waiting.len(), 2, "{}", v.what());
            assert!(!v.a.deadlocked(), "{}", v.what());
            if v.how == "py-spy" || v.how == "py-spy --locals" {
                // The acquire is C code, which only `--native` shows: the innermost frame is
                // the `with` line, and py-spy's `idle` says only that the thread is off the
                // CPU: in a call the dump does not show, not idle.
                for &t in &waiting {
                    assert_eq!(v.a.facts[t].activity, Activity::Unknown, "{}", v.what());
                    assert!(
                        matches!(v.a.states[t].does, Does::Unseen { .. }),
                        "{}",
                        v.what()
                    );
                }
            }
            if v.how != "py-spy --native" {
                continue;
            }
            assert_stall(v);
            for &t in &waiting {
                let facts = &v.a.facts[t];
                assert_eq!(facts.activity, Activity::Blocked, "{}", v.what());
                assert_eq!(
                    (facts.waits[0].kind, facts.waits[0].rule.as_str()),
                    (WaitKind::PythonLock, "python.lock-acquire"),
                    "{}",
                    v.what()
                );
            }
        }
    }
}

#[test]
fn an_idle_executor_crew_or_event_loop_and_a_pool_busy_on_an_outside_signal_exit_0() {
    for (name, args) in [
        ("idle_pool", &[][..]),
        ("queue_pool", &["idle"][..]),
        ("busy_pool", &[][..]),
        ("asyncio_idle", &[][..]),
    ] {
        let Some(views) = views(name, args) else {
            return;
        };
        let dir = scratch("pools_python", &format!("{name}-parse"));
        for v in &views {
            let file: PathBuf = dir.join("dump.txt");
            std::fs::write(&file, &v.text).unwrap();
            let (code, out, err) = hangscan(&["parse", file.to_str().unwrap()]);
            let findings: Vec<FindingKind> = (v.kinds().into_iter())
                .filter(|&k| k != FindingKind::IoWait)
                .collect();
            assert_eq!(
                (code, findings),
                (Some(0), vec![]),
                "{out}{err}\n{}",
                v.what()
            );
        }
    }
}
