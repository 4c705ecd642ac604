//! Orphaned locks: a lock whose owner field, read from memory by the library's own rule
//! (glibc's `__owner`), names a thread id that no thread of the process has. Its holder is
//! gone (it exited holding the lock, or the lock was copied into this process by `fork`), so
//! every thread that waits for it waits for ever. Only a view of every thread can say a tid is
//! none of them, and only ids the process's own namespace gives can be compared. When a live
//! capture read the parent process's threads and the owner is one of them, the lock was copied
//! by `fork`, and the finding says so.

use super::advice::advice;
use super::classify::Facts;
use super::finding::{Detail, Draft, Finding, Step};
use super::graph::{memory_tids_unknown, waits_on_owned, Grade, Owner};
use super::names::Names;
use super::steps::{wait_object, wait_step};
use super::{FindingKind, Severity};
use crate::knowledge::KnowledgeBase;
use crate::model::{Evidence, Snapshot};
use std::collections::HashMap;

/// One finding per lock whose owner is no thread of the process, with the threads waiting
/// for it.
pub fn find(
    snap: &Snapshot,
    facts: &[Facts],
    owners: &[Owner],
    by_tid: &HashMap<u64, usize>,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    if !snap.complete || memory_tids_unknown(snap) {
        return Vec::new();
    }
    // A process-shared lock's owner may be alive in another process.
    let orphaned = waits_on_owned(facts, owners, |o| !o.shared && !by_tid.contains_key(&o.tid));
    orphaned
        .into_values()
        .map(|(o, waiters)| {
            let owner = &owners[o];
            let (t0, w0) = waiters[0];
            let steps: Vec<Step> = waiters
                .iter()
                .map(|&(t, wi)| {
                    let w = &facts[t].waits[wi];
                    wait_step(snap, facts, names, t, w, Some(Grade::Proven))
                })
                .collect();
            let waits = waiters.iter().map(|&(t, wi)| &facts[t].waits[wi]);
            let draft = Draft {
                kind: FindingKind::OrphanedLock,
                severity: Severity::Deadlock,
                confidence: Grade::Proven,
                threads: waiters.iter().map(|&(t, _)| t).collect(),
                detail: Detail::Orphaned {
                    lock: wait_object(snap, &facts[t0].waits[w0]),
                    owner_tid: owner.tid,
                    by: owner.by.clone(),
                    forked_from: parent_holding(snap, owner.tid),
                },
                steps,
                suggestion: advice(kb, waits, "orphaned-lock"),
            };
            draft.sign(snap)
        })
        .collect()
}

/// The parent process whose threads, read at capture, include `tid`.
fn parent_holding(snap: &Snapshot, tid: u64) -> Option<u32> {
    snap.evidence.iter().find_map(|e| match e {
        Evidence::ParentThreads { pid, tids } if tids.contains(&tid) => Some(*pid),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, FindingKind};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;

    /// gdb's owners dump of a thread waiting for a mutex owned by LWP 4242, no thread of the
    /// dump; `KIND` is the mutex's printed `__kind`.
    const WAITS_FOR_4242: &str = "\
Thread 1 (Thread 0x7f00 (LWP 100)):
#0  futex_wait (futex_word=0x5000) at futex-internal.h:146
#1  __lll_lock_wait (futex=0x5000, private=0) at lowlevellock.c:49
#2  ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
#3  0x4 in take () at c.c:21
#4  0x5 in main () at c.c:30
#2  ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
$1 = {__data = {__lock = 2, __count = 0, __owner = 4242, __nusers = 1, __kind = KIND, __spins = 0}}
";

    fn kinds(kind: &str) -> Vec<FindingKind> {
        let dump = WAITS_FOR_4242.replace("KIND", kind);
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        a.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn an_owner_no_thread_has_orphans_a_private_mutex_but_not_a_process_shared_one() {
        assert!(kinds("0").contains(&FindingKind::OrphanedLock));
        // PTHREAD_MUTEX_PSHARED_BIT: the owner may be another process's thread.
        assert!(!kinds("128").contains(&FindingKind::OrphanedLock));
    }
}
