//! The set's notes, and the tree that moves: a reader waiting for an end of file a sleeper
//! holds back while the shell that started it is a zombie (`eof_never.py`: the finding, and the
//! zombie a note in every format), a shell loop whose children come and go, and hangscan in
//! the tree of its own parent, left out with a note.

use super::{every_format, json, set_finding, Tree};
use crate::support::{hangscan, scratch, HungProcess};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::process::Command;

#[test]
fn a_read_whose_writer_sleeps_in_the_background_waits_for_an_eof_that_never_comes() {
    let Some(tree) = Tree::start("eof_never.py", &[]) else {
        return;
    };
    let parent = tree.pid();
    let p = parent.to_string();
    let dir = scratch("processes", "eof_never");
    let saved = dir.join("set.json");
    let (code, doc) = json(&["attach", "--tree", &p, "--save", saved.to_str().unwrap()]);
    // The shell it ran is a zombie by now: a note in the report, no trouble.
    assert_eq!(code, Some(0), "{doc}");
    let tree_note = format!("found in the process tree of {p}, exited during the capture");
    let notes = doc["processes"]["notes"].to_string();
    assert!(notes.contains(&tree_note), "{doc}");
    for format in ["text", "markdown", "dot", "sarif", "junit"] {
        let (code, out, err) = hangscan(&["attach", "--tree", &p, "--format", format]);
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert!(noted(format, &out, &tree_note), "{format}: {out}");
        assert!(!err.contains(&tree_note), "{err}");
    }
    let f = set_finding(&doc, "eof-never-comes");
    let steps = f["steps"][0].as_str().unwrap();
    // The sleeper, reparented away from the tree, is found by the pipe it holds.
    let sleeper = doc["processes"]["outside"][0]["pid"].as_u64().unwrap();
    // The fd read is the pipe the report names, as the reader's own fd table says (which fd
    // number Python's subprocess leaves it on is not fixed).
    let (fd, pipe) = (steps.split_once("reads fd "))
        .and_then(|(_, rest)| rest.split_once(", "))
        .and_then(|(fd, rest)| Some((fd, &rest[..=rest.find(']')?])))
        .unwrap_or_else(|| panic!("no `reads fd N, pipe:[…]` in {steps}"));
    let link = std::fs::read_link(format!("/proc/{p}/fd/{fd}")).unwrap();
    assert_eq!(link.to_str(), Some(pipe), "{steps}");
    for said in [
        format!("pid {p} "),
        format!("reads fd {fd}, pipe:["),
        "which is empty".into(),
        format!("pid {sleeper} (sleep 100000) holds its write end (fd 1)"),
        "sleeps in clock_nanosleep".into(),
        format!("`hangscan attach {p} {sleeper}` would"),
    ] {
        assert!(steps.contains(&said), "no `{said}` in {steps}");
    }
    every_format(
        &["attach", &p],
        "eof-never-comes",
        "end of file",
        "pipe:[",
        0,
    );
    let file = dir.join(format!("set.{p}.json"));
    let (code, doc) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(set_finding(&doc, "eof-never-comes")["steps"][0], steps);
    // Both captured: the sleeper's own report, and the same finding.
    let (code, doc) = json(&["attach", &p, &sleeper.to_string()]);
    assert_eq!(code, Some(0), "{doc}");
    let both = set_finding(&doc, "eof-never-comes")["steps"][0]
        .as_str()
        .unwrap();
    assert!(!both.contains("was not captured"), "{both}");
}

/// Whether output `out` of `format` says note `note` where that format keeps notes: a line of
/// text or Markdown, DOT's graph label, SARIF's run invocation's tool execution notifications,
/// JUnit's suite `<system-out>`.
pub fn noted(format: &str, out: &str, note: &str) -> bool {
    match format {
        "dot" => out
            .lines()
            .any(|l| l.starts_with("  label=\"note: ") && l.contains(note)),
        "sarif" => {
            let doc: Value = serde_json::from_str(out).unwrap_or_default();
            let said = &doc["runs"][0]["invocations"][0]["toolExecutionNotifications"];
            (said.as_array().into_iter().flatten())
                .any(|n| n["level"] == "note" && n["message"]["text"].to_string().contains(note))
        }
        "junit" => out.split("<system-out>").nth(1).is_some_and(|s| {
            s.split("</system-out>")
                .next()
                .is_some_and(|s| s.contains(note))
        }),
        _ => out.contains(note),
    }
}

#[test]
fn a_tree_that_moves_during_the_capture_is_no_trouble() {
    // A shell whose children come and go every millisecond.
    let script = "echo READY $$; while :; do sleep 0.001; done";
    let mut command = Command::new("sh");
    command.args(["-c", script]).process_group(0);
    let tree = Tree {
        hung: HungProcess::spawn("shell loop", command),
    };
    let p = tree.pid().to_string();
    for _ in 0..10 {
        let (code, out, err) = hangscan(&["attach", "--tree", &p]);
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(err, "", "{out}");
        for line in out.lines().filter(|l| l.starts_with("note: pid ")) {
            assert!(
                line.contains(&format!("found in the process tree of {p}")),
                "{out}"
            );
        }
    }
}

#[test]
fn hangscan_in_the_tree_of_its_own_parent_is_left_out_with_a_note() {
    // The shell runs hangscan as its child: `$$` is hangscan's parent.
    let o = Command::new("sh")
        .args([
            "-c",
            "\"$0\" attach --samples 1 --format json --tree $$; echo \"exit $?\" >&2",
        ])
        .arg(env!("CARGO_BIN_EXE_hangscan"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sh");
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(err.ends_with("exit 0\n"), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let shell = doc["reports"][0]["source"]["pid"].as_u64().unwrap();
    let notes = doc["processes"]["notes"].to_string();
    assert!(
        notes.contains(&format!(
            "found in the process tree of {shell}, is this hangscan"
        )),
        "{doc}"
    );
}
