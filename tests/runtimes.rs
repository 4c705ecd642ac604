//! A JVM, a CPython interpreter and a Go program attached live (and read from a gcore core,
//! CPython and Go, and dumped by gdb's `bt` and `bt full`), where their own frames are not
//! readable: native stacks show only the runtime's C and C++ frames (and Go's runtime
//! threads). A CPython hangscan reads from memory, live or from a core, needs no other dump
//! (tests/python_memory.rs); gdb's dumps of it still do. The report names the runtime, says which command dumps its own stacks
//! (`jstack -l PID`, `py-spy dump --pid PID`, `kill -QUIT PID`), and classifies the runtime's
//! own waits by what they are: HotSpot's monitor enter is a lock wait, not the condition
//! variable it parks on; CPython's lock acquire is a Python lock wait, not the semaphore it
//! sleeps on; a Go program's threads asleep in the scheduler are idle, never running.
//!
//! Programs: `fixtures/programs/java/MonitorAbba.java` (a `synchronized` ABBA),
//! `fixtures/programs/python/lock_abba.py` (a `threading.Lock` ABBA) and
//! `fixtures/programs/go/mutex_sleeper.go` (every worker goroutine on one `sync.Mutex`, its
//! holder asleep); and healthy ones, `Idle.java`, `idle_pool.py` and `go/idle_workers.go`.
//! `go/cshared/` is Go built as a C shared library (`-buildmode=c-shared`) and loaded by a C
//! program: the runtime is read from the library, and its mutex ABBA found as in an executable;
//! loaded by CPython (`python/with_go.py`), beside a Python Lock ABBA, both cycles are found.

mod support;

use hangscan::analyze::{Activity, Analysis, FindingKind, Grade};
use hangscan::knowledge::WaitKind;
use hangscan::model::{IdKind, Language, Snapshot};
use std::path::Path;
use std::process::Command;
use support::runtimes::{
    build, build_go, dump_in, java, javac, programs, quit_go, signal, with_stderr_to, GOPATH,
};
use support::{gcore, gdb_dump, hangscan, require, scratch, HungProcess};

/// The process attached live, read from a gcore core written into `core_in` (when given: a
/// JVM's core is hundreds of megabytes), and as gdb's `thread apply all bt` and `bt full` show
/// it, each analysed.
fn every_view(pid: u32, core_in: Option<&Path>) -> Vec<(&'static str, Snapshot, Analysis)> {
    let options = hangscan::Options::default();
    let mut out = Vec::new();
    let snap = hangscan::attach(pid, &options).expect("attach");
    let a = hangscan::analyze(&snap);
    out.push(("attach", snap, a));
    if let Some(dir) = core_in.filter(|_| require("gcore")) {
        let core = gcore(pid, dir);
        let snap = hangscan::read_core(&core, &options).expect("core");
        let a = hangscan::analyze(&snap);
        let _ = std::fs::remove_file(&core);
        out.push(("core", snap, a));
    }
    if require("gdb") {
        for (how, full) in [("gdb bt", false), ("gdb bt full", true)] {
            let text = gdb_dump(pid, full);
            let snap = hangscan::parse_dump(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            let a = hangscan::analyze(&snap);
            out.push((how, snap, a));
        }
    }
    out
}

/// The report names `runtime` once, with a command that starts with `command` (its pid filled
/// in, live), in the text report's header and in the JSON.
fn assert_runtime_named(pid: u32, runtime: &str, command: &str) {
    let (_, text, err) = hangscan(&["attach", &pid.to_string()]);
    let want = command.replace("{pid}", &pid.to_string());
    let line = (text.lines())
        .find(|l| l.starts_with("runtime: "))
        .unwrap_or_else(|| panic!("no runtime line:\n{text}\n{err}"));
    assert!(
        line.starts_with(&format!("runtime: {runtime} (pid {pid})")) && line.contains(&want),
        "{line}"
    );
    let (_, report) = support::report::json(&["attach", &pid.to_string()]);
    let runtimes = report["runtimes"].as_array().expect("runtimes");
    assert_eq!(runtimes.len(), 1, "{runtimes:?}");
    assert_eq!(runtimes[0]["name"], runtime);
    assert_eq!(runtimes[0]["pid"], pid);
    assert!(
        runtimes[0]["dump_with"].as_str().unwrap().contains(&want),
        "{runtimes:?}"
    );
}

/// Whether the snapshot holds Python frames read from the interpreter's memory.
fn python_read(snap: &Snapshot) -> bool {
    (snap.threads.iter().flat_map(|t| &t.frames)).any(|f| f.language.is_some())
}

fn named(snap: &Snapshot, name: &str) -> usize {
    (snap.threads.iter())
        .position(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no thread {name}"))
}

#[test]
fn a_jvm_attached_live_is_named_its_monitor_waits_are_lock_waits_and_jstack_is_the_next_step() {
    if !require("jdk") {
        return;
    }
    let classes = scratch("runtimes", "java");
    javac(&classes, &["MonitorAbba.java"]);
    let hung = HungProcess::spawn("MonitorAbba", java(&classes, "MonitorAbba"));
    for (how, snap, a) in every_view(hung.pid, None) {
        assert_eq!(a.runtimes.len(), 1, "{how}: {:?}", a.runtimes);
        assert_eq!(a.runtimes[0].name, "HotSpot JVM", "{how}");
        for name in ["ledger-debit", "ledger-credit"] {
            let t = named(&snap, name);
            let w = &a.facts[t].waits[0];
            assert_eq!(a.facts[t].activity, Activity::Blocked, "{how}: {name}");
            // Parked on its event's condition variable, entering a monitor: a lock wait.
            assert_eq!(
                (w.kind, w.rule.as_str()),
                (WaitKind::Mutex, "java.hotspot-monitor-enter"),
                "{how}: {name}"
            );
            let frame = snap.threads[t].frames[w.frame].function.as_deref();
            assert!(
                frame.is_some_and(|f| f.contains("monitorenter")),
                "{how}: {frame:?}"
            );
        }
    }
    assert_runtime_named(hung.pid, "HotSpot JVM", "`jstack -l {pid}`");
}

#[test]
fn cpython_through_gdb_is_named_its_lock_waits_are_python_lock_waits_and_py_spy_is_the_next_step() {
    if !require("python3") {
        return;
    }
    let dir = scratch("runtimes", "python");
    let err = dir.join("faulthandler.txt");
    let script = programs("python").join("lock_abba.py");
    let python = with_stderr_to(&err, &[Path::new("python3"), &script]);
    let hung = HungProcess::spawn("lock_abba.py", python);
    for (how, snap, a) in every_view(hung.pid, Some(&dir)) {
        if python_read(&snap) {
            // hangscan read this CPython's own frames from its memory (live or from a core of
            // a version it reads), so it names no other dump to take (tests/python_memory.rs
            // says what the frames show).
            assert_eq!(a.runtimes, [], "{how}");
            continue;
        }
        assert_eq!(a.runtimes.len(), 1, "{how}: {:?}", a.runtimes);
        assert_eq!(a.runtimes[0].name, "CPython", "{how}");
        // Both transfers and the main thread's join sleep on a lock's semaphore: each is a
        // Python lock wait (which lock, and what for, only the Python frames say).
        assert_eq!(snap.threads.len(), 3, "{how}");
        for (t, facts) in a.facts.iter().enumerate() {
            let w = &facts.waits[0];
            assert_eq!(
                (w.kind, w.rule.as_str()),
                (WaitKind::PythonLock, "python.lock-acquire"),
                "{how}: thread {t}"
            );
        }
    }
    // The command the report names instead when py-spy is not installed: faulthandler, which
    // the program registered for SIGUSR1, shows what native frames could not.
    signal(hung.pid, "-USR1");
    // The main thread's stack comes last, ending in the script's `<module>`.
    let text = dump_in(&err, "in <module>");
    let snap = hangscan::parse_dump(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(snap.producer, "faulthandler", "{text}");
    let frames = |t: &hangscan::model::Thread| {
        t.frames.iter().any(|f| {
            f.function
                .as_deref()
                .is_some_and(|n| n.ends_with("transfer"))
        })
    };
    assert_eq!(
        snap.threads.iter().filter(|t| frames(t)).count(),
        2,
        "{text}"
    );
    // The runtime's own dumps need no other: faulthandler's, and py-spy's even with the C
    // frames that name CPython (`--native`).
    assert_eq!(hangscan::analyze(&snap).runtimes, []);
    let native = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps/py-spy/lock_abba.native-locals.txt");
    let snap = hangscan::parse_dump(std::fs::read(native).unwrap()).unwrap();
    assert_eq!(hangscan::analyze(&snap).runtimes, []);
}

#[test]
fn a_go_program_s_threads_run_nothing_and_its_goroutines_are_read_or_kill_quit_is_named() {
    if !require("go") {
        return;
    }
    let dir = scratch("runtimes", "go");
    let exe = build_go(&dir, "mutex_sleeper");
    let err = dir.join("sigquit.txt");
    let mut hung = HungProcess::spawn("mutex_sleeper", with_stderr_to(&err, &[&exe]));
    for (how, snap, a) in every_view(hung.pid, Some(&dir)) {
        // Live and from a core the goroutines are read from memory (tests/go_memory.rs); gdb
        // shows only the runtime's threads, and the report names the runtime's own dump.
        let goroutines = (snap.threads.iter()).any(|t| t.id_kind == IdKind::Goroutine);
        assert_eq!(goroutines, !how.starts_with("gdb"), "{how}");
        if !goroutines {
            assert_eq!(a.runtimes.len(), 1, "{how}: {:?}", a.runtimes);
            assert_eq!(a.runtimes[0].name, "Go", "{how}");
        } else {
            assert_eq!(a.runtimes, [], "{how}");
        }
        // The runtime's threads (Ms) sleep in the scheduler, sysmon or the netpoller. None of
        // them runs.
        assert!(snap.threads.len() >= 2, "{how}");
        for (t, facts) in a.facts.iter().enumerate() {
            if snap.threads[t].id_kind == IdKind::Goroutine {
                continue;
            }
            assert!(
                matches!(facts.activity, Activity::Idle | Activity::External),
                "{how}: thread {t} is {:?}: {:?}",
                facts.activity,
                snap.threads[t].frames
            );
        }
    }
    let (_, text, _) = hangscan(&["attach", &hung.pid.to_string()]);
    assert!(!text.contains("running"), "{text}");
    // The command the report names gives the goroutines: the four workers on the mutex, its
    // holder asleep.
    let text = quit_go(&mut hung, &err);
    let snap = hangscan::parse_dump(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let a = hangscan::analyze(&snap);
    assert_eq!(snap.producer, "go", "{text}");
    assert_eq!(a.runtimes, [], "a goroutine dump is the Go runtime's own");
    let on = |kind: WaitKind| {
        (a.facts.iter())
            .filter(|f| f.waits.first().is_some_and(|w| w.kind == kind))
            .count()
    };
    assert_eq!((on(WaitKind::Mutex), on(WaitKind::Sleep)), (4, 1), "{text}");
}

#[test]
fn healthy_programs_on_each_runtime_attached_live_get_exit_0_no_finding_and_their_runtime() {
    let mut started = Vec::new();
    if require("jdk") {
        let classes = scratch("runtimes", "java-idle");
        javac(&classes, &["Idle.java"]);
        started.push((
            "HotSpot JVM",
            HungProcess::spawn("Idle", java(&classes, "Idle")),
        ));
    }
    if require("python3") {
        let mut python = Command::new("python3");
        python.arg(programs("python").join("idle_pool.py"));
        started.push(("CPython", HungProcess::spawn("idle_pool.py", python)));
    }
    // The Go build's directory lives until the programs it holds have been looked at.
    let go_dir = scratch("runtimes", "go-idle");
    if require("go") {
        let exe = build_go(&go_dir, "idle_workers");
        started.push(("Go", HungProcess::spawn("idle_workers", Command::new(exe))));
    }
    for (runtime, hung) in &started {
        let (code, report) = support::report::json(&["attach", &hung.pid.to_string()]);
        // A thread waiting in accept or epoll is reported as in I/O (information), no more.
        let findings: Vec<&str> = (report["findings"].as_array().unwrap().iter())
            .filter_map(|f| f["kind"].as_str())
            .filter(|&k| k != "io-wait")
            .collect();
        assert_eq!((code, findings), (Some(0), vec![]), "{runtime}: {report}");
        let managed_frames = (report["threads"].as_array().unwrap().iter())
            .flat_map(|t| t["frames"].as_array().unwrap())
            .any(|f| f["language"] == "python" || f["language"] == "go");
        if managed_frames {
            // Its Python frames or goroutines were read from its memory: no other dump is
            // needed.
            let none = report["runtimes"].as_array().is_none_or(Vec::is_empty);
            assert!(none, "{report}");
        } else {
            assert_eq!(report["runtimes"][0]["name"], *runtime, "{report}");
        }
        if *runtime == "Go" {
            // The reader's M, asleep in read(2) with its goroutine, is in I/O: not running.
            let reader = (report["threads"].as_array().unwrap().iter())
                .find(|t| t["summary"].as_str().unwrap().contains("syscall.read"))
                .unwrap_or_else(|| panic!("no reader: {report}"));
            assert_eq!(reader["state"], "external", "{reader}");
        }
    }
}

#[test]
fn go_built_as_a_c_shared_library_is_read_from_it_and_its_mutex_abba_is_a_cycle() {
    if !require("go") {
        return;
    }
    let dir = scratch("runtimes", "cshared");
    let src = programs("go").join("cshared");
    let mut go = Command::new("go");
    go.args(["build", "-buildmode=c-shared", "-o"])
        .arg(dir.join("libabba.so"))
        .arg(src.join("abba.go"))
        .env("GOCACHE", dir.join("cache"))
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH);
    build(&mut go);
    let mut cc = Command::new("cc");
    cc.arg(src.join("host.c"))
        .arg("-o")
        .arg(dir.join("host"))
        .arg("-L")
        .arg(&*dir)
        .args(["-labba", "-Wl,-rpath,$ORIGIN"]);
    build(&mut cc);
    let hung = HungProcess::spawn("cshared", Command::new(dir.join("host")));
    let options = hangscan::Options::default();
    let live = hangscan::attach(hung.pid, &options).expect("attach");
    let mut views = vec![("attach", live)];
    if require("gcore") {
        let core = gcore(hung.pid, &dir);
        views.push(("core", hangscan::read_core(&core, &options).expect("core")));
        let _ = std::fs::remove_file(&core);
    }
    for (how, snap) in views {
        let a = hangscan::analyze(&snap);
        let read = (snap.diagnostics.iter()).any(|d| {
            d.message.starts_with("Go ")
                && d.message.contains("read from memory in")
                && d.message.contains("libabba.so")
        });
        assert!(read, "{how}: {:?}", snap.diagnostics);
        // The two goroutines' cycle: the Ms cgo made (their walk ends in crosscall_amd64, an
        // untyped assembly label, now named) and the C main thread hold neither mutex.
        assert!(a.deadlocked(), "{how}: {:?}", a.findings);
        let mut cycle: Vec<&str> = (a.findings[0].threads.iter())
            .map(|&t| snap.threads[t].frames.iter())
            .filter_map(|mut f| {
                f.find_map(|f| f.function.as_deref().filter(|n| n.starts_with("main.")))
            })
            .collect();
        cycle.sort_unstable();
        assert_eq!(cycle, ["main.credit", "main.debit"], "{how}");
        // A walk that runs off the end of a thread's stack mapping was not cut short by the
        // copy: no advice to copy more.
        for t in &snap.threads {
            let said = t.unwind_error.as_deref().unwrap_or_default();
            assert!(
                !said.contains("--stack-bytes"),
                "{how}: {}: {said}",
                t.label()
            );
        }
    }
    // Two runtimes in one process: CPython loads the library and deadlocks its own threads
    // too. Both cycles: the Python threads, running Python code no symbol table can check,
    // hold no Go mutex (only goroutines do).
    if !require("debian-python3.11") {
        return;
    }
    let mut python = Command::new("/usr/bin/python3.11");
    python
        .arg(programs("python").join("with_go.py"))
        .arg(dir.join("libabba.so"));
    let hung = HungProcess::spawn("with_go", python);
    let snap = hangscan::attach(hung.pid, &options).expect("attach");
    let a = hangscan::analyze(&snap);
    // Each cycle's threads: goroutines, or OS threads running Python code.
    let mut cycles: Vec<(bool, usize)> = (a.findings.iter())
        .filter(|f| f.kind == FindingKind::LockCycle)
        .map(|f| {
            let goroutines =
                (f.threads.iter()).all(|&t| snap.threads[t].id_kind == IdKind::Goroutine);
            (goroutines, f.threads.len())
        })
        .collect();
    cycles.sort_unstable();
    assert_eq!(cycles, [(false, 2), (true, 2)], "{:?}", a.findings);
    let python = (a.findings.iter()).find(|f| f.confidence == Grade::Symbolic);
    assert!(
        python.is_some_and(|f| (f.threads.iter()).all(|&t| snap.threads[t]
            .frames
            .iter()
            .any(|fr| fr.language == Some(Language::Python))))
    );
}
