//! Findings on pools, named by the rules (a class's worker loop) or inferred from structure
//! (`pools.rs`): a member that joins a member idle in its own pool (self-join: the idle member
//! leaves only when the pool's work runs out, and the joiner's task is part of it), and
//! starvation (every member busy, blocked in its task on what only queued work provides — a
//! future, a channel, a latch, or a condition variable when no thread outside the pool is
//! left to signal it — and none idle to run it; a named pool of one thread, a strand or a
//! main loop, only when no thread outside it runs).

use super::advice::advice;
use super::classify::{Activity, Facts, Wait};
use super::finding::{Detail, Draft, Finding, Shows, Step};
use super::graph::{Grade, Graph};
use super::names::Names;
use super::pools::{FoundBy, MemberState, Pool};
use super::steps::edge_steps;
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, Release, WaitKind};
use crate::model::Snapshot;
use std::collections::HashSet;

/// The situation whose advice a self-join on a pool takes (outside a signal handler).
pub const SELF_JOIN_SITUATION: &str = "self-join/pool";

/// Every pool finding; none for threads already in a cycle (`in_cycle`).
pub fn find(
    snap: &Snapshot,
    facts: &[Facts],
    pools: &[Pool],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
    in_cycle: &HashSet<usize>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for pool in pools {
        if pool.members.iter().any(|m| in_cycle.contains(&m.thread)) {
            continue;
        }
        out.extend(self_joins(snap, facts, pool, g, names, kb));
        out.extend(match pool.found_by {
            FoundBy::Named => named_starvation(snap, facts, pool, kb),
            FoundBy::Structure => starvation(snap, facts, pool, kb),
        });
    }
    out
}

/// A member waiting for another member, idle in the same pool, to exit.
fn self_joins(
    snap: &Snapshot,
    facts: &[Facts],
    pool: &Pool,
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in &pool.members {
        let f = &facts[m.thread];
        let joins = (g.edges.iter()).filter(|e| {
            e.from == m.thread
                && e.to != m.thread
                && f.waits[e.wait].kind.meaning().released_by == Release::ThreadExit
        });
        for e in joins {
            let Some(idle) = pool.member(e.to).filter(|o| o.state == MemberState::Idle) else {
                continue;
            };
            let Some(w) = facts[e.to].waits.first() else {
                continue;
            };
            // The joined thread's step is the idle member's, not a holder's.
            let mut steps = edge_steps(snap, facts, names, e, kb);
            steps.retain(|s| !matches!(s.shows, Shows::Holder { .. }));
            steps.push(Step {
                thread: e.to,
                frame: Some(w.frame),
                shows: Shows::IdleMember {
                    pool: pool.name.clone(),
                    member: idle.frame,
                    at: w.frame,
                },
                grade: Some(pool.grade),
            });
            let through_signal = f.in_handler();
            let situation = if through_signal {
                "self-join/signal-handler"
            } else {
                SELF_JOIN_SITUATION
            };
            let draft = Draft {
                kind: FindingKind::SelfJoin,
                severity: Severity::Deadlock,
                confidence: pool.grade.min(e.grade),
                threads: vec![m.thread, e.to],
                detail: Detail::PoolSelfJoin {
                    pool: pool.name.clone(),
                    through_signal,
                },
                steps,
                suggestion: advice(kb, std::iter::once(&f.waits[e.wait]), situation),
            };
            out.push(draft.sign(snap));
        }
    }
    out
}

/// Whether every thread but `members` waits too (blocked or idle by its frames): then none
/// of them is left to signal a condition variable a member waits on.
fn outside_waits(facts: &[Facts], members: &[usize]) -> bool {
    (facts.iter().enumerate())
        .filter(|(t, _)| !members.contains(t))
        .all(|(_, f)| matches!(f.activity, Activity::Blocked | Activity::Idle))
}

/// Whether a pool of one thread (a strand, a main loop) may be fed from outside: a thread
/// outside it runs. One thread waiting on a future is no pattern by itself, unlike every
/// member of a larger pool doing so: it starves only when no running thread could provide
/// what it waits for. A thread whose frames show nothing (a JVM's compiler and GC threads,
/// runnable in a jstack dump with no Java frames) runs no code of the program's that could.
fn lone_and_fed(facts: &[Facts], members: &[usize]) -> bool {
    members.len() == 1
        && (facts.iter().enumerate())
            .any(|(t, f)| t != members[0] && f.activity == Activity::Running && f.top.is_some())
}

/// Whether a thread `pool` lends to another pool's loop for good (its rule `hosts` it: a
/// tokio runtime's worker on a thread of tokio's blocking pool) idles there: that pool's tasks
/// may yet end the members' waits (a task sending on the channel when its timer fires), so
/// the pool may be starved, not surely. The closure queued behind them that stacks cannot
/// show is what would make it sure.
fn lent_and_idle(facts: &[Facts], pool: &Pool, kb: &KnowledgeBase) -> bool {
    facts.iter().any(|f| {
        f.activity == Activity::Idle
            && (f.members.iter()).any(|m| {
                m.pool.class == pool.name && kb.rule_by_id(&m.rule).is_some_and(|r| r.hosts)
            })
    })
}

/// Whether a wait in a task is one only queued work may end: a future's or a channel's, one a
/// rule says so of (`awaits_work`: libuv's semaphore in a work callback), or a condition
/// variable's when no thread outside the pool is left to signal it (`quiet`).
fn awaits_work(w: &Wait, quiet: bool) -> bool {
    matches!(w.kind, WaitKind::Future | WaitKind::Channel)
        || w.awaits_work
        || (quiet && w.kind == WaitKind::Condvar)
}

/// Every member busy and blocked in its task on a future or a channel (or a condition variable
/// no other thread is left to signal): with none idle, no thread is left to run the work that
/// would end those waits.
fn starvation(
    snap: &Snapshot,
    facts: &[Facts],
    pool: &Pool,
    kb: &KnowledgeBase,
) -> Option<Finding> {
    let threads: Vec<usize> = pool.members.iter().map(|m| m.thread).collect();
    let quiet = outside_waits(facts, &threads);
    let awaits = |t: usize| awaits_queued(&facts[t], quiet);
    let starving = pool
        .members
        .iter()
        .all(|m| m.state == MemberState::Busy && awaits(m.thread).is_some());
    if !starving {
        return None;
    }
    let steps = (pool.members.iter())
        .map(|m| {
            let w = awaits(m.thread).expect("checked");
            Step {
                thread: m.thread,
                frame: Some(w.frame),
                shows: Shows::WorkerWaits {
                    pool: pool.name.clone(),
                    member: m.frame,
                    at: w.frame,
                },
                grade: Some(pool.grade),
            }
        })
        .collect();
    let waits = pool.members.iter().filter_map(|m| awaits(m.thread));
    let draft = Draft {
        kind: FindingKind::PoolStarvation,
        severity: Severity::Deadlock,
        confidence: pool.grade.min(Grade::Symbolic),
        threads,
        detail: Detail::Starvation {
            pool: pool.name.clone(),
        },
        steps,
        suggestion: advice(kb, waits, "pool-starvation"),
    };
    Some(draft.sign(snap))
}

/// Starvation of a pool the rules name (a class's worker loop): every worker blocked on what
/// only queued work provides ([`awaits_queued`]).
fn named_starvation(
    snap: &Snapshot,
    facts: &[Facts],
    pool: &Pool,
    kb: &KnowledgeBase,
) -> Option<Finding> {
    let members: Vec<usize> = pool.members.iter().map(|m| m.thread).collect();
    let quiet = outside_waits(facts, &members);
    let starving = members
        .iter()
        .all(|&t| awaits_queued(&facts[t], quiet).is_some());
    if !starving || lone_and_fed(facts, &members) {
        return None;
    }
    let steps = (pool.members.iter())
        .map(|m| {
            let w = awaits_queued(&facts[m.thread], quiet).expect("checked");
            Step {
                thread: m.thread,
                frame: Some(w.frame),
                shows: Shows::WorkerWaits {
                    pool: pool.name.clone(),
                    member: m.frame,
                    at: w.frame,
                },
                grade: Some(Grade::Heuristic),
            }
        })
        .collect();
    let waits = members.iter().filter_map(|&t| facts[t].waits.first());
    let draft = Draft {
        kind: FindingKind::PoolStarvation,
        severity: if lent_and_idle(facts, pool, kb) {
            Severity::Warning
        } else {
            Severity::Deadlock
        },
        confidence: Grade::Heuristic,
        threads: members.clone(),
        detail: Detail::Starvation {
            pool: pool.name.clone(),
        },
        steps,
        suggestion: advice(kb, waits, "pool-starvation"),
    };
    Some(draft.sign(snap))
}

/// The wait of a named pool's member that only the pool's queued work can end: a future or a
/// channel ([`awaits_work`]), in a wait that starts as one that may await queued work, or a
/// send into a full queue (a wait whose rule says the worker is busy, handing work on). A
/// future or a channel further down names the wait better than the condition variable it is
/// built on (tokio's `block_on` parks on one).
fn awaits_queued(f: &Facts, quiet: bool) -> Option<&Wait> {
    let first = f
        .waits
        .first()
        .filter(|_| f.activity == Activity::Blocked)?;
    if first.busy {
        return Some(first);
    }
    let found = |quiet: bool| f.waits.iter().find(|w| awaits_work(w, quiet));
    (first.kind.meaning().may_await_queued_work || first.awaits_work)
        .then(|| found(false).or_else(|| found(quiet)))
        .flatten()
}
