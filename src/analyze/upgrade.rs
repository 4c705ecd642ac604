//! Read-write lock self-upgrades: a thread that holds a read-write lock for reading (a rule's
//! read hold: a `std::shared_lock` local) waits to take the same lock for writing. The write
//! lock waits for every reader to leave, the thread itself included: a deadlock of one thread,
//! whatever other writers queue behind it.

use super::advice::advice;
use super::classify::{Activity, Facts, LockId};
use super::finding::{Detail, Draft, Finding, HeldAt, Shows, Step};
use super::graph::{hold_grade, Because, Grade, Held};
use super::names::Names;
use super::steps::{wait_object, wait_step};
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, WaitKind};
use crate::model::Snapshot;

/// One finding per thread that waits to write a lock it holds for reading.
pub fn find(snap: &Snapshot, facts: &[Facts], names: &Names, kb: &KnowledgeBase) -> Vec<Finding> {
    let reads = |rule: &str| {
        kb.rule_by_id(rule)
            .is_some_and(|r| r.kind == Some(WaitKind::RwlockRead))
    };
    let mut out = Vec::new();
    for (t, f) in facts.iter().enumerate() {
        if f.activity != Activity::Blocked {
            continue;
        }
        let Some(w) = f.waits.iter().find(|w| w.kind.is_lock()) else {
            continue;
        };
        let Some(address) = w.address.filter(|_| w.kind == WaitKind::RwlockWrite) else {
            continue;
        };
        let Some(h) = f
            .holds
            .iter()
            .find(|h| h.lock == LockId::Addr(address) && reads(&h.rule))
        else {
            continue;
        };
        let grade = hold_grade(h);
        let holds = holds_itself(t, h.frame, &h.rule, HeldAt::Guard { frame: h.frame }, grade);
        let draft = Draft {
            kind: FindingKind::RwlockUpgrade,
            severity: Severity::Deadlock,
            confidence: grade,
            threads: vec![t],
            detail: Detail::Upgrade {
                lock: wait_object(snap, w),
            },
            steps: vec![wait_step(snap, facts, names, t, w, Some(grade)), holds],
            suggestion: advice(kb, std::iter::once(w), "rwlock-upgrade"),
        };
        out.push(draft.sign(snap));
    }
    out
}

/// The step saying thread `t` holds what it waits for itself: frame `frame` (rule `rule`)
/// shows it, held at `at`.
pub fn holds_itself(t: usize, frame: usize, rule: &str, at: HeldAt, grade: Grade) -> Step {
    Step {
        thread: t,
        frame: Some(frame),
        shows: Shows::Holder {
            because: Because::Holds {
                frame: Some(frame),
                by: Held::Rule {
                    rule: rule.to_string(),
                },
            },
            itself: true,
            held_at: Some(at),
        },
        grade: Some(grade),
    }
}
