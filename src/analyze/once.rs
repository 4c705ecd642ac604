//! One-time initialisation recursion: a thread waits in `pthread_once` / `std::call_once` (a
//! wait of kind `once`) while a call of the same kind further out on its own stack runs the
//! routine it waits for (the same once control, when both addresses are known). The routine
//! can only return after the inner wait does: a deadlock of one thread.

use super::advice::advice;
use super::classify::{Activity, Facts};
use super::finding::{Detail, Draft, Finding, HeldAt};
use super::graph::Grade;
use super::names::Names;
use super::steps::{wait_object, wait_step};
use super::upgrade::holds_itself;
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, WaitKind};
use crate::model::Snapshot;

/// One finding per thread whose once wait is inside its own once routine.
pub fn find(snap: &Snapshot, facts: &[Facts], names: &Names, kb: &KnowledgeBase) -> Vec<Finding> {
    let mut out = Vec::new();
    for (t, f) in facts.iter().enumerate() {
        let Some(w) = f.waits.first().filter(|w| w.kind == WaitKind::Once) else {
            continue;
        };
        if f.activity != Activity::Blocked {
            continue;
        }
        let same = |a: Option<u64>| a.is_none() || w.address.is_none() || a == w.address;
        let Some(outer) = f.waits[1..]
            .iter()
            .find(|o| o.kind == WaitKind::Once && same(o.address))
        else {
            continue;
        };
        // Both calls' once controls read and equal: symbolic; else the frames' names alone.
        let grade = if outer.address.is_some() && w.address.is_some() {
            Grade::Symbolic
        } else {
            Grade::Heuristic
        };
        // The outer call runs the routine: held where the program called it.
        let runs = HeldAt::Call {
            frame: outer.site.first().copied().unwrap_or(outer.frame),
        };
        let draft = Draft {
            kind: FindingKind::OnceRecursion,
            severity: Severity::Deadlock,
            confidence: grade,
            threads: vec![t],
            detail: Detail::OnceRecursion {
                once: wait_object(snap, w),
            },
            steps: vec![
                wait_step(snap, facts, names, t, w, Some(grade)),
                holds_itself(t, outer.frame, &outer.rule, runs, grade),
            ],
            suggestion: advice(kb, std::iter::once(w), "once-recursion"),
        };
        out.push(draft.sign(snap));
    }
    out
}
