//! Runtimes that churn (`churn.py` on the distribution's CPython, `churn.go`) attached many
//! times, every other run killed: read from memory while their structures change.

use super::{alive, env_number, kill, left_stopped, spawn_hangscan, Rng};
use crate::support::{self, Driven};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// `runs` attaches to a runtime that churns (`churn.py`, `churn.go`: threads or goroutines and
/// their frames created and destroyed all the time, its heartbeat on request), every other one
/// killed after a random delay: each completed one exits with a report that read the runtime
/// from memory (its structures changing meanwhile) and found no deadlock, and after each the target is alive, no
/// thread is left stopped, and its heartbeat goes on. Returns the number of completed runs.
fn soak_churn(churn: &mut Driven, runs: u64, what: &str) -> u64 {
    let seed = env_number("HANGSCAN_SOAK_SEED").unwrap_or(0x5eed) | 1;
    let mut rng = Rng(seed);
    let pid = churn.pid;
    let beats = |d: &mut Driven| d.ask("beats").trim().parse::<u64>().unwrap_or(0);
    let mut last = beats(churn);
    let mut completed = 0;
    for run in 0..runs {
        if run % 2 == 0 {
            let o = spawn_hangscan(pid, true)
                .wait_with_output()
                .expect("wait for hangscan");
            let out = String::from_utf8_lossy(&o.stdout);
            let doc: Value = serde_json::from_str(&out).unwrap_or_default();
            let findings = doc["reports"][0]["findings"].as_array().cloned();
            let deadlocks: Vec<Value> = (findings.iter().flatten())
                .filter(|f| f["severity"] == "deadlock")
                .map(|f| f["kind"].clone())
                .collect();
            // The runtime was read from memory, not left out.
            let read = (doc["reports"][0]["diagnostics"]
                .as_array()
                .into_iter()
                .flatten())
            .any(|d| {
                d["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains(" read from memory in ")
            });
            assert!(
                matches!(o.status.code(), Some(0 | 1))
                    && findings.is_some()
                    && deadlocks.is_empty()
                    && read,
                "{what}, seed {seed}, run {run}: {:?} {deadlocks:?} {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            );
            completed += 1;
        } else {
            let child = spawn_hangscan(pid, false);
            std::thread::sleep(Duration::from_micros(rng.below(150_000)));
            kill(child);
        }
        assert!(
            alive(pid),
            "{what}, seed {seed}, run {run}: the target died"
        );
        let stopped = left_stopped(pid);
        assert!(
            stopped.is_empty(),
            "{what}, seed {seed}, run {run}: left stopped {stopped:?}"
        );
        let now = beats(churn);
        assert!(
            now >= last,
            "{what}, seed {seed}, run {run}: {now} after {last}"
        );
        last = now;
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(beats(churn) > last, "{what}: the heartbeat stopped");
    completed
}

/// CPython (the distribution's) creating and ending threads and frames, through many attaches
/// that read its interpreter from memory, some killed.
#[test]
fn a_python_interpreter_that_churns_survives_many_attaches() {
    if !support::require("debian-python3.11") {
        return;
    }
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let mut command = Command::new(support::python::DEBIAN_PYTHON);
    command.arg(support::runtimes::programs("python").join("churn.py"));
    let mut churn = Driven::spawn("churn.py", command);
    let completed = soak_churn(&mut churn, runs, "python churn");
    eprintln!("python churn: {runs} runs, {completed} completed");
}

/// A Go program creating, growing, moving and freeing goroutines, through many attaches that
/// read its goroutines from memory, some killed.
#[test]
fn a_go_runtime_that_churns_survives_many_attaches() {
    if !support::require("go") {
        return;
    }
    let dir = support::scratch("soak", "go-churn");
    let exe = support::runtimes::build_go(&dir, "churn");
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let mut churn = Driven::spawn("churn", Command::new(exe));
    let completed = soak_churn(&mut churn, runs, "go churn");
    eprintln!("go churn: {runs} runs, {completed} completed");
}
