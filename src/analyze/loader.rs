//! Deadlocks through the dynamic loader's lock: threads wait for it (a wait of kind `loader`:
//! `dlopen`, `dlsym`, `dlclose`, `dladdr`) while the thread that holds it, inside the loader
//! running a library's constructor or destructor, waits in turn. Its wait ends only when the
//! constructor returns, and the constructor waits for a lock one of the waiters holds (a
//! cycle through the loader), or for anything else that does not come.
//!
//! Who holds the loader's lock: its owner field read from memory or printed (the graph's edge
//! from the waiter, `proven`), else the one other thread whose frames a `hold` rule of kind
//! `loader` shows inside the loader (`heuristic`).

use super::advice::advice;
use super::classify::{Activity, Facts, Wait};
use super::finding::{Detail, Draft, Finding, HeldAt, Shows, Step};
use super::graph::{Because, Grade, Graph, Held};
use super::names::Names;
use super::steps::{edge_steps, held_at, in_program, wait_object, wait_step};
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, Meaning, WaitKind};
use crate::model::Snapshot;
use std::collections::BTreeMap;

/// One finding per thread inside the loader that blocked threads wait for, while it waits.
pub fn find(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    // The holder → the waiters behind it: (thread, how it is known, why).
    let mut behind: BTreeMap<usize, Vec<(usize, Grade, Because)>> = BTreeMap::new();
    for (b, f) in facts.iter().enumerate() {
        if loader_wait(f).is_none() {
            continue;
        }
        let edge = g.out(b).find(|e| e.wait == 0 && e.to != b);
        let holder = match edge {
            Some(e) => Some((e.to, e.grade, e.because.clone())),
            None => inside_loader(facts, names, b),
        };
        // A holder that waits for the loader itself is one of its waiters, not inside it.
        let Some((a, grade, because)) = holder.filter(|(a, _, _)| {
            facts[*a].activity == Activity::Blocked && loader_wait(&facts[*a]).is_none()
        }) else {
            continue;
        };
        behind.entry(a).or_default().push((b, grade, because));
    }
    behind
        .into_iter()
        .map(|(a, waiters)| finding(snap, facts, g, names, kb, a, &waiters))
        .collect()
}

/// The thread's wait for the loader's lock, when it is blocked there.
fn loader_wait(f: &Facts) -> Option<&Wait> {
    let w = f.waits.first().filter(|w| w.kind == WaitKind::Loader)?;
    (f.activity == Activity::Blocked).then_some(w)
}

/// The frame of thread `t` a `hold` rule of kind `loader` matches: it is inside the loader.
fn loader_hold(facts: &[Facts], names: &Names, t: usize) -> Option<usize> {
    let frames = names.thread(t);
    facts[t].holds.iter().map(|h| h.frame).find(|&i| {
        frames
            .rule(i)
            .is_some_and(|r| r.meaning == Meaning::Hold && r.kind == Some(WaitKind::Loader))
    })
}

/// The one thread other than `b` whose frames show it inside the loader.
fn inside_loader(facts: &[Facts], names: &Names, b: usize) -> Option<(usize, Grade, Because)> {
    let mut inside = (0..facts.len())
        .filter(|&t| t != b)
        .filter_map(|t| Some((t, loader_hold(facts, names, t)?)));
    let (a, frame) = inside.next()?;
    if inside.next().is_some() {
        return None;
    }
    let rule = names.thread(a).rule(frame).map(|r| r.id.clone())?;
    let by = Held::Rule { rule };
    Some((
        a,
        Grade::Heuristic,
        Because::Holds {
            frame: Some(frame),
            by,
        },
    ))
}

fn finding(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
    a: usize,
    waiters: &[(usize, Grade, Because)],
) -> Finding {
    let (b0, _, because0) = &waiters[0];
    let lock = &facts[*b0].waits[0];
    let mut steps: Vec<Step> = waiters
        .iter()
        .map(|(b, grade, _)| wait_step(snap, facts, names, *b, &facts[*b].waits[0], Some(*grade)))
        .collect();
    // Where the holder took the loader's lock: the program's call into the loader.
    let inside = loader_hold(facts, names, a);
    let at = inside
        .and_then(|i| in_program(&snap.threads[a].frames, names.thread(a), &facts[a], i))
        .map(|p| HeldAt::Call { frame: p.frame })
        .unwrap_or_else(|| held_at(snap, facts, names, a, lock, because0));
    let mut grade = waiters
        .iter()
        .map(|w| w.1)
        .min()
        .unwrap_or(Grade::Heuristic);
    steps.push(Step {
        thread: a,
        frame: inside.or(match because0 {
            Because::Holds { frame, .. } => *frame,
            _ => None,
        }),
        shows: Shows::Holder {
            because: because0.clone(),
            itself: false,
            held_at: Some(at),
        },
        grade: Some(grade),
    });
    // What the holder waits for, inside the loader: a waiter's lock (a cycle), else anything.
    let out: Vec<_> = g.out(a).collect();
    let to_waiter = out
        .iter()
        .find(|e| waiters.iter().any(|(b, _, _)| *b == e.to));
    // The waiters, then the holder (the report's title names them so).
    let mut threads: Vec<usize> = waiters.iter().map(|w| w.0).collect();
    threads.push(a);
    match to_waiter.or(out.first()) {
        Some(e) => {
            if to_waiter.is_some() {
                grade = grade.min(e.grade);
            }
            steps.extend(edge_steps(snap, facts, names, e, kb));
        }
        None => steps.push(wait_step(snap, facts, names, a, &facts[a].waits[0], None)),
    }
    let waits = waiters
        .iter()
        .map(|(b, _, _)| &facts[*b].waits[0])
        .chain(facts[a].waits.first());
    Draft {
        kind: FindingKind::LoaderLock,
        severity: Severity::Deadlock,
        confidence: grade,
        threads,
        detail: Detail::Loader {
            lock: wait_object(snap, lock),
            holder: a,
            cycle: to_waiter.is_some(),
        },
        steps,
        suggestion: advice(kb, waits, "loader-lock"),
    }
    .sign(snap)
}
