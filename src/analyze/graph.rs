//! The wait-for graph: an edge `from → to` says thread `from` waits for something thread `to`
//! holds (a lock), is (a joined thread) or belongs to (a pool being joined). Every edge carries
//! its evidence grade and the frame that shows the holding side. Waits whose holder is unknown
//! are kept as such, never dropped.

use super::classify::{Activity, Facts, Hold, LockId, Wait};
use super::names::Names;
use crate::knowledge::{KnowledgeBase, Release, WaitKind};
use crate::model::{Evidence, Snapshot};
use std::collections::HashMap;

mod claims;
mod edge;
mod owners;
mod scopes;
use claims::{claimed_cycles, claimed_holder};
pub use edge::{Alternative, Because, Edge, Grade, Graph, Held, Owner};
use owners::read as read_owners;
pub use owners::waits_on_owned;

struct Holder {
    thread: usize,
    frame: Option<usize>,
    grade: Grade,
    what: Held,
    /// Only a runtime's deadlock report names it (see [`Because::Claimed`]).
    claimed: bool,
}

/// True when the process lives in a PID namespace whose thread ids are not known (a `gcore`
/// core taken from the host): an id read from its memory cannot be matched to a thread, so
/// no edge rests on one.
pub fn memory_tids_unknown(snap: &Snapshot) -> bool {
    snap.threads.iter().any(|t| t.ns_tid_unknown)
}

/// The one thread called `name`: `None` when no thread or several have that name.
fn only_thread_named(snap: &Snapshot, name: &str) -> Option<usize> {
    let mut named = (snap.threads.iter().enumerate())
        .filter(|(_, t)| t.name.as_deref() == Some(name))
        .map(|(i, _)| i);
    let first = named.next()?;
    named.next().is_none().then_some(first)
}

/// How sure a hold is: read from a guard's bytes in memory, proven; from a `bt full` local,
/// symbolic; from a function name alone, heuristic.
pub fn hold_grade(h: &Hold) -> Grade {
    if h.from_memory {
        Grade::Proven
    } else if h.from_local {
        Grade::Symbolic
    } else {
        Grade::Heuristic
    }
}

/// Builds the graph from the snapshot, the per-thread facts, the frames' names and the rules
/// (which read lock owners from the values a debugger printed).
pub fn build(snap: &Snapshot, facts: &[Facts], names: &Names, kb: &KnowledgeBase) -> Graph {
    // Ids read from memory (owner fields, futex words, join targets) are the process's own,
    // which inside a PID namespace are not the host's: matched by each thread's `ns_tid`.
    // When a namespace's ids are not known, they match nothing (see `memory_tids_unknown`).
    let by_tid = if memory_tids_unknown(snap) {
        HashMap::new()
    } else {
        snap.by_memory_tid()
    };
    // Sized up front: collecting from a filter would grow (and rehash) it step by step.
    let mut by_pthread: HashMap<u64, usize> = HashMap::with_capacity(snap.threads.len());
    by_pthread.extend(
        snap.threads
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.pthread.map(|p| (p, i))),
    );
    let mut holders: HashMap<LockId, Vec<Holder>> = HashMap::new();
    for (t, f) in facts.iter().enumerate() {
        for h in &f.holds {
            let grade = hold_grade(h);
            holders.entry(h.lock.clone()).or_default().push(Holder {
                thread: t,
                frame: Some(h.frame),
                grade,
                what: Held::Rule {
                    rule: h.rule.clone(),
                },
                claimed: false,
            });
        }
    }
    // Owners read from memory: printed by a debugger, or a rule's owner field in the bytes a
    // live capture read around each futex word.
    let mut owners: Vec<(u64, u64, Held, bool)> = Vec::new();
    let mut named: Vec<(u64, usize, Held, bool)> = Vec::new();
    for ev in &snap.evidence {
        if let Evidence::LockOwner {
            address,
            owner_tid,
            owner_name,
            source,
            by_claim,
        } = ev
        {
            let source = Held::Stated {
                source: source.clone(),
            };
            match owner_name
                .as_deref()
                .and_then(|n| only_thread_named(snap, n))
            {
                Some(t) => named.push((*address, t, source, *by_claim)),
                None => owners.push((*address, *owner_tid, source, *by_claim)),
            }
        }
    }
    let read = read_owners(snap, facts, kb);
    owners.extend(read.iter().map(|o| (o.address, o.tid, o.by.clone(), false)));
    let owners = owners
        .into_iter()
        .filter_map(|(a, tid, source, claim)| Some((a, *by_tid.get(&tid)?, source, claim)))
        .chain(named);
    for (address, t, source, by_claim) in owners {
        holders
            .entry(LockId::Addr(address))
            .or_default()
            .push(Holder {
                thread: t,
                frame: None,
                // A runtime's report is a claim: the dump shows a thread blocked on the
                // lock, and who holds it only the claim says.
                grade: if by_claim {
                    Grade::Heuristic
                } else {
                    Grade::Proven
                },
                what: source,
                claimed: by_claim,
            });
    }
    let mut by_function: Vec<Vec<(usize, usize)>> = vec![Vec::new(); names.base_count()];
    for (t, th) in snap.threads.iter().enumerate() {
        let frames = names.thread(t);
        for i in 0..th.frames.len() {
            if let Some(n) = frames.get(i) {
                by_function[n.base_id].push((t, i));
            }
        }
    }
    let with_frames = snap.threads.iter().filter(|t| !t.frames.is_empty()).count();
    let widespread = by_function
        .iter()
        .map(|frames| {
            let mut threads = frames.iter().map(|&(t, _)| t).collect::<Vec<_>>();
            threads.dedup();
            2 * threads.len() > with_frames
        })
        .collect();
    let mut ctx = Ctx {
        facts,
        names,
        scopes: scopes::find(snap, facts),
        by_function,
        widespread,
        holders,
        site_candidates: HashMap::new(),
        by_tid,
        by_pthread,
    };
    // Each waiter of a lock votes for the threads its call site points at; a mutex has one
    // holder, so the most-voted threads are the likely ones.
    // Waiters of the same lock from the same call site point at the same threads: count them
    // once per site, with the number of waiters as the weight.
    let mut sites: HashMap<(LockId, Vec<&str>), (usize, usize, usize)> = HashMap::new();
    for (t, f) in facts.iter().enumerate() {
        for (wi, w) in f.waits.iter().enumerate().filter(|(_, w)| w.kind.is_lock()) {
            let Some(id) = lock_id(w) else { continue };
            if ctx.holders.contains_key(&id) {
                continue;
            }
            let site = site_names(names, t, w);
            sites.entry((id, site)).or_insert((t, wi, 0)).2 += 1;
        }
    }
    // Count the sites in input order (of their first waiter), not in hash order: the first
    // site to find a thread names the frame shown for it, and ties keep that order.
    let mut sites: Vec<_> = sites.into_iter().collect();
    sites.sort_unstable_by_key(|(_, (t, wi, _))| (*t, *wi));
    let mut votes: HashMap<LockId, Vec<(usize, usize, Grade, Because)>> = HashMap::new();
    for ((id, _), (t, wi, weight)) in sites {
        let w = &facts[t].waits[wi];
        let found = ctx.site_candidates_of(t, w, Some(&id));
        let list = votes.entry(id).or_default();
        for (o, grade, because) in found {
            match list.iter_mut().find(|v| v.0 == o) {
                Some(v) => v.1 += weight,
                None => list.push((o, weight, grade, because)),
            }
        }
    }
    let candidates = votes
        .into_iter()
        .map(|(id, list)| {
            let top = list.iter().map(|v| v.1).max().unwrap_or(0);
            let best = list
                .into_iter()
                .filter(|v| v.1 == top)
                .map(|(o, _, g, b)| (o, g, b))
                .collect();
            (id, best)
        })
        .collect();
    ctx.site_candidates = candidates;
    let mut g = Graph {
        edges: Vec::new(),
        effective: vec![None; facts.len()],
        owners: read,
        by_tid: HashMap::new(),
    };
    let claimed = claimed_cycles(snap);
    for (t, f) in facts.iter().enumerate() {
        if f.activity != Activity::Blocked || f.waits.is_empty() {
            continue;
        }
        g.effective[t] = Some(0);
        for (wi, w) in f.waits.iter().enumerate() {
            let mut found = ctx.resolve(t, w);
            if found.is_empty() && w.kind == WaitKind::Mutex {
                found = claimed_holder(&claimed, t);
            }
            if !found.is_empty() {
                g.effective[t] = Some(wi);
                g.edges
                    .extend(found.into_iter().map(|(to, grade, because)| Edge {
                        from: t,
                        to,
                        wait: wi,
                        grade,
                        because,
                    }));
                break;
            }
        }
    }
    for e in &mut g.edges {
        if rests_on_untrusted(snap, facts, e) {
            e.grade = e.grade.min(Grade::Heuristic);
        }
    }
    g.by_tid = ctx.by_tid;
    g
}

/// True when the edge rests on a frame whose symbols are untrusted (its object's file changed
/// after the process started): the waiting frames, or the frame that shows the holder. Names
/// that may be another build's prove nothing, whatever memory says at the address they give.
fn rests_on_untrusted(snap: &Snapshot, facts: &[Facts], e: &Edge) -> bool {
    let untrusted = |t: usize, i: usize| {
        snap.threads
            .get(t)
            .and_then(|th| th.frames.get(i))
            .is_some_and(|f| f.untrusted.is_some())
    };
    let waiting = facts
        .get(e.from)
        .and_then(|f| f.waits.get(e.wait))
        .is_some_and(|w| (w.first..=w.frame).any(|i| untrusted(e.from, i)));
    let holding = match &e.because {
        Because::Holds { frame: Some(i), .. }
        | Because::Member { frame: i }
        | Because::InScope { frame: i }
        | Because::ScopeOwner { frame: i } => untrusted(e.to, *i),
        Because::Holds { frame: None, .. } | Because::IsTarget | Because::Claimed { .. } => false,
    };
    waiting || holding
}

pub(super) fn lock_id(w: &Wait) -> Option<LockId> {
    match (&w.named, w.address) {
        (Some(n), _) => Some(LockId::Named(n.clone())),
        (None, Some(a)) => Some(LockId::Addr(a)),
        _ => None,
    }
}

/// More likely holders than this prove nothing.
const MAX_GUESSES: usize = 3;

/// The base names of the wait's call site frames (of thread `t`), as long as no unnamed frame
/// (a stripped function) comes between: past one, the site is unknown, and a frame further
/// out (`start_thread`) does not stand for it.
fn site_names<'a>(names: &Names<'a>, t: usize, w: &Wait) -> Vec<&'a str> {
    let frames = names.thread(t);
    let mut out = Vec::with_capacity(w.site.len());
    let mut from = w.frame + 1;
    for &i in &w.site {
        if (from..i).any(|j| frames.base(j).is_none()) {
            break;
        }
        out.extend(frames.base(i));
        from = i + 1;
    }
    out
}

struct Ctx<'a> {
    facts: &'a [Facts],
    names: &'a Names<'a>,
    scopes: Vec<scopes::Scope>,
    /// Every frame by its function's base name (id): (thread, position).
    by_function: Vec<Vec<(usize, usize)>>,
    /// Per base name (id): whether more than half the threads with frames have it (a thread
    /// entry such as `start_thread`): being inside it shows nothing about a lock.
    widespread: Vec<bool>,
    holders: HashMap<LockId, Vec<Holder>>,
    /// For locks with no known holder: the threads their waiters' call sites point at.
    site_candidates: HashMap<LockId, Vec<(usize, Grade, Because)>>,
    by_tid: HashMap<u64, usize>,
    by_pthread: HashMap<u64, usize>,
}

impl Ctx<'_> {
    fn resolve(&self, t: usize, w: &Wait) -> Vec<(usize, Grade, Because)> {
        match w.kind.meaning().released_by {
            Release::LockHolder => self.lock_holders(t, w),
            Release::ThreadExit => self.join_target(t, w),
            // A pool's join that is joining one of its threads waits for that one at least,
            // when no member of the pool is known (a worker loop no rule names).
            Release::PoolExit => match self.pool_members(t, w) {
                members if members.is_empty() => self.join_target(t, w),
                members => members,
            },
            Release::AnotherThread => scopes::owner_of(&self.scopes, self.facts, t),
            Release::Outside => Vec::new(),
        }
    }

    fn lock_holders(&self, t: usize, w: &Wait) -> Vec<(usize, Grade, Because)> {
        let id = lock_id(w);
        if let Some(hs) = id.as_ref().and_then(|id| self.holders.get(id)) {
            let mut best: HashMap<usize, &Holder> = HashMap::new();
            for h in hs {
                let e = best.entry(h.thread).or_insert(h);
                if h.grade > e.grade {
                    *e = h;
                }
            }
            let mut out: Vec<_> = best
                .into_values()
                .map(|h| {
                    let by = h.what.clone();
                    let because = if h.claimed {
                        Because::Claimed { by }
                    } else {
                        Because::Holds { frame: h.frame, by }
                    };
                    (h.thread, h.grade, because)
                })
                .collect();
            out.sort_by_key(|(to, _, _)| *to);
            return out;
        }
        self.same_site_holders(t, w, id.as_ref())
    }

    /// No holder is known. A signal that interrupted the waiting thread inside the function
    /// that takes the lock means the thread holds it itself; otherwise the threads found inside
    /// that function by every waiter of the same lock are the likely holders.
    fn same_site_holders(
        &self,
        t: usize,
        w: &Wait,
        id: Option<&LockId>,
    ) -> Vec<(usize, Grade, Because)> {
        let frames = self.names.thread(t);
        let sites = site_names(self.names, t, w);
        for seg in self.facts[t].segments.iter().skip(1) {
            for i in seg.clone() {
                // Plumbing (a thread entry) is never where a lock is taken.
                if frames.base(i).is_some_and(|n| sites.contains(&n)) && !frames.plumbing(i) {
                    let by = Held::InterruptedInside {
                        sites: sites.iter().map(|s| s.to_string()).collect(),
                    };
                    let because = Because::Holds { frame: Some(i), by };
                    return vec![(t, Grade::Heuristic, because)];
                }
            }
        }
        let mut out = match id {
            Some(id) => self.site_candidates.get(id).cloned().unwrap_or_default(),
            None => self.site_candidates_of(t, w, None),
        };
        out.retain(|(o, _, _)| *o != t);
        if out.len() > MAX_GUESSES {
            out.clear();
        }
        out
    }

    /// Threads inside the waiter's calling function (or, failing that, its caller, unless most
    /// threads are inside that) that are not themselves waiting for this lock, nor there only
    /// on the way to a wait of their own.
    fn site_candidates_of(
        &self,
        t: usize,
        w: &Wait,
        id: Option<&LockId>,
    ) -> Vec<(usize, Grade, Because)> {
        let sites = site_names(self.names, t, w);
        for (k, site) in sites.iter().enumerate().take(2) {
            let base = self.names.base_id(site);
            if k > 0 && base.is_some_and(|b| self.widespread[b]) {
                break;
            }
            let mut out: Vec<(usize, Grade, Because)> = Vec::new();
            let found = base.map(|b| &self.by_function[b]);
            for &(o, i) in found.into_iter().flatten() {
                // Plumbing (a thread entry) is never where a lock is taken.
                if o == t
                    || self.names.thread(o).plumbing(i)
                    || out.last().is_some_and(|l| l.0 == o)
                    || self.waits_on_same(o, id, &sites)
                {
                    continue;
                }
                if !self.on_the_way_to_a_wait(o, i) {
                    let by = Held::InsideSite {
                        site: site.to_string(),
                    };
                    let because = Because::Holds { frame: Some(i), by };
                    out.push((o, Grade::Heuristic, because));
                }
            }
            if !out.is_empty() {
                return out;
            }
        }
        Vec::new()
    }

    /// Whether frame `i` of thread `o` is part of one of its waits: the wait's own frames, or
    /// for a lock, the calls that lead to it (its site). A thread blocked in a lock call is
    /// inside the calling function because of that call, which is no sign it holds a lock
    /// taken there: two workers in the same function, each waiting for its own lock, do not
    /// hold each other's.
    fn on_the_way_to_a_wait(&self, o: usize, i: usize) -> bool {
        self.facts[o].waits.iter().any(|x| {
            let last = match x.site.iter().max() {
                Some(&s) if x.kind.is_lock() => s,
                _ => x.frame,
            };
            (x.first..=last).contains(&i)
        })
    }

    /// Whether thread `o` waits for the same lock (by id, or else by the same call site).
    fn waits_on_same(&self, o: usize, id: Option<&LockId>, sites: &[&str]) -> bool {
        let frames = self.names.thread(o);
        self.facts[o].waits.first().is_some_and(|x| {
            x.kind.is_lock()
                && match id {
                    Some(LockId::Addr(a)) => x.address == Some(*a),
                    Some(LockId::Named(n)) => x.named.as_ref() == Some(n),
                    None => x.site.first().and_then(|&i| frames.base(i)) == sites.first().copied(),
                }
        })
    }

    fn join_target(&self, t: usize, w: &Wait) -> Vec<(usize, Grade, Because)> {
        let target = w
            .target_tid
            .and_then(|tid| self.by_tid.get(&tid))
            .or_else(|| w.target_pthread.and_then(|p| self.by_pthread.get(&p)));
        match target {
            Some(&to) => vec![(to, Grade::Symbolic, Because::IsTarget)],
            None if w.scope => scopes::spawned_in(&self.scopes, t, w),
            None => Vec::new(),
        }
    }

    fn pool_members(&self, _t: usize, w: &Wait) -> Vec<(usize, Grade, Because)> {
        let Some(pool) = &w.pool else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (o, f) in self.facts.iter().enumerate() {
            let Some(m) = f.members.iter().find(|m| {
                m.pool.class == pool.class
                    && (m.pool.instance.is_none()
                        || pool.instance.is_none()
                        || m.pool.instance == pool.instance)
            }) else {
                continue;
            };
            // An idle worker exits when the pool stops; it does not hold the join up.
            if f.activity == Activity::Idle {
                continue;
            }
            let grade = if m.pool.instance.is_some() && m.pool.instance == pool.instance {
                Grade::Symbolic
            } else {
                Grade::Heuristic
            };
            out.push((o, grade, Because::Member { frame: m.frame }));
        }
        out
    }
}

#[cfg(test)]
mod tests;
