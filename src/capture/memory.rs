//! Reading the target's memory while it is stopped: `process_vm_readv`, falling back to
//! `/proc/PID/mem` (which also works where the first is filtered by seccomp or LSMs).

use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;
use std::io::IoSliceMut;
use std::os::unix::fs::FileExt;

/// Reads up to `len` bytes at `addr`; returns what could be read (possibly fewer bytes, or
/// none when the address is not mapped).
pub fn read(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let n = {
        let mut local = [IoSliceMut::new(&mut buf)];
        let remote = [RemoteIoVec {
            base: addr as usize,
            len,
        }];
        process_vm_readv(Pid::from_raw(pid), &mut local, &remote).unwrap_or(0)
    };
    if n > 0 {
        buf.truncate(n);
        return buf;
    }
    match std::fs::File::open(format!("/proc/{pid}/mem")) {
        Ok(f) => {
            let n = f.read_at(&mut buf, addr).unwrap_or(0);
            buf.truncate(n);
            buf
        }
        Err(_) => Vec::new(),
    }
}
