//! Renderers at the edge: the same [`Report`] as text for a person, JSON for machines, DOT for
//! the graph, and Markdown, SARIF and JUnit for CI. The only code that formats output; it never
//! analyses.

mod buckets;
mod dot;
mod github;
mod json;
mod json_set;
mod junit;
mod locate;
mod markdown;
pub mod narrate;
mod sarif;
mod set;
mod stacks;
mod text;
mod wrap;

pub use buckets::{render_buckets, BUCKETS_SCHEMA};
pub use github::render_annotations;
pub use json::SCHEMA;

use crate::analyze::cross_process::SetAnalysis;
use crate::analyze::{Analysis, Finding, FindingKind, Grade, Severity, Step};
use crate::limits::MAX_STEPS_SHOWN;
use crate::model::Snapshot;
use std::collections::HashSet;
use std::io::Write;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person: verdict first, then each finding step by step, then grouped threads.
    Text,
    /// Versioned JSON (see docs/json-schema.md).
    Json,
    /// Graphviz DOT of the wait-for graph, cycles in red.
    Dot,
    /// GitHub-flavoured Markdown for a CI job summary or a PR comment.
    Markdown,
    /// SARIF 2.1.0 for code-scanning uploads: one result per finding, at its frames' sources.
    Sarif,
    /// JUnit XML: each deadlock or warning a failed test case, a clean input a passing one.
    Junit,
}

/// A snapshot with its analysis: what every renderer reads.
pub struct Report<'a> {
    /// The input.
    pub snapshot: &'a Snapshot,
    /// What was found.
    pub analysis: &'a Analysis,
}

/// A set of processes analysed as one: its snapshots, in the reports' order, and the waits
/// and findings that span them.
#[derive(Clone, Copy)]
pub struct Set<'a> {
    /// The snapshots (the reports' inputs, in their order).
    pub snapshots: &'a [Snapshot],
    /// Their analyses, in the same order.
    pub analyses: &'a [Analysis],
    /// What spans them.
    pub analysis: &'a SetAnalysis,
    /// What happened to the set while it was captured: a process of the tree that exited,
    /// hangscan itself left out, processes the time budget left out.
    pub notes: &'a [String],
}

/// How the text report looks; other formats ignore it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextLook {
    /// Colour (escape sequences for a terminal).
    pub color: bool,
    /// Lines are broken to fit this many columns (a terminal's width); `None`: never.
    pub width: Option<usize>,
    /// Every frame of each finding's threads, and after the report every thread's frames with
    /// how each was found (`-v`).
    pub every_frame: bool,
}

/// Renders `reports` (one per input) in `format`. `color` only applies to text.
pub fn render(
    reports: &[Report],
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let look = TextLook {
        color,
        ..TextLook::default()
    };
    render_with(reports, format, look, out)
}

/// Renders `reports` (one per input) in `format`, text as `look` says.
pub fn render_with(
    reports: &[Report],
    format: Format,
    look: TextLook,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    render_set(reports, None, format, look, out)
}

/// Renders `reports` (one per input) in `format`, text as `look` says, with `set`: what spans
/// their processes, said first (and, in text, again last).
pub fn render_set(
    reports: &[Report],
    set: Option<Set>,
    format: Format,
    look: TextLook,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let set = set.filter(|s| {
        !s.analysis.edges.is_empty() || !s.analysis.unseen.is_empty() || !s.notes.is_empty()
    });
    match format {
        Format::Text => {
            let mut text: Vec<u8> = Vec::new();
            if let Some(set) = set {
                set::text(set, &mut text)?;
            }
            for (i, r) in reports.iter().enumerate() {
                if i > 0 {
                    writeln!(text)?;
                }
                let across = set.and_then(|s| set::involved(s, i));
                text::render(r, look, reports.len() > 1, across, &mut text)?;
            }
            if let Some(head) = set.and_then(set::headline) {
                writeln!(text, "\n{head}")?;
            }
            match look.width {
                Some(width) => {
                    let text = String::from_utf8_lossy(&text);
                    out.write_all(wrap::wrap(&text, width).as_bytes())
                }
                None => out.write_all(&text),
            }
        }
        Format::Json => json::render(reports, set, out),
        Format::Dot => dot::render(reports, set, out),
        Format::Markdown => {
            if let Some(set) = set {
                set::markdown(set, out)?;
            }
            markdown::render(reports, out)
        }
        Format::Sarif => sarif::render(reports, set, out),
        Format::Junit => junit::render(reports, set, out),
    }
}

/// A report's first line: what kind of answer, and the finding that gives it.
enum Headline<'a> {
    Deadlock(&'a Finding),
    /// The whole process is stopped.
    Stopped(&'a Finding),
    Stall(&'a Finding),
    /// No deadlock proven, but a warning.
    Warning(&'a Finding),
    Clean,
}

fn headline(a: &Analysis) -> Headline<'_> {
    let kind = |k: FindingKind| a.findings.iter().find(|f| f.kind == k);
    match a.findings.iter().find(|f| f.severity == Severity::Deadlock) {
        Some(f) => Headline::Deadlock(f),
        None => match (kind(FindingKind::ProcessStopped), kind(FindingKind::Stall)) {
            (Some(f), _) => Headline::Stopped(f),
            (None, Some(f)) => Headline::Stall(f),
            (None, None) => match a.findings.iter().find(|f| f.severity == Severity::Warning) {
                Some(f) => Headline::Warning(f),
                None => Headline::Clean,
            },
        },
    }
}

/// The steps of a finding a person is shown (text, Markdown, JUnit, SARIF): the first
/// [`MAX_STEPS_SHOWN`], and how many more there are (a stall of 100 000 threads has a step
/// each; the JSON report keeps them all).
fn shown_steps(f: &Finding) -> (&[Step], usize) {
    let shown = f.steps.len().min(MAX_STEPS_SHOWN);
    (&f.steps[..shown], f.steps.len() - shown)
}

/// The line that stands for the steps not shown.
fn more_steps(hidden: usize) -> String {
    format!("… and {hidden} more steps (every step is in the JSON report)")
}

/// The threads a person sees singly in the thread list, not grouped: those of the steps shown
/// for deadlocks and warnings.
fn single_threads(a: &Analysis) -> HashSet<usize> {
    a.findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .flat_map(|f| shown_steps(f).0.iter().map(|s| s.thread))
        .collect()
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Deadlock => "deadlock",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn grade_word(g: Grade) -> &'static str {
    match g {
        Grade::Proven => "proven",
        Grade::Symbolic => "symbolic",
        Grade::Heuristic => "heuristic",
    }
}
