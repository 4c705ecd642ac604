//! `hangscan attach` on real processes: the fixture programs built from source (with debug
//! info, stripped, and without frame pointers) get the right findings and stacks that match
//! gdb's; a busy program survives many attaches with nothing lost; hangscan killed mid-capture
//! leaves the target running; missing and gone targets give a clear message and exit 2
//! (permissions and other tracers: tests/permissions.rs).

mod support;

use hangscan::knowledge::base_name;
use serde_json::Value;
use std::process::{Command, Stdio};
use support::{hangscan, Build, Driven, HungProcess};

fn attach_json(pid: u32) -> (Option<i32>, Value) {
    let (code, out, err) = hangscan(&["attach", "--format", "json", &pid.to_string()]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, doc["reports"][0].clone())
}

fn kinds(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

fn functions(thread: &Value) -> Vec<String> {
    thread["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["function"].as_str().map(str::to_string))
        .collect()
}

fn task_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// (program, finding that must be there, exit status)
const CASES: &[(&str, &str, i32)] = &[
    ("c_abba", "lock-cycle", 1),
    ("c_rwlock_cycle", "lock-cycle", 1),
    ("cpp_abba", "lock-cycle", 1),
    ("c_join_cycle", "join-cycle", 1),
    ("rust_join_cycle", "join-cycle", 1),
    ("cpp_self_lock", "self-lock", 1),
    ("c_signal_self_lock", "self-lock", 1),
    ("cpp_signal_self_join", "self-join", 1),
    ("c_wait_cycle", "wait-cycle", 1),
    ("cpp_pool_starvation", "pool-starvation", 1),
    ("c_condvar_stall", "stall", 1),
    ("c_root_blocker", "root-blocker", 0),
];

#[test]
fn hung_programs_get_the_right_findings_live() {
    let mut failures = Vec::new();
    for &(program, kind, status) in CASES {
        let p = HungProcess::start(program);
        let tasks = task_count(p.pid);
        let (code, report) = attach_json(p.pid);
        let found = kinds(&report);
        if code != Some(status) || !found.iter().any(|k| k == kind) {
            failures.push(format!(
                "{program}: exit {code:?}, findings {found:?}; expected {kind}, exit {status}"
            ));
        }
        let threads = report["threads"].as_array().unwrap().len();
        if threads != tasks {
            failures.push(format!(
                "{program}: {threads} threads reported, /proc shows {tasks}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lock_cycles_are_proven_from_owner_fields() {
    let programs = [
        "c_abba",
        "c_rwlock_cycle",
        "cpp_abba",
        "c_signal_self_lock",
        "cpp_self_lock",
    ];
    for program in programs {
        let p = HungProcess::start(program);
        let (_, report) = attach_json(p.pid);
        let f = &report["findings"][0];
        assert_eq!(f["confidence"], "proven", "{program}: {f}");
    }
}

#[test]
fn programs_that_do_not_hang_get_no_finding() {
    for program in ["cpp_idle_pool", "c_io_and_busy"] {
        let p = HungProcess::start(program);
        let (code, report) = attach_json(p.pid);
        assert_eq!(code, Some(0), "{program}: {:?}", kinds(&report));
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["severity"] == "info"),
            "{program}: {:?}",
            kinds(&report)
        );
    }
}

/// The program's own functions, innermost first, as gdb shows them.
fn gdb_own_functions(text: &str, source: &str) -> Vec<Vec<String>> {
    let mut stacks: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("Thread ") {
            stacks.push(Vec::new());
        } else if line.starts_with('#') && line.contains(&format!(" at {source}:")) {
            let head = line.split(" at ").next().unwrap_or("");
            let name = head.rsplit(" in ").next().unwrap_or(head);
            let name = name.rsplit_once(" (").map_or(name, |(n, _)| n);
            let name =
                name.trim_start_matches(|c: char| c == '#' || c.is_ascii_digit() || c == ' ');
            if let Some(s) = stacks.last_mut() {
                s.push(base_name(name).to_string());
            }
        }
    }
    stacks.retain(|s| !s.is_empty());
    stacks.sort();
    stacks
}

#[test]
fn stacks_match_gdb_with_debug_info_and_without_frame_pointers() {
    for build in [Build::Debug, Build::NoFramePointer] {
        for (program, source) in [
            ("c_abba", "c_abba.c"),
            ("cpp_signal_self_join", "cpp_signal_self_join.cpp"),
        ] {
            let p = HungProcess::start_as(program, build);
            let gdb = gdb_own_functions(&support::gdb_dump(p.pid, false), source);
            let (_, report) = attach_json(p.pid);
            let mut ours: Vec<Vec<String>> = report["threads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    t["frames"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|f| {
                            f["file"]
                                .as_str()
                                .is_some_and(|file| file.ends_with(source))
                        })
                        .filter_map(|f| f["function"].as_str().map(|n| base_name(n).to_string()))
                        .collect::<Vec<_>>()
                })
                .filter(|s| !s.is_empty())
                .collect();
            ours.sort();
            assert_eq!(ours, gdb, "{program} ({build:?}): hangscan vs gdb");
        }
    }
}

#[test]
fn stripped_programs_still_unwind_through_libc_and_find_the_cycle() {
    let p = HungProcess::start_as("c_abba", Build::Stripped);
    let (code, report) = attach_json(p.pid);
    assert_eq!(code, Some(1), "{:?}", kinds(&report));
    for t in report["threads"].as_array().unwrap() {
        let f = functions(t);
        assert!(
            f.iter()
                .any(|n| n.contains("start_thread") || n.contains("__libc_start")),
            "{f:?}"
        );
    }
}

/// c_pulse with `threads` threads, and one of its counters.
fn pulse(threads: u32) -> Driven {
    Driven::start("c_pulse", &[&threads.to_string()])
}

fn stat(pulse: &mut Driven, key: &str) -> i64 {
    let line = pulse.ask("stats");
    support::field(&line, key).unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[test]
fn a_busy_target_survives_many_attaches_with_nothing_lost() {
    let mut pulse = pulse(12);
    let pid = pulse.pid.to_string();
    let mut sent = 0;
    for round in 0..20 {
        let signaller = std::thread::spawn({
            let pid = pulse.pid as i32;
            move || {
                for _ in 0..5 {
                    // A realtime signal: queued, so a lost one cannot hide behind a merged one.
                    // SAFETY: kill(2) has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGRTMIN()) };
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
        });
        let (code, _, err) = hangscan(&["attach", "--samples", "1", "--format", "json", &pid]);
        assert_eq!(code, Some(0), "round {round}: {err}");
        signaller.join().unwrap();
        sent += 5;
        assert_eq!(
            support::stopped_threads(pulse.pid).len(),
            0,
            "round {round}: a thread was left stopped"
        );
    }
    // Every signal sent is handled once; on a loaded machine the last may still be on its
    // way: wait for the count to settle (not a timing assertion: a lost signal never arrives).
    let mut handled = stat(&mut pulse, "signals");
    for _ in 0..200 {
        if handled >= sent {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        handled = stat(&mut pulse, "signals");
    }
    assert_eq!(handled, sent, "signals lost or duplicated");
    assert_eq!(
        stat(&mut pulse, "eintr"),
        0,
        "a restartable call failed with EINTR"
    );
    let before = stat(&mut pulse, "ticks");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        stat(&mut pulse, "ticks") > before,
        "the target stopped ticking"
    );
}

#[test]
fn killing_hangscan_mid_capture_leaves_the_target_running() {
    let mut pulse = pulse(40);
    for delay_ms in [0u64, 1, 2, 3, 5, 8, 13, 21] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
            .args(["attach", "--samples", "1", &pulse.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(
            support::stopped_threads(pulse.pid).len(),
            0,
            "killed after {delay_ms} ms: threads left stopped"
        );
        let before = stat(&mut pulse, "ticks");
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(
            stat(&mut pulse, "ticks") > before,
            "killed after {delay_ms} ms: the target no longer runs"
        );
    }
    assert_eq!(stat(&mut pulse, "eintr"), 0);
}

#[test]
fn missing_and_gone_targets_are_clear_errors() {
    let (code, _, err) = hangscan(&["attach", "999999999"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not exist"), "{err}");

    // A process that exits while hangscan works on it: a clear error when it is gone before
    // the stop; the report of what the stop copied when it exits during the second look (which
    // comes 300 ms after the first sample, after the stop).
    let mut short = Command::new("sleep").arg("0.05").spawn().unwrap();
    let (code, out, err) = hangscan(&["attach", "--interval", "300", &short.id().to_string()]);
    let _ = short.wait();
    match code {
        Some(2) => assert!(
            err.contains("exited") || err.contains("does not exist"),
            "{err}"
        ),
        Some(0) => assert!(out.contains("thread(s) from pid"), "{out}"),
        other => panic!("exit {other:?}: {out}\n{err}"),
    }
}

#[test]
fn the_demo_reports_the_nebula_self_join() {
    let (code, out, err) = hangscan(&["demo", "--color", "never"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let verdict = out.lines().next().unwrap_or("");
    assert!(
        verdict.starts_with("DEADLOCK: self-join through a signal handler"),
        "{out}"
    );
    for step in [
        "<signal handler called>",
        "Server::stop",
        "WorkerPool::join",
        "WorkerPool::worker_loop",
    ] {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
    assert!(out.contains("signal-unsafe-wait"));
}

#[test]
fn a_saved_capture_analyses_like_the_live_one() {
    let p = HungProcess::start("c_abba");
    let dir = std::env::temp_dir().join(format!("hangscan-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snap = dir.join("snap.json");
    let (code, live, _) = hangscan(&[
        "attach",
        "--format",
        "json",
        "--save",
        snap.to_str().unwrap(),
        &p.pid.to_string(),
    ]);
    let (code2, saved, _) = hangscan(&["parse", "--format", "json", snap.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, code2);
    let live: Value = serde_json::from_str(&live).unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(
        live["reports"][0]["findings"],
        saved["reports"][0]["findings"]
    );
    // The locks' names, read from the executable's symbols at capture, are in the snapshot.
    let findings = saved["reports"][0]["findings"].to_string();
    for lock in ["orders_lock", "inventory_lock"] {
        assert!(
            findings.contains(&format!("\"symbol\":\"{lock}\"")),
            "{findings}"
        );
    }
}

#[test]
fn a_thread_in_uninterruptible_sleep_is_reported_not_waited_for() {
    // main is a vfork parent (state D until its child exits); the worker is ordinary.
    let p = HungProcess::start("c_vfork_dstate");
    let (code, out, err) = hangscan(&["attach", "--samples", "1", &p.pid.to_string()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("uninterruptible sleep"), "{out}");
    assert!(
        out.contains("pthread_cond_wait"),
        "the worker's stack: {out}"
    );
    // Released: a second attach works, and the process runs on.
    let (again, _, err) = hangscan(&["attach", "--samples", "1", &p.pid.to_string()]);
    assert_eq!(again, Some(0), "{err}");
    assert!(std::path::Path::new(&format!("/proc/{}", p.pid)).exists());
}

#[test]
fn system_libraries_are_named_from_symbols_unless_full_symbols_is_asked() {
    let p = HungProcess::start("c_abba");
    // The libc frame a lock wait starts in: named either way, with a source line (from the
    // debug file's DWARF, like gdb) only with --full-symbols.
    let lock_frame = |args: &[&str]| -> Value {
        let mut all = vec!["attach", "--samples", "1", "--format", "json"];
        all.extend_from_slice(args);
        let pid = p.pid.to_string();
        all.push(&pid);
        let (_, out, err) = hangscan(&all);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        let threads = doc["reports"][0]["threads"].as_array().unwrap().clone();
        threads
            .iter()
            .flat_map(|t| t["frames"].as_array().unwrap().clone())
            .find(|f| {
                f["module"].as_str().is_some_and(|m| m.contains("libc.so"))
                    && f["function"]
                        .as_str()
                        .is_some_and(|n| n.contains("lock_wait"))
            })
            .unwrap_or_else(|| panic!("no libc lock-wait frame in {out}"))
    };
    let quick = lock_frame(&[]);
    assert!(quick["file"].is_null(), "{quick}");
    let has_libc_dwarf = std::path::Path::new("/usr/lib/debug/.build-id").is_dir();
    if has_libc_dwarf {
        let full = lock_frame(&["--full-symbols"]);
        assert!(full["file"].is_string(), "{full}");
    }
}

/// A stack copied too shallow is said next to each thread it cut, in the text report, with the
/// `--stack-bytes` that would reach further; the default copy cuts nothing on these stacks.
#[test]
fn a_cut_stack_is_said_beside_its_thread_with_the_option_that_helps() {
    let p = HungProcess::start("c_abba");
    let pid = p.pid.to_string();
    let (code, out, err) = hangscan(&["attach", "--stack-bytes", "256", &pid]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let threads = out
        .split("\nthreads:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no thread list: {out}"));
    let cut: Vec<&str> = threads
        .lines()
        .filter(|l| l.contains("its stack ends early") && l.contains("rerun with --stack-bytes"))
        .collect();
    assert!(
        cut.iter().any(|l| l.contains("\"restocker\"")),
        "no cut shown beside the thread: {out}"
    );
    let (_, out, _) = hangscan(&["attach", &pid]);
    assert!(!out.contains("ends early"), "{out}");
}
