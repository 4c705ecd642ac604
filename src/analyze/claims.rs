//! Cross-checks what the dump's own runtime concluded ([`Claim`]s: the JVM's "Found one
//! Java-level deadlock", Go's "all goroutines are asleep", parking_lot's report) against the
//! findings. A claim is confirmed when a finding covers the threads it names (counting threads
//! that wait, through the wait-for graph, for the finding's threads: the JVM lists a cycle's
//! waiting tail with it); otherwise the report says hangscan could not confirm it, and why,
//! rather than repeat it.

use super::finding::Finding;
use super::graph::{Because, Graph};
use super::{FindingKind, Severity};
use crate::model::{Claim, Snapshot};
use serde::Serialize;

/// One claim and what the analysis makes of it.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimCheck {
    /// The claim's index in the snapshot.
    pub claim: usize,
    /// The threads it names that the snapshot has (indices).
    pub threads: Vec<usize>,
    /// Findings that bear it out (indices into the findings).
    pub confirmed_by: Vec<usize>,
    /// Confirmed, or why not.
    pub verdict: ClaimVerdict,
}

/// What the analysis makes of a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum ClaimVerdict {
    /// The claim is no deadlock claim: noted.
    Noted,
    /// A finding (index) bears it out.
    Confirmed {
        /// The finding.
        finding: usize,
    },
    /// A finding (index) shows the threads blocked on locks, but who holds them only the
    /// runtime's report says.
    OnlyTheClaimSays {
        /// The finding.
        finding: usize,
    },
    /// Threads it names are not in the dump.
    ThreadsMissing {
        /// How many.
        missing: usize,
    },
    /// No thread is blocked in a way the rules can read.
    NothingReadable,
    /// No cycle or stall among its threads.
    NoCycle,
}

/// Checks every claim of the snapshot against the findings.
pub fn check(snap: &Snapshot, findings: &[Finding], g: &Graph) -> Vec<ClaimCheck> {
    snap.claims
        .iter()
        .enumerate()
        .map(|(c, claim)| check_one(snap, findings, g, c, claim))
        .collect()
}

fn check_one(
    snap: &Snapshot,
    findings: &[Finding],
    g: &Graph,
    index: usize,
    claim: &Claim,
) -> ClaimCheck {
    let threads: Vec<usize> = claim
        .threads
        .iter()
        .filter_map(|name| snap.threads.iter().position(|t| t.answers_to(name)))
        .collect();
    let missing = claim.threads.len() - threads.len();
    let blocking = |f: &Finding| f.severity == Severity::Deadlock || f.kind == FindingKind::Stall;
    // A claim naming threads the dump lacks cannot be borne out by the ones it has.
    let covering: Vec<usize> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            missing == 0
                && blocking(f)
                && (threads.is_empty() || threads.iter().any(|t| f.threads.contains(t)))
                && threads.iter().all(|&t| waits_into(g, t, &f.threads))
        })
        .map(|(i, _)| i)
        .collect();
    // A finding that stands on a claim's word (a holder only the runtime names) cannot confirm
    // a claim: the claim would confirm itself.
    let (confirmed_by, on_claims): (Vec<usize>, Vec<usize>) = covering
        .into_iter()
        .partition(|&i| !rests_on_claims(g, &findings[i].threads));
    let verdict = if !claim.deadlock {
        ClaimVerdict::Noted
    } else if let Some(&finding) = confirmed_by.first() {
        ClaimVerdict::Confirmed { finding }
    } else if let Some(&finding) = on_claims.first() {
        ClaimVerdict::OnlyTheClaimSays { finding }
    } else if missing > 0 {
        ClaimVerdict::ThreadsMissing { missing }
    } else if threads.is_empty() {
        ClaimVerdict::NothingReadable
    } else {
        ClaimVerdict::NoCycle
    };
    ClaimCheck {
        claim: index,
        threads,
        confirmed_by,
        verdict,
    }
}

/// Whether an edge among `threads` has a holder only a runtime's report names.
fn rests_on_claims(g: &Graph, threads: &[usize]) -> bool {
    g.edges.iter().any(|e| {
        threads.contains(&e.from)
            && threads.contains(&e.to)
            && matches!(e.because, Because::Claimed { .. })
    })
}

/// Whether thread `t` is one of `targets` or waits for one of them through the graph.
fn waits_into(g: &Graph, t: usize, targets: &[usize]) -> bool {
    let mut seen = vec![t];
    let mut stack = vec![t];
    while let Some(v) = stack.pop() {
        if targets.contains(&v) {
            return true;
        }
        for e in g.out(v) {
            if !seen.contains(&e.to) {
                seen.push(e.to);
                stack.push(e.to);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::finding::{Detail, Draft};
    use crate::analyze::graph::{Because, Edge, Held};
    use crate::analyze::Grade;
    use crate::model::Thread;

    fn finding(kind: FindingKind, severity: Severity, threads: Vec<usize>) -> Finding {
        let draft = Draft {
            kind,
            severity,
            confidence: Grade::Proven,
            threads,
            detail: Detail::Io,
            steps: Vec::new(),
            suggestion: None,
        };
        draft.sign(&Snapshot::default())
    }

    fn snap(claims: Vec<Claim>) -> Snapshot {
        let thread = |name: &str, tid: u64| Thread {
            name: Some(name.into()),
            tid: Some(tid),
            ..Thread::default()
        };
        Snapshot {
            threads: vec![thread("a", 10), thread("b", 11), thread("c", 12)],
            claims,
            ..Snapshot::default()
        }
    }

    fn claim(threads: &[&str]) -> Claim {
        Claim {
            text: "Found one Java-level deadlock".into(),
            threads: threads.iter().map(|s| s.to_string()).collect(),
            deadlock: true,
            line: Some(1),
        }
    }

    #[test]
    fn a_claim_is_confirmed_only_by_a_finding_covering_its_threads() {
        let s = snap(vec![
            claim(&["a", "11"]),
            claim(&["a", "c"]),
            claim(&["zz"]),
        ]);
        let f = vec![
            finding(FindingKind::LockCycle, Severity::Deadlock, vec![0, 1]),
            finding(FindingKind::RootBlocker, Severity::Warning, vec![0, 2]),
        ];
        let checks = check(&s, &f, &Graph::default());
        assert_eq!(checks[0].confirmed_by, vec![0]);
        assert_eq!(checks[0].threads, vec![0, 1]);
        assert!(
            checks[1].confirmed_by.is_empty(),
            "a root blocker is no deadlock"
        );
        assert_eq!(checks[1].verdict, ClaimVerdict::NoCycle);
        assert_eq!(
            checks[2].verdict,
            ClaimVerdict::ThreadsMissing { missing: 1 }
        );
    }

    #[test]
    fn a_whole_process_claim_is_confirmed_by_any_stall() {
        let s = snap(vec![claim(&[])]);
        assert!(check(&s, &[], &Graph::default())
            .iter()
            .all(|c| c.confirmed_by.is_empty()));
        let f = vec![finding(
            FindingKind::Stall,
            Severity::Warning,
            vec![0, 1, 2],
        )];
        assert_eq!(check(&s, &f, &Graph::default())[0].confirmed_by, vec![0]);
    }

    #[test]
    fn a_claim_listing_a_cycle_with_its_waiting_tail_is_confirmed() {
        // The JVM names c, which waits for a, with the cycle a <-> b.
        let s = snap(vec![claim(&["c", "a", "b"])]);
        let f = vec![finding(
            FindingKind::LockCycle,
            Severity::Deadlock,
            vec![0, 1],
        )];
        let edge = |from, to| Edge {
            from,
            to,
            wait: 0,
            grade: Grade::Proven,
            because: Because::Holds {
                frame: None,
                by: Held::Rule { rule: "r".into() },
            },
        };
        let mut g = Graph {
            edges: vec![edge(0, 1), edge(1, 0)],
            effective: vec![Some(0); 3],
            owners: Vec::new(),
            by_tid: Default::default(),
        };
        assert!(
            check(&s, &f, &g)[0].confirmed_by.is_empty(),
            "c waits for nothing"
        );
        g.edges.push(edge(2, 0));
        assert_eq!(check(&s, &f, &g)[0].confirmed_by, vec![0]);
    }
}
