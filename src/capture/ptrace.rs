//! Stopping every thread of a process without harming it: `PTRACE_SEIZE` + `PTRACE_INTERRUPT`
//! (never `PTRACE_ATTACH`, which sends a SIGSTOP the target could observe), repeated until the
//! thread set is stable, and `PTRACE_DETACH` of every thread when the guard is dropped, also
//! on errors and panics. A signal the kernel was delivering when a thread stopped is handed
//! back on detach, so none is lost. If hangscan itself is killed, the kernel detaches for it,
//! and delivers such a signal too, because stops are only peeked at (see [`wait`]).
//!
//! A thread in uninterruptible sleep (`D`: a vfork parent, a stuck NFS read) does not stop
//! until it leaves it. Stops are awaited for [`STOP_TIMEOUT`] at most; such a thread is left
//! out (and said to be), and the kernel lets it go when the tracer thread ends.
//!
//! Seizing runs under a [`Watch`] (see [`super::watch`]): a thread of the process in `execve`
//! makes the capture let go of everything and say so ([`SeizeError::Exec`]).

use super::watch::{Interrupted, Watch};
use nix::errno::Errno;
use nix::sys::ptrace;
use nix::unistd::Pid;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long the threads of one batch may take to stop, in all.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a thread must stay in uninterruptible sleep before it is given up.
const D_PATIENCE: Duration = Duration::from_millis(50);
/// How long a given-up thread is waited for once more when the others are released: one that
/// stops meanwhile is detached properly (with the signal it was delivering), not left to the
/// kernel's detach at hangscan's exit.
const LAST_CALL: Duration = Duration::from_millis(20);

/// Why a thread could not be stopped.
#[derive(Debug)]
pub enum SeizeError {
    /// The process does not exist (or exited).
    Gone,
    /// The kernel refused to let us trace thread `tid` (`EPERM`): another tracer holds it, or
    /// hangscan may not trace this process. [`super::access`] finds out which.
    Refused {
        /// The thread refused.
        tid: i32,
    },
    /// A thread of the process was calling `execve` (which replaces every thread): all were
    /// let go; the capture may be tried again once the exec is done.
    Exec,
    /// The watch gave up on a seize blocked in the kernel; the caller has its error already.
    Abandoned,
    /// Anything else the kernel said.
    Other(Errno),
}

impl From<Interrupted> for SeizeError {
    fn from(i: Interrupted) -> Self {
        match i {
            Interrupted::Exec => SeizeError::Exec,
            Interrupted::Abandoned => SeizeError::Abandoned,
        }
    }
}

/// Every thread of a process, stopped. Dropping it resumes them all.
pub struct Seized {
    /// Stopped threads and the signal to hand back on detach (a signal-delivery stop).
    /// (The signal is a raw number: realtime signals are not in nix's `Signal`.)
    stopped: BTreeMap<i32, i32>,
    /// Threads seized and interrupted whose stop has not been collected yet.
    pending: Vec<i32>,
    /// Threads that exited while we were stopping the others.
    pub vanished: Vec<i32>,
    /// Threads that did not stop within [`STOP_TIMEOUT`] (uninterruptible sleep).
    pub unstoppable: Vec<i32>,
}

/// How waiting for a seized thread's stop ended.
enum Awaited {
    /// Stopped, with the signal it was delivering (0: none).
    Stopped(i32),
    /// Not stopped in time (or in uninterruptible sleep for [`D_PATIENCE`]).
    NotStopped,
    /// It exited.
    Gone,
}

impl Seized {
    /// Stops every thread of `pid`, re-reading the thread list until no new thread appears.
    /// On an error, the threads stopped so far are resumed before it is returned. Runs on the
    /// tracer thread of `watch` (every later ptrace call on these threads must come from it).
    pub fn stop_all(pid: i32, watch: &Watch) -> Result<Self, SeizeError> {
        let mut s = Seized {
            stopped: BTreeMap::new(),
            pending: Vec::new(),
            vanished: Vec::new(),
            unstoppable: Vec::new(),
        };
        for _round in 0..100 {
            let tids = super::procinfo::list_tasks(pid).ok_or(SeizeError::Gone)?;
            let new: Vec<i32> = tids
                .into_iter()
                .filter(|t| {
                    !s.stopped.contains_key(t)
                        && !s.vanished.contains(t)
                        && !s.unstoppable.contains(t)
                })
                .collect();
            if new.is_empty() {
                break;
            }
            // Seize and interrupt the whole batch first, then collect the stops: the threads
            // stop in parallel instead of one scheduling round-trip at a time.
            for tid in new {
                match s.seize_one(tid, watch) {
                    Ok(()) => {}
                    // (Also the first thread: it may have ended with pthread_exit while the
                    // others run on; if they are all gone, nothing is stopped: `Gone` below.)
                    Err(SeizeError::Gone) => s.vanished.push(tid),
                    // The drop lets go of the threads seized so far.
                    Err(
                        e @ (SeizeError::Refused { .. } | SeizeError::Exec | SeizeError::Abandoned),
                    ) => return Err(e),
                    Err(e) if s.stopped.is_empty() && s.pending.is_empty() && tid == pid => {
                        return Err(e)
                    }
                    Err(_) => s.vanished.push(tid),
                }
            }
            s.collect_stops(STOP_TIMEOUT);
        }
        if s.stopped.is_empty() {
            return Err(SeizeError::Gone);
        }
        Ok(s)
    }

    /// `PTRACE_SEIZE` then `PTRACE_INTERRUPT`: the thread will stop soon.
    fn seize_one(&mut self, tid: i32, watch: &Watch) -> Result<(), SeizeError> {
        let p = Pid::from_raw(tid);
        watch.seizing();
        let seized = ptrace::seize(p, ptrace::Options::empty());
        let interrupted = watch.returned(seized.is_ok().then_some(tid));
        if let Err(e) = seized {
            return Err(match (interrupted, e) {
                (Some(i), _) => i.into(),
                (None, e) => refused(tid, e),
            });
        }
        if let Err(e) = ptrace::interrupt(p) {
            // It runs on, traced until we detach or exit; PTRACE_DETACH needs it stopped.
            let _ = ptrace::detach(p, None);
            return Err(match e {
                Errno::ESRCH => SeizeError::Gone,
                other => SeizeError::Other(other),
            });
        }
        // From here the guard owns the thread: it is detached on drop whatever happens next.
        self.pending.push(tid);
        match interrupted {
            Some(i) => Err(i.into()),
            None => Ok(()),
        }
    }

    /// Collects the stops of the pending threads, waiting `limit` at most for them all.
    fn collect_stops(&mut self, limit: Duration) {
        for (tid, awaited) in await_stops(std::mem::take(&mut self.pending), limit) {
            match awaited {
                Awaited::Stopped(sig) => {
                    self.stopped.insert(tid, sig);
                }
                Awaited::NotStopped => self.unstoppable.push(tid),
                Awaited::Gone => self.vanished.push(tid),
            }
        }
    }

    /// The stopped threads, in tid order.
    pub fn tids(&self) -> Vec<i32> {
        self.stopped.keys().copied().collect()
    }

    /// Resumes every thread now.
    pub fn detach(mut self) {
        self.detach_all();
    }

    fn detach_all(&mut self) {
        // Threads seized when an error (or a panic) came before their stop was collected:
        // PTRACE_DETACH fails on a thread that is not stopped, which would leave it to stop on
        // the interrupt and stay stopped until hangscan exits. Collect their stops first.
        self.collect_stops(STOP_TIMEOUT);
        for (tid, sig) in std::mem::take(&mut self.stopped) {
            // ESRCH: it exited meanwhile; nothing to resume.
            detach(tid, sig);
        }
        for (tid, awaited) in await_stops(std::mem::take(&mut self.unstoppable), LAST_CALL) {
            match awaited {
                Awaited::Stopped(sig) => detach(tid, sig),
                // Still asleep: the kernel lets it go when hangscan exits.
                Awaited::NotStopped => self.unstoppable.push(tid),
                Awaited::Gone => {}
            }
        }
    }
}

impl Drop for Seized {
    fn drop(&mut self) {
        self.detach_all();
    }
}

/// Waits until the seized threads `tids` stop, `limit` at most for them all, and says how each
/// wait ended. Threads stop within microseconds of the interrupt, unless they are in
/// uninterruptible sleep. Every pass peeks at all the threads still pending, then one pause
/// (growing from 50 µs to 1 ms) serves them all: nobody is slept on one at a time, so
/// 10 000 threads cost one pass more than their stops. After 10 ms, a thread the kernel keeps
/// showing in `D` (looked at every 10 ms) for [`D_PATIENCE`] is given up (the others are
/// frozen meanwhile; threads pass through `D` briefly all the time).
fn await_stops(tids: Vec<i32>, limit: Duration) -> Vec<(i32, Awaited)> {
    let since = Instant::now();
    let mut done = Vec::with_capacity(tids.len());
    let mut pending = tids;
    let mut asleep: HashMap<i32, Instant> = HashMap::new();
    let mut pause = Duration::from_micros(50);
    let mut next_look = Duration::from_millis(10);
    while !pending.is_empty() {
        pending.retain(|&tid| loop {
            match wait(tid) {
                Ok(Stop::Running) => return true,
                // PTRACE_EVENT_STOP: the interrupt (or a group stop) took effect.
                Ok(Stop::Event) => done.push((tid, Awaited::Stopped(0))),
                // The thread was delivering a signal: it is stopped now; give it back later.
                Ok(Stop::Signal(sig)) => done.push((tid, Awaited::Stopped(sig))),
                Err(Errno::EINTR) => continue,
                Ok(Stop::Gone) | Err(_) => done.push((tid, Awaited::Gone)),
            }
            return false;
        });
        if pending.is_empty() {
            break;
        }
        let waited = since.elapsed();
        if waited >= limit {
            done.extend(pending.drain(..).map(|t| (t, Awaited::NotStopped)));
            break;
        }
        // The states are read every 10 ms, not every pass: with thousands of threads still
        // pending (a loaded machine is slow to run them to their stops) a read per thread
        // and pass would be most of the work.
        if waited >= next_look {
            next_look = waited + Duration::from_millis(10);
            let now = Instant::now();
            pending.retain(|&tid| {
                if !in_uninterruptible_sleep(tid) {
                    asleep.remove(&tid);
                    return true;
                }
                let since = *asleep.entry(tid).or_insert(now);
                if now.duration_since(since) < D_PATIENCE {
                    return true;
                }
                done.push((tid, Awaited::NotStopped));
                false
            });
        }
        std::thread::sleep(pause.min(limit.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(1));
    }
    done
}

/// What `waitpid` says of a traced thread.
enum Stop {
    /// Not stopped yet.
    Running,
    /// A `PTRACE_EVENT_STOP` (the interrupt, or a group stop).
    Event,
    /// A signal-delivery stop, with the signal's number (realtime ones included).
    Signal(i32),
    /// It exited.
    Gone,
}

/// Whether thread `tid` has stopped, without consuming the stop: `waitid(P_PID, tid, WEXITED |
/// WSTOPPED | WNOHANG | WNOWAIT | __WALL)`, decoded from the raw status (nix's `WaitStatus`
/// cannot hold a realtime signal).
///
/// `WNOWAIT` keeps the signal safe: a plain wait makes the kernel clear the stopped thread's
/// code (the signal it was delivering), after which the signal lives only in hangscan's
/// memory. Were hangscan killed before its `PTRACE_DETACH` hands it back, the kernel's own
/// detach would resume the thread without it. Left in place, the kernel delivers it either
/// way. An exit is collected for real (the dead thread reaped).
fn wait(tid: i32) -> Result<Stop, Errno> {
    // SAFETY: an all-zero siginfo_t is valid (and si_pid 0 means "nothing to report").
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WSTOPPED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL;
    // SAFETY: waitid writes one siginfo_t through a valid pointer.
    if unsafe { libc::waitid(libc::P_PID, tid as libc::id_t, &mut info, flags) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: waitid filled the SIGCHLD fields (or left them zero).
    let (who, status) = unsafe { (info.si_pid(), info.si_status()) };
    if who == 0 {
        return Ok(Stop::Running);
    }
    match info.si_code {
        // A ptrace stop: `status` is the thread's stop code, the signal it was delivering or
        // SIGTRAP/the group-stop signal with PTRACE_EVENT_STOP in the next byte.
        libc::CLD_TRAPPED if status >> 8 == libc::PTRACE_EVENT_STOP => Ok(Stop::Event),
        libc::CLD_TRAPPED => Ok(Stop::Signal(status & 0xff)),
        libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED => {
            let mut raw = 0;
            // SAFETY: waitpid writes one int through a valid pointer.
            unsafe { libc::waitpid(tid, &mut raw, libc::__WALL | libc::WNOHANG) };
            Ok(Stop::Gone)
        }
        _ => Ok(Stop::Running),
    }
}

/// `PTRACE_DETACH`, handing back signal `sig` (0: none). ESRCH: it exited (killed by an
/// `execve` or an exit of the process meanwhile); it is reaped if it is a zombie already,
/// which an `execve` waits for.
fn detach(tid: i32, sig: i32) {
    // SAFETY: PTRACE_DETACH takes no pointers; the signal travels in `data`.
    let done = unsafe {
        libc::ptrace(
            libc::PTRACE_DETACH,
            tid,
            std::ptr::null_mut::<libc::c_void>(),
            sig as usize as *mut libc::c_void,
        )
    };
    if done < 0 {
        reap_if_exited(tid);
    }
}

/// Reaps traced thread `tid` if it has exited, leaving a stop alone (peeked at, never
/// consumed: see [`wait`]). Any thread of hangscan may do it.
pub fn reap_if_exited(tid: i32) {
    let _ = wait(tid);
}

/// Why `PTRACE_SEIZE` of thread `tid` failed with `errno`.
fn refused(tid: i32, errno: Errno) -> SeizeError {
    match errno {
        Errno::ESRCH => SeizeError::Gone,
        // The kernel refuses to seize a thread that has already exited (a zombie still listed
        // in /proc) with EPERM, not ESRCH: in a program that ends threads all the time that is
        // no permission problem.
        Errno::EPERM if super::procinfo::exited(tid) => SeizeError::Gone,
        // A thread this very tracer holds under another tid: one that called execve took the
        // process's first tid, which the kernel refuses to seize twice.
        Errno::EPERM if traced_by_me(tid) => SeizeError::Exec,
        Errno::EPERM | Errno::EACCES => SeizeError::Refused { tid },
        other => SeizeError::Other(other),
    }
}

/// Whether thread `tid` is traced by hangscan itself (by any of its threads).
fn traced_by_me(tid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).unwrap_or_default();
    let tracer = super::procinfo::field(&status, "TracerPid:").and_then(|v| v.parse::<i32>().ok());
    tracer.is_some_and(|t| t != 0 && super::procinfo::process_of(t).0 == std::process::id())
}

/// Whether the kernel shows thread `tid` in uninterruptible sleep (`D` in its stat).
fn in_uninterruptible_sleep(tid: i32) -> bool {
    super::procinfo::state_letter(tid) == Some('D')
}
