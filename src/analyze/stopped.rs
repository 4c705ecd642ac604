//! Stopped processes and threads: a process stopped by a stop signal (SIGSTOP, Ctrl-Z) or held
//! by a tracer runs nothing, whatever its stacks show, so the finding says so and what resumes
//! it. The facts are the kernel's (`T`/`t` and `TracerPid`, read before hangscan's own stop).

use super::classify::Facts;
use super::explain::{frame_ref, stop_cause};
use super::graph::Grade;
use super::{Finding, FindingKind, Severity, Step};
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
    let cause = if stopped.iter().all(|(_, by)| *by == first) {
        stop_cause(first)
    } else {
        "stop signals and tracers".into()
    };
    let process = snap
        .pid
        .map_or_else(|| "the process".to_string(), |p| format!("process {p}"));
    let title = if whole {
        format!("{process} is stopped by {cause}: none of its threads runs until it is resumed")
    } else {
        format!(
            "{} of {} threads stopped by {cause}: they run nothing until resumed",
            stopped.len(),
            snap.threads.len()
        )
    };
    let explanation = if whole {
        "The kernel has stopped the whole process, so it does not answer whatever its threads \
         were doing; the stacks show where each one was when it stopped."
    } else {
        "A stopped thread runs nothing: whatever waits for it (a lock it holds, work it \
         should do) waits until it is resumed."
    };
    let resume_signal = match snap.pid {
        Some(p) => format!("`kill -CONT {p}`"),
        None => "`kill -CONT PID`".into(),
    };
    let suggestion = if by_signal {
        format!(
            "Resume it with {resume_signal} (or `fg` in the shell where Ctrl-Z stopped it), \
             and find out who sent the stop signal (job control, a supervisor, a script)."
        )
    } else {
        format!(
            "The tracer resumes it when it continues or detaches (`continue` or `detach` in \
             a debugger), or when it exits; a stop signal's part ends with {resume_signal}."
        )
    };
    let steps = stopped
        .iter()
        .map(|&(t, by)| {
            let th = &snap.threads[t];
            let at = facts[t]
                .top
                .map(|i| format!(", in {}", frame_ref(th, i)))
                .unwrap_or_default();
            Step {
                thread: t,
                frame: facts[t].top,
                text: format!("{} is stopped by {}{at}", th.label(), stop_cause(by)),
                grade: Some(Grade::Proven),
            }
        })
        .collect();
    Some(Finding {
        kind: if whole {
            FindingKind::ProcessStopped
        } else {
            FindingKind::ThreadStopped
        },
        severity: Severity::Warning,
        confidence: Grade::Proven,
        threads: stopped.iter().map(|&(t, _)| t).collect(),
        title,
        explanation: explanation.into(),
        steps,
        suggestion: Some(suggestion),
        signature: String::new(),
    })
}
