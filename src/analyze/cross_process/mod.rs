//! One wait-for graph across a set of processes (`attach P1 P2`, `--tree`, `run`, saved
//! snapshots parsed together): threads, qualified by their process, wait for other processes
//! through a child's exit, a pipe or a file lock ([`ties`]); and the findings that span
//! processes: a cycle (a parent waiting for a child that writes into a pipe only that parent
//! reads), a file lock held by another process, a read waiting for an end of file that a
//! sleeping process holds back. Pure: from the snapshots' kernel facts (live capture only).

mod chains;
mod shared;
mod ties;

use super::{Analysis, Grade, Severity};
use crate::knowledge::KnowledgeBase;
use crate::model::{Channel, OtherProcess, Snapshot};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The schema version of the set's graph in the JSON report (`processes.version`).
pub const VERSION: u32 = 1;

/// Who waits, or is waited for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Party {
    /// A thread of a captured process (indexes: the snapshot, its thread).
    Thread {
        /// The snapshot.
        process: usize,
        /// The thread.
        thread: usize,
    },
}

/// What a tie waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Tie {
    /// The child to exit (`wait4`/`waitid` naming it).
    ChildExit,
    /// Any child to exit (`wait4(-1)`, `waitid(P_ALL)`): this is one of them.
    AnyChild,
    /// Any child of a process group to exit (`wait4(-pgid)`, `wait4(0)`, `waitid(P_PGID)`):
    /// this is one of them, in that group.
    GroupChild {
        /// The group.
        pgid: u32,
    },
    /// Room in a full pipe, which only the other end's readers make.
    PipeFull {
        /// The pipe's inode.
        inode: u64,
        /// The writer's descriptor.
        fd: i32,
    },
    /// Data or end of file on an empty pipe: a writer writes, or every writer closes its end.
    PipeEmpty {
        /// The pipe's inode.
        inode: u64,
        /// The reader's descriptor.
        fd: i32,
    },
    /// Room in a connected Unix socket whose peer does not read what it was sent.
    SocketFull {
        /// The socket's inode.
        inode: u64,
        /// Its peer's.
        peer: u64,
        /// The writer's descriptor.
        fd: i32,
    },
    /// Data on a connected Unix socket whose peer sends nothing.
    SocketEmpty {
        /// The socket's inode.
        inode: u64,
        /// Its peer's.
        peer: u64,
        /// The reader's descriptor.
        fd: i32,
    },
    /// Data on a pty side or an eventfd (its count 0) that has none: only the processes
    /// holding the pty's other side, or the same eventfd, write it.
    ChannelEmpty {
        /// The pty side or eventfd read.
        channel: Channel,
        /// The reader's descriptor.
        fd: i32,
    },
    /// Room in a pty side whose buffer is full: only the processes holding its other side
    /// read it.
    ChannelFull {
        /// The pty side written.
        channel: Channel,
        /// The writer's descriptor.
        fd: i32,
    },
    /// A process-shared lock (a mutex in shared memory) whose owner field names a thread of the
    /// other process.
    SharedLock {
        /// The lock's address, in the waiter's memory.
        address: u64,
        /// The data symbol it is in, when named.
        symbol: Option<String>,
        /// The owner's thread id, as memory holds it.
        owner: u64,
        /// The owner's thread (its index in its process's snapshot).
        owner_thread: usize,
    },
    /// A file lock the other holds (`/proc/locks`).
    FileLock {
        /// `FLOCK`, `POSIX`, `OFDLCK`.
        class: String,
        /// Held for writing.
        write: bool,
        /// The file's inode and device.
        inode: u64,
        /// `major:minor`.
        device: String,
        /// The locked range.
        start: u64,
        /// Its last byte (none: to the end of the file).
        end: Option<u64>,
        /// The waiter's descriptor.
        fd: i32,
        /// The file's path, as the waiter opened it (untrusted text).
        path: Option<String>,
    },
}

/// A thread's wait for a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TieEdge {
    /// The waiting thread.
    pub from: Party,
    /// The process waited for.
    pub to: u32,
    /// Through what.
    pub tie: Tie,
}

/// The kinds of finding that span processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetKind {
    /// A parent waits for a child to exit, and the child for a pipe only the parent serves.
    PipeCycle,
    /// Processes wait for each other some other way (file locks, ptys, eventfds).
    ProcessCycle,
    /// Processes each write a request into a connected socket whose peer, writing too, never
    /// reads it: a request/response deadlock.
    RequestResponse,
    /// A thread waits for a file lock that another process holds.
    LockHeldByProcess,
    /// A thread reads an empty pipe whose write ends only sleeping processes hold (or a pty's
    /// master whose slave side only they hold): the end of file it may wait for comes only
    /// when they close them.
    EofNeverComes,
    /// A thread waits for a child that cannot exit: its own analysis found it deadlocked.
    WaitsForStuckChild,
}

impl SetKind {
    /// Every kind.
    pub const ALL: [SetKind; 6] = [
        Self::PipeCycle,
        Self::ProcessCycle,
        Self::RequestResponse,
        Self::LockHeldByProcess,
        Self::EofNeverComes,
        Self::WaitsForStuckChild,
    ];

    /// The name used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PipeCycle => "pipe-cycle",
            Self::ProcessCycle => "process-cycle",
            Self::RequestResponse => "request-response",
            Self::LockHeldByProcess => "lock-held-by-process",
            Self::EofNeverComes => "eof-never-comes",
            Self::WaitsForStuckChild => "waits-for-stuck-child",
        }
    }
}

/// A finding over the set.
#[derive(Debug, Clone, Serialize)]
pub struct SetFinding {
    /// What kind.
    pub kind: SetKind,
    /// How bad.
    pub severity: Severity,
    /// How sure.
    pub grade: Grade,
    /// Its waits (indexes into [`SetAnalysis::edges`]): a cycle's in order, or the one wait
    /// with every holder it waits for.
    pub edges: Vec<usize>,
    /// Waits for a child on the cycle, from outside it (a shell waiting for its stuck
    /// command): indexes into [`SetAnalysis::edges`].
    pub chain: Vec<usize>,
    /// The child's own finding that keeps it from exiting (a waits-for-stuck-child finding).
    pub attached: Vec<Attached>,
    /// What to do (the packs' advice).
    pub suggestion: Option<String>,
    /// The same hang's signature across runs: its kind, and each wait's program and tie.
    pub signature: String,
}

/// A finding of one process's own report, attached to a finding over the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Attached {
    /// The process's snapshot (report) index.
    pub report: usize,
    /// The finding's index in its report.
    pub finding: usize,
}

/// The set's graph and findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SetAnalysis {
    /// Every wait of a thread for a process.
    pub edges: Vec<TieEdge>,
    /// The findings, deadlocks first.
    pub findings: Vec<SetFinding>,
    /// The processes the waits name that were not captured, as `/proc` showed them.
    pub outside: Vec<OtherProcess>,
    /// The processes of a set of several cores, whose kernel facts cores do not carry: their
    /// pipes, sockets, ptys, eventfds, file locks and waits for children are not seen
    /// (snapshot indexes).
    pub unseen: Vec<usize>,
}

impl SetAnalysis {
    /// Whether a finding says processes cannot move.
    pub fn deadlocked(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Deadlock)
    }

    /// The captured process of pid `pid` (its snapshot's index).
    pub fn captured(snaps: &[Snapshot], pid: u32) -> Option<usize> {
        snaps.iter().position(|s| s.pid == Some(pid))
    }

    /// The process `pid` outside the set, as `/proc` showed it.
    pub fn outsider(&self, pid: u32) -> Option<&OtherProcess> {
        self.outside.iter().find(|o| o.pid == pid)
    }
}

/// Analyses the set: its ties and the findings that span processes. Empty unless snapshots
/// carry kernel facts (live captures and their saved snapshots).
pub fn analyze_set(snaps: &[Snapshot], analyses: &[Analysis], kb: &KnowledgeBase) -> SetAnalysis {
    let mut edges = ties::edges(snaps);
    edges.extend(shared::edges(snaps, analyses));
    let mut outside: BTreeMap<u32, OtherProcess> = BTreeMap::new();
    for f in snaps.iter().filter_map(|s| s.process.as_ref()) {
        for o in &f.others {
            if SetAnalysis::captured(snaps, o.pid).is_none() {
                outside.entry(o.pid).or_insert_with(|| o.clone());
            }
        }
    }
    let unseen = (snaps.iter().enumerate())
        .filter(|(_, s)| snaps.len() > 1 && s.producer == "core" && s.process.is_none())
        .map(|(i, _)| i)
        .collect();
    let mut set = SetAnalysis {
        edges,
        findings: Vec::new(),
        outside: outside.into_values().collect(),
        unseen,
    };
    let in_cycle = cycles(snaps, &mut set);
    lone_waits(snaps, &mut set, &in_cycle);
    chains::add(snaps, analyses, &mut set, &in_cycle);
    for i in 0..set.findings.len() {
        let f = &set.findings[i];
        let signature = signature(snaps, &set, f);
        let suggestion = kb.advice([], f.kind.as_str()).map(str::to_string);
        let f = &mut set.findings[i];
        f.signature = signature;
        f.suggestion = suggestion;
    }
    set
}

/// A finding's signature: a digest of its kind and, per wait, the waiting program's name and
/// what it waits through (pids and inodes change from run to run; these do not).
fn signature(snaps: &[Snapshot], set: &SetAnalysis, f: &SetFinding) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(f.kind.as_str());
    for &e in &f.edges {
        let Party::Thread { process, .. } = set.edges[e].from;
        let program = (snaps[process].process.as_ref())
            .and_then(|p| p.command.as_deref()?.split_whitespace().next())
            .map(|p| p.rsplit('/').next().unwrap_or(p))
            .unwrap_or("?");
        let tie = match &set.edges[e].tie {
            Tie::ChildExit | Tie::AnyChild | Tie::GroupChild { .. } => "child",
            Tie::PipeFull { .. } => "pipe-full",
            Tie::PipeEmpty { .. } => "pipe-empty",
            Tie::SocketFull { .. } => "socket-full",
            Tie::SocketEmpty { .. } => "socket-empty",
            Tie::ChannelEmpty {
                channel: Channel::Eventfd { .. },
                ..
            } => "eventfd-empty",
            Tie::ChannelEmpty { .. } => "pty-empty",
            Tie::ChannelFull { .. } => "pty-full",
            Tie::FileLock { .. } => "file-lock",
            Tie::SharedLock { .. } => "shared-lock",
        };
        h.update(format!("\0{program}\0{tie}"));
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The process a thread party belongs to.
fn pid_of(snaps: &[Snapshot], p: &Party) -> Option<u32> {
    match p {
        Party::Thread { process, .. } => snaps[*process].pid,
    }
}

/// Finds the cycles: the processes every thread of which sleeps waiting for processes of the
/// same closed set. Returns the edges on them.
fn cycles(snaps: &[Snapshot], set: &mut SetAnalysis) -> BTreeSet<usize> {
    // Per process: each thread's waits (edge indexes).
    let mut waits: BTreeMap<u32, BTreeMap<usize, Vec<usize>>> = BTreeMap::new();
    for (i, e) in set.edges.iter().enumerate() {
        let Party::Thread { process, thread } = e.from;
        if let Some(pid) = snaps[process].pid {
            waits
                .entry(pid)
                .or_default()
                .entry(thread)
                .or_default()
                .push(i);
        }
    }
    // Candidates: captured, asleep, every thread waiting for some process.
    let mut closed: BTreeSet<u32> = waits
        .iter()
        .filter(|(&pid, by_thread)| {
            SetAnalysis::captured(snaps, pid).is_some_and(|p| {
                ties::asleep(&snaps[p]) && by_thread.len() == snaps[p].threads.len()
            })
        })
        .map(|(&pid, _)| pid)
        .collect();
    // Drop any process with a thread that waits for one outside (a reader who may read).
    loop {
        let out: Vec<u32> = (closed.iter().copied())
            .filter(|pid| {
                waits[pid]
                    .values()
                    .any(|es| es.iter().any(|&e| !closed.contains(&set.edges[e].to)))
            })
            .collect();
        if out.is_empty() {
            break;
        }
        for pid in out {
            closed.remove(&pid);
        }
    }
    let mut on_cycles = BTreeSet::new();
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    for &start in &closed {
        if seen.contains(&start) {
            continue;
        }
        // Walk first waits until a process repeats: every process in `closed` has one.
        let mut path: Vec<(u32, usize)> = Vec::new();
        let mut at = start;
        while !path.iter().any(|&(p, _)| p == at) && !seen.contains(&at) {
            let e = waits[&at].values().flatten().copied().next().unwrap_or(0);
            path.push((at, e));
            at = set.edges[e].to;
        }
        seen.extend(path.iter().map(|&(p, _)| p));
        let Some(from) = path.iter().position(|&(p, _)| p == at) else {
            continue;
        };
        let cycle: Vec<usize> = path[from..].iter().map(|&(_, e)| e).collect();
        let socket = cycle.iter().any(|&e| {
            matches!(
                set.edges[e].tie,
                Tie::SocketFull { .. } | Tie::SocketEmpty { .. }
            )
        });
        let piped = cycle.iter().any(|&e| {
            matches!(
                set.edges[e].tie,
                Tie::PipeFull { .. } | Tie::PipeEmpty { .. }
            )
        });
        on_cycles.extend(cycle.iter().copied());
        set.findings.push(SetFinding {
            kind: if socket {
                SetKind::RequestResponse
            } else if piped {
                SetKind::PipeCycle
            } else {
                SetKind::ProcessCycle
            },
            severity: Severity::Deadlock,
            grade: Grade::Proven,
            edges: cycle,
            chain: Vec::new(),
            attached: Vec::new(),
            suggestion: None,
            signature: String::new(),
        });
    }
    on_cycles
}

/// Waits on no cycle: a lock another process holds, and reads whose writers all sleep.
fn lone_waits(snaps: &[Snapshot], set: &mut SetAnalysis, in_cycle: &BTreeSet<usize>) {
    // One finding per waiting thread and kind, with every holder it waits for.
    let mut by_wait: BTreeMap<(usize, usize, bool), Vec<usize>> = BTreeMap::new();
    for (i, e) in set.edges.iter().enumerate() {
        let Party::Thread { process, thread } = e.from;
        // A wait memory proves (a shared lock's owner) needs no look at the thread's state,
        // which a core does not give.
        let proven = matches!(e.tie, Tie::SharedLock { .. });
        if in_cycle.contains(&i) || !proven && !thread_asleep(snaps, e) {
            continue;
        }
        match e.tie {
            Tie::FileLock { .. } | Tie::SharedLock { .. } => {
                by_wait.entry((process, thread, true)).or_default().push(i)
            }
            // A pty's master reads what its child writes; its slave side is a terminal, whose
            // reader waits for a person at the master's end (a terminal emulator, sshd, tmux
            // sleeping in poll), and an eventfd has no end of file: those are left to the graph.
            Tie::PipeEmpty { .. }
            | Tie::ChannelEmpty {
                channel: Channel::PtyMaster { .. },
                ..
            } => by_wait.entry((process, thread, false)).or_default().push(i),
            _ => {}
        }
    }
    for ((_, _, lock), edges) in by_wait {
        let kind = if lock {
            SetKind::LockHeldByProcess
        } else {
            // Only when every writer sleeps, and none of them is writing into it.
            let quiet = edges
                .iter()
                .all(|&e| holder_quiet(snaps, set, set.edges[e].to));
            if !quiet {
                continue;
            }
            SetKind::EofNeverComes
        };
        set.findings.push(SetFinding {
            kind,
            severity: Severity::Warning,
            grade: Grade::Proven,
            edges,
            chain: Vec::new(),
            attached: Vec::new(),
            suggestion: None,
            signature: String::new(),
        });
    }
}

/// Whether the waiting thread of `e` itself sleeps still in its call.
fn thread_asleep(snaps: &[Snapshot], e: &TieEdge) -> bool {
    let Party::Thread { process, thread } = e.from;
    ties::thread_asleep(&snaps[process].threads[thread])
}

/// Whether process `pid` sleeps (every thread, when captured) and writes into no pipe.
fn holder_quiet(snaps: &[Snapshot], set: &SetAnalysis, pid: u32) -> bool {
    let writing = set
        .edges
        .iter()
        .any(|e| pid_of(snaps, &e.from) == Some(pid) && matches!(e.tie, Tie::PipeFull { .. }));
    !writing
        && match SetAnalysis::captured(snaps, pid) {
            Some(p) => ties::asleep(&snaps[p]),
            None => set.outsider(pid).is_some_and(ties::outsider_asleep),
        }
}
