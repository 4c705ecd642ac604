//! Classification on small stacks: what a thread waits for, holds and belongs to.

use super::*;
use crate::dump::gdb::parse_frame_text;

fn thread(frames: &[&str]) -> Thread {
    Thread {
        frames: frames
            .iter()
            .enumerate()
            .map(|(i, f)| parse_frame_text(Some(i as u32), f).expect("frame"))
            .collect(),
        ..Thread::default()
    }
}

fn facts(frames: &[&str]) -> Facts {
    classify(&thread(frames), &KnowledgeBase::builtin())
}

#[test]
fn a_mutex_wait_takes_the_address_of_the_most_specific_frame() {
    let f = facts(&[
        "futex_wait (private=0, expected=2, futex_word=0x5000 <cache_lock>) at futex-internal.h:146",
        "__GI___lll_lock_wait (futex=futex@entry=0x5000 <cache_lock>, private=0) at lowlevellock.c:49",
        "0x1 in lll_mutex_lock_optimized (mutex=0x5000 <cache_lock>) at pthread_mutex_lock.c:48",
        "___pthread_mutex_lock (mutex=0x5000 <cache_lock>) at pthread_mutex_lock.c:93",
        "0x2 in cache_lookup (key=0x1) at c.c:81",
    ]);
    assert_eq!(f.activity, Activity::Blocked);
    assert_eq!(f.waits.len(), 1);
    let w = &f.waits[0];
    assert_eq!(
        (w.kind, w.address, w.symbol.as_deref()),
        (WaitKind::Mutex, Some(0x5000), Some("cache_lock"))
    );
    assert_eq!((w.first, w.frame, w.site.clone()), (0, 3, vec![4]));
}

#[test]
fn a_join_names_its_target_by_tid_and_pthread() {
    let f = facts(&[
        "__futex_abstimed_wait_common64 (private=128, cancel=true, abstime=0x0, op=265, expected=8623, futex_word=0x7f10) at futex-internal.c:57",
        "0x1 in __pthread_clockjoin_ex (threadid=139830807770816, thread_return=0x0, clockid=0, abstime=0x0, block=true) at pthread_join_common.c:102",
        "0x2 in main () at m.c:141",
    ]);
    let w = &f.waits[0];
    assert_eq!(w.kind, WaitKind::Join);
    assert_eq!(
        (w.target_tid, w.target_pthread),
        (Some(8623), Some(139830807770816))
    );
}

#[test]
fn a_condvar_wait_releases_its_mutex_even_if_a_guard_local_still_owns_it() {
    let mut t = thread(&[
        "0x1 in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x7000, cond=0x7100) at c.c:503",
        "0x2 in std::condition_variable::wait(std::unique_lock<std::mutex>&) () from libstdc++.so.6",
        "0x3 in Queue::pop (this=0x6000) at q.cpp:20",
    ]);
    t.frames[2].locals.push(crate::model::Var::new(
        "lk".into(),
        "{_M_device = 0x7000, _M_owns = true}".into(),
    ));
    let f = classify(&t, &KnowledgeBase::builtin());
    assert_eq!(f.waits[0].kind, WaitKind::Condvar);
    assert!(f.holds.is_empty(), "{:?}", f.holds);
}

#[test]
fn an_idle_pool_worker_is_idle_and_a_blocked_one_is_not() {
    let idle = facts(&[
        "0x1 in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x7000, cond=0x7100) at c.c:503",
        "0x2 in std::condition_variable::wait(std::unique_lock<std::mutex>&) () from libstdc++.so.6",
        "0x3 in TaskPool::worker_loop (this=0x6000) at pool.cpp:40",
    ]);
    assert_eq!(idle.activity, Activity::Idle);
    assert_eq!(
        idle.members[0].pool,
        PoolRef {
            class: "TaskPool".into(),
            instance: Some(0x6000)
        }
    );
    let busy = facts(&[
        "0x1 in __lll_lock_wait () from libc.so.6",
        "0x2 in pthread_mutex_lock (mutex=0x9000) from libc.so.6",
        "0x3 in Ledger::post (this=0x1) at l.cpp:4",
        "0x4 in TaskPool::worker_loop (this=0x6000) at pool.cpp:40",
    ]);
    assert_eq!(busy.activity, Activity::Blocked);
}

#[test]
fn a_pools_join_under_a_thread_join_is_one_wait_for_the_pool() {
    let f = facts(&[
        "0x1 in __pthread_clockjoin_ex (threadid=140000, thread_return=0x0, clockid=0, abstime=0x0, block=<optimized out>) at pthread_join_common.c:102",
        "0x2 in boost::asio::detail::posix_thread::join (this=0x5180) at posix_thread.ipp:42",
        "0x3 in boost::asio::detail::thread_group::join (this=0x37c8) at thread_group.hpp:61",
        "0x4 in boost::asio::thread_pool::join (this=0x37b8) at thread_pool.ipp:121",
        "0x5 in ReportQueue::finish (this=0x37b0) at q.cpp:39",
        "0x6 in boost::asio::detail::scheduler::run (this=0x4f00, ec=...) at scheduler.ipp:204",
    ]);
    assert_eq!(f.waits.len(), 1);
    let w = &f.waits[0];
    assert_eq!((w.kind, w.first, w.frame), (WaitKind::PoolDrain, 0, 3));
    assert_eq!(w.pool.as_ref().unwrap().class, "Boost.Asio scheduler");
    assert_eq!(f.members[0].frame, 5);
    assert_eq!(f.activity, Activity::Blocked);
}

#[test]
fn a_thread_the_library_names_for_its_pool_is_a_member_where_its_task_is_called() {
    let named = |name: &str, frames: &[&str]| {
        let t = Thread {
            name: Some(name.into()),
            ..thread(frames)
        };
        classify(&t, &KnowledgeBase::builtin())
    };
    let worker = [
        "0x1 in syscall () from /lib/x86_64-linux-gnu/libc.so.6",
        "0x2 in g_cond_wait () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
        "0x3 in g_thread_pool_free () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
        "0x4 in close_batch () at pool.c:28",
        "0x5 in run_task (data=0x63, user_data=0x0) at pool.c:39",
        "0x6 in ?? () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
        "0x7 in ?? () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
        "0x8 in start_thread (arg=<optimized out>) at pthread_create.c:442",
    ];
    let f = named("pool", &worker);
    assert_eq!(f.members.len(), 1);
    assert_eq!(
        (f.members[0].pool.class.as_str(), f.members[0].frame),
        ("GLib GThreadPool", 5)
    );
    assert_eq!(f.waits.last().unwrap().kind, WaitKind::PoolDrain);
    assert!(named("pool-spawner", &worker).members.is_empty());
    assert!(named("ledger", &worker).members.is_empty());
    // Idle: its queue's pop under the queue's condition variable is one wait, for work.
    let idle = named(
        "pool-myapp",
        &[
            "0x1 in syscall () from /lib/x86_64-linux-gnu/libc.so.6",
            "0x2 in g_cond_wait () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
            "0x3 in ?? () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
            "0x4 in g_async_queue_pop_unlocked () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
            "0x5 in ?? () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
            "0x6 in ?? () from /lib/x86_64-linux-gnu/libglib-2.0.so.0",
            "0x7 in start_thread (arg=<optimized out>) at pthread_create.c:442",
        ],
    );
    assert_eq!(idle.waits.len(), 1);
    assert_eq!(idle.waits[0].kind, WaitKind::Channel);
    assert_eq!(idle.activity, Activity::Idle);
}

#[test]
fn an_event_loops_poll_under_an_idle_rule_is_idle_not_io() {
    let f = facts(&[
        "0x1 in epoll_wait (epfd=5, events=0x1, maxevents=128, timeout=-1) at epoll_wait.c:30",
        "0x2 in boost::asio::detail::epoll_reactor::run (this=0x1, usec=-1, ops=...) at epoll_reactor.ipp:471",
        "0x3 in boost::asio::detail::scheduler::do_run_one (this=0x2, lock=..., this_thread=..., ec=...) at scheduler.ipp:465",
        "0x4 in boost::asio::detail::scheduler::run (this=0x2, ec=...) at scheduler.ipp:204",
    ]);
    assert_eq!(f.activity, Activity::Idle);
    let plain = facts(&[
        "0x1 in epoll_wait (epfd=5, events=0x1, maxevents=128, timeout=-1) at epoll_wait.c:30",
        "0x2 in serve (fd=5) at s.c:10",
    ]);
    assert_eq!(plain.activity, Activity::External);
}

#[test]
fn the_handler_part_inherits_pool_membership_from_the_interrupted_part() {
    let f = facts(&[
        "0x1 in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x7000, cond=0x7100) at c.c:503",
        "0x2 in WorkerPool::join (this=0x6000) at pool.cpp:92",
        "0x3 in on_sigterm (sig=15) at main.cpp:10",
        "<signal handler called>",
        "0x4 in read () from libc.so.6",
        "0x5 in WorkerPool::worker_loop (this=0x6000) at pool.cpp:111",
    ]);
    assert!(f.in_handler());
    assert_eq!(f.signal_frame(), Some(3));
    assert_eq!(
        f.waits.iter().map(|w| w.kind).collect::<Vec<_>>(),
        vec![WaitKind::Condvar, WaitKind::PoolDrain]
    );
    assert_eq!(f.members.len(), 1);
    assert_eq!(f.members[0].frame, 5);
}

#[test]
fn running_sleeping_and_unreadable_threads() {
    assert_eq!(
        facts(&["0x1 in compute (n=3) at c.c:1"]).activity,
        Activity::Running
    );
    assert_eq!(
        facts(&[
            "0x1 in __GI___clock_nanosleep () from libc.so.6",
            "0x2 in main () at m.c:1"
        ])
        .activity,
        Activity::External
    );
    assert_eq!(
        facts(&["0x0000000070000002 in syscall_traced ()"]).activity,
        Activity::Unknown
    );
    // Running inside malloc is not waiting for its lock.
    assert_eq!(
        facts(&["0x1 in malloc () from libc.so.6", "0x2 in main () at m.c:1"]).activity,
        Activity::Running
    );
}

/// A pack in the shape a managed runtime's would take: notes state waits and holds, a status
/// states a wait the frames do not show.
fn runtime_kb() -> KnowledgeBase {
    let pack = r#"
[[rule]]
id = "t.monitor-wait"
summary = "waiting to enter a monitor"
meaning = "wait"
kind = "mutex"
note = '^waiting to lock <(?P<addr>0x[0-9a-f]+)>'
examples = ["waiting to lock <0x10>"]
counterexamples = ["locked <0x10>"]

[[rule]]
id = "t.object-wait"
summary = "waiting on a monitor, which it gives up while waiting"
meaning = "wait"
kind = "condvar"
note = '^waiting on <(?P<addr>(?P<releases>0x[0-9a-f]+))>'
examples = ["waiting on <0x10>"]
counterexamples = ["locked <0x10>"]

[[rule]]
id = "t.monitor-held"
summary = "holds a monitor"
meaning = "hold"
kind = "mutex"
note = '^locked <(?P<addr>0x[0-9a-f]+)>'
examples = ["locked <0x10>"]
counterexamples = ["waiting to lock <0x10>"]

[[rule]]
id = "t.worker-loop"
summary = "a worker loop"
meaning = "idle"
context = true
function = '^Pool\.loop$'
examples = ["Pool.loop"]
counterexamples = ["Pool.submit"]

[[rule]]
id = "t.chan"
summary = "a goroutine waiting on a channel"
meaning = "wait"
kind = "channel"
status = '^chan (send|receive)$'
examples = ["chan receive"]
counterexamples = ["running"]
"#;
    KnowledgeBase::load(&[("t.toml".into(), pack.into())]).unwrap()
}

fn noted(function: &str, notes: &[&str]) -> Frame {
    Frame {
        function: Some(function.into()),
        notes: notes.iter().map(|n| n.to_string()).collect(),
        ..Frame::default()
    }
}

#[test]
fn notes_state_waits_and_holds_with_their_addresses() {
    let t = Thread {
        frames: vec![
            noted("Acct.transfer", &["waiting to lock <0x20>"]),
            noted("Acct.run", &["locked <0x10>"]),
        ],
        notes: vec!["locked <0x30>".into()],
        ..Thread::default()
    };
    let f = classify(&t, &runtime_kb());
    assert_eq!(f.activity, Activity::Blocked);
    assert_eq!(
        (f.waits[0].kind, f.waits[0].address),
        (WaitKind::Mutex, Some(0x20))
    );
    let held: Vec<(LockId, usize)> = f.holds.iter().map(|h| (h.lock.clone(), h.frame)).collect();
    assert_eq!(held, vec![(LockId::Addr(0x10), 1), (LockId::Addr(0x30), 1)]);
}

#[test]
fn an_object_wait_gives_up_the_monitor_it_waits_on() {
    let t = Thread {
        frames: vec![
            noted("java.lang.Object.wait", &["waiting on <0x10>"]),
            noted("Queue.take", &["locked <0x10>"]),
        ],
        ..Thread::default()
    };
    let f = classify(&t, &runtime_kb());
    assert_eq!(f.waits[0].kind, WaitKind::Condvar);
    assert!(f.holds.is_empty(), "{:?}", f.holds);
}

#[test]
fn a_status_states_a_wait_the_frames_do_not_show() {
    let mut t = Thread {
        frames: vec![noted("main.main", &[])],
        status: Some("chan receive".into()),
        ..Thread::default()
    };
    let f = classify(&t, &runtime_kb());
    assert_eq!(f.activity, Activity::Blocked);
    assert_eq!((f.waits[0].kind, f.waits[0].frame), (WaitKind::Channel, 0));
    t.status = Some("running".into());
    assert_eq!(classify(&t, &runtime_kb()).activity, Activity::Running);
}

#[test]
fn a_stated_wait_in_a_known_worker_loop_is_idle() {
    let mut t = Thread {
        frames: vec![noted("Pool.next", &[]), noted("Pool.loop", &[])],
        status: Some("chan receive".into()),
        ..Thread::default()
    };
    assert_eq!(classify(&t, &runtime_kb()).activity, Activity::Idle);
    t.frames[1].function = Some("Pool.submit".into());
    assert_eq!(classify(&t, &runtime_kb()).activity, Activity::Blocked);
}

#[test]
fn a_status_can_state_a_lock_the_thread_holds() {
    let kb = KnowledgeBase::builtin();
    let with = |status: &str, frames: &[&str]| {
        let mut t = thread(frames);
        t.status = Some(status.to_string());
        classify(&t, &kb).holds
    };
    let holds = with(
        "active+gil",
        &["0x1 in crunch (n=3) at c.c:1", "0x2 in main () at c.c:9"],
    );
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].lock, LockId::Named("the GIL".to_string()));
    assert_eq!(holds[0].frame, 0);
    assert!(with("active", &["0x1 in crunch (n=3) at c.c:1"]).is_empty());
    // No frame to show the hold at: nothing is claimed.
    assert!(with("active+gil", &[]).is_empty());
}

#[test]
fn a_noted_wait_counts_even_where_the_function_is_not_known() {
    let t = Thread {
        frames: vec![Frame {
            notes: vec!["waiting to lock <0x20>".into()],
            ..Frame::default()
        }],
        notes: vec!["locked <0x30>".into()],
        ..Thread::default()
    };
    let f = classify(&t, &runtime_kb());
    assert_eq!(f.activity, Activity::Blocked);
    assert_eq!(
        (f.waits[0].kind, f.waits[0].address, f.top),
        (WaitKind::Mutex, Some(0x20), Some(0))
    );
    assert_eq!(f.holds[0].lock, LockId::Addr(0x30));
    // Without the note, a frame with no function says nothing.
    let bare = Thread {
        frames: vec![Frame::default()],
        ..Thread::default()
    };
    assert_eq!(classify(&bare, &runtime_kb()).activity, Activity::Unknown);
}

#[test]
fn a_guard_read_from_memory_holds_each_of_its_locks_unless_the_lock_word_is_free() {
    let mut t = thread(&["0x3 in Queue::pop (this=0x6000) at q.cpp:20"]);
    let mut guard = crate::model::Var::new("g".into(), "".into());
    // A std::scoped_lock of two mutexes: 0x7000, and 0x7100 whose word was not copied.
    guard.read = Some(Box::new(crate::model::VarRead {
        holds: Some(crate::model::GuardHold {
            lock: 0x7000,
            also: vec![0x7100],
            rule: "libstdcxx.scoped-lock-var".into(),
        }),
        ..crate::model::VarRead::default()
    }));
    t.frames[0].locals.push(guard);
    let kb = KnowledgeBase::builtin();
    let names = crate::analyze::names::Names::new(std::slice::from_ref(&t), &kb);
    let word = |w: u32| Snapshot {
        evidence: vec![crate::model::Evidence::Memory {
            address: 0x7000,
            bytes: w.to_le_bytes().to_vec(),
        }],
        ..Snapshot::default()
    };
    let locks = |f: &Facts| -> Vec<LockId> { f.holds.iter().map(|h| h.lock.clone()).collect() };
    let held = classify_named(&t, names.thread(0), &kb, &word(2));
    assert!(held.holds.iter().all(|h| h.from_memory), "{:?}", held.holds);
    assert_eq!(locks(&held), [LockId::Addr(0x7000), LockId::Addr(0x7100)]);
    let free = classify_named(&t, names.thread(0), &kb, &word(0));
    assert_eq!(locks(&free), [LockId::Addr(0x7100)], "0x7000 reads free");
}

#[test]
fn an_rwlock_writer_with_no_owner_waits_for_the_rwlock_start_whichever_word_it_sleeps_on() {
    // A glibc rwlock at 0x7000 whose readers hold it: no `__cur_writer` (offset 24) is set.
    let mut t = thread(&[
        "0x1 in __futex_abstimed_wait_common ()",
        "0x2 in pthread_rwlock_wrlock ()",
        "0x3 in compact () at c.c:57",
    ]);
    let kb = KnowledgeBase::builtin();
    let memory = Snapshot {
        evidence: vec![crate::model::Evidence::Memory {
            address: 0x7000,
            bytes: vec![0; 56],
        }],
        ..Snapshot::default()
    };
    // The first writer waits for the readers on __wrphase_futex (+8) with FUTEX_USED; a second
    // one for the first on __writers_futex (+12) with 1|FUTEX_USED.
    for (word, value) in [(0x7008, 2), (0x700c, 3)] {
        t.kernel.get_or_insert_with(Default::default).futex = Some(crate::model::FutexWait {
            address: word,
            op: 9,
            value,
        });
        let names = crate::analyze::names::Names::new(std::slice::from_ref(&t), &kb);
        let f = classify_named(&t, names.thread(0), &kb, &memory);
        assert_eq!(
            (f.waits[0].kind, f.waits[0].address),
            (WaitKind::RwlockWrite, Some(0x7000)),
            "futex word 0x{word:x}"
        );
    }
}

#[test]
fn a_lock_whose_waiters_sleep_apart_is_never_the_futex_word() {
    // An absl::Mutex waiter sleeps on its own semaphore: with the mutex's argument unread,
    // the wait's lock is unknown, not the semaphore's word.
    let kb = KnowledgeBase::builtin();
    let mut t = thread(&[
        "0x1 in syscall ()",
        "0x2 in AbslInternalPerThreadSemWait_debian3 ()",
        "0x3 in absl::debian3::Mutex::Lock() ()",
        "0x4 in route () at a.cpp:33",
    ]);
    t.kernel.get_or_insert_with(Default::default).futex = Some(crate::model::FutexWait {
        address: 0x7f00_0000_1000,
        op: 0,
        value: 0,
    });
    let names = crate::analyze::names::Names::new(std::slice::from_ref(&t), &kb);
    let f = classify_named(&t, names.thread(0), &kb, &Snapshot::default());
    assert_eq!(
        (f.waits[0].kind, f.waits[0].address),
        (WaitKind::Mutex, None)
    );
    // A glibc mutex's waiters sleep on the mutex: its futex word is the lock.
    let mut glibc = thread(&["0x1 in __lll_lock_wait ()", "0x2 in pthread_mutex_lock ()"]);
    glibc.kernel = t.kernel.clone();
    let names = crate::analyze::names::Names::new(std::slice::from_ref(&glibc), &kb);
    let f = classify_named(&glibc, names.thread(0), &kb, &Snapshot::default());
    assert_eq!(f.waits[0].address, Some(0x7f00_0000_1000));
}

#[test]
fn a_refining_frame_names_the_wait_its_primitive_is_built_on() {
    // HotSpot parks a thread entering a monitor on its own event's condition variable: a
    // monitor (lock) wait, which releases no mutex and is not on the condvar's address.
    let f = facts(&[
        "0x1 in __futex_abstimed_wait_common (futex_word=0x7100, expected=0, clockid=0, abstime=0x0, private=0, cancel=true) at futex-internal.c:57",
        "0x2 in ___pthread_cond_wait (cond=0x7100, mutex=0x7000) at pthread_cond_wait.c:618",
        "0x3 in os::PlatformEvent::park() () from libjvm.so",
        "0x4 in ObjectMonitor::EnterI(JavaThread*) () from libjvm.so",
        "0x5 in ObjectMonitor::enter(JavaThread*) () from libjvm.so",
        "0x6 in InterpreterRuntime::monitorenter(JavaThread*, BasicObjectLock*) () from libjvm.so",
        "0x7 in ?? ()",
    ]);
    assert_eq!(f.waits.len(), 1);
    let w = &f.waits[0];
    assert_eq!(
        (w.kind, w.rule.as_str(), w.address, w.releases),
        (WaitKind::Mutex, "java.hotspot-monitor-enter", None, None)
    );
    assert_eq!((w.first, w.frame), (0, 5));
    // CPython's lock acquire sleeps on a semaphore: a Python lock wait, which the Python
    // frames below (py-spy --native) name better still when they show a join.
    let lock = [
        "0x1 in __new_sem_wait_slow64.constprop.0 () from libc.so.6",
        "0x2 in PyThread_acquire_lock_timed () from libpython3.11.so",
        "0x3 in acquire_timed () from libpython3.11.so",
        "0x4 in lock_PyThread_acquire_lock () from libpython3.11.so",
    ];
    let f = facts(&lock);
    assert_eq!(
        (f.waits[0].kind, f.waits[0].rule.as_str()),
        (WaitKind::PythonLock, "python.lock-acquire")
    );
    let joined = [&lock[..], &["0x5 in threading._wait_for_tstate_lock ()"]].concat();
    assert_eq!(facts(&joined).waits[0].kind, WaitKind::Join);
}

#[test]
fn a_thread_that_starts_in_a_librarys_object_is_a_member_idle_in_its_loop_busy_in_a_task() {
    let cond = "0x1 in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x7000, cond=0x7100) at c.c:503";
    let uv_cond = "0x2 in uv_cond_wait () from /lib/x86_64-linux-gnu/libuv.so.1";
    let worker = "0x3 in ?? () from /lib/x86_64-linux-gnu/libuv.so.1";
    let start = "0x4 in start_thread (arg=<optimized out>) at pthread_create.c:442";
    let clone = "0x5 in clone3 () at clone3.S:81";
    let idle = facts(&[cond, uv_cond, worker, start, clone]);
    assert_eq!(idle.activity, Activity::Idle);
    let m = &idle.members[0];
    assert_eq!((m.pool.class.as_str(), m.frame), ("libuv threadpool", 2));
    // The program's work callback between the wait and the loop: busy, on a wait queued work
    // may end.
    let task = "0x6 in decode (req=0x1) at d.c:42";
    let busy = facts(&[cond, uv_cond, task, worker, start, clone]);
    assert_eq!(busy.activity, Activity::Blocked);
    assert_eq!(busy.members[0].frame, 3);
    assert!(busy.waits[0].awaits_work);
    // A walk cut short inside the library shows no thread's start.
    assert!(facts(&[cond, uv_cond, worker]).members.is_empty());
}

/// A thread the registers show blocked in `call` (number `nr`, arguments `args`).
fn in_syscall(mut t: Thread, nr: u64, call: &str, args: [u64; 6]) -> Thread {
    t.kernel.get_or_insert_with(Default::default).syscall = Some(crate::model::Syscall {
        number: nr,
        name: Some(call.into()),
        args,
    });
    t
}

#[test]
fn nameless_innermost_frames_wait_in_the_system_call_the_registers_show() {
    // libc's frames unread (unmapped, stripped): the program's frame further out does not run.
    let nameless = thread(&[
        "0x7f00 in ?? ()",
        "0x7f10 in ?? ()",
        "0x2 in restock (n=1) at r.c:9",
    ]);
    assert_eq!(
        classify(&nameless, &KnowledgeBase::builtin()).activity,
        Activity::Running
    );
    let futex = in_syscall(nameless.clone(), 202, "futex", [0x5000, 128, 2, 0, 0, 0]);
    let f = classify(&futex, &KnowledgeBase::builtin());
    assert_eq!(f.activity, Activity::Blocked);
    assert_eq!(
        (f.waits[0].kind, f.waits[0].frame, f.waits[0].timed),
        (WaitKind::Futex, 0, false)
    );
    // A timeout in its arguments makes the wait timed; a read is I/O.
    let timed = in_syscall(
        nameless.clone(),
        202,
        "futex",
        [0x5000, 128, 2, 0x7ff0, 0, 0],
    );
    assert!(classify(&timed, &KnowledgeBase::builtin()).waits[0].timed);
    let read = in_syscall(nameless.clone(), 0, "read", [3, 0x7000, 64, 0, 0, 0]);
    assert_eq!(
        classify(&read, &KnowledgeBase::builtin()).activity,
        Activity::External
    );
    // A stack that could not be read at all waits in its call too.
    let bare = in_syscall(Thread::default(), 202, "futex", [0x5000, 128, 2, 0, 0, 0]);
    assert_eq!(
        classify(&bare, &KnowledgeBase::builtin()).activity,
        Activity::Blocked
    );
    // Code that makes the call itself waits in it too; frames a rule knows say what they do
    // themselves (a syscall(2) wrapper: the frames below say what for); a call no rule names
    // says nothing.
    let raw = in_syscall(
        thread(&["0x2 in spin (n=1) at s.c:3"]),
        202,
        "futex",
        [0; 6],
    );
    assert_eq!(
        classify(&raw, &KnowledgeBase::builtin()).activity,
        Activity::Blocked
    );
    let wrapped = in_syscall(
        thread(&[
            "0x1 in syscall () at syscall.S:38",
            "0x2 in word_lock (l=0x5000) at w.c:3",
        ]),
        202,
        "futex",
        [0x5000, 128, 2, 0, 0, 0],
    );
    let f = classify(&wrapped, &KnowledgeBase::builtin());
    // (the lock wrapper below the wrapper is what it waits for; the call alone says futex)
    assert_eq!(f.waits[0].kind, WaitKind::Mutex);
    let unknown = in_syscall(nameless, 219, "restart_syscall", [0; 6]);
    assert_eq!(
        classify(&unknown, &KnowledgeBase::builtin()).activity,
        Activity::Running
    );
}
