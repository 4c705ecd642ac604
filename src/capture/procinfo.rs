//! Per-thread facts from `/proc` (through the procfs crate): name, scheduling state, CPU time
//! and context switches, wchan. Read before the threads are stopped (a stopped thread shows
//! state `t`), twice, so that a thread that ran in between can be told from a stuck one.
//! `wchan` is read only for threads in uninterruptible sleep: for the others the registers
//! say which system call they are in, and a thousand more file reads cost the target time.

use crate::model::KernelState;
use rayon::prelude::*;
use std::collections::HashMap;

/// One reading of one thread.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// `comm`.
    pub name: Option<String>,
    /// State letter mapped to the model.
    pub state: KernelState,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Voluntary + involuntary context switches.
    pub switches: u64,
    /// `wchan`, for a thread in uninterruptible sleep, when the kernel exposes it.
    pub wchan: Option<String>,
}

/// Reads every thread of `pid`; threads that vanish meanwhile are left out. `switches` reads
/// each thread's `status` too (only worth it when two samples are compared).
pub fn sample(pid: i32, switches: bool) -> HashMap<i32, Sample> {
    let Some(tids) = super::ptrace::list_tasks(pid) else {
        return HashMap::new();
    };
    // Small files per thread, opened by path (one open each, where procfs's `Task` opens the
    // task's directory too) and parsed by procfs; read from every core.
    tids.par_iter()
        .filter_map(|&tid| Some((tid, read_task(pid, tid, switches)?)))
        .collect()
}

fn read_task(pid: i32, tid: i32, switches: bool) -> Option<Sample> {
    use procfs::FromRead;
    let dir = format!("/proc/{pid}/task/{tid}");
    let stat = procfs::process::Stat::from_file(format!("{dir}/stat")).ok()?;
    let switches = if switches {
        procfs::process::Status::from_file(format!("{dir}/status"))
            .map(|s| {
                s.voluntary_ctxt_switches.unwrap_or(0) + s.nonvoluntary_ctxt_switches.unwrap_or(0)
            })
            .unwrap_or(0)
    } else {
        0
    };
    let wchan = (stat.state == 'D')
        .then(|| std::fs::read_to_string(format!("{dir}/wchan")).ok())
        .flatten()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty() && w != "0");
    Some(Sample {
        name: Some(stat.comm.clone()),
        state: state_of(stat.state),
        cpu_ticks: stat.utime + stat.stime,
        switches,
        wchan,
    })
}

/// The state letter of process or thread `id` (`/proc/ID/stat`: the field after `(comm)`),
/// or `None` when it is gone. One read, no parsing of the rest: for the checks made while
/// threads are stopped or a tree is being ended.
pub fn state_letter(id: i32) -> Option<char> {
    stat_fields(id)?.trim_start().chars().next()
}

/// `/proc/ID/stat` after the `(comm)` field: the fields from the state letter on. The name is
/// the target's to choose (`prctl`, any bytes but NUL, `)` included), so it is skipped as bytes
/// up to the last `)`, never decoded.
pub fn stat_fields(id: impl std::fmt::Display) -> Option<String> {
    let stat = std::fs::read(format!("/proc/{id}/stat")).ok()?;
    let end = stat.iter().rposition(|&b| b == b')')?;
    String::from_utf8(stat[end + 1..].to_vec()).ok()
}

/// When process `id` started, rounded up to the next clock tick (`/proc/ID/stat` gives it in
/// ticks since boot): no earlier than the true start. The boot time is this clock's now less
/// `CLOCK_BOOTTIME` (which the start is counted in), not `/proc/stat`'s whole seconds.
pub fn started(id: i32) -> Option<std::time::SystemTime> {
    use nix::time::{clock_gettime, ClockId};
    use std::time::{Duration, SystemTime};
    let ticks: u64 = stat_fields(id)?.split_whitespace().nth(19)?.parse().ok()?;
    let per_second = procfs::ticks_per_second().max(1);
    let since_boot = Duration::from_secs(ticks / per_second)
        + Duration::from_nanos((ticks % per_second + 1) * 1_000_000_000 / per_second);
    let boot = clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?;
    let uptime = Duration::new(
        u64::try_from(boot.tv_sec()).ok()?,
        u32::try_from(boot.tv_nsec()).ok()?,
    );
    SystemTime::now()
        .checked_sub(uptime)?
        .checked_add(since_boot)
}

/// Gone, a zombie or dead (it exited; only its parent has not reaped it).
pub fn exited(id: i32) -> bool {
    state_letter(id).is_none_or(|s| matches!(s, 'Z' | 'X'))
}

fn state_of(c: char) -> KernelState {
    match c {
        'R' => KernelState::Running,
        'S' | 'I' => KernelState::Sleeping,
        'D' => KernelState::DiskSleep,
        'T' | 't' => KernelState::Stopped,
        'Z' | 'X' => KernelState::Zombie,
        _ => KernelState::Unknown,
    }
}
