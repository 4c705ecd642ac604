//! What the second look at a live process changes in the findings. Threads waiting for a lock
//! that used CPU spin on it; threads that woke and slept again over and over, while nothing else
//! ran or did I/O, are a livelock; and a stall (every thread waits, by the frames) in which
//! threads ran, woke or did I/O is slow progress, not a stall. Without a second look (dumps,
//! cores, `--samples 1`) the findings stay as the frames make them.

use super::classify::Facts;
use super::finding::{advice, Busy, Detail, Draft, Finding, Shows, Step};
use super::graph::Grade;
use super::motion::Motion;
use super::{FindingKind, Severity};
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use std::collections::HashSet;

/// The busy findings, and the stall `stall` when the second look bears it out (or there was
/// none). Threads in `deadlocked` (a cycle's, a starving pool's) stay theirs.
pub fn judge(
    snap: &Snapshot,
    facts: &[Facts],
    stall: Option<Finding>,
    deadlocked: &HashSet<usize>,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    if facts.iter().all(|f| f.motion.is_none()) {
        return stall.into_iter().collect();
    }
    let with = |m: Motion| -> Vec<usize> {
        (0..facts.len())
            .filter(|&t| facts[t].motion == Some(m) && !deadlocked.contains(&t))
            .collect()
    };
    let spinning = with(Motion::Spinning);
    let cycling = with(Motion::Cycling);
    let ran = !with(Motion::Ran).is_empty();
    let io = snap.threads.iter().any(|t| {
        t.kernel
            .as_ref()
            .and_then(|k| k.second_look?.io_bytes)
            .is_some_and(|b| b > 0)
    });
    let mut out = Vec::new();
    if !spinning.is_empty() {
        out.push(busy(snap, facts, Busy::Spinning, spinning.clone(), kb));
    }
    let livelock = cycling.len() >= 2 && !ran && !io;
    if livelock {
        out.push(busy(snap, facts, Busy::Livelock, cycling, kb));
    }
    if let Some(stall) = stall {
        let moved: Vec<usize> = (0..facts.len())
            .filter(|&t| {
                facts[t]
                    .motion
                    .is_some_and(|m| m.moved() && m != Motion::Spinning)
                    && !deadlocked.contains(&t)
            })
            .collect();
        if !moved.is_empty() || io {
            // The spinning or livelock finding says what holds the stall; anything else that
            // moved is progress.
            if !livelock {
                let mut threads = stall.threads.clone();
                threads.extend(moved.iter().filter(|t| !stall.threads.contains(t)));
                let mut f = busy(snap, facts, Busy::SlowProgress, moved, kb);
                f.threads = threads;
                out.push(f);
            }
        } else if spinning.is_empty() {
            out.push(stall);
        }
    }
    out
}

/// A busy finding of `how` on `threads`, a step each: what the thread did and where.
fn busy(
    snap: &Snapshot,
    facts: &[Facts],
    how: Busy,
    threads: Vec<usize>,
    kb: &KnowledgeBase,
) -> Finding {
    let steps = threads
        .iter()
        .filter_map(|&t| {
            let f = &facts[t];
            let at = f.waits.first().map(|w| w.frame).or(f.top);
            Some(Step {
                thread: t,
                frame: at,
                shows: Shows::Moved {
                    motion: f.motion?,
                    at,
                },
                grade: None,
            })
        })
        .collect();
    let waits = threads.iter().filter_map(|&t| facts[t].waits.first());
    let suggestion = advice(kb, waits, how.situation());
    let draft = Draft {
        kind: FindingKind::Busy,
        severity: match how {
            Busy::Spinning | Busy::Livelock => Severity::Warning,
            Busy::SlowProgress => Severity::Info,
        },
        confidence: match how {
            Busy::Spinning => Grade::Symbolic,
            Busy::Livelock | Busy::SlowProgress => Grade::Heuristic,
        },
        threads,
        detail: Detail::Busy { how },
        steps,
        suggestion,
    };
    draft.sign(snap)
}
