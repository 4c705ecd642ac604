//! Writers blocked behind readers: threads wait to take a read-write lock for writing that no
//! writer holds (its writer field is unset) while its reader count, read from memory by the
//! library's own rule (glibc's `__readers`), is above zero. The lock records how many readers
//! hold it, never which threads: those are named only as suspects, when a frame's read guard
//! (a `std::shared_lock` local) shows a thread inside a read-locked section.

use super::advice::advice;
use super::classify::{Activity, Facts, LockId};
use super::finding::{Detail, Draft, Finding, Shows, Step};
use super::graph::{Grade, Graph, Held};
use super::names::Names;
use super::steps::{wait_object, wait_step};
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, WaitKind};
use crate::model::Snapshot;
use std::collections::{BTreeMap, HashSet};

/// A reader count read for a lock.
struct Count {
    readers: u64,
    by: Held,
    grade: Grade,
}

/// One finding per read-write lock that writers wait for while only readers hold it.
pub fn find(snap: &Snapshot, facts: &[Facts], names: &Names, kb: &KnowledgeBase) -> Vec<Finding> {
    let printed = printed_counts(snap, kb);
    let mut out = Vec::new();
    for (address, waits) in write_waits(facts) {
        let (t0, w0) = waits[0];
        let Some(count) = printed
            .get(&address)
            .map(|c| Count {
                readers: c.readers,
                by: c.by.clone(),
                grade: c.grade,
            })
            .or_else(|| in_memory(snap, kb, &facts[t0].waits[w0], address))
            .filter(|c| c.readers > 0)
        else {
            continue;
        };
        let writer_threads: Vec<usize> = waits.iter().map(|&(t, _)| t).collect();
        let mut steps: Vec<Step> = waits
            .iter()
            .map(|&(t, wi)| {
                wait_step(
                    snap,
                    facts,
                    names,
                    t,
                    &facts[t].waits[wi],
                    Some(count.grade),
                )
            })
            .collect();
        let (upgrading, suspects): (Vec<_>, Vec<_>) = read_holds(facts, kb, address)
            .into_iter()
            .partition(|h| writer_threads.contains(&h.0));
        // Readers that are the writers themselves are self-upgrades (`upgrade.rs`).
        if count.readers <= upgrading.len() as u64 {
            continue;
        }
        steps.extend(suspect_steps(&suspects));
        // Nothing runs that could let a reader go: the writers wait for ever.
        let stuck = snap.complete && facts.iter().all(|f| f.activity == Activity::Blocked);
        let mut threads = writer_threads;
        threads.extend(suspects.iter().map(|s| s.0));
        let draft = Draft {
            kind: FindingKind::WriterBehindReaders,
            severity: if stuck {
                Severity::Deadlock
            } else {
                Severity::Warning
            },
            confidence: count.grade,
            threads,
            detail: Detail::BehindReaders {
                lock: wait_object(snap, &facts[t0].waits[w0]),
                readers: count.readers,
                by: count.by,
                suspects: suspects.iter().map(|s| s.0).collect(),
            },
            steps,
            suggestion: advice(
                kb,
                waits.iter().map(|&(t, wi)| &facts[t].waits[wi]),
                "writer-behind-readers",
            ),
        };
        out.push(draft.sign(snap));
    }
    out
}

/// Lock address → the waits to write it of blocked threads: (thread, wait).
fn write_waits(facts: &[Facts]) -> BTreeMap<u64, Vec<(usize, usize)>> {
    let mut writers: BTreeMap<u64, Vec<(usize, usize)>> = BTreeMap::new();
    for (t, f) in facts.iter().enumerate() {
        if f.activity != Activity::Blocked {
            continue;
        }
        let hit = f.waits.iter().enumerate().find_map(|(wi, w)| {
            let a = w.address.filter(|_| w.kind == WaitKind::RwlockWrite)?;
            Some((a, wi))
        });
        if let Some((a, wi)) = hit {
            writers.entry(a).or_default().push((t, wi));
        }
    }
    writers
}

/// The steps of threads a read guard shows inside a read-locked section: suspects only.
fn suspect_steps(suspects: &[(usize, usize, String)]) -> impl Iterator<Item = Step> + '_ {
    suspects.iter().map(|(t, guard, rule)| Step {
        thread: *t,
        frame: Some(*guard),
        shows: Shows::MayRead {
            guard: *guard,
            rule: rule.clone(),
        },
        grade: Some(Grade::Heuristic),
    })
}

/// Writers of a lock whose rule says where its reader count is, when the input holds neither
/// that count (not in memory, not printed) nor a holder for any of their waits (`g`'s edges)
/// and no finding in `shown` has them: whether readers hold the lock cannot be told, and the
/// finding says so rather than guess. (A plain `bt full` prints a global lock only as its
/// address.)
pub fn undecided(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    shown: &HashSet<usize>,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    let printed = printed_counts(snap, kb);
    let mut out = Vec::new();
    for (address, waits) in write_waits(facts) {
        let (t0, w0) = waits[0];
        let w = &facts[t0].waits[w0];
        let Some((at, _)) = kb.rule_by_id(&w.rule).and_then(|r| r.readers) else {
            continue;
        };
        let counted = printed.contains_key(&address)
            || (address.checked_add(at)).is_some_and(|word| snap.read_u32(word).is_some());
        let writer_threads: Vec<usize> = waits.iter().map(|&(t, _)| t).collect();
        let suspects: Vec<_> = (read_holds(facts, kb, address).into_iter())
            .filter(|h| !writer_threads.contains(&h.0))
            .collect();
        // A holder the graph found that is no read guard's thread: a writer is seen.
        let writer_seen = |t: usize, wi: usize| {
            (g.edges.iter())
                .any(|e| e.from == t && e.wait == wi && !suspects.iter().any(|s| s.0 == e.to))
        };
        let held = (waits.iter()).any(|&(t, wi)| shown.contains(&t) || writer_seen(t, wi));
        if counted || held {
            continue;
        }
        let mut steps: Vec<Step> = (waits.iter())
            .map(|&(t, wi)| {
                let w = &facts[t].waits[wi];
                wait_step(snap, facts, names, t, w, Some(Grade::Symbolic))
            })
            .collect();
        steps.extend(suspect_steps(&suspects));
        let mut threads = writer_threads;
        threads.extend(suspects.iter().map(|s| s.0));
        let draft = Draft {
            kind: FindingKind::ReadersUnknown,
            severity: Severity::Warning,
            confidence: Grade::Symbolic,
            threads,
            detail: Detail::ReadersUnknown {
                lock: wait_object(snap, w),
                suspects: suspects.iter().map(|s| s.0).collect(),
            },
            steps,
            suggestion: advice(
                kb,
                waits.iter().map(|&(t, wi)| &facts[t].waits[wi]),
                "rwlock-readers-unknown",
            ),
        };
        out.push(draft.sign(snap));
    }
    out
}

/// The reader count memory holds for the lock a write wait is on, when its rule says where
/// and no writer is recorded (`owner_offset`).
fn in_memory(
    snap: &Snapshot,
    kb: &KnowledgeBase,
    w: &super::classify::Wait,
    address: u64,
) -> Option<Count> {
    let rule = kb.rule_by_id(&w.rule)?;
    let (at, shift) = rule.readers?;
    if let Some(off) = w.owner_offset {
        if snap.read_u32(address.checked_add(off)?)? != 0 {
            return None;
        }
    }
    let word = address.checked_add(at)?;
    Some(Count {
        readers: u64::from(snap.read_u32(word)?) >> shift,
        by: Held::Memory { address: word },
        grade: Grade::Proven,
    })
}

/// Reader counts a debugger printed after a frame (gdb's `p *rwlock`) whose writer field is
/// unset, by the lock the frame's arguments name.
fn printed_counts(snap: &Snapshot, kb: &KnowledgeBase) -> BTreeMap<u64, Count> {
    let mut out = BTreeMap::new();
    for frame in snap.threads.iter().flat_map(|t| &t.frames) {
        for p in &frame.printed {
            let Some((rule, 0, _)) = kb.match_printed(&p.text) else {
                continue;
            };
            let (Some(re), Some((_, shift))) = (&rule.readers_printed, rule.readers) else {
                continue;
            };
            let address = (rule.address_args.iter().find_map(|n| frame.arg(n)))
                .and_then(crate::values::value_address);
            let Some(caps) = re.captures(p.text.as_bytes()) else {
                continue;
            };
            let text =
                |g: &str| Some(String::from_utf8_lossy(caps.name(g)?.as_bytes()).into_owned());
            let word = text("readers").and_then(|w| w.parse::<u64>().ok());
            if let (Some(address), Some(word)) = (address, word) {
                out.entry(address).or_insert(Count {
                    readers: word >> shift,
                    by: Held::Printed {
                        field: text("field").unwrap_or_else(|| rule.id.clone()),
                        line: p.line,
                    },
                    grade: Grade::Symbolic,
                });
            }
        }
    }
    out
}

/// Threads whose frames hold the lock for reading by a rule (a read guard local): (thread,
/// frame, rule). The lock does not record its readers, so these are suspects, not proof.
fn read_holds(facts: &[Facts], kb: &KnowledgeBase, address: u64) -> Vec<(usize, usize, String)> {
    let reads = |rule: &str| {
        kb.rules()
            .iter()
            .any(|r| r.id == rule && r.kind == Some(WaitKind::RwlockRead))
    };
    facts
        .iter()
        .enumerate()
        .filter_map(|(t, f)| {
            let h = f
                .holds
                .iter()
                .find(|h| h.lock == LockId::Addr(address) && reads(&h.rule))?;
            Some((t, h.frame, h.rule.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, Detail, FindingKind, Grade};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;

    /// gdb's view of a writer waiting for rwlock 0x5000, printed with one reader in it and no
    /// writer, and of a thread whose `std::shared_lock` local holds that lock while it waits
    /// on a condition variable.
    const ONE_READER: &str = "\
Thread 2 (Thread 0x7f01 (LWP 101) \"reader\"):
#0  0x1 in __futex_abstimed_wait_common () from libc.so.6
#1  0x2 in pthread_cond_wait () from libc.so.6
#2  0x3 in lookup (key=1) at t.cpp:20
        lk = {_M_pm = 0x5000 <table_lock>, _M_owns = true}

Thread 1 (Thread 0x7f00 (LWP 100) \"writer\"):
#0  0x1 in __futex_abstimed_wait_common () from libc.so.6
#1  0x2 in __pthread_rwlock_wrlock_full64 (abstime=0x0, clockid=0, rwlock=0x5000 <table_lock>) at pthread_rwlock_common.c:829
$1 = {__data = {__readers = READERS, __writers = 0, __wrphase_futex = 2, __writers_futex = 0, __pad3 = 0, __pad4 = 0, __cur_writer = 0}}
#2  0x3 in publish () at t.cpp:30
";

    #[test]
    fn a_read_guard_names_a_suspect_reader_never_a_proven_one() {
        // __readers = 10: one reader (10 >> 3), the state bit WRLOCKED (2).
        let dump = ONE_READER.replace("READERS", "10");
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        let f = (a.findings.iter())
            .find(|f| f.kind == FindingKind::WriterBehindReaders)
            .expect("a writer-behind-readers finding");
        let Detail::BehindReaders {
            readers, suspects, ..
        } = &f.detail
        else {
            panic!("{:?}", f.detail)
        };
        let reader = snap
            .threads
            .iter()
            .position(|t| t.name.as_deref() == Some("reader"));
        assert_eq!((*readers, suspects.clone()), (1, vec![reader.unwrap()]));
        assert_eq!(f.confidence, Grade::Symbolic);
        let suspect = f.steps.iter().find(|s| Some(s.thread) == reader).unwrap();
        assert_eq!(suspect.grade, Some(Grade::Heuristic));
    }

    #[test]
    fn no_reader_in_the_count_is_no_finding() {
        let dump = ONE_READER.replace("READERS", "0");
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        assert!(!a.findings.iter().any(|f| matches!(
            f.kind,
            FindingKind::WriterBehindReaders | FindingKind::ReadersUnknown
        )));
    }

    #[test]
    fn without_the_lock_s_fields_whether_readers_hold_it_is_undecided_with_its_suspects() {
        let dump: String = (ONE_READER.lines())
            .filter(|l| !l.starts_with("$1 = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        assert!(!(a.findings.iter()).any(|f| f.kind == FindingKind::WriterBehindReaders));
        let f = (a.findings.iter())
            .find(|f| f.kind == FindingKind::ReadersUnknown)
            .expect("an undecided finding");
        let reader = (snap.threads.iter()).position(|t| t.name.as_deref() == Some("reader"));
        let Detail::ReadersUnknown { suspects, .. } = &f.detail else {
            panic!("{:?}", f.detail)
        };
        assert_eq!(suspects, &vec![reader.unwrap()]);
        assert_eq!(f.severity, crate::analyze::Severity::Warning);
    }
}
