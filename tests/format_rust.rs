//! Rust's own backtraces on their fixtures: panics recorded from
//! `fixtures/programs/rust_panics.rs` (`RUST_BACKTRACE=1` and `full`, log lines interleaved),
//! and a parking_lot `deadlock_detection` report of an ABBA written in its format.

use hangscan::analyze::{analyze, Activity, Analysis, ClaimVerdict, FindingKind, Grade};
use hangscan::dump::{parse_dump, sniff};
use hangscan::knowledge::KnowledgeBase;
use hangscan::model::Snapshot;
use hangscan::report::narrate;

fn load(name: &str) -> (Snapshot, Analysis) {
    let path = format!("{}/fixtures/dumps/rust/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        sniff(&raw).map(|f| f.name()),
        Some("rust"),
        "{name} sniffed"
    );
    let snap = parse_dump(&raw, name, None).unwrap();
    let a = analyze(&snap, &KnowledgeBase::builtin());
    (snap, a)
}

fn functions(s: &Snapshot, t: usize) -> Vec<&str> {
    s.threads[t]
        .frames
        .iter()
        .map(|f| f.function.as_deref().unwrap_or("??"))
        .collect()
}

fn by_name(s: &Snapshot, name: &str) -> usize {
    s.threads
        .iter()
        .position(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no thread {name}"))
}

#[test]
fn short_panics_interleaved_with_logs() {
    let (s, a) = load("panics.short.txt");
    // Three panics and the printed std::backtrace; the ticker's log lines are no thread.
    assert_eq!(s.threads.len(), 4);
    assert!(!s.complete);
    let l1 = by_name(&s, "loader-1");
    let t = &s.threads[l1];
    assert!(t.tid.is_some() && t.partial);
    assert_eq!(
        t.notes,
        ["panicked at rust_panics.rs:25:22: called `Option::unwrap()` on a `None` value"]
    );
    assert_eq!(
        functions(&s, l1),
        [
            "__rustc::rust_begin_unwind",
            "core::panicking::panic_fmt",
            "core::panicking::panic",
            "core::option::unwrap_failed",
            "core::option::Option<T>::unwrap",
            "rust_panics::Loader::parse_row",
            "rust_panics::main::{{closure}}::{{closure}}",
        ]
    );
    assert_eq!(
        (
            t.frames[5].line,
            t.frames[5]
                .file
                .as_deref()
                .map(|f| f.ends_with("rust_panics.rs"))
        ),
        (Some(25), Some(true))
    );
    let unnamed = s
        .threads
        .iter()
        .position(|t| t.name.is_none() && t.tid.is_some())
        .unwrap();
    assert_eq!(functions(&s, unnamed).len(), 3);
    // The backtrace the audit thread printed has no header: a thread without id, whole.
    let audit = s.threads.iter().position(|t| t.tid.is_none()).unwrap();
    assert!(!s.threads[audit].partial);
    assert_eq!(functions(&s, audit)[0], "rust_panics::Audit::snapshot");
    assert_eq!(*functions(&s, audit).last().unwrap(), "clone3");
    assert!(a.findings.is_empty());
    assert!(a.facts.iter().all(|f| f.activity == Activity::Running));
}

#[test]
fn full_panics_name_frames_as_gdb_does() {
    let (s, a) = load("panics.full.txt");
    assert_eq!(s.threads.len(), 4);
    let l2 = by_name(&s, "loader-2");
    let names = functions(&s, l2);
    // v0 names lose their crate hashes, legacy ones their `::h<hash>`.
    assert!(names.contains(&"std::panicking::default_hook"), "{names:?}");
    assert!(
        names.contains(&"rust_panics::Loader::parse_row"),
        "{names:?}"
    );
    assert!(
        names.contains(&"std::sys::thread::unix::Thread::new::thread_start"),
        "{names:?}"
    );
    assert!(names
        .iter()
        .all(|n| !n.contains("::h") || !n.ends_with(|c: char| c.is_ascii_hexdigit())));
    let t = &s.threads[l2];
    assert!(!t.partial);
    assert!(t
        .frames
        .iter()
        .all(|f| f.address.is_some() || f.function.is_none()));
    assert!(a.findings.is_empty());
}

#[test]
fn parking_lot_reports_a_cycle_the_dump_alone_cannot_confirm() {
    let (s, a) = load("parking_lot_abba.txt");
    assert_eq!(s.threads.len(), 2);
    assert_eq!(s.threads[0].debugger_id.as_deref(), Some("140427513837248"));
    assert_eq!(s.threads[0].pthread, Some(140427513837248));
    // The detector's own frames are read past; the inlined lock_slow is the wait.
    let t = &s.threads[0];
    assert!(t.frames[9].inlined && !t.frames[10].inlined);
    assert_eq!(
        t.frames[10].function.as_deref(),
        Some("parking_lot::raw_mutex::RawMutex::lock_slow")
    );
    assert_eq!(s.claims.len(), 1);
    assert_eq!(s.claims[0].text, "1 deadlocks detected: Deadlock #0");
    assert_eq!(s.claims[0].threads, ["140427513837248", "140427505444544"]);
    assert_eq!(kinds(&a), [FindingKind::LockCycle]);
    assert_eq!(a.findings[0].threads, [0, 1]);
    // The advice is Rust's, not C++'s.
    let fix = a.findings[0].suggestion.as_deref().unwrap();
    assert!(
        fix.contains("parking_lot") && !fix.contains("scoped_lock"),
        "{fix}"
    );
    // The holders are the runtime's word alone: the stacks show two threads blocked in lock
    // calls, so the cycle is heuristic, and it does not confirm the report it rests on.
    assert_eq!(a.findings[0].confidence, Grade::Heuristic);
    assert!(a.claims[0].confirmed_by.is_empty());
    assert_eq!(
        a.claims[0].verdict,
        ClaimVerdict::OnlyTheClaimSays { finding: 0 }
    );
    assert!(
        narrate::claim(&a.claims[0].verdict).starts_with("not confirmed by the dump: finding 1")
    );
}

fn kinds(a: &Analysis) -> Vec<FindingKind> {
    a.findings.iter().map(|f| f.kind).collect()
}

#[test]
fn a_reported_rwlock_upgrade_stays_unconfirmed() {
    let raw = std::fs::read(format!(
        "{}/fixtures/corpus/real/rust-qdrant-parkingstress-rwlock-upgrade-with-logs.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let s = parse_dump(&raw, "qdrant", None).unwrap();
    let a = analyze(&s, &KnowledgeBase::builtin());
    assert_eq!(s.threads.len(), 1);
    assert_eq!(
        a.facts[0].waits[0].kind,
        hangscan::knowledge::WaitKind::RwlockWrite
    );
    assert!(!a.deadlocked());
    let verdict = narrate::claim(&a.claims[0].verdict);
    assert!(verdict.starts_with("not confirmed"), "{verdict}");
}
