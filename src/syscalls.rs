//! What a stopped thread's registers say about the system call it was blocked in (x86_64):
//! a thread interrupted inside a blocking call shows the call in `orig_rax` and a restart code
//! in `rax`. Names for the calls that matter to hangs; futex arguments decoded. Shared by the
//! live capture and the core-file reader, which both have registers and memory.

use crate::model::{Evidence, FutexWait, Syscall};
use crate::unwind::Regs;

/// Bytes read around each futex word: the word itself and the lock fields after it.
pub const FUTEX_CONTEXT_BYTES: usize = 32;

/// How many bytes before a futex word are copied with it (from its page only).
pub const FUTEX_CONTEXT_BEFORE: u64 = 16;

/// What a stopped thread was blocked in: the system call, the futex wait it is (if one), and
/// the memory around the futex word (read with `read(address, len)`), for the rules' owner
/// fields.
pub fn blocking_facts(
    regs: &Regs,
    orig_rax: u64,
    read: impl FnOnce(u64, usize) -> Vec<u8>,
) -> (Option<Syscall>, Option<FutexWait>, Option<Evidence>) {
    let syscall = blocked_in(regs, orig_rax);
    let futex = syscall.as_ref().and_then(futex_wait);
    let evidence = futex.and_then(|f| futex_evidence(f.address, read));
    (syscall, futex, evidence)
}

/// The memory around futex word `address` (read with `read(address, len)`), for the rules'
/// owner fields; `None` when it cannot be read.
pub fn futex_evidence(address: u64, read: impl FnOnce(u64, usize) -> Vec<u8>) -> Option<Evidence> {
    // The bytes before the word too (a glibc rwlock's reader count is 8 or 12 bytes before the
    // word its writers sleep on), never before the word's page: it is mapped if the word is.
    let start = address
        .saturating_sub(FUTEX_CONTEXT_BEFORE)
        .max(address & !0xfff);
    let bytes = read(start, (address - start) as usize + FUTEX_CONTEXT_BYTES);
    (!bytes.is_empty()).then_some(Evidence::Memory {
        address: start,
        bytes,
    })
}

/// `restart_syscall`: what a thread whose call the stop interrupted (`-ERESTART_RESTARTBLOCK`:
/// `nanosleep`, timed `futex` waits, `poll`) runs to resume that very call.
pub const RESTART_SYSCALL: u64 = 219;

/// `write(2)` and `sendto(2)`, whose third argument is the byte count.
const WRITE: u64 = 1;
const SENDTO: u64 = 44;

/// The blocking call a thread was in when it stopped, decoded from its registers.
pub fn blocked_in(regs: &Regs, orig_rax: u64) -> Option<Syscall> {
    let ret = regs.rax as i64;
    // -EINTR, -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK
    let interrupted = matches!(ret, -4 | -512 | -513 | -514 | -516);
    // A blocking write or send that had written part of its bytes when the stop came returns
    // what it wrote: it was blocked in it (a full pipe or socket), and the program writes the
    // rest next.
    let cut_short = matches!(orig_rax, WRITE | SENDTO) && ret >= 0 && (ret as u64) < regs.rdx;
    if orig_rax as i64 == -1 || !(interrupted || cut_short) {
        return None;
    }
    Some(Syscall {
        number: orig_rax,
        name: name(orig_rax).map(str::to_string),
        args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
    })
}

/// The futex wait a system call is, if it is one.
pub fn futex_wait(call: &Syscall) -> Option<FutexWait> {
    const FUTEX: u64 = 202;
    const FUTEX_CMD_MASK: u64 = 0x7f & !0x80 & !0x100;
    if call.number != FUTEX {
        return None;
    }
    // FUTEX_WAIT (0), FUTEX_LOCK_PI (6), FUTEX_WAIT_BITSET (9), FUTEX_LOCK_PI2 (13)
    let op = call.args[1] & FUTEX_CMD_MASK;
    matches!(op, 0 | 6 | 9 | 13).then(|| FutexWait {
        address: call.args[0],
        op: op as u32,
        value: call.args[2] as u32,
    })
}

/// The name of x86-64 system call `nr`, for the calls a thread may block in.
pub fn name(nr: u64) -> Option<&'static str> {
    Some(match nr {
        0 => "read",
        1 => "write",
        7 => "poll",
        17 => "pread64",
        18 => "pwrite64",
        19 => "readv",
        20 => "writev",
        23 => "select",
        34 => "pause",
        35 => "nanosleep",
        42 => "connect",
        43 => "accept",
        44 => "sendto",
        45 => "recvfrom",
        46 => "sendmsg",
        47 => "recvmsg",
        61 => "wait4",
        72 => "fcntl",
        73 => "flock",
        74 => "fsync",
        128 => "rt_sigtimedwait",
        130 => "rt_sigsuspend",
        202 => "futex",
        208 => "io_getevents",
        219 => "restart_syscall",
        230 => "clock_nanosleep",
        232 => "epoll_wait",
        247 => "waitid",
        270 => "pselect6",
        271 => "ppoll",
        281 => "epoll_pwait",
        288 => "accept4",
        299 => "recvmmsg",
        426 => "io_uring_enter",
        441 => "epoll_pwait2",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_futex_wait_interrupted_by_the_stop() {
        let regs = Regs {
            rax: (-512i64) as u64,
            rdi: 0x5000,
            rsi: 0x80,
            rdx: 2,
            ..Regs::default()
        };
        let call = blocked_in(&regs, 202).unwrap();
        assert_eq!(call.name.as_deref(), Some("futex"));
        let f = futex_wait(&call).unwrap();
        assert_eq!((f.address, f.op, f.value), (0x5000, 0, 2));
        assert!(
            blocked_in(&Regs { rax: 0, ..regs }, 202).is_none(),
            "a finished call"
        );
        assert!(
            blocked_in(&regs, u64::MAX).is_none(),
            "not in a system call"
        );
    }
}
