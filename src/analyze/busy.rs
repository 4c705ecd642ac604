//! What the second look at a live process changes in the findings. Threads waiting for a lock
//! that used CPU spin on it; a stall (every thread waits inside the process, by the frames) in
//! which threads ran or were woken is slow progress, not a stall; and where the frames show no
//! stall, threads that woke and slept again over and over (sleep-and-retry loops) while no
//! thread ran are a livelock. Without a second look (dumps,
//! cores, `--samples 1`) the findings stay as the frames make them.

use super::advice::advice;
use super::classify::Facts;
use super::finding::{Busy, Detail, Draft, Finding, Shows, Step};
use super::graph::Grade;
use super::motion::Motion;
use super::{FindingKind, Severity};
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use std::collections::HashSet;

/// The busy findings, and the stall `stall` when the second look bears it out (or there was
/// none). Threads in `deadlocked` (a cycle's, a starving pool's) stay theirs.
pub fn judge(
    snap: &Snapshot,
    facts: &[Facts],
    stall: Option<Finding>,
    deadlocked: &HashSet<usize>,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    if facts.iter().all(|f| f.motion.is_none()) {
        return stall.into_iter().collect();
    }
    let with = |keep: &dyn Fn(Motion) -> bool| -> Vec<usize> {
        (0..facts.len())
            .filter(|&t| facts[t].motion.is_some_and(keep) && !deadlocked.contains(&t))
            .collect()
    };
    let spinning = with(&|m| m == Motion::Spinning);
    let mut out = Vec::new();
    if !spinning.is_empty() {
        out.push(busy(snap, facts, Busy::Spinning, spinning.clone(), kb));
    }
    match stall {
        // Every thread waits inside the process, by the frames: what moved (woken, or run)
        // is progress; the spinners' finding says what holds the rest.
        Some(stall) => {
            let moved = with(&|m| m.moved() && m != Motion::Spinning);
            if !moved.is_empty() {
                let mut threads = stall.threads.clone();
                threads.extend(moved.iter().filter(|t| !stall.threads.contains(t)));
                let mut f = busy(snap, facts, Busy::SlowProgress, moved, kb);
                f.threads = threads;
                out.push(f);
            } else if spinning.is_empty() {
                out.push(stall);
            }
        }
        // Threads that sleep and retry (their waits end by themselves) over and over, while no
        // thread runs: a livelock.
        None => {
            let cycling = with(&|m| m == Motion::Cycling);
            if cycling.len() >= 2 && with(&|m| m == Motion::Ran).is_empty() {
                out.push(busy(snap, facts, Busy::Livelock, cycling, kb));
            }
        }
    }
    out
}

/// A busy finding of `how` on `threads`, a step each: what the thread did and where.
fn busy(
    snap: &Snapshot,
    facts: &[Facts],
    how: Busy,
    threads: Vec<usize>,
    kb: &KnowledgeBase,
) -> Finding {
    let steps = threads
        .iter()
        .filter_map(|&t| {
            let f = &facts[t];
            let at = f.waits.first().map(|w| w.frame).or(f.top);
            Some(Step {
                thread: t,
                frame: at,
                shows: Shows::Moved {
                    motion: f.motion?,
                    at,
                },
                grade: None,
            })
        })
        .collect();
    let waits = threads.iter().filter_map(|&t| facts[t].waits.first());
    let suggestion = advice(kb, waits, how.situation());
    let draft = Draft {
        kind: FindingKind::Busy,
        severity: match how {
            Busy::Spinning | Busy::Livelock => Severity::Warning,
            Busy::SlowProgress => Severity::Info,
        },
        confidence: match how {
            Busy::Spinning => Grade::Symbolic,
            Busy::Livelock | Busy::SlowProgress => Grade::Heuristic,
        },
        threads,
        detail: Detail::Busy { how },
        steps,
        suggestion,
    };
    draft.sign(snap)
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, Busy, Detail, FindingKind};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;
    use crate::model::{KernelInfo, KernelState, Snapshot, ThreadLook};

    /// Two workers and main wait on condition variables nobody will signal: a stall by the
    /// frames.
    const STALL: &str = "\
Thread 3 (Thread 0x7f02 (LWP 102) \"worker-2\"):
#0  __futex_abstimed_wait_common64 (futex_word=0x5008) at futex-internal.c:57
#1  ___pthread_cond_wait (cond=0x5000, mutex=0x5040) at pthread_cond_wait.c:618
#2  0x3 in work_queue_pop () at q.c:20

Thread 2 (Thread 0x7f01 (LWP 101) \"worker-1\"):
#0  __futex_abstimed_wait_common64 (futex_word=0x5008) at futex-internal.c:57
#1  ___pthread_cond_wait (cond=0x5000, mutex=0x5040) at pthread_cond_wait.c:618
#2  0x3 in work_queue_pop () at q.c:20

Thread 1 (Thread 0x7f00 (LWP 100) \"main\"):
#0  __futex_abstimed_wait_common64 (futex_word=0x6008) at futex-internal.c:57
#1  ___pthread_cond_wait (cond=0x6000, mutex=0x5040) at pthread_cond_wait.c:618
#2  0x4 in work_queue_wait_idle () at q.c:40
#3  0x5 in main () at q.c:50
";

    /// Two threads retry a lock, sleeping between tries; main joins one: no stall by the
    /// frames.
    const RETRY: &str = "\
Thread 3 (Thread 0x7f02 (LWP 102) \"audit\"):
#0  0x1 in __GI___clock_nanosleep () at clock_nanosleep.c:78
#1  0x2 in usleep () at usleep.c:32
#2  0x3 in lock_both_politely () at l.c:20

Thread 2 (Thread 0x7f01 (LWP 101) \"transfer\"):
#0  0x1 in __GI___clock_nanosleep () at clock_nanosleep.c:78
#1  0x2 in usleep () at usleep.c:32
#2  0x3 in lock_both_politely () at l.c:20

Thread 1 (Thread 0x7f00 (LWP 100) \"main\"):
#0  __futex_abstimed_wait_common64 (futex_word=0x7f01) at futex-internal.c:57
#1  __pthread_clockjoin_ex (threadid=139637976524544) at pthread_join_common.c:102
#2  0x4 in main () at l.c:40
";

    /// `dump`'s snapshot, each thread's second look `(cpu_us, voluntary)`.
    fn looked(dump: &str, looks: [(u64, u64); 3]) -> Snapshot {
        let mut snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        for (t, (cpu_us, voluntary)) in snap.threads.iter_mut().zip(looks) {
            t.kernel = Some(KernelInfo {
                second_look: Some(ThreadLook {
                    interval_ms: 50,
                    cpu_us,
                    voluntary,
                    involuntary: 0,
                    state: KernelState::Sleeping,
                    same_wait: None,
                }),
                ..KernelInfo::default()
            });
        }
        snap
    }

    fn found(snap: &Snapshot) -> Vec<(FindingKind, Option<Busy>)> {
        let a = analyze(snap, &KnowledgeBase::builtin());
        a.findings
            .iter()
            .map(|f| match f.detail {
                Detail::Busy { how } => (f.kind, Some(how)),
                _ => (f.kind, None),
            })
            .collect()
    }

    #[test]
    fn a_stall_stays_one_when_nothing_moved_and_becomes_slow_progress_when_threads_did() {
        let still = (5, 0);
        assert_eq!(
            found(&looked(STALL, [still; 3])),
            [(FindingKind::Stall, None)]
        );
        // A worker woke now and then: slow progress.
        assert_eq!(
            found(&looked(STALL, [(40, 3), still, still])),
            [(FindingKind::Busy, Some(Busy::SlowProgress))]
        );
        // Woken 400 times a second: still progress, by threads that wait inside the process.
        assert_eq!(
            found(&looked(STALL, [(300, 20), (300, 20), still])),
            [(FindingKind::Busy, Some(Busy::SlowProgress))]
        );
        // Without a second look, the frames alone.
        let mut none = looked(STALL, [still; 3]);
        none.threads.iter_mut().for_each(|t| t.kernel = None);
        assert_eq!(found(&none), [(FindingKind::Stall, None)]);
    }

    #[test]
    fn threads_that_sleep_and_retry_over_and_over_while_none_runs_are_a_livelock() {
        let still = (5, 0);
        assert_eq!(
            found(&looked(RETRY, [(300, 20), (300, 20), still])),
            [(FindingKind::Busy, Some(Busy::Livelock))]
        );
        // One thread polling is not a livelock; nor are two while another thread runs.
        assert_eq!(found(&looked(RETRY, [(300, 20), still, still])), []);
        assert_eq!(
            found(&looked(RETRY, [(300, 20), (300, 20), (20_000, 0)])),
            []
        );
        // Waking now and then is not retrying over and over.
        assert_eq!(found(&looked(RETRY, [(30, 3), (30, 3), still])), []);
    }
}
