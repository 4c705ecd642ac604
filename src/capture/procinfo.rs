//! Per-thread facts from `/proc`: name, scheduling state, CPU time and times scheduled, wchan,
//! and who holds a stopped thread. Read before the threads are stopped (a stopped thread shows
//! state `t`), twice, so that a thread that ran in between can be told from a stuck one.
//!
//! At 10 000 threads these reads are most of an attach, so each thread costs two small files
//! a sample, read into a stack buffer and parsed by hand, in parallel: `stat` (name, state,
//! CPU ticks) and `schedstat` (times scheduled; `status`, ten times longer for the kernel to
//! write, only where `schedstat` is missing). `wchan` is read only for threads in
//! uninterruptible sleep (for the others the registers say which system call they are in),
//! and `status` (its `TracerPid`) only for threads a tracer stops.

use crate::model::KernelState;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::Read;

/// One reading of one thread.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// `comm`.
    pub name: Option<String>,
    /// State letter mapped to the model.
    pub state: KernelState,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Times the thread was scheduled (run on a CPU), or its context switches where the kernel
    /// has no `schedstat`.
    pub switches: u64,
    /// `wchan`, for a thread in uninterruptible sleep, when the kernel exposes it.
    pub wchan: Option<String>,
    /// Why the thread is stopped, when it is (`T`: a signal; `t`: a tracer).
    pub stop: Option<StopCause>,
}

/// Who stopped a stopped thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// A stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU): state `T`.
    Signal,
    /// A tracer (its thread id from `TracerPid`, 0 when it let go meanwhile): state `t`.
    Tracer(i32),
}

/// Reads every thread of `pid`; threads that vanish meanwhile are left out. `switches` also
/// reads how often each was scheduled (only worth it when two samples are compared).
pub fn sample(pid: i32, switches: bool) -> HashMap<i32, Sample> {
    let Some(tids) = list_tasks(pid) else {
        return HashMap::new();
    };
    tids.par_iter()
        .filter_map(|&tid| Some((tid, read_task(pid, tid, switches)?)))
        .collect()
}

fn read_task(pid: i32, tid: i32, switches: bool) -> Option<Sample> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let mut buf = [0u8; 1024];
    let stat = read_small(&format!("{dir}/stat"), &mut buf)?;
    let (name, rest) = split_comm(stat)?;
    let mut fields = rest.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let letter = *fields.next()?.first()?;
    // utime and stime: the 12th and 13th fields after the state.
    let mut fields = fields.skip(10);
    let utime = number(fields.next()?)?;
    let stime = number(fields.next()?)?;
    let name = String::from_utf8_lossy(name).into_owned();
    let switches = if switches {
        scheduled(&dir).unwrap_or(0)
    } else {
        0
    };
    let wchan = (letter == b'D')
        .then(|| std::fs::read_to_string(format!("{dir}/wchan")).ok())
        .flatten()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty() && w != "0");
    let stop = match letter {
        b'T' => Some(StopCause::Signal),
        b't' => Some(StopCause::Tracer(tracer(&dir).unwrap_or(0))),
        _ => None,
    };
    Some(Sample {
        name: Some(name),
        state: state_of(letter as char),
        cpu_ticks: utime + stime,
        switches,
        wchan,
        stop,
    })
}

/// Reads a `/proc` file of at most `buf.len()` bytes (more is cut) into `buf`.
fn read_small<'a>(path: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(&buf[..n])
}

/// `stat`'s `(comm)` and what follows it. The name is the target's to choose (`prctl`, any
/// bytes but NUL, `)` included), so it ends at the last `)`.
fn split_comm(stat: &[u8]) -> Option<(&[u8], &[u8])> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    Some((stat.get(open + 1..close)?, stat.get(close + 1..)?))
}

fn number(field: &[u8]) -> Option<u64> {
    std::str::from_utf8(field).ok()?.trim().parse().ok()
}

/// How often the thread was scheduled: `schedstat`'s third field, or else `status`'s
/// voluntary and involuntary context switches.
fn scheduled(dir: &str) -> Option<u64> {
    let mut buf = [0u8; 128];
    if let Some(s) = read_small(&format!("{dir}/schedstat"), &mut buf) {
        if let Some(n) = s.split(|b| b.is_ascii_whitespace()).nth(2).and_then(number) {
            return Some(n);
        }
    }
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let count = |key| field(&status, key)?.parse::<u64>().ok();
    Some(count("voluntary_ctxt_switches:")? + count("nonvoluntary_ctxt_switches:").unwrap_or(0))
}

/// The value of `key` (with its colon: `"TracerPid:"`) in a `/proc/*/status` text, trimmed.
/// The one reader of `status` lines for capture.
pub fn field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

/// The tracer of the thread whose `/proc` directory is `dir` (`TracerPid`, 0: none).
fn tracer(dir: &str) -> Option<i32> {
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    field(&status, "TracerPid:")?.parse().ok()
}

/// The process thread `tid` belongs to (`Tgid`, or `tid` itself when that cannot be read) and
/// the process's name (its main thread's, not `tid`'s own: a tracer thread may be named apart,
/// as hangscan's `hangscan-tracer` is); `(0, None)` for tid 0.
pub fn process_of(tid: i32) -> (u32, Option<String>) {
    if tid <= 0 {
        return (0, None);
    }
    let read = |id: u32| std::fs::read_to_string(format!("/proc/{id}/status")).ok();
    let pid = read(tid as u32)
        .and_then(|s| field(&s, "Tgid:")?.parse().ok())
        .unwrap_or(tid as u32);
    let name = read(pid).and_then(|s| field(&s, "Name:").map(str::to_string));
    (pid, name)
}

/// The state letter of process or thread `id` (`/proc/ID/stat`: the field after `(comm)`),
/// or `None` when it is gone. One read, no parsing of the rest: for the checks made while
/// threads are stopped or a tree is being ended.
pub fn state_letter(id: i32) -> Option<char> {
    stat_fields(id)?.trim_start().chars().next()
}

/// `/proc/ID/stat` after the `(comm)` field: the fields from the state letter on. The name is
/// skipped as bytes up to the last `)`, never decoded.
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

/// The thread ids of `pid` (`/proc/PID/task`), or `None` when the process is gone.
pub fn list_tasks(pid: i32) -> Option<Vec<i32>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut tids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Some(tids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_as_itself_and_names_with_parentheses_survive() {
        let me = std::process::id() as i32;
        let s = sample(me, true);
        let main = s.get(&me).expect("the main thread");
        assert!(main.name.is_some());
        assert_eq!(main.stop, None);
        assert!(main.switches > 0);
        assert_eq!(
            split_comm(b"12 (a) b) S 1 2"),
            Some((&b"a) b"[..], &b" S 1 2"[..]))
        );
        assert_eq!(split_comm(b"garbage"), None);
    }
}
