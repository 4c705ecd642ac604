//! `hangscan run -- CMD`: run a command as a CI job would; when it outlives `--timeout`,
//! capture every process of its tree within `--budget`, report (text on stderr, `--report
//! FILE` in `--format`, and under GitHub Actions `::error` annotations on stdout and Markdown
//! appended to `$GITHUB_STEP_SUMMARY`), end the tree and exit 124. Partial results are written rather than
//! waited for: a process not captured in time is named, not waited on.

use super::tree_notes::{exited, moved_on};
use super::{capture, emit, EXIT_TROUBLE};
use crate::analyze::cross_process::analyze_set;
use crate::analyze::{analyze, Analysis};
use crate::capture::{runner, tree};
use crate::config::{AttachConfig, Color, OutputConfig, RunConfig};
use crate::error::Result;
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use crate::report::{self, Format, Report, Set, TextLook};
use std::time::{Duration, Instant};

/// The exit status of a command that timed out (as `timeout(1)`).
pub const EXIT_TIMED_OUT: i32 = 124;
/// The exit status when the command could not be started (as a shell).
pub const EXIT_NOT_STARTED: i32 = 127;

/// Runs the command; returns the exit status. `guard_rules`: the extra rule files, whose
/// guards a capture reads too.
pub fn run(
    r: &RunConfig,
    rules: impl FnOnce() -> Result<KnowledgeBase>,
    guard_rules: &[(String, String)],
) -> i32 {
    let mut child = match runner::spawn(&r.command) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hangscan: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    let status = match child.wait(r.timeout) {
        runner::Outcome::Exited(status) => return runner::shell_status(status),
        runner::Outcome::TimedOut => EXIT_TIMED_OUT,
    };
    let began = Instant::now();
    let pids = tree::descendants(&[child.pid], Some(child.pid));
    eprintln!(
        "hangscan: the command did not finish within {}; capturing its {} process(es)",
        words(r.timeout),
        pids.len()
    );
    let attach = AttachConfig {
        pids: Vec::new(),
        tree: false,
        save: None,
        samples: crate::api::Options::default().samples,
        interval: crate::api::Options::default().interval,
        stack_bytes: r.stack_bytes,
        full_symbols: r.full_symbols,
        locals: false,
        out: OutputConfig {
            format: r.format,
            output: None,
            color: Color::Never,
            frames: false,
            width: None,
        },
    };
    let mut snapshots: Vec<Snapshot> = Vec::new();
    // What happened to the set while it was captured, said in the report itself.
    let mut notes: Vec<String> = Vec::new();
    for (i, &pid) in pids.iter().enumerate() {
        if began.elapsed() >= r.budget {
            notes.push(format!(
                "the post-mortem budget ({}) was spent; not captured: {:?}",
                words(r.budget),
                &pids[i..]
            ));
            break;
        }
        match capture(pid, &attach, guard_rules) {
            Ok(s) => snapshots.push(s),
            Err(e) if pid != child.pid && moved_on(&e) => {
                notes.push(exited(pid, &[child.pid]));
            }
            Err(e) => eprintln!("hangscan: {e}"),
        }
    }
    let left = child.end(&pids, r.grace);
    if !left.is_empty() {
        eprintln!("hangscan: still running after SIGKILL (stuck in the kernel?): {left:?}");
    }
    match rules() {
        Ok(kb) => write_reports(r, &snapshots, &notes, &kb),
        Err(e) => {
            eprintln!("hangscan: {e}");
            return EXIT_TROUBLE;
        }
    }
    status
}

/// The text report on stderr, and the report file, with `notes` on the set.
fn write_reports(r: &RunConfig, snapshots: &[Snapshot], notes: &[String], kb: &KnowledgeBase) {
    let analyses: Vec<Analysis> = snapshots.iter().map(|s| analyze(s, kb)).collect();
    let reports: Vec<Report> = snapshots
        .iter()
        .zip(&analyses)
        .map(|(snapshot, analysis)| Report { snapshot, analysis })
        .collect();
    let across = analyze_set(snapshots, &analyses, kb);
    let set = Set {
        snapshots,
        analyses: &analyses,
        analysis: &across,
        notes,
    };
    let mut err = std::io::stderr().lock();
    let look = TextLook::default();
    if let Err(e) = report::render_set(&reports, Some(set), Format::Text, look, &mut err) {
        eprintln!("hangscan: {e}");
    }
    if let Some(path) = &r.report {
        let written = emit(Some(path), |w| {
            report::render_set(&reports, Some(set), r.format, look, w)
        });
        if let Err(e) = written {
            eprintln!("hangscan: {e}");
        }
    }
    // Under GitHub Actions: annotations on the code, and the report in the job's summary.
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        let _ = report::render_annotations(&reports, &mut std::io::stdout().lock());
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&summary)
            .and_then(|mut f| {
                report::render_set(&reports, Some(set), Format::Markdown, look, &mut f)
            });
        if let Err(e) = appended {
            eprintln!(
                "hangscan: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                std::path::Path::new(&summary).display()
            );
        }
    }
}

/// A duration as a person writes it.
fn words(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 1000 != 0 => format!("{ms} ms"),
        ms if ms % 60_000 == 0 && ms > 0 => format!("{} min", ms / 60_000),
        ms => format!("{} s", ms / 1000),
    }
}
