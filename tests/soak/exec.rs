//! The exec soak: `c_reexec`, which replaces itself with `execve` every few milliseconds,
//! attached many times without a wedge; and an exec that cannot end, which hangscan gives up
//! on with a clear error.

use super::{env_number, kill};
use crate::support::{build_fixture, HungProcess, Tracer};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one attach to the exec target may take before it counts as wedged: far above its
/// worst case (five tries, each bounded by the stop timeout and the wait for an exec to end).
const WEDGED: Duration = Duration::from_secs(90);

/// The generation `c_reexec` wrote last.
fn generation(counter: &std::path::Path) -> i64 {
    std::fs::read_to_string(counter)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Threads of `pid` stopped, traced or zombies, with their state: none may stay once hangscan
/// has exited (a zombie shows for an instant while an exec ends the threads, so a few looks).
fn held_threads(pid: u32) -> Vec<String> {
    let look = || -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|t| {
                let status = std::fs::read_to_string(t.path().join("status")).ok()?;
                let get = |key: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.trim().to_string())
                };
                let state = get("State:")?;
                let tracer = get("TracerPid:")?;
                let held = state.starts_with(['t', 'T', 'Z']) || tracer != "0";
                held.then(|| format!("{:?} {state} traced by {tracer}", t.file_name()))
            })
            .collect()
    };
    let mut held = look();
    for _ in 0..50 {
        if held.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        held = look();
    }
    held
}

#[test]
fn attaches_to_a_process_that_execs_all_the_time_never_wedge_it_or_hangscan() {
    let attaches = env_number("HANGSCAN_SOAK_EXEC_ATTACHES").unwrap_or(150);
    let dir = std::env::temp_dir().join(format!("hangscan-exec-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = dir.join("generation");
    let mut command = Command::new(build_fixture("c_reexec"));
    command.arg("100").arg(&counter);
    let target = HungProcess::spawn("c_reexec", command);
    let pid = target.pid;
    let began = Instant::now();
    let (mut captured, mut exec_refusals) = (0, 0);
    for run in 0..attaches {
        let before = generation(&counter);
        let err_path = dir.join("stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
            .args(["attach", "--samples", "1", "--format", "json"])
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .expect("run hangscan");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > WEDGED {
                let held = held_threads(pid);
                kill(child);
                panic!(
                    "run {run}: hangscan wedged for {} s on a process that execs; its threads: \
                     {held:?}",
                    WEDGED.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        match status.code() {
            Some(0) => captured += 1,
            Some(2) if err.contains("was calling execve") && err.contains("try again") => {
                exec_refusals += 1
            }
            code => panic!("run {run}: hangscan ended with {code:?}: {err}"),
        }
        let held = held_threads(pid);
        assert!(held.is_empty(), "run {run}: threads left held: {held:?}");
        // The program goes on replacing itself (it does so every few ms when left alone).
        let moving = Instant::now();
        while generation(&counter) == before {
            assert!(
                moving.elapsed() < Duration::from_secs(30),
                "run {run}: the program made no progress after hangscan ended: {err}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    println!(
        "exec soak: {attaches} attaches in {:.0} s: {captured} captured, {exec_refusals} refused \
         as in the middle of an exec",
        began.elapsed().as_secs_f64()
    );
    drop(target);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The state letter of thread `tid` of `pid`, and whether it waits inside `execve`.
fn thread_state(pid: u32, tid: u32) -> (Option<char>, bool) {
    let dir = format!("/proc/{pid}/task/{tid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next());
    let wchan = std::fs::read_to_string(format!("{dir}/wchan")).unwrap_or_default();
    (state, wchan.contains("exec"))
}

#[test]
fn an_exec_that_cannot_end_makes_hangscan_give_up_not_hang() {
    let dir = std::env::temp_dir().join(format!("hangscan-exec-stuck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = dir.join("generation");
    let mut command = Command::new(build_fixture("c_reexec"));
    command.arg("2").arg(&counter);
    let target = HungProcess::spawn("c_reexec", command);
    let pid = target.pid;
    // Another tracer takes an idle thread (the first one made); the next exec kills it, and
    // the tracer never reaps it: the exec waits for ever, holding the lock PTRACE_SEIZE takes.
    let limit = Instant::now() + Duration::from_secs(20);
    let tracer = loop {
        assert!(Instant::now() < limit, "could not wedge the exec");
        let first = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&t| t != pid)
            .min();
        let Some((tracer, traced)) =
            first.and_then(|t| Tracer::try_seize(t, "unreaping").map(|r| (r, t)))
        else {
            continue;
        };
        let wedged = Instant::now();
        while wedged.elapsed() < Duration::from_secs(1) {
            let (state, _) = thread_state(pid, traced);
            let in_exec = std::fs::read_dir(format!("/proc/{pid}/task"))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .any(|t| thread_state(pid, t).1);
            if state == Some('Z') && in_exec {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if thread_state(pid, traced).0 == Some('Z') {
            break tracer;
        }
    };
    let stuck_at = generation(&counter);

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(["attach", "--samples", "1"])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hangscan");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > WEDGED {
            kill(child);
            panic!("hangscan waited for the exec for {} s", WEDGED.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for words in [
        format!("stopping process {pid} stayed blocked in the kernel"),
        "calling execve".to_string(),
        "try again".to_string(),
    ] {
        assert!(err.contains(&words), "{words:?} missing: {err}");
    }
    assert_eq!(generation(&counter), stuck_at, "the exec was not stuck");

    // Once the other tracer lets go, the program goes on, and hangscan held nothing.
    drop(tracer);
    let moving = Instant::now();
    while generation(&counter) == stuck_at {
        assert!(moving.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    let held = held_threads(pid);
    assert!(held.is_empty(), "threads left held: {held:?}");
    drop(target);
    let _ = std::fs::remove_dir_all(&dir);
}
