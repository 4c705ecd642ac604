//! A process whose main thread has ended (`pthread_exit`) while its other threads deadlock: the
//! leader is a zombie, whose `/proc/PID/maps` is empty and whose pid reaches no memory. Attach
//! and `run` read the process through a live thread and find the proven lock cycle, with
//! frames, as for any other process.

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};
use support::{hangscan, HungProcess};

/// The leader's state letter.
fn leader_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The report's lock cycle is proven and names both workers with their frames.
fn assert_proven_cycle(report: &Value) {
    let f = &report["findings"][0];
    assert_eq!(f["kind"], "lock-cycle", "{report}");
    assert_eq!(f["confidence"], "proven", "{f}");
    let threads = report["threads"].as_array().unwrap();
    for name in ["order-intake", "restocker"] {
        let t = threads
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {report}"));
        let functions: Vec<&str> = t["frames"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["function"].as_str())
            .collect();
        assert!(
            functions.contains(&"pthread_mutex_lock") && functions.contains(&"start_thread"),
            "{name}: {functions:?}"
        );
    }
}

#[test]
fn attach_reads_a_process_with_a_dead_main_thread_through_a_live_one() {
    let p = HungProcess::start("c_zombie_leader");
    assert_eq!(
        leader_state(p.pid),
        Some('Z'),
        "the fixture's leader exited"
    );
    let (code, out, err) = hangscan(&["attach", "--format", "json", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let report = &doc["reports"][0];
    assert_proven_cycle(report);
    let notes = report["diagnostics"].to_string();
    assert!(notes.contains("main thread"), "{notes}");
    assert!(!notes.contains("exited while the process"), "{notes}");
    // The target is left as it was: its three threads deadlocked and running on, none stopped.
    assert_eq!(leader_state(p.pid), Some('Z'));
    assert!(support::stopped_threads(p.pid).is_empty());
}

#[test]
fn run_reports_the_deadlock_of_a_process_with_a_dead_main_thread() {
    let program = support::build_fixture("c_zombie_leader");
    let dir = std::env::temp_dir().join(format!("hangscan-zombie-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    let o = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(["run", "--timeout", "2s", "--grace", "1s", "--report"])
        .arg(&report)
        .arg("--")
        .arg(&program)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(124), "{err}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let hung = doc["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "deadlock")
        .unwrap_or_else(|| panic!("no deadlock reported: {err}"));
    assert_proven_cycle(hung);
}
