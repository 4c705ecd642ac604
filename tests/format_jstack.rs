//! Java thread dumps recorded from the programs in `fixtures/programs/java` (JDK 17 and 25;
//! plain `jstack`, `jstack -l`, `jcmd PID Thread.print`; see `fixtures/dumps/jstack/README.md`):
//! threads and their identities, statuses and frames, the JVM's own deadlock report and its
//! cross-check, and the findings with their grades. One test compiles a program, runs it and
//! dumps it live.

mod support;

use hangscan::analyze::{analyze, Activity, Analysis, FindingKind, Grade, Severity};
use hangscan::dump::{parse_dump, sniff};
use hangscan::knowledge::{KnowledgeBase, WaitKind};
use hangscan::model::{Evidence, IdKind, Snapshot};
use std::path::{Path, PathBuf};
use std::process::Command;

fn dumps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/jstack")
}

/// Every recording of a program: `(file name, text)`, JDK 17 and 25, each tool.
fn recordings(program: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for jdk in ["jdk17", "jdk25"] {
        for tool in ["jstack", "jstack-l", "jcmd"] {
            let name = format!("{program}.{jdk}.{tool}.txt");
            let text = std::fs::read_to_string(dumps_dir().join(&name))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            out.push((name, text));
        }
    }
    out
}

/// Whether the recording lists ownable synchronizers (`jstack -l`).
fn lists_synchronizers(file: &str) -> bool {
    file.ends_with(".jstack-l.txt")
}

fn read(name: &str, text: &str) -> (Snapshot, Analysis) {
    let snap = parse_dump(text.as_bytes(), name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(snap.producer, "jstack", "{name}");
    let a = analyze(&snap, &KnowledgeBase::builtin());
    (snap, a)
}

fn thread(snap: &Snapshot, name: &str) -> usize {
    snap.threads
        .iter()
        .position(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no thread {name}"))
}

fn names(snap: &Snapshot, threads: &[usize]) -> Vec<String> {
    threads
        .iter()
        .map(|&t| snap.threads[t].name.clone().unwrap_or_default())
        .collect()
}

/// The header line of thread `name` in the text, and its `nid=` (the OS tid) and `#id`.
fn header_ids(text: &str, name: &str) -> (u64, String) {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("\"{name}\" #")))
        .unwrap_or_else(|| panic!("no header for {name}"));
    let nid = line
        .split(" nid=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let nid = match nid.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => nid.parse().unwrap(),
    };
    let id = line.split(" #").nth(1).unwrap().split(' ').next().unwrap();
    (nid, id.to_string())
}

/// Where the snapshot's owner statements for the lock at `address` come from.
fn owner_sources(snap: &Snapshot, address: u64) -> Vec<&str> {
    snap.evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::LockOwner {
                address: a, source, ..
            } if *a == address => Some(source.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_recording_sniffs_as_jstack_and_has_every_thread() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dumps_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 42, "{} recordings", files.len());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(sniff(&raw).map(|f| f.name()), Some("jstack"), "{name}");
        let text = String::from_utf8(raw).unwrap();
        let (snap, _) = read(&name, &text);
        // Every header of the thread list, counted independently: a quoted name with `nid=`.
        let list = text.split("JNI global refs").next().unwrap();
        let headers = list
            .lines()
            .filter(|l| l.starts_with('"') && l.contains(" nid="))
            .count();
        assert_eq!(snap.threads.len(), headers, "{name}");
        assert!(snap.complete, "{name}");
        assert!(snap.threads.iter().all(|t| t.tid.is_some()), "{name}");
        assert!(
            snap.diagnostics.is_empty(),
            "{name}: {:?}",
            snap.diagnostics
        );
        assert_eq!(snap.pid.is_some(), name.ends_with(".jcmd.txt"), "{name}");
    }
}

#[test]
fn monitor_abba_is_a_proven_lock_cycle_the_jvm_also_reports() {
    for (file, text) in recordings("MonitorAbba") {
        let (snap, a) = read(&file, &text);
        let debit = thread(&snap, "ledger-debit");
        let credit = thread(&snap, "ledger-credit");
        for (t, name) in [(debit, "ledger-debit"), (credit, "ledger-credit")] {
            let th = &snap.threads[t];
            let (nid, id) = header_ids(&text, name);
            assert_eq!(th.tid, Some(nid), "{file}");
            assert_eq!(
                (th.debugger_id.as_deref(), th.id_kind),
                (Some(id.as_str()), IdKind::Java),
                "{file}"
            );
            assert_eq!(th.status.as_deref(), Some("BLOCKED (on object monitor)"));
            assert_eq!(
                th.frames[0].function.as_deref(),
                Some("MonitorAbba.transfer")
            );
            assert_eq!(th.frames[0].file.as_deref(), Some("MonitorAbba.java"));
            assert!(
                th.frames[0].notes[0].starts_with("waiting to lock <0x"),
                "{file}"
            );
            // The owner of the monitor it waits for is stated by the owner's own
            // `- locked` line, not only by the JVM's report.
            let sources = owner_sources(&snap, a.facts[t].waits[0].address.unwrap());
            assert_eq!(sources.len(), 1, "{file}: {sources:?}");
            assert!(
                sources[0].starts_with("`- locked <0x"),
                "{file}: {sources:?}"
            );
        }
        let f = &a.findings[0];
        assert_eq!(
            (f.kind, f.confidence),
            (FindingKind::LockCycle, Grade::Proven),
            "{file}"
        );
        let mut members = names(&snap, &f.threads);
        members.sort();
        assert_eq!(members, ["ledger-credit", "ledger-debit"], "{file}");
        assert_eq!(a.findings.len(), 1, "{file}: {:?}", a.findings);
        // The JVM's report names the same two threads, and the analysis bears it out.
        assert_eq!(snap.claims.len(), 1, "{file}");
        let mut claimed = a.claims[0].threads.clone();
        claimed.sort_unstable();
        let mut cycle = f.threads.clone();
        cycle.sort_unstable();
        assert_eq!(claimed, cycle, "{file}");
        assert_eq!(a.claims[0].confirmed_by, vec![0], "{file}");
        // main joins ledger-debit: blocked, not part of the cycle.
        let main = thread(&snap, "main");
        assert_eq!(a.facts[main].waits[0].kind, WaitKind::Join, "{file}");
    }
}

#[test]
fn reentrant_lock_abba_is_proven_from_synchronizers_and_only_claimed_by_the_jvm_report() {
    for (file, text) in recordings("LockAbba") {
        let (snap, a) = read(&file, &text);
        let f = &a.findings[0];
        // Proven where the threads' own synchronizer lists (jstack -l) name the owners; where
        // only the JVM's deadlock report does, that is the runtime's claim: the stacks show
        // two threads parked on locks, so the cycle is heuristic and does not confirm it.
        let listed = lists_synchronizers(&file);
        let grade = if listed {
            Grade::Proven
        } else {
            Grade::Heuristic
        };
        assert_eq!(
            (f.kind, f.confidence),
            (FindingKind::LockCycle, grade),
            "{file}"
        );
        let mut members = names(&snap, &f.threads);
        members.sort();
        assert_eq!(members, ["inventory-sync", "restock-sync"], "{file}");
        let t = thread(&snap, "inventory-sync");
        assert_eq!(snap.threads[t].status.as_deref(), Some("WAITING (parking)"));
        let w = &a.facts[t].waits[0];
        assert_eq!(w.kind, WaitKind::Mutex, "{file}");
        assert_eq!(
            snap.threads[t].frames[w.frame].function.as_deref(),
            Some("java.util.concurrent.locks.ReentrantLock.lock")
        );
        // Who says the other thread owns the lock: its own synchronizer list (jstack -l), or
        // else only the JVM's deadlock report.
        let sources = owner_sources(&snap, w.address.unwrap());
        assert_eq!(sources.len(), 1, "{file}: {sources:?}");
        let from_list = sources[0].contains("Locked ownable synchronizers");
        assert_eq!(from_list, listed, "{file}: {sources:?}");
        let confirmed: &[usize] = if listed { &[0] } else { &[] };
        assert_eq!(a.claims[0].confirmed_by, confirmed, "{file}");
    }
}

#[test]
fn a_non_reentrant_lock_taken_twice_is_a_self_lock_the_jvm_ignores() {
    for (file, text) in recordings("SelfLock") {
        let (snap, a) = read(&file, &text);
        assert!(snap.claims.is_empty(), "{file}: the JVM ignores self-loops");
        let t = thread(&snap, "cache-refresher");
        let w = &a.facts[t].waits[0];
        assert_eq!(
            (a.facts[t].activity, w.kind),
            (Activity::Blocked, WaitKind::Mutex)
        );
        assert_eq!(
            snap.threads[t].frames[w.frame].function.as_deref(),
            Some("SelfLock$NonReentrantMutex.lock")
        );
        if lists_synchronizers(&file) {
            let f = &a.findings[0];
            assert_eq!(
                (f.kind, f.confidence),
                (FindingKind::SelfLock, Grade::Proven)
            );
            assert_eq!(f.threads, vec![t], "{file}");
        } else {
            // Without the synchronizer list nothing in the text names the owner.
            assert!(!a.deadlocked(), "{file}: {:?}", a.findings);
        }
    }
}

#[test]
fn an_executor_task_waiting_on_its_own_pool_starves_it() {
    for (file, text) in recordings("PoolSelfWait") {
        let (snap, a) = read(&file, &text);
        assert!(snap.claims.is_empty(), "{file}: no lock cycle for the JVM");
        let f = &a.findings[0];
        assert_eq!(f.kind, FindingKind::PoolStarvation, "{file}");
        assert_eq!(names(&snap, &f.threads), ["render-worker-1"], "{file}");
        let t = thread(&snap, "render-worker-1");
        let th = &snap.threads[t];
        let w = a.facts[t]
            .waits
            .iter()
            .find(|w| w.kind == WaitKind::Future)
            .unwrap();
        assert_eq!(
            th.frames[w.frame].function.as_deref(),
            Some("java.util.concurrent.FutureTask.get")
        );
        assert!(th.frames[0].notes[0].ends_with("(a java.util.concurrent.FutureTask)"));
        assert!(!a.findings.iter().any(|f| f.kind == FindingKind::LockCycle));
    }
}

#[test]
fn holders_waiting_outside_the_process_are_root_blockers() {
    for (file, text) in recordings("RootBlocker") {
        let (snap, a) = read(&file, &text);
        assert!(!a.deadlocked(), "{file}: {:?}", a.findings);
        let blockers: Vec<(Vec<String>, Grade)> = a
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::RootBlocker)
            .map(|f| (names(&snap, &f.threads), f.confidence))
            .collect();
        let writer = (
            ["report-writer", "appender-1", "appender-2", "appender-3"]
                .map(String::from)
                .to_vec(),
            Grade::Proven,
        );
        let rebuilder = (
            ["index-rebuilder", "index-reader-1", "index-reader-2"]
                .map(String::from)
                .to_vec(),
            Grade::Proven,
        );
        // The write lock's owner is only listed by `jstack -l`.
        let want = if lists_synchronizers(&file) {
            vec![writer, rebuilder]
        } else {
            vec![writer]
        };
        assert_eq!(blockers, want, "{file}");
        let io = a
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::IoWait)
            .unwrap();
        assert_eq!(names(&snap, &io.threads), ["report-writer"], "{file}");
        let reader = thread(&snap, "index-reader-1");
        assert_eq!(
            a.facts[reader].waits[0].kind,
            WaitKind::RwlockRead,
            "{file}"
        );
        let rebuilder = thread(&snap, "index-rebuilder");
        assert_eq!(a.facts[rebuilder].activity, Activity::External, "{file}");
    }
}

#[test]
fn a_self_join_is_read_as_a_join_but_the_text_cannot_say_whose() {
    for (file, text) in recordings("SelfJoin") {
        let (snap, a) = read(&file, &text);
        // jstack names the joined java.lang.Thread object, but no header says which thread
        // it is: hangscan does not guess, and neither does the JVM.
        assert!(a.findings.is_empty(), "{file}: {:?}", a.findings);
        assert!(snap.claims.is_empty(), "{file}");
        let runner = thread(&snap, "shutdown-hook-runner");
        let main = thread(&snap, "main");
        let (rw, mw) = (&a.facts[runner].waits[0], &a.facts[main].waits[0]);
        assert_eq!(
            (rw.kind, mw.kind),
            (WaitKind::Join, WaitKind::Join),
            "{file}"
        );
        assert!(rw.address.is_some() && rw.address == mw.address, "{file}");
        assert_eq!(a.facts[runner].activity, Activity::Blocked);
        assert!(a.graph.out(runner).next().is_none(), "{file}");
    }
}

#[test]
fn an_idle_program_has_no_hang() {
    for (file, text) in recordings("Idle") {
        let (snap, a) = read(&file, &text);
        assert!(
            !a.findings
                .iter()
                .any(|f| matches!(f.severity, Severity::Deadlock | Severity::Warning)),
            "{file}: {:?}",
            a.findings
        );
        for worker in ["ingest-worker-1", "ingest-worker-2", "event-consumer"] {
            let t = thread(&snap, worker);
            assert_eq!(a.facts[t].activity, Activity::Idle, "{file}: {worker}");
        }
        for external in ["janitor", "tick-1", "http-listener"] {
            let t = thread(&snap, external);
            assert_eq!(
                a.facts[t].activity,
                Activity::External,
                "{file}: {external}"
            );
        }
        let io = a
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::IoWait)
            .unwrap();
        assert_eq!(names(&snap, &io.threads), ["http-listener"], "{file}");
    }
}

#[test]
fn a_freshly_deadlocked_jvm_dumped_live_is_a_lock_cycle_proven_where_the_dump_says_who_holds() {
    if !support::require("jdk") {
        return;
    }
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/programs/java");
    let classes =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("java-{}", std::process::id()));
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .args(["Ready.java", "MonitorAbba.java", "LockAbba.java"])
        .current_dir(&programs)
        .output()
        .expect("javac runs");
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    for program in ["MonitorAbba", "LockAbba"] {
        let mut java = Command::new("java");
        java.arg("-cp").arg(&classes).arg(program);
        let hung = support::HungProcess::spawn(program, java);
        let out = Command::new("jstack")
            .arg(hung.pid.to_string())
            .output()
            .expect("jstack runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let (snap, a) = read(program, &text);
        let f = &a.findings[0];
        // ReentrantLock owners are only in the JVM's report with plain jstack: a claim.
        let (grade, confirmed): (Grade, &[usize]) = match program {
            "MonitorAbba" => (Grade::Proven, &[0]),
            _ => (Grade::Heuristic, &[]),
        };
        assert_eq!(
            (f.kind, f.confidence),
            (FindingKind::LockCycle, grade),
            "{text}"
        );
        assert_eq!(f.threads.len(), 2);
        assert!(f.threads.iter().all(|&t| snap.threads[t].tid.is_some()));
        // Plain jstack: monitor owners from `- locked`; ReentrantLock owners only from the
        // JVM's report (no synchronizer list without -l).
        let stated_by = match program {
            "MonitorAbba" => "`- locked <0x",
            _ => "the JVM's deadlock report",
        };
        for &t in &f.threads {
            let sources = owner_sources(&snap, a.facts[t].waits[0].address.unwrap());
            assert_eq!(sources.len(), 1, "{text}");
            assert!(sources[0].starts_with(stated_by), "{sources:?}");
        }
        assert_eq!(a.claims[0].confirmed_by, confirmed, "{text}");
    }
    let _ = std::fs::remove_dir_all(&classes);
}

fn corpus(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corpus/real")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_jvm_reports_are_cross_checked_thread_by_thread() {
    // Three reports; two different threads are called DeadlockThread-A (#30 and #201).
    let file = "jstack-jthreaddump-three-cycles-dup-names.txt";
    let (snap, a) = read(file, &corpus(file));
    let ids = |c: &hangscan::analyze::ClaimCheck| -> Vec<String> {
        c.threads
            .iter()
            .map(|&t| snap.threads[t].debugger_id.clone().unwrap())
            .collect()
    };
    let claimed: Vec<Vec<String>> = a.claims.iter().map(ids).collect();
    assert_eq!(
        claimed,
        [
            vec!["30", "31"],
            vec!["147", "148"],
            vec!["201", "202", "203"]
        ]
    );
    for c in &a.claims {
        let f = &a.findings[c.confirmed_by[0]];
        assert_eq!(
            (f.kind, f.confidence),
            (FindingKind::LockCycle, Grade::Proven)
        );
    }

    // A report alone, cut in its stack section: its threads come from the report, and the
    // thread it lists waiting into the cycle is not part of the cycle.
    let file = "jstack-automq-reentrantlock-cycle-with-tail-truncated.txt";
    let (snap, a) = read(file, &corpus(file));
    assert_eq!(snap.threads.len(), 3);
    let f = &a.findings[0];
    assert_eq!(f.kind, FindingKind::LockCycle);
    let mut cycle = names(&snap, &f.threads);
    cycle.sort();
    assert_eq!(
        cycle,
        [
            "data-plane-kafka-network-thread-2-ListenerName(PLAINTEXT)-PLAINTEXT-2",
            "stream-reader-1"
        ]
    );
    assert_eq!(a.claims[0].threads.len(), 3);
    // Who holds the locks only the report says (its threads have no thread list): the cycle
    // is graded by what the dump shows, and it does not confirm the claim it came from.
    assert_eq!(f.confidence, Grade::Heuristic);
    assert!(a.claims[0].confirmed_by.is_empty());
    assert!(matches!(
        a.claims[0].verdict,
        hangscan::analyze::ClaimVerdict::OnlyTheClaimSays { finding: 0 }
    ));
}
