//! Go read from its own memory, live and from a gcore core, on the distribution's toolchain
//! (Debian's go1.19, its binaries unstripped as built): each goroutine as a thread beside the
//! runtime's OS threads, with its id, its status as Go's dump prints it, its frames named and
//! placed (`file:line`, inlined frames too), the `go` statement that created it and the mutex
//! it waits for; and the same waits and verdict as the program's own SIGQUIT dump.
//!
//! Programs (`fixtures/programs/go/`): `mutex_abba.go` (a `sync.Mutex` ABBA beside a goroutine
//! asleep in a loop: Go records no mutex owner, but only code that names a mutex can have taken
//! it, and the sleeper's names neither: live and from a core the ABBA is a heuristic cycle, exit
//! 1; its SIGQUIT dump carries no code, so it says the cycle cannot be decided from it and that
//! the program file (`parse --binary`, tests/parse_binary.rs), attaching or a core decides), `mutex_sleeper.go` (four workers on one mutex whose holder
//! sleeps: no deadlock in any view), `idle_workers.go` (workers on an empty channel, read from
//! their sudogs, a reader in `read(2)` with its OS thread's stack, and a ticker: exit 0, and a
//! saved snapshot reads back the same), `rwmutex_sleeper.go` (readers and a writer on one
//! `sync.RWMutex` whose holder sleeps: their waits name it by one address, live and from a
//! core; Go's dump prints an inlined `RLock` without its receiver, so there a reader names its
//! semaphore). `cond_wait.go` (goroutines in `sync.Cond.Wait` that nothing will signal): each
//! names the Cond's notify list, read live and from a core from the slot Go's dump prints it
//! from, by the address the SIGQUIT dump gives. Built without its symbol table or DWARF, a program's
//! goroutines are not read: the report says why, and names Go's own dump, its threads'
//! frames named and placed (file:line) by the pclntab. `churn.go` (goroutines created, grown, moved and freed all the time) is
//! attached again and again: every read is whole or says what it missed, no false verdict,
//! and the program goes on.

mod support;

use hangscan::analyze::{Analysis, FindingKind, Grade};
use hangscan::knowledge::WaitKind;
use hangscan::model::{FrameTrust, IdKind, Language, Snapshot, Thread};
use std::path::Path;
use std::process::Command;
use support::runtimes::{build_go, build_go_with, quit_go, with_stderr_to};
use support::{gcore, require, scratch, HungProcess};

/// The process attached live and read from a gcore core written into `dir`, each analysed.
fn live_and_core(pid: u32, dir: &Path) -> Vec<(&'static str, Snapshot, Analysis)> {
    let options = hangscan::Options::default();
    let live = hangscan::attach(pid, &options).expect("attach");
    let core = hangscan::read_core(&gcore(pid, dir), &options).expect("core");
    [("attach", live), ("core", core)]
        .into_iter()
        .map(|(how, snap)| {
            let a = hangscan::analyze(&snap);
            (how, snap, a)
        })
        .collect()
}

/// Go fixture `name` built into `dir` and run until it hangs: attached live, read from a gcore
/// core, then made to print its own SIGQUIT dump, which is parsed; each analysed.
fn every_view(name: &str, dir: &Path) -> Vec<(&'static str, Snapshot, Analysis)> {
    let exe = build_go(dir, name);
    let err = dir.join("sigquit.txt");
    let mut hung = HungProcess::spawn(name, with_stderr_to(&err, &[&exe]));
    let mut views = live_and_core(hung.pid, dir);
    let text = quit_go(&mut hung, &err);
    let snap = hangscan::parse_dump(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let a = hangscan::analyze(&snap);
    views.push(("sigquit", snap, a));
    views
}

/// The goroutine running `function`.
fn goroutine<'a>(snap: &'a Snapshot, function: &str) -> (usize, &'a Thread) {
    (snap.threads.iter().enumerate())
        .find(|(_, t)| {
            t.id_kind == IdKind::Goroutine
                && (t.frames.iter()).any(|f| f.function.as_deref() == Some(function))
        })
        .unwrap_or_else(|| panic!("no goroutine in {function}: {:#?}", snap.threads))
}

/// The first wait of thread `t`: its kind and address.
fn wait(a: &Analysis, t: usize) -> (WaitKind, Option<u64>) {
    let w = &a.facts[t].waits[0];
    (w.kind, w.address)
}

/// The first waits of the goroutines with `function` on their stacks, in order.
fn waits_in(snap: &Snapshot, a: &Analysis, function: &str) -> Vec<(WaitKind, Option<u64>)> {
    (0..snap.threads.len())
        .filter(|&t| {
            let thread = &snap.threads[t];
            thread.id_kind == IdKind::Goroutine
                && (thread.frames.iter()).any(|f| f.function.as_deref() == Some(function))
        })
        .map(|t| wait(a, t))
        .collect()
}

#[test]
fn a_go_mutex_abba_s_goroutines_are_read_live_and_from_a_core_as_its_sigquit_dump_shows_them() {
    if !(require("go") && require("gcore")) {
        return;
    }
    let dir = scratch("go_memory", "mutex_abba");
    let exe = build_go(&dir, "mutex_abba");
    let err = dir.join("sigquit.txt");
    let mut hung = HungProcess::spawn("mutex_abba", with_stderr_to(&err, &[&exe]));
    let mut seen = Vec::new();
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        // Read from memory: the runtime needs no dump of its own.
        assert_eq!(a.runtimes, [], "{how}");
        let (debit, d) = goroutine(&snap, "main.debit");
        let (credit, c) = goroutine(&snap, "main.credit");
        let (ticker, _) = goroutine(&snap, "main.tick");
        assert_eq!(d.status.as_deref(), Some("semacquire"), "{how}");
        assert!(
            d.notes[0].starts_with("created by main.main at "),
            "{how}: {:?}",
            d.notes
        );
        assert!(
            d.notes[0].ends_with("mutex_abba.go:53"),
            "{how}: {:?}",
            d.notes
        );
        // Named and placed as Go's own traceback places them, inlined frames included.
        let at = |t: &Thread, function: &str| {
            let f = (t.frames.iter())
                .find(|f| f.function.as_deref() == Some(function))
                .unwrap();
            assert_eq!(f.language, Some(Language::Go), "{how}");
            (
                f.file
                    .as_deref()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
                f.line,
                f.inlined,
            )
        };
        assert_eq!(
            at(d, "main.debit"),
            ("mutex_abba.go".into(), Some(27), false),
            "{how}"
        );
        assert_eq!(
            at(c, "main.credit"),
            ("mutex_abba.go".into(), Some(37), false),
            "{how}"
        );
        assert_eq!(
            at(d, "sync.(*Mutex).Lock"),
            ("mutex.go".into(), Some(90), true),
            "{how}"
        );
        assert_eq!(
            at(d, "sync.(*Mutex).lockSlow"),
            ("mutex.go".into(), Some(171), false)
        );
        // Each waits for the mutex the other holds, named by its symbol; the ticker sleeps.
        let (dk, dm) = wait(&a, debit);
        let (ck, cm) = wait(&a, credit);
        assert_eq!((dk, ck), (WaitKind::Mutex, WaitKind::Mutex), "{how}");
        assert!(
            dm.is_some() && cm.is_some() && dm != cm,
            "{how}: {dm:?} {cm:?}"
        );
        let symbol = |t: usize| a.facts[t].waits[0].symbol.clone();
        assert_eq!(
            (symbol(debit), symbol(credit)),
            (Some("main.ledgerMu".into()), Some("main.accountsMu".into())),
            "{how}"
        );
        assert_eq!(wait(&a, ticker).0, WaitKind::Sleep, "{how}");
        // The runtime's OS threads stay, and none of them runs.
        let os = (snap.threads.iter()).filter(|t| t.id_kind == IdKind::Debugger && t.tid.is_some());
        assert!(os.count() >= 2, "{how}");
        // Go records no mutex owner, but only code that names a mutex can have taken it: the
        // ticker's and main's code names neither, so each goroutine holds the mutex the other
        // waits for, and the ABBA is found (heuristic: a mutex reached through a pointer
        // would escape this).
        let cycle = (a.findings.iter())
            .find(|f| f.kind == FindingKind::LockCycle)
            .unwrap_or_else(|| panic!("{how}: {:#?}", a.findings));
        assert_eq!(cycle.confidence, Grade::Heuristic, "{how}");
        let mut threads = cycle.threads.clone();
        threads.sort_unstable();
        let mut expected = vec![debit, credit];
        expected.sort_unstable();
        assert_eq!(threads, expected, "{how}");
        assert!(a.deadlocked(), "{how}");
        seen.push((how, dm, cm));
    }
    // As a user runs it: exit 1, each wait naming its mutex; a saved snapshot keeps what the
    // code names (`refs`), so it reads back to the same cycle.
    let (grade, steps) = support::report::saved_cycle(hung.pid, &dir);
    assert_eq!(grade, "heuristic");
    assert!(
        steps.contains("waits for mutex main.ledgerMu")
            && steps.contains("waits for mutex main.accountsMu"),
        "{steps}"
    );
    // The program's own dump: the same mutexes, by the same addresses. Its text names no
    // code, so whether the ticker or main holds a mutex instead cannot be told from it: the
    // report says so, and what would decide (attaching, or a core), instead of a bare
    // "no deadlock".
    let text = quit_go(&mut hung, &err);
    let snap = hangscan::parse_dump(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let a = hangscan::analyze(&snap);
    let (debit, credit) = (
        goroutine(&snap, "main.debit").0,
        goroutine(&snap, "main.credit").0,
    );
    let (dm, cm) = (wait(&a, debit).1, wait(&a, credit).1);
    for (how, live_dm, live_cm) in seen {
        assert_eq!((live_dm, live_cm), (dm, cm), "{how}");
    }
    assert!(!a.deadlocked(), "{:#?}", a.findings);
    let undecided = (a.findings.iter())
        .find(|f| f.kind == FindingKind::HoldersUnknown)
        .unwrap_or_else(|| panic!("{:#?}", a.findings));
    assert_eq!(&undecided.threads[..2], &[debit, credit]);
    let (ticker, main) = (
        goroutine(&snap, "main.tick").0,
        goroutine(&snap, "main.main").0,
    );
    assert!(
        undecided.threads.contains(&ticker) && undecided.threads.contains(&main),
        "{undecided:#?}"
    );
    let advice = undecided.suggestion.as_deref().unwrap_or_default();
    assert!(
        advice.contains("hangscan attach")
            && advice.contains("core")
            && advice.contains("hangscan parse --binary"),
        "{advice}"
    );
    // As a user reads it: the verdict line says why, and the exit status is 0.
    let dump = dir.join("sigquit-only.txt");
    std::fs::write(&dump, &text).unwrap();
    let (code, out, _) = support::hangscan(&["parse", dump.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("cannot be told from this dump, which does not carry their code"),
        "{out}"
    );
}

/// Exit 0 and no finding but I/O (the reader goroutine's `read(2)`, information only).
fn assert_quiet(code: Option<i32>, report: &serde_json::Value) {
    let findings: Vec<&str> = (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .filter(|&k| k != "io-wait")
        .collect();
    assert_eq!((code, findings), (Some(0), vec![]), "{report}");
}

#[test]
fn a_healthy_go_program_read_from_memory_exits_0_with_its_goroutines() {
    if !require("go") {
        return;
    }
    let dir = scratch("go_memory", "idle_workers");
    let exe = build_go(&dir, "idle_workers");
    let hung = HungProcess::spawn("idle_workers", Command::new(exe));
    let saved = dir.join("snapshot.json");
    let (code, report) = support::report::json(&[
        "attach",
        &hung.pid.to_string(),
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert_quiet(code, &report);
    let goroutines: Vec<_> = (report["threads"].as_array().unwrap().iter())
        .filter(|t| t["debugger_id_kind"] == "goroutine")
        .collect();
    assert!(goroutines.len() >= 4, "{report}");
    assert!((goroutines.iter()).any(|t| t["summary"].as_str().unwrap().contains("main.work")));
    // The reader, in read(2), has the stack of the OS thread its M is.
    let reader = (goroutines.iter()).find(|t| t["status"] == "syscall");
    let reader = reader.unwrap_or_else(|| panic!("no reader: {report}"));
    assert!(
        reader["summary"].as_str().unwrap().contains("syscall.read"),
        "{reader}"
    );
    // Its M is named, as Go's own dump names it: the OS thread it is on.
    let on = (reader["notes"].as_array().into_iter().flatten())
        .filter_map(|n| n.as_str())
        .find(|n| n.starts_with("on LWP "));
    let on = on.unwrap_or_else(|| panic!("no M: {reader}"));
    let lwp: u32 = on["on LWP ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{}/task/{lwp}", hung.pid)).exists(),
        "{on}"
    );
    // The workers wait on one channel, read from their sudog: the jobs channel.
    let snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
    let a = hangscan::analyze(&snap);
    let workers = waits_in(&snap, &a, "main.work");
    assert_eq!(workers.len(), 4, "{:#?}", snap.threads);
    assert_eq!(workers[0].0, WaitKind::Channel);
    assert!(
        workers[0].1.is_some() && workers.iter().all(|w| *w == workers[0]),
        "{workers:?}"
    );
    // A saved snapshot keeps them: parsed back, the same report.
    let (code, again) = support::report::json(&["parse", saved.to_str().unwrap()]);
    assert_quiet(code, &again);
    assert_eq!(again["threads"], report["threads"]);
}

/// How long a goroutine has waited, as Go's dump prints it (`[chan receive, 2 minutes]`), is
/// its wait's stamp (`g.waitsince`, set once a collection saw it blocked) against the
/// runtime's clock when attached, whole minutes from one. A test cannot wait minutes: the
/// stamped waits of `idle_workers.go` (a collection ran after they parked) are fresh, so none
/// is timed, even with the program's clock 2 minutes behind hangscan's (its own time
/// namespace); from a core, which holds no clock, they are said to be untimed. The conversion
/// itself is tested on a made-up goroutine (`runtime::go::tests`).
#[test]
fn fresh_goroutine_waits_are_untimed_against_the_program_s_own_clock_and_from_a_core() {
    if !(require("go") && require("unshare") && require("gcore")) {
        return;
    }
    let dir = scratch("go_memory", "waited");
    let exe = build_go(&dir, "idle_workers");
    let mut behind = Command::new("unshare");
    behind.args(["--time", "--monotonic", "-120"]).arg(&exe);
    let hung = HungProcess::spawn("idle_workers", behind);
    let offsets = std::fs::read_to_string(format!("/proc/{}/timens_offsets", hung.pid));
    assert!(offsets.as_deref().unwrap().contains("-120"), "{offsets:?}");
    for (how, snap, _) in live_and_core(hung.pid, &dir) {
        let goroutines = (snap.threads.iter()).filter(|t| t.id_kind == IdKind::Goroutine);
        let timed: Vec<_> = goroutines.filter(|t| t.waited_minutes.is_some()).collect();
        assert!(timed.is_empty(), "{how}: {timed:#?}");
        let untimed = (snap.diagnostics.iter()).any(|d| d.message.contains("waited is not known"));
        assert_eq!(untimed, how == "core", "{how}: {:#?}", snap.diagnostics);
    }
}

#[test]
fn a_go_binary_without_symbols_or_dwarf_is_said_to_be_unread_and_why() {
    if !require("go") {
        return;
    }
    let dir = scratch("go_memory", "stripped");
    for (flags, why) in [("-s -w", "no symbol table"), ("-w", "no DWARF")] {
        let exe = build_go_with(&dir, "mutex_abba", flags);
        let hung = HungProcess::spawn("mutex_abba", Command::new(exe));
        let snap = hangscan::attach(hung.pid, &hangscan::Options::default()).expect("attach");
        let a = hangscan::analyze(&snap);
        assert!(
            !snap.threads.iter().any(|t| t.id_kind == IdKind::Goroutine),
            "{flags}"
        );
        let said = (snap.diagnostics.iter())
            .any(|d| d.message.contains("goroutines were not read") && d.message.contains(why));
        assert!(said, "{flags}: {:#?}", snap.diagnostics);
        // Its threads' frames name the runtime and are placed by its pclntab (file:line,
        // as Go's own traceback places them: `go_pclntab.rs` checks them against DWARF).
        let frames = || (snap.threads.iter()).flat_map(|t| &t.frames);
        let futex = frames().find(|f| f.function.as_deref() == Some("runtime.futex"));
        let futex = futex.unwrap_or_else(|| panic!("{flags}: {:#?}", snap.threads));
        assert!(
            (futex.file.as_deref()).is_some_and(|f| f.ends_with("/runtime/sys_linux_amd64.s"))
                && futex.line.is_some(),
            "{flags}: {futex:#?}"
        );
        // A leaf that keeps no frame pointer (`runtime.futex`) has its caller found by its
        // stack depth in the pclntab, as Go's own unwinder finds it.
        let leaves = (snap.threads.iter())
            .filter(|t| t.frames.len() > 1)
            .filter(|t| t.frames[0].function.as_deref() == Some("runtime.futex"));
        let callers: Vec<_> = leaves
            .map(|t| (t.frames[1].function.as_deref(), t.frames[1].trust))
            .collect();
        assert!(!callers.is_empty(), "{flags}: {:#?}", snap.threads);
        for caller in callers {
            assert_eq!(
                caller,
                (Some("runtime.futexsleep"), Some(FrameTrust::Pclntab))
            );
        }
        let unplaced = frames().filter(|f| {
            (f.module.as_deref()).is_some_and(|m| m.ends_with("/mutex_abba"))
                && (f.function.is_none() || f.file.is_none() || f.line.is_none())
        });
        assert_eq!(unplaced.count(), 0, "{flags}: {:#?}", snap.threads);
        let undebugged = (snap.diagnostics.iter()).any(|d| d.message.contains("no debug info"));
        assert!(!undebugged, "{flags}: {:#?}", snap.diagnostics);
        assert_eq!(a.runtimes.len(), 1, "{flags}");
        assert!(a.runtimes[0].dump_with.contains("kill -QUIT"), "{flags}");
    }
}

#[test]
fn attaching_again_and_again_to_a_runtime_that_churns_goroutines_and_stacks_is_safe() {
    if !require("go") {
        return;
    }
    let dir = scratch("go_memory", "churn");
    let exe = build_go(&dir, "churn");
    let mut churn = support::Driven::spawn("churn", Command::new(exe));
    let beats = |d: &mut support::Driven| d.ask("beats").trim().parse::<u64>().unwrap();
    let mut last = beats(&mut churn);
    let mut read = 0;
    for i in 0..30 {
        // Stopped anywhere: goroutines starting or ending, stacks growing or moving.
        let snap = hangscan::attach(churn.pid, &hangscan::Options::default())
            .unwrap_or_else(|e| panic!("attach {i}: {e}"));
        let note = (snap.diagnostics.iter()).find(|d| d.message.starts_with("Go go1."));
        assert!(note.is_some(), "attach {i}: {:#?}", snap.diagnostics);
        read += (snap.threads.iter())
            .filter(|t| t.id_kind == IdKind::Goroutine && !t.partial)
            .count();
        let a = hangscan::analyze(&snap);
        assert!(!a.deadlocked(), "attach {i}: {:#?}", a.findings);
        let now = beats(&mut churn);
        assert!(now >= last, "attach {i}: {now} after {last}");
        last = now;
    }
    assert!(read > 30, "{read} goroutines read whole in 30 attaches");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(beats(&mut churn) > last, "the heartbeat stopped");
}

#[test]
fn workers_on_a_mutex_whose_holder_sleeps_wait_on_it_and_no_view_claims_a_deadlock() {
    if !(require("go") && require("gcore")) {
        return;
    }
    let dir = scratch("go_memory", "mutex_sleeper");
    let views = every_view("mutex_sleeper", &dir);
    let mut mutexes = Vec::new();
    for (how, snap, a) in views {
        let workers = waits_in(&snap, &a, "main.post");
        assert_eq!(workers.len(), 4, "{how}");
        assert!(workers
            .iter()
            .all(|w| w.0 == WaitKind::Mutex && w.1 == workers[0].1));
        let (holder, _) = goroutine(&snap, "main.holdAndSleep");
        assert_eq!(wait(&a, holder).0, WaitKind::Sleep, "{how}");
        assert!(!a.deadlocked(), "{how}: {:#?}", a.findings);
        mutexes.push(workers[0].1);
    }
    // One mutex, by one address, in every view.
    assert!(
        mutexes[0].is_some() && mutexes.iter().all(|m| *m == mutexes[0]),
        "{mutexes:?}"
    );
}

#[test]
fn readers_and_a_writer_on_one_rwmutex_wait_on_its_address_live_and_from_a_core() {
    if !(require("go") && require("gcore")) {
        return;
    }
    let dir = scratch("go_memory", "rwmutex_sleeper");
    let exe = build_go(&dir, "rwmutex_sleeper");
    let hung = HungProcess::spawn("rwmutex_sleeper", Command::new(exe));
    let mut locks = Vec::new();
    for (how, snap, a) in live_and_core(hung.pid, &dir) {
        let readers = waits_in(&snap, &a, "main.read");
        let writers = waits_in(&snap, &a, "main.write");
        assert_eq!((readers.len(), writers.len()), (2, 1), "{how}");
        // The writer sleeps on the RWMutex's writers' mutex (its first member): a mutex wait.
        assert!(
            readers.iter().all(|w| w.0 == WaitKind::RwlockRead)
                && matches!(writers[0].0, WaitKind::Mutex | WaitKind::RwlockWrite),
            "{how}: {readers:?} {writers:?}"
        );
        let addresses: Vec<_> = readers.iter().chain(&writers).map(|w| w.1).collect();
        assert!(
            addresses[0].is_some() && addresses.iter().all(|a| *a == addresses[0]),
            "{how}: one RWMutex: {addresses:?}"
        );
        let (holder, _) = goroutine(&snap, "main.holdAndSleep");
        assert_eq!(wait(&a, holder).0, WaitKind::Sleep, "{how}");
        assert!(!a.deadlocked(), "{how}: {:#?}", a.findings);
        locks.push(addresses[0]);
    }
    assert_eq!(locks[0], locks[1], "live and core");
}

#[test]
fn goroutines_waiting_on_a_sync_cond_name_its_notify_list_live_from_a_core_and_in_sigquit() {
    if !(require("go") && require("gcore")) {
        return;
    }
    let dir = scratch("go_memory", "cond_wait");
    let views = every_view("cond_wait", &dir);
    let mut lists = Vec::new();
    for (how, snap, a) in views {
        let waiters = waits_in(&snap, &a, "main.(*dock).await");
        assert_eq!(waiters.len(), 3, "{how}");
        // Each waits on the Cond's notify list, by one address.
        assert!(
            waiters
                .iter()
                .all(|w| w.0 == WaitKind::Condvar && w.1.is_some() && w.1 == waiters[0].1),
            "{how}: {waiters:?}"
        );
        assert!(!a.deadlocked(), "{how}: {:#?}", a.findings);
        lists.push(waiters[0].1);
    }
    // The same list attached, from the core and in the program's own dump.
    assert!(lists.iter().all(|l| *l == lists[0]), "{lists:?}");
}
