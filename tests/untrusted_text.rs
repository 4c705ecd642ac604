//! Names the target chose, in every output format: a real process whose threads name
//! themselves with terminal escapes, a bidi override, invalid UTF-8 and a fake end of `/proc`'s
//! `(comm)` field (`fixtures/programs/c_hostile_names.c`), captured live and through gdb. Text
//! formats never emit the escapes or bidi marks, JSON escapes them and keeps the names, DOT,
//! Markdown, SARIF and JUnit stay well-formed, and no thread is lost or misread.

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};
use support::HungProcess;

const ESCAPES_NAME: &str = "\u{1b}[2J\u{1b}[31mred\u{202e}";

fn hangscan(args: &[&str], stdin: Option<&str>) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .spawn()
        .expect("run hangscan");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8(o.stdout).expect("every format is UTF-8");
    (o.status.code(), out)
}

/// No character a terminal or an editor would act on: controls but newline and tab, bidi
/// embeddings, overrides, isolates and marks, line separators.
fn assert_inert(doc: &str, what: &str) {
    let bad: Vec<char> = doc
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || matches!(
                    c,
                    '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{2028}' | '\u{2029}'
                )
        })
        .collect();
    assert!(bad.is_empty(), "{what} emits {bad:?}");
}

/// DOT as hangscan writes it: `digraph hangscan {`, one statement per line ending in `;`
/// whose quoted strings all close, `}`.
fn assert_dot_well_formed(doc: &str) {
    let lines: Vec<&str> = doc.lines().collect();
    assert_eq!(lines.first(), Some(&"digraph hangscan {"), "{doc}");
    assert_eq!(lines.last(), Some(&"}"), "{doc}");
    for line in &lines[1..lines.len() - 1] {
        let mut in_string = false;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match (in_string, c) {
                (true, '\\') => {
                    chars.next();
                }
                (_, '"') => in_string = !in_string,
                (false, '{' | '}') => panic!("a brace outside a string: {line}"),
                _ => {}
            }
        }
        assert!(
            !in_string && line.ends_with(';'),
            "unclosed statement: {line}"
        );
    }
}

fn check_every_format(args: &[&str], stdin: Option<&str>, what: &str) -> Value {
    let run = |format: &str| {
        let mut a = args.to_vec();
        a.extend(["--format", format]);
        let (code, out) = hangscan(&a, stdin);
        assert_eq!(code, Some(1), "{what} --format {format}: a deadlock\n{out}");
        out
    };
    let text = run("text");
    assert_inert(&text, "text");
    assert!(
        text.contains("[2J[31mred"),
        "the name's printable part stays: {text}"
    );
    assert!(text.contains("\u{fffd}\u{fffd}) Z 1 (\"<x>"), "{text}");

    let dot = run("dot");
    assert_inert(&dot, "DOT");
    assert_dot_well_formed(&dot);

    let md = run("markdown");
    assert_inert(&md, "Markdown");
    assert!(!md.contains("<x>"), "markup is escaped: {md}");

    let sarif = run("sarif");
    assert_inert(&sarif, "SARIF");
    serde_json::from_str::<Value>(&sarif).expect("SARIF is JSON");

    let junit = run("junit");
    assert_inert(&junit, "JUnit");
    roxmltree::Document::parse(&junit).expect("JUnit is XML");

    let json = run("json");
    assert_inert(&json, "JSON");
    assert!(
        json.contains("\\u001b[2J") && json.contains("\\u202e"),
        "escaped"
    );
    let doc: Value = serde_json::from_str(&json).expect("JSON parses");
    doc["reports"][0].clone()
}

fn names(report: &Value) -> Vec<String> {
    report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn hostile_thread_names_attached_live_stay_inert_in_every_format() {
    let p = HungProcess::start("c_hostile_names");
    let pid = p.pid.to_string();
    let report = check_every_format(&["attach", &pid], None, "attach");
    let names = names(&report);
    assert!(
        names.iter().any(|n| n == ESCAPES_NAME),
        "JSON keeps the name: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "\u{fffd}\u{fffd}) Z 1 (\"<x>"),
        "{names:?}"
    );
    let threads = report["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 3, "no thread lost to its name");
    assert!(
        threads.iter().all(|t| t["kernel_state"] != "zombie"),
        "a fake `) Z` in a name is not the state: {threads:?}"
    );
    assert_eq!(report["findings"][0]["kind"], "lock-cycle");
    assert_eq!(report["findings"][0]["confidence"], "proven");
}

#[test]
fn hostile_thread_names_in_a_gdb_dump_stay_inert_in_every_format() {
    if !support::require("gdb") {
        return;
    }
    let p = HungProcess::start("c_hostile_names");
    // With each mutex's owner: in a plain `bt` both threads are blocked in the same lock call
    // (take()), which shows neither holds the other's lock (a stall, no cycle).
    let dump = support::gdb_owners_dump(p.pid);
    assert!(
        dump.contains('\u{1b}'),
        "gdb prints the name's escapes as they are"
    );
    let report = check_every_format(&["parse", "-"], Some(&dump), "parse");
    assert_eq!(report["findings"][0]["kind"], "lock-cycle");
}
