//! Waits for a child that is itself stuck: a thread waiting for a child on a cycle of the set
//! joins that cycle's finding as a chain into it, and a thread waiting for a child whose own
//! analysis found a deadlock or a stall is one finding with the child's own attached.

use super::{Attached, Party, SetAnalysis, SetFinding, SetKind, Tie};
use crate::analyze::{Analysis, Grade, Severity};
use crate::model::Snapshot;
use std::collections::BTreeSet;

/// Adds the chains of `set`'s waits for children to its findings, and a finding for each wait
/// for a child stuck by itself; `in_cycle`: the edges already on a cycle.
pub fn add(
    snaps: &[Snapshot],
    analyses: &[Analysis],
    set: &mut SetAnalysis,
    in_cycle: &BTreeSet<usize>,
) {
    for (i, e) in set.edges.iter().enumerate() {
        if in_cycle.contains(&i)
            || !matches!(
                e.tie,
                Tie::ChildExit | Tie::AnyChild | Tie::GroupChild { .. }
            )
        {
            continue;
        }
        let Party::Thread { process, thread } = e.from;
        if !super::ties::thread_asleep(&snaps[process].threads[thread]) {
            continue;
        }
        // The child is on a cycle: the wait leads into it.
        let on = set.findings.iter().position(|f| {
            let cycle = matches!(
                f.kind,
                SetKind::PipeCycle | SetKind::ProcessCycle | SetKind::RequestResponse
            );
            cycle
                && f.edges.iter().any(|&c| {
                    let Party::Thread { process: p, .. } = set.edges[c].from;
                    snaps[p].pid == Some(e.to)
                })
        });
        if let Some(f) = on {
            set.findings[f].chain.push(i);
            continue;
        }
        // The child is stuck by itself.
        let Some(child) = SetAnalysis::captured(snaps, e.to) else {
            continue;
        };
        let Some(a) = analyses.get(child) else {
            continue;
        };
        let stuck = a
            .findings
            .iter()
            .position(|f| f.severity == Severity::Deadlock);
        if let Some(finding) = stuck {
            set.findings.push(SetFinding {
                kind: SetKind::WaitsForStuckChild,
                severity: Severity::Deadlock,
                grade: a.findings[finding].confidence.min(Grade::Proven),
                edges: vec![i],
                chain: Vec::new(),
                attached: vec![Attached {
                    report: child,
                    finding,
                }],
                suggestion: None,
                signature: String::new(),
            });
        }
    }
}
