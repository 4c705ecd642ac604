//! Live capture (Linux only; the only home of ptrace and `unsafe`-adjacent system calls).
//!
//! Order matters for the target: sample `/proc` (no stop), then stop every thread, copy
//! registers, the top of each stack, the vdso and the memory around each futex word, and detach
//! at once. The slow work (unwinding, symbolizing, analysis) happens after the target runs again,
//! and the second look at `/proc` ([`look`]) is taken meanwhile, on a thread of its own.
//! The result, a [`ProcessImage`], is what a core file also gives: registers, memory, mappings.
//! The stop runs on a tracer thread of its own, under a watch with deadlines ([`watch`]); a
//! process that calls `execve` meanwhile is let go and captured again, a few times at most.

mod access;
mod holders;
mod ids;
mod kernel_facts;
mod look;
mod maps;
mod memory;
mod procinfo;
mod ptrace;
pub mod runner;
mod sockets;
pub mod tree;
mod watch;

pub use maps::address_space;

pub use look::SecondLook;

use crate::error::{Error, Result};
use crate::limits::MAX_FRAMES;
use crate::model::{Evidence, FutexWait, KernelInfo, KernelState, StoppedBy, Syscall};
use crate::runtime::{go, python};
use crate::stackwalk::{ImageThread, ProcessImage};
use crate::unwind::{AddressSpace, MemoryRegion, Regs};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to capture.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Bytes of stack copied per thread, from the stack pointer up.
    pub stack_bytes: usize,
    /// `/proc` samples: one before the stop, and with 2 a second look after it, taken while
    /// the stacks are unwound (it tells busy threads from stuck ones).
    pub samples: u32,
    /// The least time between the two samples.
    pub interval: Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            stack_bytes: 64 * 1024,
            samples: 2,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// The least time between the sample before the stop and the second look, by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(50);

/// A capture: the image, and the second look under way (join it with
/// [`SecondLook::finish`] once the image is unwound).
pub struct Captured {
    /// What was copied while the process was stopped.
    pub image: ProcessImage,
    /// The second look at `/proc`.
    pub second_look: SecondLook,
    /// Its ties to other processes, read from `/proc` once it ran again.
    pub facts: crate::model::ProcessFacts,
}

/// The x86-64 red zone below the stack pointer, which leaf functions may use.
const RED_ZONE: u64 = 128;
/// How many times a capture is tried when the process calls `execve` meanwhile.
const EXEC_TRIES: u32 = 5;
/// How long a retry waits at most for an `execve` in progress to finish.
const EXEC_SETTLE: Duration = Duration::from_secs(1);
/// The pause before the first retry after a refusal that may pass (doubled each time).
const REFUSED_PAUSE: Duration = Duration::from_millis(25);

/// Captures process `pid`, whose mappings `space` holds (see [`address_space`]). The target is
/// stopped only between "stop" and "detach" in [`frozen`]. An `execve` during the capture
/// (which replaces the threads and the mappings) makes it start again, [`EXEC_TRIES`] times
/// at most; so does a refusal that may pass (another tracer, which may let go, or one that let
/// go meanwhile).
pub fn capture(pid: u32, opts: &CaptureOptions, space: AddressSpace) -> Result<Captured> {
    let ipid = i32::try_from(pid).map_err(|_| Error::NoProcess { pid })?;
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(Error::NoProcess { pid });
    }
    if let Some(e) = access::untraceable(pid) {
        return Err(e);
    }
    let mut space = space;
    let mut refused = None;
    let mut pause = REFUSED_PAUSE;
    for attempt in 1..=EXEC_TRIES {
        match capture_once(pid, opts, space) {
            Ok(image) => return Ok(image),
            Err(Failed::Error(e)) => return Err(e),
            Err(Failed::Exec) => {}
            Err(Failed::Refused(e)) => refused = Some(e),
        }
        if attempt == EXEC_TRIES {
            break;
        }
        if refused.is_some() {
            std::thread::sleep(pause);
            pause *= 2;
        }
        let settle = Instant::now();
        while watch::exec_in_progress(ipid) && settle.elapsed() < EXEC_SETTLE {
            std::thread::sleep(Duration::from_millis(1));
        }
        space = address_space(pid);
    }
    // The last refusal, when there was one (the exec was no reason for it).
    Err(refused.unwrap_or(Error::ExecRace {
        pid,
        tries: EXEC_TRIES,
    }))
}

/// Why one try failed.
enum Failed {
    /// For good.
    Error(Error),
    /// A thread of the process called `execve`: try again.
    Exec,
    /// Refused by a tracer, or for no reason `/proc` shows: try again; this error if it lasts.
    Refused(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Failed::Error(e)
    }
}

/// What was read of the process before it was stopped.
type Sampled = Arc<HashMap<i32, procinfo::Sample>>;

/// The runtimes located before the stop: each to read, or named as unreadable.
struct Runtimes {
    python: Option<std::result::Result<python::Located, python::Unreadable>>,
    go: Option<std::result::Result<go::Located, go::Unreadable>>,
}

fn capture_once(
    pid: u32,
    opts: &CaptureOptions,
    mut space: AddressSpace,
) -> std::result::Result<Captured, Failed> {
    let ipid = pid as i32;
    let mut mark = image_mark(ipid);
    if mark.is_some_and(|m| !m.within(&space)) {
        // An execve came after the caller read the mappings.
        space = address_space(pid);
    }
    let began = Instant::now();
    let mut twice = opts.samples >= 2;
    let mut first = procinfo::sample(ipid, twice);
    // An execve while the process was sampled only means reading the new program's mappings
    // and threads now: what must be one image is the stop, checked from here to the detach.
    // The second look, which would compare two programs, is not taken.
    let now = image_mark(ipid);
    if now != mark {
        mark = now;
        space = address_space(pid);
        twice = false;
        first = procinfo::sample(ipid, false);
    }
    let first: Sampled = Arc::new(first);
    let sampled = first.clone();
    let opts_copy = opts.clone();
    // Found from the files before the stop: only the runtimes' memory is read while it.
    let runtimes = Runtimes {
        python: python::locate(&space),
        go: go::locate(&space),
    };
    let image = watch::traced(ipid, move |watch| {
        frozen(pid, &opts_copy, space, runtimes, &sampled, began, watch)
    })
    .map_err(|stalled| match stalled {
        Some(s) => Error::Stalled {
            pid,
            secs: s.waited.as_secs_f64(),
            exec: s.exec,
        },
        None => Error::Capture {
            pid,
            detail: "the tracer thread could not start or stopped early, most likely out of \
                         memory or threads; the process was let go unharmed. Raise the limit \
                         (`ulimit -v`, `ulimit -u`, the cgroup's memory.max or pids.max) and try \
                         again"
                .into(),
        },
    })?
    .map_err(|failed| match failed {
        // Refused, or the first thread gone, while a thread replaced the program?
        Failed::Refused(_) | Failed::Error(Error::ProcessGone { .. })
            if exec_went_on(ipid, mark) =>
        {
            Failed::Exec
        }
        other => other,
    })?;
    // The same program image from start to end, or a capture of two halves.
    if image_mark(ipid) != mark {
        return Err(Failed::Exec);
    }
    let second_look = if !twice {
        SecondLook::missing(if opts.samples >= 2 {
            look::NoSecondLook::Exec
        } else {
            look::NoSecondLook::OneSample
        })
    } else {
        let threads = image
            .threads
            .iter()
            .map(|t| look::Stopped {
                tid: t.tid as i32,
                syscall: t.kernel.syscall.clone(),
                by_us: t.regs.is_some(),
            })
            .collect();
        SecondLook::start(look::Job {
            pid: ipid,
            began,
            interval: opts.interval,
            first,
            threads,
        })
    };
    let blocked: Vec<&Syscall> = (image.threads.iter())
        .filter_map(|t| t.kernel.syscall.as_ref())
        .collect();
    let facts = kernel_facts::read(pid, &blocked);
    Ok(Captured {
        image,
        second_look,
        facts,
    })
}

/// Whether process `pid` is replacing its program or has replaced it since `mark` was taken:
/// its first thread is a zombie until the exec is done, so this looks for a few milliseconds.
fn exec_went_on(pid: i32, mark: Option<ImageMark>) -> bool {
    let since = Instant::now();
    while since.elapsed() < Duration::from_millis(50) {
        if watch::exec_in_progress(pid) {
            return true;
        }
        if let Some(now) = image_mark(pid) {
            return Some(now) != mark;
        }
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Where the kernel put the program's code and first stack (`/proc/PID/stat`), different after
/// every `execve` (address-space randomization), the same otherwise. `None`: not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ImageMark {
    start_code: u64,
    start_stack: u64,
}

impl ImageMark {
    /// Whether the mappings `space` are this image's (its first stack is among them).
    fn within(&self, space: &AddressSpace) -> bool {
        space
            .objects
            .iter()
            .any(|m| m.start <= self.start_stack && self.start_stack < m.end)
    }
}

fn image_mark(pid: i32) -> Option<ImageMark> {
    let fields = procinfo::stat_fields(pid)?;
    // Fields 26 (startcode) and 28 (startstack); `stat_fields` starts at field 3.
    let mut f = fields.split_whitespace().skip(23);
    let start_code = f.next()?.parse().ok()?;
    let start_stack = f.nth(1)?.parse().ok()?;
    (start_stack != 0).then_some(ImageMark {
        start_code,
        start_stack,
    })
}

/// Stops every thread, copies what the unwinder needs, lets go (on the tracer thread).
fn frozen(
    pid: u32,
    opts: &CaptureOptions,
    space: AddressSpace,
    runtimes: Runtimes,
    sampled: &HashMap<i32, procinfo::Sample>,
    began: Instant,
    watch: &watch::Watch,
) -> std::result::Result<ProcessImage, Failed> {
    let ipid = pid as i32;
    let started = Instant::now();
    let seized = ptrace::Seized::stop_all(ipid, watch).map_err(|e| match e {
        ptrace::SeizeError::Exec => Failed::Exec,
        // A first thread that is a zombie while another replaces the program.
        _ if watch::exec_in_progress(ipid) => Failed::Exec,
        // Gone: no thread of it is alive (a zombie first thread alone is not gone).
        _ if ids::reader(ipid).is_none() => Error::ProcessGone { pid }.into(),
        ptrace::SeizeError::Gone => Error::ProcessGone { pid }.into(),
        ptrace::SeizeError::Refused { tid } => match access::refusal(pid, tid) {
            access::Refusal::Final(e) => e.into(),
            access::Refusal::Transient(e) => Failed::Refused(e),
        },
        // The caller has its error already (the watch gave up).
        ptrace::SeizeError::Abandoned => Failed::Exec,
        ptrace::SeizeError::Other(errno) => Error::Capture {
            pid,
            detail: errno.desc().to_string(),
        }
        .into(),
    })?;
    // The end of the mapping holding a stack pointer (mappings are sorted by start).
    let stack_map = |sp: u64| {
        let i = space
            .objects
            .partition_point(|m| m.start <= sp)
            .checked_sub(1)?;
        let m = &space.objects[i];
        (sp < m.end).then_some(m.end)
    };
    let tids = seized.tids();
    // Memory is read through a live thread: a zombie leader's pid reaches none.
    let via = ids::reader(ipid).unwrap_or(ipid);
    let (stack_bytes, shared) = crate::limits::stack_share(opts.stack_bytes, tids.len());
    // Registers first: only this thread, the tracer, may ask for them. The copies that follow
    // need no tracer, so they run on every core; the futex words are read once each (a
    // thousand idle workers wait on one condition variable).
    let regs: Vec<(i32, Option<(Regs, u64)>)> = tids
        .iter()
        .map(|&tid| {
            let r = nix::sys::ptrace::getregs(nix::unistd::Pid::from_raw(tid)).ok();
            (tid, r.map(|r| (to_regs(&r), r.orig_rax)))
        })
        .collect();
    let copied: Vec<(Option<MemoryRegion>, Option<Syscall>, Option<FutexWait>)> = regs
        .par_iter()
        .map(|(_, r)| {
            let Some((r, orig_rax)) = r else {
                return (None, None, None);
            };
            let start = r.rsp.saturating_sub(RED_ZONE);
            let end = stack_map(r.rsp)
                .unwrap_or(u64::MAX)
                .min(start.saturating_add(stack_bytes as u64));
            let stack = MemoryRegion {
                start,
                bytes: memory::read(via, start, end.saturating_sub(start) as usize),
            };
            let syscall = crate::syscalls::blocked_in(r, *orig_rax);
            let futex = syscall.as_ref().and_then(crate::syscalls::futex_wait);
            (Some(stack), syscall, futex)
        })
        .collect();
    let words: BTreeSet<u64> = copied.iter().filter_map(|c| Some(c.2?.address)).collect();
    let evidence: Vec<Evidence> = words
        .into_par_iter()
        .filter_map(|w| crate::syscalls::futex_evidence(w, |a, n| memory::read(via, a, n)))
        .collect();
    // The runtimes' threads and frames, read while the threads cannot change them.
    let read = |a: u64, n: usize| memory::read(via, a, n);
    let futexes: Vec<u64> = copied.iter().filter_map(|c| Some(c.2?.address)).collect();
    let python = (runtimes.python)
        .map(|found| found.map(|at| python::read(&at, &read, &space, MAX_FRAMES, &futexes)));
    let go = (runtimes.go)
        .map(|found| found.map(|at| go::read(&at, &read, &space, MAX_FRAMES, go::clock(ipid))));
    let mut threads = Vec::with_capacity(regs.len());
    for ((tid, r), (stack, syscall, futex)) in regs.into_iter().zip(copied) {
        let sample = sampled.get(&tid).cloned().unwrap_or_default();
        threads.push(ImageThread {
            tid: tid as u64,
            name: sample.name.clone(),
            state: sample.state,
            regs: r.map(|r| r.0),
            no_regs: None,
            stack,
            stack_cut: None,
            kernel: KernelInfo {
                wchan: sample.wchan.clone(),
                syscall,
                futex,
                stopped_by: stopped_by(&sample),
                ..KernelInfo::default()
            },
        });
    }
    // A leader that had exited before the stop did not vanish during it: it is said apart.
    let vanished = seized
        .vanished
        .iter()
        .filter(|&&t| via == ipid || t != ipid)
        .map(|&t| t as u64)
        .collect();
    let unstoppable = seized.unstoppable.clone();
    seized.detach();
    let frozen = started.elapsed();
    let ns_tids = ids::namespace_tids(via, &tids);
    // Read once the threads run again: a lock copied by fork names one of these.
    let evidence: Vec<Evidence> = evidence.into_iter().chain(ids::parent(ipid)).collect();
    // Threads in uninterruptible sleep did not stop: what /proc said of them is all there is,
    // and often the answer (a read from a dead NFS server).
    for tid in unstoppable {
        let sample = sampled.get(&tid).cloned().unwrap_or_default();
        let wchan = sample.wchan.clone();
        threads.push(ImageThread {
            tid: tid as u64,
            name: sample.name.clone(),
            state: sample.state,
            regs: None,
            no_regs: Some(match sample.state {
                KernelState::DiskSleep => format!(
                    "it would not stop: it is in uninterruptible sleep in the kernel{}, where \
                     ptrace cannot reach it, so its stack could not be read",
                    wchan
                        .as_deref()
                        .map(|w| format!(" (in {w})"))
                        .unwrap_or_default()
                ),
                _ => format!(
                    "it did not stop within {} s, so its stack could not be read",
                    ptrace::STOP_TIMEOUT.as_secs()
                ),
            }),
            stack: None,
            stack_cut: None,
            kernel: KernelInfo {
                wchan,
                stopped_by: stopped_by(&sample),
                ..KernelInfo::default()
            },
        });
    }
    threads.sort_by_key(|t| t.tid);
    Ok(ProcessImage {
        pid: Some(pid),
        threads,
        space,
        evidence,
        frozen: Some(frozen),
        captured_in: began.elapsed(),
        vanished,
        all_threads: true,
        diagnostics: shared.into_iter().chain(leader_exited(ipid, via)).collect(),
        ns_tids,
        python,
        go,
    })
}

/// The note for a process whose main thread has ended (it is read through thread `via`).
fn leader_exited(pid: i32, via: i32) -> Option<crate::model::Diagnostic> {
    (via != pid).then(|| crate::model::Diagnostic {
        line: None,
        message: format!(
            "the main thread (LWP {pid}) has exited (pthread_exit) and the process lives on in \
             its other threads: its memory and mappings were read through LWP {via}"
        ),
    })
}

/// Who keeps a thread stopped, from what `/proc` said before hangscan stopped it.
fn stopped_by(sample: &procinfo::Sample) -> Option<StoppedBy> {
    Some(match sample.stop? {
        procinfo::StopCause::Signal => StoppedBy::Signal,
        procinfo::StopCause::Tracer(tid) => {
            let (pid, name) = procinfo::process_of(tid);
            StoppedBy::Tracer { pid, name }
        }
    })
}

fn to_regs(r: &libc::user_regs_struct) -> Regs {
    Regs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rbp: r.rbp,
        rsp: r.rsp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
    }
}
