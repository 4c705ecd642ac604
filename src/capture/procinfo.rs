//! Per-thread facts from `/proc`: name, scheduling state, CPU time, context switches, I/O,
//! wchan, the system call a thread sits in, and who holds a stopped thread. Read once before
//! the threads are stopped (a stopped thread shows state `t`), and, for the second look, once
//! more while the stacks are unwound (`look.rs`), so that a thread that ran, woke or did I/O in
//! between can be told from a stuck one.
//!
//! At 10 000 threads these reads are most of an attach, so each file is read into a stack
//! buffer and parsed by hand, in parallel: `stat` (name, state, CPU ticks) always; with the
//! counters a second look compares, `schedstat` (CPU time in nanoseconds) and `status`
//! (voluntary and involuntary context switches). The second look itself reads only those two
//! (`status` has the state too), and `syscall` for a thread they saw do nothing. `wchan` is read only for threads in
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
    /// The counters a second look compares, when read.
    pub counters: Option<Counters>,
    /// `wchan`, for a thread in uninterruptible sleep, when the kernel exposes it.
    pub wchan: Option<String>,
    /// Why the thread is stopped, when it is (`T`: a signal; `t`: a tracer).
    pub stop: Option<StopCause>,
}

/// What a thread has done so far, by the kernel's count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// CPU time, in nanoseconds (`schedstat`; the clock ticks of `stat` where it is missing).
    pub cpu_ns: u64,
    /// Voluntary context switches: times it went to sleep.
    pub voluntary: u64,
    /// Involuntary context switches: times it was preempted.
    pub involuntary: u64,
}

/// Who stopped a stopped thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// A stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU): state `T`.
    Signal,
    /// A tracer (its thread id from `TracerPid`, 0 when it let go meanwhile): state `t`.
    Tracer(i32),
}

/// Reads every thread of `pid`; threads that vanish meanwhile are left out. `counters` also
/// reads what a second look compares.
pub fn sample(pid: i32, counters: bool) -> HashMap<i32, Sample> {
    let Some(tids) = list_tasks(pid) else {
        return HashMap::new();
    };
    tids.par_iter()
        .filter_map(|&tid| Some((tid, read_task(pid, tid, counters)?)))
        .collect()
}

/// Reads thread `tid` of `pid`, or `None` when it is gone.
pub fn read_task(pid: i32, tid: i32, counters: bool) -> Option<Sample> {
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
    let cpu_ticks = utime + stime;
    let counters = counters
        .then(|| read_counters(&dir, Some(cpu_ticks)))
        .flatten()
        .map(|(c, _)| c);
    let wchan = wchan(&dir, letter);
    let stop = match letter {
        b'T' => Some(StopCause::Signal),
        b't' => Some(StopCause::Tracer(tracer(&dir).unwrap_or(0))),
        _ => None,
    };
    Some(Sample {
        name: Some(name),
        state: state_of(letter as char),
        counters,
        wchan,
        stop,
    })
}

/// Reads a `/proc` file of at most `buf.len()` bytes (more is cut) into `buf`. The kernel makes
/// these files whole at the first read and hands over all that fits, so a read that leaves
/// room is the end (no second call to learn it: thousands of threads, several files each).
fn read_small<'a>(path: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) if n + k < buf.len() => {
                n += k;
                break;
            }
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

/// Thread `tid` of `pid` as the second look reads it: its counters, its state (from `status`,
/// read for the counters anyway) and, in uninterruptible sleep, its `wchan`; no name. `None`
/// when it is gone. Where the kernel has no `schedstat`, the whole sample.
pub fn read_again(pid: i32, tid: i32) -> Option<Sample> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let Some((counters, letter)) = read_counters(&dir, None) else {
        return read_task(pid, tid, true);
    };
    Some(Sample {
        name: None,
        state: state_of(letter as char),
        counters: Some(counters),
        wchan: wchan(&dir, letter),
        stop: None,
    })
}

/// `wchan` of the thread whose `/proc` directory is `dir`, when it is in uninterruptible sleep
/// (state `letter`) and the kernel says.
fn wchan(dir: &str, letter: u8) -> Option<String> {
    (letter == b'D')
        .then(|| std::fs::read_to_string(format!("{dir}/wchan")).ok())
        .flatten()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty() && w != "0")
}

/// The counters of the thread whose `/proc` directory is `dir`, and the state letter its
/// `status` gives. CPU time is `schedstat`'s; where that is missing, `cpu_ticks` (from `stat`)
/// when given, else `None`.
fn read_counters(dir: &str, cpu_ticks: Option<u64>) -> Option<(Counters, u8)> {
    let mut buf = [0u8; 128];
    let cpu_ns = read_small(&format!("{dir}/schedstat"), &mut buf)
        .and_then(|s| s.split(|b| b.is_ascii_whitespace()).next().and_then(number))
        .or_else(|| {
            Some(cpu_ticks?.saturating_mul(1_000_000_000) / procfs::ticks_per_second().max(1))
        })?;
    let mut buf = [0u8; 2048];
    let status = read_small(&format!("{dir}/status"), &mut buf)?;
    let letter = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"State:"))
        .and_then(|v| v.iter().copied().find(|b| !b.is_ascii_whitespace()))
        .unwrap_or(b'?');
    let counters = Counters {
        cpu_ns,
        voluntary: count(status, b"voluntary_ctxt_switches:").unwrap_or(0),
        involuntary: count(status, b"nonvoluntary_ctxt_switches:").unwrap_or(0),
    };
    Some((counters, letter))
}

/// The number after `key` at the start of a line of `text` (`/proc`'s `key:\tvalue` lines).
fn count(text: &[u8], key: &[u8]) -> Option<u64> {
    text.split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(key))
        .and_then(number)
}

/// Where a thread is, by `/proc/PID/task/TID/syscall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InSyscall {
    /// In system call `number` with these arguments.
    Call { number: u64, args: [u64; 6] },
    /// Not in a system call (running, or stopped outside one).
    Outside,
}

/// The system call thread `tid` of `pid` sits in now, or `None` when that cannot be read (the
/// thread is gone, or the kernel has no `syscall` file).
pub fn syscall_now(pid: i32, tid: i32) -> Option<InSyscall> {
    let mut buf = [0u8; 256];
    parse_syscall(read_small(
        &format!("/proc/{pid}/task/{tid}/syscall"),
        &mut buf,
    )?)
}

/// A `syscall` file's text: `running`, `-1 SP PC` (blocked, in no system call), or the call's
/// number and six arguments in hex, then the stack pointer and pc.
fn parse_syscall(text: &[u8]) -> Option<InSyscall> {
    let mut fields = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let first = fields.next()?;
    if first == b"running" || first == b"-1" {
        return Some(InSyscall::Outside);
    }
    let number = number(first)?;
    let mut args = [0u64; 6];
    for a in &mut args {
        let f = fields.next()?;
        let hex = std::str::from_utf8(f.strip_prefix(b"0x")?).ok()?;
        *a = u64::from_str_radix(hex, 16).ok()?;
    }
    Some(InSyscall::Call { number, args })
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

/// The model's state for a `/proc` state letter.
pub fn state_of(c: char) -> KernelState {
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
        let counters = main.counters.expect("counters");
        assert!(counters.voluntary + counters.involuntary > 0);
        assert!(counters.cpu_ns > 0);
        // Read again, a thread asleep in a wait it is known to be in (the main thread is the
        // test harness's, running or asleep as it pleases): the same state both times.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            tid_tx.send(nix::unistd::gettid().as_raw()).unwrap();
            let _ = end_rx.recv();
        });
        let tid = tid_rx.recv().unwrap();
        let asleep = || read_again(me, tid).is_some_and(|s| s.state == KernelState::Sleeping);
        while !asleep() {
            std::thread::yield_now();
        }
        let first = sample(me, true).remove(&tid).expect("the parked thread");
        let again = read_again(me, tid).expect("read again");
        assert_eq!(again.state, first.state);
        assert!(again.counters.expect("counters").voluntary >= first.counters.unwrap().voluntary);
        drop(end_tx);
        parked.join().unwrap();
        // This thread reads its own file from inside `read`.
        let this = nix::unistd::gettid().as_raw();
        assert!(matches!(
            syscall_now(me, this),
            Some(InSyscall::Call { number: 0, .. })
        ));
        assert_eq!(parse_syscall(b"running\n"), Some(InSyscall::Outside));
        assert_eq!(
            parse_syscall(b"-1 0x7ffd 0x7f57\n"),
            Some(InSyscall::Outside)
        );
        assert_eq!(
            parse_syscall(b"202 0x10 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd 0x7f57\n"),
            Some(InSyscall::Call {
                number: 202,
                args: [0x10, 0x189, 0, 0, 0, 0xffff_ffff]
            })
        );
        assert_eq!(parse_syscall(b"202 0x10"), None);
        assert_eq!(
            split_comm(b"12 (a) b) S 1 2"),
            Some((&b"a) b"[..], &b" S 1 2"[..]))
        );
        assert_eq!(split_comm(b"garbage"), None);
    }
}
