//! The CI report formats on real dumps and on hostile text: SARIF checked against the 2.1.0
//! structure, JUnit parsed as XML with its counts matched to the findings, Markdown's table and
//! escaping, and the binary's `--format markdown|sarif|junit`.

use hangscan::analyze::{analyze, Analysis, Severity, Verdict};
use hangscan::dump::parse_dump;
use hangscan::knowledge::KnowledgeBase;
use hangscan::model::Snapshot;
use hangscan::report::{render, Format, Report};
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

const SEED: &str = "fixtures/corpus/seed/rr-nebula-sigterm-selfjoin.txt";

/// Deadlocks, a stall, and clean dumps.
const GDB: &[&str] = &[
    "cpp_abba.btfull.txt",
    "c_join_cycle.bt.txt",
    "cpp_pool_starvation.bt.txt",
    "c_abba.btfull.txt",
    "c_io_and_busy.bt.txt",
    "cpp_idle_pool.bt.txt",
];

/// Everything a report must never let through: markup, a closing tag, a CDATA end, a terminal
/// escape, a bidi override, and characters XML 1.0 forbids.
const HOSTILE: &str =
    "</failure><x>|a|b <script>alert(1)</script> `x` *y* _z_ [l](u) &amp; ]]> \u{1b}[31m\u{202e}\u{0}\u{7}\u{ffff}";

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn inputs() -> Vec<Snapshot> {
    std::iter::once(SEED.to_string())
        .chain(GDB.iter().map(|f| format!("fixtures/dumps/gdb/{f}")))
        .map(|rel| {
            let raw = std::fs::read(path(&rel)).unwrap();
            parse_dump(&raw, &rel, None).unwrap()
        })
        .collect()
}

fn rendered(snaps: &[Snapshot], analyses: &[Analysis], format: Format) -> String {
    let reports: Vec<Report> = snaps
        .iter()
        .zip(analyses)
        .map(|(snapshot, analysis)| Report { snapshot, analysis })
        .collect();
    let mut out = Vec::new();
    render(&reports, format, false, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn analysed(snaps: &[Snapshot]) -> Vec<Analysis> {
    let kb = KnowledgeBase::builtin();
    snaps.iter().map(|s| analyze(s, &kb)).collect()
}

/// Names SARIF 2.1.0 allows on each object hangscan writes (the schema closes them with
/// `additionalProperties: false`), to catch a misspelt or misplaced property.
fn only(v: &Value, what: &str, allowed: &[&str]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object"));
    for k in obj.keys() {
        assert!(allowed.contains(&k.as_str()), "{what} has `{k}`");
    }
}

fn text_of(v: &Value, what: &str) -> String {
    only(
        v,
        what,
        &["text", "markdown", "id", "arguments", "properties"],
    );
    let t = v["text"].as_str().unwrap_or_else(|| panic!("{what}.text"));
    assert!(!t.is_empty(), "{what}.text is empty");
    t.to_string()
}

fn check_location(loc: &Value, what: &str) {
    only(
        loc,
        what,
        &[
            "id",
            "physicalLocation",
            "logicalLocations",
            "message",
            "annotations",
            "relationships",
            "properties",
        ],
    );
    let phys = &loc["physicalLocation"];
    only(
        phys,
        "physicalLocation",
        &[
            "address",
            "artifactLocation",
            "region",
            "contextRegion",
            "properties",
        ],
    );
    let art = &phys["artifactLocation"];
    only(
        art,
        "artifactLocation",
        &["uri", "uriBaseId", "index", "description", "properties"],
    );
    let uri = art["uri"].as_str().expect("artifactLocation.uri");
    assert!(
        !uri.is_empty() && uri.bytes().all(|b| b.is_ascii_graphic()),
        "uri `{uri}` is not a URI reference"
    );
    only(
        &phys["region"],
        "region",
        &[
            "startLine",
            "startColumn",
            "endLine",
            "endColumn",
            "charOffset",
            "charLength",
            "byteOffset",
            "byteLength",
            "snippet",
            "message",
            "sourceLanguage",
            "properties",
        ],
    );
    assert!(phys["region"]["startLine"].as_u64().expect("startLine") >= 1);
    if let Some(id) = loc.get("id") {
        assert!(id.as_u64().is_some(), "{what}.id is a non-negative integer");
    }
    for l in loc["logicalLocations"].as_array().into_iter().flatten() {
        only(
            l,
            "logicalLocation",
            &[
                "name",
                "index",
                "fullyQualifiedName",
                "decoratedName",
                "parentIndex",
                "kind",
                "properties",
            ],
        );
        assert!(l["fullyQualifiedName"].is_string());
    }
    if let Some(m) = loc.get("message") {
        text_of(m, "location.message");
    }
}

/// The SARIF 2.1.0 structure: required properties, closed objects, rule references, levels,
/// locations. Returns the number of results.
fn check_sarif(doc: &str) -> usize {
    let v: Value = serde_json::from_str(doc).expect("SARIF is JSON");
    only(
        &v,
        "sarifLog",
        &[
            "$schema",
            "version",
            "runs",
            "inlineExternalProperties",
            "properties",
        ],
    );
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(
        v["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "one run, as code scanning wants");
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    only(
        &run["tool"],
        "tool",
        &["driver", "extensions", "properties"],
    );
    only(
        driver,
        "driver",
        &[
            "name",
            "version",
            "semanticVersion",
            "informationUri",
            "rules",
            "fullName",
            "organization",
            "properties",
        ],
    );
    assert_eq!(driver["name"], "hangscan");
    assert!(driver["version"].is_string());
    let rules = driver["rules"].as_array().expect("rules");
    let mut ids = HashSet::new();
    for r in rules {
        only(
            r,
            "rule",
            &[
                "id",
                "name",
                "shortDescription",
                "fullDescription",
                "helpUri",
                "help",
                "defaultConfiguration",
                "properties",
            ],
        );
        assert!(
            ids.insert(r["id"].as_str().expect("rule id")),
            "rule ids are unique"
        );
        text_of(&r["shortDescription"], "rule.shortDescription");
    }
    let results = run["results"].as_array().expect("results");
    let mut used = HashSet::new();
    for res in results {
        only(
            res,
            "result",
            &[
                "ruleId",
                "ruleIndex",
                "level",
                "kind",
                "message",
                "locations",
                "relatedLocations",
                "partialFingerprints",
                "fingerprints",
                "properties",
            ],
        );
        let rule = res["ruleId"].as_str().expect("ruleId");
        assert!(ids.contains(rule), "ruleId {rule} is not a rule");
        used.insert(rule);
        let index = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], rule);
        assert!(
            ["none", "note", "warning", "error"].contains(&res["level"].as_str().expect("level")),
            "{}",
            res["level"]
        );
        text_of(&res["message"], "result.message");
        for loc in res["locations"].as_array().expect("locations") {
            check_location(loc, "location");
        }
        let related = res["relatedLocations"].as_array().map_or(&[][..], |a| a);
        let mut related_ids = HashSet::new();
        for loc in related {
            check_location(loc, "relatedLocation");
            assert!(related_ids.insert(loc["id"].as_u64().expect("related id")));
        }
        let fp = res["partialFingerprints"]
            .as_object()
            .expect("fingerprints");
        assert!(fp["hangscan/v1"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert_eq!(
        used.len(),
        rules.len(),
        "a rule per kind that occurs, no more"
    );
    results.len()
}

/// JUnit parsed as XML: the suite's counts, a failing case per deadlock or warning (typed by
/// kind), a passing case per input without a deadlock or stall.
fn check_junit(doc: &str, analyses: &[Analysis]) {
    let xml = roxmltree::Document::parse(doc).expect("JUnit is well-formed XML");
    let root = xml.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    for n in xml.descendants().filter(|n| n.is_element()) {
        assert!(
            ["testsuites", "testsuite", "testcase", "failure"].contains(&n.tag_name().name()),
            "unexpected element <{}>",
            n.tag_name().name()
        );
    }
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    let failing: Vec<&str> = analyses
        .iter()
        .flat_map(|a| &a.findings)
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.kind.as_str())
        .collect();
    let clean = analyses
        .iter()
        .filter(|a| a.verdict() == Verdict::NoDeadlock)
        .count();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), failing.len() + clean);
    for el in [root, suite] {
        assert_eq!(
            el.attribute("tests"),
            Some(cases.len().to_string().as_str())
        );
        assert_eq!(
            el.attribute("failures"),
            Some(failing.len().to_string().as_str())
        );
    }
    let failures: Vec<_> = cases
        .iter()
        .filter_map(|c| c.children().find(|n| n.has_tag_name("failure")))
        .collect();
    let types: Vec<&str> = failures
        .iter()
        .map(|f| f.attribute("type").unwrap())
        .collect();
    assert_eq!(types, failing);
    for f in &failures {
        assert!(f.attribute("message").is_some_and(|m| !m.is_empty()));
        assert!(
            f.text().is_some_and(|t| t.contains(" 1. ")),
            "steps in the body"
        );
    }
    let passing = cases
        .iter()
        .filter(|c| c.attribute("name") == Some("no deadlock found"))
        .count();
    assert_eq!(passing, clean);
    assert!(cases.iter().all(|c| c
        .attribute("classname")
        .is_some_and(|n| n.starts_with("hangscan."))));
}

/// `s` with its code spans removed (a backtick run not escaped, up to the next run as long).
fn outside_code(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' && (i == 0 || b[i - 1] != b'\\') {
            let n = b[i..].iter().take_while(|&&c| c == b'`').count();
            let fence = "`".repeat(n);
            let rest = &s[i + n..];
            let mut j = 0;
            let mut end = None;
            while let Some(k) = rest[j..].find(&fence) {
                let at = j + k;
                let run = rest[at..].bytes().take_while(|&c| c == b'`').count();
                if run == n {
                    end = Some(at);
                    break;
                }
                j = at + run;
            }
            match end {
                Some(e) => i += n + e + n,
                None => {
                    out.push_str(&fence);
                    i += n;
                }
            }
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Characters at `i` that no preceding backslash escapes.
fn unescaped(s: &str, c: char) -> usize {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len())
        .filter(|&i| {
            chars[i] == c && chars[..i].iter().rev().take_while(|&&p| p == '\\').count() % 2 == 0
        })
        .count()
}

/// Markdown: a heading per input, a table row per finding with six cells, and nothing from
/// the input read as markup or HTML outside code spans.
fn check_markdown(doc: &str, analyses: &[Analysis]) {
    let headings = doc.lines().filter(|l| l.starts_with("## ")).count();
    assert_eq!(headings, analyses.len());
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| # "))
        .collect();
    assert_eq!(
        rows.len(),
        analyses.iter().map(|a| a.findings.len()).sum::<usize>()
    );
    for row in rows {
        assert_eq!(unescaped(&outside_code(row), '|'), 7, "{row}");
    }
    for line in doc.lines() {
        let line = outside_code(line)
            .replace("<details><summary>", "")
            .replace("</summary>", "")
            .replace("</details>", "");
        assert_eq!(unescaped(&line, '<'), 0, "{line}");
        assert_eq!(unescaped(&line, '['), 0, "{line}");
    }
}

fn no_escapes_or_bidi(doc: &str, what: &str) {
    assert!(
        !doc.chars().any(|c| c == '\u{1b}'
            || c == '\u{0}'
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)),
        "{what} lets an escape or a bidi mark through"
    );
}

#[test]
fn sarif_is_sarif_2_1_0() {
    let snaps = inputs();
    let analyses = analysed(&snaps);
    let findings: usize = analyses.iter().map(|a| a.findings.len()).sum();
    assert!(findings >= 6, "the inputs have findings");
    for (s, a) in snaps.iter().zip(&analyses) {
        let n = check_sarif(&rendered(
            std::slice::from_ref(s),
            std::slice::from_ref(a),
            Format::Sarif,
        ));
        assert_eq!(n, a.findings.len(), "{}", s.origin);
    }
    let all = rendered(&snaps, &analyses, Format::Sarif);
    assert_eq!(check_sarif(&all), findings);
    // Code scanning wants a location: every finding here has one, if only a caller's.
    let v: Value = serde_json::from_str(&all).unwrap();
    for res in v["runs"][0]["results"].as_array().unwrap() {
        assert_eq!(
            res["locations"].as_array().unwrap().len(),
            1,
            "{}",
            res["message"]
        );
    }
    // The Nebula deadlock points at the handler's source line.
    let first = &v["runs"][0]["results"][0];
    assert_eq!(first["ruleId"], "self-join");
    assert_eq!(first["level"], "error");
    let phys = &first["locations"][0]["physicalLocation"];
    assert!(phys["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("SignalHandler.cpp"));
    assert_eq!(phys["region"]["startLine"], 81);
}

#[test]
fn junit_parses_and_counts_the_findings() {
    let snaps = inputs();
    let analyses = analysed(&snaps);
    for (s, a) in snaps.iter().zip(&analyses) {
        let doc = rendered(
            std::slice::from_ref(s),
            std::slice::from_ref(a),
            Format::Junit,
        );
        check_junit(&doc, std::slice::from_ref(a));
    }
    check_junit(&rendered(&snaps, &analyses, Format::Junit), &analyses);
    assert!(analyses.iter().any(|a| a.verdict() == Verdict::NoDeadlock));
}

#[test]
fn markdown_has_a_row_per_finding_and_steps_with_sources() {
    let snaps = inputs();
    let analyses = analysed(&snaps);
    let doc = rendered(&snaps, &analyses, Format::Markdown);
    check_markdown(&doc, &analyses);
    assert!(doc.starts_with("## 🔴 DEADLOCK: self-join through a signal handler"));
    assert!(doc.contains("— `/root/src/nebula/src/common/base/SignalHandler.cpp:81`"));
    assert!(doc.contains("## 🟢 No deadlock found"));
}

/// A dump whose names, functions, files and origin carry markup, tags, escapes and bidi marks,
/// with the findings' own words poisoned too: every format stays well-formed and shows it all
/// as text.
#[test]
fn hostile_text_stays_text_in_every_format() {
    let rel = "fixtures/dumps/gdb/cpp_abba.btfull.txt";
    let raw = std::fs::read(path(rel)).unwrap();
    let mut snap = parse_dump(&raw, &format!("{HOSTILE}.txt"), None).unwrap();
    for t in &mut snap.threads {
        t.name = Some(HOSTILE.into());
        for f in &mut t.frames {
            if f.file.is_some() {
                f.file = Some(format!("src/{HOSTILE}.cpp").into());
            }
        }
    }
    let mut a = analyze(&snap, &KnowledgeBase::builtin());
    assert!(a.deadlocked(), "hostile names keep the finding");
    // What the renderers read from the snapshot rather than the analysis.
    for t in &mut snap.threads {
        for f in &mut t.frames {
            f.function = Some(format!("{HOSTILE}::fn").into());
        }
    }
    // Titles, explanations and steps are said from the data, names and all; a suggestion is
    // a rule's text, which a user's rule file may fill with anything.
    for f in &mut a.findings {
        f.suggestion = Some(HOSTILE.into());
    }
    let snaps = [snap];
    let analyses = [a];

    let sarif = rendered(&snaps, &analyses, Format::Sarif);
    no_escapes_or_bidi(&sarif, "SARIF");
    assert_eq!(check_sarif(&sarif), analyses[0].findings.len());
    let v: Value = serde_json::from_str(&sarif).unwrap();
    let decoded = v.to_string();
    assert!(!decoded.contains("\\u001b") && !decoded.contains("\\u0000"));

    let junit = rendered(&snaps, &analyses, Format::Junit);
    no_escapes_or_bidi(&junit, "JUnit");
    check_junit(&junit, &analyses);
    let xml = roxmltree::Document::parse(&junit).unwrap();
    let failure = xml
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(failure
        .text()
        .unwrap()
        .contains("</failure><x>|a|b <script>"));

    let md = rendered(&snaps, &analyses, Format::Markdown);
    no_escapes_or_bidi(&md, "Markdown");
    check_markdown(&md, &analyses);
    assert!(md.contains("\\<script\\>"));

    // JSON carries names faithfully, every escape and bidi mark written as `\uXXXX`.
    let json = rendered(&snaps, &analyses, Format::Json);
    no_escapes_or_bidi(&json, "JSON");
    let v = serde_json::from_str::<Value>(&json).expect("JSON parses");
    assert_eq!(v["reports"][0]["threads"][0]["name"], HOSTILE);

    let text = rendered(&snaps, &analyses, Format::Text);
    no_escapes_or_bidi(&text, "text");
}

#[test]
fn the_binary_writes_each_ci_format() {
    let seed = path(SEED);
    for format in ["sarif", "junit", "markdown"] {
        let o = Command::new(env!("CARGO_BIN_EXE_hangscan"))
            .args(["parse", "--format", format])
            .arg(&seed)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8(o.stdout).unwrap();
        match format {
            "sarif" => assert_eq!(check_sarif(&out), 2),
            "junit" => {
                let xml = roxmltree::Document::parse(&out).unwrap();
                assert_eq!(xml.root_element().attribute("failures"), Some("2"));
            }
            _ => assert!(out.starts_with("## 🔴 DEADLOCK: self-join"), "{out}"),
        }
    }
}
