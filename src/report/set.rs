//! The findings that span a set of processes (pipe cycles, file locks another process holds,
//! an end of file that never comes), as text and Markdown sections before the processes' own
//! reports, with the set's notes (what moved during the capture, what cores cannot show:
//! [`notes`], which DOT, SARIF and JUnit say too); JSON, DOT, SARIF and JUnit add the findings
//! in their own files.

use super::markdown::escape as md;
use super::narrate::processes;
use super::{grade_word, severity_word, Set};
use crate::analyze::cross_process::{Party, SetAnalysis};
use crate::analyze::Severity;
use crate::sanitize::clean;
use std::io::Write;

/// The set's first line: `DEADLOCK: pipe cycle ...`, or `across processes: ...` for a warning;
/// `None` without findings.
pub fn headline(set: Set) -> Option<String> {
    let a = set.analysis;
    let f = (a.findings.iter().find(|f| f.severity == Severity::Deadlock))
        .or_else(|| a.findings.first())?;
    let title = processes::title(set.snapshots, set.analyses, a, f);
    Some(match f.severity {
        Severity::Deadlock => format!("DEADLOCK: {}", clean(&title)),
        _ => format!("across processes: {}", clean(&title)),
    })
}

/// What a set of cores (or dumps) cannot show between its processes; `None` when all show it.
pub fn unseen(set: Set) -> Option<String> {
    let pids: Vec<String> = (set.analysis.unseen.iter())
        .filter_map(|&i| set.snapshots[i].pid.map(|p| p.to_string()))
        .collect();
    (!pids.is_empty()).then(|| {
        format!(
            "pid {}: cores carry no descriptors, so pipes, sockets, ptys, eventfds, file locks and \
             waits for children between these processes are not seen (what memory proves, a \
             process-shared mutex's owner, is); `hangscan attach --tree PID` on the live \
             processes would show them",
            pids.join(", pid ")
        )
    })
}

/// The set's notes, every format's: what cores cannot show between the processes, then what
/// moved during the capture (untrusted text: each renderer cleans it).
pub fn notes(set: Set) -> Vec<String> {
    unseen(set)
        .into_iter()
        .chain(set.notes.iter().cloned())
        .collect()
}

/// What the set's deadlocks say of process `report`, when one involves it: `but across
/// processes: pipe-cycle (above)`.
pub fn involved(set: Set, report: usize) -> Option<String> {
    let a = set.analysis;
    let f = a.findings.iter().find(|f| {
        let edges = f.edges.iter().chain(&f.chain).map(|&e| &a.edges[e]);
        f.severity == Severity::Deadlock
            && edges.into_iter().any(|e| {
                let Party::Thread { process, .. } = e.from;
                process == report || SetAnalysis::captured(set.snapshots, e.to) == Some(report)
            })
    })?;
    Some(format!(
        "but across processes: {} (the finding above, under == processes)",
        f.kind.as_str()
    ))
}

/// The text section: the headline, then each finding step by step.
pub fn text(set: Set, out: &mut dyn Write) -> std::io::Result<()> {
    let head = headline(set);
    let notes = notes(set);
    if head.is_none() && notes.is_empty() {
        return Ok(());
    }
    let pids: Vec<String> = (set.snapshots.iter())
        .filter_map(|s| s.pid.map(|p| p.to_string()))
        .collect();
    writeln!(out, "== processes {}", pids.join(", "))?;
    if let Some(head) = head {
        writeln!(out, "{head}")?;
    }
    for note in &notes {
        writeln!(out, "note: {}", clean(note))?;
    }
    for (n, f) in set.analysis.findings.iter().enumerate() {
        let told = processes::finding(set.snapshots, set.analyses, set.analysis, f);
        writeln!(out)?;
        writeln!(
            out,
            "[{}] {} ({}, evidence: {})",
            n + 1,
            f.kind.as_str(),
            severity_word(f.severity),
            grade_word(f.grade)
        )?;
        writeln!(out, "    {}", clean(&told.title))?;
        writeln!(out, "    {}", clean(&told.explanation))?;
        for (k, s) in told.steps.iter().enumerate() {
            writeln!(out, "    {:>2}. {}", k + 1, clean(s))?;
        }
        if let Some(fix) = &told.suggestion {
            writeln!(out, "    fix: {}", clean(fix))?;
        }
    }
    writeln!(out)
}

/// The Markdown section.
pub fn markdown(set: Set, out: &mut dyn Write) -> std::io::Result<()> {
    for note in notes(set) {
        writeln!(out, "> {}\n", md(&note))?;
    }
    let Some(head) = headline(set) else {
        return Ok(());
    };
    writeln!(out, "## Across processes: {}\n", md(&head))?;
    for f in &set.analysis.findings {
        let told = processes::finding(set.snapshots, set.analyses, set.analysis, f);
        writeln!(
            out,
            "### `{}` ({}, evidence: {})\n",
            f.kind.as_str(),
            severity_word(f.severity),
            grade_word(f.grade)
        )?;
        writeln!(out, "{}\n\n{}\n", md(&told.title), md(&told.explanation))?;
        for (k, s) in told.steps.iter().enumerate() {
            writeln!(out, "{}. {}", k + 1, md(s))?;
        }
        if let Some(fix) = &told.suggestion {
            writeln!(out, "\n**Fix:** {}", md(fix))?;
        }
        writeln!(out)?;
    }
    Ok(())
}
