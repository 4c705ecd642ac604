//! Why the kernel would not let hangscan trace a process, in words that say what to do. Some
//! processes are never tried ([`untraceable`]): a kernel thread, hangscan itself, and the
//! process tracing hangscan (strace or gdb around it: stopping it would stop hangscan at its
//! next system call, both for good; the kernel does not refuse, nor any other ancestor). Otherwise
//! read from `/proc` once `PTRACE_SEIZE` has failed with `EPERM` ([`refusal`]): another tracer
//! (a debugger, or another hangscan) already holds the thread (`TracerPid`), or hangscan may
//! not trace the process at all: another user's or a set-user-ID process without
//! CAP_SYS_PTRACE, a process that is not dumpable, Yama's `kernel.yama.ptrace_scope`. A refusal
//! none of these explains may be a tracer that let go meanwhile: the capture tries again, and
//! only a refusal that lasts is put down to a security module or a container's policy.

use super::procinfo::{field, process_of};
use crate::error::Error;
use crate::sanitize::clean;
use std::os::unix::fs::MetadataExt;

/// `CAP_SYS_PTRACE`'s bit in the capability sets.
const CAP_SYS_PTRACE: u32 = 19;

/// `PF_KTHREAD` in the flags of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Why process `pid` cannot be captured at all, before anything is tried: a kernel thread
/// (no user space), hangscan's own process (a thread group cannot trace itself), or the
/// process that traces hangscan.
pub fn untraceable(pid: u32) -> Option<Error> {
    if process_of(pid as i32).0 == std::process::id() {
        return Some(Error::Untraceable {
            pid,
            why: "it is this hangscan itself (or one of its threads), and a process cannot trace \
                  its own threads — run hangscan on it from another process"
                .into(),
        });
    }
    let own_tracer = Status::read(std::process::id() as i32).and_then(|s| s.tracer);
    if let Some(tracer) = own_tracer.filter(|&t| process_of(t).0 == pid) {
        return Some(Error::Untraceable {
            pid,
            why: format!(
                "it is hangscan's own tracer, {}: stopped by hangscan, it could not let hangscan \
                 past its next system call, and neither would ever go on — run hangscan outside \
                 the tracer, or capture that process from another shell",
                describe(tracer)
            ),
        });
    }
    // Field 9 of stat (the 7th after the state letter).
    let flags: u64 = super::procinfo::stat_fields(pid)?
        .split_whitespace()
        .nth(6)?
        .parse()
        .ok()?;
    (flags & PF_KTHREAD != 0).then(|| Error::Untraceable {
        pid,
        why: "it is a kernel thread: kernel threads have no user-space stack to capture — its \
              kernel stack is in /proc/PID/stack (as root), and `echo w > /proc/sysrq-trigger` \
              logs every blocked task's"
            .replace("PID", &pid.to_string()),
    })
}

/// A refused `PTRACE_SEIZE`, and whether it may pass.
pub enum Refusal {
    /// For good (ids, settings): the reason, and what to do.
    Final(Error),
    /// Another tracer, which may let go soon, or nothing `/proc` shows (a tracer that let go
    /// meanwhile): worth another try; this error if it lasts.
    Transient(Error),
}

/// The error for a refused `PTRACE_SEIZE` of thread `tid` of process `pid`.
pub fn refusal(pid: u32, tid: i32) -> Refusal {
    let me = Ids::of_self();
    let target = Status::read(tid).or_else(|| Status::read(pid as i32));
    let Some(target) = target else {
        return Refusal::Final(Error::Permission {
            pid,
            why: "the kernel refused (EPERM) and /proc no longer shows it".into(),
        });
    };
    // The ownership check comes first in the kernel: a debugger attached to another user's
    // process is not what stops hangscan.
    let ids_differ = target.uids != [me.uid; 3] || target.gids != [me.gid; 3];
    if let Some(tracer) = target.tracer.filter(|_| me.cap_sys_ptrace || !ids_differ) {
        let (tracer_pid, name) = process_of(tracer);
        if name.is_some_and(|n| n.starts_with("hangscan")) {
            return Refusal::Transient(Error::Untraceable {
                pid,
                why: format!(
                    "another hangscan (process {tracer_pid}) is capturing it right now — wait \
                     for it to finish (a capture takes about a second) and run hangscan again"
                ),
            });
        }
        return Refusal::Transient(Error::AlreadyTraced {
            pid,
            tid: (tid as u32 != pid).then_some(tid as u32),
            tracer: describe(tracer),
        });
    }
    // The kernel hands `/proc/PID` to root when the process is not dumpable.
    let owner = std::fs::metadata(format!("/proc/{pid}")).map(|m| m.uid());
    let facts = Facts {
        dumpable: !(owner.is_ok_and(|o| o == 0) && target.uids[1] != 0),
        yama: std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        foreign_userns: foreign_userns(pid),
        ancestor: is_ancestor(pid),
        me,
        target,
    };
    match reason(pid, &facts) {
        Some(why) => Refusal::Final(Error::Permission { pid, why }),
        None => Refusal::Transient(Error::Permission {
            pid,
            why: unexplained(&facts.me),
        }),
    }
}

/// What decides whether hangscan may trace a process.
struct Facts {
    me: Ids,
    target: Status,
    /// `kernel.yama.ptrace_scope`, when Yama is there.
    yama: Option<u32>,
    dumpable: bool,
    /// hangscan runs in a user namespace of its own that the process is not in.
    foreign_userns: bool,
    /// The process is one of hangscan's ancestors (its shell, say).
    ancestor: bool,
}

/// Whether process `pid` is an ancestor of hangscan's, by the parents `/proc` shows.
fn is_ancestor(pid: u32) -> bool {
    let parent = |p: u32| -> Option<u32> {
        super::procinfo::stat_fields(p)?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let mut at = std::process::id();
    // A bounded walk: parents form a chain to the first process.
    for _ in 0..4096 {
        match parent(at) {
            Some(p) if p == pid => return true,
            Some(p) if p > 0 => at = p,
            _ => return false,
        }
    }
    false
}

/// Whether hangscan runs in a user namespace other than the first (its `uid_map` is not the
/// whole identity) that process `pid` is not in (or that cannot tell, as from a container).
fn foreign_userns(pid: u32) -> bool {
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let initial = map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"];
    let ns = |of: &str| std::fs::read_link(format!("/proc/{of}/ns/user")).ok();
    let same = ns("self").is_some_and(|mine| ns(&pid.to_string()) == Some(mine));
    !map.is_empty() && !initial && !same
}

/// "process 4645 (gdb)": the process a tracer thread belongs to, with its name (the
/// process's, not the thread's).
fn describe(tracer: i32) -> String {
    match process_of(tracer) {
        (process, Some(name)) => format!("process {process} ({})", clean(&name)),
        (process, None) => format!("process {process}"),
    }
}

/// What in hangscan's ids, the target's or the system's settings forbids the attach, and what
/// to do; `None`: nothing does.
fn reason(pid: u32, facts: &Facts) -> Option<String> {
    let (me, target, scope) = (&facts.me, &facts.target, facts.yama);
    let sudo = format!("`sudo hangscan attach {pid}`");
    if scope == Some(3) {
        return Some(
            "kernel.yama.ptrace_scope is 3: no process may trace another until the system \
             reboots (the setting cannot be lowered)"
                .into(),
        );
    }
    if facts.foreign_userns {
        return Some(format!(
            "hangscan runs in a user namespace of its own (a rootless container, `unshare \
             --user`) and the process is outside it: the capabilities hangscan has there, \
             CAP_SYS_PTRACE too, count only for processes inside it — run hangscan in the \
             process's user namespace or outside the container ({sudo} on the host)"
        ));
    }
    if !me.cap_sys_ptrace {
        let [real, effective, saved] = target.uids;
        if target.uids != [me.uid; 3] {
            let owner = if real == effective && effective == saved {
                format!("it belongs to {}", user(real))
            } else {
                format!(
                    "its user ids (real {real}, effective {effective}, saved {saved}) are not \
                     all hangscan's (a set-user-ID program, or one that changed users)"
                )
            };
            return Some(format!(
                "{owner}, and hangscan runs as {} without CAP_SYS_PTRACE — run hangscan as \
                 that user or as root ({sudo}), or give it CAP_SYS_PTRACE",
                user(me.uid)
            ));
        }
        if target.gids != [me.gid; 3] {
            let [real, effective, saved] = target.gids;
            return Some(format!(
                "its group ids (real {real}, effective {effective}, saved {saved}) are not all \
                 hangscan's gid {} (a set-group-ID program, or one that changed groups), and \
                 hangscan lacks CAP_SYS_PTRACE — run hangscan as root ({sudo}) or give it \
                 CAP_SYS_PTRACE",
                me.gid
            ));
        }
        if !facts.dumpable {
            return Some(format!(
                "it is not dumpable (it changed its credentials or called \
                 prctl(PR_SET_DUMPABLE, 0)), and only a tracer with CAP_SYS_PTRACE may attach to \
                 such a process — run hangscan as root ({sudo})"
            ));
        }
        match scope {
            Some(1) => {
                let whose = if facts.ancestor {
                    " (and this process is hangscan's ancestor, its shell or what started it, \
                     never its descendant)"
                } else {
                    ""
                };
                return Some(format!(
                    "kernel.yama.ptrace_scope is 1: a process may trace only its own \
                     descendants{whose} — run hangscan as root ({sudo}) or with CAP_SYS_PTRACE, start \
                     the program under `hangscan run`, or allow it with `sudo sysctl \
                     kernel.yama.ptrace_scope=0`"
                ));
            }
            Some(2) => {
                return Some(format!(
                    "kernel.yama.ptrace_scope is 2: only a tracer with CAP_SYS_PTRACE may \
                     attach — run hangscan as root ({sudo}), or lower it with `sudo sysctl \
                     kernel.yama.ptrace_scope=1`"
                ))
            }
            _ => {}
        }
    }
    None
}

/// A refusal that lasted although nothing in `/proc` explains it: what is left to suspect,
/// the security modules and seccomp filter actually in force.
fn unexplained(me: &Ids) -> String {
    let mut suspects = Vec::new();
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    let modules: Vec<&str> = lsm
        .trim()
        .split(',')
        .filter(|m| ["selinux", "apparmor", "smack", "tomoyo"].contains(m))
        .collect();
    if !modules.is_empty() {
        suspects.push(format!(
            "the security module {} may forbid ptrace (look in the audit log, `journalctl -k`)",
            modules.join(", ")
        ));
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if field(&status, "Seccomp:") == Some("2") {
        suspects.push(
            "hangscan runs under a seccomp filter, as in a container (add --cap-add=SYS_PTRACE)"
                .to_string(),
        );
    }
    if suspects.is_empty() {
        suspects.push("no security module or seccomp filter that could is active".to_string());
    }
    format!(
        "the kernel refused every try although hangscan runs as {}{}, no other tracer holds \
         it and no setting forbids it; {}",
        user(me.uid),
        if me.cap_sys_ptrace {
            " with CAP_SYS_PTRACE"
        } else {
            ", the process's owner"
        },
        suspects.join("; ")
    )
}

/// hangscan's own ids (the real ones: the kernel checks those for ptrace) and capability.
struct Ids {
    uid: u32,
    gid: u32,
    cap_sys_ptrace: bool,
}

impl Ids {
    fn of_self() -> Ids {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap_sys_ptrace = field(&status, "CapEff:")
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0);
        let real = |key: &str| {
            field(&status, key)
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(u32::MAX)
        };
        Ids {
            uid: real("Uid:"),
            gid: real("Gid:"),
            cap_sys_ptrace,
        }
    }
}

/// A thread's `/proc/TID/status`: its user and group ids (real, effective, saved) and tracer.
struct Status {
    uids: [u32; 3],
    gids: [u32; 3],
    tracer: Option<i32>,
}

impl Status {
    fn read(tid: i32) -> Option<Status> {
        let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
        let ids = |key: &str| -> Option<[u32; 3]> {
            let mut v = field(&status, key)?
                .split_whitespace()
                .map(|n| n.parse().ok());
            Some([v.next()??, v.next()??, v.next()??])
        };
        Some(Status {
            uids: ids("Uid:")?,
            gids: ids("Gid:")?,
            tracer: field(&status, "TracerPid:")
                .and_then(|v| v.parse().ok())
                .filter(|&t| t != 0),
        })
    }
}

/// "uid 0 (root)", with the name from /etc/passwd when there is one.
fn user(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| clean(name))
    });
    match name {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        uids: [u32; 3],
        gids: [u32; 3],
        cap: bool,
        yama: Option<u32>,
        dumpable: bool,
    ) -> Facts {
        Facts {
            me: Ids {
                uid: 1000,
                gid: 1000,
                cap_sys_ptrace: cap,
            },
            target: Status {
                uids,
                gids,
                tracer: None,
            },
            yama,
            dumpable,
            foreign_userns: false,
            ancestor: false,
        }
    }

    #[test]
    fn this_process_descends_from_its_parent_not_from_itself() {
        let me = std::process::id();
        let parent = super::super::procinfo::stat_fields(me).unwrap();
        let parent: u32 = parent.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(is_ancestor(parent));
        assert!(!is_ancestor(me));
    }

    #[test]
    fn each_refusal_says_why_and_what_to_do() {
        let mine = [1000; 3];
        let cases = [
            (
                facts([0; 3], [0; 3], false, None, true),
                "it belongs to uid 0 (root), and hangscan runs as uid 1000",
            ),
            (
                facts([1000, 0, 0], mine, false, None, true),
                "its user ids (real 1000, effective 0, saved 0)",
            ),
            (
                facts(mine, [1000, 5, 5], false, None, true),
                "its group ids (real 1000, effective 5, saved 5)",
            ),
            (facts(mine, mine, false, None, false), "it is not dumpable"),
            (
                facts(mine, mine, false, Some(1), true),
                "ptrace_scope is 1: a process may trace only its own descendants",
            ),
            (
                facts(mine, mine, false, Some(2), true),
                "ptrace_scope is 2: only a tracer with CAP_SYS_PTRACE",
            ),
            (
                facts([0; 3], [0; 3], true, Some(3), true),
                "ptrace_scope is 3",
            ),
            (
                facts([0; 3], [0; 3], true, Some(1), true),
                "with CAP_SYS_PTRACE, no other tracer holds it",
            ),
            (
                facts(mine, mine, false, Some(0), true),
                "the process's owner, no other tracer holds it",
            ),
            (
                Facts {
                    ancestor: true,
                    ..facts(mine, mine, false, Some(1), true)
                },
                "descendants (and this process is hangscan's ancestor",
            ),
            (
                Facts {
                    foreign_userns: true,
                    ..facts([0; 3], [0; 3], true, None, true)
                },
                "runs in a user namespace of its own",
            ),
        ];
        for (facts, words) in cases {
            let why = reason(42, &facts).unwrap_or_else(|| unexplained(&facts.me));
            assert!(why.contains(words), "{words:?} missing: {why}");
        }
    }
}
