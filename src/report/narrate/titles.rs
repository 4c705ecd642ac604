//! A finding's own words: what its kind is (SARIF's rule descriptions), its one-line title and
//! why it is a problem, from its typed `Detail`.

use super::{doing, held, object, stop_cause};
use crate::analyze::{Busy, Detail, Finding, FindingKind, Held, Object, Shows};
use crate::model::Snapshot;

/// What a kind of finding is, in one line (SARIF's rule descriptions).
pub fn kind(k: FindingKind) -> &'static str {
    match k {
        FindingKind::SelfJoin => "A thread waits for a set of threads it belongs to to exit.",
        FindingKind::SelfLock => "A thread waits for a lock it already holds.",
        FindingKind::LockCycle => "Threads wait on each other's locks.",
        FindingKind::JoinCycle => "Threads wait for each other to exit.",
        FindingKind::PoolStarvation => {
            "Every worker of a pool waits for work queued on that same pool."
        }
        FindingKind::RuntimeStarved => {
            "Every worker of an async runtime blocks in a synchronous wait inside a task: none is left to poll the runtime's tasks."
        }
        FindingKind::WaitCycle => "Threads wait on each other in a cycle.",
        FindingKind::ProcessStopped => {
            "The whole process is stopped (a stop signal or a tracer) and runs nothing."
        }
        FindingKind::ThreadStopped => "Threads are stopped by a tracer and run nothing.",
        FindingKind::Stall => "No thread can move, but no cycle is proven.",
        FindingKind::RootBlocker => "Many threads wait on one thread that is not waiting on them.",
        FindingKind::SignalUnsafeWait => {
            "A signal handler blocks in a call that is not async-signal-safe."
        }
        FindingKind::IoWait => "Threads are blocked in I/O.",
        FindingKind::OrphanedLock => {
            "Threads wait for a lock whose owner is no thread of the process."
        }
        FindingKind::OwnerDied => {
            "Threads wait for a robust mutex whose owner died holding it: the thread that recovered it (EOWNERDEAD) holds it and never made it consistent."
        }
        FindingKind::StaticInitCycle => {
            "Threads each wait for a static object another of them is initialising."
        }
        FindingKind::WriterBehindReaders => {
            "Threads wait to write a read-write lock that readers hold, none of which is named."
        }
        FindingKind::ReadersUnknown => {
            "Threads wait to write a read-write lock no thread is seen holding; whether readers hold it, the input does not show."
        }
        FindingKind::HoldersUnknown => {
            "Threads wait for locks that record no owner in a cycle if they hold each other's; threads whose code the input does not carry could hold them instead."
        }
        FindingKind::OnceRecursion => {
            "A thread waits for a one-time initialisation whose routine it is running itself."
        }
        FindingKind::RwlockUpgrade => {
            "A thread that holds a read-write lock for reading waits to take it for writing."
        }
        FindingKind::LoaderLock => {
            "Threads wait for the dynamic loader's lock, held by a thread that waits inside a library's constructor or destructor."
        }
        FindingKind::Busy => {
            "Threads seen moving between two looks: spinning on a lock, a livelock, or slow progress."
        }
    }
}

/// A finding's one line.
pub fn title(snap: &Snapshot, f: &Finding) -> String {
    let label = |t: usize| snap.threads[t].label();
    let n = f.threads.len();
    match &f.detail {
        Detail::Cycle {
            through_signal,
            object: o,
        } => {
            let via = if *through_signal {
                " through a signal handler"
            } else {
                ""
            };
            let first = f.threads[0];
            match f.kind {
                FindingKind::SelfJoin => format!(
                    "self-join{via}: {} waits for {}, which includes itself",
                    label(first),
                    o.as_ref().map(|o| object(snap, o)).unwrap_or_default()
                ),
                FindingKind::SelfLock => format!(
                    "self-lock{via}: {} waits for a lock it already holds",
                    label(first)
                ),
                FindingKind::LockCycle => {
                    format!("lock cycle: {n} threads wait on each other's locks")
                }
                FindingKind::JoinCycle => {
                    format!("join cycle: {n} threads wait for each other to exit")
                }
                FindingKind::StaticInitCycle => format!(
                    "static-initialisation cycle: {n} threads each wait for a static object \
                     another of them is initialising{}",
                    guards(f)
                ),
                _ => format!("wait cycle: {n} threads wait on each other"),
            }
        }
        Detail::PoolSelfJoin {
            pool,
            through_signal,
        } => format!(
            "self-join{}: {} joins {}, idle in their own pool `{pool}`",
            if *through_signal {
                " through a signal handler"
            } else {
                ""
            },
            label(f.threads[0]),
            label(f.threads[1])
        ),
        Detail::Starvation { pool } if n == 1 => format!(
            "pool starvation: the one thread of `{pool}` waits for a result only it could \
             produce"
        ),
        Detail::Starvation { pool } => format!(
            "pool starvation: all {n} workers of `{pool}` wait for results, and no worker is \
             free to produce them"
        ),
        Detail::RuntimeStarved { runtime } if n == 1 => format!(
            "runtime starved: the one thread of `{runtime}` blocks in a synchronous wait, and \
             nothing is left to poll its tasks"
        ),
        Detail::RuntimeStarved { runtime } => format!(
            "runtime starved: all {n} workers of `{runtime}` block in synchronous waits, and \
             none is left to poll its tasks"
        ),
        Detail::Stall { .. } => {
            "stall: every thread waits, and none is running, in I/O or asleep to wake the others"
                .into()
        }
        Detail::RootBlocker {
            blocker,
            waiting,
            doing: d,
        } => match waiting {
            1 => format!(
                "root blocker: a thread waits on {}, which is {}, and its runtime gave the wait \
                 up as fatal",
                label(*blocker),
                doing(snap, d)
            ),
            _ => format!(
                "root blocker: {waiting} threads wait (directly or in a chain) on {}, which is {}",
                label(*blocker),
                doing(snap, d)
            ),
        },
        Detail::SignalUnsafe { kind } => format!(
            "signal-unsafe wait: {} blocks on a {} inside a signal handler",
            label(f.threads[0]),
            kind.noun()
        ),
        Detail::Io => format!("{n} thread(s) blocked in I/O"),
        Detail::OnceRecursion { once } => format!(
            "once recursion: {} waits for {}, whose routine it is running itself",
            label(f.threads[0]),
            object(snap, once)
        ),
        Detail::Upgrade { lock } => format!(
            "rwlock self-upgrade: {} waits to take {} for writing while it holds it for reading",
            label(f.threads[0]),
            rwlock(snap, lock)
        ),
        Detail::HoldersUnknown {
            locks,
            unchecked,
            captured,
        } => {
            let locks: Vec<String> = locks.iter().map(|l| object(snap, l)).collect();
            let waiters: Vec<String> = (f.threads.iter().take(n - unchecked.len()))
                .map(|&t| label(t))
                .collect();
            let mut others: Vec<String> = unchecked.iter().take(3).map(|&t| label(t)).collect();
            if unchecked.len() > 3 {
                others.push(format!("{} more", unchecked.len() - 3));
            }
            let why = if *captured {
                ": no symbol names their code, or their stacks were not read whole"
            } else {
                " from this dump, which does not carry their code"
            };
            format!(
                "possible lock cycle: {} wait for {}, which record no owner, and hold each \
                 other's if no other thread does; whether one of {} holds one instead cannot be \
                 told{why}",
                waiters.join(" and "),
                locks.join(" and "),
                others.join(", ")
            )
        }
        Detail::ReadersUnknown { lock, suspects } => {
            let writers = match n - suspects.len() {
                1 => format!("{} waits", label(f.threads[0])),
                w => format!("{w} threads wait"),
            };
            format!(
                "write wait on {}: {writers} to take it for writing and no thread is seen \
                 holding it as a writer; whether readers hold it cannot be told from this dump \
                 (it shows neither the lock's writer nor its reader count)",
                rwlock(snap, lock)
            )
        }
        Detail::BehindReaders {
            lock,
            readers,
            suspects,
            ..
        } => {
            let writers = match n - suspects.len() {
                1 => format!("{} waits", label(f.threads[0])),
                w => format!("{w} threads wait"),
            };
            let held = match readers {
                1 => "1 reader holds it".to_string(),
                r => format!("{r} readers hold it"),
            };
            format!(
                "writer blocked behind readers: {writers} to take {} for writing; no writer \
                 holds it, {held} (the lock does not record which threads)",
                rwlock(snap, lock)
            )
        }
        Detail::Orphaned {
            lock,
            owner_tid,
            forked_from: Some(parent),
            ..
        } => format!(
            "orphaned lock: {n} thread(s) wait for {}, copied locked by fork: its owner LWP \
             {owner_tid} is a thread of the parent process {parent}, not of this one",
            object(snap, lock)
        ),
        Detail::Orphaned {
            lock, owner_tid, ..
        } => format!(
            "orphaned lock: {n} thread(s) wait for {}, whose owner LWP {owner_tid} is gone: no \
             thread of the process has that id",
            object(snap, lock)
        ),
        Detail::OwnerDied { lock, holder, .. } => {
            let waiters = f.threads.iter().filter(|&&t| t != *holder).count();
            let relocks =
                (f.steps.iter()).any(|s| matches!(s.shows, Shows::Holder { itself: true, .. }));
            let (lock, holder) = (object(snap, lock), label(*holder));
            if relocks && waiters == 0 {
                format!(
                    "owner died: {holder} waits for {lock}, a robust mutex it holds itself: it \
                     recovered it (EOWNERDEAD) after its previous owner died holding it, and \
                     never made it consistent"
                )
            } else {
                let itself = if relocks {
                    ", and waits for it itself"
                } else {
                    ""
                };
                format!(
                    "owner died: {waiters} thread(s) wait for {lock}, a robust mutex whose \
                     previous owner died holding it; {holder} recovered it (EOWNERDEAD) and \
                     holds it without making it consistent{itself}"
                )
            }
        }
        Detail::Loader { holder, cycle, .. } => {
            let waiters: Vec<String> = (f.threads.iter())
                .filter(|&&t| t != *holder)
                .take(3)
                .map(|&t| label(t))
                .collect();
            let (verb, them) = match waiters.len() {
                1 => ("waits", "it holds"),
                _ => ("wait", "one of them holds"),
            };
            let more = if n > 4 { " and others" } else { "" };
            let why = if *cycle {
                format!(
                    ", which waits inside a library's constructor or destructor for a lock {them}"
                )
            } else {
                ", which is blocked inside a library's constructor or destructor".to_string()
            };
            format!(
                "loader lock: {}{more} {verb} for the dynamic loader's lock, held by {}{why}",
                waiters.join(", "),
                label(*holder)
            )
        }
        Detail::Busy {
            how: Busy::Spinning,
        } if n == 1 => format!(
            "spinning on a lock: {} uses CPU waiting for a lock, busy yet stuck",
            label(f.threads[0])
        ),
        Detail::Busy {
            how: Busy::Spinning,
        } => {
            format!("spinning on locks: {n} threads use CPU waiting for locks, busy yet stuck")
        }
        Detail::Busy {
            how: Busy::Livelock,
        } => format!(
            "possible livelock: {n} threads wake, retry and sleep again over and over, while no \
             thread runs"
        ),
        Detail::Busy {
            how: Busy::SlowProgress,
        } => {
            let moved = match f.steps.len() {
                1 => "1 thread moved".to_string(),
                m => format!("{m} threads moved"),
            };
            format!(
                "slow progress, not a stall: every thread waits by its stack, yet {moved} \
                 between the two looks"
            )
        }
        Detail::Stopped { cause, .. } => {
            let cause = cause
                .as_ref()
                .map_or_else(|| "stop signals and tracers".into(), stop_cause);
            if f.kind == FindingKind::ProcessStopped {
                let process = snap
                    .pid
                    .map_or_else(|| "the process".to_string(), |p| format!("process {p}"));
                format!(
                    "{process} is stopped by {cause}: none of its threads runs until it is resumed"
                )
            } else {
                format!(
                    "{n} of {} threads stopped by {cause}: they run nothing until resumed",
                    snap.threads.len()
                )
            }
        }
    }
}

/// Why a finding is a problem.
pub fn explanation(f: &Finding) -> String {
    match &f.detail {
        Detail::Cycle { through_signal, .. } => {
            let core = match f.kind {
                FindingKind::SelfJoin => "The thread waits for a set of threads to exit, and it is one of them: it can only exit after the wait returns, so the wait never returns.",
                FindingKind::SelfLock => "The thread asks for a lock that it holds already; the lock is not recursive, so the thread waits for itself forever.",
                FindingKind::LockCycle => "Each thread holds a lock the next one in the cycle needs, so none of them can go on (lock-order inversion).",
                FindingKind::JoinCycle => "Each thread waits for the next one in the cycle to exit, so none of them ever exits.",
                FindingKind::StaticInitCycle => "Each thread runs the initialiser of a function-local static and, inside it, needs a static whose initialiser the next thread runs: a static's guard lets no one in until its initialiser returns, so none of them returns.",
                _ => "Each thread waits for something the next one in the cycle holds or must do.",
            };
            let signal = if *through_signal {
                " A signal handler runs on whatever thread the signal interrupted and inherits \
                 everything that thread holds and is, so the handler is waiting for its own thread."
            } else {
                ""
            };
            format!("{core}{signal}")
        }
        Detail::PoolSelfJoin { .. } => "The threads share a worker loop: they are one pool. The joined thread is idle in it, waiting for work, and leaves only when the pool closes and its work has run out; the joining thread runs a task of that same pool, so that work never runs out while it waits.".into(),
        Detail::Starvation { .. } => "Every worker of the pool runs a task that blocks on a future or handoff. If that work was queued on the same pool, no thread is left to run it, so every worker waits forever.".into(),
        Detail::RuntimeStarved { .. } => "An async runtime's workers poll all of its tasks; a task that blocks in a synchronous wait (a std Mutex, a blocking channel receive, block_on) holds its worker until the wait ends. With every worker blocked, no task is polled, among them the ones that would end those waits (a task holding the lock across an .await, a channel's sender), so the runtime hangs.".into(),
        Detail::Stall { unowned_locks } => {
            let mut s = String::from("No cycle is proven, but no thread can make progress: each waits for a lock, a condition or another thread, and no thread is left that could signal or release it.");
            if *unowned_locks >= 2 {
                s.push_str(&format!(" {unowned_locks} of them wait for locks, and nothing shows who holds those: a lock-order inversion (each holding a lock another one needs) looks just like this on the stacks."));
            } else if *unowned_locks == 1 {
                s.push_str(" One of them waits for a lock, and nothing shows who holds it: its holder may have returned or exited without unlocking it, or be a thread the input does not show. What the lock records of its owner decides, and this input does not show it.");
            }
            s
        }
        Detail::RootBlocker { .. } => "Not a deadlock: the threads are queued behind one thread that is itself not waiting for them. The hang lasts as long as that thread's work does.".into(),
        Detail::SignalUnsafe { .. } => "Blocking on locks, condition variables, joins or futures is not async-signal-safe: the handler may have interrupted the very code that would release them.".into(),
        Detail::Io => "These threads wait for something outside the process (a file, socket, pipe or child). That is not a deadlock, but if the process is stuck, check what they read from or write to.".into(),
        Detail::OnceRecursion { .. } => "The once routine, further out on the same stack, calls back into the same once: the inner call waits until the routine has returned, and the routine cannot return before the inner call does.".into(),
        Detail::Upgrade { .. } => "A write lock waits until every reader has left, and the thread asking for it is one of the readers: it waits for itself forever. Other writers queue behind it; which other threads hold it for reading the lock does not record.".into(),
        Detail::Orphaned { by, forked_from: Some(parent), .. } => format!("The lock's owner field ({}) names a thread of the parent process {parent}: fork copied the lock into this process while that thread held it, and a copy has no owner here to unlock it. Only async-signal-safe calls are safe in a child of a threaded process until it calls exec.", held(by)),
        Detail::BehindReaders { by, suspects, .. } => {
            let count = match by {
                Held::Memory { address } => format!("read from memory at 0x{address:x}"),
                other => held(other),
            };
            let who = if suspects.is_empty() {
                "No frame shows which threads they are."
            } else {
                "Threads whose frames hold a read guard on it are shown as suspects, not proof."
            };
            format!("A write lock waits until every reader has left. The lock's reader count ({count}) says readers hold it and no writer does, but a read-write lock does not record its readers: they cannot be named from the lock. {who} If a reader waits for something the writer (or its caller) would provide once it has written, nothing moves: readers must not block on writers while they hold the read lock.")
        }
        Detail::HoldersUnknown { captured: true, .. } => "These locks record no owner, so who holds each is derived from where every thread stands: the threads that wait for such locks, each inside code that took another, close a cycle if they hold them. Other threads could hold a lock instead, which would leave no cycle. Only a thread whose code names the lock, or for a lock on the heap whose stack points at it, can have taken it; the code of these threads is named by no symbol (a stripped program, JIT code), or their stacks were not read whole, so they could hold any of them.".into(),
        Detail::HoldersUnknown { .. } => "These locks record no owner, so who holds each is derived from where every thread stands: the threads that wait for such locks, each inside code that took another, close a cycle if they hold them. Other threads stand inside the program's own code and could hold a lock instead, which would leave no cycle. Only a thread whose code names the lock, or for a lock on the heap whose stack points at it, can have taken it, and a dump carries neither the code nor the stacks' memory: giving the program the dump came from (`parse --binary`) reads which functions name each lock, and attaching to the process, or reading a core with its binary, reads the code and the stacks, and decides.".into(),
        Detail::ReadersUnknown { suspects, .. } => {
            let who = if suspects.is_empty() {
                ""
            } else {
                " Threads whose frames hold a read guard on it are shown as suspects, not proof."
            };
            format!("A read-write lock keeps its writer and how many readers hold it in the lock itself (glibc: __cur_writer and __readers), never which threads read. This dump does not show those fields for this lock (a plain bt full prints a global lock only as its address), and no frame shows a thread holding it as a writer: readers may hold it (a writer blocked behind readers), or nobody may, and this dump cannot tell which.{who} The lock's fields decide it: attach to the process, read a core of it, or dump it in gdb with the hangscan-owners script (fixtures/gdb/owners.gdb), which prints each waited-on lock.")
        }
        Detail::Orphaned { by, .. } => format!("The lock's owner field ({}) names a thread that is not in the process, so no thread will ever unlock it. A thread that returns or exits while holding a lock leaves it so; so does fork, whose child gets a copy of a lock another thread of the parent held.", held(by)),
        Detail::OwnerDied { by, .. } => {
            let read = match by {
                Held::LockWord { address } => format!("read from memory at 0x{address:x}"),
                other => held(other),
            };
            format!("The mutex is robust: when its owner died holding it, the kernel marked it so and glibc handed it to the next locker, whose pthread_mutex_lock returned EOWNERDEAD with the lock held. The lock word ({read}) names that thread, and the owner field still says PTHREAD_MUTEX_INCONSISTENT: it has neither called pthread_mutex_consistent nor unlocked the mutex, as code does that takes EOWNERDEAD for a failure. Every other locker waits until it unlocks. Which thread died the lock no longer records.")
        }
        Detail::Loader { cycle: true, .. } => "The dynamic loader holds its lock while it runs a library's constructors (dlopen) or destructors (dlclose), and every dlopen, dlsym, dlclose and dladdr waits for it. Here a constructor waits for a lock a thread holds while it calls into the loader: neither can go on.".into(),
        Detail::Loader { .. } => "The dynamic loader holds its lock while it runs a library's constructors (dlopen) or destructors (dlclose), and every dlopen, dlsym, dlclose and dladdr waits for it. The thread inside the loader is blocked, so the threads behind it wait as long as it does.".into(),
        Detail::Busy { how: Busy::Spinning } => "A thread spinning on a lock waits for the lock's holder as a blocked one does, but burns a CPU meanwhile, so the process looks busy while it is stuck. If the holder is itself blocked or gone, the lock is never released.".into(),
        Detail::Busy { how: Busy::Livelock } => "These threads keep waking up, trying again and going back to sleep, while no thread of the process ran between the two looks: retry loops with a back-off (trylock and sleep, poll and sleep) that never succeed look alive but make no progress.".into(),
        Detail::Busy { how: Busy::SlowProgress } => "By the stacks alone this is a stall, but the second look shows the process moving: threads ran or were woken between the two samples. It is slow, not stuck.".into(),
        Detail::Stopped { .. } if f.kind == FindingKind::ProcessStopped => "The kernel has stopped the whole process, so it does not answer whatever its threads were doing; the stacks show where each one was when it stopped.".into(),
        Detail::Stopped { .. } => "A stopped thread runs nothing: whatever waits for it (a lock it holds, work it should do) waits until it is resumed.".into(),
    }
}

/// The guards a static-initialisation cycle's threads wait on, by their symbols, as `: A, B`
/// (nothing when none is named).
fn guards(f: &Finding) -> String {
    let named: Vec<&str> = (f.steps.iter())
        .filter_map(|s| match &s.shows {
            Shows::Waits {
                object: Object::Kind {
                    symbol: Some(s), ..
                },
                ..
            } => Some(s.as_str()),
            _ => None,
        })
        .collect();
    match named.is_empty() {
        true => String::new(),
        false => format!(" ({})", named.join(", ")),
    }
}

/// A read-write lock by its symbol and address, when known.
fn rwlock(snap: &Snapshot, lock: &Object) -> String {
    match lock {
        Object::Kind {
            address: Some(a),
            symbol,
            ..
        } => match symbol {
            Some(s) => format!("rwlock {s} (0x{a:x})"),
            None => format!("rwlock 0x{a:x}"),
        },
        other => object(snap, other),
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::analyze;
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;

    #[test]
    fn a_holder_that_relocks_its_recovered_robust_mutex_is_said_to_wait_for_it_itself() {
        // LWP 100 holds robust mutex 0x5000 (its lock word), recovered (PTHREAD_MUTEX_INCONSISTENT),
        // and waits for it again.
        let dump = "\
Thread 1 (Thread 0x7f00 (LWP 100) \"flusher\"):
#0  futex_wait (private=128, expected=<optimized out>, futex_word=0x5000) at futex-internal.h:146
#1  __pthread_mutex_lock_full (mutex=0x5000 <stats_lock>) at pthread_mutex_lock.c:335
$1 = {__data = {__lock = -2147483548, __count = 1, __owner = 2147483647, __nusers = 1, __kind = 144, __spins = 0}}
#2  0x3 in flush_stats () at t.c:40
";
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        let titles: Vec<String> = a.findings.iter().map(|f| super::title(&snap, f)).collect();
        assert_eq!(
            titles,
            [
                "owner died: LWP 100 \"flusher\" waits for mutex stats_lock (0x5000), a robust \
              mutex it holds itself: it recovered it (EOWNERDEAD) after its previous owner died \
              holding it, and never made it consistent"
            ]
        );
    }
}
