//! SARIF 2.1.0 for code-scanning uploads: one run (every input's findings together, since code
//! scanning wants one run per tool), one rule per finding kind that occurs, one result per
//! finding at the source line of its first step that has one (else of the nearest caller of a
//! step that has one, since code scanning wants a location), the other steps as related
//! locations, and the finding's signature as the partial fingerprint so the same hang is the
//! same alert across runs. A set's notes (a process that exited during the capture) are the
//! run's invocation's `toolExecutionNotifications`. Built from serde structs, like the JSON report; untrusted text is
//! cleaned, paths are percent-encoded into URI references.

use super::locate::{place_frame, reached_from, step_source, SourceLine};
use super::{grade_word, shown_steps, Report, Set};
use crate::analyze::{FindingKind, Severity};
use crate::model::Frame;
use crate::sanitize::clean;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The partial fingerprint's name; bump the version if signatures ever change meaning.
const FINGERPRINT: &str = "hangscan/v1";

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    invocations: Vec<Invocation>,
    results: Vec<SarifResult>,
}

/// The run's invocation, which carries what happened while hangscan ran (a set's notes) as
/// `toolExecutionNotifications`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Message,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Message,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<Location>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    properties: Properties,
}

/// What SARIF has no field for: which input, how strong the evidence.
#[derive(Serialize)]
struct Properties {
    origin: String,
    evidence: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Message>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    fully_qualified_name: String,
    kind: &'static str,
}

pub fn render(reports: &[Report], set: Option<Set>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut kinds: Vec<FindingKind> = Vec::new();
    let mut results = Vec::new();
    for r in reports {
        for f in &r.analysis.findings {
            let rule_index = match kinds.iter().position(|&k| k == f.kind) {
                Some(i) => i,
                None => {
                    kinds.push(f.kind);
                    kinds.len() - 1
                }
            };
            let snap = r.snapshot;
            let told = super::narrate::finding_shown(snap, f);
            let mut placed = shown_steps(f).0.iter().enumerate().filter_map(|(k, s)| {
                let frame = place_frame(snap, s)?;
                step_source(snap, s).map(|src| (k, s, frame, src))
            });
            // Code scanning needs a location: with no step at a source line, the nearest
            // caller of a step that has one.
            let first = placed
                .next()
                .map(|(_, _, frame, src)| (frame, src))
                .or_else(|| {
                    f.steps
                        .iter()
                        .find_map(|s| reached_from(snap, r.analysis, s))
                });
            let mut text = clean(&told.title);
            if let Some(fix) = &told.suggestion {
                text = format!("{}. Fix: {}", text.trim_end_matches('.'), clean(fix));
            }
            results.push(SarifResult {
                rule_id: f.kind.as_str(),
                rule_index,
                level: level(f.severity),
                message: Message { text },
                locations: first
                    .map(|(frame, src)| location(frame, src, None))
                    .into_iter()
                    .collect(),
                related_locations: placed
                    .map(|(k, _, frame, src)| location(frame, src, Some((k, &told.steps[k]))))
                    .collect(),
                partial_fingerprints: BTreeMap::from([(FINGERPRINT, f.signature.clone())]),
                properties: Properties {
                    origin: clean(&r.snapshot.origin),
                    evidence: grade_word(f.confidence),
                },
            });
        }
    }
    let mut rules: Vec<Rule> = kinds
        .iter()
        .map(|&k| Rule {
            id: k.as_str(),
            short_description: Message {
                text: super::narrate::kind(k).to_string(),
            },
        })
        .collect();
    let mut invocations = Vec::new();
    if let Some(set) = set {
        set_results(set, &mut rules, &mut results);
        let notes = super::set::notes(set);
        if !notes.is_empty() {
            invocations.push(Invocation {
                execution_successful: true,
                tool_execution_notifications: (notes.iter())
                    .map(|n| Notification {
                        level: "note",
                        message: Message { text: clean(n) },
                    })
                    .collect(),
            });
        }
    }
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "hangscan",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: Some(env!("CARGO_PKG_REPOSITORY")).filter(|u| !u.is_empty()),
                    rules,
                },
            },
            invocations,
            results,
        }],
    };
    crate::sanitize::write_json(&mut *out, &log)?;
    writeln!(out)
}

/// The findings that span processes: results with no source line (none shows them), their
/// rules added after the processes' own.
fn set_results(set: Set, rules: &mut Vec<Rule>, results: &mut Vec<SarifResult>) {
    for f in &set.analysis.findings {
        let id = f.kind.as_str();
        let rule_index = rules.iter().position(|r| r.id == id).unwrap_or_else(|| {
            let told =
                super::narrate::processes::finding(set.snapshots, set.analyses, set.analysis, f);
            rules.push(Rule {
                id,
                short_description: Message {
                    text: clean(&told.explanation),
                },
            });
            rules.len() - 1
        });
        let told = super::narrate::processes::finding(set.snapshots, set.analyses, set.analysis, f);
        let mut text = format!("{}: {}", clean(&told.title), clean(&told.steps.join("; ")));
        if let Some(fix) = &told.suggestion {
            text = format!("{text}. Fix: {}", clean(fix));
        }
        results.push(SarifResult {
            rule_id: id,
            rule_index,
            level: level(f.severity),
            message: Message { text },
            locations: Vec::new(),
            related_locations: Vec::new(),
            partial_fingerprints: BTreeMap::from([(FINGERPRINT, f.signature.clone())]),
            properties: Properties {
                origin: "processes".into(),
                evidence: grade_word(f.grade),
            },
        });
    }
}

/// A frame's place: its source line, its function, and for a related location the step's
/// number and words.
fn location(frame: &Frame, src: SourceLine, step: Option<(usize, &str)>) -> Location {
    Location {
        id: step.map(|(k, _)| k),
        physical_location: PhysicalLocation {
            artifact_location: ArtifactLocation { uri: uri(src.file) },
            region: Region {
                start_line: src.line,
            },
        },
        logical_locations: frame
            .function
            .as_deref()
            .map(|name| LogicalLocation {
                fully_qualified_name: clean(name),
                kind: "function",
            })
            .into_iter()
            .collect(),
        message: step.map(|(_, text)| Message { text: clean(text) }),
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Deadlock => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A path as printed, made a URI reference: cleaned, `\` as `/`, and every byte outside
/// RFC 3986's unreserved and path characters percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in clean(path).replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_become_uri_references() {
        assert_eq!(super::uri("src/a b.c"), "src/a%20b.c");
        assert_eq!(super::uri("C:\\x\\<y>%.c"), "C:/x/%3Cy%3E%25.c");
        assert_eq!(super::uri("é.rs"), "%C3%A9.rs");
    }
}
