//! Findings in words, for every renderer alike: a finding's title, explanation, steps and
//! suggestion, what a thread does, and what a runtime's claim comes to, said from the typed
//! facts the analysis gives. Names in them are the dump's (untrusted): each renderer escapes
//! the sentence once, where it writes it.

use crate::analyze::{
    Because, Busy, ClaimVerdict, Detail, Does, Doing, Finding, FindingKind, Held, Motion, Object,
    Shows, Step, ThreadState,
};
use crate::model::{Snapshot, StoppedBy, Thread};

mod frames;
pub use frames::{elided, frame_ref, more_stacks, no_frames};
use frames::{held_where, in_program, program_or_frame};

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
        FindingKind::StaticInitCycle => {
            "Threads each wait for a static object another of them is initialising."
        }
        FindingKind::OnceRecursion => {
            "A thread waits for a one-time initialisation whose routine it is running itself."
        }
        FindingKind::RwlockUpgrade => {
            "A thread that holds a read-write lock for reading waits to take it for writing."
        }
        FindingKind::Busy => {
            "Threads seen moving between two looks: spinning on a lock, a livelock, or slow progress."
        }
    }
}

/// A finding in words.
pub struct Told {
    /// One line.
    pub title: String,
    /// Why it is a problem.
    pub explanation: String,
    /// Each step, in order.
    pub steps: Vec<String>,
    /// What to do.
    pub suggestion: Option<String>,
}

/// Says finding `f` of `snap`.
pub fn finding(snap: &Snapshot, f: &Finding) -> Told {
    Told {
        title: title(snap, f),
        explanation: explanation(f),
        steps: f.steps.iter().map(|s| step(snap, s)).collect(),
        suggestion: suggestion(snap, f),
    }
}

/// What a wait waits for, in words.
pub fn object(snap: &Snapshot, o: &Object) -> String {
    match o {
        Object::ThreadExit { thread } => {
            format!("thread {} to exit", snap.threads[*thread].label())
        }
        Object::NamespaceThreadExit { tid } => format!(
            "the thread its PID namespace calls {tid} to exit (which thread that is cannot be \
             told: the namespace's thread ids are not known)"
        ),
        Object::MissingThreadExit { tid } => format!("thread LWP {tid} (not in the dump) to exit"),
        Object::MissingPthreadExit { pthread } => {
            format!("thread 0x{pthread:x} (not in the dump) to exit")
        }
        Object::AnyThreadExit => "a thread to exit".to_string(),
        Object::PoolExit { pool: Some(p) } => format!("every worker of pool `{p}` to exit"),
        Object::PoolExit { pool: None } => "a pool's workers to exit".to_string(),
        Object::Named { name } => name.clone(),
        Object::Kind {
            kind,
            address,
            symbol,
        } => match (address, symbol) {
            (Some(a), Some(s)) => format!("{} {s} (0x{a:x})", kind.noun()),
            (Some(a), None) => format!("{} 0x{a:x}", kind.noun()),
            _ => kind.noun().to_string(),
        },
    }
}

/// Who keeps a thread stopped, in words: `a stop signal` or `its tracer, process 4645 (gdb)`.
pub fn stop_cause(by: &StoppedBy) -> String {
    match by {
        StoppedBy::Signal => "a stop signal".into(),
        StoppedBy::Tracer { pid: 0, .. } => "a tracer".into(),
        StoppedBy::Tracer { pid, name } => match name {
            Some(n) => format!("its tracer, process {pid} ({n})"),
            None => format!("its tracer, process {pid}"),
        },
    }
}

/// What shows a thread holds a lock, in words.
fn held(h: &Held) -> String {
    match h {
        Held::Rule { rule } => rule.clone(),
        Held::Stated { source } => source.clone(),
        Held::Printed { field, line } => format!("`{field}` printed at line {line}"),
        Held::Memory { address } => format!("owner field read from memory at 0x{address:x}"),
        Held::InterruptedInside { sites } => {
            format!("interrupted inside {} by the signal", sites.join(" / "))
        }
        Held::InsideSite { site } => format!("inside {site}, where the lock is taken"),
        Held::Report { text, line } => {
            let line = line.map(|l| format!(", line {l}")).unwrap_or_default();
            format!("the runtime's deadlock report ({text}{line})")
        }
    }
}

fn doing(snap: &Snapshot, d: &Doing) -> String {
    match d {
        Doing::Running => "running".to_string(),
        Doing::Stopped => "stopped".to_string(),
        Doing::Waiting { object: o } => format!(
            "waiting for {}",
            o.as_ref().map(|o| object(snap, o)).unwrap_or_default()
        ),
        Doing::Unknown => "in an unknown state".to_string(),
    }
}

/// One step in words.
pub fn step(snap: &Snapshot, s: &Step) -> String {
    let th = &snap.threads[s.thread];
    let at = |i: usize| frame_ref(th, i);
    let who = th.label();
    match &s.shows {
        Shows::Interrupted { signal, calls } => {
            let mut text = format!(
                "{who} is running a signal handler: {} interrupted it",
                at(*signal)
            );
            if !calls.is_empty() {
                let names: Vec<&str> = calls
                    .iter()
                    .filter_map(|&i| th.frames[i].function.as_deref())
                    .map(crate::knowledge::base_name)
                    .collect();
                text.push_str(&format!("; the handler calls {}", names.join(" → ")));
            }
            text
        }
        Shows::Waits {
            object: o,
            at: i,
            blocked_in,
            program,
        } => {
            let mut text = format!("{who} waits for {}: ", object(snap, o));
            match program {
                Some(p) => text.push_str(&in_program(th, p)),
                None => {
                    text.push_str(&at(*i));
                    if let Some(b) = blocked_in {
                        text.push_str(&format!(", blocked in {}", at(*b)));
                    }
                }
            }
            text
        }
        Shows::Holder {
            because,
            itself,
            held_at,
        } => {
            let who = if *itself {
                format!("{who} itself")
            } else {
                who
            };
            let place = held_at.as_ref().map(|h| held_where(th, h));
            match (because, place) {
                (Because::Holds { by, .. }, Some(place)) => {
                    format!("held by {who} ({}): {place}", held(by))
                }
                (Because::Holds { frame: Some(i), by }, None) => {
                    format!("held by {who}: {} ({})", at(*i), held(by))
                }
                (Because::Holds { frame: None, by }, None) => {
                    format!("held by {who}: {}", held(by))
                }
                (Because::IsTarget, _) => {
                    format!("{who} is that thread, and it is itself blocked")
                }
                (Because::Member { frame }, _) => {
                    format!("{who} is a worker of that pool: {}", at(*frame))
                }
                (Because::Claimed { by }, place) => {
                    let place = place.map(|p| format!(" ({p})")).unwrap_or_default();
                    format!(
                        "held by {who}{place}, says {}; nothing else in the dump shows it",
                        held(by)
                    )
                }
            }
        }
        Shows::WorkerWaits {
            pool,
            member,
            at: w,
        } => format!(
            "{who} is a worker of `{pool}` ({}) and waits for a result: {}",
            at(*member),
            at(*w)
        ),
        Shows::Blocker {
            doing: d,
            at: i,
            program,
        } => format!(
            "{who} is {}: {}",
            doing(snap, d),
            program_or_frame(th, *i, program)
        ),
        Shows::InIo { at: i, program } => {
            format!("{who} is in I/O: {}", program_or_frame(th, *i, program))
        }
        Shows::Stopped { by, at: i } => {
            let at = i.map(|i| format!(", in {}", at(i))).unwrap_or_default();
            format!("{who} is stopped by {}{at}", stop_cause(by))
        }
        Shows::Moved { motion: m, at: i } => match i {
            Some(i) => format!("{who} {}: {}", moved(th, *m), at(*i)),
            None => format!("{who} {}", moved(th, *m)),
        },
        Shows::SignalFrame { at: i } => format!("signal frame {}", at(*i)),
        Shows::HandlerWaits {
            object: o,
            at: i,
            program,
        } => format!(
            "the handler waits for {}: {}",
            object(snap, o),
            program_or_frame(th, *i, program)
        ),
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
                     another of them is initialising"
                ),
                _ => format!("wait cycle: {n} threads wait on each other"),
            }
        }
        Detail::Starvation { pool } => format!(
            "pool starvation: all {n} workers of `{pool}` wait for results, and no worker is \
             free to produce them"
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
        Detail::Upgrade { lock } => {
            let lock = match lock {
                Object::Kind {
                    address: Some(a),
                    symbol,
                    ..
                } => match symbol {
                    Some(s) => format!("rwlock {s} (0x{a:x})"),
                    None => format!("rwlock 0x{a:x}"),
                },
                other => object(snap, other),
            };
            format!(
                "rwlock self-upgrade: {} waits to take {lock} for writing while it holds it for \
                 reading",
                label(f.threads[0])
            )
        }
        Detail::Orphaned {
            lock, owner_tid, ..
        } => format!(
            "orphaned lock: {n} thread(s) wait for {}, whose owner LWP {owner_tid} is gone: no \
             thread of the process has that id",
            object(snap, lock)
        ),
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
        Detail::Starvation { .. } => "Every worker of the pool runs a task that blocks on a future or handoff. If that work was queued on the same pool, no thread is left to run it, so every worker waits forever.".into(),
        Detail::Stall { unowned_locks } => {
            let mut s = String::from("No cycle is proven, but no thread can make progress: each waits for a lock, a condition or another thread, and no thread is left that could signal or release it.");
            if *unowned_locks >= 2 {
                s.push_str(&format!(" {unowned_locks} of them wait for locks, and nothing shows who holds those: a lock-order inversion (each holding a lock another one needs) looks just like this on the stacks."));
            }
            s
        }
        Detail::RootBlocker { .. } => "Not a deadlock: the threads are queued behind one thread that is itself not waiting for them. The hang lasts as long as that thread's work does.".into(),
        Detail::SignalUnsafe { .. } => "Blocking on locks, condition variables, joins or futures is not async-signal-safe: the handler may have interrupted the very code that would release them.".into(),
        Detail::Io => "These threads wait for something outside the process (a file, socket, pipe or child). That is not a deadlock, but if the process is stuck, check what they read from or write to.".into(),
        Detail::OnceRecursion { .. } => "The once routine, further out on the same stack, calls back into the same once: the inner call waits until the routine has returned, and the routine cannot return before the inner call does.".into(),
        Detail::Upgrade { .. } => "A write lock waits until every reader has left, and the thread asking for it is one of the readers: it waits for itself forever. Other writers queue behind it; which other threads hold it for reading the lock does not record.".into(),
        Detail::Orphaned { by, .. } => format!("The lock's owner field ({}) names a thread that is not in the process, so no thread will ever unlock it. A thread that returns or exits while holding a lock leaves it so; so does fork, whose child gets a copy of a lock another thread of the parent held.", held(by)),
        Detail::Busy { how: Busy::Spinning } => "A thread spinning on a lock waits for the lock's holder as a blocked one does, but burns a CPU meanwhile, so the process looks busy while it is stuck. If the holder is itself blocked or gone, the lock is never released.".into(),
        Detail::Busy { how: Busy::Livelock } => "These threads keep waking up, trying again and going back to sleep, while no thread of the process ran between the two looks: retry loops with a back-off (trylock and sleep, poll and sleep) that never succeed look alive but make no progress.".into(),
        Detail::Busy { how: Busy::SlowProgress } => "By the stacks alone this is a stall, but the second look shows the process moving: threads ran or were woken between the two samples. It is slow, not stuck.".into(),
        Detail::Stopped { .. } if f.kind == FindingKind::ProcessStopped => "The kernel has stopped the whole process, so it does not answer whatever its threads were doing; the stacks show where each one was when it stopped.".into(),
        Detail::Stopped { .. } => "A stopped thread runs nothing: whatever waits for it (a lock it holds, work it should do) waits until it is resumed.".into(),
    }
}

/// What to do: the packs' advice the finding carries, or for stopped threads what resumes
/// them.
pub fn suggestion(snap: &Snapshot, f: &Finding) -> Option<String> {
    let Detail::Stopped { by_signal, .. } = &f.detail else {
        return f.suggestion.clone();
    };
    let resume_signal = match snap.pid {
        Some(p) => format!("`kill -CONT {p}`"),
        None => "`kill -CONT PID`".into(),
    };
    Some(if *by_signal {
        format!(
            "Resume it with {resume_signal} (or `fg` in the shell where Ctrl-Z stopped it), \
             and find out who sent the stop signal (job control, a supervisor, a script)."
        )
    } else {
        format!(
            "The tracer resumes it when it continues or detaches (`continue` or `detach` in \
             a debugger), or when it exits; a stop signal's part ends with {resume_signal}."
        )
    })
}

/// One line saying what a thread does, who keeps it stopped if it is stopped, and why its
/// stack ends early.
pub fn state(snap: &Snapshot, s: &ThreadState) -> String {
    let th = &snap.threads[s.thread];
    let at = |i: usize| frame_ref(th, i);
    // A thread the dump gives no frames for is shown "waits for X (no frames; ...)".
    let placed = |what: String, i: usize| {
        if th.frames.is_empty() {
            format!("{what} {}", at(i))
        } else {
            format!("{what} at {}", at(i))
        }
    };
    let does = match &s.does {
        Does::Waits { object: o, at: i } => placed(format!("waits for {}", object(snap, o)), *i),
        Does::IdleForWork { at: i } => placed("idle, waiting for work".into(), *i),
        Does::IdleStated { status, at: i } => {
            let mut s = "idle".to_string();
            if let Some(status) = status {
                s.push_str(&format!(" ({status})"));
            }
            if let Some(i) = i {
                s.push_str(&format!(" in {}", at(*i)));
            }
            s
        }
        Does::Blocked => "blocked".into(),
        Does::Running { at: Some(i) } => format!("running (not in a blocking call) in {}", at(*i)),
        Does::Running { at: None } => "running".into(),
        // Follows "stopped by …".
        Does::Stopped { at: i } => i.map(|i| format!(", in {}", at(i))).unwrap_or_default(),
        Does::Unreadable { why: Some(why) } => format!("no readable frames: {why}"),
        Does::Unreadable { why: None } => "no readable frames".into(),
    };
    let does = match s.moves {
        Some(m) => format!("{does}; {}", moved(th, m)),
        None => does,
    };
    let does = match &s.ends_early {
        Some(why) => format!("{does}; its stack ends early: {why}"),
        None => does,
    };
    match &s.stopped_by {
        Some(by) if matches!(s.does, Does::Stopped { .. }) => {
            format!("stopped by {}{does}", stop_cause(by))
        }
        Some(by) => format!("stopped by {}; {does}", stop_cause(by)),
        None => does,
    }
}

/// What thread `th` did between the two looks, by its counters.
fn moved(th: &Thread, m: Motion) -> String {
    let Some(look) = th.kernel.as_ref().and_then(|k| k.second_look) else {
        return "moved between the two looks".into();
    };
    let ms = look.interval_ms;
    let cpu = look.cpu_us / 10 / ms.max(1);
    match m {
        Motion::Still => format!("did not move in the {ms} ms between the two looks"),
        Motion::Spinning => {
            format!("spun on the lock, using {cpu}% of a CPU in the {ms} ms between the two looks")
        }
        Motion::Ran => format!("ran, using {cpu}% of a CPU in the {ms} ms between the two looks"),
        Motion::Cycling => format!(
            "woke and slept again {} times in the {ms} ms between the two looks, using {cpu}% of \
             a CPU",
            look.voluntary
        ),
        Motion::Stirred if look.voluntary == 0 => {
            format!("left the wait it was in during the {ms} ms between the two looks")
        }
        Motion::Stirred => format!(
            "woke {} time(s) in the {ms} ms between the two looks",
            look.voluntary
        ),
    }
}

/// What the analysis makes of a runtime's claim, in words.
pub fn claim(v: &ClaimVerdict) -> String {
    match v {
        ClaimVerdict::Noted => "noted (not a deadlock claim)".to_string(),
        ClaimVerdict::Confirmed { finding } => format!("confirmed by finding {}", finding + 1),
        ClaimVerdict::OnlyTheClaimSays { finding } => format!(
            "not confirmed by the dump: finding {} shows these threads blocked on locks, but \
             who holds them only the runtime's report says (the stacks carry no owners)",
            finding + 1
        ),
        ClaimVerdict::ThreadsMissing { missing } => {
            format!("not confirmed: {missing} of the threads it names are not in the dump")
        }
        ClaimVerdict::NothingReadable => {
            "not confirmed: no thread is blocked in a way the rules can read".to_string()
        }
        ClaimVerdict::NoCycle => {
            "not confirmed: the analysis finds no cycle or stall among these threads".to_string()
        }
    }
}
