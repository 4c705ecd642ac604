//! CPython read from its own memory, live and from a gcore core, on the distribution's
//! interpreter (Debian's `/usr/bin/python3.11`, stripped as shipped): each thread's Python
//! frames among its native ones (`module.qualname`, file and line), the `_thread` lock each
//! waits for, the thread a `Thread.join` waits for, an `RLock`'s owner; and the verdicts they
//! give. Every other interpreter of a minor version with a built-in layout that is installed
//! (pyenv's) is attached too, and each built-in layout is checked against the headers of the
//! interpreters installed (`fixtures/programs/python/layout_offsets.c`).
//!
//! Programs (`fixtures/programs/python/`): `lock_abba.py` (a `threading.Lock` ABBA: a plain
//! lock records no owner, so its holder is the thread whose frame is inside a `with` block over
//! it: a symbolic lock cycle), `self_lock.py` (a `with` over a lock the thread holds in a
//! caller's `with`: a self-lock), `rlock_abba.py` (an `RLock`
//! ABBA: proven, each RLock naming its owner), `join_cycle.py` (two threads joining each
//! other: a join cycle by the joined thread's tid), `idle_pool.py` (an idle executor and a
//! serving main thread: exit 0), `gil_spin.py` (a thread running Python code holds the GIL),
//! and the pools of `pools_python.rs` (starved, or idle and busy: exit 0) attached live. A
//! CPython 3.13 (pyenv's, where installed) is read through its `_Py_DebugOffsets`: frames and
//! lines, its `PyMutex` locks not yet. `churn.py` (threads and frames created and destroyed
//! all the time) is attached again and again: every read is whole or says what it missed, no
//! false verdict, and the program goes on.

mod support;

use hangscan::analyze::{Analysis, FindingKind, Grade, LockId};
use hangscan::knowledge::WaitKind;
use hangscan::model::{Language, Snapshot, Thread};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::runtimes::programs;
use support::{gcore, hangscan, require, scratch, HungProcess};

/// Debian's interpreter.
const DEBIAN_PYTHON: &str = "/usr/bin/python3.11";

/// `NAME.py` run by `python` until it is ready.
fn run(python: &Path, name: &str) -> HungProcess {
    let mut command = Command::new(python);
    command.arg(programs("python").join(format!("{name}.py")));
    HungProcess::spawn(name, command)
}

/// The process attached live, then read from a gcore core taken in `dir`: each analysed.
fn live_and_core(pid: u32, dir: &Path) -> Vec<(&'static str, Snapshot, Analysis)> {
    let options = hangscan::Options::default();
    let snap = hangscan::attach(pid, &options).expect("attach");
    let a = hangscan::analyze(&snap);
    let mut out = vec![("attach", snap, a)];
    let core = gcore(pid, dir);
    let snap = hangscan::read_core(&core, &options).expect("core");
    let _ = std::fs::remove_file(&core);
    let a = hangscan::analyze(&snap);
    out.push(("core", snap, a));
    out
}

/// The threads with a Python frame named `function`.
fn running(snap: &Snapshot, function: &str) -> Vec<usize> {
    (0..snap.threads.len())
        .filter(|&t| has_frame(&snap.threads[t], function))
        .collect()
}

fn has_frame(t: &Thread, function: &str) -> bool {
    (t.frames.iter()).any(|f| f.function.as_deref() == Some(function))
}

/// Everything a failed assertion shows: the snapshot's threads and notes.
fn shown(snap: &Snapshot) -> String {
    let mut out = String::new();
    for t in &snap.threads {
        out.push_str(&format!("{}\n", t.label()));
        for f in &t.frames {
            out.push_str(&format!(
                "  {:?} {:?}:{:?} {:?}\n",
                f.function, f.file, f.line, f.language
            ));
        }
    }
    for d in &snap.diagnostics {
        out.push_str(&format!("note: {}\n", d.message));
    }
    out
}

/// The note that says the interpreter was read, and how.
fn read_note(snap: &Snapshot) -> &str {
    (snap.diagnostics.iter())
        .map(|d| d.message.as_str())
        .find(|m| m.contains("read from memory"))
        .unwrap_or_else(|| panic!("no CPython note:\n{}", shown(snap)))
}

/// The one finding of `a`, of `kind`, among `threads`, graded `grade`.
fn assert_finding(how: &str, snap: &Snapshot, a: &Analysis, kind: FindingKind, grade: Grade) {
    let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [kind], "{how}:\n{}", shown(snap));
    assert_eq!(a.findings[0].confidence, grade, "{how}:\n{}", shown(snap));
    assert!(a.deadlocked(), "{how}");
}

/// A `threading.Lock` ABBA run by `python`: a symbolic lock cycle of the two transfers, each
/// waiting for a lock object at its inner `with` (line 33), under the lock's acquire, and
/// holding the other's in its outer `with` block (the lock's `__exit__` pending on its frame's
/// value stack); the main thread joins the first transfer, by its tid. The same live and from
/// a core.
fn assert_lock_abba(python: &Path, version: &str) {
    let dir = scratch("python_memory", &format!("lock_abba-{version}"));
    let hung = run(python, "lock_abba");
    let mut signatures = Vec::new();
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        let note = read_note(&snap);
        assert!(
            note.contains(&format!("CPython {version}")) && note.contains("built-in layout"),
            "{how}: {note}"
        );
        assert_finding(how, &snap, &a, FindingKind::LockCycle, Grade::Symbolic);
        let transfers = running(&snap, "lock_abba.Bank.transfer");
        assert_eq!(a.findings[0].threads, transfers, "{how}:\n{}", shown(&snap));
        let mut locks = Vec::new();
        for &t in &transfers {
            let w = &a.facts[t].waits[0];
            assert_eq!(
                (w.kind, w.rule.as_str()),
                (WaitKind::Mutex, "python.thread-lock"),
                "{how}"
            );
            let frames = &snap.threads[t].frames;
            assert_eq!(
                frames[w.frame].function.as_deref(),
                Some("_thread.lock.acquire")
            );
            let caller = &frames[w.frame + 1];
            assert_eq!(
                (caller.function.as_deref(), caller.line, caller.language),
                (
                    Some("lock_abba.Bank.transfer"),
                    Some(33),
                    Some(Language::Python)
                ),
                "{how}"
            );
            assert!(caller.file.as_deref().unwrap().ends_with("lock_abba.py"));
            locks.push(w.address.expect("the lock object"));
        }
        locks.dedup();
        assert_eq!(locks.len(), 2, "{how}: two locks");
        // Each holds, in its outer `with`, the lock the other waits for.
        for (&t, other) in transfers.iter().zip([locks[1], locks[0]]) {
            let holds: Vec<(&str, bool)> = (a.facts[t].holds.iter())
                .map(|h| (h.rule.as_str(), h.lock == LockId::Addr(other)))
                .collect();
            assert_eq!(holds, [("python.with-lock", true)], "{how}");
        }
        let main = running(&snap, "lock_abba.main");
        assert_eq!(main.len(), 1, "{how}");
        let join = &a.facts[main[0]].waits[0];
        assert_eq!(join.kind, WaitKind::Join, "{how}");
        assert!(
            transfers
                .iter()
                .any(|&t| snap.threads[t].tid == join.target_tid),
            "{how}: joins {:?}",
            join.target_tid
        );
        signatures.push(a.findings[0].signature.clone());
    }
    assert_eq!(signatures[0], signatures[1], "live and core");
}

#[test]
fn a_threading_lock_abba_on_the_distribution_s_python_is_a_lock_cycle_live_and_from_a_core() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    assert_lock_abba(Path::new(DEBIAN_PYTHON), "3.11");
}

#[test]
fn the_report_and_a_saved_snapshot_carry_the_python_frames() {
    if !require("debian-python3.11") {
        return;
    }
    let dir = scratch("python_memory", "saved");
    let hung = run(Path::new(DEBIAN_PYTHON), "lock_abba");
    let pid = hung.pid.to_string();
    let saved = dir.join("snapshot.json");
    let (code, report) =
        support::report::json(&["attach", &pid, "--save", saved.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    let (grade, steps) = support::report::cycle(&report);
    assert_eq!(grade, "symbolic");
    assert!(steps.contains("lock_abba.py:33"), "{steps}");
    let python_frames = (report["threads"].as_array().unwrap().iter())
        .flat_map(|t| t["frames"].as_array().unwrap())
        .filter(|f| f["language"] == "python")
        .count();
    assert!(python_frames >= 8, "{report}");
    // Read back, the snapshot gives the same finding.
    let (code, again) = support::report::json(&["parse", saved.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{again}");
    assert_eq!(
        again["findings"][0]["signature"],
        report["findings"][0]["signature"]
    );
    // The text report shows each transfer's Python line.
    let (code, text, _) = hangscan(&["attach", &pid]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("lock cycle")
            && text.contains("lock_abba.Bank.transfer (python/lock_abba.py:33)"),
        "{text}"
    );
}

#[test]
fn a_thread_taking_a_lock_it_holds_in_a_with_block_is_a_self_lock() {
    if !require("debian-python3.11") {
        return;
    }
    let hung = run(Path::new(DEBIAN_PYTHON), "self_lock");
    let snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
    let a = hangscan::analyze(&snap);
    assert_finding("attach", &snap, &a, FindingKind::SelfLock, Grade::Symbolic);
    let t = a.findings[0].threads[0];
    assert!(has_frame(
        &snap.threads[t],
        "self_lock.MetricsRegistry.flush"
    ));
}

#[test]
fn an_rlock_abba_is_proven_by_the_owner_each_rlock_records() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    let dir = scratch("python_memory", "rlock_abba");
    let hung = run(Path::new(DEBIAN_PYTHON), "rlock_abba");
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        assert_finding(how, &snap, &a, FindingKind::LockCycle, Grade::Proven);
        let mut threads = running(&snap, "rlock_abba.Replica.push");
        threads.extend(running(&snap, "rlock_abba.Replica.pull"));
        threads.sort_unstable();
        assert_eq!(a.findings[0].threads, threads, "{how}:\n{}", shown(&snap));
    }
}

#[test]
fn threads_joining_each_other_are_a_join_cycle_by_the_joined_thread_s_tid() {
    if !(require("debian-python3.11") && require("gcore")) {
        return;
    }
    let dir = scratch("python_memory", "join_cycle");
    let hung = run(Path::new(DEBIAN_PYTHON), "join_cycle");
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        assert_finding(how, &snap, &a, FindingKind::JoinCycle, Grade::Symbolic);
        let peers = running(&snap, "join_cycle.Pipeline.stop_peer");
        assert_eq!(a.findings[0].threads.len(), 2, "{how}");
        for &t in &peers {
            let w = &a.facts[t].waits[0];
            let other = peers.iter().find(|&&o| o != t).unwrap();
            assert_eq!(w.target_tid, snap.threads[*other].tid, "{how}");
        }
    }
}

#[test]
fn an_idle_executor_and_a_serving_main_thread_exit_0_with_their_python_frames() {
    if !require("debian-python3.11") {
        return;
    }
    let hung = run(Path::new(DEBIAN_PYTHON), "idle_pool");
    let (code, report) = support::report::json(&["attach", &hung.pid.to_string()]);
    let findings: Vec<&str> = (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .filter(|&k| k != "io-wait")
        .collect();
    assert_eq!((code, findings), (Some(0), vec![]), "{report}");
    let workers = (report["threads"].as_array().unwrap().iter())
        .filter(|t| {
            (t["frames"].as_array().unwrap().iter())
                .any(|f| f["function"] == "concurrent.futures.thread._worker")
        })
        .count();
    assert_eq!(workers, 3, "{report}");
}

#[test]
fn a_thread_running_python_code_holds_the_gil() {
    if !require("debian-python3.11") {
        return;
    }
    let hung = run(Path::new(DEBIAN_PYTHON), "gil_spin");
    let snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
    let holders: Vec<&Thread> = (snap.threads.iter())
        .filter(|t| t.status.as_deref() == Some("gil"))
        .collect();
    assert_eq!(holders.len(), 1, "{}", shown(&snap));
    assert!(has_frame(holders[0], "gil_spin.spin"), "{}", shown(&snap));
}

/// Interpreters installed besides Debian's whose minor version has a built-in layout (pyenv's
/// `3.11.*` and `3.12.*`), with their `3.N.M` version.
fn other_interpreters() -> Vec<(PathBuf, String)> {
    let root = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(Ok(dir)) = root.map(|r| std::fs::read_dir(Path::new(&r).join("versions"))) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, String)> = dir
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().into_owned();
            let minor = version.strip_prefix("3.")?.split('.').next()?.to_string();
            let python = e.path().join(format!("bin/python3.{minor}"));
            let known = hangscan::runtime::python::layout::for_minor(minor.parse().ok()?);
            (known.is_some() && python.exists()).then_some((python, version))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_other_installed_interpreter_with_a_built_in_layout_finds_the_lock_abba() {
    if !require("gcore") {
        return;
    }
    let others = other_interpreters();
    if others.is_empty() {
        eprintln!("no other CPython 3.11 or 3.12 installed: only Debian's is tested");
    }
    for (python, version) in others {
        assert_lock_abba(&python, &version);
    }
}

/// The include directory of the interpreter `python`, as it says.
fn include_dir(python: &Path) -> Option<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.join("internal/pycore_frame.h").exists().then_some(dir)
}

#[test]
fn each_built_in_layout_is_the_one_its_version_s_headers_give() {
    if !require("debian-python3.11") {
        return;
    }
    let dir = scratch("python_memory", "layouts");
    let source = programs("python").join("layout_offsets.c");
    let mut interpreters = vec![PathBuf::from(DEBIAN_PYTHON)];
    interpreters.extend(other_interpreters().into_iter().map(|(p, _)| p));
    let mut checked = 0;
    for python in interpreters {
        let Some(include) = include_dir(&python) else {
            assert_ne!(python, Path::new(DEBIAN_PYTHON), "Debian's headers");
            continue;
        };
        let exe = dir.join(format!("offsets-{checked}"));
        let built = Command::new("cc")
            .arg(format!("-I{}", include.display()))
            .arg(&source)
            .arg("-o")
            .arg(&exe)
            .status()
            .expect("cc runs");
        assert!(built.success(), "{}", include.display());
        let out = Command::new(&exe).output().expect("offsets run");
        let text = String::from_utf8_lossy(&out.stdout);
        let minor: u8 = (include.file_name().unwrap().to_string_lossy())
            .strip_prefix("python3.")
            .and_then(|m| m.parse().ok())
            .expect("python3.N");
        let layout = hangscan::runtime::python::layout::for_minor(minor).expect("a layout");
        let mut want = layout.fields();
        want.sort();
        let mut got: Vec<(String, u64)> = (text.lines())
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        got.sort();
        let want: Vec<(String, u64)> = want.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(got, want, "3.{minor} from {}", include.display());
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn an_installed_interpreter_without_a_built_in_layout_is_named_with_why_and_its_own_dump() {
    let root = Command::new("pyenv").arg("root").output().ok();
    let root = root.map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(Ok(dir)) = root.map(|r| std::fs::read_dir(r.join("versions"))) else {
        eprintln!("no pyenv: no interpreter without a built-in layout to try");
        return;
    };
    let mut unknown: Vec<(PathBuf, u8)> = (dir.flatten())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().into_owned();
            let minor: u8 = version
                .strip_prefix("3.")?
                .split('.')
                .next()?
                .parse()
                .ok()?;
            let python = e.path().join(format!("bin/python3.{minor}"));
            let known = hangscan::runtime::python::layout::for_minor(minor).is_some();
            // 3.8 is where native_thread_id begins; 3.13 is read through its debug offsets.
            ((8..13).contains(&minor) && !known && python.exists()).then_some((python, minor))
        })
        .collect();
    unknown.sort();
    for (python, minor) in unknown {
        let hung = run(&python, "lock_abba");
        let pid = hung.pid.to_string();
        let (code, report) = support::report::json(&["attach", &pid]);
        assert_eq!(code, Some(1), "3.{minor}: a stall: {report}");
        assert_eq!(
            report["runtimes"][0]["name"], "CPython",
            "3.{minor}: {report}"
        );
        let dump_with = report["runtimes"][0]["dump_with"].as_str().unwrap();
        assert!(dump_with.contains("py-spy dump --pid"), "{dump_with}");
        let (_, text, _) = hangscan(&["attach", &pid]);
        assert!(
            text.contains(&format!(
                "whose Python frames were not read: CPython 3.{minor}"
            )) && text.contains("3.13 by its _Py_DebugOffsets, no other version yet"),
            "3.{minor}: {text}"
        );
    }
}

#[test]
fn pools_read_from_memory_starve_or_idle_as_their_frames_say() {
    if !require("debian-python3.11") {
        return;
    }
    for (name, args, want) in [
        ("pool_starvation", &[][..], &["pool-starvation"][..]),
        ("event_pool", &[], &["pool-starvation"]),
        ("condition_pool", &[], &["pool-starvation"]),
        ("mp_pool_starvation", &[], &["pool-starvation"]),
        ("queue_starved", &[], &["stall"]),
        ("busy_pool", &[], &[]),
        ("queue_pool", &["idle"], &[]),
    ] {
        let mut command = Command::new(DEBIAN_PYTHON);
        command
            .arg(programs("python").join(format!("{name}.py")))
            .args(args);
        let hung = HungProcess::spawn(name, command);
        let (code, report) = support::report::json(&["attach", &hung.pid.to_string()]);
        let kinds: Vec<&str> = (report["findings"].as_array().unwrap().iter())
            .filter_map(|f| f["kind"].as_str())
            .filter(|&k| k != "io-wait")
            .collect();
        assert_eq!(kinds, want, "{name}: {report}");
        assert_eq!(code, Some(i32::from(!want.is_empty())), "{name}");
    }
}

#[test]
fn cpython_3_13_is_read_through_its_debug_offsets_where_installed() {
    let pythons: Vec<PathBuf> = Command::new("pyenv")
        .arg("root")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("versions"))
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("3.13."))
        .map(|e| e.path().join("bin/python3.13"))
        .filter(|p| p.exists())
        .collect();
    if pythons.is_empty() {
        eprintln!("no CPython 3.13 installed: its debug offsets are not tried");
    }
    for python in pythons {
        let hung = run(&python, "lock_abba");
        let snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
        let note = read_note(&snap);
        assert!(
            note.contains("the layout from its _Py_DebugOffsets"),
            "{note}"
        );
        // Its locks are PyMutexes, whose waiters sleep apart: the frames show where each
        // transfer waits, not for which lock, so no cycle is claimed.
        let transfers = running(&snap, "lock_abba.Bank.transfer");
        assert_eq!(transfers.len(), 2, "{}", shown(&snap));
        for &t in &transfers {
            let line = (snap.threads[t].frames.iter())
                .find(|f| f.function.as_deref() == Some("lock_abba.Bank.transfer"))
                .and_then(|f| f.line);
            assert_eq!(line, Some(33), "{}", shown(&snap));
        }
        let a = hangscan::analyze(&snap);
        assert!(
            !a.findings.iter().any(|f| f.kind == FindingKind::LockCycle),
            "{}",
            shown(&snap)
        );
    }
}

#[test]
fn attaching_again_and_again_to_an_interpreter_that_churns_threads_and_frames_is_safe() {
    if !require("debian-python3.11") {
        return;
    }
    let mut command = Command::new(DEBIAN_PYTHON);
    command.arg(programs("python").join("churn.py"));
    let mut churn = support::Driven::spawn("churn.py", command);
    let beats = |d: &mut support::Driven| d.ask("beats").trim().parse::<u64>().unwrap();
    let mut last = beats(&mut churn);
    for i in 0..30 {
        // Stopped anywhere: threads starting or ending, frames pushed or popped, locks taken.
        let snap = hangscan::attach(churn.pid, &hangscan::Options::default())
            .unwrap_or_else(|e| panic!("attach {i}: {e}"));
        read_note(&snap);
        let a = hangscan::analyze(&snap);
        assert!(!a.deadlocked(), "attach {i}:\n{}", shown(&snap));
        // Between the attaches the program goes on.
        let now = beats(&mut churn);
        assert!(now >= last, "attach {i}: {now} after {last}");
        last = now;
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(beats(&mut churn) > last, "the heartbeat stopped");
}
