//! Dumps as people paste them (`fixtures/dumps/pasted/`, see its README): Markdown around a
//! dump (headings, fences, list and quote markers) and what a rendered page leaves of one
//! (`<signal handler called>` and other `<...>` taken for tags) get the verdict of the dump
//! as the tool printed it.

use hangscan::analyze::{analyze, Analysis, Severity, Verdict};
use hangscan::dump::{parse_dump, parse_dumps_releasing, sniff};
use hangscan::knowledge::KnowledgeBase;
use hangscan::model::{Gap, Snapshot};
use std::collections::BTreeSet;
use std::path::Path;

fn read(name: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps/pasted")
        .join(name);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The fixture's sniffed format, its snapshot and analysis.
fn load(name: &str) -> (&'static str, Snapshot, Analysis) {
    let raw = read(name);
    let format = sniff(&raw)
        .unwrap_or_else(|| panic!("{name}: not sniffed"))
        .name();
    let snap = parse_dump(&raw, name, None).unwrap();
    let a = analyze(&snap, &KnowledgeBase::builtin());
    (format, snap, a)
}

/// Each deadlock finding: its kind, detail and threads' labels.
fn deadlocks(snap: &Snapshot, a: &Analysis) -> BTreeSet<(String, String, BTreeSet<String>)> {
    (a.findings.iter())
        .filter(|f| f.severity == Severity::Deadlock)
        .map(|f| {
            let who = f.threads.iter().map(|&t| snap.threads[t].label()).collect();
            (f.kind.as_str().to_string(), format!("{:?}", f.detail), who)
        })
        .collect()
}

#[test]
fn markdown_and_a_rendered_page_keep_the_crash_handlers_spinlock_self_deadlock() {
    let (_, clean, a) = load("crash_spinlock.txt");
    let want = deadlocks(&clean, &a);
    let who: BTreeSet<String> = [r#"LWP 40214 "ingest-1""#.to_string()].into();
    assert!(
        want.iter().any(|(kind, detail, w)| kind == "self-lock"
            && detail.contains("through_signal: true")
            && *w == who),
        "{want:?}"
    );
    for name in [
        "crash_spinlock.md.txt",
        "crash_spinlock.rendered.txt",
        "crash_spinlock.headings.txt",
    ] {
        let (format, snap, a) = load(name);
        assert_eq!(format, "gdb", "{name}");
        assert_eq!(a.verdict(), Verdict::Deadlock, "{name}");
        assert_eq!(deadlocks(&snap, &a), want, "{name}");
        assert_eq!(snap.threads.len(), 3, "{name}");
        assert!(snap.gaps.is_empty(), "{name}: {:?}", snap.gaps);
    }
    let (_, rendered, _) = load("crash_spinlock.rendered.txt");
    let t = rendered
        .threads
        .iter()
        .find(|t| t.tid == Some(40214))
        .unwrap();
    let marker = t.frames.iter().find(|f| f.index == Some(13)).unwrap();
    assert!(marker.signal_frame);
    assert!(
        (rendered.diagnostics.iter()).any(|d| d.message.contains("frame #13 is blank")),
        "{:?}",
        rendered.diagnostics
    );
}

#[test]
fn a_jvm_deadlock_report_under_markdown_headings_between_fences_is_read() {
    let (format, snap, a) = load("jstack_report.md.txt");
    assert_eq!(format, "jstack");
    assert_eq!(a.verdict(), Verdict::Deadlock);
    let got = deadlocks(&snap, &a);
    let both: BTreeSet<String> = ["reindex-worker", "dispatch-loop"]
        .iter()
        .map(|n| format!("unidentified thread \"{n}\""))
        .collect();
    assert!(
        got.iter()
            .any(|(kind, _, w)| kind == "lock-cycle" && *w == both),
        "{got:?}"
    );
}

#[test]
fn a_jstack_dump_whose_headers_became_headings_with_no_fence_reads_as_the_tool_printed_it() {
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps/jstack/MonitorAbba.jdk17.jstack.txt");
    let raw = std::fs::read(recorded).unwrap();
    let clean = parse_dump(&raw, "MonitorAbba.jdk17.jstack.txt", None).unwrap();
    let a = analyze(&clean, &KnowledgeBase::builtin());
    let (format, snap, b) = load("jstack_abba.headings.txt");
    assert_eq!(format, "jstack");
    assert_eq!(stacks(&snap), stacks(&clean));
    assert_eq!(b.verdict(), Verdict::Deadlock);
    assert_eq!(deadlocks(&snap, &b), deadlocks(&clean, &a));
    assert_eq!((snap.complete, &snap.gaps), (clean.complete, &clean.gaps));
}

/// Each thread's label and functions, frame by frame.
fn stacks(snap: &Snapshot) -> Vec<(String, Vec<Option<String>>)> {
    (snap.threads.iter())
        .map(|t| {
            let f = t
                .frames
                .iter()
                .map(|f| f.function.as_deref().map(str::to_string));
            (t.label(), f.collect())
        })
        .collect()
}

#[test]
fn line_numbers_or_timestamps_on_every_line_and_disassembly_after_frames_are_read_past() {
    let (format, clean, a) = load("lldb_abba.txt");
    assert_eq!(format, "lldb");
    assert_eq!(clean.threads.len(), 3);
    // The disassembly and source lines lldb printed after frames are no frames.
    let credit = &stacks(&clean)[1];
    assert_eq!(credit.1.len(), 7, "{credit:?}");
    assert_eq!(credit.1[3].as_deref(), Some("post"));
    for name in ["lldb_abba.numbered.txt", "lldb_abba.timestamped.txt"] {
        let (format, snap, b) = load(name);
        assert_eq!(format, "lldb", "{name}");
        assert_eq!(stacks(&snap), stacks(&clean), "{name}");
        assert_eq!(b.verdict(), a.verdict(), "{name}");
        assert_eq!(snap.gaps, clean.gaps, "{name}");
    }
}

#[test]
fn an_info_threads_table_filtered_by_grep_says_which_threads_it_lost() {
    let (format, whole, a) = load("info_threads.txt");
    assert_eq!((format, whole.threads.len()), ("gdb", 7));
    assert_eq!(a.verdict(), Verdict::Undecidable);
    let (format, snap, b) = load("info_threads.grep.txt");
    assert_eq!(format, "gdb");
    assert_eq!(snap.threads.len(), 5);
    assert!(!snap.complete);
    assert!(
        snap.gaps.contains(&Gap::Missing {
            threads: vec!["2".to_string(), "3".to_string()]
        }),
        "{:?}",
        snap.gaps
    );
    assert!(!snap.gaps.iter().any(|g| matches!(g, Gap::OneStack { .. })));
    // Three threads wait for `lru_lock`, and nothing shows who holds it: a stall only if every
    // thread were shown.
    assert_eq!(b.verdict(), Verdict::Undecidable);
}

#[test]
fn two_processes_in_one_paste_are_two_snapshots_each_analysed() {
    let raw = read("two_processes.txt");
    let snaps = parse_dumps_releasing(&raw, "two_processes.txt", None, &|_| {}).unwrap();
    assert_eq!(snaps.len(), 2);
    let kb = KnowledgeBase::builtin();
    let tids = |s: &Snapshot| s.threads.iter().map(|t| t.tid.unwrap()).collect::<Vec<_>>();
    assert_eq!(tids(&snaps[0]), [5124, 5123, 5120]);
    assert_eq!(tids(&snaps[1]), [5210, 5209, 5207]);
    assert_eq!((snaps[0].pid, snaps[1].pid), (Some(5120), Some(5207)));
    // Each is a whole process: its own banner, its thread 1 and its detach line.
    assert!(snaps.iter().all(|s| s.complete), "{:?}", snaps[0].gaps);
    assert_eq!(analyze(&snaps[0], &kb).verdict(), Verdict::Deadlock);
    assert_eq!(analyze(&snaps[1], &kb).verdict(), Verdict::NoDeadlock);
    assert!(snaps[1].origin.contains("process 2 of 2, from line 31"));
    // The report says so, one process after the other, and exits as the worst of them does.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .arg("parse")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/pasted/two_processes.txt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the input holds 2 processes' dumps"),
        "{text}"
    );
    let first = text.find("(process 1 of 2, from line 1)").unwrap();
    let second = text.find("(process 2 of 2, from line 31)").unwrap();
    assert!(first < second && text.contains("join cycle"), "{text}");
}

#[test]
fn two_processes_in_one_paste_of_each_format_with_a_process_header_are_two_snapshots() {
    use Verdict::{Deadlock, NoDeadlock, Stall, Undecidable};
    let kb = KnowledgeBase::builtin();
    for (name, format, threads, verdicts, second_from) in [
        (
            "eustack_two_processes.txt",
            "eu-stack",
            [3, 2],
            [Undecidable, Undecidable],
            24,
        ),
        (
            "lldb_two_processes.txt",
            "lldb",
            [3, 2],
            [Stall, NoDeadlock],
            55,
        ),
        (
            "pyspy_two_processes.txt",
            "py-spy",
            [2, 1],
            [Undecidable, Undecidable],
            16,
        ),
        (
            "jstack_two_dumps.txt",
            "jstack",
            [21, 25],
            [Deadlock, NoDeadlock],
            140,
        ),
    ] {
        let raw = read(name);
        assert_eq!(sniff(&raw).map(|f| f.name()), Some(format), "{name}");
        let snaps = parse_dumps_releasing(&raw, name, None, &|_| {}).unwrap();
        let got: Vec<usize> = snaps.iter().map(|s| s.threads.len()).collect();
        assert_eq!(got, threads, "{name}");
        let got: Vec<Verdict> = snaps.iter().map(|s| analyze(s, &kb).verdict()).collect();
        assert_eq!(got, verdicts, "{name}");
        assert!(
            snaps[1]
                .origin
                .contains(&format!("process 2 of 2, from line {second_from}")),
            "{name}: {}",
            snaps[1].origin
        );
        for s in &snaps {
            assert!(
                (s.diagnostics.iter()).any(|d| d.message.contains("holds 2 processes' dumps")),
                "{name}: {:?}",
                s.diagnostics
            );
        }
    }
    // The first process's threads are its own, not the second's (eu-stack's TIDs).
    let snaps =
        parse_dumps_releasing(&read("eustack_two_processes.txt"), "e", None, &|_| {}).unwrap();
    let tids = |s: &Snapshot| s.threads.iter().map(|t| t.tid.unwrap()).collect::<Vec<_>>();
    assert_eq!(
        (tids(&snaps[0]), tids(&snaps[1])),
        (vec![7310, 7312, 7313], vec![7420, 7422])
    );
}

#[test]
fn bare_runtime_messages_are_claims_no_stack_confirms() {
    for (name, format, text, threads) in [
        (
            "rust_rwlock_panic.txt",
            "message",
            "rwlock read lock would result in deadlock",
            vec!["indexer"],
        ),
        (
            "rust_rwlock_panic.quoted.txt",
            "rust",
            "rwlock read lock would result in deadlock",
            vec!["indexer"],
        ),
        (
            "glibc_edeadlk.txt",
            "message",
            "what():  Resource deadlock avoided",
            vec![],
        ),
        (
            "go_asleep.txt",
            "go",
            "fatal error: all goroutines are asleep - deadlock!",
            vec![],
        ),
        (
            "python_join_self.txt",
            "message",
            "RuntimeError: cannot join current thread",
            vec![],
        ),
    ] {
        let raw = read(name);
        let sniffed = sniff(&raw).map(|f| f.name());
        // A bare Go message sniffs as Go; Go's parser makes the claim.
        assert!(
            sniffed == Some(format) || (format == "go" && sniffed == Some("message")),
            "{name}: {sniffed:?}"
        );
        let snap = parse_dump(&raw, name, None).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        assert_eq!(snap.claims.len(), 1, "{name}: {:?}", snap.claims);
        let claim = &snap.claims[0];
        assert_eq!(
            (claim.text.as_str(), claim.deadlock),
            (text, true),
            "{name}"
        );
        assert_eq!(claim.threads, threads, "{name}");
        // The runtime's word alone: checked, never confirmed, and no verdict of hangscan's own.
        assert!(a.claims[0].confirmed_by.is_empty(), "{name}");
        assert_eq!(a.verdict(), Verdict::Undecidable, "{name}");
    }
    // The quoted panic's backtrace is read: the thread that panicked, with its frames.
    let (_, snap, _) = load("rust_rwlock_panic.quoted.txt");
    assert_eq!(snap.threads.len(), 1);
    assert_eq!(snap.threads[0].name.as_deref(), Some("indexer"));
    assert_eq!(
        stacks(&snap)[0].1[3].as_deref(),
        Some("catalog::Catalog::lookup")
    );
}

#[test]
fn a_runtime_message_anywhere_in_a_big_dump_is_a_claim() {
    let raw = String::from_utf8(read("rust_panic_mid_dump.txt")).unwrap();
    let claim = |snap: &Snapshot| {
        assert_eq!(snap.claims.len(), 1, "{:?}", snap.claims);
        let c = &snap.claims[0];
        (c.text.clone(), c.threads.clone(), c.line)
    };
    let small = parse_dump(raw.as_bytes(), "small", None).unwrap();
    let want = "rwlock read lock would result in deadlock".to_string();
    assert_eq!(
        claim(&small),
        (want.clone(), vec!["indexer".to_string()], Some(13))
    );
    // The same transcript with 800 more threads on each side of the message: it stands more
    // than 256 KiB from either end.
    let block = |n: usize| {
        format!(
            "\nThread {n} (Thread 0x7f51{n:08x} (LWP {}) \"pool-{n}\"):\n#0  0x00007f51c9b2a0b6 in epoll_wait (epfd=5, events=0x7f51c0001000, maxevents=64, timeout=-1) at ../sysdeps/unix/sysv/linux/epoll_wait.c:30\n#1  0x000055f2a0c3f7d2 in mio::poll::Poll::poll () at src/poll.rs:351\n#2  0x00007f51c9a971f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442\n#3  0x00007f51c9b178ec in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81\n",
            40_000 + n
        )
    };
    // gdb prints threads from the highest number down: 2403..1604, the message, 803..4, then
    // the transcript's own threads 3, 2 and 1.
    let msg_at = raw.find("\nthread 'indexer'").unwrap();
    let msg_end = msg_at + raw[msg_at..].find("\n\nThread 2 ").unwrap();
    let thread3 = raw.find("\nThread 3 ").unwrap();
    let head = (1604..2404).rev().map(block).collect::<String>();
    let tail = (4..804).rev().map(block).collect::<String>();
    let big = format!(
        "{}{head}{}{tail}{}{}",
        &raw[..thread3],
        &raw[msg_at..msg_end],
        &raw[thread3..msg_at],
        &raw[msg_end..]
    );
    let at = big.find("would result in deadlock").unwrap();
    assert!(at > 256 * 1024 && big.len() - at > 256 * 1024);
    let snap = parse_dump(big.as_bytes(), "big", None).unwrap();
    let line = big[..at].matches('\n').count() + 1;
    assert_eq!(
        claim(&snap),
        (want, vec!["indexer".to_string()], Some(line))
    );
    // A message quoted inside a value (a panic's argument in a `bt full`) is the program's
    // data, not the runtime's verdict.
    let quoted = "Thread 1 (Thread 0x1 (LWP 5) \"a\"):\n#0  0x1 in core::panicking::panic_fmt ()\n        msg = \"rwlock read lock would result in deadlock\"\n";
    let snap = parse_dump(quoted.as_bytes(), "quoted", None).unwrap();
    assert!(snap.claims.is_empty(), "{:?}", snap.claims);
}

#[test]
fn a_jvm_dump_showing_fewer_threads_than_its_header_counts_is_not_the_whole_process() {
    let (format, snap, a) = load("jcmd_filtered.txt");
    assert_eq!(format, "jstack");
    assert!(!snap.complete);
    assert_eq!(snap.gaps, [Gap::Counted { said: 11, shown: 3 }]);
    assert_eq!(a.verdict(), Verdict::Undecidable);
}

#[test]
fn a_paste_whose_own_numbering_or_main_thread_says_threads_are_missing_is_undecidable() {
    let missing = |t: &[&str]| Gap::Missing {
        threads: t.iter().map(|s| s.to_string()).collect(),
    };
    // The whole lldb `bt all` of the same process is a stall; its excerpt skips thread #2.
    let (_, _, whole) = load("lldb_abba.txt");
    assert_eq!(whole.verdict(), Verdict::Stall);
    for (name, format, gap) in [
        ("lldb_abba.excerpt.txt", "lldb", missing(&["2"])),
        ("eustack_excerpt.txt", "eu-stack", missing(&["7310"])),
        ("pyspy_excerpt.txt", "py-spy", missing(&["MainThread"])),
        (
            "lldb_stop_report.txt",
            "lldb",
            Gap::NoStack {
                count: 1,
                threads: vec![r#"thread 1 "ledgerd""#.to_string()],
            },
        ),
        (
            "info_threads_and_bt.txt",
            "gdb",
            Gap::NoStack {
                count: 1,
                threads: vec![r#"LWP 40213 "ingest-0""#.to_string()],
            },
        ),
    ] {
        let (sniffed, snap, a) = load(name);
        assert_eq!(sniffed, format, "{name}");
        assert!(!snap.complete, "{name}");
        assert!(snap.gaps.contains(&gap), "{name}: {:?}", snap.gaps);
        assert_eq!(a.verdict(), Verdict::Undecidable, "{name}");
    }
    // A `bt all` whose numbers skip some shows threads that exited before it: no gap.
    let text = "(lldb) bt all\n* thread #1, name = 'a', stop reason = signal SIGSTOP\n  * frame #0: 0x0000000000401000 a`main at a.c:3\n  thread #4, name = 'b', stop reason = signal SIGSTOP\n    frame #0: 0x0000000000401010 a`work at a.c:9\n(lldb) detach\n";
    let snap = parse_dump(text.as_bytes(), "bt-all", None).unwrap();
    assert_eq!(snap.threads.len(), 2);
    assert!(snap.gaps.is_empty(), "{:?}", snap.gaps);
}

#[test]
fn parking_lots_report_in_the_short_backtrace_format_has_its_frames_and_its_claim_checked() {
    let (format, snap, a) = load("parking_lot_short.txt");
    assert_eq!(format, "rust");
    assert_eq!(snap.threads.len(), 2);
    let first = &stacks(&snap)[0].1;
    // Numbered frames and the inlined ones under them (no number, no address).
    assert!(first.len() >= 14, "{first:?}");
    assert!(first
        .iter()
        .any(|f| f.as_deref() == Some("relay::routes::Table::replace")));
    assert_eq!(a.verdict(), Verdict::Deadlock);
    assert_eq!(snap.claims.len(), 1);
    // The cycle stands on the report's word for who holds what: the claim is not confirmed
    // by a finding that rests on it.
    assert!(a.claims[0].confirmed_by.is_empty());
    assert!(matches!(
        a.claims[0].verdict,
        hangscan::analyze::ClaimVerdict::OnlyTheClaimSays { .. }
    ));
}

#[test]
fn a_folly_micro_spin_lock_is_a_wait_not_a_sleep() {
    let (format, snap, a) = load("folly_spinlock.txt");
    assert_eq!(format, "gdb");
    assert_eq!(snap.threads.len(), 2);
    // Both threads spin on `stats_lock` and nothing shows who holds it: a stall, where a
    // Sleeper's nanosleep alone would have read as two threads asleep.
    assert_eq!(a.verdict(), Verdict::Stall);
    for f in &a.facts {
        let w = f.waits.first().expect("a wait");
        assert_eq!(w.kind.meaning().noun, "spinlock");
    }
}
