//! Goroutines as threads of the snapshot, as Go's own dump shows them: each one a thread with
//! its goroutine id and status, its frames (named by the stackwalk's symbolizer) marked as
//! Go's, and the semaphore it sleeps on as the first argument of the frames that pass it to
//! the runtime (`runtime.semacquire1` and its caller, `sync.runtime_SemacquireMutex`), where
//! the rules read a Go dump's; a `sync.Mutex`'s slow path (`lockSlow`) gets the mutex, whose
//! semaphore it is, as Go's dump prints its receiver, and a `sync.RWMutex`'s `Lock` or `RLock`
//! the RWMutex around the semaphore or mutex it sleeps on; a `sync.Cond` wait the Cond's notify
//! list as the first argument of `notifyListWait`, read from the slot Go's dump prints it
//! from; a channel send or receive gets its
//! channel as the first argument of `runtime.chansend`/`chanrecv` and their entry points
//! (`chanrecv1`, `chansend1`), as Go's dump prints them. The runtime's own goroutines (the
//! garbage collector's, the finalizer's) are left out, as Go's dump leaves them out; the OS
//! threads stay, as the scheduler's; a goroutine running or in a system call has the stack of
//! the OS thread running it.

use super::layout::Layout;
use super::GoProcess;
use crate::model::{Diagnostic, Frame, IdKind, Language, Thread, Var};
use crate::runtime::pointers;

/// The function that queues a goroutine on a semaphore: its first argument, and its caller's,
/// is the semaphore's address.
const SEMACQUIRE: &str = "runtime.semacquire1";

/// The runtime's wait on a `sync.Cond`'s notify list: it spills its first argument, the list
/// (inside the Cond: its `notify` field), which Go's dump prints and the rules read.
const NOTIFY_WAIT: [&str; 2] = ["sync.runtime_notifyListWait", "runtime.notifyListWait"];

/// The runtime's functions of a blocking channel send and receive: their first argument, and
/// their entry points' (`runtime.chanrecv1`), is the channel.
const CHAN_OPS: [&str; 2] = ["runtime.chansend", "runtime.chanrecv"];

/// The slow path of `sync.Mutex.Lock`, whose receiver holds the semaphore it sleeps on.
const MUTEX_SLOW: [&str; 2] = ["sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).lockSlow"];

/// `sync.RWMutex`'s write lock, and its read lock: their receiver is the lock.
const RWMUTEX_LOCK: &str = "sync.(*RWMutex).Lock";
const RWMUTEX_OPS: [&str; 2] = [RWMUTEX_LOCK, "sync.(*RWMutex).RLock"];

/// Frames from the semaphore's caller to an `RWMutex` operation, at most (its writers' mutex's
/// `lockSlow` and `Lock` between them).
const RWMUTEX_REACH: usize = 4;

/// The goroutine's first function when the runtime started it for itself.
fn is_system(frames: &[Frame]) -> bool {
    let first = (frames.iter().rev())
        .filter_map(|f| f.function.as_deref())
        .find(|f| !f.starts_with("runtime.goexit"));
    first.is_some_and(|f| f.starts_with("runtime.") && f != "runtime.main")
}

/// The semaphore `sema` a goroutine sleeps on as the first argument of the frames that pass it
/// on, the mutex around it (`mutex_sema` before it) as `lockSlow`'s receiver, and the
/// `sync.RWMutex` around either (its reader or writer semaphore, or its writers' mutex) as its
/// `Lock`'s or `RLock`'s receiver. Returns the addresses given: the semaphore, the mutex and
/// the RWMutex, one of which the rules read as the lock.
fn semaphore(frames: &mut [Frame], sema: u64, layout: &Layout) -> Vec<u64> {
    let Some(at) = frames
        .iter()
        .position(|f| f.function.as_deref() == Some(SEMACQUIRE))
    else {
        return Vec::new();
    };
    let mut given = vec![sema];
    for f in frames.iter_mut().skip(at).take(2) {
        first_arg(f, sema);
    }
    let caller = |frames: &[Frame], i: usize| -> Option<String> {
        Some(frames.get(i)?.function.as_deref()?.to_string())
    };
    let mut mutex = None;
    if (caller(frames, at + 2)).is_some_and(|n| MUTEX_SLOW.contains(&n.as_str())) {
        mutex = layout.mutex_sema.and_then(|o| sema.checked_sub(o));
        if let (Some(m), Some(f)) = (mutex, frames.get_mut(at + 2)) {
            first_arg(f, m);
            given.push(m);
        }
    }
    let Some(rw) = layout.rwmutex else {
        return given;
    };
    let Some(i) = (at + 2..frames.len().min(at + 2 + RWMUTEX_REACH))
        .find(|&i| (caller(frames, i)).is_some_and(|n| RWMUTEX_OPS.contains(&n.as_str())))
    else {
        return given;
    };
    let address = match (mutex, i == at + 2, caller(frames, i).as_deref()) {
        (Some(m), _, Some(RWMUTEX_LOCK)) => m.checked_sub(rw.w),
        (None, true, Some(RWMUTEX_LOCK)) => sema.checked_sub(rw.writer_sem),
        (None, true, _) => sema.checked_sub(rw.reader_sem),
        _ => None,
    };
    if let Some(a) = address {
        first_arg(&mut frames[i], a);
        given.push(a);
    }
    given
}

/// The channel `chan` as the first argument of the channel operation's frames.
fn channel(frames: &mut [Frame], chan: u64) {
    let Some(at) = (frames.iter())
        .position(|f| (f.function.as_deref()).is_some_and(|n| CHAN_OPS.contains(&n)))
    else {
        return;
    };
    let op = frames[at].function.clone().unwrap_or_default();
    for f in frames.iter_mut().skip(at).take(2) {
        if f.function.as_deref().is_some_and(|n| n.starts_with(&*op)) {
            first_arg(f, chan);
        }
    }
}

/// The notify list a goroutine waits on in a `sync.Cond`, as the first argument of the frame
/// that waits on it, read from that frame's spill slot (`first_args`, one per pc: the frames
/// of a pc are its inlined ones, then the one that called).
fn notify_list(frames: &mut [Frame], first_args: &[Option<u64>]) {
    let mut pc = 0;
    for f in frames.iter_mut() {
        let waits = (f.function.as_deref()).is_some_and(|n| NOTIFY_WAIT.contains(&n));
        if let (true, Some(&Some(list))) = (waits && f.args.is_empty(), first_args.get(pc)) {
            first_arg(f, list);
        }
        if !f.inlined {
            pc += 1;
        }
    }
}

/// `value` as the first argument of `f`, by position, as Go's dump prints them.
fn first_arg(f: &mut Frame, value: u64) {
    let first = Var::new("".into(), format!("{value:#x}").into());
    f.args = std::iter::once(first)
        .chain(f.args.iter().cloned())
        .collect();
}

/// The goroutines of `go` as threads, `frames` holding each one's symbolized frames and
/// `creators` its `go` statement's (in order), `os` the process's threads; what is said about
/// the read; and the locks goroutines sleep on (semaphores, the mutexes and RWMutexes around
/// them), which each goroutine's `stack_refs` is read against.
pub fn goroutines(
    go: &GoProcess,
    frames: Vec<Vec<Frame>>,
    creators: Vec<Vec<Frame>>,
    os: &[Thread],
) -> (Vec<Thread>, Vec<Diagnostic>, Vec<u64>) {
    let mut notes = go.notes.clone();
    let mut threads = Vec::new();
    let mut system = 0;
    // The locks goroutines sleep on, and each goroutine's stack words pointing near them.
    let mut locks = Vec::new();
    let mut words = Vec::new();
    for ((g, mut frames), creator) in go.goroutines.iter().zip(frames).zip(creators) {
        let mut cut = g.cut.clone();
        if let Some(tid) = g.tid {
            // The thread's frames are the goroutine's (a system call's, Go code running).
            match (os.iter()).find(|t| t.ns_tid.or(t.tid) == Some(tid)) {
                Some(t) => frames.clone_from(&t.frames),
                None => cut = Some(format!("it runs on thread {tid}, not in the capture")),
            }
        } else if g.pcs.is_empty() && cut.is_none() {
            cut = Some("it runs on no thread the runtime names".into());
        }
        if is_system(&frames) {
            system += 1;
            continue;
        }
        for f in &mut frames {
            f.language = Some(Language::Go);
        }
        if let Some(sema) = g.sema {
            locks.extend(semaphore(&mut frames, sema, &go.located.layout));
        }
        if let Some(chan) = g.chan {
            channel(&mut frames, chan);
        }
        if g.tid.is_none() {
            notify_list(&mut frames, &g.first_args);
        }
        if let Some(cut) = &cut {
            notes.push(format!("goroutine {}: its stack stops early: {cut}", g.id));
        }
        // As Go's dump says it: the function holding the `go` statement (the outermost frame
        // of its pc, inlined ones aside), at its line.
        let created = creator.last().and_then(|f| {
            let mut note = format!("created by {}", f.function.as_deref()?);
            if let (Some(file), Some(line)) = (&f.file, f.line) {
                note.push_str(&format!(" at {file}:{line}"));
            }
            Some(note)
        });
        words.push(g.stack_words.as_ref());
        // Where it runs, as Go's own dump (GOTRACEBACK=system) says: its M's thread, its P.
        let runs_on = g.tid.map(|tid| match g.p {
            Some(p) => format!("on LWP {tid} (its M), holding P {p}"),
            None => format!("on LWP {tid} (its M), holding no P"),
        });
        threads.push(Thread {
            notes: runs_on.into_iter().chain(created).collect(),
            debugger_id: Some(g.id.to_string()),
            id_kind: IdKind::Goroutine,
            status: Some(g.status.clone()),
            waited_minutes: g.waited_minutes,
            partial: cut.is_some(),
            frames,
            ..Thread::default()
        });
    }
    locks.sort_unstable();
    locks.dedup();
    for (t, w) in threads.iter_mut().zip(words) {
        t.stack_refs = w.map(|w| pointers::pointed_at(w.clone(), (0, 0), &locks));
    }
    notes.insert(
        0,
        format!(
            "Go {} read from memory in {} (runtime.allgs from its symbol table, the runtime's \
             structures from its DWARF): {} goroutines ({system} of the runtime's own left \
             out), {} pages read in {:.1} ms",
            go.version.as_deref().unwrap_or("(version unknown)"),
            go.located.object,
            threads.len(),
            go.cost.0,
            go.cost.1.as_secs_f64() * 1000.0
        ),
    );
    let diagnostics = notes
        .into_iter()
        .map(|message| Diagnostic {
            line: None,
            message,
        })
        .collect();
    (threads, diagnostics, locks)
}
