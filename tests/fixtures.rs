//! The fixture programs (`fixtures/programs/`), each hanging one way SPEC.md names (and two that
//! do not hang): their committed gdb recordings, and the same programs built from source here,
//! run until they are stuck and dumped with real gdb, must get the right findings.

mod support;

use hangscan::analyze::{analyze, Analysis, FindingKind, Grade, Severity};
use hangscan::dump::parse_dump;
use hangscan::knowledge::KnowledgeBase;
use std::path::Path;

/// Which gdb output a case reads: `bt`, `bt full`, or `bt` plus each mutex's `__owner`.
#[derive(Clone, Copy, Debug)]
enum Variant {
    Bt,
    BtFull,
    Owners,
}

impl Variant {
    fn suffix(self) -> &'static str {
        match self {
            Variant::Bt => "bt",
            Variant::BtFull => "btfull",
            Variant::Owners => "owners",
        }
    }
}

struct Case {
    program: &'static str,
    variant: Variant,
    /// Findings that must be present.
    kinds: &'static [FindingKind],
    /// Whether the verdict is "deadlock".
    deadlock: bool,
    /// The weakest grade the first finding may have.
    at_least: Grade,
}

use FindingKind::*;
use Variant::*;

const CASES: &[Case] = &[
    Case {
        program: "c_abba",
        variant: Owners,
        kinds: &[LockCycle],
        deadlock: true,
        at_least: Grade::Proven,
    },
    // Without owners or guards, `bt` cannot show who holds a C mutex: everything waits (stall).
    Case {
        program: "c_abba",
        variant: Bt,
        kinds: &[Stall],
        deadlock: false,
        at_least: Grade::Heuristic,
    },
    Case {
        program: "cpp_abba",
        variant: BtFull,
        kinds: &[LockCycle],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "rust_abba",
        variant: BtFull,
        kinds: &[LockCycle],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "cpp_self_lock",
        variant: BtFull,
        kinds: &[SelfLock],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "rust_self_lock",
        variant: BtFull,
        kinds: &[SelfLock],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "c_signal_self_lock",
        variant: Owners,
        kinds: &[SelfLock, SignalUnsafeWait],
        deadlock: true,
        at_least: Grade::Proven,
    },
    // Without the owner, `bt` cannot show who holds the lock: warn, do not guess a deadlock.
    Case {
        program: "c_signal_self_lock",
        variant: Bt,
        kinds: &[SignalUnsafeWait],
        deadlock: false,
        at_least: Grade::Heuristic,
    },
    Case {
        program: "cpp_signal_self_join",
        variant: BtFull,
        kinds: &[SelfJoin, SignalUnsafeWait],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "cpp_signal_self_join",
        variant: Bt,
        kinds: &[SelfJoin, SignalUnsafeWait],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "c_join_cycle",
        variant: Bt,
        kinds: &[JoinCycle],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "rust_join_cycle",
        variant: Bt,
        kinds: &[JoinCycle],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    // `hangscan-owners` prints the rwlock too: its `__cur_writer` proves the writer.
    Case {
        program: "c_rwlock_cycle",
        variant: Owners,
        kinds: &[LockCycle],
        deadlock: true,
        at_least: Grade::Proven,
    },
    Case {
        program: "c_wait_cycle",
        variant: Owners,
        kinds: &[WaitCycle],
        deadlock: true,
        at_least: Grade::Symbolic,
    },
    Case {
        program: "cpp_pool_starvation",
        variant: BtFull,
        kinds: &[PoolStarvation],
        deadlock: true,
        at_least: Grade::Heuristic,
    },
    Case {
        program: "c_condvar_stall",
        variant: Bt,
        kinds: &[Stall],
        deadlock: false,
        at_least: Grade::Heuristic,
    },
    Case {
        program: "c_root_blocker",
        variant: Owners,
        kinds: &[RootBlocker, IoWait],
        deadlock: false,
        at_least: Grade::Proven,
    },
    Case {
        program: "c_two_shards",
        variant: Owners,
        kinds: &[RootBlocker],
        deadlock: false,
        at_least: Grade::Proven,
    },
    // Without owners, nothing shows who holds the shards' locks: the two workers blocked in
    // the same lock call are no holders of each other's (no cycle), and no finding is made.
    Case {
        program: "c_two_shards",
        variant: Bt,
        kinds: &[],
        deadlock: false,
        at_least: Grade::Heuristic,
    },
    Case {
        program: "cpp_idle_pool",
        variant: BtFull,
        kinds: &[],
        deadlock: false,
        at_least: Grade::Heuristic,
    },
    Case {
        program: "c_io_and_busy",
        variant: BtFull,
        kinds: &[IoWait],
        deadlock: false,
        at_least: Grade::Heuristic,
    },
];

fn check(case: &Case, a: &Analysis, what: &str) -> Option<String> {
    let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
    let label = format!("{} ({}, {what})", case.program, case.variant.suffix());
    if a.deadlocked() != case.deadlock {
        return Some(format!(
            "{label}: deadlock={} but expected {}; findings {kinds:?}",
            a.deadlocked(),
            case.deadlock
        ));
    }
    for k in case.kinds {
        if !kinds.contains(k) {
            return Some(format!("{label}: missing {k:?}; findings {kinds:?}"));
        }
    }
    if case.kinds.is_empty() && a.findings.iter().any(|f| f.severity != Severity::Info) {
        return Some(format!(
            "{label}: a program that does not hang got {kinds:?}"
        ));
    }
    let first = a
        .findings
        .iter()
        .find(|f| case.kinds.first() == Some(&f.kind))?;
    if first.confidence < case.at_least {
        return Some(format!(
            "{label}: {:?} only {:?}, expected at least {:?}",
            first.kind, first.confidence, case.at_least
        ));
    }
    None
}

#[test]
fn recorded_dumps_get_the_right_findings() {
    let kb = KnowledgeBase::builtin();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/gdb");
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|c| {
            let path = dir.join(format!("{}.{}.txt", c.program, c.variant.suffix()));
            let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let snap = parse_dump(&raw, c.program, None).unwrap();
            check(c, &analyze(&snap, &kb), "recorded")
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn programs_built_here_and_dumped_with_gdb_get_the_right_findings() {
    if !support::require("gdb") {
        return;
    }
    let kb = KnowledgeBase::builtin();
    let mut failures = Vec::new();
    for case in CASES {
        let process = support::HungProcess::start(case.program);
        let text = match case.variant {
            Bt => support::gdb_dump(process.pid, false),
            BtFull => support::gdb_dump(process.pid, true),
            Owners => support::gdb_owners_dump(process.pid),
        };
        let snap = parse_dump(text.as_bytes(), case.program, None).unwrap();
        let alive = snap.threads.iter().filter(|t| !t.frames.is_empty()).count();
        if alive < 2 {
            failures.push(format!(
                "{}: gdb showed {alive} thread(s):\n{text}",
                case.program
            ));
            continue;
        }
        failures.extend(check(case, &analyze(&snap, &kb), "live"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_signal_self_join_walks_from_the_handler_to_the_worker_loop() {
    let kb = KnowledgeBase::builtin();
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/dumps/gdb/cpp_signal_self_join.btfull.txt"),
    )
    .unwrap();
    let snap = parse_dump(&raw, "x", None).unwrap();
    let a = analyze(&snap, &kb);
    let f = a
        .findings
        .iter()
        .find(|f| f.kind == SelfJoin)
        .expect("self-join");
    let text: Vec<String> = hangscan::report::narrate::finding(&snap, f).steps;
    let all = text.join("\n");
    for want in [
        "<signal handler called>",
        "Server::stop",
        "WorkerPool::join",
        "WorkerPool::worker_loop",
    ] {
        assert!(all.contains(want), "missing {want} in steps:\n{all}");
    }
    assert_eq!(f.threads.len(), 1);
    assert_eq!(
        snap.threads[f.threads[0]].name.as_deref(),
        Some("executor-1")
    );
}
