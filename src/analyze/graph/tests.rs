//! The wait-for graph on small dumps: holders a runtime's report names, and holders inferred
//! from where a lock is taken (never a thread only on its way to its own wait, nor through a
//! frame most threads share).

use super::claimed_holder;
use crate::analyze::{analyze, Analysis};
use crate::dump::parse_dump;
use crate::knowledge::KnowledgeBase;

#[test]
fn a_reported_deadlock_names_the_holder_only_when_its_members_fix_it() {
    let said = super::Held::Report {
        text: "Deadlock #0".into(),
        line: None,
    };
    let report = |members: Vec<usize>| vec![(members, said.clone())];
    let holder = |members: Vec<usize>, t: usize| -> Vec<usize> {
        claimed_holder(&report(members), t)
            .into_iter()
            .map(|(h, _, _)| h)
            .collect()
    };
    assert_eq!(holder(vec![3], 3), vec![3]);
    assert_eq!(holder(vec![1, 4], 4), vec![1]);
    assert_eq!(holder(vec![1, 4], 1), vec![4]);
    // Three or more: the report's order is not the cycle's, so no holder is named.
    assert!(holder(vec![1, 2, 3], 2).is_empty());
    assert!(holder(vec![1, 4], 2).is_empty());
}

/// The edges of a gdb dump, as (from, to) thread indexes.
fn edges(dump: &str) -> Vec<(usize, usize)> {
    let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    let a: Analysis = analyze(&snap, &KnowledgeBase::builtin());
    a.graph.edges.iter().map(|e| (e.from, e.to)).collect()
}

/// A thread waiting in `take(N)` for mutex `0x500N`, called from `CALLER`.
fn waiter(n: u32, caller: &str) -> String {
    format!(
        "Thread {n} (Thread 0x7f0{n} (LWP 10{n})):
#0  ___pthread_mutex_lock (mutex=0x500{n}) at pthread_mutex_lock.c:93
#1  0x1 in {caller}
#2  0x2 in start_thread (arg=0x0) at pthread_create.c:442
#3  0x3 in clone3 () at clone3.S:81

"
    )
}

/// A thread asleep below `ENTRY`.
fn sleeper(n: u32, entry: &str) -> String {
    format!(
        "Thread {n} (Thread 0x7f0{n} (LWP 10{n})):
#0  0x4 in __GI___clock_nanosleep (clock_id=0, flags=0, req=0x1, rem=0x0) at clock_nanosleep.c:48
#1  0x5 in __GI___nanosleep (req=0x1, rem=0x0) at nanosleep.c:25
#2  0x6 in {entry}
#3  0x7 in start_thread (arg=0x0) at pthread_create.c:442
#4  0x8 in clone3 () at clone3.S:81

"
    )
}

#[test]
fn a_thread_further_on_in_the_function_that_takes_the_lock_may_hold_it() {
    let dump = format!(
        "{}{}",
        waiter(1, "update (id=1) at s.c:10"),
        sleeper(2, "update (id=2) at s.c:14")
    );
    assert_eq!(edges(&dump), [(0, 1)]);
}

#[test]
fn threads_blocked_in_the_same_lock_call_do_not_hold_each_others_locks() {
    let dump = format!(
        "{}{}{}",
        waiter(1, "update (id=1) at s.c:10"),
        waiter(2, "update (id=2) at s.c:10"),
        sleeper(3, "compact () at s.c:30")
    );
    assert_eq!(edges(&dump), []);
}

#[test]
fn a_stripped_caller_leaves_the_site_unknown() {
    // The first named caller is start_thread, which every thread but main runs.
    let dump = format!(
        "{}{}{}",
        waiter(1, "?? ()"),
        waiter(2, "?? ()"),
        sleeper(3, "?? ()")
    );
    let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    assert!(snap.threads[0].frames[1].function.is_none());
    let a = analyze(&snap, &KnowledgeBase::builtin());
    assert!(a.facts[0].waits[0].kind.is_lock() && a.facts[1].waits[0].kind.is_lock());
    assert_eq!(edges(&dump), []);
}

#[test]
fn the_callers_caller_counts_only_when_most_threads_do_not_run_it() {
    // The lock is taken in each thread's entry function: its caller, start_thread, is in
    // every thread, and the sleeper being inside it shows nothing.
    let dump = format!(
        "{}{}{}",
        waiter(1, "worker_main (arg=0x1) at s.c:10"),
        waiter(2, "worker_main (arg=0x2) at s.c:10"),
        sleeper(3, "janitor_main (arg=0x0) at s.c:30")
    );
    assert_eq!(edges(&dump), []);
}

/// Two threads; thread 1 waits for `lock_b`; gdb printed a mutex's owner (LWP 8) after `FRAME`.
fn printed_owner_after(frame: &str) -> Vec<(usize, usize, super::Grade, super::Because)> {
    let dump = format!(
        "Thread 2 (Thread 0x7f08 (LWP 8)):
#0  0x1 in compute () at c.c:10
Thread 1 (Thread 0x7f07 (LWP 7)):
#0  ___pthread_mutex_lock (mutex=0x5555 <lock_b>) at m.c:93
#1  0x2 in work (m=0x5555 <lock_b>, n=3) at w.c:20
{frame}
$1 = {{__data = {{__lock = 2, __count = 0, __owner = 8, __nusers = 1}}}}
"
    );
    let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    let a = analyze(&snap, &KnowledgeBase::builtin());
    a.graph
        .edges
        .iter()
        .map(|e| (e.from, e.to, e.grade, e.because.clone()))
        .collect()
}

#[test]
fn an_owner_printed_after_a_frame_naming_the_lock_is_proven() {
    let proven = (
        1,
        0,
        super::Grade::Proven,
        super::Because::Holds {
            frame: None,
            by: super::Held::Printed {
                field: "__owner".into(),
                line: 7,
            },
        },
    );
    // After `frame 1` (the lock in argument `m`) and after the primitive itself.
    assert_eq!(
        printed_owner_after("#1  0x2 in work (m=0x5555 <lock_b>, n=3) at w.c:20"),
        vec![proven.clone()]
    );
    // (A `#0` line starts another, unnamed, thread, blocked the same way.)
    let edges = printed_owner_after("#0  ___pthread_mutex_lock (mutex=0x5555 <lock_b>) at m.c:93");
    assert!(edges.contains(&proven), "{edges:?}");
    // After a frame whose arguments name no lock: not guessed.
    assert!(printed_owner_after("#2  0x3 in main (argc=1) at m.c:5")
        .iter()
        .all(|e| e.2 != super::Grade::Proven));
}

#[test]
fn a_pools_join_waits_for_the_thread_it_joins_when_no_member_of_the_pool_is_known() {
    let dump = format!(
        "Thread 1 (Thread 0x7f01 (LWP 101)):
#0  0x1 in __pthread_clockjoin_ex (threadid=0x7f02, thread_return=0x0, clockid=0, abstime=0x0, block=true) at pthread_join_common.c:102
#1  0x2 in std::thread::join() () from /lib/x86_64-linux-gnu/libstdc++.so.6
#2  0x3 in WorkerPool::join (this=0x6000) at pool.cpp:30
#3  0x4 in main () at pool.cpp:80

{}",
        sleeper(2, "WorkerPool::WorkerPool(int)::{lambda()#1}::operator()() const (__closure=0x1) at pool.cpp:12")
    );
    assert_eq!(edges(&dump), vec![(0, 1)]);
}

/// A gdb thread `n` whose innermost frames are `top`, on a std thread's start.
fn rust_thread(n: u32, top: &[&str]) -> String {
    let mut s = format!("Thread {n} (Thread 0x7f00{n} (LWP {}) \"app\"):\n", 100 + n);
    let start = [
        "0x7f000000000a1f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442",
    ];
    for (i, f) in top.iter().chain(&start).enumerate() {
        s.push_str(&format!("#{i}  {f}\n"));
    }
    s + "\n"
}

/// A thread parked in a crossbeam receive, inside closure `closure`.
fn receiving(n: u32, closure: &str) -> String {
    rust_thread(
        n,
        &[
            "syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38",
            "0x5500000000000001 in std::sys::pal::unix::futex::futex_wait () at library/std/src/sys/pal/unix/futex.rs:73",
            "std::thread::functions::park () at library/std/src/thread/functions.rs:529",
            "0x5500000000000002 in crossbeam_channel::channel::Receiver<u64>::recv<u64> (self=0x7f20) at src/channel.rs:821",
            &format!("0x5500000000000003 in {closure} () at src/main.rs:22"),
        ],
    )
}

#[test]
fn a_scopes_owner_joins_the_threads_of_its_closure_and_they_wait_for_it_when_all_wait() {
    let owner = rust_thread(
        1,
        &[
            "syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38",
            "0x5500000000000001 in std::sys::pal::unix::futex::futex_wait () at library/std/src/sys/pal/unix/futex.rs:73",
            "std::thread::functions::park () at library/std/src/thread/functions.rs:529",
            "0x5500000000000004 in std::thread::scoped::scope<app::publish::{closure_env#1}, ()> (f=...) at library/std/src/thread/scoped.rs:163",
            "0x5500000000000005 in app::publish () at src/main.rs:19",
        ],
    );
    let dump = [
        owner,
        receiving(2, "app::publish::{closure#1}::{closure#0}"),
        // Spawned by `publish` outside the scope (another of its closures): not the scope's.
        receiving(3, "app::publish::{closure#0}"),
    ]
    .concat();
    let mut e = edges(&dump);
    e.sort_unstable();
    assert_eq!(e, [(0, 1), (1, 0)]);
}
