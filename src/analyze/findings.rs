//! From graph to findings: every cycle (strongly connected component), starving pools and
//! runtimes, stalls
//! (weighed against the second look by `busy.rs`), root blockers, blocking calls in signal
//! handlers and threads in I/O.

use super::advice::advice;
use super::classify::{Activity, Facts};
use super::finding::{Detail, Doing, Draft, Finding, Shows, Step};
use super::graph::{Edge, Grade, Graph};
use super::names::Names;
use super::program::top_in_program;
use super::steps::{edge_steps, io_step, key_frames, wait_object, wait_step, weakest};
use super::{readers, scc};
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, WaitKind};
use crate::model::Snapshot;
use std::collections::HashSet;

/// All findings, deadlocks first, in a stable order; those that need every thread
/// ([`FindingKind::needs_every_thread`]) only when the snapshot shows the `whole` process.
pub fn find(
    snap: &Snapshot,
    whole: bool,
    facts: &[Facts],
    pools: &[super::Pool],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    // A thread's self-upgrade or once recursion is its own finding, not the self-lock its edge to itself makes.
    let mut out = super::upgrade::find(snap, facts, names, kb);
    out.extend(super::once::find(snap, facts, names, kb));
    let upgrading: HashSet<usize> = out.iter().map(|f| f.threads[0]).collect();
    // A cycle through the dynamic loader's lock is its own finding, not the lock cycle it makes.
    let loader = super::loader::find(snap, facts, g, names, kb);
    let via_loader: HashSet<usize> = loader.iter().flat_map(|f| f.threads.clone()).collect();
    // A holder of a recovered robust mutex that locks it again is that finding's, not a
    // self-lock.
    let died = super::died::find(snap, facts, &g.owners, &g.by_tid, names, kb);
    let cycles = cycles(snap, facts, g, names, kb).into_iter();
    let cycles = cycles.filter(|f| f.threads.iter().any(|t| !via_loader.contains(t)));
    let cycles = cycles.filter(|f| !matches!(f.threads[..], [t] if super::died::relocks(&died, t)));
    out.extend(cycles.filter(|f| !matches!(f.threads[..], [t] if upgrading.contains(&t))));
    out.extend(loader);
    out.extend(super::stopped::find(snap, facts));
    out.extend(super::orphans::find(
        snap, facts, &g.owners, &g.by_tid, names, kb,
    ));
    out.extend(died);
    out.extend(super::readers::find(snap, facts, names, kb));
    let in_cycle: HashSet<usize> = out.iter().flat_map(|f| f.threads.clone()).collect();
    // A runtime's workers starved by blocking calls are that finding's, not a pool's.
    let starved = super::starved_runtime::find(snap, facts, pools, names, kb, &in_cycle);
    let in_cycle: HashSet<usize> = (in_cycle.into_iter())
        .chain(starved.iter().flat_map(|f| f.threads.clone()))
        .collect();
    out.extend(starved);
    out.extend(super::pool_findings::find(
        snap, facts, pools, g, names, kb, &in_cycle,
    ));
    out.retain(|f| whole || !f.kind.needs_every_thread());
    let deadlocked: HashSet<usize> = out.iter().flat_map(|f| f.threads.clone()).collect();
    let stall = if out.is_empty() && whole {
        stall(snap, facts, g, names, kb)
    } else {
        None
    };
    // A stall already says that nothing shows who holds the locks its threads wait for.
    let stalled = stall.is_some();
    out.extend(super::busy::judge(snap, facts, stall, &deadlocked, kb));
    out.extend(readers::undecided(snap, facts, g, &deadlocked, names, kb));
    if !stalled {
        out.extend(super::ownerless::undecided(snap, facts, g, names, kb));
    }
    out.extend(root_blockers(snap, facts, g, names, kb));
    out.extend(signal_unsafe_waits(snap, facts, names, kb));
    out.extend(io_waits(snap, facts, names));
    out.sort_by_key(|f| (f.severity, f.kind, f.threads.first().copied()));
    for f in &mut out {
        f.key_frames = key_frames(snap, facts, names, &f.steps);
    }
    out
}

fn cycles(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    let n = facts.len();
    let mut adj = vec![Vec::new(); n];
    for e in &g.edges {
        adj[e.from].push(e.to);
    }
    for a in &mut adj {
        a.sort_unstable();
        a.dedup();
    }
    let mut out = Vec::new();
    for comp in scc::cycles(n, &adj) {
        let cycle = scc::cycle_through(comp[0], &comp, &adj);
        let edges: Vec<&Edge> = (0..cycle.len())
            .filter_map(|k| {
                let (a, b) = (cycle[k], cycle[(k + 1) % cycle.len()]);
                g.edges
                    .iter()
                    .filter(|e| e.from == a && e.to == b)
                    .max_by_key(|e| e.grade)
            })
            .collect();
        let kinds: Vec<WaitKind> = edges
            .iter()
            .map(|e| facts[e.from].waits[e.wait].kind)
            .collect();
        let all_locks = kinds.iter().all(|k| k.is_lock());
        let all_joins = kinds.iter().all(|k| k.is_join());
        let single = comp.len() == 1;
        let all_inits = kinds.iter().all(|&k| k == WaitKind::StaticInit);
        let kind = match (single, all_locks, all_joins) {
            (false, true, _) if all_inits => FindingKind::StaticInitCycle,
            (true, true, _) => FindingKind::SelfLock,
            (true, _, true) => FindingKind::SelfJoin,
            (false, true, _) => FindingKind::LockCycle,
            (false, _, true) => FindingKind::JoinCycle,
            _ => FindingKind::WaitCycle,
        };
        let steps: Vec<Step> = edges
            .iter()
            .flat_map(|e| edge_steps(snap, facts, names, e, kb))
            .collect();
        let through_signal = comp.iter().any(|&t| facts[t].in_handler());
        let object = (kind == FindingKind::SelfJoin)
            .then(|| wait_object(snap, &facts[comp[0]].waits[edges[0].wait]));
        let waits = edges.iter().map(|e| &facts[e.from].waits[e.wait]);
        let situation = if through_signal {
            format!("{}/signal-handler", kind.as_str())
        } else {
            kind.as_str().to_string()
        };
        let suggestion = waits
            .clone()
            .find_map(|w| w.suggestion.clone())
            .or_else(|| advice(kb, waits, &situation));
        let draft = Draft {
            kind,
            severity: Severity::Deadlock,
            confidence: weakest(edges.iter().copied()),
            threads: comp.clone(),
            detail: Detail::Cycle {
                through_signal,
                object,
            },
            steps,
            suggestion,
        };
        out.push(draft.sign(snap));
    }
    out
}

fn stall(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Option<Finding> {
    if facts.is_empty() {
        return None;
    }
    // An idle loop polling for I/O (a server waiting for its next call) is woken from outside,
    // and may then wake the others: in I/O, as the stall's title says.
    let polls_outside = |f: &Facts| {
        f.activity == Activity::Idle && f.waits.first().is_some_and(|w| w.kind.is_external())
    };
    let all_waiting = (facts.iter())
        .all(|f| matches!(f.activity, Activity::Blocked | Activity::Idle) && !polls_outside(f));
    let blocked: Vec<usize> = (0..facts.len())
        .filter(|&t| facts[t].activity == Activity::Blocked)
        .collect();
    if !all_waiting || blocked.is_empty() {
        return None;
    }
    let steps = blocked
        .iter()
        .map(|&t| wait_step(snap, facts, names, t, &facts[t].waits[0], None))
        .collect();
    // Lock waits whose holder nothing shows.
    let unowned = (blocked.iter().map(|&t| (t, &facts[t].waits[0])))
        .filter(|&(t, w)| w.kind.is_lock() && g.out(t).next().is_none());
    let on_locks = unowned.clone().count();
    let situation = if on_locks >= 1 {
        "stall/unowned-locks"
    } else {
        "stall"
    };
    // A lock that may keep its holder in its lock word (a robust mutex), unread: its rule
    // says how to read it, which decides whether its owner died.
    let in_word = unowned
        .filter(|(_, w)| {
            kb.rule_by_id(&w.rule)
                .is_some_and(|r| r.owner_word.is_some())
        })
        .find_map(|(_, w)| w.suggestion.clone());
    let suggestion =
        in_word.or_else(|| advice(kb, blocked.iter().map(|&t| &facts[t].waits[0]), situation));
    let draft = Draft {
        kind: FindingKind::Stall,
        severity: Severity::Warning,
        confidence: Grade::Heuristic,
        threads: blocked,
        detail: Detail::Stall {
            unowned_locks: on_locks,
        },
        steps,
        suggestion,
    };
    Some(draft.sign(snap))
}

fn root_blockers(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    let n = facts.len();
    let mut rev = vec![Vec::new(); n];
    for e in &g.edges {
        rev[e.to].push(e.from);
    }
    let mut out = Vec::new();
    for t in 0..n {
        if matches!(facts[t].activity, Activity::Blocked | Activity::Idle) || rev[t].is_empty() {
            continue;
        }
        let mut seen = HashSet::from([t]);
        let mut stack = vec![t];
        while let Some(v) = stack.pop() {
            for &w in &rev[v] {
                if seen.insert(w) {
                    stack.push(w);
                }
            }
        }
        let waiting = seen.len() - 1;
        // One waiter is a root blocker only when the runtime declared its wait fatal (the
        // holder will never release); otherwise it is one thread waiting for another's work.
        let direct: Vec<&Edge> = g.edges.iter().filter(|e| e.to == t).collect();
        let fatal = direct.iter().any(|e| facts[e.from].waits[e.wait].fatal);
        if waiting < 2 && !fatal {
            continue;
        }
        let doing = match facts[t].activity {
            Activity::Running => Doing::Running,
            Activity::Stopped => Doing::Stopped,
            Activity::External => Doing::Waiting {
                object: facts[t].waits.first().map(|w| wait_object(snap, w)),
            },
            _ => Doing::Unknown,
        };
        let mut steps: Vec<Step> = direct
            .iter()
            .take(3)
            .flat_map(|e| edge_steps(snap, facts, names, e, kb))
            .collect();
        if let Some(top) = facts[t].top {
            steps.push(Step {
                thread: t,
                frame: Some(top),
                shows: Shows::Blocker {
                    doing: doing.clone(),
                    at: top,
                    program: top_in_program(snap, facts, names, t, top),
                },
                grade: None,
            });
        }
        let mut threads: Vec<usize> = seen.into_iter().collect();
        threads.sort_unstable();
        threads.retain(|&x| x != t);
        threads.insert(0, t);
        let draft = Draft {
            kind: FindingKind::RootBlocker,
            severity: Severity::Warning,
            confidence: weakest(direct.iter().copied()),
            threads,
            detail: Detail::RootBlocker {
                blocker: t,
                waiting,
                doing,
            },
            steps,
            suggestion: direct
                .iter()
                .find_map(|e| facts[e.from].waits[e.wait].suggestion.clone())
                .or_else(|| {
                    let waits = direct.iter().map(|e| &facts[e.from].waits[e.wait]);
                    advice(kb, waits, "root-blocker")
                }),
        };
        out.push(draft.sign(snap));
    }
    out
}

fn signal_unsafe_waits(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (t, f) in facts.iter().enumerate() {
        let Some(sig) = f.signal_frame() else {
            continue;
        };
        let Some(w) = f
            .waits
            .iter()
            .find(|w| w.kind.meaning().unsafe_in_signal_handler)
        else {
            continue;
        };
        let steps = vec![
            Step {
                thread: t,
                frame: Some(sig),
                shows: Shows::SignalFrame { at: sig },
                grade: None,
            },
            Step {
                thread: t,
                frame: Some(w.frame),
                shows: Shows::HandlerWaits {
                    object: wait_object(snap, w),
                    at: w.frame,
                    program: top_in_program(snap, facts, names, t, w.frame),
                },
                grade: None,
            },
        ];
        let draft = Draft {
            kind: FindingKind::SignalUnsafeWait,
            severity: Severity::Warning,
            confidence: Grade::Symbolic,
            threads: vec![t],
            detail: Detail::SignalUnsafe { kind: w.kind },
            steps,
            suggestion: advice(kb, std::iter::once(w), "signal-unsafe-wait"),
        };
        out.push(draft.sign(snap));
    }
    out
}

fn io_waits(snap: &Snapshot, facts: &[Facts], names: &Names) -> Option<Finding> {
    let threads: Vec<usize> = (0..facts.len())
        .filter(|&t| {
            facts[t].activity == Activity::External
                && facts[t]
                    .waits
                    .first()
                    .is_some_and(|w| w.kind == WaitKind::Io)
        })
        .collect();
    if threads.is_empty() {
        return None;
    }
    let steps = threads
        .iter()
        .map(|&t| io_step(snap, facts, names, t, &facts[t].waits[0]))
        .collect();
    let draft = Draft {
        kind: FindingKind::IoWait,
        severity: Severity::Info,
        confidence: Grade::Symbolic,
        threads,
        detail: Detail::Io,
        steps,
        suggestion: None,
    };
    Some(draft.sign(snap))
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, Busy, FindingKind};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;

    /// Thread 1 waits in `take_and_work` for the mutex thread 2 took there and computes under.
    const WAITER_AND_RUNNER: &str = "\
Thread 2 (Thread 0x7f01 (LWP 101)):
#0  0x1 in compute () at c.c:10
#1  0x2 in take_and_work () at c.c:20
#2  0x3 in start_thread (arg=0x0) at pthread_create.c:442

Thread 1 (Thread 0x7f00 (LWP 100)):
#0  ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
#1  0x4 in take_and_work () at c.c:21
#2  0x5 in main () at c.c:30
";

    const SECOND_WAITER: &str = "
Thread 3 (Thread 0x7f02 (LWP 102)):
#0  ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
#1  0x6 in take_and_work () at c.c:21
#2  0x7 in start_thread (arg=0x0) at pthread_create.c:442
";

    fn kinds(dump: &str) -> Vec<FindingKind> {
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        a.findings.iter().map(|f| f.kind).collect()
    }

    /// Every situation the findings ask the packs' advice for.
    fn situations() -> Vec<String> {
        let mut out: Vec<String> = FindingKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect();
        out.extend(
            FindingKind::ALL
                .iter()
                .map(|k| format!("{}/signal-handler", k.as_str())),
        );
        out.extend(
            (crate::analyze::cross_process::SetKind::ALL.iter()).map(|k| k.as_str().to_string()),
        );
        out.push("stall/unowned-locks".into());
        out.push(crate::analyze::pool_findings::SELF_JOIN_SITUATION.into());
        out.push(crate::analyze::ownerless::CAPTURED_SITUATION.into());
        for how in [Busy::Spinning, Busy::Livelock, Busy::SlowProgress] {
            out.push(how.situation().into());
        }
        out
    }

    #[test]
    fn advice_rules_speak_of_situations_the_findings_have() {
        let known = situations();
        let kb = KnowledgeBase::builtin();
        let advice = kb
            .rules()
            .iter()
            .filter(|r| r.meaning == crate::knowledge::Meaning::Advice);
        for r in advice {
            for ex in r.examples.iter().chain(&r.counterexamples) {
                assert!(known.contains(ex), "{}: `{ex}` is no situation", r.id);
            }
        }
        // Every kind but stopped threads (whose advice names the process) has generic advice.
        for k in FindingKind::ALL {
            let stopped = matches!(k, FindingKind::ProcessStopped | FindingKind::ThreadStopped);
            let cycle_only = matches!(k, FindingKind::WaitCycle | FindingKind::IoWait);
            assert_eq!(
                kb.advice([], k.as_str()).is_some(),
                !stopped && !cycle_only,
                "{}",
                k.as_str()
            );
        }
    }

    #[test]
    fn one_thread_waiting_for_a_running_one_is_work_not_a_root_blocker_but_two_are() {
        assert!(!kinds(WAITER_AND_RUNNER).contains(&FindingKind::RootBlocker));
        let both = format!("{WAITER_AND_RUNNER}{SECOND_WAITER}");
        assert!(kinds(&both).contains(&FindingKind::RootBlocker));
    }
}
