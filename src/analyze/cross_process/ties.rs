//! The ties between processes: which thread waits for which process, and through what (a
//! child's exit, a pipe, a socket, a pty, an eventfd, a file lock), from the system call each thread was blocked in and the
//! kernel's facts of the set's processes. A pure function of the snapshots.

use super::{Party, Tie, TieEdge};
use crate::analyze::motion::Motion;
use crate::model::{
    Access, Channel, FdKind, FileLock, KernelState, OpenFd, OtherProcess, ProcessFacts, Snapshot,
    Syscall,
};
use std::collections::BTreeSet;

/// `fcntl` commands that wait for a lock: `F_SETLKW`, `F_OFD_SETLKW`.
const F_SETLKW: u64 = 7;
const F_OFD_SETLKW: u64 = 38;
/// `waitid` id types: every child, one pid, one process group.
const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;

/// Every tie of every thread of `snaps`.
pub fn edges(snaps: &[Snapshot]) -> Vec<TieEdge> {
    let mut out = Vec::new();
    for (p, snap) in snaps.iter().enumerate() {
        let (Some(pid), Some(facts)) = (snap.pid, &snap.process) else {
            continue;
        };
        for (t, thread) in snap.threads.iter().enumerate() {
            let Some(call) = thread.kernel.as_ref().and_then(|k| k.syscall.as_ref()) else {
                continue;
            };
            let from = Party::Thread {
                process: p,
                thread: t,
            };
            for (to, tie) in ties(snaps, pid, facts, call) {
                out.push(TieEdge {
                    from: from.clone(),
                    to,
                    tie,
                });
            }
        }
    }
    out
}

/// What the call `call` of a thread of process `pid` waits for: `(pid, tie)` each.
fn ties(snaps: &[Snapshot], pid: u32, facts: &ProcessFacts, call: &Syscall) -> Vec<(u32, Tie)> {
    let a = call.args;
    let fd = a[0] as i32;
    let open = || facts.fds.iter().find(|f| f.fd == fd);
    match call.name.as_deref().unwrap_or("") {
        // wait4(pid): that child; -1: any; 0: any in its own group; -pgid: any in that group.
        "wait4" => match a[0] as i32 {
            child if child > 0 => vec![(child as u32, Tie::ChildExit)],
            -1 => any_child(snaps, pid, None),
            0 => any_child(snaps, pid, Some(facts.pgid)),
            group => any_child(snaps, pid, Some(Some(group.unsigned_abs()))),
        },
        "waitid" if a[0] == P_PID => vec![(a[1] as u32, Tie::ChildExit)],
        "waitid" if a[0] == P_ALL => any_child(snaps, pid, None),
        "waitid" if a[0] == P_PGID => {
            let group = (a[1] as u32 != 0).then_some(a[1] as u32).or(facts.pgid);
            any_child(snaps, pid, Some(group))
        }
        "read" | "readv" | "write" | "writev" | "recvfrom" | "recvmsg" | "sendto" | "sendmsg" => {
            let writing = matches!(
                call.name.as_deref(),
                Some("write" | "writev" | "sendto" | "sendmsg")
            );
            match open() {
                Some(f) if f.kind == FdKind::Pipe => pipe(facts, f.inode, fd, writing),
                Some(f) if f.kind == FdKind::Socket => socket(facts, f.inode, fd, writing),
                Some(f) => channel(facts, pid, f, writing),
                _ => Vec::new(),
            }
        }
        "flock" => lock_holder(facts, pid, fd),
        "fcntl" if matches!(a[1], F_SETLKW | F_OFD_SETLKW) => lock_holder(facts, pid, fd),
        _ => Vec::new(),
    }
}

/// A wait on pipe `inode`: for its readers (`writing`: the pipe is full) or its writers.
fn pipe(facts: &ProcessFacts, inode: u64, fd: i32, writing: bool) -> Vec<(u32, Tie)> {
    let (tie, other_end): (Tie, fn(Access) -> bool) = if writing {
        (Tie::PipeFull { inode, fd }, Access::reads)
    } else {
        (Tie::PipeEmpty { inode, fd }, Access::writes)
    };
    let holders: BTreeSet<u32> = (facts.pipe_ends.iter())
        .filter(|e| e.inode == inode && other_end(e.access))
        .map(|e| e.pid)
        .collect();
    holders.into_iter().map(|h| (h, tie.clone())).collect()
}

/// A wait on socket `inode`: for the processes holding its peer, to read what it sent
/// (`writing`: its buffers are full) or to send.
fn socket(facts: &ProcessFacts, inode: u64, fd: i32, writing: bool) -> Vec<(u32, Tie)> {
    let Some(peer) = (facts.socket_peers.iter()).find(|p| p.inode == inode) else {
        return Vec::new();
    };
    let peer = peer.peer;
    let tie = if writing {
        Tie::SocketFull { inode, peer, fd }
    } else {
        Tie::SocketEmpty { inode, peer, fd }
    };
    let holders: BTreeSet<u32> = (facts.pipe_ends.iter())
        .filter(|e| e.inode == peer)
        .map(|e| e.pid)
        .collect();
    holders.into_iter().map(|h| (h, tie.clone())).collect()
}

/// A read of pty side or eventfd `f` by process `pid`: for the other processes holding the
/// pty's other side, or the same eventfd (while its count is 0: else the read does not wait);
/// a write of a pty side (`writing`: its buffer is full) for those holding the other side, to
/// read. The process's own is left out: whether its other threads do is its own report's.
fn channel(facts: &ProcessFacts, pid: u32, f: &OpenFd, writing: bool) -> Vec<(u32, Tie)> {
    let Some(used) = f.channel else {
        return Vec::new();
    };
    let eventfd = matches!(used, Channel::Eventfd { .. });
    if eventfd && (writing || f.count != Some(0)) {
        return Vec::new();
    }
    let other = used.other_side();
    let holders: BTreeSet<u32> = (facts.channel_ends.iter())
        .filter(|e| e.channel == other && e.pid != pid)
        .map(|e| e.pid)
        .collect();
    let (channel, fd) = (used, f.fd);
    let tie = if writing {
        Tie::ChannelFull { channel, fd }
    } else {
        Tie::ChannelEmpty { channel, fd }
    };
    holders.into_iter().map(|h| (h, tie.clone())).collect()
}

/// Every child of `pid` the set knows (a captured process's parent, or another process's);
/// with `group`, only those in that process group (`Some(None)`: a group not known, so none).
fn any_child(snaps: &[Snapshot], pid: u32, group: Option<Option<u32>>) -> Vec<(u32, Tie)> {
    let wanted = |pgid: Option<u32>| group.is_none_or(|g| g.is_some() && g == pgid);
    let mut children: BTreeSet<u32> = BTreeSet::new();
    for s in snaps {
        let Some(f) = &s.process else { continue };
        if f.ppid == Some(pid) && wanted(f.pgid) {
            children.extend(s.pid);
        }
        children.extend(
            (f.others.iter())
                .filter(|o| o.ppid == Some(pid) && wanted(o.pgid))
                .map(|o| o.pid),
        );
    }
    let tie = match group {
        Some(Some(pgid)) => Tie::GroupChild { pgid },
        _ => Tie::AnyChild,
    };
    children.into_iter().map(|c| (c, tie.clone())).collect()
}

/// The process holding the lock that process `pid` waits for on descriptor `fd`.
fn lock_holder(facts: &ProcessFacts, pid: u32, fd: i32) -> Vec<(u32, Tie)> {
    let Some(file) = facts.fds.iter().find(|f| f.fd == fd) else {
        return Vec::new();
    };
    let on_file = |l: &&FileLock| l.inode == file.inode;
    let waits: BTreeSet<u64> = (facts.file_locks.iter().filter(on_file))
        .filter(|l| l.blocked && l.pid == Some(pid))
        .map(|l| l.id)
        .collect();
    // The locks its wait is listed under; when the stop took the wait off the list (it is put
    // back when the call restarts), every other process's lock on the file.
    let held = (facts.file_locks.iter().filter(on_file)).filter(|l| {
        !l.blocked
            && if waits.is_empty() {
                l.pid != Some(pid)
            } else {
                waits.contains(&l.id)
            }
    });
    held.filter_map(|h| Some((h.pid?, lock_tie(h, fd, file.path.clone()))))
        .collect()
}

fn lock_tie(l: &FileLock, fd: i32, path: Option<String>) -> Tie {
    Tie::FileLock {
        class: l.class.clone(),
        write: l.write,
        inode: l.inode,
        device: l.device.clone(),
        start: l.start,
        end: l.end,
        fd,
        path,
    }
}

/// Whether every thread of the captured process `snap` sleeps in a system call and stayed in
/// it (the second look saw it do nothing), in a whole capture.
pub fn asleep(snap: &Snapshot) -> bool {
    snap.complete && !snap.threads.is_empty() && snap.threads.iter().all(thread_asleep)
}

/// Whether thread `t` was stopped in a blocking system call and did next to nothing until the
/// second look. It may be runnable at either look: a thread a capture lets go is runnable
/// until it gets a CPU to go back into its call, which on a busy machine takes a while.
pub fn thread_asleep(t: &crate::model::Thread) -> bool {
    let Some(k) = &t.kernel else { return false };
    let waiting = |s| {
        matches!(
            s,
            KernelState::Sleeping | KernelState::DiskSleep | KernelState::Running
        )
    };
    let now = k.second_look.map_or(t.state, |l| l.state);
    waiting(t.state)
        && waiting(now)
        && k.syscall.is_some()
        && !k.progressed()
        && crate::analyze::motion::of(t, false).is_none_or(still)
}

/// Whether a thread's motion between the looks leaves it where the stop found it: still, or
/// stirred once (a write the stop cut short returns what it wrote, and the program calls it
/// again for the rest, which blocks again).
pub fn still(m: Motion) -> bool {
    matches!(m, Motion::Still | Motion::Stirred)
}

/// Whether a process outside the set sleeps in a system call, as `/proc` showed it.
pub fn outsider_asleep(o: &OtherProcess) -> bool {
    matches!(o.state, KernelState::Sleeping | KernelState::DiskSleep) && o.syscall.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelEnd, OpenFd};

    fn call(name: &str, args: [u64; 6]) -> Syscall {
        Syscall {
            number: 0,
            name: Some(name.into()),
            args,
        }
    }

    /// A captured process `pid` in group `pgid`, child of `ppid`.
    fn process(pid: u32, ppid: u32, pgid: Option<u32>) -> Snapshot {
        Snapshot {
            pid: Some(pid),
            process: Some(ProcessFacts {
                ppid: Some(ppid),
                pgid,
                ..ProcessFacts::default()
            }),
            ..Snapshot::default()
        }
    }

    fn targets(found: Vec<(u32, Tie)>) -> Vec<u32> {
        found.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn a_wait_for_a_group_names_only_that_group_s_children() {
        // 10's children: 11 in group 11, 12 in 10's own group 10, 13 of an unknown group.
        let snaps = [
            process(10, 1, Some(10)),
            process(11, 10, Some(11)),
            process(12, 10, Some(10)),
            process(13, 10, None),
        ];
        let facts = snaps[0].process.clone().unwrap();
        let wait = |pid: i64| call("wait4", [pid as u64, 0, 0, 0, 0, 0]);
        let all = ties(&snaps, 10, &facts, &wait(-1));
        assert_eq!(targets(all), [11, 12, 13]);
        let group = ties(&snaps, 10, &facts, &wait(-11));
        assert_eq!(group, [(11, Tie::GroupChild { pgid: 11 })]);
        assert_eq!(targets(ties(&snaps, 10, &facts, &wait(0))), [12]);
        let waitid = |pgid: u64| call("waitid", [P_PGID, pgid, 0, 0, 0, 0]);
        assert_eq!(targets(ties(&snaps, 10, &facts, &waitid(11))), [11]);
        assert_eq!(targets(ties(&snaps, 10, &facts, &waitid(0))), [12]);
        // Its own group unknown (a snapshot saved before groups were kept): nobody.
        let unknown = ProcessFacts {
            pgid: None,
            ..facts
        };
        assert!(ties(&snaps, 10, &unknown, &wait(0)).is_empty());
    }

    #[test]
    fn an_eventfd_read_waits_while_its_count_is_0_for_the_other_holders_only() {
        let ev = Channel::Eventfd { id: 4 };
        let fd = |count| OpenFd {
            fd: 5,
            kind: FdKind::Eventfd,
            inode: 1038,
            access: Access::ReadWrite,
            path: None,
            channel: Some(ev),
            count: Some(count),
        };
        let held = |pid, fd| ChannelEnd {
            channel: ev,
            pid,
            fd,
        };
        let mut facts = ProcessFacts {
            fds: vec![fd(0)],
            channel_ends: vec![held(10, 5), held(20, 7)],
            ..ProcessFacts::default()
        };
        let read = call("read", [5, 0, 8, 0, 0, 0]);
        let found = ties(&[], 10, &facts, &read);
        let empty = Tie::ChannelEmpty { channel: ev, fd: 5 };
        assert_eq!(found, [(20, empty)]);
        // A write to an eventfd is no wait for another process here.
        assert!(ties(&[], 10, &facts, &call("write", [5, 0, 8, 0, 0, 0])).is_empty());
        // A count above 0: the read does not wait.
        facts.fds = vec![fd(1)];
        assert!(ties(&[], 10, &facts, &read).is_empty());
    }

    #[test]
    fn a_pty_side_waits_for_the_holders_of_the_other_side() {
        let (master, slave) = (
            Channel::PtyMaster { index: 3 },
            Channel::PtySlave { index: 3 },
        );
        let facts = ProcessFacts {
            fds: vec![OpenFd {
                fd: 1,
                kind: FdKind::Pty,
                inode: 6,
                access: Access::ReadWrite,
                path: Some("/dev/pts/3".into()),
                channel: Some(slave),
                count: None,
            }],
            channel_ends: vec![
                ChannelEnd {
                    channel: master,
                    pid: 10,
                    fd: 3,
                },
                ChannelEnd {
                    channel: slave,
                    pid: 30,
                    fd: 0,
                },
            ],
            ..ProcessFacts::default()
        };
        let write = ties(&[], 20, &facts, &call("write", [1, 0, 9, 0, 0, 0]));
        let full = Tie::ChannelFull {
            channel: slave,
            fd: 1,
        };
        assert_eq!(write, [(10, full)]);
        let read = ties(&[], 20, &facts, &call("read", [1, 0, 9, 0, 0, 0]));
        assert_eq!(targets(read), [10]);
    }
}
