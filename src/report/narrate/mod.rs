//! Findings in words, for every renderer alike: a finding's title, explanation, steps and
//! suggestion, what a thread does, and what a runtime's claim comes to, said from the typed
//! facts the analysis gives. Names in them are the dump's (untrusted): each renderer escapes
//! the sentence once, where it writes it.

use crate::analyze::{
    Alternative, Because, ClaimVerdict, Detail, Does, Doing, Finding, Held, Motion, Object,
    Runtime, Shows, Step, ThreadState,
};
use crate::model::{Snapshot, StoppedBy, Thread};

pub mod coverage;
mod frames;
pub mod processes;
mod titles;
pub use frames::{elided, frame_ref, heading, more_stacks, no_frames};
use frames::{held_where, in_program, program_or_frame};
pub use titles::{explanation, kind, title};

/// A finding in words.
pub struct Told {
    /// One line.
    pub title: String,
    /// Why it is a problem.
    pub explanation: String,
    /// Each step, in order.
    pub steps: Vec<String>,
    /// What to do.
    pub suggestion: Option<String>,
}

/// Says finding `f` of `snap`.
pub fn finding(snap: &Snapshot, f: &Finding) -> Told {
    told(snap, f, &f.steps)
}

/// [`finding`] with only the steps a person is shown (`shown_steps`): a stall of 17 000
/// threads is told in 40 steps, not 17 000 that are then left out.
pub fn finding_shown(snap: &Snapshot, f: &Finding) -> Told {
    told(snap, f, super::shown_steps(f).0)
}

fn told(snap: &Snapshot, f: &Finding, steps: &[Step]) -> Told {
    Told {
        title: title(snap, f),
        explanation: explanation(f),
        steps: steps.iter().map(|s| step(snap, s)).collect(),
        suggestion: suggestion(snap, f),
    }
}

/// The command that dumps a runtime's own stacks, its process id filled in (`PID` when the
/// input does not give it).
pub fn dump_with(r: &Runtime) -> String {
    let pid = r.pid.map_or_else(|| "PID".to_string(), |p| p.to_string());
    r.dump_with.replace("{pid}", &pid)
}

/// A runtime in words: which, in which process, and the command that dumps its stacks.
pub fn runtime(r: &Runtime) -> String {
    let pid = r.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    format!("{}{pid}; its own stacks: {}", r.name, dump_with(r))
}

/// What a wait waits for, in words.
pub fn object(snap: &Snapshot, o: &Object) -> String {
    match o {
        Object::ThreadExit { thread } => {
            format!("thread {} to exit", snap.threads[*thread].label())
        }
        Object::NamespaceThreadExit { tid } => format!(
            "the thread its PID namespace calls {tid} to exit (which thread that is cannot be \
             told: the namespace's thread ids are not known)"
        ),
        Object::MissingThreadExit { tid } => format!("thread LWP {tid} (not in the dump) to exit"),
        Object::MissingPthreadExit { pthread } => {
            format!("thread 0x{pthread:x} (not in the dump) to exit")
        }
        Object::AnyThreadExit => "a thread to exit".to_string(),
        Object::PoolExit { pool: Some(p) } => format!("every worker of pool `{p}` to exit"),
        Object::PoolExit { pool: None } => "a pool's workers to exit".to_string(),
        Object::Named { name } => name.clone(),
        Object::Kind {
            kind,
            address,
            symbol,
        } => match (address, symbol) {
            (Some(a), Some(s)) => format!("{} {s} (0x{a:x})", kind.noun()),
            (Some(a), None) => format!("{} 0x{a:x}", kind.noun()),
            (None, Some(s)) => format!("{} {s}", kind.noun()),
            (None, None) => kind.noun().to_string(),
        },
    }
}

/// Who keeps a thread stopped, in words: `a stop signal` or `its tracer, process 4645 (gdb)`.
pub fn stop_cause(by: &StoppedBy) -> String {
    match by {
        StoppedBy::Signal => "a stop signal".into(),
        StoppedBy::Tracer { pid: 0, .. } => "a tracer".into(),
        StoppedBy::Tracer { pid, name } => match name {
            Some(n) => format!("its tracer, process {pid} ({n})"),
            None => format!("its tracer, process {pid}"),
        },
    }
}

/// What shows a thread holds a lock, in words.
fn held(h: &Held) -> String {
    match h {
        Held::Rule { rule } => rule.clone(),
        Held::Stated { source } => source.clone(),
        Held::Printed { field, line } => format!("`{field}` printed at line {line}"),
        Held::Memory { address } => format!("owner field read from memory at 0x{address:x}"),
        Held::LockWord { address } => format!("lock word read from memory at 0x{address:x}"),
        Held::InterruptedInside { sites } => {
            format!("interrupted inside {} by the signal", sites.join(" / "))
        }
        Held::InsideSite { site } => format!("inside {site}, where the lock is taken"),
        Held::Consistent {
            alternatives,
            by_code,
            by_stack,
            ..
        } => {
            let which = if alternatives.is_empty() {
                "the only"
            } else {
                "the likeliest"
            };
            let code = if *by_code {
                " and with what its code names: a thread counts only if a live frame of the \
                 program's own names the lock in its code, so one that reached the lock through \
                 a pointer, or whose callee took it and returned, would be missed"
            } else {
                ""
            };
            let stack = if *by_stack {
                " and with what the threads' stacks point at: the lock is on the heap, and a \
                 thread counts only if its stack or registers point at it or at the struct \
                 holding it, so one that kept no such pointer would be missed"
            } else {
                ""
            };
            format!(
                "the lock records no owner; {which} holder consistent with where every thread \
                 stands{code}{stack}"
            )
        }
        Held::Report { text, line } => {
            let line = line.map(|l| format!(", line {l}")).unwrap_or_default();
            format!("the runtime's deadlock report ({text}{line})")
        }
    }
}

/// The other holders an ownerless lock may have, and the cycle each closes instead.
fn otherwise(snap: &Snapshot, alternatives: &[Alternative], unlisted: usize) -> String {
    let label = |t: &usize| {
        snap.threads
            .get(*t)
            .map_or_else(String::new, |th| th.label())
    };
    alternatives
        .iter()
        .map(|a| {
            let cycle: Vec<String> = a.cycle.iter().map(label).collect();
            format!(
                "; or {} holds it, in which case the cycle runs through {}",
                label(&a.holder),
                cycle.join(", ")
            )
        })
        .chain((unlisted > 0).then(|| format!("; or one of {unlisted} more threads holds it")))
        .collect()
}

fn doing(snap: &Snapshot, d: &Doing) -> String {
    match d {
        Doing::Running => "running".to_string(),
        Doing::Stopped => "stopped".to_string(),
        Doing::Waiting { object: o } => format!(
            "waiting for {}",
            o.as_ref().map(|o| object(snap, o)).unwrap_or_default()
        ),
        Doing::Unknown => "in an unknown state".to_string(),
    }
}

/// One step in words.
pub fn step(snap: &Snapshot, s: &Step) -> String {
    let th = &snap.threads[s.thread];
    let at = |i: usize| frame_ref(th, i);
    let who = th.label();
    match &s.shows {
        Shows::Interrupted { signal, calls } => {
            let mut text = format!(
                "{who} is running a signal handler: {} interrupted it",
                at(*signal)
            );
            if !calls.is_empty() {
                let names: Vec<&str> = calls
                    .iter()
                    .filter_map(|&i| th.frames[i].function.as_deref())
                    .map(crate::knowledge::base_name)
                    .collect();
                text.push_str(&format!("; the handler calls {}", names.join(" → ")));
            }
            text
        }
        Shows::Waits {
            object: o,
            at: i,
            blocked_in,
            program,
        } => {
            let mut text = format!("{who} waits for {}: ", object(snap, o));
            match program {
                Some(p) => text.push_str(&in_program(th, p)),
                None => {
                    text.push_str(&at(*i));
                    if let Some(b) = blocked_in {
                        text.push_str(&format!(", blocked in {}", at(*b)));
                    }
                }
            }
            text
        }
        Shows::Holder {
            because,
            itself,
            held_at,
        } => {
            let who = if *itself {
                format!("{who} itself")
            } else {
                who
            };
            let place = held_at.as_ref().map(|h| held_where(th, h));
            let text = match (because, place) {
                (Because::Holds { by, .. }, Some(place)) => {
                    format!("held by {who} ({}): {place}", held(by))
                }
                (Because::Holds { frame: Some(i), by }, None) => {
                    format!("held by {who}: {} ({})", at(*i), held(by))
                }
                (Because::Holds { frame: None, by }, None) => {
                    format!("held by {who}: {}", held(by))
                }
                (Because::IsTarget, _) => {
                    format!("{who} is that thread, and it is itself blocked")
                }
                (Because::Member { frame }, _) => {
                    format!("{who} is a worker of that pool: {}", at(*frame))
                }
                (Because::InScope { frame }, _) => {
                    format!("{who} was spawned in that scope: {}", at(*frame))
                }
                (Because::ScopeOwner { frame }, _) => format!(
                    "{who} opened the scope that joins it and every other thread waits, so only \
                     {who} could end the wait, after its scope: {}",
                    at(*frame)
                ),
                (Because::Claimed { by }, place) => {
                    let place = place.map(|p| format!(" ({p})")).unwrap_or_default();
                    format!(
                        "held by {who}{place}, says {}; nothing else in the dump shows it",
                        held(by)
                    )
                }
            };
            match because {
                Because::Holds {
                    by:
                        Held::Consistent {
                            alternatives,
                            unlisted,
                            ..
                        },
                    ..
                } => text + &otherwise(snap, alternatives, *unlisted),
                _ => text,
            }
        }
        Shows::IdleMember {
            pool,
            member,
            at: w,
        } => format!(
            "{who} is idle in `{pool}` ({}): it waits for work at {}",
            at(*member),
            at(*w)
        ),
        Shows::WorkerWaits {
            pool,
            member,
            at: w,
        } => format!(
            "{who} is a worker of `{pool}` ({}) and waits for a result: {}",
            at(*member),
            at(*w)
        ),
        Shows::Blocker {
            doing: d,
            at: i,
            program,
        } => format!(
            "{who} is {}: {}",
            doing(snap, d),
            program_or_frame(th, *i, program)
        ),
        Shows::InIo { at: i, program } => {
            format!("{who} is in I/O: {}", program_or_frame(th, *i, program))
        }
        Shows::MayRead { guard, rule } => format!(
            "{who} may be one of the readers ({rule}): {}; the lock does not record its readers",
            held_where(th, &crate::analyze::HeldAt::Guard { frame: *guard })
        ),
        Shows::Stopped { by, at: i } => {
            let at = i.map(|i| format!(", in {}", at(i))).unwrap_or_default();
            format!("{who} is stopped by {}{at}", stop_cause(by))
        }
        Shows::Moved { motion: m, at: i } => match i {
            Some(i) => format!("{who} {}: {}", moved(th, *m), at(*i)),
            None => format!("{who} {}", moved(th, *m)),
        },
        Shows::SignalFrame { at: i } => format!("signal frame {}", at(*i)),
        Shows::HandlerWaits {
            object: o,
            at: i,
            program,
        } => format!(
            "the handler waits for {}: {}",
            object(snap, o),
            program_or_frame(th, *i, program)
        ),
    }
}

/// What to do: the packs' advice the finding carries, or for stopped threads what resumes
/// them.
pub fn suggestion(snap: &Snapshot, f: &Finding) -> Option<String> {
    let Detail::Stopped { by_signal, .. } = &f.detail else {
        return f.suggestion.clone();
    };
    let resume_signal = match snap.pid {
        Some(p) => format!("`kill -CONT {p}`"),
        None => "`kill -CONT PID`".into(),
    };
    Some(if *by_signal {
        format!(
            "Resume it with {resume_signal} (or `fg` in the shell where Ctrl-Z stopped it), \
             and find out who sent the stop signal (job control, a supervisor, a script)."
        )
    } else {
        format!(
            "The tracer resumes it when it continues or detaches (`continue` or `detach` in \
             a debugger), or when it exits; a stop signal's part ends with {resume_signal}."
        )
    })
}

/// One line saying what a thread does, who keeps it stopped if it is stopped, and why its
/// stack ends early.
pub fn state(snap: &Snapshot, s: &ThreadState) -> String {
    let th = &snap.threads[s.thread];
    // The program's frame behind the state's, with the library frames folded behind it.
    let at = |i: usize| program_or_frame(th, i, &s.program);
    // A thread the dump gives no frames for is shown "waits for X (no frames; ...)".
    let placed = |what: String, i: usize| {
        if th.frames.is_empty() {
            format!("{what} {}", at(i))
        } else {
            format!("{what} at {}", at(i))
        }
    };
    let does = match &s.does {
        Does::Waits { object: o, at: i } => placed(format!("waits for {}", object(snap, o)), *i),
        Does::IdleForWork { at: i } => placed("idle, waiting for work".into(), *i),
        Does::IdleStated { status, at: i } => {
            let mut s = "idle".to_string();
            if let Some(status) = status {
                s.push_str(&format!(" ({status})"));
            }
            if let Some(i) = i {
                s.push_str(&format!(" in {}", at(*i)));
            }
            s
        }
        Does::Unseen { status, at: i } => format!(
            "{status} (off the CPU) in a call the dump does not show, from {}",
            at(*i)
        ),
        Does::Blocked => "blocked".into(),
        Does::Running { at: Some(i) } => format!("running (not in a blocking call) in {}", at(*i)),
        Does::Running { at: None } => "running".into(),
        // Follows "stopped by …".
        Does::Stopped { at: i } => i.map(|i| format!(", in {}", at(i))).unwrap_or_default(),
        Does::Unreadable { why: Some(why) } => format!("no readable frames: {why}"),
        Does::Unreadable { why: None } => "no readable frames".into(),
    };
    let does = match s.moves {
        Some(m) => format!("{does}; {}", moved(th, m)),
        None => does,
    };
    let does = match &s.ends_early {
        Some(why) => format!("{does}; its stack ends early: {why}"),
        None => does,
    };
    match &s.stopped_by {
        Some(by) if matches!(s.does, Does::Stopped { .. }) => {
            format!("stopped by {}{does}", stop_cause(by))
        }
        Some(by) => format!("stopped by {}; {does}", stop_cause(by)),
        None => does,
    }
}

/// What thread `th` did between the two looks, by its counters.
fn moved(th: &Thread, m: Motion) -> String {
    let Some(look) = th.kernel.as_ref().and_then(|k| k.second_look) else {
        return "moved between the two looks".into();
    };
    let ms = look.interval_ms;
    let cpu = look.cpu_us / 10 / ms.max(1);
    match m {
        Motion::Still => format!("did not move in the {ms} ms between the two looks"),
        Motion::Spinning => {
            format!("spun on the lock, using {cpu}% of a CPU in the {ms} ms between the two looks")
        }
        Motion::Ran => format!("ran, using {cpu}% of a CPU in the {ms} ms between the two looks"),
        Motion::Cycling => format!(
            "woke and slept again {} times in the {ms} ms between the two looks, using {cpu}% of \
             a CPU",
            look.voluntary
        ),
        Motion::Stirred if look.voluntary == 0 => {
            format!("left the wait it was in during the {ms} ms between the two looks")
        }
        Motion::Stirred => format!(
            "woke {} time(s) in the {ms} ms between the two looks",
            look.voluntary
        ),
    }
}

/// What the analysis makes of a runtime's claim, in words.
pub fn claim(v: &ClaimVerdict) -> String {
    match v {
        ClaimVerdict::Noted => "noted (not a deadlock claim)".to_string(),
        ClaimVerdict::Confirmed { finding } => format!("confirmed by finding {}", finding + 1),
        ClaimVerdict::OnlyTheClaimSays { finding } => format!(
            "not confirmed by the dump: finding {} shows these threads blocked on locks, but \
             who holds them only the runtime's report says (the stacks carry no owners)",
            finding + 1
        ),
        ClaimVerdict::ThreadsMissing { missing } => {
            format!("not confirmed: {missing} of the threads it names are not in the dump")
        }
        ClaimVerdict::NothingReadable => {
            "not confirmed: no thread is blocked in a way the rules can read".to_string()
        }
        ClaimVerdict::NoCycle => {
            "not confirmed: the analysis finds no cycle or stall among these threads".to_string()
        }
    }
}
