//! JUnit XML, so a hang shows up in CI dashboards as a failed test: one test case per deadlock
//! or warning finding, failing with the finding's steps as its text, and one passing case
//! ("no deadlock found") per input without a deadlock or stall, so a clean run shows green;
//! a set's notes (a process that exited during the capture) as the suite's `<system-out>`.
//! Written by hand through one escaping function: every piece of text, trusted or not, goes
//! through [`xml`], which cleans it, drops what XML 1.0 forbids and escapes `& < > " '`.

use super::locate::step_source;
use super::narrate::{processes, title};
use super::{grade_word, more_steps, severity_word, shown_steps, Report, Set};
use crate::analyze::{Finding, Severity, Verdict};
use crate::model::Snapshot;
use crate::sanitize::clean;
use std::io::Write;

/// One `<testcase>`: its class (the input it is about), its name, and its failure if it failed.
struct Case {
    class: String,
    name: String,
    failure: Option<Failure>,
}

/// A failed case's failure: its message, type and body (escaped).
struct Failure {
    message: String,
    kind: &'static str,
    text: String,
}

pub fn render(reports: &[Report], set: Option<Set>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cases: Vec<Case> = set.map(set_cases).unwrap_or_default();
    let notes = set.map(super::set::notes).unwrap_or_default();
    for r in reports {
        let class = format!("hangscan.{}", input_name(r.snapshot));
        for f in &r.analysis.findings {
            if f.severity != Severity::Info {
                cases.push(Case {
                    class: class.clone(),
                    name: format!("{}: {}", f.kind.as_str(), title(r.snapshot, f)),
                    failure: Some(Failure {
                        message: title(r.snapshot, f),
                        kind: f.kind.as_str(),
                        text: failure_text(r.snapshot, f),
                    }),
                });
            }
        }
        let clean = match r.analysis.verdict() {
            Verdict::NoDeadlock => Some("no deadlock found".to_string()),
            Verdict::Undecidable => Some(super::narrate::coverage::undecidable(r.snapshot)),
            _ => None,
        };
        if let Some(name) = clean {
            cases.push(Case {
                class,
                name,
                failure: None,
            });
        }
    }
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="hangscan" tests="{}" failures="{failures}" errors="0">"#,
        cases.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="hangscan" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
        cases.len()
    )?;
    for c in &cases {
        let open = format!(
            r#"    <testcase classname="{}" name="{}""#,
            xml(&c.class),
            xml(&c.name)
        );
        match &c.failure {
            None => writeln!(out, "{open}/>")?,
            Some(f) => {
                writeln!(out, "{open}>")?;
                writeln!(
                    out,
                    r#"      <failure message="{}" type="{}">{}</failure>"#,
                    xml(&f.message),
                    f.kind,
                    f.text
                )?;
                writeln!(out, "    </testcase>")?;
            }
        }
    }
    if !notes.is_empty() {
        let lines: Vec<String> = notes.iter().map(|n| format!("note: {}", xml(n))).collect();
        writeln!(out, "    <system-out>{}</system-out>", lines.join("\n"))?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// The findings that span processes, a failed case each.
fn set_cases(set: Set) -> Vec<Case> {
    let a = set.analysis;
    (a.findings.iter())
        .filter(|f| f.severity != Severity::Info)
        .map(|f| {
            let told = processes::finding(set.snapshots, set.analyses, a, f);
            let mut lines = vec![
                format!(
                    "{} ({}, evidence: {}), signature {}",
                    f.kind.as_str(),
                    severity_word(f.severity),
                    grade_word(f.grade),
                    f.signature
                ),
                xml(&told.explanation),
            ];
            let steps = told.steps.iter().enumerate();
            lines.extend(steps.map(|(k, s)| format!("{:>2}. {}", k + 1, xml(s))));
            lines.extend(
                told.suggestion
                    .as_ref()
                    .map(|fix| format!("fix: {}", xml(fix))),
            );
            Case {
                class: "hangscan.processes".into(),
                name: format!("{}: {}", f.kind.as_str(), told.title),
                failure: Some(Failure {
                    message: told.title,
                    kind: f.kind.as_str(),
                    text: lines.join("\n"),
                }),
            }
        })
        .collect()
}

/// What names an input: its origin, else its pid, else `stdin`.
fn input_name(snap: &Snapshot) -> String {
    match (snap.origin.as_str(), snap.pid) {
        ("" | "-", Some(pid)) => format!("pid {pid}"),
        ("" | "-", None) => "stdin".into(),
        (origin, _) => origin.to_string(),
    }
}

/// The failure's body, already escaped: severity and evidence, the explanation, the steps
/// with their source lines, the fix.
fn failure_text(snap: &Snapshot, f: &Finding) -> String {
    let told = super::narrate::finding_shown(snap, f);
    let mut lines = vec![
        format!(
            "{} ({}, evidence: {}), signature {}",
            xml(f.kind.as_str()),
            severity_word(f.severity),
            grade_word(f.confidence),
            xml(&f.signature)
        ),
        xml(&told.explanation),
    ];
    let (steps, hidden) = shown_steps(f);
    for (k, s) in steps.iter().enumerate() {
        let at = step_source(snap, s)
            .map(|src| format!(" at {}", xml(&src.to_string())))
            .unwrap_or_default();
        lines.push(format!("{:>2}. {}{at}", k + 1, xml(&told.steps[k])));
    }
    if hidden > 0 {
        lines.push(xml(&more_steps(hidden)));
    }
    if let Some(fix) = &told.suggestion {
        lines.push(format!("fix: {}", xml(fix)));
    }
    lines.join("\n")
}

/// Text made safe for XML content and attribute values: cleaned (no control characters, so no
/// newlines either), characters XML 1.0 forbids dropped, and `& < > " '` escaped.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{fffe}' | '\u{ffff}' => {}
            c if c < ' ' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_and_drops_what_xml_forbids() {
        assert_eq!(
            super::xml("</failure><x a='1'>&\"\u{0}\u{1b}\u{ffff}\u{202e}ok"),
            "&lt;/failure&gt;&lt;x a=&apos;1&apos;&gt;&amp;&quot;ok"
        );
    }
}
