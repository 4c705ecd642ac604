//! Owner died: threads wait for a robust mutex whose previous owner died holding it. The
//! kernel marked it so and woke a locker, which got the lock with `EOWNERDEAD`; that thread
//! still holds it (the lock word names it, the library's own rule: glibc's `__lock &
//! FUTEX_TID_MASK`) and has not made it consistent (the owner field says so:
//! `PTHREAD_MUTEX_INCONSISTENT`). A locker that treats `EOWNERDEAD` as an error keeps the
//! lock, and every later locker waits for ever. The owners are the graph's (`Graph::owners`);
//! the dead owner's tid the lock no longer records.

use super::advice::advice;
use super::classify::{Activity, Facts};
use super::finding::{Detail, Draft, Finding, Shows, Step};
use super::graph::{memory_tids_unknown, waits_on_owned, Because, Grade, Held, Owner};
use super::names::Names;
use super::steps::{held_at, wait_object, wait_step};
use super::{FindingKind, Severity};
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use std::collections::HashMap;

/// A recovered lock: its owner (in `Graph::owners`), the thread that holds it, and the waits
/// on it (thread, wait).
struct Recovered {
    owner: usize,
    holder: usize,
    waiters: Vec<(usize, usize)>,
}

/// One finding per robust mutex that a live thread recovered and holds inconsistent, with the
/// threads waiting for it.
pub fn find(
    snap: &Snapshot,
    facts: &[Facts],
    owners: &[Owner],
    by_tid: &HashMap<u64, usize>,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    if memory_tids_unknown(snap) {
        return Vec::new();
    }
    let recovered = |o: &Owner| o.recovered && by_tid.contains_key(&o.tid);
    let locks = waits_on_owned(facts, owners, recovered)
        .into_values()
        .map(|(owner, waiters)| {
            let holder = by_tid[&owners[owner].tid];
            Recovered {
                owner,
                holder,
                waiters,
            }
        });
    let finding = |r: Recovered| {
        let (owner, holder, waiters) = (&owners[r.owner], r.holder, r.waiters);
        let grade = match owner.by {
            Held::Memory { .. } | Held::LockWord { .. } => Grade::Proven,
            Held::Printed { .. } => Grade::Symbolic,
            _ => Grade::Heuristic,
        };
        let (t0, w0) = waiters[0];
        let lock = &facts[t0].waits[w0];
        let mut steps: Vec<Step> = (waiters.iter())
            .map(|&(t, wi)| wait_step(snap, facts, names, t, &facts[t].waits[wi], Some(grade)))
            .collect();
        let because = Because::Holds {
            frame: None,
            by: owner.by.clone(),
        };
        let itself = waiters.iter().any(|&(t, _)| t == holder);
        steps.push(Step {
            thread: holder,
            frame: None,
            shows: Shows::Holder {
                held_at: Some(held_at(snap, facts, names, holder, lock, &because)),
                because,
                itself,
            },
            grade: Some(grade),
        });
        // What the holder does meanwhile: waits (for ever, when nothing runs), or runs.
        let blocked = facts[holder].activity == Activity::Blocked;
        if !itself && blocked {
            let w = &facts[holder].waits[0];
            steps.push(wait_step(snap, facts, names, holder, w, None));
        }
        let mut threads: Vec<usize> = waiters.iter().map(|&(t, _)| t).collect();
        if !itself {
            threads.push(holder);
        }
        let draft = Draft {
            kind: FindingKind::OwnerDied,
            severity: if itself || blocked {
                Severity::Deadlock
            } else {
                Severity::Warning
            },
            confidence: grade,
            threads,
            detail: Detail::OwnerDied {
                lock: wait_object(snap, lock),
                holder,
                holder_tid: owner.tid,
                by: owner.by.clone(),
            },
            steps,
            suggestion: advice(
                kb,
                waiters.iter().map(|&(t, wi)| &facts[t].waits[wi]),
                "owner-died",
            ),
        };
        draft.sign(snap)
    };
    locks.map(finding).collect()
}

/// Whether thread `t` waits for a robust mutex it recovered itself, in one of `died`'s
/// findings: that finding's, not a self-lock.
pub fn relocks(died: &[Finding], t: usize) -> bool {
    let itself = |s: &Step| s.thread == t && matches!(s.shows, Shows::Holder { itself: true, .. });
    died.iter().any(|f| f.steps.iter().any(itself))
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, Analysis, Detail, FindingKind, Grade, Severity};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;
    use crate::model::Snapshot;

    /// gdb's owners dump (`report::narrate::titles`' test has one too): LWP 101 waits for robust mutex 0x5000, printed with `__lock` WORD
    /// and `__owner` OWNER; LWP 100 waits on a condition variable, or (RELOCK) for 0x5000 too.
    const ROBUST: &str = "\
Thread 2 (Thread 0x7f01 (LWP 101) \"reporter\"):
#0  futex_wait (private=128, expected=<optimized out>, futex_word=0x5000 <stats_lock>) at futex-internal.h:146
#1  __pthread_mutex_lock_full (mutex=0x5000 <stats_lock>) at pthread_mutex_lock.c:335
$1 = {__data = {__lock = WORD, __count = 1, __owner = OWNER, __nusers = 1, __kind = 144, __spins = 0}}
#2  0x3 in report_stats () at t.c:20

Thread 1 (Thread 0x7f00 (LWP 100) \"flusher\"):
HOLDER
";
    const IN_CONDVAR: &str = "\
#0  0x1 in __futex_abstimed_wait_common () from libc.so.6
#1  0x2 in pthread_cond_wait () from libc.so.6
#2  0x3 in flusher () at t.c:30";
    const RELOCK: &str = "\
#0  futex_wait (private=128, expected=<optimized out>, futex_word=0x5000 <stats_lock>) at futex-internal.h:146
#1  __pthread_mutex_lock_full (mutex=0x5000 <stats_lock>) at pthread_mutex_lock.c:335
#2  0x3 in flush_stats () at t.c:40";

    fn analysed(word: &str, owner: &str, holder: &str) -> (Snapshot, Analysis) {
        let dump = (ROBUST.replace("WORD", word))
            .replace("OWNER", owner)
            .replace("HOLDER", holder);
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        (snap, a)
    }

    fn kinds(a: &Analysis) -> Vec<FindingKind> {
        a.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_recovered_robust_mutex_names_its_holder_from_the_lock_word() {
        // FUTEX_WAITERS | 100, and PTHREAD_MUTEX_INCONSISTENT.
        let (snap, a) = analysed("-2147483548", "2147483647", IN_CONDVAR);
        let f = &a.findings[0];
        assert_eq!(kinds(&a), [FindingKind::OwnerDied], "{:?}", a.findings);
        let flusher = snap
            .threads
            .iter()
            .position(|t| t.name.as_deref() == Some("flusher"));
        let Detail::OwnerDied {
            holder, holder_tid, ..
        } = &f.detail
        else {
            panic!("{:?}", f.detail)
        };
        assert_eq!((Some(*holder), *holder_tid), (flusher, 100));
        assert_eq!(
            (f.confidence, f.severity),
            (Grade::Symbolic, Severity::Deadlock)
        );
    }

    #[test]
    fn a_holder_that_locks_its_recovered_mutex_again_is_no_self_lock() {
        let (_, a) = analysed("-2147483548", "2147483647", RELOCK);
        assert_eq!(kinds(&a), [FindingKind::OwnerDied], "{:?}", a.findings);
        assert_eq!(a.findings[0].threads.len(), 2);
    }

    #[test]
    fn a_robust_mutex_held_as_usual_is_its_holder_s_not_an_owner_died() {
        // The holder's tid in both the lock word and the owner field: a plain lock cycle.
        let (_, a) = analysed("-2147483548", "100", RELOCK);
        assert_eq!(kinds(&a), [FindingKind::SelfLock], "{:?}", a.findings);
    }
}
