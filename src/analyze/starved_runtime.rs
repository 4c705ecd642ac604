//! Runtimes starved by blocking calls: every worker of an async runtime (a pool whose member
//! rule says `async_runtime`: tokio's) is busy, blocked in a synchronous wait inside a task —
//! a lock, a condition variable, a channel's blocking receive, a future run to completion on
//! the worker (`block_on`). No worker is left to poll the runtime's tasks, among them whatever
//! would end those waits: a task holding the lock across an `.await`, the sender of the
//! channel. A wait that ends by itself (a sleep, a timeout, I/O) only slows the runtime and is
//! not counted.

use super::advice::advice;
use super::classify::{Activity, Facts};
use super::finding::{Detail, Draft, Finding};
use super::graph::Grade;
use super::names::Names;
use super::pools::{FoundBy, MemberState, Pool};
use super::steps::wait_step;
use super::{FindingKind, Severity};
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use std::collections::HashSet;

/// The situation whose advice the finding takes.
const SITUATION: &str = "runtime-starved";

/// A finding per async runtime whose every worker blocks in a synchronous wait; none for
/// threads already in a cycle (`in_cycle`).
pub fn find(
    snap: &Snapshot,
    facts: &[Facts],
    pools: &[Pool],
    names: &Names,
    kb: &KnowledgeBase,
    in_cycle: &HashSet<usize>,
) -> Vec<Finding> {
    let everyone_waits = facts
        .iter()
        .all(|f| matches!(f.activity, Activity::Blocked | Activity::Idle));
    (pools.iter())
        .filter(|p| is_async_runtime(facts, p, kb))
        .filter(|p| p.members.iter().all(|m| !in_cycle.contains(&m.thread)))
        .filter(|p| {
            p.members.iter().all(|m| {
                let f = &facts[m.thread];
                m.state == MemberState::Busy
                    && f.activity == Activity::Blocked
                    && !f.waits.is_empty()
            })
        })
        .map(|p| starved(snap, facts, p, names, kb, everyone_waits))
        .collect()
}

/// Whether the rules name `pool` as an async runtime's workers.
fn is_async_runtime(facts: &[Facts], pool: &Pool, kb: &KnowledgeBase) -> bool {
    pool.found_by == FoundBy::Named
        && pool.members.iter().all(|m| {
            (facts[m.thread].members.iter())
                .filter(|ms| ms.pool.class == pool.name)
                .any(|ms| kb.rule_by_id(&ms.rule).is_some_and(|r| r.async_runtime))
        })
}

/// The finding on `pool`: each worker's step is its wait. Nothing can move when every thread
/// of the process waits (a deadlock); else a thread outside the runtime may still end a wait.
fn starved(
    snap: &Snapshot,
    facts: &[Facts],
    pool: &Pool,
    names: &Names,
    kb: &KnowledgeBase,
    everyone_waits: bool,
) -> Finding {
    let waits = || pool.members.iter().map(|m| &facts[m.thread].waits[0]);
    let steps = (pool.members.iter())
        .map(|m| {
            let w = &facts[m.thread].waits[0];
            wait_step(snap, facts, names, m.thread, w, Some(pool.grade))
        })
        .collect();
    let draft = Draft {
        kind: FindingKind::RuntimeStarved,
        severity: if everyone_waits {
            Severity::Deadlock
        } else {
            Severity::Warning
        },
        confidence: pool.grade.min(Grade::Symbolic),
        threads: pool.members.iter().map(|m| m.thread).collect(),
        detail: Detail::RuntimeStarved {
            runtime: pool.name.clone(),
        },
        steps,
        suggestion: waits()
            .find_map(|w| w.suggestion.clone())
            .or_else(|| advice(kb, waits(), SITUATION)),
    };
    draft.sign(snap)
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, Analysis, FindingKind, Severity};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;

    /// A tokio worker (LWP 100 + `n`) whose innermost frames are `top`, on its worker loop.
    fn worker(n: u32, top: &[&str]) -> String {
        let loop_frames = [
            "0x5500000000000010 in tokio::runtime::scheduler::multi_thread::worker::Context::run (self=0x7f10) at src/runtime/scheduler/multi_thread/worker.rs:595",
            "0x5500000000000011 in tokio::runtime::scheduler::multi_thread::worker::run (worker=...) at src/runtime/scheduler/multi_thread/worker.rs:549",
            "0x5500000000000012 in tokio::runtime::blocking::pool::Inner::run (self=0x5500fa00, worker_thread_id=1) at src/runtime/blocking/pool.rs:764",
            "0x7f0000000000a1f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442",
            "0x7f0000000000b8ec in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81",
        ];
        gdb_thread(n, 100 + n, "tokio-rt-worker", top, &loop_frames)
    }

    /// gdb's text of thread `n` (LWP `lwp`, named `name`): frames `top`, then `below`.
    fn gdb_thread(n: u32, lwp: u32, name: &str, top: &[&str], below: &[&str]) -> String {
        let mut s = format!("Thread {n} (Thread 0x7f000{n} (LWP {lwp}) \"{name}\"):\n");
        for (i, f) in top.iter().chain(below).enumerate() {
            s.push_str(&format!("#{i}  {f}\n"));
        }
        s + "\n"
    }

    /// A task blocked in a std `Mutex` (the ledger's).
    const LOCKED: &[&str] = &[
        "syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38",
        "0x5500000000000001 in std::sys::pal::unix::futex::futex_wait () at library/std/src/sys/pal/unix/futex.rs:73",
        "std::sys::sync::mutex::futex::Mutex::lock_contended () at library/std/src/sys/sync/mutex/futex.rs:70",
        "0x5500000000000002 in std::sync::poison::mutex::Mutex<u64>::lock<u64> (self=0x5500ff00) at library/std/src/sync/poison/mutex.rs:492",
        "0x5500000000000003 in app::record::{async_fn#0} () at src/main.rs:19",
        "0x5500000000000004 in tokio::runtime::task::raw::RawTask::poll (self=...) at src/runtime/task/raw.rs:267",
    ];

    /// A worker with no task, parked.
    const PARKED: &[&str] = &[
        "syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38",
        "0x5500000000000001 in std::sys::pal::unix::futex::futex_wait () at library/std/src/sys/pal/unix/futex.rs:73",
        "std::sys::sync::condvar::futex::Condvar::wait () at library/std/src/sys/sync/condvar/futex.rs:33",
        "0x5500000000000005 in std::sync::poison::condvar::Condvar::wait<()> (self=0x5500fe00, guard=...) at library/std/src/sync/poison/condvar.rs:128",
        "0x5500000000000006 in tokio::runtime::scheduler::multi_thread::park::Inner::park_condvar (self=0x5500fd00) at src/runtime/scheduler/multi_thread/park.rs:159",
        "0x5500000000000007 in tokio::runtime::scheduler::multi_thread::park::Parker::park (self=0x5500fd00) at src/runtime/scheduler/multi_thread/park.rs:70",
        "0x5500000000000008 in tokio::runtime::scheduler::multi_thread::worker::Context::park_internal (self=0x7f10) at src/runtime/scheduler/multi_thread/worker.rs:807",
    ];

    /// A task asleep in `std::thread::sleep`.
    const SLEEPING: &[&str] = &[
        "0x7f000000000c0001 in __GI___clock_nanosleep (clock_id=0, flags=0, req=0x7f20, rem=0x7f20) at ../sysdeps/unix/sysv/linux/clock_nanosleep.c:78",
        "0x7f000000000c0002 in __GI___nanosleep (requested_time=0x7f20, remaining=0x7f20) at ../sysdeps/unix/sysv/linux/nanosleep.c:25",
        "0x5500000000000009 in std::thread::functions::sleep (dur=...) at library/std/src/thread/functions.rs:320",
        "0x5500000000000003 in app::record::{async_fn#0} () at src/main.rs:19",
        "0x5500000000000004 in tokio::runtime::task::raw::RawTask::poll (self=...) at src/runtime/task/raw.rs:267",
    ];

    /// An async-std executor thread (LWP 200 + `n`) whose innermost frames are `top`, on
    /// async-global-executor's loop: `top` ends in async-io's `block_on` of the executor.
    fn executor_thread(n: u32, top: &[&str]) -> String {
        let loop_frames = [
            "0x5600000000000010 in async_io::driver::block_on<(), futures_lite::future::Or<async_executor::{impl#11}::run::{async_fn_env#0}<(), async_global_executor::threading::thread_main_loop::{closure_env#1}>>> (future=...) at src/driver.rs:199",
            "0x5600000000000011 in async_global_executor::reactor::block_on<futures_lite::future::Or<async_executor::{impl#11}::run::{async_fn_env#0}<()>>> (future=...) at src/reactor.rs:12",
            "0x5600000000000012 in async_global_executor::threading::thread_main_loop () at src/threading.rs:88",
            "0x7f0000000000a1f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442",
            "0x7f0000000000b8ec in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81",
        ];
        gdb_thread(n, 200 + n, "async-std/runti", top, &loop_frames)
    }

    /// async-io's `block_on` parked: the executor has no task to poll.
    const EXECUTOR_PARKED: &[&str] = &[
        "syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38",
        "0x5600000000000001 in std::sys::pal::unix::futex::futex_wait () at library/std/src/sys/pal/unix/futex.rs:73",
        "std::sys::sync::condvar::futex::Condvar::wait () at library/std/src/sys/sync/condvar/futex.rs:33",
        "0x5600000000000002 in std::sync::poison::condvar::Condvar::wait<()> (self=0x5600fe00, guard=...) at library/std/src/sync/poison/condvar.rs:128",
        "0x5600000000000003 in parking::Inner::park (self=0x5600fd00, timeout=...) at src/lib.rs:377",
        "0x5600000000000004 in parking::Parker::park (self=0x5600fc00) at src/lib.rs:132",
        "0x5600000000000005 in async_io::driver::block_on::{closure#1}<(), futures_lite::future::Or<async_executor::{impl#11}::run::{async_fn_env#0}<()>>> (cache=0x5600fb00) at src/driver.rs:210",
    ];

    /// A task blocked in event-listener's blocking wait (`lock_blocking` inside a task): it
    /// parks with parking's `Parker` too, but far from async-io's `block_on`.
    const LISTENER_BLOCKED: &[&str] = &[
        "syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38",
        "0x5600000000000001 in std::sys::pal::unix::futex::futex_wait () at library/std/src/sys/pal/unix/futex.rs:73",
        "std::sys::sync::condvar::futex::Condvar::wait () at library/std/src/sys/sync/condvar/futex.rs:33",
        "0x5600000000000002 in std::sync::poison::condvar::Condvar::wait<()> (self=0x5600fe00, guard=...) at library/std/src/sync/poison/condvar.rs:128",
        "0x5600000000000003 in parking::Inner::park (self=0x5600fd00, timeout=...) at src/lib.rs:377",
        "0x5600000000000004 in parking::Parker::park (self=0x5600fc00) at src/lib.rs:132",
        "0x5600000000000006 in event_listener::InnerListener<(), alloc::sync::Arc<event_listener::Inner<()>>>::wait_internal (self=0x5600fa00, deadline=...) at src/lib.rs:1150",
        "0x5600000000000007 in async_lock::mutex::Mutex<u64>::lock_blocking (self=0x5600f900) at src/mutex.rs:140",
        "0x5600000000000008 in app::record::{async_fn#0} () at src/main.rs:19",
        "0x5600000000000009 in async_task::raw::RawTask<F, T, S, M>::run (ptr=0x5600f800) at src/raw.rs:557",
        "0x560000000000000a in async_executor::{impl#13}::run::{async_fn#0}<(), core::future::pending::Pending<()>> () at src/lib.rs:790",
        "0x560000000000000b in futures_lite::future::{impl#7}::poll<()> (self=..., cx=0x7f30) at src/future.rs:460",
        "0x560000000000000c in async_io::driver::block_on::{closure#1}<(), futures_lite::future::Or<async_executor::{impl#11}::run::{async_fn_env#0}<()>>> (cache=0x5600fb00) at src/driver.rs:199",
    ];

    /// Main: waiting in a condition variable, or computing.
    fn main_thread(waits: bool) -> String {
        let top = if waits {
            "#0  syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38\n#1  0x5500000000000001 in std::sys::pal::unix::futex::futex_wait () at library/std/src/sys/pal/unix/futex.rs:73\n#2  std::sys::sync::condvar::futex::Condvar::wait () at library/std/src/sys/sync/condvar/futex.rs:33\n#3  0x5500000000000005 in std::sync::poison::condvar::Condvar::wait<()> (self=0x5500fc00, guard=...) at library/std/src/sync/poison/condvar.rs:128\n#4  0x550000000000000a in app::main () at src/main.rs:30\n"
        } else {
            "#0  0x550000000000000b in app::crunch (n=7) at src/main.rs:40\n#1  0x550000000000000a in app::main () at src/main.rs:30\n"
        };
        format!("Thread 1 (Thread 0x7f0001 (LWP 100) \"app\"):\n{top}\n")
    }

    /// The analysis of a process with these threads.
    fn analysis(threads: &[String]) -> Analysis {
        let dump = threads.concat();
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        analyze(&snap, &KnowledgeBase::builtin())
    }

    /// The findings' kinds and severities of a process with these threads.
    fn findings(threads: &[String]) -> Vec<(FindingKind, Severity)> {
        let a = analysis(threads);
        a.findings.iter().map(|f| (f.kind, f.severity)).collect()
    }

    #[test]
    fn an_executor_thread_parked_in_block_on_is_idle_one_parked_in_a_task_is_not() {
        let blocked = [
            main_thread(true),
            executor_thread(2, LISTENER_BLOCKED),
            executor_thread(3, LISTENER_BLOCKED),
        ];
        assert_eq!(
            findings(&blocked),
            [(FindingKind::RuntimeStarved, Severity::Deadlock)]
        );
        let one_parked = [
            main_thread(true),
            executor_thread(2, LISTENER_BLOCKED),
            executor_thread(3, EXECUTOR_PARKED),
        ];
        assert!(findings(&one_parked)
            .iter()
            .all(|(k, _)| *k != FindingKind::RuntimeStarved));
    }

    #[test]
    fn workers_on_the_blocking_pools_threads_are_the_runtimes_only() {
        // Each worker runs `worker::run` as a blocking task of tokio's blocking pool, for good.
        let a = analysis(&[main_thread(true), worker(2, LOCKED), worker(3, PARKED)]);
        let names: Vec<&str> = a.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["tokio runtime"]);
        assert_eq!(a.pools[0].members.len(), 2);
    }

    #[test]
    fn every_worker_blocked_in_a_lock_starves_the_runtime() {
        let all = [main_thread(true), worker(2, LOCKED), worker(3, LOCKED)];
        assert_eq!(
            findings(&all),
            [(FindingKind::RuntimeStarved, Severity::Deadlock)]
        );
        // A thread outside the runtime still runs: it may yet end the waits.
        let running = [main_thread(false), worker(2, LOCKED), worker(3, LOCKED)];
        assert_eq!(
            findings(&running),
            [(FindingKind::RuntimeStarved, Severity::Warning)]
        );
    }

    #[test]
    fn a_parked_worker_or_a_sleeping_task_is_no_starvation() {
        let one_parked = [main_thread(true), worker(2, LOCKED), worker(3, PARKED)];
        assert!(findings(&one_parked)
            .iter()
            .all(|(k, _)| *k != FindingKind::RuntimeStarved));
        let sleeping = [main_thread(true), worker(2, SLEEPING), worker(3, SLEEPING)];
        assert!(findings(&sleeping)
            .iter()
            .all(|(k, _)| *k != FindingKind::RuntimeStarved));
    }
}
