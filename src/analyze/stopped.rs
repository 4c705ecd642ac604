//! Stopped processes and threads: a process stopped by a stop signal (SIGSTOP, Ctrl-Z) or held
//! by a tracer runs nothing, whatever its stacks show, so the finding says so and what resumes
//! it. The facts are the kernel's (`T`/`t` and `TracerPid`, read before hangscan's own stop).

use super::classify::Facts;
use super::finding::{Detail, Draft, Finding, Shows, Step};
use super::graph::Grade;
use super::{FindingKind, Severity};
use crate::model::{Snapshot, StoppedBy};

/// The stopped threads as one finding: `process-stopped` when every thread of a complete
/// snapshot is stopped (the process is hung until resumed), else `thread-stopped`.
pub fn find(snap: &Snapshot, facts: &[Facts]) -> Option<Finding> {
    let stopped: Vec<(usize, &StoppedBy)> = snap
        .threads
        .iter()
        .enumerate()
        .filter_map(|(t, th)| Some((t, th.kernel.as_ref()?.stopped_by.as_ref()?)))
        .collect();
    let (_, first) = *stopped.first()?;
    let whole = snap.complete && stopped.len() == snap.threads.len();
    let by_signal = stopped.iter().all(|(_, by)| **by == StoppedBy::Signal);
    let cause = stopped
        .iter()
        .all(|(_, by)| *by == first)
        .then(|| first.clone());
    let steps = stopped
        .iter()
        .map(|&(t, by)| Step {
            thread: t,
            frame: facts[t].top,
            shows: Shows::Stopped {
                by: by.clone(),
                at: facts[t].top,
            },
            grade: Some(Grade::Proven),
        })
        .collect();
    let draft = Draft {
        kind: if whole {
            FindingKind::ProcessStopped
        } else {
            FindingKind::ThreadStopped
        },
        severity: Severity::Warning,
        confidence: Grade::Proven,
        threads: stopped.iter().map(|&(t, _)| t).collect(),
        detail: Detail::Stopped { cause, by_signal },
        steps,
        suggestion: None,
    };
    Some(draft.sign(snap))
}
