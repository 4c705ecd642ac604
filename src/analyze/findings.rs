//! From graph to findings: every cycle (strongly connected component), starving pools, stalls,
//! root blockers, blocking calls in signal handlers and threads in I/O.

use super::classify::{Activity, Facts};
use super::explain::{edge_steps, frame_ref, wait_object, weakest};
use super::graph::{Edge, Grade, Graph};
use super::scc;
use super::{Finding, FindingKind, Severity, Step};
use crate::knowledge::{base_name, KnowledgeBase, WaitKind};
use crate::model::Snapshot;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

/// All findings, deadlocks first, in a stable order.
pub fn find(snap: &Snapshot, facts: &[Facts], g: &Graph, kb: &KnowledgeBase) -> Vec<Finding> {
    let mut out = cycles(snap, facts, g, kb);
    out.extend(super::stopped::find(snap, facts));
    let in_cycle: HashSet<usize> = out.iter().flat_map(|f| f.threads.clone()).collect();
    out.extend(pool_starvation(snap, facts, &in_cycle, kb));
    let deadlocked = !out.is_empty();
    if !deadlocked {
        out.extend(stall(snap, facts, g, kb));
    }
    out.extend(root_blockers(snap, facts, g, kb));
    out.extend(signal_unsafe_waits(snap, facts, kb));
    out.extend(io_waits(snap, facts));
    for f in &mut out {
        f.signature = signature(snap, f);
    }
    out.sort_by_key(|f| (f.severity, f.kind, f.threads.first().copied()));
    out
}

fn cycles(snap: &Snapshot, facts: &[Facts], g: &Graph, kb: &KnowledgeBase) -> Vec<Finding> {
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
        let kind = match (single, all_locks, all_joins) {
            (true, true, _) => FindingKind::SelfLock,
            (true, _, true) => FindingKind::SelfJoin,
            (false, true, _) => FindingKind::LockCycle,
            (false, _, true) => FindingKind::JoinCycle,
            _ => FindingKind::WaitCycle,
        };
        let steps: Vec<Step> = edges
            .iter()
            .flat_map(|e| edge_steps(snap, facts, e, kb))
            .collect();
        let first = &snap.threads[comp[0]];
        let through_signal = comp.iter().any(|&t| facts[t].in_handler());
        let via = if through_signal {
            " through a signal handler"
        } else {
            ""
        };
        let title = match kind {
            FindingKind::SelfJoin => format!(
                "self-join{via}: {} waits for {}, which includes itself",
                first.label(),
                wait_object(snap, &facts[comp[0]].waits[edges[0].wait])
            ),
            FindingKind::SelfLock => format!(
                "self-lock{via}: {} waits for a lock it already holds",
                first.label()
            ),
            FindingKind::LockCycle => format!(
                "lock cycle: {} threads wait on each other's locks",
                comp.len()
            ),
            FindingKind::JoinCycle => format!(
                "join cycle: {} threads wait for each other to exit",
                comp.len()
            ),
            _ => format!("wait cycle: {} threads wait on each other", comp.len()),
        };
        let explanation = cycle_explanation(kind, through_signal);
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
        out.push(Finding {
            kind,
            severity: Severity::Deadlock,
            confidence: weakest(edges.iter().copied()),
            threads: comp.clone(),
            title,
            explanation,
            steps,
            suggestion,
            signature: String::new(),
        });
    }
    out
}

fn cycle_explanation(kind: FindingKind, through_signal: bool) -> String {
    let signal = if through_signal {
        " A signal handler runs on whatever thread the signal interrupted and inherits everything \
         that thread holds and is, so the handler is waiting for its own thread."
    } else {
        ""
    };
    let core = match kind {
        FindingKind::SelfJoin => "The thread waits for a set of threads to exit, and it is one of them: it can only exit after the wait returns, so the wait never returns.",
        FindingKind::SelfLock => "The thread asks for a lock that it holds already; the lock is not recursive, so the thread waits for itself forever.",
        FindingKind::LockCycle => "Each thread holds a lock the next one in the cycle needs, so none of them can go on (lock-order inversion).",
        FindingKind::JoinCycle => "Each thread waits for the next one in the cycle to exit, so none of them ever exits.",
        _ => "Each thread waits for something the next one in the cycle holds or must do.",
    };
    format!("{core}{signal}")
}

/// What the packs advise for a finding in `situation` on `waits`: the advice of the packs the
/// waits are in (most specific first), else the generic pack's.
fn advice<'a>(
    kb: &KnowledgeBase,
    waits: impl Iterator<Item = &'a super::classify::Wait>,
    situation: &str,
) -> Option<String> {
    let mut packs: Vec<&str> = Vec::new();
    for p in waits.flat_map(|w| &w.packs) {
        if !packs.contains(&p.as_str()) {
            packs.push(p);
        }
    }
    kb.advice(packs, situation).map(str::to_string)
}

fn pool_starvation(
    snap: &Snapshot,
    facts: &[Facts],
    in_cycle: &HashSet<usize>,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    let mut pools: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (t, f) in facts.iter().enumerate() {
        for m in &f.members {
            pools.entry(m.pool.class.clone()).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    for (class, members) in pools {
        let starving = members.iter().all(|&t| {
            let f = &facts[t];
            f.activity == Activity::Blocked
                && f.waits
                    .first()
                    .is_some_and(|w| w.kind.meaning().may_await_queued_work)
                && f.waits.iter().any(|w| w.kind == WaitKind::Future)
        });
        if !starving || members.iter().any(|t| in_cycle.contains(t)) {
            continue;
        }
        let steps = members
            .iter()
            .map(|&t| {
                let f = &facts[t];
                let w = f
                    .waits
                    .iter()
                    .find(|w| w.kind == WaitKind::Future)
                    .expect("checked");
                let m = f
                    .members
                    .iter()
                    .find(|m| m.pool.class == class)
                    .expect("member");
                let th = &snap.threads[t];
                Step {
                    thread: t,
                    frame: Some(w.frame),
                    text: format!(
                        "{} is a worker of `{class}` ({}) and waits for a result: {}",
                        th.label(),
                        frame_ref(th, m.frame),
                        frame_ref(th, w.frame)
                    ),
                    grade: Some(Grade::Heuristic),
                }
            })
            .collect();
        out.push(Finding {
            kind: FindingKind::PoolStarvation,
            severity: Severity::Deadlock,
            confidence: Grade::Heuristic,
            threads: members.clone(),
            title: format!("pool starvation: all {} workers of `{class}` wait for results, and no worker is free to produce them", members.len()),
            explanation: "Every worker of the pool runs a task that blocks on a future or handoff. If that work was queued on the same pool, no thread is left to run it, so every worker waits forever.".into(),
            steps,
            suggestion: advice(kb, members.iter().filter_map(|&t| facts[t].waits.first()), "pool-starvation"),
            signature: String::new(),
        });
    }
    out
}

fn stall(snap: &Snapshot, facts: &[Facts], g: &Graph, kb: &KnowledgeBase) -> Option<Finding> {
    if !snap.complete || facts.is_empty() {
        return None;
    }
    let all_waiting = facts
        .iter()
        .all(|f| matches!(f.activity, Activity::Blocked | Activity::Idle));
    let blocked: Vec<usize> = (0..facts.len())
        .filter(|&t| facts[t].activity == Activity::Blocked)
        .collect();
    if !all_waiting || blocked.is_empty() {
        return None;
    }
    let steps = blocked
        .iter()
        .map(|&t| {
            let w = &facts[t].waits[0];
            let th = &snap.threads[t];
            Step {
                thread: t,
                frame: Some(w.frame),
                text: format!(
                    "{} waits for {}: {}",
                    th.label(),
                    wait_object(snap, w),
                    frame_ref(th, w.frame)
                ),
                grade: None,
            }
        })
        .collect();
    let mut explanation = String::from("No cycle is proven, but no thread can make progress: each waits for a lock, a condition or another thread, and no thread is left that could signal or release it.");
    // Lock waits whose holder nothing shows.
    let on_locks = blocked
        .iter()
        .filter(|&&t| facts[t].waits[0].kind.is_lock() && g.out(t).next().is_none())
        .count();
    if on_locks >= 2 {
        explanation.push_str(&format!(" {on_locks} of them wait for locks, and nothing shows who holds those: a lock-order inversion (each holding a lock another one needs) looks just like this on the stacks."));
    }
    let situation = if on_locks >= 2 {
        "stall/unowned-locks"
    } else {
        "stall"
    };
    let suggestion = advice(kb, blocked.iter().map(|&t| &facts[t].waits[0]), situation);
    Some(Finding {
        kind: FindingKind::Stall,
        severity: Severity::Warning,
        confidence: Grade::Heuristic,
        threads: blocked,
        title:
            "stall: every thread waits, and none is running, in I/O or asleep to wake the others"
                .into(),
        explanation,
        steps,
        suggestion,
        signature: String::new(),
    })
}

fn root_blockers(snap: &Snapshot, facts: &[Facts], g: &Graph, kb: &KnowledgeBase) -> Vec<Finding> {
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
        let th = &snap.threads[t];
        let doing = match facts[t].activity {
            Activity::Running => "running".to_string(),
            Activity::Stopped => "stopped".to_string(),
            Activity::External => format!(
                "waiting for {}",
                facts[t]
                    .waits
                    .first()
                    .map(|w| wait_object(snap, w))
                    .unwrap_or_default()
            ),
            _ => "in an unknown state".to_string(),
        };
        let mut steps: Vec<Step> = direct
            .iter()
            .take(3)
            .flat_map(|e| edge_steps(snap, facts, e, kb))
            .collect();
        if let Some(top) = facts[t].top {
            steps.push(Step {
                thread: t,
                frame: Some(top),
                text: format!("{} is {doing}: {}", th.label(), frame_ref(th, top)),
                grade: None,
            });
        }
        let mut threads: Vec<usize> = seen.into_iter().collect();
        threads.sort_unstable();
        threads.retain(|&x| x != t);
        threads.insert(0, t);
        out.push(Finding {
            kind: FindingKind::RootBlocker,
            severity: Severity::Warning,
            confidence: weakest(direct.iter().copied()),
            threads,
            title: match waiting {
                1 => format!("root blocker: a thread waits on {}, which is {doing}, and its runtime gave the wait up as fatal", th.label()),
                _ => format!("root blocker: {waiting} threads wait (directly or in a chain) on {}, which is {doing}", th.label()),
            },
            explanation: "Not a deadlock: the threads are queued behind one thread that is itself not waiting for them. The hang lasts as long as that thread's work does.".into(),
            steps,
            suggestion: direct
                .iter()
                .find_map(|e| facts[e.from].waits[e.wait].suggestion.clone())
                .or_else(|| {
                    let waits = direct.iter().map(|e| &facts[e.from].waits[e.wait]);
                    advice(kb, waits, "root-blocker")
                }),
            signature: String::new(),
        });
    }
    out
}

fn signal_unsafe_waits(snap: &Snapshot, facts: &[Facts], kb: &KnowledgeBase) -> Vec<Finding> {
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
        let th = &snap.threads[t];
        out.push(Finding {
            kind: FindingKind::SignalUnsafeWait,
            severity: Severity::Warning,
            confidence: Grade::Symbolic,
            threads: vec![t],
            title: format!("signal-unsafe wait: {} blocks on a {} inside a signal handler", th.label(), w.kind.noun()),
            explanation: "Blocking on locks, condition variables, joins or futures is not async-signal-safe: the handler may have interrupted the very code that would release them.".into(),
            steps: vec![
                Step { thread: t, frame: Some(sig), text: format!("signal frame {}", frame_ref(th, sig)), grade: None },
                Step { thread: t, frame: Some(w.frame), text: format!("the handler waits for {}: {}", wait_object(snap, w), frame_ref(th, w.frame)), grade: None },
            ],
            suggestion: advice(kb, std::iter::once(w), "signal-unsafe-wait"),
            signature: String::new(),
        });
    }
    out
}

fn io_waits(snap: &Snapshot, facts: &[Facts]) -> Option<Finding> {
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
        .map(|&t| {
            let th = &snap.threads[t];
            let w = &facts[t].waits[0];
            Step {
                thread: t,
                frame: Some(w.first),
                text: format!("{} is in I/O: {}", th.label(), frame_ref(th, w.first)),
                grade: None,
            }
        })
        .collect();
    Some(Finding {
        kind: FindingKind::IoWait,
        severity: Severity::Info,
        confidence: Grade::Symbolic,
        threads: threads.clone(),
        title: format!("{} thread(s) blocked in I/O", threads.len()),
        explanation: "These threads wait for something outside the process (a file, socket, pipe or child). That is not a deadlock, but if the process is stuck, check what they read from or write to.".into(),
        steps,
        suggestion: None,
        signature: String::new(),
    })
}

/// A stable id: the kind and the normalised frames the steps point at, no addresses or tids.
fn signature(snap: &Snapshot, f: &Finding) -> String {
    let mut names: Vec<String> = f
        .steps
        .iter()
        .filter_map(|s| {
            let frame = snap.threads[s.thread].frames.get(s.frame?)?;
            frame.function.as_deref().map(|n| base_name(n).to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    let mut h = Sha256::new();
    h.update(format!("{:?}", f.kind));
    for n in names {
        h.update(b"\0");
        h.update(n.as_bytes());
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, FindingKind};
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

    #[test]
    fn one_thread_waiting_for_a_running_one_is_work_not_a_root_blocker_but_two_are() {
        assert!(!kinds(WAITER_AND_RUNNER).contains(&FindingKind::RootBlocker));
        let both = format!("{WAITER_AND_RUNNER}{SECOND_WAITER}");
        assert!(kinds(&both).contains(&FindingKind::RootBlocker));
    }
}
