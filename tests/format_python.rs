//! The Python dump formats on their fixtures: faulthandler dumps recorded from the programs in
//! `fixtures/programs/python/`, and py-spy dumps written in py-spy's grammar for the same
//! programs. Each is sniffed, read (threads, ids, states, frames) and analysed.

use hangscan::analyze::{analyze, Activity, Analysis, FindingKind, Grade, Verdict};
use hangscan::dump::{parse_dump, sniff};
use hangscan::knowledge::KnowledgeBase;
use hangscan::model::{IdKind, Snapshot};

fn load(format: &str, name: &str) -> (Snapshot, Analysis) {
    let path = format!(
        "{}/fixtures/dumps/{format}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        sniff(&raw).map(|f| f.name()),
        Some(format),
        "{name} sniffed"
    );
    let snap = parse_dump(&raw, name, None).unwrap();
    let a = analyze(&snap, &KnowledgeBase::builtin());
    (snap, a)
}

fn kinds(a: &Analysis) -> Vec<FindingKind> {
    a.findings.iter().map(|f| f.kind).collect()
}

fn top(snap: &Snapshot, t: usize) -> &str {
    snap.threads[t].frames[0].function.as_deref().unwrap()
}

#[test]
fn faulthandler_threads_are_named_by_python_ident_with_module_qualified_frames() {
    let (s, a) = load("faulthandler", "io_wait.txt");
    assert_eq!(s.producer, "faulthandler");
    assert!(s.complete);
    assert_eq!(s.threads.len(), 3);
    for t in &s.threads {
        assert_eq!((t.id_kind, t.tid), (IdKind::Python, None));
    }
    assert_eq!(
        s.threads[0].debugger_id.as_deref(),
        Some("0x00007f5878a826c0")
    );
    let main = &s.threads[2];
    assert!(main.current && !s.threads[0].current);
    assert_eq!(main.frames.len(), 4);
    assert_eq!(top(&s, 2), "threading._wait_for_tstate_lock");
    assert_eq!(main.frames[1].function.as_deref(), Some("threading.join"));
    assert_eq!(main.frames[2].function.as_deref(), Some("io_wait.main"));
    assert_eq!(main.frames[1].line, Some(1119));
    assert!(main.frames[1]
        .file
        .as_deref()
        .unwrap()
        .ends_with("lib/python3.11/threading.py"));
    assert_eq!(top(&s, 0), "subprocess._try_wait");
    assert_eq!(top(&s, 1), "socket.readinto");
    assert_eq!(kinds(&a), [FindingKind::IoWait]);
    assert_eq!(a.findings[0].threads, [0, 1]);
    assert!(!a.deadlocked());
}

#[test]
fn a_queue_nobody_feeds_is_a_stall_in_both_formats() {
    for (format, name) in [
        ("faulthandler", "queue_starved.txt"),
        ("faulthandler", "queue_starved.timeout.txt"),
        ("py-spy", "queue_starved.txt"),
    ] {
        let (s, a) = load(format, name);
        assert_eq!(s.threads.len(), 2, "{name}");
        if format == "py-spy" {
            // py-spy prints the main thread first and no end: a copy cut between two threads
            // looks whole, so a stall (which needs every thread) is undecidable from it.
            assert_eq!(a.verdict(), Verdict::Undecidable, "{name}");
            continue;
        }
        assert_eq!(kinds(&a), [FindingKind::Stall], "{format} {name}");
        assert_eq!(a.findings[0].threads, [0, 1]);
        let consumer = s
            .threads
            .iter()
            .position(|t| t.frames[1].function.as_deref() == Some("queue.get"))
            .unwrap();
        assert_eq!(
            a.facts[consumer].waits[0].kind,
            hangscan::knowledge::WaitKind::Channel
        );
    }
}

#[test]
fn a_starving_thread_pool_is_found_with_the_same_signature_in_both_formats() {
    let (fs, fa) = load("faulthandler", "pool_starvation.txt");
    let (ps, pa) = load("py-spy", "pool_starvation.txt");
    for (s, a) in [(&fs, &fa), (&ps, &pa)] {
        assert_eq!(kinds(a), [FindingKind::PoolStarvation]);
        let f = &a.findings[0];
        assert_eq!(f.confidence, Grade::Heuristic);
        let title = hangscan::report::narrate::title(s, f);
        assert!(
            title.contains("concurrent.futures.ThreadPoolExecutor"),
            "{title}"
        );
        // The two workers, not the main thread that also waits for a result.
        assert_eq!(f.threads.len(), 2);
        assert!(f
            .threads
            .iter()
            .all(|&t| s.threads[t].frames[4].function.as_deref()
                == Some("concurrent.futures.thread._worker")));
        assert!(a.deadlocked());
    }
    assert_eq!(fa.findings[0].signature, pa.findings[0].signature);
}

#[test]
fn lock_acquire_is_c_code_so_a_plain_dump_cannot_show_an_abba_or_a_self_lock() {
    // Lock.acquire has no Python frame: the workers' innermost frame is the `with` line.
    let (s, a) = load("faulthandler", "lock_abba.txt");
    assert_eq!(top(&s, 0), "lock_abba.transfer");
    assert_eq!(s.threads[0].frames[0].line, Some(33));
    assert_eq!(a.facts[0].activity, Activity::Running);
    assert!(!a.deadlocked());
    let (s, a) = load("faulthandler", "self_lock.txt");
    assert_eq!(top(&s, 0), "self_lock.flush");
    assert!(a.findings.is_empty());
    // py-spy --native shows the C lock wait: every thread waits, none can be named the holder.
    let (s, a) = load("py-spy", "lock_abba.native-locals.txt");
    assert_eq!(s.threads.len(), 3);
    let t1 = &s.threads[1];
    assert_eq!(
        (t1.tid, t1.name.as_deref(), t1.status.as_deref()),
        (Some(28364), Some("transfer-1"), Some("idle"))
    );
    assert_eq!(t1.frames[0].module.as_deref(), Some("libc.so.6"));
    assert_eq!(
        (t1.frames[2].file.as_deref(), t1.frames[2].line),
        (Some("thread_pthread.h"), Some(483))
    );
    assert_eq!(t1.frames[4].function.as_deref(), Some("lock_abba.transfer"));
    assert_eq!(t1.frames[4].arg("source"), Some("0"));
    assert_eq!(
        &*s.threads[0].frames[4].locals[0].value,
        "<_thread.lock at 0x7f912a4f4c40>"
    );
    // A stall needs every thread, which py-spy's output cannot show for sure.
    assert!(kinds(&a).is_empty());
    assert_eq!(a.verdict(), Verdict::Undecidable);
}

#[test]
fn threads_that_join_each_other_stall_since_join_names_no_target() {
    let (s, a) = load("faulthandler", "join_cycle.txt");
    assert_eq!(s.threads.len(), 3);
    assert_eq!(kinds(&a), [FindingKind::Stall]);
    assert_eq!(a.findings[0].threads, [0, 1, 2]);
    assert!(a.graph.edges.is_empty());
}

#[test]
fn an_idle_pool_and_a_serving_main_thread_are_no_hang() {
    for format in ["faulthandler", "py-spy"] {
        let (s, a) = load(format, "idle_pool.txt");
        assert_eq!(s.threads.len(), 4);
        assert_eq!(kinds(&a), [FindingKind::IoWait], "{format}");
        assert!(!a.deadlocked());
    }
    let (s, a) = load("py-spy", "idle_pool.txt");
    assert_eq!(s.pid, Some(28019));
    assert_eq!(s.threads[0].tid, Some(28019));
    // py-spy's `idle` makes the workers idle; `active+gil` holds the GIL and runs.
    assert_eq!(a.facts[1].activity, Activity::Idle);
    assert_eq!(a.facts[3].activity, Activity::Running);
    assert_eq!(s.threads[3].status.as_deref(), Some("active+gil"));
    assert_eq!(a.facts[3].holds.len(), 1);
}

#[test]
fn py_spy_hex_ids_are_python_idents() {
    let (s, a) = load("py-spy", "io_wait.txt");
    assert_eq!(s.threads[1].debugger_id.as_deref(), Some("0x7F58792836C0"));
    assert_eq!(
        (s.threads[1].id_kind, s.threads[1].tid),
        (IdKind::Python, None)
    );
    assert_eq!(kinds(&a), [FindingKind::IoWait]);
    let (fs, fa) = load("faulthandler", "io_wait.txt");
    assert_eq!(fs.threads.len(), s.threads.len());
    assert_eq!(fa.findings[0].signature, a.findings[0].signature);
}

#[test]
fn a_fatal_shutdown_lock_error_is_a_wait_of_the_frameless_thread_behind_the_writer() {
    // Real: CPython 3.8 aborting at shutdown (riotkit-do issue 52). The current thread has no
    // Python frame; only the fatal error says it waits for stdout's lock.
    let path = format!(
        "{}/fixtures/corpus/real/faulthandler-riotkit-stdout-lock-daemon-shutdown.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let s = parse_dump(&raw, "riotkit", None).unwrap();
    let a = analyze(&s, &KnowledgeBase::builtin());
    let main = s.threads.iter().position(|t| t.current).unwrap();
    assert!(s.threads[main].frames.is_empty());
    assert!(s.threads[main]
        .status
        .as_deref()
        .unwrap()
        .starts_with("could not acquire lock for <_io.BufferedWriter"));
    assert_eq!(a.facts[main].activity, Activity::Blocked);
    assert_eq!(kinds(&a), vec![FindingKind::RootBlocker]);
    let f = &a.findings[0];
    assert_eq!(
        f.threads,
        vec![1 - main, main],
        "the writer first, then its waiter"
    );
    assert_eq!(
        f.confidence,
        Grade::Heuristic,
        "which stream `write` writes to is a guess"
    );
    assert!(hangscan::report::narrate::finding(&s, f)
        .steps
        .iter()
        .any(|s| s.contains("python.stream-write")));
    assert!(f.suggestion.as_deref().unwrap().contains("daemon"));
    assert!(!a.deadlocked());
}

#[test]
fn py_spy_0_4_names_methods_by_class_and_unsymbolized_native_frames_by_address() {
    // Recorded with py-spy 0.4.3 (fixtures/record-python.sh): `Condition.wait`, `Queue.get`,
    // `Crew.consume`; native frames without a symbol are a bare address in their library.
    let (s, a) = load("py-spy", "queue_pool.recorded.native-locals.txt");
    let crew: Vec<usize> = (0..s.threads.len())
        .filter(|&t| s.threads[t].name.as_deref().unwrap().starts_with("crew-"))
        .collect();
    assert_eq!(crew.len(), 2);
    let t = &s.threads[crew[0]];
    assert_eq!(
        (
            t.frames[0].function.as_deref(),
            t.frames[0].module.as_deref()
        ),
        (None, Some("libc.so.6"))
    );
    assert!(t.frames[0].address.is_some());
    assert_eq!(
        t.frames[4].function.as_deref(),
        Some("threading.Condition.wait")
    );
    assert_eq!(t.frames[5].function.as_deref(), Some("queue.Queue.get"));
    // The crew's loop is a method whose `self` is the same crew on both: a pool by structure.
    assert_eq!(kinds(&a), [FindingKind::PoolStarvation]);
    assert_eq!(a.findings[0].threads, crew);
    assert_eq!(a.findings[0].confidence, Grade::Symbolic);
    // Without `--locals` nothing tells the loop from the task both run: every thread waits,
    // which would be a stall, but a py-spy dump has no thread count nor end to show it holds
    // every thread: undecidable from it.
    let (_, a) = load("py-spy", "queue_pool.recorded.txt");
    assert!(kinds(&a).is_empty(), "{:?}", kinds(&a));
    assert_eq!(a.verdict(), Verdict::Undecidable);
    // Event.wait, as py-spy 0.4 names it, is a latch a queued task would set.
    for name in [
        "event_pool.recorded.txt",
        "event_pool.recorded.native-locals.txt",
    ] {
        let (_, a) = load("py-spy", name);
        assert_eq!(kinds(&a), [FindingKind::PoolStarvation], "{name}");
    }
    // A Condition.wait no thread outside the pool is left to notify.
    let (_, a) = load("py-spy", "condition_pool.recorded.txt");
    assert_eq!(kinds(&a), [FindingKind::PoolStarvation]);
    // faulthandler prints Event.wait as `wait`, as it prints Condition.wait.
    for name in ["event_pool.txt", "condition_pool.txt"] {
        let (_, a) = load("faulthandler", name);
        assert_eq!(kinds(&a), [FindingKind::Stall], "{name}");
    }
}

#[test]
fn an_rlock_wait_is_a_python_lock_wait_with_native_frames_and_no_holder_is_claimed() {
    let (s, a) = load("py-spy", "rlock_abba.recorded.native-locals.txt");
    for name in ["sync-up", "sync-down"] {
        let t = (s.threads.iter())
            .position(|t| t.name.as_deref() == Some(name))
            .unwrap();
        assert_eq!(s.threads[t].status.as_deref(), Some("idle"));
        // py-spy says idle (not on a CPU); the frames say it waits for a lock.
        assert_eq!(a.facts[t].activity, Activity::Blocked);
        assert_eq!(
            a.facts[t].waits[0].kind,
            hangscan::knowledge::WaitKind::PythonLock
        );
    }
    // Every thread waits, and no holder is claimed; a stall needs every thread, which a
    // py-spy dump cannot show it holds: undecidable.
    assert!(kinds(&a).is_empty(), "{:?}", kinds(&a));
    assert_eq!(a.verdict(), Verdict::Undecidable);
    // Without `--native` the acquire, C code, is not in the dump.
    let (_, a) = load("py-spy", "rlock_abba.recorded.txt");
    assert!(!a.deadlocked());
}
