//! A process's ties to other processes, read from `/proc` once its threads run again: its
//! parent, process group and command line, its descriptors (`fd` links and `fdinfo` flags:
//! which end of which pipe, which side of which pty, which eventfd and its count), the
//! `/proc/locks` lines about it, and who holds the other ends of the pipes, the other sides of
//! the ptys and the eventfds its threads block on (`holders`); the holder of an open file
//! description's lock, which `/proc/locks` names no process for, from the `lock:` lines of
//! every process's `fdinfo`. Only reads of `/proc`: nothing is opened through the target's
//! descriptors (no `FIONREAD`, no `stat` that could reach a hung file system), so the target
//! cannot notice. Read after the detach, so the stop is no longer than before: a thread
//! blocked at the stop on a descriptor still holds it, and the second look says whether it
//! stayed blocked.

use super::holders::{self, MAX_FDS, MAX_PROCESSES};
use super::procinfo;
use crate::model::{
    Channel, FdKind, FileLock, OpenFd, OtherProcess, ProcessFacts, SocketPeer, Syscall,
};
use std::collections::BTreeSet;

/// The facts about `pid`; `blocked` are its threads' blocking system calls at the stop.
pub fn read(pid: u32, blocked: &[&Syscall]) -> ProcessFacts {
    let named: BTreeSet<i32> = blocked.iter().filter_map(|s| fd_arg(s)).collect();
    let all = descriptors(pid);
    // The files its blocked calls name: a wait for a lock on one is not in `/proc/locks` while
    // the stop has interrupted it (the kernel takes the waiter off and puts it back when the
    // call restarts), so the locks on those files are kept too.
    let waited_files: BTreeSet<u64> = (all.iter())
        .filter(|f| f.kind == FdKind::File && named.contains(&f.fd))
        .map(|f| f.inode)
        .collect();
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let mut file_locks = about(parse_locks(&locks), pid, &waited_files);
    ofd_holders(&mut file_locks);
    let locked: BTreeSet<u64> = file_locks.iter().map(|l| l.inode).collect();
    let fds: Vec<OpenFd> = all
        .into_iter()
        .filter(|f| f.kind != FdKind::File || named.contains(&f.fd) || locked.contains(&f.inode))
        .collect();
    let blocked_on = |kind: FdKind| -> BTreeSet<u64> {
        (fds.iter())
            .filter(|f| f.kind == kind && named.contains(&f.fd))
            .map(|f| f.inode)
            .collect()
    };
    let peers = super::sockets::peers(&blocked_on(FdKind::Socket));
    let mut waited = blocked_on(FdKind::Pipe);
    waited.extend(peers.values());
    let pipe_ends = holders::pipe_ends(&waited);
    // The other sides of the ptys its blocked reads and writes use, the eventfds they read.
    let used: BTreeSet<i32> = (blocked.iter())
        .filter(|s| reads_or_writes(s))
        .filter_map(|s| fd_arg(s))
        .collect();
    let channels: BTreeSet<Channel> = (fds.iter())
        .filter(|f| used.contains(&f.fd))
        .filter_map(|f| Some(f.channel?.other_side()))
        .collect();
    let channel_ends = holders::channel_ends(&channels);
    let socket_peers = (peers.into_iter())
        .map(|(inode, peer)| SocketPeer { inode, peer })
        .collect();
    let mut others: BTreeSet<u32> = pipe_ends.iter().map(|e| e.pid).collect();
    others.extend(channel_ends.iter().map(|e| e.pid));
    others.extend(file_locks.iter().filter_map(|l| l.pid));
    others.remove(&pid);
    let Stat { ppid, pgid, .. } = stat(pid);
    ProcessFacts {
        ppid,
        pgid,
        command: command(pid),
        fds,
        file_locks,
        pipe_ends,
        socket_peers,
        channel_ends,
        others: others.into_iter().filter_map(other).collect(),
    }
}

/// The descriptor a blocking call names in its first argument (`read`, `write`, `flock`,
/// `fcntl`, ...).
fn fd_arg(call: &Syscall) -> Option<i32> {
    const WITH_FD: [&str; 12] = [
        "read", "write", "readv", "writev", "pread64", "pwrite64", "flock", "fcntl", "recvfrom",
        "recvmsg", "sendto", "sendmsg",
    ];
    let name = call.name.as_deref()?;
    WITH_FD.contains(&name).then_some(call.args[0] as i32)
}

/// Whether a call reads or writes its descriptor.
fn reads_or_writes(call: &Syscall) -> bool {
    matches!(
        call.name.as_deref(),
        Some("read" | "readv" | "pread64" | "write" | "writev" | "pwrite64")
    )
}

/// Every descriptor of `pid` (up to [`MAX_FDS`]), by its link and `fdinfo`.
fn descriptors(pid: u32) -> Vec<OpenFd> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut fds: Vec<OpenFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .take(MAX_FDS)
        .filter_map(|fd| descriptor(pid, fd))
        .collect();
    fds.sort_by_key(|f| f.fd);
    fds
}

/// Descriptor `fd` of `pid`: what its link names, its inode and access from `fdinfo`.
fn descriptor(pid: u32, fd: i32) -> Option<OpenFd> {
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let link = link.to_string_lossy();
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let access = holders::access(&info)?;
    let channel = holders::channel(pid, &link, || Some(info.clone()));
    let bracketed = |prefix: &str| {
        link.strip_prefix(prefix)?
            .strip_suffix(']')?
            .parse::<u64>()
            .ok()
    };
    let ino = procinfo::field(&info, "ino:").and_then(|i| i.parse().ok());
    let (kind, inode, path) = if let Some(i) = bracketed("pipe:[") {
        (FdKind::Pipe, i, None)
    } else if let Some(i) = bracketed("socket:[") {
        (FdKind::Socket, i, None)
    } else if link == "anon_inode:[eventfd]" {
        (FdKind::Eventfd, ino.unwrap_or(0), None)
    } else if link.starts_with('/') {
        let pty = matches!(
            channel,
            Some(Channel::PtyMaster { .. } | Channel::PtySlave { .. })
        );
        let kind = if pty { FdKind::Pty } else { FdKind::File };
        (kind, ino.unwrap_or(0), Some(link.into_owned()))
    } else {
        return None;
    };
    Some(OpenFd {
        fd,
        kind,
        inode,
        access,
        path,
        channel,
        count: (kind == FdKind::Eventfd)
            .then(|| holders::eventfd_count(&info))
            .flatten(),
    })
}

/// `/proc/locks` lines, parsed; unreadable lines are skipped.
pub fn parse_locks(text: &str) -> Vec<FileLock> {
    text.lines().filter_map(parse_lock).collect()
}

/// One line: `1: POSIX  ADVISORY  WRITE 2297 00:2a:1093 0 EOF`, a wait with `->` after the
/// number.
fn parse_lock(line: &str) -> Option<FileLock> {
    let (id, rest) = line.split_once(':')?;
    let mut f = rest.split_whitespace().peekable();
    let blocked = f.next_if_eq(&"->").is_some();
    let class = f.next()?.to_string();
    let _mode = f.next()?;
    let write = match f.next()? {
        "WRITE" => true,
        "READ" | "UNLCK" => false,
        _ => return None,
    };
    let pid = f.next()?.parse::<i64>().ok()?;
    let mut file = f.next()?.rsplitn(2, ':');
    let inode = file.next()?.parse().ok()?;
    let device = file.next()?.to_string();
    let start = f.next()?.parse().ok()?;
    let end = match f.next()? {
        "EOF" => None,
        n => Some(n.parse().ok()?),
    };
    Some(FileLock {
        id: id.trim().parse().ok()?,
        class,
        write,
        pid: u32::try_from(pid).ok().filter(|&p| p > 0),
        blocked,
        device,
        inode,
        start,
        end,
    })
}

/// Names the holders of the open file description locks among `locks`, which `/proc/locks`
/// writes with pid -1: a process one of whose descriptors' `fdinfo` lists the lock (the
/// kernel lists there the locks of the descriptor's open file description). The first found,
/// when the description is shared (inherited by a fork).
fn ofd_holders(locks: &mut [FileLock]) {
    let unnamed = |l: &FileLock| l.class == "OFDLCK" && !l.blocked && l.pid.is_none();
    let wanted: BTreeSet<u64> = locks
        .iter()
        .filter(|l| unnamed(l))
        .map(|l| l.inode)
        .collect();
    if wanted.is_empty() {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    let pids = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok());
    for pid in pids.take(MAX_PROCESSES) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
            continue;
        };
        for entry in fds.take(MAX_FDS).flatten() {
            let Ok(info) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let listed = info
                .lines()
                .filter_map(|l| parse_lock(l.strip_prefix("lock:")?));
            for held in listed.filter(|h| h.class == "OFDLCK" && wanted.contains(&h.inode)) {
                let same = |l: &FileLock| {
                    (l.device == held.device && l.inode == held.inode)
                        && (l.start, l.end, l.write) == (held.start, held.end, held.write)
                };
                for l in locks.iter_mut().filter(|l| unnamed(l) && same(l)) {
                    l.pid = Some(pid);
                }
            }
        }
    }
}

/// The locks whose line number `pid` appears under (the lock and every wait for it), and the
/// locks on the files of inodes `files`.
fn about(locks: Vec<FileLock>, pid: u32, files: &BTreeSet<u64>) -> Vec<FileLock> {
    let ids: BTreeSet<u64> = locks
        .iter()
        .filter(|l| l.pid == Some(pid) || files.contains(&l.inode))
        .map(|l| l.id)
        .collect();
    locks.into_iter().filter(|l| ids.contains(&l.id)).collect()
}

/// What `/proc/PID/stat` says of a process.
struct Stat {
    state: crate::model::KernelState,
    ppid: Option<u32>,
    pgid: Option<u32>,
}

/// A process's state, parent and process group, from `/proc/PID/stat`.
fn stat(pid: u32) -> Stat {
    let Some(stat) = procinfo::stat_fields(pid) else {
        return Stat {
            state: crate::model::KernelState::Unknown,
            ppid: None,
            pgid: None,
        };
    };
    let mut f = stat.split_whitespace();
    let state = f.next().and_then(|s| s.chars().next());
    Stat {
        state: state.map_or(crate::model::KernelState::Unknown, procinfo::state_of),
        ppid: f.next().and_then(|p| p.parse().ok()),
        pgid: f.next().and_then(|p| p.parse().ok()),
    }
}

/// A process's command line, arguments joined by spaces.
fn command(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then(|| args.join(" "))
}

/// Another process as `/proc` shows it now; `None` when it is gone.
fn other(pid: u32) -> Option<OtherProcess> {
    let Stat { state, ppid, pgid } = stat(pid);
    ppid?;
    let syscall = match procinfo::syscall_now(pid as i32, pid as i32) {
        Some(procinfo::InSyscall::Call { number, args }) => Some(Syscall {
            number,
            name: crate::syscalls::name(number).map(str::to_string),
            args,
        }),
        _ => None,
    };
    Some(OtherProcess {
        pid,
        ppid,
        pgid,
        command: command(pid),
        state,
        syscall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_and_their_waits() {
        let text = "1: POSIX  ADVISORY  WRITE 2297 00:2a:1093 0 EOF\n\
                    1: -> POSIX  ADVISORY  WRITE 2300 00:2a:1093 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 2190 fd:01:12345 0 EOF\n\
                    3: OFDLCK ADVISORY  READ  -1 08:02:77 10 19\n\
                    garbage\n";
        let locks = parse_locks(text);
        assert_eq!(locks.len(), 4);
        assert!(locks[1].blocked && locks[1].pid == Some(2300));
        assert_eq!((locks[2].device.as_str(), locks[2].inode), ("fd:01", 12345));
        assert_eq!(
            (locks[3].pid, locks[3].end, locks[3].write),
            (None, Some(19), false)
        );
        let mine = about(locks.clone(), 2300, &BTreeSet::new());
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].pid, Some(2297));
        // A wait the stop took off the list: the locks on the file it waits for.
        let on_file = about(locks, 4000, &BTreeSet::from([12345]));
        assert_eq!(on_file.len(), 1);
        assert_eq!(on_file[0].pid, Some(2190));
    }
}
