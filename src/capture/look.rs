//! The second look: a `/proc` sample of the threads hangscan stopped, taken on a thread of its
//! own `interval` after the first sample (the one just before the stop), while the copies are
//! unwound and symbolized. The target is not stopped for it. Compared with the first sample, it
//! says what each thread did meanwhile: CPU time, voluntary and involuntary context switches,
//! and whether it still sits in the very system call the stop found it in. Joined into the
//! snapshot before analysis ([`SecondLook::finish`]).

use super::procinfo::{self, InSyscall, Sample};
use crate::model::{KernelState, Snapshot, Syscall, ThreadLook};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Voluntary context switches hangscan's own stop causes a sleeping thread: one as the stop
/// wakes it into the ptrace stop, one as it goes back to sleep after the detach (measured on
/// threads blocked in `futex`, `nanosleep` and `read`).
const OWN_STOP_SWITCHES: u64 = 2;

/// CPU time, in microseconds, below which a thread that did not switch did nothing but go
/// through hangscan's stop (which costs it microseconds).
const QUIET_CPU_US: u64 = 1000;

/// One thread as the stop found it.
pub(super) struct Stopped {
    /// Its id.
    pub tid: i32,
    /// The system call it was blocked in (from its registers), if any.
    pub syscall: Option<Syscall>,
    /// hangscan stopped it (so it paid [`OWN_STOP_SWITCHES`]).
    pub by_us: bool,
}

/// What the second look needs.
pub(super) struct Job {
    /// The process.
    pub pid: i32,
    /// When the first sample was begun.
    pub began: Instant,
    /// The least time between the samples.
    pub interval: Duration,
    /// The first sample, with its counters.
    pub first: Arc<HashMap<i32, Sample>>,
    /// The threads the capture has.
    pub threads: Vec<Stopped>,
}

/// Why a capture has no second look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoSecondLook {
    /// One sample was asked for (`--samples 1`).
    OneSample,
    /// The process replaced its program (`execve`) while it was sampled.
    Exec,
    /// No thread could be started to take it (out of memory or threads).
    NoThread,
}

/// A second look under way, or why there is none.
pub struct SecondLook(Pending);

enum Pending {
    Running(JoinHandle<HashMap<u64, (ThreadLook, u64)>>),
    Missing(NoSecondLook),
}

impl SecondLook {
    /// Starts the second look on a thread of its own.
    pub(super) fn start(job: Job) -> SecondLook {
        match std::thread::Builder::new()
            .name("hangscan-look".into())
            .spawn(move || job.run())
        {
            Ok(handle) => SecondLook(Pending::Running(handle)),
            Err(_) => SecondLook::missing(NoSecondLook::NoThread),
        }
    }

    /// No second look, for `why`.
    pub(super) fn missing(why: NoSecondLook) -> SecondLook {
        SecondLook(Pending::Missing(why))
    }

    /// Waits for the look (if it is not done yet) and gives each thread of `snap` what it
    /// showed of it, by tid; when there was none, says why in a diagnostic.
    pub fn finish(self, snap: &mut Snapshot) {
        let why = match self.0 {
            Pending::Running(handle) => match handle.join() {
                Ok(looks) => {
                    for t in &mut snap.threads {
                        let look = t.tid.and_then(|tid| looks.get(&tid));
                        if let (Some(k), Some((look, ticks))) = (t.kernel.as_mut(), look) {
                            k.cpu_ticks_delta = Some(*ticks);
                            k.switches_delta = Some(look.voluntary + look.involuntary);
                            k.second_look = Some(*look);
                        }
                    }
                    return;
                }
                Err(_) => NoSecondLook::NoThread,
            },
            Pending::Missing(why) => why,
        };
        snap.diagnostics.push(missing_note(why));
    }
}

/// The note for a capture without a second look.
fn missing_note(why: NoSecondLook) -> crate::model::Diagnostic {
    crate::stackwalk::no_second_look(match why {
        NoSecondLook::OneSample => "one /proc sample was asked for (--samples 1)",
        NoSecondLook::Exec => {
            "the process replaced its program (execve) while it was sampled (attach again once \
             it has started)"
        }
        NoSecondLook::NoThread => {
            "no thread could be started to take it (hangscan is out of threads or memory: raise \
             its limits, `ulimit -u` and `ulimit -v`)"
        }
    })
}

impl Job {
    /// Sleeps until `interval` after the first sample, samples the threads again and
    /// compares: each thread's look and the clock ticks of CPU it used.
    fn run(self) -> HashMap<u64, (ThreadLook, u64)> {
        if let Some(rest) = self.interval.checked_sub(self.began.elapsed()) {
            std::thread::sleep(rest);
        }
        let at = self.began.elapsed();
        let interval_ms = at.as_millis() as u64;
        self.threads
            .par_iter()
            .filter_map(|t| {
                let before = self.first.get(&t.tid)?;
                let after = procinfo::read_again(self.pid, t.tid)?;
                let (b, a) = (before.counters?, after.counters?);
                let own = if t.by_us { OWN_STOP_SWITCHES } else { 0 };
                let mut look = ThreadLook {
                    interval_ms,
                    cpu_us: a.cpu_ns.saturating_sub(b.cpu_ns) / 1000,
                    voluntary: a.voluntary.saturating_sub(b.voluntary).saturating_sub(own),
                    involuntary: a.involuntary.saturating_sub(b.involuntary),
                    state: after.state,
                    same_wait: None,
                };
                // Whether it still sits in the same wait matters only for a thread the counters
                // saw do nothing: no switch, and at most the microseconds of CPU the stop costs
                // it. Asleep again with no switch, it never left the wait (going to sleep in
                // another is a switch); else the syscall file (the dearest to read) says.
                let quiet = look.cpu_us < QUIET_CPU_US && look.voluntary + look.involuntary == 0;
                if quiet {
                    look.same_wait = match (&t.syscall, after.state) {
                        (Some(_), KernelState::Sleeping) => Some(true),
                        _ => same_wait(self.pid, t, before, &after),
                    };
                }
                let ticks = look.cpu_us * procfs::ticks_per_second() / 1_000_000;
                Some((t.tid as u64, (look, ticks)))
            })
            .collect()
    }
}

/// Whether thread `t` still sits in the wait the stop found it in: the same system call with
/// the same arguments (or the kernel's `restart_syscall` resuming it after the stop), or, for
/// a thread in uninterruptible sleep the stop could not reach, the same `wchan`.
fn same_wait(pid: i32, t: &Stopped, before: &Sample, after: &Sample) -> Option<bool> {
    match &t.syscall {
        Some(stop) => Some(match procinfo::syscall_now(pid, t.tid)? {
            InSyscall::Call { number, args } => {
                number == crate::syscalls::RESTART_SYSCALL
                    || (number == stop.number && args == stop.args)
            }
            InSyscall::Outside => false,
        }),
        None => Some(before.wchan.as_ref()? == after.wchan.as_ref()?),
    }
}
