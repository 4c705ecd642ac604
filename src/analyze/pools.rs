//! Pools: those the rules name (a class's worker loop), and those inferred from structure, not
//! names: threads that share a worker loop form a pool. Walking each thread's own stack from
//! its entry inwards (past the plumbing that starts threads), the threads that start in the
//! same program function follow the same calls until they part (one runs a task, another waits
//! for one) or until they wait. The loop is the outermost program frame they share, outside
//! any wait, whose `this` is the same on all (the pool's own method), else the last one they
//! share. A `this` that differs splits them into pools, one per object; another parameter alike
//! on all names the instance. Each member is idle (it waits for work in the loop, directly or
//! through a library wait a few frames above it) or busy (it runs a task above the loop).
//! Threads a rule names as a pool's workers are that pool's and not inferred again; a lone
//! thread, or threads sharing only thread-start plumbing, are never a pool.

use super::classify::{Activity, Facts, Membership, Wait};
use super::graph::Grade;
use super::names::Names;
use crate::model::{Frame, IdKind, Snapshot};
use crate::values::value_address;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many frames above the loop a wait for work may end (the library frames of a queue's
/// or a condition variable's wait) and still be the loop's own wait.
const IDLE_REACH: usize = 3;

/// A pool: named by a rule (a class's worker loop) or found from the structure of its
/// members' stacks.
#[derive(Debug, Clone, Serialize)]
pub struct Pool {
    /// The class a rule names, or the loop's function (its base name): what the report calls
    /// the pool.
    pub name: String,
    /// Whether a rule named it (`named`) or the stacks' shape showed it (`structure`).
    pub found_by: FoundBy,
    /// The instance, when a parameter of the loop shows it (`this=`).
    pub instance: Option<u64>,
    /// How the instance is known: read from memory (proven), printed (symbolic), or not
    /// shown, the pool resting on the shape of the stacks alone (heuristic).
    pub grade: Grade,
    /// Its members, by thread.
    pub members: Vec<Member>,
}

/// What shows a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FoundBy {
    /// A rule names its class's worker loop.
    Named,
    /// Its members share a worker loop.
    Structure,
}

/// One thread of a pool.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The thread (index).
    pub thread: usize,
    /// Its loop frame (position in the thread's frames).
    pub frame: usize,
    /// Idle or busy.
    pub state: MemberState,
}

/// What a member of a pool is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberState {
    /// Waiting for work inside the loop.
    Idle,
    /// Running a task above the loop.
    Busy,
}

impl Pool {
    /// The member that is thread `t`, if it is one.
    pub fn member(&self, t: usize) -> Option<&Member> {
        self.members.iter().find(|m| m.thread == t)
    }
}

/// One thread's path from its entry inwards: (frame position, base-name id) of each named
/// frame of its own stack (the segment below any signal handler), outermost first, starting
/// at its first program frame.
fn path(snap: &Snapshot, facts: &Facts, names: &Names, t: usize) -> Vec<(usize, usize)> {
    let frames = &snap.threads[t].frames;
    let fnames = names.thread(t);
    let own = facts.segments.last().cloned().unwrap_or(0..0);
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in own.rev() {
        let Some(id) = fnames.base(i).and_then(|b| names.base_id(b)) else {
            continue;
        };
        if out.is_empty() && !fnames.is_program(frames, i) {
            continue;
        }
        out.push((i, id));
    }
    out
}

/// A thread and its path (see [`path`]).
type Walk = (usize, Vec<(usize, usize)>);

/// The pools of a snapshot: those the rules name, then those inferred from its threads'
/// stacks.
pub fn infer(snap: &Snapshot, facts: &[Facts], names: &Names) -> Vec<Pool> {
    let mut out = named(snap, facts, names);
    out.extend(structural(snap, facts, names));
    out
}

/// A worker's name without the number that tells it from its pool's other workers (its last
/// run of digits): the same on every worker of one pool, and different between pools whose
/// names number the pool too (`pool-1-thread-2` → `pool-1-thread-`, `ThreadPoolExecutor-0_1`
/// → `ThreadPoolExecutor-0_`, `ForkJoinPool-2-worker-1` → `ForkJoinPool-2-worker-`).
fn name_stem(name: &str) -> (&str, &str) {
    let Some(end) = name.rfind(|c: char| c.is_ascii_digit()) else {
        return (name, "");
    };
    let start = name[..end]
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .len();
    (&name[..start], &name[end + 1..])
}

/// The pools the rules name, by class and instance: a member is idle when its rules say so.
/// With no instance shown, the workers' names tell the instances of one class apart (two
/// executors' `pool-1-thread-N` and `pool-2-thread-N`): threads of one class whose names
/// differ but in their last number are one pool. Threads with no name (a core's, but its
/// main thread) leave their class whole. A pool that lends its threads to another pool's loop
/// for good (its rule `hosts` them: tokio's blocking pool and the runtime's workers) keeps
/// none that runs such a loop above its own.
fn named(snap: &Snapshot, facts: &[Facts], names: &Names) -> Vec<Pool> {
    let mut by_class: BTreeMap<(&str, Option<u64>), Vec<Member>> = BTreeMap::new();
    for (t, f) in facts.iter().enumerate() {
        let hosts = |frame: usize| names.thread(t).rule(frame).is_some_and(|r| r.hosts);
        let lent = |m: &Membership| {
            hosts(m.frame)
                && (f.members.iter()).any(|o| o.frame < m.frame && o.pool.class != m.pool.class)
        };
        for m in f.members.iter().filter(|m| !lent(m)) {
            let state = if f.activity == Activity::Idle {
                MemberState::Idle
            } else {
                MemberState::Busy
            };
            let key = (m.pool.class.as_str(), m.pool.instance);
            by_class.entry(key).or_default().push(Member {
                thread: t,
                frame: m.frame,
                state,
            });
        }
    }
    let stem = |m: &Member| snap.threads[m.thread].name.as_deref().map(name_stem);
    let mut out = Vec::new();
    for ((class, instance), members) in by_class {
        let mut split: BTreeMap<Option<(&str, &str)>, Vec<Member>> = BTreeMap::new();
        if instance.is_none() && members.iter().all(|m| stem(m).is_some()) {
            for m in members {
                split.entry(stem(&m)).or_default().push(m);
            }
        } else {
            split.insert(None, members);
        }
        out.extend(split.into_values().map(|members| Pool {
            name: class.to_string(),
            found_by: FoundBy::Named,
            instance,
            grade: if instance.is_some() {
                Grade::Symbolic
            } else {
                Grade::Heuristic
            },
            members,
        }));
    }
    out
}

/// The pools of threads no rule names as workers, from their stacks' shape.
fn structural(snap: &Snapshot, facts: &[Facts], names: &Names) -> Vec<Pool> {
    // Each thread's path on every core, grouped by entry in input order. A thread whose stack
    // is known only in part (a torn read, a cut excerpt) shows no entry: its outermost frame
    // is wherever the stack stopped (two goroutines cut inside `runtime.lock` are no pool).
    // Where goroutines were read, the OS threads are the scheduler's: a running goroutine's
    // frames are its thread's, one execution seen twice, never two workers.
    let goroutines = (snap.threads.iter()).any(|t| t.id_kind == IdKind::Goroutine);
    let paths: Vec<Option<Walk>> = (facts.par_iter().enumerate())
        .map(|(t, f)| {
            let thread = &snap.threads[t];
            let scheduler = goroutines && thread.id_kind != IdKind::Goroutine;
            let whole = f.members.is_empty() && !thread.partial && !scheduler;
            whole.then(|| (t, path(snap, f, names, t)))
        })
        .collect();
    let mut by_entry: BTreeMap<usize, Vec<Walk>> = BTreeMap::new();
    for (t, p) in paths.into_iter().flatten() {
        if let Some(&(_, entry)) = p.first() {
            by_entry.entry(entry).or_default().push((t, p));
        }
    }
    let mut out = Vec::new();
    for group in by_entry.into_values().filter(|g| g.len() >= 2) {
        let Some(depth) = loop_depth(snap, facts, names, &group) else {
            continue;
        };
        for (instance, grade, threads) in instances(snap, &group, depth) {
            let members: Vec<Member> = (group.par_iter())
                // `threads` is in input order, as the group is.
                .filter(|(t, _)| threads.binary_search(t).is_ok())
                .map(|(t, p)| {
                    let frame = p[depth].0;
                    let state = state(snap, &facts[*t], names, *t, frame);
                    Member {
                        thread: *t,
                        frame,
                        state,
                    }
                })
                .collect();
            if members.len() < 2 {
                continue;
            }
            let (t0, p0) = &group[0];
            let name = names.thread(*t0).base(p0[depth].0).unwrap_or("?");
            out.push(Pool {
                name: name.to_string(),
                found_by: FoundBy::Structure,
                instance,
                grade,
                members,
            });
        }
    }
    out
}

/// How deep along the group's shared path its loop is. The candidates are the frames every
/// member shares that are the program's own, not part of any member's wait, and not the task
/// that makes a wait no worker idles in ([`busy_task`]); the loop is the
/// outermost of them whose `this` (or `self`) is the same on every member (the pool's own
/// method, below the dispatch of its tasks, which the members may all be running alike), else
/// the last of them.
fn loop_depth(snap: &Snapshot, facts: &[Facts], names: &Names, group: &[Walk]) -> Option<usize> {
    let shortest = group.iter().map(|(_, p)| p.len()).min()?;
    let shared = (0..shortest)
        .take_while(|&k| group.iter().all(|(_, p)| p[k].1 == group[0].1[k].1))
        .count();
    let candidates: Vec<usize> = (0..shared)
        .filter(|&k| {
            group.iter().all(|(t, p)| {
                let i = p[k].0;
                let frames = &snap.threads[*t].frames;
                let in_wait = facts[*t]
                    .waits
                    .iter()
                    .any(|w| (w.first..=w.frame).contains(&i));
                !in_wait
                    && names.thread(*t).is_program(frames, i)
                    && busy_task(snap, &facts[*t], names, *t) != Some(i)
            })
        })
        .collect();
    let this = |t: usize, k: usize, p: &[(usize, usize)]| this_of(&snap.threads[t].frames[p[k].0]);
    let same_this = |k: usize| {
        let first = this(group[0].0, k, &group[0].1);
        first.is_some()
            && group
                .iter()
                .all(|(t, p)| this(*t, k, p).map(|v| v.0) == first.map(|v| v.0))
    };
    (candidates.iter().copied().find(|&k| same_this(k))).or(candidates.last().copied())
}

/// Whether a worker blocked in `w` runs a task, never waits for work: a wait no worker idles
/// in (a future, a lock, a join), or one a rule says is busy (a send into a full queue).
fn busy_wait(w: &Wait) -> bool {
    w.busy || !w.kind.meaning().may_be_idle
}

/// The frame of thread `t` that makes its first wait, when that wait is busy ([`busy_wait`]):
/// the innermost program frame at or below the wait's outermost frame. It runs a task, so it
/// is above the loop, whatever frames show the wait.
fn busy_task(snap: &Snapshot, facts: &Facts, names: &Names, t: usize) -> Option<usize> {
    let w = facts.waits.first().filter(|w| busy_wait(w))?;
    let frames = &snap.threads[t].frames;
    (w.frame..frames.len()).find(|&i| names.thread(t).is_program(frames, i))
}

/// A frame's `this` (or `self`): its address and whether it was read from memory.
fn this_of(frame: &Frame) -> Option<(u64, bool)> {
    let var = ["this", "self"]
        .iter()
        .find_map(|n| frame.args.iter().find(|a| &*a.name == *n))?;
    let from_memory = var.read.as_ref().is_some_and(|r| r.unreadable.is_none());
    Some((value_address(&var.value)?, from_memory))
}

/// A parameter of the loop frame, alike on every member (same name, same address): the
/// instance when no `this` shows it.
fn shared_param(frames: &[&Frame]) -> Option<(u64, bool)> {
    let first = frames.first()?;
    first.args.iter().find_map(|a| {
        let address = value_address(&a.value)?;
        let mut memory = true;
        for f in frames {
            let b = f.args.iter().find(|b| b.name == a.name)?;
            if value_address(&b.value) != Some(address) {
                return None;
            }
            memory &= b.read.as_ref().is_some_and(|r| r.unreadable.is_none());
        }
        Some((address, memory))
    })
}

/// The grade of an instance read from memory or printed.
fn grade_of(from_memory: bool) -> Grade {
    if from_memory {
        Grade::Proven
    } else {
        Grade::Symbolic
    }
}

/// The group split by the instance its loop shows: (instance, grade, threads). A `this` on
/// every member splits it by value (different objects, different pools); else a parameter
/// alike on every member names its one instance; else it is one pool known by its shape alone.
fn instances(
    snap: &Snapshot,
    group: &[Walk],
    depth: usize,
) -> Vec<(Option<u64>, Grade, Vec<usize>)> {
    let all: Vec<usize> = group.iter().map(|(t, _)| *t).collect();
    let frames: Vec<&Frame> = (group.iter())
        .map(|(t, p)| &snap.threads[*t].frames[p[depth].0])
        .collect();
    let this: Option<Vec<(u64, bool)>> = frames.iter().map(|f| this_of(f)).collect();
    let Some(this) = this else {
        return match shared_param(&frames) {
            Some((address, memory)) => vec![(Some(address), grade_of(memory), all)],
            None => vec![(None, Grade::Heuristic, all)],
        };
    };
    let mut split: BTreeMap<u64, (bool, Vec<usize>)> = BTreeMap::new();
    for ((address, memory), t) in this.into_iter().zip(all) {
        let e = split.entry(address).or_insert((true, Vec::new()));
        e.0 &= memory;
        e.1.push(t);
    }
    (split.into_iter())
        .map(|(address, (memory, threads))| (Some(address), grade_of(memory), threads))
        .collect()
}

/// Idle: the thread is idle by its rules, or it waits, in one wait a worker may idle in (and
/// no rule says a worker waiting there is busy: a send into a full queue), that ends (its
/// outermost frame) in the loop or a few library frames above it. Busy otherwise.
fn state(snap: &Snapshot, facts: &Facts, names: &Names, t: usize, lp: usize) -> MemberState {
    if facts.activity == Activity::Idle {
        return MemberState::Idle;
    }
    let frames = &snap.threads[t].frames;
    let fnames = names.thread(t);
    let idle = match (facts.activity, &facts.waits[..]) {
        (Activity::Blocked, [w]) => {
            !busy_wait(w)
                && w.frame < lp
                && lp - w.frame <= IDLE_REACH
                && (w.frame + 1..lp).all(|i| !fnames.is_program(frames, i))
        }
        _ => false,
    };
    if idle {
        MemberState::Idle
    } else {
        MemberState::Busy
    }
}

#[cfg(test)]
mod tests;
