//! lldb, eu-stack and pstack dumps (`fixtures/dumps/{lldb,eu-stack,pstack}`, see the README in
//! each): every fixture is sniffed as its format, parses to the threads and frames it shows, and
//! gets the findings that format can express, with the threads and the evidence grade; eu-stack
//! run here on a hung fixture program agrees with gdb's dump of the same process.

mod support;

use hangscan::analyze::{analyze, Analysis, FindingKind, Grade, Severity, Verdict};
use hangscan::dump::{parse_dump, sniff};
use hangscan::knowledge::KnowledgeBase;
use hangscan::model::{Frame, Gap, Snapshot};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use FindingKind::*;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The fixture parsed (format sniffed) and analysed.
fn load(path: &str) -> (String, Snapshot, Analysis) {
    let text = read(path);
    let snap = parse_dump(text.as_bytes(), path, None).unwrap();
    let a = analyze(&snap, &KnowledgeBase::builtin());
    (text, snap, a)
}

/// What a dump calls thread `t`: its name, or for eu-stack (which prints none) the name the
/// recording's `# threads: TID=NAME ...` line gives its tid, or its tid.
fn who(text: &str, snap: &Snapshot, t: usize) -> String {
    let th = &snap.threads[t];
    if let Some(n) = &th.name {
        return n.clone();
    }
    let tid = th.tid.map(|t| t.to_string()).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("# threads: "))
        .and_then(|l| {
            l.split(' ')
                .find_map(|kv| kv.strip_prefix(&format!("{tid}=")).map(str::to_string))
        })
        .unwrap_or(tid)
}

fn frame<'s>(snap: &'s Snapshot, thread: &str, text: &str, index: u32) -> &'s Frame {
    let t = (0..snap.threads.len())
        .find(|&t| who(text, snap, t) == thread)
        .unwrap_or_else(|| panic!("no thread {thread}"));
    snap.threads[t]
        .frames
        .iter()
        .find(|f| f.index == Some(index))
        .unwrap_or_else(|| panic!("{thread} has no frame #{index}"))
}

/// Whether the analysis splits `thread`'s stack at its frame `#index` (a signal trampoline such
/// as `__restore_rt`, which the rules name): the frames above it run in a signal handler.
fn signal_frame_at(snap: &Snapshot, a: &Analysis, thread: &str, text: &str, index: u32) -> bool {
    let t = (0..snap.threads.len())
        .find(|&t| who(text, snap, t) == thread)
        .unwrap_or_else(|| panic!("no thread {thread}"));
    let pos = snap.threads[t]
        .frames
        .iter()
        .position(|f| f.index == Some(index))
        .unwrap_or_else(|| panic!("{thread} has no frame #{index}"));
    a.facts[t].is_signal_frame(pos)
}

/// One fixture: its format, how many threads, and every finding it must get (kind, the threads
/// by name, the grade) — no others, apart from I/O notes when `io` names the threads in I/O.
struct Case {
    path: &'static str,
    format: &'static str,
    threads: usize,
    findings: &'static [(FindingKind, &'static [&'static str], Grade)],
    io: &'static [&'static str],
}

const H: Grade = Grade::Heuristic;
const S: Grade = Grade::Symbolic;

/// What eu-stack (frame names only: no arguments, no thread names) can tell of each program.
const EU_STACK: &[Case] = &[
    Case {
        path: "eu-stack/c_abba",
        format: "eu-stack",
        threads: 3,
        // Without the mutexes' addresses nothing shows who holds them: every thread waits.
        findings: &[(Stall, &["c_abba", "order-intake", "restocker"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/c_condvar_stall",
        format: "eu-stack",
        threads: 3,
        findings: &[(Stall, &["c_condvar_stall", "worker-1", "worker-2"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/c_io_and_busy",
        format: "eu-stack",
        threads: 3,
        findings: &[],
        io: &["net-rx"],
    },
    Case {
        path: "eu-stack/c_join_cycle",
        format: "eu-stack",
        threads: 3,
        // A join's target is an argument: eu-stack prints none, so the cycle is not visible.
        findings: &[(Stall, &["c_join_cycle", "conn-reader", "conn-writer"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/c_root_blocker",
        format: "eu-stack",
        threads: 6,
        findings: &[],
        io: &["cache-refresh"],
    },
    Case {
        path: "eu-stack/c_signal_self_lock",
        format: "eu-stack",
        threads: 2,
        findings: &[
            (Stall, &["c_signal_self_l", "config-reload"], H),
            (SignalUnsafeWait, &["config-reload"], S),
        ],
        io: &[],
    },
    Case {
        path: "eu-stack/c_wait_cycle",
        format: "eu-stack",
        threads: 3,
        findings: &[(Stall, &["c_wait_cycle", "compactor", "journal-flush"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/cpp_abba",
        format: "eu-stack",
        threads: 3,
        findings: &[(Stall, &["cpp_abba", "payments-1", "payments-2"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/cpp_idle_pool",
        format: "eu-stack",
        threads: 5,
        findings: &[],
        io: &["cpp_idle_pool"],
    },
    Case {
        path: "eu-stack/cpp_pool_starvation",
        format: "eu-stack",
        threads: 3,
        findings: &[(PoolStarvation, &["pool-0", "pool-1"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/cpp_signal_self_join",
        format: "eu-stack",
        threads: 2,
        // No `this=`: the pool is known by its class only.
        findings: &[
            (SelfJoin, &["executor-1"], H),
            (SignalUnsafeWait, &["executor-1"], S),
        ],
        io: &[],
    },
    Case {
        path: "eu-stack/cpp_self_lock",
        format: "eu-stack",
        threads: 2,
        // The guard that holds the mutex is a local: eu-stack does not print locals.
        findings: &[(Stall, &["cpp_self_lock", "session-reaper"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/rust_abba",
        format: "eu-stack",
        threads: 3,
        findings: &[(Stall, &["rust_abba", "settle-1", "settle-2"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/rust_join_cycle",
        format: "eu-stack",
        threads: 3,
        findings: &[(Stall, &["rust_join_cycle", "ingest", "uploader"], H)],
        io: &[],
    },
    Case {
        path: "eu-stack/rust_self_lock",
        format: "eu-stack",
        threads: 2,
        findings: &[(Stall, &["rust_self_lock", "metrics-agg"], H)],
        io: &[],
    },
];

/// lldb `bt all`: arguments, thread names, no tids (except in the older headers).
const LLDB: &[Case] = &[
    Case {
        path: "lldb/c_join_cycle.txt",
        format: "lldb",
        threads: 3,
        // The older `thread #N: tid = ...` headers name the tids the joins wait for.
        findings: &[(JoinCycle, &["conn-reader", "conn-writer"], S)],
        io: &[],
    },
    // Both payments threads are blocked in the same lock call (Account::transfer, line 73):
    // that is no sign either holds the other's lock, and nothing else shows a holder.
    Case {
        path: "lldb/cpp_abba.txt",
        format: "lldb",
        threads: 3,
        findings: &[(Stall, &["cpp_abba", "payments-1", "payments-2"], H)],
        io: &[],
    },
    // Both payments threads are blocked in the same lock call (Account::transfer, line 73):
    // that is no sign either holds the other's lock, and nothing else shows a holder.
    Case {
        path: "lldb/cpp_abba.wrapped.txt",
        format: "lldb",
        threads: 3,
        findings: &[(Stall, &["cpp_abba", "payments-1", "payments-2"], H)],
        io: &[],
    },
    Case {
        path: "lldb/cpp_signal_self_join.txt",
        format: "lldb",
        threads: 2,
        findings: &[
            (SelfJoin, &["executor-1"], S),
            (SignalUnsafeWait, &["executor-1"], S),
        ],
        io: &[],
    },
    Case {
        path: "lldb/c_signal_self_lock.txt",
        format: "lldb",
        threads: 2,
        findings: &[
            (Stall, &["c_signal_self_l", "config-reload"], H),
            (SignalUnsafeWait, &["config-reload"], S),
        ],
        io: &[],
    },
    Case {
        path: "lldb/cpp_pool_starvation.txt",
        format: "lldb",
        threads: 3,
        findings: &[(PoolStarvation, &["pool-0", "pool-1"], H)],
        io: &[],
    },
    Case {
        path: "lldb/c_condvar_stall.txt",
        format: "lldb",
        threads: 3,
        findings: &[(Stall, &["c_condvar_stall", "worker-1", "worker-2"], H)],
        io: &[],
    },
    Case {
        path: "lldb/c_io_and_busy.txt",
        format: "lldb",
        threads: 3,
        findings: &[],
        io: &["net-rx"],
    },
    Case {
        path: "lldb/cpp_idle_pool.txt",
        format: "lldb",
        threads: 5,
        findings: &[],
        io: &["cpp_idle_pool"],
    },
];

/// pstack: gstack (gdb's `bt` of every thread), pt-eustack-resolver, `thread: N, lwp: N`.
const PSTACK: &[Case] = &[
    Case {
        path: "pstack/c_join_cycle.gstack.txt",
        format: "pstack",
        threads: 3,
        findings: &[(JoinCycle, &["conn-reader", "conn-writer"], S)],
        io: &[],
    },
    Case {
        path: "pstack/c_join_cycle.glued.gstack.txt",
        format: "pstack",
        threads: 3,
        findings: &[(JoinCycle, &["conn-reader", "conn-writer"], S)],
        io: &[],
    },
    // Both payments threads are blocked in the same lock call (Account::transfer, line 73):
    // that is no sign either holds the other's lock, and nothing else shows a holder.
    Case {
        path: "pstack/cpp_abba.gstack.txt",
        format: "pstack",
        threads: 3,
        findings: &[(Stall, &["cpp_abba", "payments-1", "payments-2"], H)],
        io: &[],
    },
    Case {
        path: "pstack/cpp_signal_self_join.gstack.txt",
        format: "pstack",
        threads: 2,
        findings: &[
            (SelfJoin, &["executor-1"], S),
            (SignalUnsafeWait, &["executor-1"], S),
        ],
        io: &[],
    },
    Case {
        path: "pstack/cpp_signal_self_join.pteu.txt",
        format: "pstack",
        threads: 2,
        findings: &[(SelfJoin, &["7461"], H), (SignalUnsafeWait, &["7461"], S)],
        io: &[],
    },
    Case {
        path: "pstack/c_signal_self_lock.gstack.txt",
        format: "pstack",
        threads: 2,
        findings: &[
            (Stall, &["c_signal_self_l", "config-reload"], H),
            (SignalUnsafeWait, &["config-reload"], S),
        ],
        io: &[],
    },
    Case {
        path: "pstack/cpp_pool_starvation.gstack.txt",
        format: "pstack",
        threads: 3,
        findings: &[(PoolStarvation, &["pool-0", "pool-1"], H)],
        io: &[],
    },
    Case {
        path: "pstack/c_condvar_stall.gstack.txt",
        format: "pstack",
        threads: 3,
        findings: &[(Stall, &["c_condvar_stall", "worker-1", "worker-2"], H)],
        io: &[],
    },
    Case {
        path: "pstack/c_condvar_stall.lwp.txt",
        format: "pstack",
        threads: 3,
        findings: &[(Stall, &["6910", "6912", "6914"], H)],
        io: &[],
    },
    Case {
        path: "pstack/c_io_and_busy.gstack.txt",
        format: "pstack",
        threads: 3,
        findings: &[],
        io: &["net-rx"],
    },
    Case {
        path: "pstack/cpp_idle_pool.gstack.txt",
        format: "pstack",
        threads: 5,
        findings: &[],
        io: &["cpp_idle_pool"],
    },
];

/// What is wrong with a case's result, if anything.
fn check(case: &Case, path: &str) -> Vec<String> {
    let (text, snap, a) = load(path);
    let mut errors = Vec::new();
    let sniffed = sniff(text.as_bytes()).map(|f| f.name());
    if sniffed != Some(case.format) {
        errors.push(format!("{path}: sniffed as {sniffed:?}"));
    }
    if snap.threads.len() != case.threads {
        errors.push(format!("{path}: {} threads", snap.threads.len()));
    }
    // eu-stack, lldb's `bt all` with nothing after it, and pstack's by-tid kinds print the
    // first thread first and no count nor end: a copy cut between two threads looks whole,
    // so nothing that needs every thread (a stall) is decided from them.
    let unmarked = (snap.gaps.iter()).any(|g| matches!(g, Gap::Unmarked { .. }));
    if !snap.complete && !unmarked {
        errors.push(format!("{path}: not taken as every thread of the process"));
    }
    let names = |threads: &[usize]| -> BTreeSet<String> {
        threads.iter().map(|&t| who(&text, &snap, t)).collect()
    };
    let mut expected: Vec<(FindingKind, BTreeSet<String>, Grade)> = case
        .findings
        .iter()
        .map(|(k, ts, g)| (*k, ts.iter().map(|s| s.to_string()).collect(), *g))
        .filter(|(k, _, _)| !(unmarked && *k == Stall))
        .collect();
    let stall = case.findings.iter().any(|(k, _, _)| *k == Stall);
    if unmarked && stall && a.verdict() != Verdict::Undecidable {
        errors.push(format!(
            "{path}: a stall not left undecidable: {:?}",
            a.verdict()
        ));
    }
    if !case.io.is_empty() {
        let io = case.io.iter().map(|s| s.to_string()).collect();
        expected.push((IoWait, io, S));
    }
    let got: Vec<(FindingKind, BTreeSet<String>, Grade)> = a
        .findings
        .iter()
        .map(|f| (f.kind, names(&f.threads), f.confidence))
        .collect();
    expected.sort();
    let mut sorted = got.clone();
    sorted.sort();
    if sorted != expected {
        errors.push(format!("{path}: findings {got:?}, expected {expected:?}"));
    }
    let deadlock = case
        .findings
        .iter()
        .any(|(k, _, _)| !matches!(k, Stall | RootBlocker | SignalUnsafeWait | IoWait));
    if a.deadlocked() != deadlock {
        errors.push(format!("{path}: deadlock={}", a.deadlocked()));
    }
    if case.findings.is_empty() && a.findings.iter().any(|f| f.severity != Severity::Info) {
        errors.push(format!(
            "{path}: a program that does not hang got a warning"
        ));
    }
    errors
}

fn check_all(cases: &[Case], variants: &[&str]) {
    let errors: Vec<String> = cases
        .iter()
        .flat_map(|c| {
            variants
                .iter()
                .flat_map(move |v| check(c, &format!("{}{v}", c.path)))
        })
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn eu_stack_recordings_get_what_eu_stack_can_show() {
    check_all(EU_STACK, &[".txt", ".verbose.txt"]);
}

#[test]
fn lldb_fixtures_get_what_lldb_can_show() {
    check_all(LLDB, &[""]);
}

#[test]
fn pstack_fixtures_get_what_pstack_can_show() {
    check_all(PSTACK, &[""]);
}

#[test]
fn eu_stack_frames_tids_sources_and_signal_frames() {
    let (text, snap, a) = load("eu-stack/c_signal_self_lock.txt");
    assert_eq!(snap.producer, "eu-stack");
    assert_eq!(snap.pid, snap.threads[0].tid.map(|t| t as u32));
    let f = frame(&snap, "config-reload", &text, 1);
    assert_eq!(
        f.function.as_deref(),
        Some("__pthread_mutex_lock@GLIBC_2.2.5")
    );
    assert_eq!((f.file.as_deref(), f.module.as_deref()), (None, None));
    assert_eq!(
        frame(&snap, "config-reload", &text, 2).function.as_deref(),
        Some("stats_dump")
    );
    assert!(signal_frame_at(&snap, &a, "config-reload", &text, 4));

    let (text, snap, a) = load("eu-stack/c_signal_self_lock.verbose.txt");
    let f = frame(&snap, "config-reload", &text, 4);
    assert_eq!(f.function.as_deref(), Some("stats_dump"));
    assert!(f
        .file
        .as_deref()
        .is_some_and(|p| p.ends_with("programs/c_signal_self_lock.c")));
    assert_eq!(f.line, Some(73));
    assert!(f
        .module
        .as_deref()
        .is_some_and(|m| m.ends_with("/c_signal_self_lock")));
    let f = frame(&snap, "config-reload", &text, 0);
    assert_eq!(f.function.as_deref(), Some("futex_wait"));
    assert!(
        f.inlined,
        "-i prints the inlined futex_wait with its caller's pc"
    );
    assert!(!frame(&snap, "config-reload", &text, 1).inlined);
    assert!(signal_frame_at(&snap, &a, "config-reload", &text, 6));

    // C++ names lose the return type eu-stack prints, Rust names their legacy escapes.
    let (text, snap, _) = load("eu-stack/cpp_signal_self_join.txt");
    assert_eq!(
        frame(&snap, "executor-1", &text, 2).function.as_deref(),
        Some("std::condition_variable::wait<WorkerPool::join()::{lambda()#1}>(std::unique_lock<std::mutex>&, WorkerPool::join()::{lambda()#1})")
    );
    let (text, snap, _) = load("eu-stack/rust_join_cycle.txt");
    assert_eq!(
        frame(&snap, "rust_join_cycle", &text, 7)
            .function
            .as_deref(),
        Some("std::sync::mpmc::list::Channel<T>::recv::hc6ae2c6e945699c2")
    );
    assert_eq!(
        frame(&snap, "rust_join_cycle", &text, 1)
            .function
            .as_deref(),
        Some("std::thread::thread::Thread::park")
    );
}

#[test]
fn lldb_frames_names_arguments_and_selection() {
    let (text, snap, a) = load("lldb/cpp_signal_self_join.txt");
    assert_eq!(snap.producer, "lldb");
    assert!(snap.threads[0].current && !snap.threads[1].current);
    assert_eq!(snap.threads[1].debugger_id.as_deref(), Some("2"));
    assert_eq!(snap.threads[1].tid, None, "`bt all` headers carry no tid");
    let f = frame(&snap, "executor-1", &text, 6);
    assert_eq!(f.function.as_deref(), Some("WorkerPool::join"));
    assert_eq!(f.arg("this"), Some("0x00007ffe2b5beff8"));
    assert_eq!(
        (f.file.as_deref(), f.line),
        (Some("cpp_signal_self_join.cpp"), Some(92))
    );
    assert_eq!(f.module.as_deref(), Some("cpp_signal_self_join"));
    assert_eq!(f.address, Some(0x5628a9cd6ffe));
    let f = frame(&snap, "executor-1", &text, 3);
    assert_eq!(f.function.as_deref(), Some("__pthread_cond_wait_common"));
    assert!(f.inlined);
    assert!(signal_frame_at(&snap, &a, "executor-1", &text, 9));
    assert_eq!(frame(&snap, "executor-1", &text, 26).function, None);

    let (text, snap, _) = load("lldb/c_join_cycle.txt");
    let reader = &snap.threads[1];
    assert_eq!(
        (reader.tid, reader.name.as_deref()),
        (Some(18766), Some("conn-reader"))
    );
    assert_eq!(
        frame(&snap, "conn-reader", &text, 3).arg("threadid"),
        Some("140196109018816")
    );

    // A paste hard-wrapped at 100 columns reads as the unwrapped dump.
    let (_, plain, _) = load("lldb/cpp_abba.txt");
    let (_, wrapped, _) = load("lldb/cpp_abba.wrapped.txt");
    assert_eq!(plain.threads, wrapped.threads);
}

#[test]
fn pstack_frames_tids_and_glued_lines() {
    let (text, snap, _) = load("pstack/c_join_cycle.gstack.txt");
    assert_eq!(snap.producer, "pstack");
    let w = &snap.threads[0];
    assert_eq!((w.tid, w.pthread), (Some(18767), Some(0x7f81f346e6c0)));
    let f = frame(&snap, "conn-writer", &text, 4);
    assert_eq!(f.function.as_deref(), Some("connection_shutdown"));
    assert_eq!(
        (f.file.as_deref(), f.line),
        (Some("c_join_cycle.c"), Some(74))
    );
    assert_eq!(f.arg("c"), Some("0x557796945100 <conn>"));
    let f = frame(&snap, "conn-writer", &text, 7);
    assert_eq!(f.function.as_deref(), Some("clone3"));
    // The same dump with two lost newlines reads the same.
    let (_, glued, _) = load("pstack/c_join_cycle.glued.gstack.txt");
    assert_eq!(snap.threads, glued.threads);

    let (text, snap, a) = load("pstack/cpp_signal_self_join.pteu.txt");
    assert_eq!(snap.threads[1].tid, Some(7461));
    let f = frame(&snap, "7461", &text, 3);
    assert_eq!(f.function.as_deref(), Some("WorkerPool::join()"));
    assert_eq!(
        (f.file.as_deref(), f.line),
        (Some("cpp_signal_self_join.cpp"), Some(92))
    );
    assert!(signal_frame_at(&snap, &a, "7461", &text, 6));
    assert_eq!(frame(&snap, "7461", &text, 22).function, None);

    let (text, snap, _) = load("pstack/c_condvar_stall.lwp.txt");
    assert_eq!(snap.threads[2].debugger_id.as_deref(), Some("2"));
    let f = frame(&snap, "6912", &text, 2);
    assert_eq!(f.function.as_deref(), Some("work_queue_pop"));
    assert_eq!(
        (f.file.as_deref(), f.line),
        (Some("c_condvar_stall.c"), Some(95))
    );
    assert!(f
        .module
        .as_deref()
        .is_some_and(|m| m.ends_with("/c_condvar_stall")));
}

#[test]
fn gdb_dumps_still_sniff_as_gdb() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/gdb");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            let raw = std::fs::read(&path).unwrap();
            let got = sniff(&raw).map(|f| f.name());
            assert_eq!(got, Some("gdb"), "{}", path.display());
        }
    }
}

#[test]
fn text_in_no_known_format_names_the_formats_tried() {
    let err = parse_dump(b"just some prose\nnothing else\n", "notes.txt", None).unwrap_err();
    let msg = err.to_string();
    for name in ["lldb", "eu-stack", "pstack", "gdb"] {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(msg.contains("notes.txt"), "{msg}");
}

/// The findings as (kind, the tids involved), comparable across producers.
fn by_tid(snap: &Snapshot, a: &Analysis) -> BTreeSet<(FindingKind, Vec<Option<u64>>)> {
    a.findings
        .iter()
        .map(|f| {
            let mut tids: Vec<Option<u64>> =
                f.threads.iter().map(|&t| snap.threads[t].tid).collect();
            tids.sort();
            (f.kind, tids)
        })
        .collect()
}

#[test]
fn eu_stack_run_here_agrees_with_gdb() {
    if !support::require("eu-stack") || !support::require("gdb") {
        return;
    }
    let kb = KnowledgeBase::builtin();
    let mut failures = Vec::new();
    // The programs whose hang shows in the frame names alone (the others need arguments,
    // which eu-stack does not print).
    for program in [
        "c_signal_self_lock",
        "cpp_signal_self_join",
        "cpp_pool_starvation",
        "c_condvar_stall",
        "c_io_and_busy",
        "cpp_idle_pool",
    ] {
        let process = support::HungProcess::start(program);
        let out = Command::new("eu-stack")
            .args(["-p", &process.pid.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("eu-stack runs");
        let eu = parse_dump(&out.stdout, program, None).unwrap();
        let gdb_text = support::gdb_dump(process.pid, false);
        let gdb = parse_dump(gdb_text.as_bytes(), program, None).unwrap();
        assert_eq!(eu.producer, "eu-stack");
        let eu_analysis = analyze(&eu, &kb);
        let (from_eu, mut from_gdb) =
            (by_tid(&eu, &eu_analysis), by_tid(&gdb, &analyze(&gdb, &kb)));
        // eu-stack's output has no end: what needs every thread (a stall) is undecidable.
        from_gdb.retain(|(k, _)| *k != Stall);
        let undecided = eu_analysis.verdict() == Verdict::Undecidable;
        if from_eu != from_gdb || (from_eu.is_empty() && !undecided) {
            failures.push(format!("{program}: eu-stack {from_eu:?}, gdb {from_gdb:?}"));
        }
        let tids = |s: &Snapshot| s.threads.iter().map(|t| t.tid).collect::<BTreeSet<_>>();
        if tids(&eu) != tids(&gdb) {
            failures.push(format!("{program}: threads differ"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
