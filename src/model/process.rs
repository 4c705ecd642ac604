//! What the kernel said about a live process's ties to other processes (its parent and process
//! group, its open pipes, sockets, ptys, eventfds and files, the file locks it holds or waits for, and the processes at the
//! other ends), read from `/proc` at capture and kept in saved snapshots, so that a set of
//! processes can be analysed as one. Data only.

use super::{KernelState, Syscall};
use serde::{Deserialize, Serialize};

/// A process's ties to others, from `/proc` (live capture only: cores and dumps have none).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcessFacts {
    /// Its parent's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// Its process group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<u32>,
    /// Its command line, arguments joined by spaces (untrusted text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its open files that other processes can share (pipes, FIFOs, sockets, ptys, eventfds)
    /// and the files its threads block on, by descriptor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fds: Vec<OpenFd>,
    /// The file locks (`/proc/locks`) it holds or waits for, and the locks its waits are
    /// blocked by, whoever holds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_locks: Vec<FileLock>,
    /// Every process holding an end of a pipe one of its threads blocks on, or the peer of a
    /// socket one blocks on, its own included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipe_ends: Vec<PipeEnd>,
    /// The peers of the Unix sockets its threads block on (`sock_diag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub socket_peers: Vec<SocketPeer>,
    /// Every process holding the other side of a pty, or the eventfd, that one of its threads
    /// blocks reading, its own included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_ends: Vec<ChannelEnd>,
    /// The other processes named above (lock holders, pipe ends), as `/proc` showed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<OtherProcess>,
}

/// An open file descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenFd {
    /// The descriptor.
    pub fd: i32,
    /// What it is open on.
    pub kind: FdKind,
    /// The inode (of the pipe, socket or file).
    pub inode: u64,
    /// Which way it is open.
    pub access: Access,
    /// The file's path, for a file or FIFO (untrusted text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The pty side or eventfd it is, for finding who holds the other side or the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// An eventfd's counter (`fdinfo` `eventfd-count`): a read waits while it is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// A pty side or an eventfd: what a read on it waits for others to write.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Channel {
    /// The master side of pty N (`/dev/ptmx`, its `fdinfo` `tty-index`).
    PtyMaster {
        /// N.
        index: u32,
    },
    /// The slave side of pty N (`/dev/pts/N`).
    PtySlave {
        /// N.
        index: u32,
    },
    /// An eventfd, by its `fdinfo` `eventfd-id` (every eventfd has the same anonymous inode).
    Eventfd {
        /// Its id.
        id: u64,
    },
}

impl Channel {
    /// What a reader (a writer) of it waits for others to hold and write (read): the other
    /// side of a pty, the same eventfd.
    pub fn other_side(self) -> Channel {
        match self {
            Channel::PtyMaster { index } => Channel::PtySlave { index },
            Channel::PtySlave { index } => Channel::PtyMaster { index },
            e @ Channel::Eventfd { .. } => e,
        }
    }
}

/// A process holding a pty side or an eventfd.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChannelEnd {
    /// Which.
    pub channel: Channel,
    /// The process.
    pub pid: u32,
    /// Its descriptor.
    pub fd: i32,
}

/// What a descriptor is open on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum FdKind {
    /// An anonymous pipe.
    Pipe,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// A pseudo-terminal.
    Pty,
    /// An eventfd.
    Eventfd,
    /// A file (or anything else with a path).
    File,
}

/// Which way a descriptor is open (`O_ACCMODE` of its `fdinfo` flags).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read only (a pipe's read end).
    Read,
    /// Write only (a pipe's write end).
    Write,
    /// Both.
    ReadWrite,
}

impl Access {
    /// Whether it may read.
    pub fn reads(self) -> bool {
        self != Access::Write
    }

    /// Whether it may write.
    pub fn writes(self) -> bool {
        self != Access::Read
    }
}

/// One line of `/proc/locks`: a lock held, or (`blocked`) a wait for one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileLock {
    /// The line's number: a wait's line (`->`) follows the lock that blocks it, with its number.
    pub id: u64,
    /// `FLOCK`, `POSIX`, `OFDLCK`, `LEASE` as the kernel writes it.
    pub class: String,
    /// A write (exclusive) lock.
    pub write: bool,
    /// The process holding it or waiting for it (none: an open file description's lock, which
    /// names no process).
    pub pid: Option<u32>,
    /// A wait (`->`), not a lock held.
    pub blocked: bool,
    /// The file's device, `major:minor` in hex as the kernel writes it.
    pub device: String,
    /// The file's inode.
    pub inode: u64,
    /// The range's first byte.
    pub start: u64,
    /// The range's last byte; none: to the end of the file.
    pub end: Option<u64>,
}

/// A connected Unix socket and its peer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SocketPeer {
    /// The socket's inode.
    pub inode: u64,
    /// Its peer's.
    pub peer: u64,
}

/// A process holding one end of a pipe, or a socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PipeEnd {
    /// The pipe's (or socket's) inode.
    pub inode: u64,
    /// The process.
    pub pid: u32,
    /// Its descriptor.
    pub fd: i32,
    /// Which end.
    pub access: Access,
}

/// Another process, as `/proc` showed it at capture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OtherProcess {
    /// Its pid.
    pub pid: u32,
    /// Its parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// Its process group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<u32>,
    /// Its command line (untrusted text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its main thread's state.
    pub state: KernelState,
    /// The system call its main thread sits in (`/proc/PID/syscall`), when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<Syscall>,
}
