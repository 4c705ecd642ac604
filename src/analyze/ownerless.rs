//! Locks that record no owner (a GMutex, an `absl::Mutex`, a QMutex, a QReadWriteLock waited on
//! for writing, Rust std's `Mutex` with no guard in view, a hand-rolled futex lock): when
//! nothing names a waited-for lock's holder, the holders consistent with where every thread
//! stands are derived, and a cycle is added to the graph only when every consistent
//! assignment closes one.
//!
//! What constrains who holds lock L: a thread blocked on L does not hold it (these locks are
//! not recursive); a thread holds it only if some frame of the program's own, outside its own
//! waits, is live on its stack (code that took L and has not returned to unlock it; a thread
//! whose stack is only library frames and thread entries has returned from anything that
//! took it), or code no symbol names, or its stack is unreadable; a thread of another process
//! holds none of this process's locks, and one the input does not show (a dump of some
//! threads, a cut core) may hold any, so then nothing is claimed; and L is held by some thread of the process (a lock
//! none can hold is a lost wake-up or an orphan, never a cycle here). A thread seen taking
//! such locks (itself waiting for another of them: a lock call in its own frames) must be
//! among those that can hold L, else nothing is claimed: a thread that returned holding it is
//! as likely as one that merely could.
//!
//! The assignments are searched for one that closes no cycle with the edges the graph already
//! has (a holder running, asleep or waiting on something no lock holder releases), lock by
//! lock, a choice that closes a cycle cut off at once, within a budget; found, or past the
//! budget, nothing is claimed. Otherwise the likeliest assignment (holders that themselves
//! wait for such a lock, the ABBA shape) gives the cycle, graded `heuristic`, and each of its
//! edges names the other threads that could hold that lock and the cycle each would close.

use super::classify::{name_object, Activity, Facts, LockId, Wait};
use super::graph::{lock_id, Alternative, Because, Edge, Grade, Graph, Held};
use super::names::Names;
use super::{motion, scc};
use crate::knowledge::WaitKind;
use crate::model::Snapshot;

/// More waiters on ownerless locks than this are not weighed: nothing is claimed.
const MAX_WAITERS: usize = 64;

/// The other holders an edge names, at most.
const MAX_ALTERNATIVES: usize = 3;

/// The futex-mutex protocol's word for "locked, with waiters" (0 free, 1 locked, 2 contended:
/// Drepper's "Futexes Are Tricky", which GLib's GMutex, Rust std's Mutex and glibc's low-level
/// lock follow): a waiter sleeps with this value on a word that still reads it.
const CONTENDED: u32 = 2;

/// `FUTEX_WAIT` and `FUTEX_WAIT_BITSET`, the plain waits.
const PLAIN_WAITS: [u32; 2] = [0, 9];

/// A bare futex wait (no rule names what it is for) whose word follows the futex-mutex
/// protocol (the thread sleeps expecting "contended", and the word still reads it) is a wait
/// for a lock at that word: GLib's unnamed `g_mutex_lock` slow path, a hand-rolled lock.
pub fn name_futex_locks(snap: &Snapshot, facts: &mut [Facts]) {
    for (thread, f) in snap.threads.iter().zip(facts.iter_mut()) {
        let Some(futex) = thread.kernel.as_ref().and_then(|k| k.futex) else {
            continue;
        };
        if f.activity != Activity::Blocked {
            continue;
        }
        let Some(w) = f.waits.first_mut() else {
            continue;
        };
        let bare = w.kind == WaitKind::Futex && !w.timed;
        let lock_shaped = PLAIN_WAITS.contains(&(futex.op & 0x7f))
            && futex.value == CONTENDED
            && snap.read_u32(futex.address) == Some(CONTENDED);
        if !bare || !lock_shaped || w.address.is_some_and(|a| a != futex.address) {
            continue;
        }
        w.kind = WaitKind::Mutex;
        w.address = Some(futex.address);
        name_object(w, snap);
        f.motion = motion::of(thread, true);
    }
}

/// A blocked thread's wait on a lock that records no owner, whose holder nothing shows.
struct Waiter {
    thread: usize,
    wait: usize,
    /// Index into the locks.
    lock: usize,
}

/// Whether `w` waits to take, alone, a lock whose holder the lock itself does not record (its
/// rule gives no owner field): only where such a lock stands can say who holds it. A write
/// wait on a reader-writer lock counts: readers holding it would only add edges out of the
/// waiter, never take one away (a read wait may wait for a writer that only waits, and does not).
fn ownerless(w: &Wait) -> bool {
    matches!(
        w.kind,
        WaitKind::Mutex | WaitKind::Spinlock | WaitKind::RwlockWrite
    ) && w.owner_offset.is_none()
        && !w.timed
}

/// Whether thread `o` may hold a lock: a frame of the program's own that is not part of one of
/// its waits is live on its stack, or code no symbol names outside the system's libraries (a
/// stripped program, a JIT's or an interpreter's code), or its stack cannot be read.
fn may_hold(snap: &Snapshot, facts: &[Facts], names: &Names, o: usize) -> bool {
    let frames = &snap.threads[o].frames;
    if frames.is_empty() || facts[o].activity == Activity::Unknown {
        return true;
    }
    let fnames = names.thread(o);
    let in_wait = |i: usize| {
        facts[o]
            .waits
            .iter()
            .any(|w| (w.first..=w.frame).contains(&i))
    };
    let unnamed_code = |f: &crate::model::Frame| {
        f.function.is_none()
            && f.address.is_some_and(|a| a != 0)
            && !f.signal_frame
            && !f.in_system_library()
    };
    (0..frames.len()).any(|i| {
        let program = fnames.is_program(frames, i) && !fnames.plumbing(i);
        (program || unnamed_code(&frames[i])) && !in_wait(i)
    })
}

/// The derivation's inputs, over the threads that matter (`nodes`: the waiters, the possible
/// holders and every thread the graph's edges lead to from them; a cycle through any of them
/// stays among them): the waiters, per lock its possible holders (likeliest first), and the
/// graph's own edges, all by position in `nodes`.
struct Problem {
    nodes: Vec<usize>,
    waiters: Vec<Waiter>,
    holders: Vec<Vec<usize>>,
    base: Vec<Vec<usize>>,
}

/// Holders tried times threads walked, at most, in the search for an assignment that closes no
/// cycle: past it, nothing is claimed.
const MAX_WORK: usize = 1 << 22;

impl Problem {
    /// The problem over the threads that matter.
    fn new(n: usize, waiters: Vec<Waiter>, holders: Vec<Vec<usize>>, edges: &[Edge]) -> Self {
        let mut out = vec![Vec::new(); n];
        for e in edges {
            out[e.from].push(e.to);
        }
        let mut at = vec![usize::MAX; n];
        let mut nodes: Vec<usize> = Vec::new();
        let mut stack: Vec<usize> = (waiters.iter().map(|w| w.thread))
            .chain(holders.iter().flatten().copied())
            .collect();
        while let Some(t) = stack.pop() {
            if at[t] == usize::MAX {
                at[t] = nodes.len();
                nodes.push(t);
                stack.extend(&out[t]);
            }
        }
        let base = (nodes.iter())
            .map(|&t| out[t].iter().map(|&o| at[o]).collect())
            .collect();
        let waiters = (waiters.into_iter())
            .map(|w| Waiter {
                thread: at[w.thread],
                ..w
            })
            .collect();
        let holders = (holders.into_iter())
            .map(|h| h.into_iter().map(|o| at[o]).collect())
            .collect();
        Problem {
            nodes,
            waiters,
            holders,
            base,
        }
    }

    /// The adjacency lists of the graph with `assign` (a holder per lock) added.
    fn graph(&self, assign: &[usize]) -> Vec<Vec<usize>> {
        let mut adj = self.base.clone();
        for w in &self.waiters {
            adj[w.thread].push(assign[w.lock]);
        }
        for a in &mut adj {
            a.sort_unstable();
            a.dedup();
        }
        adj
    }

    /// The cycle `assign` closes through one of its own edges, as its component: the first
    /// (by waiter) whose waiter is on a cycle.
    fn cycle(&self, assign: &[usize]) -> Option<Vec<usize>> {
        let adj = self.graph(assign);
        let comps = scc::cycles(adj.len(), &adj);
        self.waiters.iter().find_map(|w| {
            let held_by = assign[w.lock];
            comps
                .iter()
                .find(|c| c.contains(&w.thread) && c.contains(&held_by))
                .cloned()
        })
    }

    /// The cycle `assign` closes, in its order: through `holder` when it is on one.
    fn cycle_from(&self, assign: &[usize], holder: usize) -> Vec<usize> {
        let adj = self.graph(assign);
        let comps = scc::cycles(adj.len(), &adj);
        match comps.iter().find(|c| c.contains(&holder)) {
            Some(c) => scc::cycle_through(holder, c, &adj),
            None => (self.cycle(assign))
                .map(|c| scc::cycle_through(c[0], &c, &adj))
                .unwrap_or_default(),
        }
    }

    /// Whether some assignment closes no cycle: searched lock by lock, each possible holder in
    /// turn (the least likely first), a choice that closes a cycle cut off at once (more edges
    /// never open one). `None` past the budget.
    fn acyclic(&self) -> Option<bool> {
        let mut adj = self.base.clone();
        let mut budget = MAX_WORK / self.nodes.len().max(1);
        self.search(0, &mut adj, &mut budget)
    }

    fn search(&self, l: usize, adj: &mut [Vec<usize>], budget: &mut usize) -> Option<bool> {
        let Some(holders) = self.holders.get(l) else {
            return Some(true);
        };
        let waiting: Vec<usize> = (self.waiters.iter())
            .filter(|w| w.lock == l)
            .map(|w| w.thread)
            .collect();
        for &h in holders.iter().rev() {
            *budget = budget.checked_sub(1)?;
            if reaches(adj, h, &waiting) {
                continue;
            }
            waiting.iter().for_each(|&w| adj[w].push(h));
            let found = self.search(l + 1, adj, budget);
            waiting.iter().for_each(|&w| _ = adj[w].pop());
            if found != Some(false) {
                return found;
            }
        }
        Some(false)
    }
}

/// Whether `from` reaches one of `to` along `adj`.
fn reaches(adj: &[Vec<usize>], from: usize, to: &[usize]) -> bool {
    let mut seen = vec![false; adj.len()];
    let mut stack = vec![from];
    while let Some(v) = stack.pop() {
        if to.contains(&v) {
            return true;
        }
        if !std::mem::replace(&mut seen[v], true) {
            stack.extend(&adj[v]);
        }
    }
    false
}

/// Adds to the graph the cycle every consistent assignment of holders to the ownerless locks
/// closes, when they all close one (see the module's comment).
pub fn derive(snap: &Snapshot, facts: &[Facts], g: &mut Graph, names: &Names) {
    // A thread the input does not show may hold any lock.
    if !snap.complete {
        return;
    }
    let n = facts.len();
    let mut known = vec![false; n];
    for e in &g.edges {
        known[e.from] = true;
    }
    // A lock by its process and its id: the same address in two processes is two locks.
    let process = |t: usize| snap.threads[t].process.or(snap.pid);
    let mut locks: Vec<(Option<u32>, LockId)> = Vec::new();
    let mut waiters = Vec::new();
    for (t, f) in facts.iter().enumerate() {
        if f.activity != Activity::Blocked || known[t] {
            continue;
        }
        let Some((wi, w)) = g.effective[t].and_then(|wi| Some((wi, f.waits.get(wi)?))) else {
            continue;
        };
        let Some(id) = lock_id(w).filter(|_| ownerless(w)) else {
            continue;
        };
        let id = (process(t), id);
        let lock = match locks.iter().position(|l| *l == id) {
            Some(k) => k,
            None => {
                locks.push(id);
                locks.len() - 1
            }
        };
        waiters.push(Waiter {
            thread: t,
            wait: wi,
            lock,
        });
    }
    if waiters.is_empty() || waiters.len() > MAX_WAITERS {
        return;
    }
    let able: Vec<usize> = (0..n)
        .filter(|&o| may_hold(snap, facts, names, o))
        .collect();
    let mut waiting = vec![false; n];
    let mut waiting_on = vec![Vec::new(); locks.len()];
    for w in &waiters {
        waiting[w.thread] = true;
        waiting_on[w.lock].push(w.thread);
    }
    // A thread of another process, or one waiting for the lock itself, does not hold it.
    let may = |l: usize, o: usize| process(o) == locks[l].0 && !waiting_on[l].contains(&o);
    let holders: Vec<Vec<usize>> = (0..locks.len())
        .map(|l| {
            let mut c: Vec<usize> = able.iter().copied().filter(|&o| may(l, o)).collect();
            // Likeliest first: a thread itself waiting for such a lock takes them.
            c.sort_by_key(|&o| !waiting[o]);
            c
        })
        .collect();
    // A lock that no thread seen taking such locks can hold: a thread that returned holding
    // it, or a lost wake-up, as likely as the threads that merely could.
    if (holders.iter()).any(|h| h.first().is_none_or(|&o| !waiting[o])) {
        return;
    }
    let p = Problem::new(n, waiters, holders, &g.edges);
    // When every thread that matters waits for one of these locks, each has an edge out
    // whatever the assignment, and edges out of every node close a cycle: no search needed.
    let all_wait = p.nodes.iter().all(|&t| waiting[t]);
    if !all_wait && p.acyclic() != Some(false) {
        return;
    }
    let likeliest: Vec<usize> = p.holders.iter().map(|h| h[0]).collect();
    let Some(comp) = p.cycle(&likeliest) else {
        return;
    };
    let on_cycle = |w: &&Waiter| comp.contains(&w.thread) && comp.contains(&likeliest[w.lock]);
    for w in p.waiters.iter().filter(on_cycle) {
        let holder = likeliest[w.lock];
        let others = p.holders[w.lock].len() - 1;
        let alternatives: Vec<Alternative> = (p.holders[w.lock].iter().filter(|&&o| o != holder))
            .take(MAX_ALTERNATIVES)
            .map(|&o| {
                let mut assign = likeliest.clone();
                assign[w.lock] = o;
                Alternative {
                    holder: p.nodes[o],
                    cycle: (p.cycle_from(&assign, o).iter())
                        .map(|&c| p.nodes[c])
                        .collect(),
                }
            })
            .collect();
        g.edges.push(Edge {
            from: p.nodes[w.thread],
            to: p.nodes[holder],
            wait: w.wait,
            grade: Grade::Heuristic,
            because: Because::Holds {
                frame: None,
                by: Held::Consistent {
                    unlisted: others - alternatives.len(),
                    alternatives,
                },
            },
        });
    }
}

#[cfg(test)]
mod tests;
