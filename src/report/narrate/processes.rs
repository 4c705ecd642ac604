//! Findings that span processes in words: who waits for which process, through which pipe,
//! socket, pty, eventfd, child or file lock, and what the process waited for is doing. Said from
//! [`SetAnalysis`]'s typed facts; names and command lines in them are untrusted, escaped by
//! each renderer.

use super::Told;
use crate::analyze::cross_process::{
    Attached, Party, SetAnalysis, SetFinding, SetKind, Tie, TieEdge,
};
use crate::analyze::Analysis;
use crate::model::{Channel, Snapshot, Syscall};

/// Command lines are cut to this many characters.
const COMMAND_CHARS: usize = 60;

/// Says finding `f` of the set; `analyses`: the processes' own, in the snapshots' order.
pub fn finding(
    snaps: &[Snapshot],
    analyses: &[Analysis],
    set: &SetAnalysis,
    f: &SetFinding,
) -> Told {
    let edges = f.edges.iter().map(|&e| step(snaps, set, &set.edges[e]));
    let mut steps: Vec<String> = edges.collect();
    steps.extend(f.attached.iter().map(|a| attached(snaps, analyses, set, a)));
    let chain = f
        .chain
        .iter()
        .map(|&e| format!("and {}", step(snaps, set, &set.edges[e])));
    steps.extend(chain);
    Told {
        title: title(snaps, analyses, set, f),
        explanation: explanation(f.kind).to_string(),
        steps,
        suggestion: f.suggestion.clone(),
    }
}

/// A stuck child's own finding: `pid 12 (x) cannot exit: its own report finds ...`.
fn attached(snaps: &[Snapshot], analyses: &[Analysis], set: &SetAnalysis, a: &Attached) -> String {
    let child = &snaps[a.report];
    let who = process(snaps, set, child.pid.unwrap_or(0));
    match analyses
        .get(a.report)
        .and_then(|an| an.findings.get(a.finding))
    {
        Some(f) => format!(
            "{who} cannot exit: its own report finds {}: {}",
            f.kind.as_str(),
            super::title(child, f)
        ),
        None => format!("{who} cannot exit"),
    }
}

/// The finding's one line.
pub fn title(
    snaps: &[Snapshot],
    analyses: &[Analysis],
    set: &SetAnalysis,
    f: &SetFinding,
) -> String {
    let first = &set.edges[f.edges[0]];
    let waiter = waiter_pid(snaps, &first.from);
    let holders: Vec<String> = f
        .edges
        .iter()
        .map(|&e| set.edges[e].to.to_string())
        .collect();
    match f.kind {
        SetKind::PipeCycle | SetKind::ProcessCycle | SetKind::RequestResponse => {
            let mut pids: Vec<String> = vec![waiter.to_string()];
            pids.extend(holders.iter().take(f.edges.len() - 1).cloned());
            let word = match f.kind {
                SetKind::PipeCycle => "pipe cycle: processes wait for each other through a pipe",
                SetKind::RequestResponse => {
                    "request/response deadlock: processes each write into a socket whose peer \
                     writes too and never reads"
                }
                _ => match through(set, f) {
                    Some("pty") => "process cycle: processes wait for each other through a pty",
                    Some("eventfd") => {
                        "process cycle: processes wait for each other through eventfds"
                    }
                    _ => "process cycle: processes wait for each other",
                },
            };
            format!("{word} (pid {})", pids.join(" → pid "))
        }
        SetKind::LockHeldByProcess => format!(
            "lock held by another process: pid {waiter} waits for {}, held by pid {}",
            tie_object(&first.tie),
            holders.join(", pid ")
        ),
        SetKind::WaitsForStuckChild => {
            let why = (f.attached.first())
                .and_then(|a| Some((a, analyses.get(a.report)?.findings.get(a.finding)?)))
                .map(|(a, cf)| format!(": {}", super::title(&snaps[a.report], cf)))
                .unwrap_or_default();
            format!(
                "waits for a stuck child: pid {waiter} waits for its child pid {}, which cannot \
                 exit{why}",
                holders.join(", pid ")
            )
        }
        SetKind::EofNeverComes => {
            let (what, holders) = (tie_object(&first.tie), holders.join(", pid "));
            match first.tie {
                Tie::ChannelEmpty { .. } => format!(
                    "end of file that never comes: pid {waiter} reads {what} whose other side \
                     sleeping process(es) hold open (pid {holders})"
                ),
                _ => format!(
                    "end of file that never comes: pid {waiter} reads {what} whose write end \
                     sleeping process(es) hold open (pid {holders})"
                ),
            }
        }
    }
}

/// What every wait of cycle `f` but its waits for children goes through, when that is one
/// kind of channel: `pty`, `eventfd`.
fn through(set: &SetAnalysis, f: &SetFinding) -> Option<&'static str> {
    let kind = |e: &usize| match set.edges[*e].tie {
        Tie::ChannelEmpty {
            channel: Channel::Eventfd { .. },
            ..
        } => Some("eventfd"),
        Tie::ChannelEmpty { .. } | Tie::ChannelFull { .. } => Some("pty"),
        _ => None,
    };
    let child = |e: &&usize| {
        matches!(
            set.edges[**e].tie,
            Tie::ChildExit | Tie::AnyChild | Tie::GroupChild { .. }
        )
    };
    let mut rest = f.edges.iter().filter(|e| !child(e));
    let first = kind(rest.next()?)?;
    rest.all(|e| kind(e) == Some(first)).then_some(first)
}

fn explanation(kind: SetKind) -> &'static str {
    match kind {
        SetKind::PipeCycle => {
            "Each process waits for the next: a parent waits for its child to exit, and the \
             child writes into a pipe that is full (a pipe holds 64 KiB) and that only the \
             parent reads. Neither ever moves."
        }
        SetKind::ProcessCycle => {
            "Each process waits for what the next one holds, and every thread of each of them \
             waits: none can move."
        }
        SetKind::LockHeldByProcess => {
            "The thread waits for a lock that another process holds (a file lock, flock or \
             fcntl, or a process-shared mutex); it moves only when that process releases the \
             lock or exits."
        }
        SetKind::RequestResponse => {
            "Each process writes into a connected socket more than its buffers hold, and the \
             peer that should read it is itself blocked writing: both wait for room that only \
             a read would make. Neither ever moves."
        }
        SetKind::WaitsForStuckChild => {
            "The thread waits for its child to exit, and the child cannot: its own report finds \
             it deadlocked. The parent stays stuck as long as the child does."
        }
        SetKind::EofNeverComes => {
            "The reader waits for data or for end of file on an empty pipe (or pty). End of \
             file comes only when every process holding the pipe's write end (the pty's other \
             side) closes it, and those that hold it sleep \
             without writing: often a background process that inherited it as its standard \
             output."
        }
    }
}

/// One wait in words.
pub fn step(snaps: &[Snapshot], set: &SetAnalysis, e: &TieEdge) -> String {
    let who = waiter(snaps, &e.from);
    let to = process(snaps, set, e.to);
    let what = match &e.tie {
        Tie::ChildExit => format!("waits for its child {to} to exit"),
        Tie::AnyChild => format!("waits for any child to exit, among them {to}"),
        Tie::GroupChild { pgid } => {
            format!("waits for any child in process group {pgid} to exit, among them {to}")
        }
        Tie::ChannelEmpty {
            channel: Channel::Eventfd { .. },
            fd,
        } => format!(
            "reads fd {fd}, {}, whose count is 0: {to} holds it too ({}) and {}",
            tie_object(&e.tie),
            fds_of(snaps, e, false),
            doing(snaps, set, e.to)
        ),
        Tie::ChannelEmpty { fd, .. } => format!(
            "reads fd {fd}, {}, with nothing to read: {to} holds its other side ({}) and {}",
            tie_object(&e.tie),
            fds_of(snaps, e, false),
            doing(snaps, set, e.to)
        ),
        Tie::ChannelFull { fd, .. } => format!(
            "writes to fd {fd}, {}, which is full: only {to} holds its other side ({}), and it {}",
            tie_object(&e.tie),
            fds_of(snaps, e, true),
            doing(snaps, set, e.to)
        ),
        Tie::PipeFull { fd, .. } => format!(
            "writes to fd {fd}, {}, which is full: only {to} holds its read end ({}), and it {}",
            tie_object(&e.tie),
            fds_of(snaps, e, true),
            doing(snaps, set, e.to)
        ),
        Tie::PipeEmpty { fd, .. } => format!(
            "reads fd {fd}, {}, which is empty: {to} holds its write end ({}) and {}",
            tie_object(&e.tie),
            fds_of(snaps, e, false),
            doing(snaps, set, e.to)
        ),
        Tie::SocketFull { fd, .. } => format!(
            "writes to fd {fd}, {}, whose buffers are full: only {to} holds its peer, and it {}",
            tie_object(&e.tie),
            doing(snaps, set, e.to)
        ),
        Tie::SocketEmpty { fd, .. } => format!(
            "reads fd {fd}, {}, with nothing to read: {to} holds its peer and {}",
            tie_object(&e.tie),
            doing(snaps, set, e.to)
        ),
        Tie::FileLock { fd, .. } => format!(
            "waits on fd {fd} for {}, held by {to}, which {}",
            tie_object(&e.tie),
            doing(snaps, set, e.to)
        ),
        Tie::SharedLock { owner_thread, .. } => {
            let owner =
                SetAnalysis::captured(snaps, e.to).map(|q| &snaps[q].threads[*owner_thread]);
            let (label, call) = owner.map_or_else(
                || ("?".to_string(), String::new()),
                |t| {
                    (
                        t.label(),
                        in_call(t.kernel.as_ref().and_then(|k| k.syscall.as_ref())),
                    )
                },
            );
            format!(
                "waits for {}, whose owner field names thread {label} of {to}, which {call}",
                tie_object(&e.tie)
            )
        }
    };
    let outside = SetAnalysis::captured(snaps, e.to).is_none();
    let capture = if outside {
        format!(
            "; pid {} was not captured: `hangscan attach {} {}` would",
            e.to,
            waiter_pid(snaps, &e.from),
            e.to
        )
    } else {
        String::new()
    };
    format!("{who} {what}{capture}")
}

/// What a tie waits on: `pipe 123456`, `a write flock on /tmp/x (inode 7 on 08:01)`.
pub fn tie_object(t: &Tie) -> String {
    match t {
        Tie::ChildExit | Tie::AnyChild | Tie::GroupChild { .. } => "a child's exit".into(),
        Tie::ChannelEmpty { channel, .. } | Tie::ChannelFull { channel, .. } => match channel {
            Channel::PtyMaster { index } => format!("the master of pty /dev/pts/{index}"),
            Channel::PtySlave { index } => format!("pty /dev/pts/{index}"),
            Channel::Eventfd { id } => format!("eventfd {id}"),
        },
        Tie::SharedLock {
            address, symbol, ..
        } => match symbol {
            Some(name) => format!("process-shared lock {name} ({address:#x})"),
            None => format!("process-shared lock at {address:#x}"),
        },
        Tie::PipeFull { inode, .. } | Tie::PipeEmpty { inode, .. } => format!("pipe:[{inode}]"),
        Tie::SocketFull { inode, peer, .. } | Tie::SocketEmpty { inode, peer, .. } => {
            format!("socket:[{inode}] (its peer: socket:[{peer}])")
        }
        Tie::FileLock {
            class,
            write,
            inode,
            device,
            start,
            end,
            path,
            ..
        } => {
            let range = match (start, end) {
                (0, None) => String::new(),
                (s, None) => format!(", bytes {s} to the end"),
                (s, Some(e)) => format!(", bytes {s}–{e}"),
            };
            let file = path
                .clone()
                .unwrap_or_else(|| format!("inode {inode} on {device}"));
            let class = match class.as_str() {
                "FLOCK" => "flock",
                "POSIX" => "fcntl (POSIX) lock",
                "OFDLCK" => "open file description lock",
                other => other,
            };
            let mode = if *write { "a write" } else { "a read" };
            format!("{mode} {class} on {file}{range}")
        }
    }
}

/// The descriptors of the other end (the pty's other side, the eventfd) that process `e.to`
/// holds.
fn fds_of(snaps: &[Snapshot], e: &TieEdge, reads: bool) -> String {
    let Party::Thread { process, .. } = e.from;
    let facts = snaps[process].process.iter();
    let inode = match e.tie {
        Tie::PipeFull { inode, .. } | Tie::PipeEmpty { inode, .. } => inode,
        Tie::ChannelEmpty { channel, .. } | Tie::ChannelFull { channel, .. } => {
            let other = channel.other_side();
            let fds: Vec<String> = (facts.flat_map(|f| &f.channel_ends))
                .filter(|c| c.channel == other && c.pid == e.to)
                .map(|c| format!("fd {}", c.fd))
                .collect();
            return fds.join(", ");
        }
        _ => return String::new(),
    };
    let ends = facts.flat_map(|f| &f.pipe_ends);
    let fds: Vec<String> = ends
        .filter(|p| p.inode == inode && p.pid == e.to)
        .filter(|p| {
            if reads {
                p.access.reads()
            } else {
                p.access.writes()
            }
        })
        .map(|p| format!("fd {}", p.fd))
        .collect();
    fds.join(", ")
}

/// A waiting thread: `pid 614 (python3 x.py), thread LWP 614 "python3"`.
fn waiter(snaps: &[Snapshot], p: &Party) -> String {
    let Party::Thread { process, thread } = *p;
    let snap = &snaps[process];
    let command = snap.process.as_ref().and_then(|f| f.command.as_deref());
    format!(
        "pid {}{}, thread {},",
        snap.pid.unwrap_or(0),
        command.map(short).unwrap_or_default(),
        snap.threads[thread].label()
    )
}

fn waiter_pid(snaps: &[Snapshot], p: &Party) -> u32 {
    let Party::Thread { process, .. } = *p;
    snaps[process].pid.unwrap_or(0)
}

/// A process: `pid 614 (python3 x.py)`.
pub fn process(snaps: &[Snapshot], set: &SetAnalysis, pid: u32) -> String {
    let command = match SetAnalysis::captured(snaps, pid) {
        Some(p) => snaps[p].process.as_ref().and_then(|f| f.command.clone()),
        None => set.outsider(pid).and_then(|o| o.command.clone()),
    };
    format!(
        "pid {pid}{}",
        command.as_deref().map(short).unwrap_or_default()
    )
}

/// ` (command line)`, on one line and cut.
fn short(command: &str) -> String {
    let mut words = command.split_whitespace();
    // The program by its file's name: its directory says little and takes the room.
    let program = words.next().map(|p| p.rsplit('/').next().unwrap_or(p));
    let one: String = program
        .into_iter()
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ");
    let cut: String = one.chars().take(COMMAND_CHARS).collect();
    let more = if cut.len() < one.len() { "…" } else { "" };
    format!(" ({cut}{more})")
}

/// What process `pid` is doing, from its threads' system calls (or `/proc`, outside the set).
pub fn doing(snaps: &[Snapshot], set: &SetAnalysis, pid: u32) -> String {
    let call =
        |t: &crate::model::Thread| in_call(t.kernel.as_ref().and_then(|k| k.syscall.as_ref()));
    match SetAnalysis::captured(snaps, pid).map(|p| &snaps[p].threads) {
        Some(threads) if threads.len() == 1 => call(&threads[0]),
        Some(threads) => {
            let each: Vec<String> = (threads.iter())
                .map(|t| format!("{} {}", t.label(), call(t)))
                .collect();
            format!("has {} threads: {}", threads.len(), each.join("; "))
        }
        None => match set.outsider(pid) {
            Some(o) => in_call(o.syscall.as_ref()),
            None => "is gone".into(),
        },
    }
}

/// `sleeps in wait4(656)`, `runs`.
fn in_call(call: Option<&Syscall>) -> String {
    match call {
        Some(c) => {
            let name = c
                .name
                .clone()
                .unwrap_or_else(|| format!("system call {}", c.number));
            match name.as_str() {
                "wait4" => match c.args[0] as i32 {
                    -1 => "sleeps in wait4 (for any child)".into(),
                    0 => "sleeps in wait4 (for a child in its process group)".into(),
                    g if g < 0 => format!("sleeps in wait4 (for process group {})", -g),
                    pid => format!("sleeps in wait4 (for pid {pid})"),
                },
                "read" | "write" | "flock" | "fcntl" | "sendto" | "recvfrom" => {
                    format!("sleeps in {name} (fd {})", c.args[0] as i32)
                }
                _ => format!("sleeps in {name}"),
            }
        }
        None => "is in no blocking system call".into(),
    }
}
