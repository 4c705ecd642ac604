//! Runtimes starved by blocking calls: every worker of an async runtime (a pool whose member
//! rule says `async_runtime`: tokio's) is busy, blocked in a synchronous wait inside a task —
//! a lock, a condition variable, a channel's blocking receive, a future run to completion on
//! the worker (`block_on`). No worker is left to poll the runtime's tasks, among them whatever
//! would end those waits: a task holding the lock across an `.await`, the sender of the
//! channel. A wait that ends by itself (a sleep, a timeout, I/O) only slows the runtime and is
//! not counted.

use super::advice::advice;
use super::classify::{Activity, Facts};
use super::finding::{Detail, Draft, Finding};
use super::graph::Grade;
use super::names::Names;
use super::pools::{FoundBy, MemberState, Pool};
use super::steps::wait_step;
use super::{FindingKind, Severity};
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use std::collections::HashSet;

/// The situation whose advice the finding takes.
const SITUATION: &str = "runtime-starved";

/// A finding per async runtime whose every worker blocks in a synchronous wait; none for
/// threads already in a cycle (`in_cycle`).
pub fn find(
    snap: &Snapshot,
    facts: &[Facts],
    pools: &[Pool],
    names: &Names,
    kb: &KnowledgeBase,
    in_cycle: &HashSet<usize>,
) -> Vec<Finding> {
    let everyone_waits = facts
        .iter()
        .all(|f| matches!(f.activity, Activity::Blocked | Activity::Idle));
    (pools.iter())
        .filter(|p| is_async_runtime(facts, p, kb))
        .filter(|p| p.members.iter().all(|m| !in_cycle.contains(&m.thread)))
        .filter(|p| {
            p.members.iter().all(|m| {
                let f = &facts[m.thread];
                m.state == MemberState::Busy
                    && f.activity == Activity::Blocked
                    && !f.waits.is_empty()
            })
        })
        .map(|p| starved(snap, facts, p, names, kb, everyone_waits))
        .collect()
}

/// Whether the rules name `pool` as an async runtime's workers.
fn is_async_runtime(facts: &[Facts], pool: &Pool, kb: &KnowledgeBase) -> bool {
    pool.found_by == FoundBy::Named
        && pool.members.iter().all(|m| {
            (facts[m.thread].members.iter())
                .filter(|ms| ms.pool.class == pool.name)
                .any(|ms| kb.rule_by_id(&ms.rule).is_some_and(|r| r.async_runtime))
        })
}

/// The finding on `pool`: each worker's step is its wait. Nothing can move when every thread
/// of the process waits (a deadlock); else a thread outside the runtime may still end a wait.
fn starved(
    snap: &Snapshot,
    facts: &[Facts],
    pool: &Pool,
    names: &Names,
    kb: &KnowledgeBase,
    everyone_waits: bool,
) -> Finding {
    let waits = || pool.members.iter().map(|m| &facts[m.thread].waits[0]);
    let steps = (pool.members.iter())
        .map(|m| {
            let w = &facts[m.thread].waits[0];
            wait_step(snap, facts, names, m.thread, w, Some(pool.grade))
        })
        .collect();
    let draft = Draft {
        kind: FindingKind::RuntimeStarved,
        severity: if everyone_waits {
            Severity::Deadlock
        } else {
            Severity::Warning
        },
        confidence: pool.grade.min(Grade::Symbolic),
        threads: pool.members.iter().map(|m| m.thread).collect(),
        detail: Detail::RuntimeStarved {
            runtime: pool.name.clone(),
        },
        steps,
        suggestion: waits()
            .find_map(|w| w.suggestion.clone())
            .or_else(|| advice(kb, waits(), SITUATION)),
    };
    draft.sign(snap)
}
