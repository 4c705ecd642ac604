//! The human report: the verdict first, then each finding step by step with the frames that
//! prove it and its threads' stacks (the frames that matter), then the threads (alike ones
//! grouped), then what could not be read, (with `-v` every thread's frames,) and the verdict
//! again as the last line, so a short terminal still shows it. Frames whose symbols are
//! untrusted (their object changed after the process started) are marked where they are shown.

use super::narrate::{self, title};
use super::stacks::{render_key_frames, render_stacks};
use super::{
    grade_word, headline, more_steps, severity_word, shown_steps, single_threads, Headline, Report,
    TextLook,
};
use crate::analyze::{group_threads, Severity, Verdict};
use crate::sanitize::clean;
use std::io::Write;

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Renders one report; `across`: what a finding over the set of processes says of this one,
/// said under its verdict.
pub fn render(
    r: &Report,
    look: TextLook,
    with_origin: bool,
    across: Option<String>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let st = Style { on: look.color };
    let snap = r.snapshot;
    let a = r.analysis;
    if with_origin {
        writeln!(
            out,
            "{}",
            st.paint("1", &format!("== {}", clean(&snap.origin)))
        )?;
    }
    let deadlocks = a
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Deadlock)
        .count();
    let verdict = match headline(a) {
        Headline::Deadlock(f) => st.paint("1;31", &format!("DEADLOCK: {}", clean(&title(snap, f)))),
        Headline::Stopped(f) => st.paint("1;31", &format!("STOPPED: {}", clean(&title(snap, f)))),
        Headline::Stall(f) => st.paint("1;31", &format!("STALL: {}", clean(&title(snap, f)))),
        Headline::Warning(f) => st.paint(
            "1;33",
            &format!("no deadlock proven, but: {}", clean(&title(snap, f))),
        ),
        Headline::Clean if a.coverage.whole => st.paint("1;32", "no deadlock found"),
        // Part of the process is missing (a truncated core, a cut dump): what was read is
        // clean, which decides nothing about the rest.
        Headline::Clean => st.paint("1;33", &narrate::coverage::undecidable(snap)),
    };
    writeln!(out, "{verdict}")?;
    if let Some(across) = across {
        writeln!(out, "{}", st.paint("1;31", &across))?;
    }
    let unidentified = snap
        .threads
        .iter()
        .filter(|t| t.tid.is_none() && t.debugger_id.is_none())
        .count();
    let mut summary = format!(
        "{} thread(s) from {} ({}{})",
        snap.threads.len(),
        clean(&snap.origin),
        snap.producer,
        if a.coverage.whole {
            ", all threads"
        } else {
            ", not all threads shown"
        }
    );
    if unidentified > 0 {
        summary.push_str(&format!(", {unidentified} unidentified"));
    }
    if deadlocks > 1 {
        summary.push_str(&format!("; {deadlocks} deadlocks"));
    }
    writeln!(out, "{summary}")?;
    if !a.coverage.whole {
        let why = narrate::coverage::gaps(snap, &a.coverage);
        writeln!(out, "not the whole process: {}", clean(&why))?;
        if a.verdict() == Verdict::Undecidable {
            let record = narrate::coverage::record_instead(snap);
            writeln!(out, "to decide, {}", clean(&record))?;
        }
    }
    for rt in &a.runtimes {
        writeln!(out, "runtime: {}", clean(&narrate::runtime(rt)))?;
    }
    for (n, f) in a.findings.iter().enumerate() {
        writeln!(out)?;
        let color = match f.severity {
            Severity::Deadlock => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1",
        };
        let head = format!(
            "[{}] {} ({}, evidence: {})",
            n + 1,
            f.kind.as_str(),
            severity_word(f.severity),
            grade_word(f.confidence)
        );
        writeln!(out, "{}  signature {}", st.paint(color, &head), f.signature)?;
        let told = narrate::finding_shown(snap, f);
        writeln!(out, "    {}", clean(&told.title))?;
        writeln!(out, "    {}", clean(&told.explanation))?;
        let (steps, hidden) = shown_steps(f);
        for (k, s) in steps.iter().enumerate() {
            let grade = s
                .grade
                .map(|g| format!(" [{}]", grade_word(g)))
                .unwrap_or_default();
            let doubt = super::locate::step_frame(snap, s)
                .filter(|f| f.untrusted.is_some())
                .map(|_| " (symbols untrusted: see notes)")
                .unwrap_or_default();
            writeln!(
                out,
                "    {:>2}. {}{}{}",
                k + 1,
                clean(&told.steps[k]),
                grade,
                doubt
            )?;
        }
        if hidden > 0 {
            writeln!(out, "        {}", more_steps(hidden))?;
        }
        render_key_frames(snap, f, look.every_frame, "    ", out)?;
        if let Some(fix) = &told.suggestion {
            writeln!(out, "    {} {}", st.paint("1", "fix:"), clean(fix))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", st.paint("1", "threads:"))?;
    for g in group_threads(snap, a, &single_threads(a)) {
        let who = if g.threads.len() > 1 {
            format!("{} × {}", g.threads.len(), g.name)
        } else {
            g.name.clone()
        };
        writeln!(
            out,
            "  {}: {}{}",
            clean(&who),
            clean(&narrate::state(snap, &g.state)),
            untrusted_note(snap, &g.threads)
        )?;
    }
    if !a.claims.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", st.paint("1", "the runtime's own verdict:"))?;
        for c in &a.claims {
            let claim = &snap.claims[c.claim];
            let verdict = narrate::claim(&c.verdict);
            writeln!(out, "  \"{}\": {}", clean(&claim.text), clean(&verdict))?;
        }
    }
    if !snap.diagnostics.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", st.paint("1", "notes:"))?;
        for d in &snap.diagnostics {
            match d.line {
                Some(l) => writeln!(out, "  line {l}: {}", clean(&d.message))?,
                None => writeln!(out, "  {}", clean(&d.message))?,
            }
        }
    }
    if look.every_frame {
        render_stacks(&snap.threads, out)?;
    }
    // The verdict again, last: on a short terminal it is what stays in view.
    writeln!(out)?;
    writeln!(out, "{verdict}")?;
    Ok(())
}

/// ` (frames in X: symbols untrusted)` when frames of `threads` come from objects whose files
/// changed after the process started, naming those objects; else nothing.
fn untrusted_note(snap: &crate::model::Snapshot, threads: &[usize]) -> String {
    let mut modules: Vec<&str> = Vec::new();
    let frames = threads
        .iter()
        .filter_map(|&t| snap.threads.get(t))
        .flat_map(|t| &t.frames);
    for f in frames.filter(|f| f.untrusted.is_some()) {
        let m = f.module.as_deref().unwrap_or("?");
        if !modules.contains(&m) {
            modules.push(m);
        }
    }
    if modules.is_empty() {
        return String::new();
    }
    format!(
        " (frames in {}: symbols untrusted, see notes)",
        clean(&modules.join(", "))
    )
}
