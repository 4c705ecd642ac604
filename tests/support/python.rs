//! CPython programs run for the tests that read the interpreter from memory
//! (tests/python_memory.rs, tests/python_versions.rs): Debian's interpreter, pyenv's, the
//! fixtures run and read live and from a core, and what the tests assert of them.

use super::runtimes::programs;
use super::{gcore, scratch, HungProcess};
use hangscan::analyze::{Analysis, FindingKind, Grade, LockId};
use hangscan::knowledge::WaitKind;
use hangscan::model::{Language, Snapshot, Thread};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's interpreter.
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3.11";

/// `NAME.py` run by `python` until it is ready.
pub fn run(python: &Path, name: &str) -> HungProcess {
    let mut command = Command::new(python);
    command.arg(programs("python").join(format!("{name}.py")));
    HungProcess::spawn(name, command)
}

/// The process attached live, then read from a gcore core taken in `dir`: each analysed.
pub fn live_and_core(pid: u32, dir: &Path) -> Vec<(&'static str, Snapshot, Analysis)> {
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
pub fn running(snap: &Snapshot, function: &str) -> Vec<usize> {
    (0..snap.threads.len())
        .filter(|&t| has_frame(&snap.threads[t], function))
        .collect()
}

pub fn has_frame(t: &Thread, function: &str) -> bool {
    (t.frames.iter()).any(|f| f.function.as_deref() == Some(function))
}

/// Everything a failed assertion shows: the snapshot's threads and notes.
pub fn shown(snap: &Snapshot) -> String {
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
pub fn read_note(snap: &Snapshot) -> &str {
    (snap.diagnostics.iter())
        .map(|d| d.message.as_str())
        .find(|m| m.contains("read from memory"))
        .unwrap_or_else(|| panic!("no CPython note:\n{}", shown(snap)))
}

/// The one finding of `a`, of `kind`, among `threads`, graded `grade`.
pub fn assert_finding(how: &str, snap: &Snapshot, a: &Analysis, kind: FindingKind, grade: Grade) {
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
pub fn assert_lock_abba(python: &Path, version: &str) {
    let dir = scratch("python_memory", &format!("lock_abba-{version}"));
    let hung = run(python, "lock_abba");
    let mut signatures = Vec::new();
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        let note = read_note(&snap);
        assert!(
            note.contains(&format!("CPython {version}")) && note.contains(layout_said(version)),
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
        // Each thread is named as `threading` names it (the OS calls them all `python3.N`).
        let mut names: Vec<_> = (transfers.iter().chain(&main))
            .map(|&t| snap.threads[t].name.as_deref().unwrap_or(""))
            .collect();
        names.sort();
        assert_eq!(names, ["MainThread", "transfer-1", "transfer-2"], "{how}");
        signatures.push(a.findings[0].signature.clone());
    }
    assert_eq!(signatures[0], signatures[1], "live and core");
}

/// How the read note says CPython `version` (`3.N…`) was laid out: by its built-in layout
/// (3.8 to 3.12), else by its `_Py_DebugOffsets`.
pub fn layout_said(version: &str) -> &'static str {
    let minor = version.split('.').nth(1).and_then(|m| m.parse().ok());
    match minor.and_then(hangscan::runtime::python::layout::for_minor) {
        Some(_) => "built-in layout",
        None => "the layout from its _Py_DebugOffsets",
    }
}

/// The minor versions of CPython `.ci/run` unpacks from Debian's archive (bullseye's 3.9,
/// trixie's 3.13).
pub const ARCHIVE_MINORS: &[u8] = &[9, 13];

/// An `RLock` ABBA run by `python` (`3.N…` as `version`): a proven lock cycle of the push and
/// the pull, each RLock naming its owner; live and from a core.
pub fn assert_rlock_abba(python: &Path, version: &str) {
    let dir = scratch("python_memory", &format!("rlock_abba-{version}"));
    let hung = run(python, "rlock_abba");
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        assert_finding(how, &snap, &a, FindingKind::LockCycle, Grade::Proven);
        let mut threads = running(&snap, "rlock_abba.Replica.push");
        threads.extend(running(&snap, "rlock_abba.Replica.pull"));
        threads.sort_unstable();
        assert_eq!(a.findings[0].threads, threads, "{how}:\n{}", shown(&snap));
    }
}

/// Two threads run by `python` joining each other: a join cycle, each join naming the other
/// thread by its tid; live and from a core.
pub fn assert_join_cycle(python: &Path, version: &str) {
    let dir = scratch("python_memory", &format!("join_cycle-{version}"));
    let hung = run(python, "join_cycle");
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

/// A thread run by `python` spinning in Python code holds the GIL, and only it.
///
/// The spinner prints READY itself, so a loaded machine may still find it returning from that
/// write (the GIL released for it): the process is attached again until its innermost Python
/// frame is the spin loop, and that snapshot is judged.
pub fn assert_gil_holder(python: &Path) {
    let hung = run(python, "gil_spin");
    let spinning = |snap: &Snapshot| {
        (snap.threads.iter()).any(|t| {
            let python = t
                .frames
                .iter()
                .find(|f| f.language == Some(Language::Python));
            python.and_then(|f| f.function.as_deref()) == Some("gil_spin.spin")
        })
    };
    let mut snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
    for _ in 0..50 {
        if spinning(&snap) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
    }
    assert!(spinning(&snap), "{}", shown(&snap));
    let holders: Vec<&Thread> = (snap.threads.iter())
        .filter(|t| t.status.as_deref() == Some("gil"))
        .collect();
    assert_eq!(holders.len(), 1, "{}", shown(&snap));
    assert!(has_frame(holders[0], "gil_spin.spin"), "{}", shown(&snap));
}

/// An asyncio loop run by `python` whose named tasks all wait (`asyncio_tasks.py`): no
/// finding, and each task under the loop's thread (its notes) with its coroutine and the line
/// it awaits at; live and from a core.
pub fn assert_asyncio_tasks(python: &Path, version: &str) {
    let dir = scratch("python_memory", &format!("asyncio_tasks-{version}"));
    let hung = run(python, "asyncio_tasks");
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        assert!(!a.deadlocked(), "{how}:\n{}", shown(&snap));
        let looping = running(&snap, "asyncio.base_events.BaseEventLoop.run_forever");
        assert_eq!(looping.len(), 1, "{how}:\n{}", shown(&snap));
        let mut notes = snap.threads[looping[0]].notes.clone();
        notes.sort();
        let file = programs("python").join("asyncio_tasks.py");
        let file = file.display();
        let want = [
            format!("asyncio task Task-1: asyncio_tasks.main ({file}:36), awaiting"),
            format!("asyncio task consumer-1: asyncio_tasks.consume ({file}:20), awaiting"),
            format!("asyncio task consumer-2: asyncio_tasks.consume ({file}:20), awaiting"),
            format!("asyncio task heartbeat: asyncio_tasks.beat ({file}:27), awaiting"),
        ];
        assert_eq!(notes, want, "{how}:\n{}", shown(&snap));
        assert!(
            (snap.diagnostics.iter())
                .any(|d| d.message.contains("runs an asyncio loop with 4 tasks")),
            "{how}:\n{}",
            shown(&snap)
        );
    }
}

/// Every other interpreter here: pyenv's ([`pyenv_versions`]) and those `.ci/run` unpacks from
/// Debian's archive ([`archive_python`]), each with its path, its `3.N.M` and `N`.
pub fn installed_versions() -> Vec<(PathBuf, String, u8)> {
    let mut out = pyenv_versions();
    for &minor in ARCHIVE_MINORS {
        let Some(python) = archive_python(minor) else {
            continue;
        };
        let said = Command::new(&python)
            .args(["-c", "import platform; print(platform.python_version())"])
            .output()
            .expect("the archive's interpreter runs");
        let version = String::from_utf8_lossy(&said.stdout).trim().to_string();
        assert!(version.starts_with(&format!("3.{minor}.")), "{version}");
        out.push((python, version, minor));
    }
    out
}

/// Debian's CPython `3.minor` as `.ci/run` unpacks it from the archive, when it is there:
/// `target/pythons/3.N/python3.N` where that release's own loader and libc run it (trixie's
/// 3.13 on bookworm), else `target/pythons/3.N/usr/bin/python3.N`, run in place (it finds its
/// library beside it).
pub fn archive_python(minor: u8) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/pythons/3.{minor}"));
    let through_loader = dir.join(format!("python3.{minor}"));
    let python = match through_loader.exists() {
        true => through_loader,
        false => dir.join(format!("usr/bin/python3.{minor}")),
    };
    (dir.join(".complete").exists() && python.exists()).then_some(python)
}

/// Every interpreter pyenv has installed (`pyenv root`'s `versions/3.N.M/bin/python3.N`):
/// its path, its `3.N.M` and `N`; none without pyenv.
pub fn pyenv_versions() -> Vec<(PathBuf, String, u8)> {
    let root = Command::new("pyenv").arg("root").output().ok();
    let root = root.map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(Ok(dir)) = root.map(|r| std::fs::read_dir(r.join("versions"))) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, String, u8)> = dir
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().into_owned();
            let minor: u8 = version
                .strip_prefix("3.")?
                .split('.')
                .next()?
                .parse()
                .ok()?;
            let python = e.path().join(format!("bin/python3.{minor}"));
            python.exists().then_some((python, version, minor))
        })
        .collect();
    out.sort();
    out
}

/// A thread run by `python` taking, in a `with` block, a lock it holds in a caller's `with`
/// block: a self-lock, symbolic.
pub fn assert_self_lock(python: &Path) {
    let hung = run(python, "self_lock");
    let snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
    let a = hangscan::analyze(&snap);
    assert_finding("attach", &snap, &a, FindingKind::SelfLock, Grade::Symbolic);
    let t = a.findings[0].threads[0];
    assert!(has_frame(
        &snap.threads[t],
        "self_lock.MetricsRegistry.flush"
    ));
}

/// `python`'s pools attached live and read from a core: the starved ones starve, the idle and
/// busy ones exit 0.
pub fn assert_pools(python: &Path) {
    for (name, args, want) in [
        ("pool_starvation", &[][..], &["pool-starvation"][..]),
        ("event_pool", &[], &["pool-starvation"]),
        ("condition_pool", &[], &["pool-starvation"]),
        ("mp_pool_starvation", &[], &["pool-starvation"]),
        ("queue_starved", &[], &["stall"]),
        ("busy_pool", &[], &[]),
        ("queue_pool", &["idle"], &[]),
    ] {
        let mut command = Command::new(python);
        command
            .arg(programs("python").join(format!("{name}.py")))
            .args(args);
        let hung = HungProcess::spawn(name, command);
        // One sample: a stall is judged by the frames alone (on a loaded machine a second
        // look may see a thread woken by chance and call it slow progress).
        let pid = hung.pid.to_string();
        let (code, report) = super::report::json(&["attach", &pid, "--samples", "1"]);
        assert_kinds(name, code, &report, want);
        // From a core of it, the same.
        if super::require("gcore") {
            let dir = scratch("python_memory", &format!("pools-{name}"));
            let core = gcore(hung.pid, &dir);
            let (code, report) = super::report::json(&["core", core.to_str().unwrap()]);
            assert_kinds(&format!("{name} (core)"), code, &report, want);
        }
    }
}

/// The report's findings but I/O waits are `want`, and its exit code says whether any is.
fn assert_kinds(name: &str, code: Option<i32>, report: &serde_json::Value, want: &[&str]) {
    let kinds: Vec<&str> = (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .filter(|&k| k != "io-wait")
        .collect();
    assert_eq!(kinds, want, "{name}: {report}");
    assert_eq!(code, Some(i32::from(!want.is_empty())), "{name}");
}

/// Two threads run by `python` waiting on one Condition, Event or Queue: their waits name
/// that object's address, live and from a core.
pub fn assert_shared_waits(python: &Path, version: &str) {
    for (name, args, function, rule) in [
        (
            "condition_pool",
            &[][..],
            "condition_pool.build_index",
            "python.condition-wait-named",
        ),
        (
            "event_pool",
            &[],
            "event_pool.load_shard",
            "python.event-wait",
        ),
        (
            "queue_pool",
            &["idle"],
            "queue_pool.Crew.consume",
            "python.queue",
        ),
    ] {
        let dir = scratch("python_memory", &format!("{name}-waits-{version}"));
        let mut command = Command::new(python);
        command
            .arg(programs("python").join(format!("{name}.py")))
            .args(args);
        let hung = HungProcess::spawn(name, command);
        for (how, snap, a) in live_and_core(hung.pid, &dir) {
            let workers = running(&snap, function);
            assert_eq!(workers.len(), 2, "{name} {how}:\n{}", shown(&snap));
            let waits: Vec<_> = (workers.iter())
                .map(|&t| {
                    let w = &a.facts[t].waits[0];
                    (w.rule.as_str(), w.address)
                })
                .collect();
            assert_eq!(waits[0].0, rule, "{name} {how}: {waits:?}");
            assert!(waits[0].1.is_some(), "{name} {how}: {waits:?}");
            assert_eq!(waits[0], waits[1], "{name} {how}: one object");
        }
    }
}

/// `python` running `churn.py` (threads and frames created and destroyed all the time),
/// attached 30 times: every read is whole or says what it missed, no verdict, and the
/// program goes on.
pub fn assert_churn_is_safe(python: &Path) {
    let mut command = Command::new(python);
    command.arg(programs("python").join("churn.py"));
    let mut churn = super::Driven::spawn("churn.py", command);
    let beats = |d: &mut super::Driven| d.ask("beats").trim().parse::<u64>().unwrap();
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
