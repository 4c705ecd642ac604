//! The JSON report's `processes` object (version [`VERSION`], documented in
//! docs/json-schema.md): the combined wait-for graph of a set of processes, its nodes threads
//! qualified by their process, and the findings that span processes, as data and in words.

use super::narrate::processes;
use super::Set;
use crate::analyze::cross_process::{Party, SetKind, Tie, VERSION};
use crate::analyze::{Grade, Severity};
use crate::model::OtherProcess;
use serde::Serialize;

#[derive(Serialize)]
pub struct ProcessesJson<'a> {
    version: u32,
    /// The captured processes, in the reports' order.
    captured: Vec<CapturedJson<'a>>,
    /// The processes the waits name that were not captured, as `/proc` showed them.
    outside: &'a [OtherProcess],
    /// Threads that wait for a process.
    nodes: Vec<NodeJson>,
    /// Each wait of a thread for a process.
    edges: Vec<EdgeJson<'a>>,
    findings: Vec<FindingJson<'a>>,
    /// Reports whose processes' descriptors are not known (cores): what is not seen
    /// between them, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    unseen: Option<UnseenJson<'a>>,
    /// What happened to the set while it was captured, in words.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

#[derive(Serialize)]
struct UnseenJson<'a> {
    reports: &'a [usize],
    text: String,
}

#[derive(Serialize)]
struct CapturedJson<'a> {
    report: usize,
    pid: Option<u32>,
    ppid: Option<u32>,
    command: Option<&'a str>,
}

#[derive(Serialize)]
struct NodeJson {
    /// `PID.TID`.
    id: String,
    report: usize,
    thread: usize,
    pid: Option<u32>,
    tid: Option<u64>,
}

#[derive(Serialize)]
struct EdgeJson<'a> {
    /// The waiting thread's node id.
    from: String,
    /// The process waited for.
    to_pid: u32,
    /// Its report, when captured.
    to_report: Option<usize>,
    tie: &'a Tie,
    /// The wait in words.
    text: String,
}

#[derive(Serialize)]
struct FindingJson<'a> {
    kind: SetKind,
    severity: Severity,
    evidence: Grade,
    signature: &'a str,
    /// Indexes into `edges`.
    edges: &'a [usize],
    /// Waits for a child on the cycle from outside it (indexes into `edges`).
    chain: &'a [usize],
    /// The stuck child's own finding: `{report, finding}` (indexes into `reports` and its
    /// `findings`).
    attached: &'a [crate::analyze::cross_process::Attached],
    title: String,
    explanation: String,
    steps: Vec<String>,
    suggestion: Option<String>,
}

fn node_id(set: Set<'_>, p: &Party) -> (String, usize, usize) {
    let Party::Thread { process, thread } = *p;
    let snap = &set.snapshots[process];
    let tid = snap.threads[thread]
        .tid
        .map_or_else(|| format!("t{thread}"), |t| t.to_string());
    (format!("{}.{tid}", snap.pid.unwrap_or(0)), process, thread)
}

/// The set as JSON.
pub fn processes<'a>(set: Set<'a>) -> ProcessesJson<'a> {
    let a = set.analysis;
    let mut nodes: Vec<NodeJson> = Vec::new();
    for e in &a.edges {
        let (id, report, thread) = node_id(set, &e.from);
        if !nodes.iter().any(|n| n.id == id) {
            let snap = &set.snapshots[report];
            nodes.push(NodeJson {
                id,
                report,
                thread,
                pid: snap.pid,
                tid: snap.threads[thread].tid,
            });
        }
    }
    ProcessesJson {
        unseen: super::set::unseen(set).map(|text| UnseenJson {
            reports: &a.unseen,
            text,
        }),
        notes: set.notes,
        version: VERSION,
        captured: (set.snapshots.iter().enumerate())
            .map(|(report, s)| CapturedJson {
                report,
                pid: s.pid,
                ppid: s.process.as_ref().and_then(|p| p.ppid),
                command: s.process.as_ref().and_then(|p| p.command.as_deref()),
            })
            .collect(),
        outside: &a.outside,
        nodes,
        edges: (a.edges.iter())
            .map(|e| EdgeJson {
                from: node_id(set, &e.from).0,
                to_pid: e.to,
                to_report: crate::analyze::cross_process::SetAnalysis::captured(
                    set.snapshots,
                    e.to,
                ),
                tie: &e.tie,
                text: processes::step(set.snapshots, a, e),
            })
            .collect(),
        findings: (a.findings.iter())
            .map(|f| {
                let told = processes::finding(set.snapshots, set.analyses, a, f);
                FindingJson {
                    kind: f.kind,
                    severity: f.severity,
                    evidence: f.grade,
                    signature: &f.signature,
                    edges: &f.edges,
                    chain: &f.chain,
                    attached: &f.attached,
                    title: told.title,
                    explanation: told.explanation,
                    steps: told.steps,
                    suggestion: told.suggestion,
                }
            })
            .collect(),
    }
}
