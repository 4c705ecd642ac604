//! The typed steps of what the graph says: each names the thread, the frame that proves it,
//! and the grade of that proof, so a person can check it against the dump. Each also names the
//! program's own frame behind the library call (`program.rs`), and for a holder where on its
//! stack the lock is held ([`held_at`]). The words for them are the report's
//! (`report::narrate`).

use super::classify::{Facts, LockId, Wait};
use super::finding::{HeldAt, KeyFrames, Object, Shows, Step};
use super::graph::{lock_id, Because, Edge, Grade, Held};
use super::names::Names;
use super::program::{in_program, wait_in_program};
use crate::knowledge::{base_name, KnowledgeBase, WaitKind};
use crate::limits::MAX_STEPS_SHOWN;
use crate::model::{Frame, Snapshot};
use crate::values::value_symbol;

/// What a wait waits for: the joined thread found in the snapshot, the pool, the named
/// resource or the object's address.
pub fn wait_object(snap: &Snapshot, w: &Wait) -> Object {
    match w.kind {
        WaitKind::Join => {
            let unknown = super::graph::memory_tids_unknown(snap);
            let by_tid = w.target_tid.filter(|_| !unknown).and_then(|tid| {
                snap.threads
                    .iter()
                    .position(|t| t.ns_tid.or(t.tid) == Some(tid))
            });
            let who = by_tid.or_else(|| {
                w.target_pthread
                    .and_then(|p| snap.threads.iter().position(|t| t.pthread == Some(p)))
            });
            match (who, w.target_pthread, w.target_tid) {
                (Some(thread), _, _) => Object::ThreadExit { thread },
                (None, _, Some(tid)) if unknown => Object::NamespaceThreadExit { tid },
                (None, _, Some(tid)) => Object::MissingThreadExit { tid },
                (None, Some(pthread), _) => Object::MissingPthreadExit { pthread },
                _ => Object::AnyThreadExit,
            }
        }
        WaitKind::PoolDrain => Object::PoolExit {
            pool: w.pool.as_ref().map(|p| p.class.clone()),
        },
        kind => match &w.named {
            Some(name) => Object::Named { name: name.clone() },
            None => Object::Kind {
                kind,
                address: w.address,
                symbol: w.symbol.clone(),
            },
        },
    }
}

/// The step of thread `t` waiting on `w`.
pub fn wait_step(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    t: usize,
    w: &Wait,
    grade: Option<Grade>,
) -> Step {
    Step {
        thread: t,
        frame: Some(w.frame),
        shows: Shows::Waits {
            object: wait_object(snap, w),
            at: w.frame,
            blocked_in: (w.first != w.frame).then_some(w.first),
            program: wait_in_program(snap, facts, names, t, w),
        },
        grade,
    }
}

/// The step of thread `t` in I/O (its first wait, `w`).
pub fn io_step(snap: &Snapshot, facts: &[Facts], names: &Names, t: usize, w: &Wait) -> Step {
    Step {
        thread: t,
        frame: Some(w.first),
        shows: Shows::InIo {
            at: w.first,
            program: wait_in_program(snap, facts, names, t, w),
        },
        grade: None,
    }
}

/// Where thread `to` holds the lock `w` waits for, as far as its stack shows: a guard (or a
/// lock note) in a frame; else the program frame that called what holds it, or the function
/// the lock is taken in, and has not returned; else somewhere at or below its innermost program
/// frame. Never a thread entry or plumbing frame.
pub fn held_at(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    to: usize,
    w: &Wait,
    because: &Because,
) -> HeldAt {
    let frames = &snap.threads[to].frames;
    let fnames = names.thread(to);
    let program_at = |i: usize| in_program(frames, fnames, &facts[to], i).map(|p| p.frame);
    let id: Option<LockId> = lock_id(w);
    // The holder's own facts first: a guard it keeps (whatever else proved the edge, a proven
    // owner field shows no frame), or a library call it is inside that holds the lock. This is
    // the hook for guard evidence: a guard found in any frame (a `bt full` local today, one
    // read from memory tomorrow) is a `Hold` with `from_local`, and is named here.
    if let Some(h) = id
        .as_ref()
        .and_then(|id| facts[to].holds.iter().find(|h| &h.lock == id))
    {
        if h.from_local {
            return HeldAt::Guard { frame: h.frame };
        }
        if let Some(frame) = program_at(h.frame) {
            return HeldAt::Call { frame };
        }
    }
    if let Because::Holds {
        frame: Some(i),
        by: Held::InsideSite { .. } | Held::InterruptedInside { .. },
    } = because
    {
        if *i < frames.len() && fnames.is_program(frames, *i) {
            return HeldAt::Call { frame: *i };
        }
    }
    let top = facts[to].top.unwrap_or(0);
    match program_at(top) {
        Some(frame) => HeldAt::Below { frame },
        None if frames.get(top).is_some_and(|f| f.function.is_some()) => {
            HeldAt::Below { frame: top }
        }
        None => HeldAt::Unknown,
    }
}

/// The steps of one edge: (handler entry,) the wait, and why the other thread holds it up.
pub fn edge_steps(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    e: &Edge,
    kb: &KnowledgeBase,
) -> Vec<Step> {
    let from = &snap.threads[e.from];
    let f = &facts[e.from];
    let w = &f.waits[e.wait];
    let mut steps = Vec::new();
    if let Some(sig) = f.signal_frame() {
        let entry = sig.checked_sub(1).filter(|&i| i > w.frame);
        steps.push(Step {
            thread: e.from,
            frame: Some(entry.unwrap_or(sig)),
            shows: Shows::Interrupted {
                signal: sig,
                calls: handler_calls(&from.frames, w.frame, sig, kb),
            },
            grade: None,
        });
    }
    let mut wait = wait_step(snap, facts, names, e.from, w, Some(e.grade));
    if let Shows::Waits {
        object: Object::Kind {
            symbol: symbol @ None,
            ..
        },
        ..
    } = &mut wait.shows
    {
        *symbol = guard_from_holder(snap, w, e);
    }
    steps.push(wait);
    let frame = match &e.because {
        Because::Holds { frame, .. } => *frame,
        Because::IsTarget => Some(0),
        Because::Member { frame } | Because::InScope { frame } | Because::ScopeOwner { frame } => {
            Some(*frame)
        }
        Because::Claimed { .. } => None,
    };
    let held_at = match &e.because {
        Because::Holds { .. } | Because::Claimed { .. } => {
            Some(held_at(snap, facts, names, e.to, w, &e.because))
        }
        Because::IsTarget
        | Because::Member { .. }
        | Because::InScope { .. }
        | Because::ScopeOwner { .. } => None,
    };
    steps.push(Step {
        thread: e.to,
        frame,
        shows: Shows::Holder {
            because: e.because.clone(),
            itself: e.to == e.from,
            held_at,
        },
        grade: Some(e.grade),
    });
    steps
}

/// The guard a static's initialisation waits on, when nothing printed its address or symbol,
/// named from its holder: the holder is inside the function whose static it initialises (the
/// edge's frame), and the frame it called from there shows which static, by an argument whose
/// symbol is a static of that function (`registry()::r` inside `registry`); the rule's
/// `guard_name` names that static's guard.
fn guard_from_holder(snap: &Snapshot, w: &Wait, e: &Edge) -> Option<String> {
    let name = w.guard_name.as_deref()?;
    let Because::Holds {
        frame: Some(site), ..
    } = &e.because
    else {
        return None;
    };
    let frames = &snap.threads[e.to].frames;
    let function = frames.get(*site)?.function.as_deref()?;
    let called = frames.get(site.checked_sub(1)?)?;
    called.args.iter().find_map(|a| {
        let symbol = value_symbol(&a.value)?;
        let of = symbol.strip_prefix(function)?.strip_prefix('(')?;
        of.contains(")::").then(|| name.replace("{}", symbol))
    })
}

/// The handler's own calls from its entry (just above the signal frame) down to the wait,
/// outermost first, without the call plumbing the packs name or repeated names.
fn handler_calls(frames: &[Frame], wait: usize, sig: usize, kb: &KnowledgeBase) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut last: Option<&str> = None;
    for i in (wait..sig).rev() {
        let Some(name) = frames[i].function.as_deref().map(base_name) else {
            continue;
        };
        if kb.match_plumbing(name).is_some() || last == Some(name) {
            continue;
        }
        last = Some(name);
        out.push(i);
    }
    out
}

/// How many of a thread's own frames a finding shows, innermost first (a recursion of 10 000
/// frames is shown by its first few).
const PROGRAM_FRAMES_SHOWN: usize = 6;

/// The frames that matter of each thread the shown steps are on: the innermost frame, the
/// frames the steps name, signal frames and the first program frames; sorted, innermost first.
pub fn key_frames(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    steps: &[Step],
) -> Vec<KeyFrames> {
    let mut out: Vec<KeyFrames> = Vec::new();
    for s in steps.iter().take(MAX_STEPS_SHOWN) {
        let k = match out.iter().position(|k| k.thread == s.thread) {
            Some(k) => k,
            None => {
                let frames = &snap.threads[s.thread].frames;
                let n = names.thread(s.thread);
                let f = &facts[s.thread];
                let mut key: Vec<usize> = (0..frames.len())
                    .filter(|&i| n.is_program(frames, i))
                    .take(PROGRAM_FRAMES_SHOWN)
                    .collect();
                key.extend((0..frames.len()).filter(|&i| f.is_signal_frame(i)));
                key.extend(f.top);
                key.extend((!frames.is_empty()).then_some(0));
                out.push(KeyFrames {
                    thread: s.thread,
                    frames: key,
                });
                out.len() - 1
            }
        };
        out[k].frames.extend(s.shows.frames());
    }
    for k in &mut out {
        let len = snap.threads[k.thread].frames.len();
        k.frames.retain(|&i| i < len);
        k.frames.sort_unstable();
        k.frames.dedup();
    }
    out
}

/// The weakest grade along a set of edges.
pub fn weakest<'a>(edges: impl IntoIterator<Item = &'a Edge>) -> Grade {
    edges
        .into_iter()
        .map(|e| e.grade)
        .min()
        .unwrap_or(Grade::Heuristic)
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, FindingKind, Object, Shows};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;

    /// Two statics' initialisers need each other: gdb printed the first guard (libstdc++ with
    /// its debug info), not the second.
    const INIT_CYCLE: &str = "\
Thread 3 (Thread 0x7f02 (LWP 102) \"registry-init\"):
#0  syscall () at syscall.S:38
#1  0x10 in __cxa_guard_acquire () from /lib/x86_64-linux-gnu/libstdc++.so.6
#2  0x11 in config () at init.cpp:47
#3  0x12 in Registry::Registry (this=0x4124 <registry()::r>) at init.cpp:62
#4  0x13 in registry () at init.cpp:41
#5  0x14 in registry_init () at init.cpp:72

Thread 2 (Thread 0x7f01 (LWP 101) \"config-init\"):
#0  syscall () at syscall.S:38
#1  0x20 in __cxa_guard_acquire (g=0x4128 <guard variable for registry()::r>) at guard.cc:254
#2  0x21 in registry () at init.cpp:41
#3  0x22 in Config::Config (this=0x4130 <config()::c>) at init.cpp:55
#4  0x23 in config () at init.cpp:47
#5  0x24 in config_init () at init.cpp:67
";

    #[test]
    fn a_static_s_guard_is_named_by_its_printed_symbol_else_by_the_static_its_holder_builds() {
        let snap = parse_dump(INIT_CYCLE.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        let f = &a.findings[0];
        assert_eq!(f.kind, FindingKind::StaticInitCycle, "{:?}", a.findings);
        let mut guards: Vec<(Option<u64>, Option<String>)> = (f.steps.iter())
            .filter_map(|s| match &s.shows {
                Shows::Waits {
                    object:
                        Object::Kind {
                            address, symbol, ..
                        },
                    ..
                } => Some((*address, symbol.clone())),
                _ => None,
            })
            .collect();
        guards.sort();
        assert_eq!(
            guards,
            [
                (None, Some("guard variable for config()::c".to_string())),
                (
                    Some(0x4128),
                    Some("guard variable for registry()::r".to_string())
                ),
            ]
        );
    }
}
