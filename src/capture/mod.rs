//! Live capture (Linux only; the only home of ptrace and `unsafe`-adjacent system calls).
//!
//! Order matters for the target: sample `/proc` twice (no stop), then stop every thread, copy
//! registers, the top of each stack, the vdso and the memory around each futex word, and detach
//! at once. The slow work (unwinding, symbolizing, analysis) happens after the target runs again.
//! The result, a [`ProcessImage`], is what a core file also gives: registers, memory, mappings.

mod access;
mod memory;
mod procinfo;
mod ptrace;
pub mod runner;
pub mod tree;

use crate::error::{Error, Result};
use crate::model::{Evidence, FutexWait, KernelInfo, KernelState, StoppedBy, Syscall};
use crate::stackwalk::{ImageThread, ProcessImage};
use crate::unwind::{AddressSpace, MappedObject, MemoryRegion, Regs};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to capture.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Bytes of stack copied per thread, from the stack pointer up.
    pub stack_bytes: usize,
    /// `/proc` samples taken before stopping (2 tells busy threads from stuck ones).
    pub samples: u32,
    /// Time between the samples.
    pub interval: Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            stack_bytes: 64 * 1024,
            samples: 2,
            interval: Duration::from_millis(100),
        }
    }
}

/// The x86-64 red zone below the stack pointer, which leaf functions may use.
const RED_ZONE: u64 = 128;

/// The process's mappings and its vdso's bytes (read without stopping it).
pub fn address_space(pid: u32) -> AddressSpace {
    let Ok(ipid) = i32::try_from(pid) else {
        return AddressSpace::default();
    };
    let maps = read_maps(ipid);
    let vdso = maps
        .iter()
        .find(|m| m.name == "[vdso]")
        .map(|m| MemoryRegion {
            start: m.start,
            bytes: memory::read(ipid, m.start, (m.end - m.start) as usize),
        });
    AddressSpace {
        objects: maps,
        vdso,
    }
}

/// Captures process `pid`, whose mappings `space` holds (see [`address_space`]). The target is
/// stopped only between "stop" and "detach" below.
pub fn capture(pid: u32, opts: &CaptureOptions, space: AddressSpace) -> Result<ProcessImage> {
    let ipid = i32::try_from(pid).map_err(|_| Error::NoProcess { pid })?;
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(Error::NoProcess { pid });
    }
    let began = Instant::now();
    let twice = opts.samples >= 2;
    let first = procinfo::sample(ipid, twice);
    let last = if twice {
        std::thread::sleep(opts.interval);
        procinfo::sample(ipid, true)
    } else {
        first.clone()
    };
    let started = Instant::now();
    let seized = ptrace::Seized::stop_all(ipid).map_err(|e| match e {
        _ if procinfo::exited(ipid) => Error::ProcessGone { pid },
        ptrace::SeizeError::Gone => Error::ProcessGone { pid },
        ptrace::SeizeError::Refused { tid } => access::refusal(pid, tid),
        ptrace::SeizeError::Other(errno) => Error::Capture {
            pid,
            detail: errno.desc().to_string(),
        },
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
    let (stack_bytes, shared) = crate::limits::stack_share(opts.stack_bytes, tids.len());
    // Registers first: only this thread, the tracer, may ask for them. The copies that follow
    // need no tracer, so they run on every core; the futex words are read once each (a
    // thousand idle workers wait on one condition variable).
    let regs: Vec<(i32, Option<(Regs, u64)>)> = tids
        .into_iter()
        .map(|tid| {
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
                bytes: memory::read(ipid, start, end.saturating_sub(start) as usize),
            };
            let syscall = crate::syscalls::blocked_in(r, *orig_rax);
            let futex = syscall.as_ref().and_then(crate::syscalls::futex_wait);
            (Some(stack), syscall, futex)
        })
        .collect();
    let words: BTreeSet<u64> = copied.iter().filter_map(|c| Some(c.2?.address)).collect();
    let evidence: Vec<Evidence> = words
        .into_par_iter()
        .filter_map(|w| crate::syscalls::futex_evidence(w, |a, n| memory::read(ipid, a, n)))
        .collect();
    let mut threads = Vec::with_capacity(regs.len());
    for ((tid, r), (stack, syscall, futex)) in regs.into_iter().zip(copied) {
        let sample = last.get(&tid).cloned().unwrap_or_default();
        let before = first.get(&tid).filter(|_| twice);
        threads.push(ImageThread {
            tid: tid as u64,
            name: sample.name.clone(),
            state: sample.state,
            regs: r.map(|r| r.0),
            no_regs: None,
            stack,
            kernel: KernelInfo {
                wchan: sample.wchan.clone(),
                syscall,
                futex,
                cpu_ticks_delta: before.map(|b| sample.cpu_ticks.saturating_sub(b.cpu_ticks)),
                switches_delta: before.map(|b| sample.switches.saturating_sub(b.switches)),
                stopped_by: stopped_by(&sample),
            },
        });
    }
    let vanished = seized.vanished.iter().map(|&t| t as u64).collect();
    let unstoppable = seized.unstoppable.clone();
    seized.detach();
    let frozen = started.elapsed();
    // Threads in uninterruptible sleep did not stop: what /proc said of them is all there is,
    // and often the answer (a read from a dead NFS server).
    for tid in unstoppable {
        let sample = last.get(&tid).cloned().unwrap_or_default();
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
        diagnostics: shared.into_iter().collect(),
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

/// The process's mappings. Files are opened through `/proc/PID/map_files` (the very inode
/// mapped, which the target cannot redirect) with `/proc/PID/root/PATH` as the fallback, so
/// processes in containers work and a target cannot point hangscan at a host file.
fn read_maps(pid: i32) -> Vec<MappedObject> {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return Vec::new();
    };
    let Ok(maps) = process.maps() else {
        return Vec::new();
    };
    maps.into_iter()
        .map(|m| {
            let (start, end) = m.address;
            let (name, path) = match &m.pathname {
                procfs::process::MMapPath::Path(p) => {
                    let by_inode =
                        PathBuf::from(format!("/proc/{pid}/map_files/{start:x}-{end:x}"));
                    let path = if by_inode.exists() {
                        by_inode
                    } else {
                        PathBuf::from(format!("/proc/{pid}/root"))
                            .join(p.strip_prefix("/").unwrap_or(p))
                    };
                    (p.to_string_lossy().into_owned(), Some(path))
                }
                procfs::process::MMapPath::Vdso => ("[vdso]".to_string(), None),
                other => (format!("{other:?}"), None),
            };
            MappedObject {
                start,
                end,
                offset: m.offset,
                name,
                path,
                executable: m.perms.contains(procfs::process::MMPermissions::EXECUTE),
            }
        })
        .collect()
}
