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
//! holds none of this process's locks, and only a goroutine holds a lock goroutines wait for, and one the input does not show (a dump of some
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

mod holders;
mod problem;

use super::advice::advice;
use super::classify::{name_object, Activity, Facts, LockId, Wait};
use super::finding::{Detail, Draft, Finding};
use super::graph::{lock_id, Alternative, Because, Edge, Grade, Graph, Held};
use super::motion;
use super::names::Names;
use super::steps::{wait_object, wait_step};
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, WaitKind};
use crate::model::{IdKind, Snapshot};
use holders::Could;
use problem::{Problem, Waiter};

/// The situation the packs advise on for a capture's `lock-holders-unknown`: what decides is
/// the program's symbols or more of its stacks, not its code (which was read).
pub(crate) const CAPTURED_SITUATION: &str = "lock-holders-unknown/captured";

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

/// An ownerless lock waited for: by its process and its id (the same address in two processes
/// is two locks), its address and the static object holding it, and whether goroutines wait
/// for it (a Go lock: only a goroutine holds one, never the runtime's threads or the other
/// code of the process, a C library's or an interpreter's, whatever their stacks show).
struct Lock {
    process: Option<u32>,
    id: LockId,
    address: Option<u64>,
    object: Option<u64>,
    goroutines: bool,
}

/// The ownerless locks waited for and how each thread could hold each (see `holders`).
struct Setup {
    waiters: Vec<Waiter>,
    /// Per lock, every thread that could hold it, with how.
    could: Vec<Vec<(usize, Could)>>,
    /// Per lock, whether the threads' code was read for it (a static object, a capture).
    by_code: Vec<bool>,
    /// Per lock, whether the threads' stacks were read for it (a lock in no object's image,
    /// a capture).
    by_stack: Vec<bool>,
    /// Per thread, whether it waits for one of these locks (a thread seen taking them).
    waiting: Vec<bool>,
}

impl Setup {
    /// The problem with, per lock, the holders `keep` keeps, likeliest first (a thread itself
    /// waiting for such a lock takes them); `None` when a lock has no holder seen taking such
    /// locks: a thread that returned holding it, or a lost wake-up, is as likely as the threads
    /// that merely could.
    fn problem(&self, g: &Graph, keep: impl Fn(usize, Could) -> bool) -> Option<Problem> {
        let holders: Vec<Vec<usize>> = (self.could.iter())
            .map(|c| {
                let mut h: Vec<usize> = (c.iter().filter(|&&(o, how)| keep(o, how)))
                    .map(|&(o, _)| o)
                    .collect();
                h.sort_by_key(|&o| !self.waiting[o]);
                h
            })
            .collect();
        if (holders.iter()).any(|h| h.first().is_none_or(|&o| !self.waiting[o])) {
            return None;
        }
        let waiters = self.waiters.clone();
        Some(Problem::new(self.waiting.len(), waiters, holders, &g.edges))
    }
}

/// The waits on ownerless locks no edge of `g` explains yet, and who could hold each lock;
/// `None` when there are none, too many, or the input may not show every thread (one it does
/// not show may hold any lock).
fn setup(snap: &Snapshot, facts: &[Facts], g: &Graph, names: &Names) -> Option<Setup> {
    if !snap.complete {
        return None;
    }
    let n = facts.len();
    let mut known = vec![false; n];
    for e in &g.edges {
        known[e.from] = true;
    }
    // A lock by its process and its id: the same address in two processes is two locks.
    let process = |t: usize| snap.threads[t].process.or(snap.pid);
    let mut locks: Vec<Lock> = Vec::new();
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
        let key = (process(t), id);
        let lock = match locks
            .iter()
            .position(|l| (l.process, &l.id) == (key.0, &key.1))
        {
            Some(k) => k,
            None => {
                let object = w.address.and_then(|a| holders::static_object(snap, a));
                locks.push(Lock {
                    process: key.0,
                    id: key.1,
                    address: w.address,
                    object,
                    goroutines: false,
                });
                locks.len() - 1
            }
        };
        locks[lock].goroutines |= snap.threads[t].id_kind == IdKind::Goroutine;
        waiters.push(Waiter {
            thread: t,
            wait: wi,
            lock,
        });
    }
    if waiters.is_empty() || waiters.len() > MAX_WAITERS {
        return None;
    }
    let live: Vec<Option<Vec<usize>>> = (0..n)
        .map(|o| holders::live_frames(snap, facts, names, o))
        .collect();
    let mut waiting = vec![false; n];
    let mut waiting_on = vec![Vec::new(); locks.len()];
    for w in &waiters {
        waiting[w.thread] = true;
        waiting_on[w.lock].push(w.thread);
    }
    // The stacks narrow a lock's holders only where a stack other than its waiters' points at
    // it: a lock every holder reaches through another object (a pimpl's private part, a
    // struct another struct points at) is pointed at by none, and then they say nothing.
    let pointed = |l: usize, a: u64| {
        (0..n).any(|o| {
            process(o) == locks[l].process
                && !waiting_on[l].contains(&o)
                && (snap.threads[o].stack_refs.as_ref()).is_some_and(|f| f.contains(&a))
        })
    };
    let looked_for: Vec<u64> = (holders::stack_locks(snap).iter().copied())
        .filter(|&a| (0..locks.len()).all(|l| locks[l].address != Some(a) || pointed(l, a)))
        .collect();
    let looked_for = &looked_for[..];
    // A thread of another process, or one waiting for the lock itself, does not hold it; nor
    // does a thread that is no goroutine hold a Go lock.
    let could = (locks.iter().enumerate())
        .map(|(l, lock)| {
            let kind_fits =
                |o: usize| !lock.goroutines || snap.threads[o].id_kind == IdKind::Goroutine;
            (0..n)
                .filter(|&o| process(o) == lock.process && !waiting_on[l].contains(&o))
                .filter(|&o| kind_fits(o))
                .map(|o| {
                    let at = (lock.address, lock.object);
                    let how = holders::could(snap, o, live[o].as_deref(), at, looked_for);
                    (o, how)
                })
                .filter(|&(_, how)| how != Could::Not)
                .collect()
        })
        .collect();
    let code_read = (snap.threads.iter().flat_map(|t| &t.frames)).any(|f| f.refs.is_some());
    let by_code = (locks.iter())
        .map(|l| code_read && l.object.is_some())
        .collect();
    let by_stack = (locks.iter())
        .map(|l| (l.address).is_some_and(|a| looked_for.binary_search(&a).is_ok()))
        .collect();
    Some(Setup {
        waiters,
        could,
        by_code,
        by_stack,
        waiting,
    })
}

/// Adds to the graph the cycle every consistent assignment of holders to the ownerless locks
/// closes, when they all close one (see the module's comment).
pub fn derive(snap: &Snapshot, facts: &[Facts], g: &mut Graph, names: &Names) {
    let Some(s) = setup(snap, facts, g, names) else {
        return;
    };
    let Some(p) = s
        .problem(g, |_, _| true)
        .filter(|p| p.closes_always(&s.waiting))
    else {
        return;
    };
    // Whether the code's references narrowed the holders: the edge says so.
    let likeliest = p.likeliest();
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
                    by_code: s.by_code[w.lock],
                    by_stack: s.by_stack[w.lock],
                },
            },
        });
    }
}

/// A finding when no cycle was derived only because threads whose code could not be checked
/// might hold the locks (`Could::Unchecked`: a dump carries no code; in a capture, live, a
/// core, or either saved, code no symbol names or a stack not read whole), while the threads
/// seen taking such locks close a cycle under every assignment: the cycle's waits, and those
/// threads, with what would decide (for a dump, reading the code: `parse --binary`, attaching,
/// or a core with the binary; for a capture, the program's symbols or more of its stacks).
pub fn undecided(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Option<Finding> {
    // A capture's frames carry how the unwinder found them: what could be checked was, and
    // the threads left could hold the locks because no symbol names their code or their
    // stacks were not read whole.
    let captured = (snap.threads.iter().flat_map(|t| &t.frames)).any(|f| f.trust.is_some());
    let s = setup(snap, facts, g, names)?;
    if s.problem(g, |_, _| true)?.closes_always(&s.waiting) {
        return None;
    }
    // Seen taking such locks, or naming or pointing at this one.
    let sure = |o: usize, how: Could| matches!(how, Could::Names | Could::Points) || s.waiting[o];
    let p = s.problem(g, sure).filter(|p| p.closes_always(&s.waiting))?;
    let likeliest = p.likeliest();
    let comp = p.cycle(&likeliest)?;
    let on_cycle = |w: &&Waiter| comp.contains(&w.thread) && comp.contains(&likeliest[w.lock]);
    let waits: Vec<(usize, &Wait)> = (p.waiters.iter().filter(on_cycle))
        .map(|w| (p.nodes[w.thread], &facts[p.nodes[w.thread]].waits[w.wait]))
        .collect();
    let mut unchecked: Vec<usize> = (s.could.iter().flatten())
        .filter(|&&(o, how)| !sure(o, how))
        .map(|&(o, _)| o)
        .collect();
    unchecked.sort_unstable();
    unchecked.dedup();
    let steps = (waits.iter())
        .map(|&(t, w)| wait_step(snap, facts, names, t, w, Some(Grade::Heuristic)))
        .collect();
    let draft = Draft {
        kind: FindingKind::HoldersUnknown,
        severity: Severity::Warning,
        confidence: Grade::Heuristic,
        threads: (waits.iter().map(|w| w.0))
            .chain(unchecked.iter().copied())
            .collect(),
        detail: Detail::HoldersUnknown {
            locks: waits.iter().map(|&(_, w)| wait_object(snap, w)).collect(),
            unchecked,
            captured,
        },
        steps,
        suggestion: advice(
            kb,
            waits.iter().map(|w| w.1),
            if captured {
                CAPTURED_SITUATION
            } else {
                FindingKind::HoldersUnknown.as_str()
            },
        ),
    };
    Some(draft.sign(snap))
}

#[cfg(test)]
mod tests;
