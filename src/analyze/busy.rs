//! What the second look at a live process changes in the findings. Threads waiting for a lock
//! that used CPU spin on it; threads that woke and slept again over and over, while nothing else
//! ran or did I/O, are a livelock; and a stall (every thread waits, by the frames) in which
//! threads ran, woke or did I/O is slow progress, not a stall. Without a second look (dumps,
//! cores, `--samples 1`) the findings stay as the frames make them.

use super::classify::Facts;
use super::finding::{advice, Busy, Detail, Draft, Finding, Shows, Step};
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
    let with = |m: Motion| -> Vec<usize> {
        (0..facts.len())
            .filter(|&t| facts[t].motion == Some(m) && !deadlocked.contains(&t))
            .collect()
    };
    let spinning = with(Motion::Spinning);
    let cycling = with(Motion::Cycling);
    let ran = !with(Motion::Ran).is_empty();
    let io = snap.threads.iter().any(|t| {
        t.kernel
            .as_ref()
            .and_then(|k| k.second_look?.io_bytes)
            .is_some_and(|b| b > 0)
    });
    let mut out = Vec::new();
    if !spinning.is_empty() {
        out.push(busy(snap, facts, Busy::Spinning, spinning.clone(), kb));
    }
    let livelock = cycling.len() >= 2 && !ran && !io;
    if livelock {
        out.push(busy(snap, facts, Busy::Livelock, cycling, kb));
    }
    if let Some(stall) = stall {
        let moved: Vec<usize> = (0..facts.len())
            .filter(|&t| {
                facts[t]
                    .motion
                    .is_some_and(|m| m.moved() && m != Motion::Spinning)
                    && !deadlocked.contains(&t)
            })
            .collect();
        if !moved.is_empty() || io {
            // The spinning or livelock finding says what holds the stall; anything else that
            // moved is progress.
            if !livelock {
                let mut threads = stall.threads.clone();
                threads.extend(moved.iter().filter(|t| !stall.threads.contains(t)));
                let mut f = busy(snap, facts, Busy::SlowProgress, moved, kb);
                f.threads = threads;
                out.push(f);
            }
        } else if spinning.is_empty() {
            out.push(stall);
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
";

    /// The stall's snapshot, each thread's second look `(cpu_us, voluntary, io_bytes)`.
    fn looked(looks: [(u64, u64, u64); 3]) -> Snapshot {
        let mut snap = parse_dump(STALL.as_bytes(), "t", Some("gdb")).unwrap();
        for (t, (cpu_us, voluntary, io)) in snap.threads.iter_mut().zip(looks) {
            t.kernel = Some(KernelInfo {
                second_look: Some(ThreadLook {
                    interval_ms: 50,
                    cpu_us,
                    voluntary,
                    involuntary: 0,
                    io_bytes: Some(io),
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
    fn a_stall_stays_one_when_nothing_moved_and_becomes_what_moved_otherwise() {
        let still = (5, 0, 0);
        assert_eq!(found(&looked([still; 3])), [(FindingKind::Stall, None)]);
        // A worker woke now and then and wrote: slow progress.
        assert_eq!(
            found(&looked([(40, 3, 4096), still, still])),
            [(FindingKind::Busy, Some(Busy::SlowProgress))]
        );
        // Two woke 400 times a second with nothing else moving: a livelock, not a stall.
        assert_eq!(
            found(&looked([(300, 20, 0), (300, 20, 0), still])),
            [(FindingKind::Busy, Some(Busy::Livelock))]
        );
        // The same with I/O is progress.
        assert_eq!(
            found(&looked([(300, 20, 512), (300, 20, 0), still])),
            [(FindingKind::Busy, Some(Busy::SlowProgress))]
        );
        // Without a second look, the frames alone.
        let mut none = looked([still; 3]);
        none.threads.iter_mut().for_each(|t| t.kernel = None);
        assert_eq!(found(&none), [(FindingKind::Stall, None)]);
    }
}
