//! No wait without a deadline: the ptrace work of a capture runs on a thread of its own, the
//! tracer, while the calling thread watches it.
//!
//! `PTRACE_SEIZE` takes the target's `cred_guard_mutex`, which `execve` holds while it waits
//! for the process's other threads to be released; a traced thread that exits stays a zombie
//! until its tracer reaps it. A tracer blocked in that seize would wait for itself, and cannot
//! be interrupted (the kernel restarts the call after any signal). So when a seize has been
//! blocked for [`REAP_AFTER`], the watch reaps the exited tracees, by tid, among the threads
//! seized so far (never `P_ALL`: `hangscan run` has a child of its own whose status must stay
//! its own), and notes whether a thread of the process is in `execve`; the tracer then lets
//! go of everything and the capture is tried again. Past [`SEIZE_DEADLINE`] the watch gives
//! up: the caller gets its error at once, the tracer lets go of every thread as soon as its
//! seize returns, and the kernel detaches whatever is left when the tracer thread ends (or
//! hangscan exits). Being a thread of its own, the tracer also hands the kernel, when it ends,
//! any tracee a capture could not detach itself (one that exited, or stopped too late).

use super::ptrace;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a seize may be blocked before the watch reaps exited tracees: a seize takes
/// microseconds unless `execve` (or another tracer's attach, briefly) holds the lock.
const REAP_AFTER: Duration = Duration::from_millis(5);
/// How long a seize may stay blocked, exited tracees reaped, before the capture gives up.
pub const SEIZE_DEADLINE: Duration = Duration::from_secs(3);
/// How often the watch looks.
const TICK: Duration = Duration::from_millis(2);

/// What the tracer and its watch share.
#[derive(Default)]
pub struct Watch(Mutex<State>);

#[derive(Default)]
struct State {
    /// When the tracer entered the `PTRACE_SEIZE` it is in, if it is in one.
    seizing: Option<Instant>,
    /// Every thread seized so far: the only ones whose exits the watch may reap.
    seized: Vec<i32>,
    /// A thread of the process was seen in `execve` while a seize was blocked.
    exec_seen: bool,
    /// The watch gave up: the caller has its error.
    abandoned: bool,
}

/// Why the tracer must let go of everything after a seize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// A thread of the process was calling `execve`.
    Exec,
    /// The watch gave up waiting.
    Abandoned,
}

/// A seize stayed blocked past [`SEIZE_DEADLINE`].
#[derive(Debug)]
pub struct Stalled {
    /// How long it had been blocked.
    pub waited: Duration,
    /// Whether a thread of the process was seen in `execve` meanwhile.
    pub exec: bool,
}

impl Watch {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves the state as good as it was.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tracer enters a `PTRACE_SEIZE`.
    pub fn seizing(&self) {
        self.lock().seizing = Some(Instant::now());
    }

    /// The seize returned, having seized `tid` (or not). Whether the capture must now let go.
    pub fn returned(&self, tid: Option<i32>) -> Option<Interrupted> {
        let mut s = self.lock();
        s.seizing = None;
        s.seized.extend(tid);
        if s.abandoned {
            Some(Interrupted::Abandoned)
        } else if s.exec_seen {
            Some(Interrupted::Exec)
        } else {
            None
        }
    }
}

/// Runs `work` on a tracer thread of its own, watching it (see the module doc): its result,
/// or how it stalled. `Err(None)`: the thread could not start, or panicked.
pub fn traced<T: Send + 'static>(
    pid: i32,
    work: impl FnOnce(&Watch) -> T + Send + 'static,
) -> Result<T, Option<Stalled>> {
    let watch = Arc::new(Watch::default());
    let (tx, rx) = mpsc::channel();
    let shared = Arc::clone(&watch);
    std::thread::Builder::new()
        .name("hangscan-tracer".into())
        .spawn(move || {
            let _ = tx.send(work(&shared));
        })
        .map_err(|_| None)?;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(result) => return Ok(result),
            Err(RecvTimeoutError::Disconnected) => return Err(None),
            Err(RecvTimeoutError::Timeout) => {}
        }
        let (since, seized) = {
            let s = watch.lock();
            match s.seizing {
                Some(since) if since.elapsed() >= REAP_AFTER => (since, s.seized.clone()),
                _ => continue,
            }
        };
        for tid in seized {
            ptrace::reap_if_exited(tid);
        }
        let exec = exec_in_progress(pid);
        let mut s = watch.lock();
        s.exec_seen |= exec;
        // The seize may have returned meanwhile: only the one still blocked counts.
        if s.seizing == Some(since) && since.elapsed() >= SEIZE_DEADLINE {
            s.abandoned = true;
            return Err(Some(Stalled {
                waited: since.elapsed(),
                exec: s.exec_seen,
            }));
        }
    }
}

/// Whether a thread of `pid` is inside `execve`, waiting for the others to end (its `wchan`;
/// read without the lock an exec holds, unlike `/proc/PID/syscall` or `stack`).
pub fn exec_in_progress(pid: i32) -> bool {
    super::procinfo::list_tasks(pid)
        .unwrap_or_default()
        .iter()
        .any(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan"))
                .is_ok_and(|w| w.contains("exec") || w.contains("de_thread"))
        })
}
