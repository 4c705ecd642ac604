//! The peers of Unix sockets, from the kernel's socket table (`sock_diag` netlink, as `ss -x`
//! reads it): which socket inode is connected to which. A question to the kernel about its
//! sockets, never to the target: nothing is sent on or opened through the target's sockets.

use std::collections::{BTreeMap, BTreeSet};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const UDIAG_SHOW_PEER: u32 = 4;
const UNIX_DIAG_PEER: u16 = 2;

/// `struct nlmsghdr` and `struct unix_diag_req`, as one request.
#[repr(C)]
struct Request {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    family: u8,
    protocol: u8,
    pad: u16,
    states: u32,
    ino: u32,
    show: u32,
    cookie: [u32; 2],
}

/// The peer inode of each of `inodes` that is a connected Unix socket.
pub fn peers(inodes: &BTreeSet<u64>) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    if inodes.is_empty() {
        return out;
    }
    // SAFETY: socket(2) with constant arguments; the descriptor is closed below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return out;
    }
    let request = Request {
        len: std::mem::size_of::<Request>() as u32,
        kind: SOCK_DIAG_BY_FAMILY,
        flags: NLM_F_REQUEST | NLM_F_DUMP,
        seq: 1,
        pid: 0,
        family: libc::AF_UNIX as u8,
        protocol: 0,
        pad: 0,
        states: u32::MAX,
        ino: 0,
        show: UDIAG_SHOW_PEER,
        cookie: [u32::MAX; 2],
    };
    // SAFETY: sends the request struct's bytes, which live for the call.
    let sent = unsafe {
        libc::send(
            fd,
            (&request as *const Request).cast(),
            std::mem::size_of::<Request>(),
            0,
        )
    };
    if sent >= 0 {
        let mut buf = vec![0u8; 32 * 1024];
        // Bounded: a dump ends with NLMSG_DONE; a broken one ends at the pass limit.
        for _ in 0..100_000 {
            // SAFETY: recv(2) writes at most `buf.len()` bytes into `buf`.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 || read_messages(&buf[..n as usize], inodes, &mut out) {
                break;
            }
        }
    }
    // SAFETY: closes the descriptor opened above, once.
    unsafe { libc::close(fd) };
    out
}

/// Reads one datagram's messages into `out`; true at the dump's end.
fn read_messages(mut buf: &[u8], inodes: &BTreeSet<u64>, out: &mut BTreeMap<u64, u64>) -> bool {
    let u32_at = |b: &[u8], i: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?))
    };
    let u16_at = |b: &[u8], i: usize| -> Option<u16> {
        Some(u16::from_ne_bytes(b.get(i..i + 2)?.try_into().ok()?))
    };
    while buf.len() >= 16 {
        let (Some(len), Some(kind)) = (u32_at(buf, 0), u16_at(buf, 4)) else {
            return true;
        };
        let len = len as usize;
        if len < 16 || len > buf.len() || kind == NLMSG_DONE || kind == NLMSG_ERROR {
            return true;
        }
        let msg = &buf[16..len];
        // unix_diag_msg: family, type, state, pad, ino, cookie[2]; then attributes.
        if let Some(ino) = u32_at(msg, 4).map(u64::from).filter(|i| inodes.contains(i)) {
            let mut attrs = msg.get(16..).unwrap_or_default();
            while attrs.len() >= 4 {
                let alen = u16_at(attrs, 0).unwrap_or(0) as usize;
                if alen < 4 || alen > attrs.len() {
                    break;
                }
                if u16_at(attrs, 2) == Some(UNIX_DIAG_PEER) {
                    if let Some(peer) = u32_at(attrs, 4).filter(|&p| p != 0) {
                        out.insert(ino, u64::from(peer));
                    }
                }
                attrs = &attrs[(alen + 3) & !3..];
            }
        }
        buf = &buf[((len + 3) & !3).min(buf.len())..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn inode(fd: i32) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        let link = link.to_string_lossy();
        link.trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse()
            .unwrap()
    }

    #[test]
    fn a_socketpair_s_ends_are_each_other_s_peers() {
        let (a, b) = UnixStream::pair().unwrap();
        let (ia, ib) = (inode(a.as_raw_fd()), inode(b.as_raw_fd()));
        let found = peers(&BTreeSet::from([ia, ib]));
        assert_eq!(found.get(&ia), Some(&ib));
        assert_eq!(found.get(&ib), Some(&ia));
    }
}
