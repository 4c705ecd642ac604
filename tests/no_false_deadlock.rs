//! Never a false deadlock: the fixture programs that do not deadlock (healthy ones, stalls and
//! root blockers) never get a cycle, in any form hangscan reads them: every recorded dump of
//! them (gdb `bt`, `bt full`, owners, eu-stack, lldb, pstack, jstack, Go, faulthandler, py-spy,
//! Rust panics), and the C and C++ ones built here (debug, stripped, without frame pointers),
//! dumped live with gdb (`bt`, `bt full`), attached to (and the saved snapshot read back), and
//! read from a gcore core.
//!
//! `c_two_shards` is the shape that used to give one: two workers blocked in the same lock
//! call, each on its own mutex, both held by a third thread that sleeps.

mod support;

use hangscan::analyze::{analyze, Analysis, FindingKind};
use hangscan::dump::parse_dump;
use hangscan::knowledge::KnowledgeBase;
use serde_json::Value;
use std::path::Path;
use support::{Build, Driven, HungProcess};

/// The C and C++ programs that hang without a cycle (or do not hang), per their header
/// comments, run here. (c_pulse, healthy, is driven on its stdin; c_soak, c_bad_cfi and
/// c_vfork_dstate have their own tests: their point is the capture, not the analysis.)
const NOT_DEADLOCKED: &[&str] = &[
    "c_root_blocker",
    "c_io_and_busy",
    "c_condvar_stall",
    "cpp_idle_pool",
    "cpp_crew_idle",
    "c_two_shards",
];

/// Recorded dumps (`fixtures/dumps/*/<name>.*`) of programs that do not deadlock, in other
/// languages: Java, Python, Go, Rust.
const NOT_DEADLOCKED_ELSEWHERE: &[&str] = &[
    "Idle",
    "RootBlocker",
    "idle_pool",
    "io_wait",
    "queue_starved",
    "cache_convoy_pprof",
    "chan_all_asleep",
    "http_idle_sigquit",
    "io_wait_sigquit",
    "waitgroup_all_asleep",
    "panics",
];

/// Findings that say threads wait on each other in a cycle (or on themselves).
const CYCLES: &[FindingKind] = &[
    FindingKind::SelfJoin,
    FindingKind::SelfLock,
    FindingKind::LockCycle,
    FindingKind::JoinCycle,
    FindingKind::PoolStarvation,
    FindingKind::WaitCycle,
];

/// Why `a` (of input `what`) is a false deadlock, if it is one.
fn false_deadlock(a: &Analysis, what: &str) -> Option<String> {
    let kinds: Vec<&str> = a.findings.iter().map(|f| f.kind.as_str()).collect();
    let cycle = a.findings.iter().any(|f| CYCLES.contains(&f.kind));
    (cycle || a.deadlocked()).then(|| format!("{what}: {kinds:?}"))
}

fn check_dump(text: &[u8], what: &str) -> Option<String> {
    let kb = KnowledgeBase::builtin();
    let snap = match parse_dump(text, what, None) {
        Ok(s) => s,
        Err(e) => return Some(format!("{what}: not read: {e}")),
    };
    false_deadlock(&analyze(&snap, &kb), what)
}

/// `hangscan attach PID` (and `parse` of the snapshot it saved, and `core` of a gcore core)
/// as JSON: the false deadlocks the reports show.
fn check_captures(pid: u32, what: &str, core: bool) -> Vec<String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("no-false-deadlock.{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("snapshot.json");
    let saved = saved.to_str().unwrap();
    let pid = pid.to_string();
    let mut failures: Vec<String> = check_report(
        &["attach", "--save", saved, &pid],
        &format!("{what}, attach"),
    )
    .into_iter()
    .chain(check_report(&["parse", saved], &format!("{what}, saved")))
    .collect();
    if core {
        let core = support::gcore(pid.parse().unwrap(), &dir);
        let core = core.to_str().unwrap();
        failures.extend(check_report(&["core", core], &format!("{what}, gcore")));
    }
    let _ = std::fs::remove_dir_all(&dir);
    failures
}

/// `hangscan ARGS --format json`: a false deadlock, if the report shows one.
fn check_report(args: &[&str], what: &str) -> Option<String> {
    let args: Vec<&str> = args.iter().copied().chain(["--format", "json"]).collect();
    let (code, out, err) = support::hangscan(&args);
    let reports = serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|v| v["reports"].as_array().cloned())
        .filter(|r| r.len() == 1 && code != Some(2));
    let Some(reports) = reports else {
        return Some(format!("{what}: exit {code:?}, no report: {err}"));
    };
    let report = &reports[0];
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    let cycle = kinds
        .iter()
        .any(|k| CYCLES.iter().any(|c| c.as_str() == *k));
    (cycle || report["verdict"] == "deadlock").then(|| format!("{what}: {kinds:?}"))
}

#[test]
fn recorded_dumps_of_programs_that_do_not_deadlock_show_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps");
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            let program = name.split('.').next().unwrap_or_default();
            if !NOT_DEADLOCKED.contains(&program) && !NOT_DEADLOCKED_ELSEWHERE.contains(&program) {
                continue;
            }
            let what = format!("{}/{name}", dir.file_name().to_string_lossy());
            checked += 1;
            failures.extend(check_dump(&std::fs::read(file.path()).unwrap(), &what));
        }
    }
    // gdb (bt, bt full, owners), eu-stack (plain, verbose), lldb and pstack of several, and
    // the other languages' dumps.
    assert!(checked >= 50, "only {checked} recorded dumps found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn programs_that_do_not_deadlock_show_no_cycle_live_in_gdb_attached_saved_and_in_cores() {
    if !support::require("gdb") {
        return;
    }
    let mut failures = Vec::new();
    for build in [Build::Debug, Build::Stripped, Build::NoFramePointer] {
        for program in NOT_DEADLOCKED {
            let p = HungProcess::start_as(program, build);
            let what = format!("{program} ({build:?})");
            for (full, form) in [(false, "gdb bt"), (true, "gdb bt full")] {
                let text = support::gdb_dump(p.pid, full);
                failures.extend(check_dump(text.as_bytes(), &format!("{what}, {form}")));
            }
            failures.extend(check_captures(p.pid, &what, build == Build::Debug));
        }
    }
    // A healthy, busy program (spinning, sleeping, reading, idle on a condvar).
    let pulse = Driven::start("c_pulse", &[]);
    for (full, form) in [(false, "gdb bt"), (true, "gdb bt full")] {
        let text = support::gdb_dump(pulse.pid, full);
        failures.extend(check_dump(text.as_bytes(), &format!("c_pulse, {form}")));
    }
    failures.extend(check_captures(pulse.pid, "c_pulse", true));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The shape of the false deadlock: live attach proves the sleeper holds both locks (a root
/// blocker); gdb's dumps, which show no owner, must not pair the two workers instead.
#[test]
fn two_workers_in_one_lock_call_do_not_hold_each_others_locks() {
    if !support::require("gdb") {
        return;
    }
    for build in [Build::Debug, Build::Stripped] {
        let p = HungProcess::start_as("c_two_shards", build);
        let (code, out, _) = support::hangscan(&["attach", &p.pid.to_string()]);
        assert_eq!(code, Some(0), "{build:?}: {out}");
        assert!(
            out.starts_with("no deadlock proven, but: root blocker: 3 threads wait")
                && out.contains("\"janitor\", which is waiting for sleep"),
            "{build:?}: {out}"
        );
        for full in [false, true] {
            let text = support::gdb_dump(p.pid, full);
            let snap = parse_dump(text.as_bytes(), "c_two_shards", None).unwrap();
            let a = analyze(&snap, &KnowledgeBase::builtin());
            let worker = |t: usize| {
                snap.threads[t]
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("pool-"))
            };
            // Neither worker is named the holder of the other's lock, not through
            // update_shard and not through start_thread.
            let paired = a.graph.edges.iter().any(|e| worker(e.from) && worker(e.to));
            assert!(
                !paired,
                "{build:?}, full={full}: {:?}\n{text}",
                a.graph.edges
            );
            assert!(false_deadlock(&a, "c_two_shards").is_none(), "{text}");
        }
    }
}
