//! `hangscan run`: a command that finishes keeps its status and its output; one that hangs in
//! a child of a child is captured, reported, ended with its whole tree, and gives 124.

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};

fn hangscan(args: &[&str]) -> std::process::Output {
    hangscan_env(args, &[])
}

fn hangscan_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run hangscan")
}

#[test]
fn a_command_that_finishes_keeps_its_status_and_output() {
    let o = hangscan(&["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    let o = hangscan(&["run", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(
        o.status.code(),
        Some(128 + 15),
        "killed by a signal: 128 + N"
    );
    let o = hangscan(&["run", "--", "/nonexistent/command"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot run"));
}

#[test]
fn a_hang_in_a_grandchild_is_reported_and_the_tree_ended() {
    let program = support::build_fixture("c_abba");
    let dir = std::env::temp_dir().join(format!("hangscan-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    // sh → sh → c_abba: the deadlock is in a child of a child.
    let inner = format!("sh -c '{}; echo never'", program.display());
    let o = hangscan(&[
        "run",
        "--timeout",
        "2s",
        "--grace",
        "1s",
        "--report",
        report.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &inner,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(124), "{err}");
    // The command's own output went through untouched.
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("READY "));
    assert!(err.contains("lock-cycle"), "{err}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let reports = doc["reports"].as_array().unwrap();
    assert!(reports.len() >= 3, "sh, sh and c_abba: {}", reports.len());
    let hung = reports
        .iter()
        .find(|r| r["verdict"] == "deadlock")
        .expect("the deadlocked process");
    assert_eq!(hung["findings"][0]["kind"], "lock-cycle");
    assert_eq!(hung["findings"][0]["confidence"], "proven");
    // No process of the tree is left behind.
    for r in reports {
        let pid = r["source"]["pid"].as_u64().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie_or_gone = stat.is_empty() || stat.contains(") Z");
        assert!(zombie_or_gone, "pid {pid} still runs: {stat}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn under_github_actions_the_hang_is_annotated_and_summarised() {
    let program = support::build_fixture("c_abba");
    let dir = std::env::temp_dir().join(format!("hangscan-gha-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "earlier steps' summary\n").unwrap();
    let o = hangscan_env(
        &[
            "run",
            "--timeout",
            "1s",
            "--grace",
            "1s",
            "--",
            program.to_str().unwrap(),
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(o.status.code(), Some(124));
    let out = String::from_utf8_lossy(&o.stdout);
    let error = out
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in {out}"));
    // At the line in the program's own source where the lock is taken.
    assert!(
        error.contains("file=") && error.contains("c_abba.c,line="),
        "{error}"
    );
    assert!(error.contains("title=hangscan%3A lock-cycle::"), "{error}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("earlier steps' summary\n"),
        "appended, not replaced"
    );
    assert!(md.contains("| lock-cycle |"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
