//! Bare futex waits on a guarded lock's word. A thread blocked in a futex wait that no rule
//! names (a library's slow path without symbols: GLib's `g_mutex_lock` tail-calls a static
//! `g_mutex_lock_slowpath` that a distribution's GLib does not name) waits for a mutex when a
//! guard read from memory points at that very word: the guard's rule says the word is what
//! the lock's waiters sleep on. Read-write locks are left alone: a bare wait does not say
//! whether it wants to read or to write.

use super::classify::{name_object, Activity, Facts, LockId};
use super::motion;
use crate::knowledge::{KnowledgeBase, WaitKind};
use crate::model::Snapshot;
use rustc_hash::FxHashMap as HashMap;

/// Turns each thread's bare futex wait on a word a mutex guard read from memory points at
/// into a wait for that mutex, in the guard's pack (whose advice then applies), named by its
/// data symbol as other lock waits are.
pub fn name_guarded_waits(snap: &Snapshot, facts: &mut [Facts], kb: &KnowledgeBase) {
    let mut guarded: HashMap<u64, &str> = HashMap::default();
    for h in facts
        .iter()
        .flat_map(|f| &f.holds)
        .filter(|h| h.from_memory)
    {
        let LockId::Addr(word) = h.lock else { continue };
        if let Some(rule) = kb.rule_by_id(&h.rule) {
            if rule.kind == Some(WaitKind::Mutex) {
                guarded.entry(word).or_insert(&rule.pack);
            }
        }
    }
    if guarded.is_empty() {
        return;
    }
    for (thread, f) in snap.threads.iter().zip(facts.iter_mut()) {
        let Some(futex) = thread.kernel.as_ref().and_then(|k| k.futex) else {
            continue;
        };
        let Some(w) = f.waits.first_mut() else {
            continue;
        };
        let Some(pack) = guarded.get(&futex.address) else {
            continue;
        };
        let bare = f.activity == Activity::Blocked && w.kind.is_generic();
        if !bare || w.address.is_some_and(|a| a != futex.address) {
            continue;
        }
        w.kind = WaitKind::Mutex;
        w.address = Some(futex.address);
        name_object(w, snap);
        if !w.packs.iter().any(|p| p == pack) {
            w.packs.insert(0, pack.to_string());
        }
        f.motion = motion::of(thread, true);
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::analyze;
    use crate::knowledge::{KnowledgeBase, WaitKind};
    use crate::model::{Frame, FutexWait, GuardHold, KernelInfo, Snapshot, Thread, Var, VarRead};

    /// A thread in a bare futex wait on `word` (`syscall`, under an unnamed frame), its own
    /// frame holding a guard of `rule` on `held`.
    fn thread(tid: u64, word: u64, held: u64, rule: &str) -> Thread {
        let mut guard = Var::new("locker".into(), "".into());
        guard.read = Some(Box::new(VarRead {
            holds: Some(GuardHold {
                lock: held,
                also: Vec::new(),
                rule: rule.into(),
            }),
            ..VarRead::default()
        }));
        let mut own = Frame {
            function: Some("work".into()),
            ..Frame::default()
        };
        own.locals.push(guard);
        let syscall = Frame {
            function: Some("syscall".into()),
            ..Frame::default()
        };
        Thread {
            tid: Some(tid),
            frames: vec![syscall, Frame::default(), own],
            kernel: Some(KernelInfo {
                futex: Some(FutexWait {
                    address: word,
                    op: 0,
                    value: 2,
                }),
                ..KernelInfo::default()
            }),
            ..Thread::default()
        }
    }

    /// Each thread's first wait: its kind and address.
    fn waits(a: u64, b: u64, rule: &str) -> Vec<(WaitKind, Option<u64>)> {
        let snap = Snapshot {
            threads: vec![thread(1, a, b, rule), thread(2, b, a, rule)],
            ..Snapshot::default()
        };
        let analysis = analyze(&snap, &KnowledgeBase::builtin());
        (analysis.facts.iter())
            .map(|f| (f.waits[0].kind, f.waits[0].address))
            .collect()
    }

    #[test]
    fn a_bare_futex_wait_on_a_mutex_guards_word_waits_for_that_mutex() {
        assert_eq!(
            waits(0x7000, 0x7008, "glib.mutex-locker"),
            [
                (WaitKind::Mutex, Some(0x7000)),
                (WaitKind::Mutex, Some(0x7008))
            ]
        );
    }

    #[test]
    fn a_read_guard_or_another_word_leaves_the_wait_bare() {
        let bare = |w: &[(WaitKind, Option<u64>)]| w.iter().all(|(k, _)| *k == WaitKind::Futex);
        let read = waits(0x7000, 0x7008, "glib.rw-lock-reader-locker");
        assert!(bare(&read), "{read:?}");
        let snap = Snapshot {
            threads: vec![thread(1, 0x7000, 0x9000, "glib.mutex-locker")],
            ..Snapshot::default()
        };
        let analysis = analyze(&snap, &KnowledgeBase::builtin());
        assert_eq!(analysis.facts[0].waits[0].kind, WaitKind::Futex);
    }
}
