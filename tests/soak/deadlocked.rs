//! Deadlocked targets attached many times, every other run killed: a process whose main
//! thread has exited, and one in its own PID and mount namespace.

use super::{env_number, kill, left_stopped, spawn_hangscan, Rng};
use crate::support;
use serde_json::Value;
use std::time::Duration;

/// The live (not zombie) threads of `pid`.
fn live_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                    !matches!(
                        stat.rsplit_once(')')
                            .and_then(|(_, r)| r.trim_start().chars().next()),
                        Some('Z' | 'X') | None
                    )
                })
                .count()
        })
        .unwrap_or(0)
}

/// `runs` attaches to the deadlocked `pid`, every other one killed after a random delay:
/// each completed one proves the lock cycle, and after each the target keeps all its live
/// threads with none left stopped. Returns the number of completed runs.
fn soak_deadlocked(pid: u32, runs: u64, what: &str) -> u64 {
    let seed = env_number("HANGSCAN_SOAK_SEED").unwrap_or(0x5eed) | 1;
    let mut rng = Rng(seed);
    let threads = live_threads(pid);
    let mut completed = 0;
    for run in 0..runs {
        if run % 2 == 0 {
            let o = spawn_hangscan(pid, true)
                .wait_with_output()
                .expect("wait for hangscan");
            let out = String::from_utf8_lossy(&o.stdout);
            let doc: Value = serde_json::from_str(&out).unwrap_or_default();
            let finding = &doc["reports"][0]["findings"][0];
            assert_eq!(
                (o.status.code(), &finding["kind"], &finding["confidence"]),
                (Some(1), &Value::from("lock-cycle"), &Value::from("proven")),
                "{what}, seed {seed}, run {run}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            completed += 1;
        } else {
            let child = spawn_hangscan(pid, false);
            std::thread::sleep(Duration::from_micros(rng.below(150_000)));
            kill(child);
        }
        let stopped = left_stopped(pid);
        assert!(
            stopped.is_empty(),
            "{what}, seed {seed}, run {run}: left stopped {stopped:?}"
        );
        assert_eq!(
            live_threads(pid),
            threads,
            "{what}, seed {seed}, run {run}: a thread died"
        );
    }
    completed
}

/// The zombie-leader target (main ended with `pthread_exit`, its threads deadlocked) through
/// many attaches, some killed: every completed one reads it through a live thread.
#[test]
fn a_process_with_a_dead_main_thread_survives_many_attaches() {
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let target = support::HungProcess::start("c_zombie_leader");
    let completed = soak_deadlocked(target.pid, runs, "zombie leader");
    eprintln!("zombie leader: {runs} runs, {completed} completed");
}

/// A deadlocked program in its own PID and mount namespace (as in a container) through many
/// attaches, some killed: every completed one maps the namespace's ids and proves the cycle.
#[test]
fn a_process_in_a_pid_namespace_survives_many_attaches() {
    if !support::require("unshare") {
        return;
    }
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let target = support::namespace::Namespaced::start(&support::build_fixture("c_abba"), None);
    let completed = soak_deadlocked(target.pid, runs, "PID namespace");
    eprintln!("PID namespace: {runs} runs, {completed} completed");
}
