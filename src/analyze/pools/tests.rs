//! Pools inferred from gdb stacks: a shared loop makes a pool, `this=` splits and names its
//! instance, members are idle or busy; lone threads and threads sharing only the thread-start
//! plumbing are no pool; structural self-join and starvation.

use crate::analyze::{analyze, Analysis, FindingKind, Grade, MemberState};
use crate::dump::parse_dump;
use crate::knowledge::KnowledgeBase;

fn analysis(dump: &str) -> Analysis {
    let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    analyze(&snap, &KnowledgeBase::builtin())
}

/// A thread `n` whose `frames` (innermost first) sit on a std::thread's entry.
fn thread(n: u32, frames: &[String]) -> String {
    let mut s = format!(
        "Thread {n} (Thread 0x7f00000{n} (LWP {}) \"t{n}\"):\n",
        100 + n
    );
    let entry = [
        "Crew::Crew(int)::{lambda()#1}::operator() (__closure=0x5500000".to_string()
            + &n.to_string()
            + ") at crew.cpp:32",
        "0x00007f19e02d44a3 in ?? () from /lib/x86_64-linux-gnu/libstdc++.so.6".to_string(),
        "0x00007f19e00a71f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442"
            .to_string(),
        "0x00007f19e01278ec in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81"
            .to_string(),
    ];
    for (i, f) in frames.iter().chain(&entry).enumerate() {
        s.push_str(&format!("#{i}  {f}\n"));
    }
    s + "\n"
}

/// Waiting for a job in `Crew::shift(this)`.
fn idle(n: u32, this: &str) -> String {
    thread(
        n,
        &[
            "0x00007f19e00a65d8 in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x7ffe00, cond=0x7ffe28) at ./nptl/pthread_cond_wait.c:503".into(),
            "___pthread_cond_wait (cond=0x7ffe28, mutex=0x7ffe00) at ./nptl/pthread_cond_wait.c:618".into(),
            "0x000055c856b67953 in std::condition_variable::wait<Crew::shift(int)::{lambda()#1}>(std::unique_lock<std::mutex>&, Crew::shift(int)::{lambda()#1}) (this=0x7ffe28, __lock=..., __p=...) at /usr/include/c++/12/condition_variable:102".into(),
            format!("0x000055c856b672d5 in Crew::shift (this={this}, index={n}) at crew.cpp:59"),
        ],
    )
}

/// Running a job in `Crew::shift(this)` that waits in `inner` (innermost first).
fn busy(n: u32, this: &str, inner: &[&str]) -> String {
    let mut frames: Vec<String> = inner.iter().map(|f| f.to_string()).collect();
    frames.extend([
        "0x000055c856b665db in operator() (__closure=0x7f19e001cda0) at crew.cpp:88".into(),
        "0x000055c856b67b3c in std::function<void ()>::operator()() const (this=0x7f19e001cda0) at /usr/include/c++/12/bits/std_function.h:591".into(),
        format!("0x000055c856b67363 in Crew::shift (this={this}, index={n}) at crew.cpp:65"),
    ]);
    thread(n, &frames)
}

/// Joining thread LWP `tid`, from `Crew::disband`.
fn joining(tid: u32) -> Vec<String> {
    vec![
        format!("__futex_abstimed_wait_common64 (private=128, cancel=true, abstime=0x0, op=265, expected={tid}, futex_word=0x7f19df81c990) at ./nptl/futex-internal.c:57"),
        "0x00007f19e00a8ce3 in __pthread_clockjoin_ex (threadid=139749100734144, thread_return=0x0, clockid=0, abstime=0x0, block=<optimized out>) at ./nptl/pthread_join_common.c:102".into(),
        "0x00007f19e02d4517 in std::thread::join() () from /lib/x86_64-linux-gnu/libstdc++.so.6".into(),
        "0x000055c856b671be in Crew::disband (this=0x7ffe00) at crew.cpp:49".into(),
    ]
}

const FUTURE: &[&str] = &[
    "__futex_abstimed_wait_common64 (private=0, cancel=true, abstime=0x0, op=393, expected=0, futex_word=0x5560) at ./nptl/futex-internal.c:57",
    "0x000055c856b60001 in std::__future_base::_State_baseV2::wait (this=0x5560) at /usr/include/c++/12/future:337",
    "0x000055c856b60002 in std::__basic_future<int>::_M_get_result (this=0x7f00) at /usr/include/c++/12/future:720",
    "0x000055c856b60003 in std::future<int>::get (this=0x7f00) at /usr/include/c++/12/future:800",
];

#[test]
fn threads_sharing_a_loop_are_one_pool_of_idle_and_busy_members() {
    let a = analysis(
        &[
            busy(1, "0x7ffe00", FUTURE),
            idle(2, "0x7ffe00"),
            idle(3, "0x7ffe00"),
        ]
        .concat(),
    );
    assert_eq!(a.pools.len(), 1, "{:?}", a.pools);
    let p = &a.pools[0];
    assert_eq!(
        (p.name.as_str(), p.instance, p.grade),
        ("Crew::shift", Some(0x7ffe00), Grade::Symbolic)
    );
    let states: Vec<MemberState> = p.members.iter().map(|m| m.state).collect();
    assert_eq!(
        states,
        [MemberState::Busy, MemberState::Idle, MemberState::Idle]
    );
    assert!(a
        .findings
        .iter()
        .all(|f| f.kind != FindingKind::PoolStarvation));
}

#[test]
fn a_lone_thread_or_threads_sharing_only_the_thread_start_are_no_pool() {
    assert!(analysis(&idle(1, "0x7ffe00")).pools.is_empty());
    let other = |n: u32, f: &str| {
        format!("Thread {n} (Thread 0x7f0{n} (LWP {}) \"o\"):\n#0  0x00007f19e00a65d8 in nanosleep () from /lib/x86_64-linux-gnu/libc.so.6\n#1  0x0000556 in {f} (arg=0x0) at o.c:3\n#2  0x00007f19e00a71f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442\n#3  0x00007f19e01278ec in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81\n\n", 200 + n)
    };
    assert!(
        analysis(&[other(1, "reader_main"), other(2, "writer_main")].concat())
            .pools
            .is_empty()
    );
}

#[test]
fn different_instances_are_different_pools() {
    let a = analysis(
        &[
            idle(1, "0x7ffe00"),
            idle(2, "0x7ffe00"),
            idle(3, "0x8ffe00"),
            idle(4, "0x8ffe00"),
        ]
        .concat(),
    );
    let instances: Vec<Option<u64>> = a.pools.iter().map(|p| p.instance).collect();
    assert_eq!(instances, [Some(0x7ffe00), Some(0x8ffe00)]);
    assert!(a.pools.iter().all(|p| p.members.len() == 2));
}

#[test]
fn every_member_busy_on_a_future_is_starvation_and_one_idle_member_is_not() {
    let starving = analysis(&[busy(1, "0x7ffe00", FUTURE), busy(2, "0x7ffe00", FUTURE)].concat());
    let f = (starving.findings.iter())
        .find(|f| f.kind == FindingKind::PoolStarvation)
        .unwrap_or_else(|| panic!("{:?}", starving.findings));
    assert_eq!(
        (f.threads.clone(), f.confidence),
        (vec![0, 1], Grade::Symbolic)
    );
    let spare = analysis(
        &[
            busy(1, "0x7ffe00", FUTURE),
            busy(2, "0x7ffe00", FUTURE),
            idle(3, "0x7ffe00"),
        ]
        .concat(),
    );
    assert!(
        spare
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::PoolStarvation),
        "{:?}",
        spare.findings
    );
}

/// A task's own wait on a condition variable (its `std::condition_variable::wait`).
const CONDVAR: &[&str] = &[
    "0x00007f19e00a65d8 in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x7ffa00, cond=0x7ffa28) at ./nptl/pthread_cond_wait.c:503",
    "___pthread_cond_wait (cond=0x7ffa28, mutex=0x7ffa00) at ./nptl/pthread_cond_wait.c:618",
    "0x000055c856b60004 in std::condition_variable::wait(std::unique_lock<std::mutex>&) (this=0x7ffa28, __lock=...) at /usr/include/c++/12/condition_variable:98",
    "0x000055c856b60005 in await_ready (n=1) at crew.cpp:80",
];

#[test]
fn every_member_busy_on_a_condition_no_other_thread_can_signal_is_starvation() {
    let members = [busy(1, "0x7ffe00", CONDVAR), busy(2, "0x7ffe00", CONDVAR)].concat();
    let starving = analysis(&members);
    assert!(
        (starving.findings.iter()).any(|f| f.kind == FindingKind::PoolStarvation),
        "{:?}",
        starving.findings
    );
    // A thread outside the pool still runs: it may yet signal the condition.
    let outside = "Thread 9 (Thread 0x7f0000009 (LWP 109) \"ticker\"):\n#0  0x000055c856b60006 in tick (n=9) at ticker.cpp:12\n#1  0x00007f19e00a71f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442\n\n";
    let signalled = analysis(&[members.as_str(), outside].concat());
    assert!(
        (signalled.findings.iter()).all(|f| f.kind != FindingKind::PoolStarvation),
        "{:?}",
        signalled.findings
    );
}

#[test]
fn a_member_joining_a_member_idle_in_its_pool_is_a_self_join() {
    let frames = joining(102);
    let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
    let a = analysis(
        &[
            busy(1, "0x7ffe00", &frames),
            idle(2, "0x7ffe00"),
            idle(3, "0x7ffe00"),
        ]
        .concat(),
    );
    let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::SelfJoin], "{:?}", a.findings);
    assert_eq!(a.findings[0].threads, [0, 1]);
}

#[test]
fn a_signal_handler_on_a_member_joining_an_idle_member_is_a_self_join_through_it() {
    let mut frames = joining(102);
    frames.extend([
        "0x000055c856b66000 in on_term (sig=15) at crew.cpp:90".to_string(),
        "<signal handler called>".into(),
        "0x00007f19e0110000 in read () from /lib/x86_64-linux-gnu/libc.so.6".into(),
    ]);
    let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
    let a = analysis(&[busy(1, "0x7ffe00", &frames), idle(2, "0x7ffe00")].concat());
    let joins: Vec<_> = (a.findings.iter())
        .filter(|f| f.kind == FindingKind::SelfJoin)
        .collect();
    assert_eq!(joins.len(), 1, "{:?}", a.findings);
    assert!(
        matches!(
            joins[0].detail,
            crate::analyze::Detail::PoolSelfJoin {
                through_signal: true,
                ..
            }
        ),
        "{:?}",
        joins[0]
    );
}

#[test]
fn a_name_stem_drops_the_workers_last_number() {
    use super::name_stem;
    assert_eq!(name_stem("pool-1-thread-2"), ("pool-1-thread-", ""));
    assert_eq!(name_stem("pool-12-thread-10"), ("pool-12-thread-", ""));
    assert_eq!(
        name_stem("ThreadPoolExecutor-0_1"),
        ("ThreadPoolExecutor-0_", "")
    );
    assert_eq!(name_stem("Thread-3 (worker)"), ("Thread-", " (worker)"));
    assert_eq!(name_stem("tokio-rt-worker"), ("tokio-rt-worker", ""));
    assert_eq!(name_stem("7"), ("", ""));
}

/// A `jstack -l` thread of a ThreadPoolExecutor called `name`: idle in `getTask`, or busy
/// in `FutureTask.get`.
fn java_worker(name: &str, nid: u32, idle: bool) -> String {
    let top = if idle {
        "\tat java.util.concurrent.LinkedBlockingQueue.take(LinkedBlockingQueue.java:435)\n\tat java.util.concurrent.ThreadPoolExecutor.getTask(ThreadPoolExecutor.java:1070)\n"
    } else {
        "\tat java.util.concurrent.FutureTask.get(FutureTask.java:190)\n\tat Report.summarize(Report.java:30)\n\tat java.util.concurrent.FutureTask.run(FutureTask.java:317)\n"
    };
    format!(
        "\"{name}\" #{nid} prio=5 os_prio=0 cpu=1.00ms elapsed=3.00s tid=0x00007f00000{nid:04x} nid=0x{nid:x} waiting on condition  [0x00007f0000000000]\n   java.lang.Thread.State: WAITING (parking)\n\tat jdk.internal.misc.Unsafe.park(java.base@17.0.9/Native Method)\n\tat java.util.concurrent.locks.LockSupport.park(java.base@17.0.9/LockSupport.java:341)\n{top}\tat java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)\n\tat java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:635)\n\tat java.lang.Thread.run(java.base@17.0.9/Thread.java:840)\n\n"
    )
}

#[test]
fn executors_of_one_class_told_apart_by_their_workers_names_are_different_pools() {
    let dump = format!(
        "Full thread dump OpenJDK 64-Bit Server VM (17.0.9+9 mixed mode):\n\n{}{}{}",
        java_worker("pool-1-thread-1", 101, false),
        java_worker("pool-2-thread-1", 102, true),
        java_worker("pool-2-thread-2", 103, true),
    );
    let snap = parse_dump(dump.as_bytes(), "t", Some("jstack")).unwrap();
    let a = analyze(&snap, &KnowledgeBase::builtin());
    let mut sizes: Vec<usize> = a.pools.iter().map(|p| p.members.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2], "{:?}", a.pools);
    // The busy executor starves alone: the idle workers are another executor's.
    let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::PoolStarvation], "{:?}", a.findings);
    assert_eq!(a.findings[0].threads, [0]);
}

#[test]
fn a_scheduler_thread_and_the_goroutine_it_runs_are_one_execution_not_a_pool() {
    // A live Go capture shows a running goroutine twice: as its OS thread and as the
    // goroutine that took the thread's frames. Two stacks alike are then one worker.
    let dump = [busy(1, "0x7ffe00", FUTURE), busy(2, "0x7ffe00", FUTURE)].concat();
    let mut snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    snap.threads[1].id_kind = crate::model::IdKind::Goroutine;
    let a = analyze(&snap, &KnowledgeBase::builtin());
    assert!(a.pools.is_empty(), "{:?}", a.pools);
    assert!(
        (a.findings.iter()).all(|f| f.kind != FindingKind::PoolStarvation),
        "{:?}",
        a.findings
    );
}
