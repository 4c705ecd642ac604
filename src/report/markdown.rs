//! The Markdown report (GitHub-flavoured), for `$GITHUB_STEP_SUMMARY` and PR comments: per input
//! a heading with the verdict, a table of findings, each deadlock's or warning's steps with
//! their `file:line`, and the threads grouped. Untrusted text is cleaned and every character
//! Markdown or HTML gives meaning to is backslash-escaped, so a thread named `a|b` or `<script>`
//! is shown, never obeyed; paths go in code spans fenced longer than any backtick run inside.

use super::locate::step_source;
use super::narrate::{self, title};
use super::{
    grade_word, headline, more_steps, severity_word, shown_steps, single_threads, Headline, Report,
};
use crate::analyze::{group_threads, Severity, Verdict};
use crate::sanitize::clean;
use std::io::Write;

/// How many thread labels a table cell lists before "+N more".
const CELL_THREADS: usize = 3;

pub fn render(reports: &[Report], out: &mut dyn Write) -> std::io::Result<()> {
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        report(r, out)?;
    }
    Ok(())
}

fn report(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let snap = r.snapshot;
    let a = r.analysis;
    let head = match headline(a) {
        Headline::Deadlock(f) => format!("🔴 DEADLOCK: {}", escape(&title(snap, f))),
        Headline::Stopped(f) => format!("🔴 STOPPED: {}", escape(&title(snap, f))),
        Headline::Stall(f) => format!("🔴 STALL: {}", escape(&title(snap, f))),
        Headline::Warning(f) => format!("🟠 No deadlock proven, but: {}", escape(&title(snap, f))),
        Headline::Clean if a.coverage.whole => "🟢 No deadlock found".to_string(),
        Headline::Clean => format!("🟠 {}", escape(&narrate::coverage::undecidable(snap))),
    };
    writeln!(out, "## {head}")?;
    writeln!(out)?;
    writeln!(
        out,
        "{} thread(s) from {} ({}, {})",
        snap.threads.len(),
        code(&snap.origin),
        escape(&snap.producer),
        if a.coverage.whole {
            "all threads"
        } else {
            "not all threads shown"
        }
    )?;
    if !a.coverage.whole {
        writeln!(out)?;
        let why = narrate::coverage::gaps(snap, &a.coverage);
        writeln!(out, "Not the whole process: {}", escape(&why))?;
        if a.verdict() == Verdict::Undecidable {
            writeln!(out)?;
            let record = narrate::coverage::record_instead(snap);
            writeln!(out, "To decide, {}", escape(&record))?;
        }
    }
    if !a.findings.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "| # | kind | severity | evidence | threads | signature |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for (n, f) in a.findings.iter().enumerate() {
            let mut who: Vec<String> = f
                .threads
                .iter()
                .take(CELL_THREADS)
                .map(|&t| escape(&narrate::heading(&snap.threads[t])))
                .collect();
            if f.threads.len() > CELL_THREADS {
                who.push(format!("+{} more", f.threads.len() - CELL_THREADS));
            }
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | `{}` |",
                n + 1,
                f.kind.as_str(),
                severity_word(f.severity),
                grade_word(f.confidence),
                who.join(", "),
                f.signature
            )?;
        }
    }
    for (n, f) in a.findings.iter().enumerate() {
        if f.severity == Severity::Info {
            continue;
        }
        writeln!(out)?;
        let told = narrate::finding_shown(snap, f);
        writeln!(
            out,
            "### {}. {}: {}",
            n + 1,
            f.kind.as_str(),
            escape(&told.title)
        )?;
        writeln!(out)?;
        writeln!(out, "{}", escape(&told.explanation))?;
        writeln!(out)?;
        let (steps, hidden) = shown_steps(f);
        for (k, s) in steps.iter().enumerate() {
            let at = step_source(snap, s)
                .map(|src| format!(" — {}", code(&src.to_string())))
                .unwrap_or_default();
            let grade = s
                .grade
                .map(|g| format!(" *({})*", grade_word(g)))
                .unwrap_or_default();
            writeln!(out, "{}. {}{at}{grade}", k + 1, escape(&told.steps[k]))?;
        }
        if hidden > 0 {
            writeln!(out)?;
            writeln!(out, "{}", escape(&more_steps(hidden)))?;
        }
        if let Some(fix) = &told.suggestion {
            writeln!(out)?;
            writeln!(out, "**Fix:** {}", escape(fix))?;
        }
    }
    let groups = group_threads(snap, a, &single_threads(a));
    writeln!(out)?;
    writeln!(
        out,
        "<details><summary>Threads ({} groups)</summary>",
        groups.len()
    )?;
    writeln!(out)?;
    for g in groups {
        let count = if g.threads.len() > 1 {
            format!("**{} ×** ", g.threads.len())
        } else {
            String::new()
        };
        let state = narrate::state(snap, &g.state);
        writeln!(out, "- {count}{}: {}", escape(&g.name), escape(&state))?;
    }
    writeln!(out)?;
    writeln!(out, "</details>")
}

/// Untrusted text as Markdown that shows it literally: cleaned, then every character that
/// could start markup, an HTML tag or entity, or end a table cell backslash-escaped.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Untrusted text as a code span: cleaned (so on one line), fenced with one backtick more than
/// the longest run inside, padded when it starts or ends with a backtick.
fn code(s: &str) -> String {
    let s = clean(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::{code, escape};

    #[test]
    fn escapes_markup_and_html() {
        assert_eq!(escape("a|b <script>"), "a\\|b \\<script\\>");
        assert_eq!(
            escape("__x__ [l](u) `c`"),
            "\\_\\_x\\_\\_ \\[l\\](u) \\`c\\`"
        );
        assert_eq!(escape("\u{1b}[31mred\u{202e}"), "\\[31mred");
    }

    #[test]
    fn code_spans_outlast_backticks_inside() {
        assert_eq!(code("a.c:3"), "`a.c:3`");
        assert_eq!(code("a``b"), "```a``b```");
        assert_eq!(code("`x"), "`` `x ``");
    }
}
