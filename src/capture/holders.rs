//! Who holds what across the system: one scan of every process's descriptors (`/proc/*/fd`
//! links; `fdinfo` only for a pty master, whose pty is its `tty-index`, and an eventfd, whose
//! identity is its `eventfd-id`, every eventfd sharing one anonymous inode; `/dev/tty` is the
//! process's controlling terminal, by its `stat`), reused for 2 s
//! while the processes of one tree are read one after another. Gives the holders of the ends
//! of a pipe or socket, the other side of a pty, and an eventfd. Only reads of `/proc`.

use super::procinfo;
use crate::model::{Access, Channel, ChannelEnd, PipeEnd};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Descriptors read per process at most (a server may hold hundreds of thousands).
pub const MAX_FDS: usize = 4096;
/// Processes whose descriptors are searched, at most.
pub const MAX_PROCESSES: usize = 20_000;
/// How long a scan of every process's descriptors is used again.
const SCAN_REUSE: Duration = Duration::from_secs(2);

/// Which way a descriptor is open, from its `fdinfo` text (`O_ACCMODE` of `flags:`).
pub fn access(info: &str) -> Option<Access> {
    let flags = u32::from_str_radix(procinfo::field(info, "flags:")?, 8).ok()?;
    Some(match flags & 3 {
        0 => Access::Read,
        1 => Access::Write,
        _ => Access::ReadWrite,
    })
}

/// The pty side or eventfd a descriptor of process `pid` is, from its link and (for a master
/// or an eventfd) its `fdinfo` text, which `info` reads when asked; `/dev/tty` is the
/// process's controlling terminal, a pty's slave side when it is one.
pub fn channel(pid: u32, link: &str, info: impl FnOnce() -> Option<String>) -> Option<Channel> {
    let master = link == "/dev/ptmx" || link == "/dev/pts/ptmx";
    if let Some(n) = link.strip_prefix("/dev/pts/").filter(|_| !master) {
        return Some(Channel::PtySlave {
            index: n.parse().ok()?,
        });
    }
    if link == "/dev/tty" {
        let tty_nr = procinfo::stat_fields(pid)?
            .split_whitespace()
            .nth(4)?
            .parse()
            .ok()?;
        return pty_slave(tty_nr);
    }
    if !master && link != "anon_inode:[eventfd]" {
        return None;
    }
    let info = info()?;
    Some(if master {
        Channel::PtyMaster {
            index: procinfo::field(&info, "tty-index:")?.parse().ok()?,
        }
    } else {
        Channel::Eventfd {
            id: procinfo::field(&info, "eventfd-id:")?.parse().ok()?,
        }
    })
}

/// The pty slave a `tty_nr` (`/proc/PID/stat`, the controlling terminal's device number) is:
/// Unix 98 pty slaves have majors 136 to 143, the index counting on across them.
fn pty_slave(tty_nr: u32) -> Option<Channel> {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    (136..=143).contains(&major).then(|| Channel::PtySlave {
        index: (major - 136) * 256 + minor,
    })
}

/// An eventfd's counter, from its `fdinfo` text (the kernel writes it in hex).
pub fn eventfd_count(info: &str) -> Option<u64> {
    u64::from_str_radix(procinfo::field(info, "eventfd-count:")?, 16).ok()
}

/// Every process holding an end of one of `pipes` (pipe or socket inodes), with which end.
pub fn pipe_ends(pipes: &BTreeSet<u64>) -> Vec<PipeEnd> {
    if pipes.is_empty() {
        return Vec::new();
    }
    with_scan(|scan| {
        let found = pipes.iter().filter_map(|i| Some((*i, scan.inodes.get(i)?)));
        found
            .flat_map(|(inode, at)| {
                at.iter().filter_map(move |&(pid, fd)| {
                    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"));
                    Some(PipeEnd {
                        inode,
                        pid,
                        fd,
                        access: access(&info.ok()?)?,
                    })
                })
            })
            .collect()
    })
}

/// Every process holding one of `channels`.
pub fn channel_ends(channels: &BTreeSet<Channel>) -> Vec<ChannelEnd> {
    if channels.is_empty() {
        return Vec::new();
    }
    with_scan(|scan| {
        let found = channels
            .iter()
            .filter_map(|c| Some((*c, scan.channels.get(c)?)));
        found
            .flat_map(|(channel, at)| {
                at.iter()
                    .map(move |&(pid, fd)| ChannelEnd { channel, pid, fd })
            })
            .collect()
    })
}

/// Runs `f` on the last scan when it is recent (the processes of one tree are captured one
/// after another, and a stuck one's descriptors do not change), else on a new one.
fn with_scan<T>(f: impl FnOnce(&Scan) -> T) -> T {
    static SCAN: Mutex<Option<(Instant, Scan)>> = Mutex::new(None);
    let mut last = SCAN.lock().unwrap_or_else(|e| e.into_inner());
    match last.as_ref() {
        Some((at, scan)) if at.elapsed() < SCAN_REUSE => f(scan),
        _ => {
            let scan = scan();
            let out = f(&scan);
            *last = Some((Instant::now(), scan));
            out
        }
    }
}

/// What every process holds: `(pid, fd)`s by pipe or socket inode, and by pty side or eventfd.
#[derive(Default)]
struct Scan {
    inodes: HashMap<u64, Vec<(u32, i32)>>,
    channels: HashMap<Channel, Vec<(u32, i32)>>,
}

/// Every process's pipes, sockets, ptys and eventfds (up to [`MAX_PROCESSES`] processes).
fn scan() -> Scan {
    let mut out = Scan::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    let pids = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok());
    for pid in pids.take(MAX_PROCESSES) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let fds = fds.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok());
        for fd in fds.take(MAX_FDS) {
            let Ok(link) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
                continue;
            };
            let link = link.to_string_lossy();
            let inode = (link
                .strip_prefix("pipe:[")
                .or_else(|| link.strip_prefix("socket:[")))
            .and_then(|l| l.strip_suffix(']'))
            .and_then(|i| i.parse::<u64>().ok());
            if let Some(inode) = inode {
                out.inodes.entry(inode).or_default().push((pid, fd));
                continue;
            }
            let info = || std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok();
            if let Some(c) = channel(pid, &link, info) {
                out.channels.entry(c).or_default().push((pid, fd));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pty_sides_and_eventfds_by_their_fdinfo() {
        let slave = channel(0, "/dev/pts/7", || None);
        assert_eq!(slave, Some(Channel::PtySlave { index: 7 }));
        let info = "pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t90\ntty-index:\t3\n";
        let master = channel(0, "/dev/ptmx", || Some(info.into()));
        assert_eq!(master, Some(Channel::PtyMaster { index: 3 }));
        let inside = channel(0, "/dev/pts/ptmx", || Some(info.into()));
        assert_eq!(inside, master);
        assert_eq!(master.unwrap().other_side(), Channel::PtySlave { index: 3 });
        let info = "flags:\t02000002\nino:\t1038\neventfd-count:               1a\neventfd-id: 4\n";
        let ev = channel(0, "anon_inode:[eventfd]", || Some(info.into()));
        assert_eq!(ev, Some(Channel::Eventfd { id: 4 }));
        assert_eq!(eventfd_count(info), Some(26));
        assert_eq!(access(info), Some(Access::ReadWrite));
        // Unreadable or foreign: nothing, no panic.
        assert_eq!(channel(0, "/dev/pts/x", || None), None);
        assert_eq!(channel(0, "/dev/ptmx", || Some("garbage".into())), None);
        assert_eq!(channel(0, "/tmp/f", || None), None);
        // A controlling terminal's device number: pts 3, pts 300 (major 137), a console.
        assert_eq!(
            pty_slave(136 << 8 | 3),
            Some(Channel::PtySlave { index: 3 })
        );
        assert_eq!(
            pty_slave(137 << 8 | 44),
            Some(Channel::PtySlave { index: 300 })
        );
        assert_eq!(pty_slave(4 << 8 | 1), None);
    }

    #[test]
    fn an_eventfd_held_here_is_found_by_the_scan() {
        // SAFETY: eventfd(2) with constant arguments; closed below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
        let me = channel(0, "anon_inode:[eventfd]", || Some(info)).unwrap();
        // A new scan: the one of 2 s ago may predate the descriptor.
        let ends: Vec<ChannelEnd> = scan()
            .channels
            .remove(&me)
            .unwrap_or_default()
            .into_iter()
            .map(|(pid, fd)| ChannelEnd {
                channel: me,
                pid,
                fd,
            })
            .collect();
        // SAFETY: closes the descriptor opened above, once.
        unsafe { libc::close(fd) };
        assert!(ends.contains(&ChannelEnd {
            channel: me,
            pid: std::process::id(),
            fd
        }));
    }
}
