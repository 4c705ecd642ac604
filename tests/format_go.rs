//! Go goroutine dumps (`fixtures/dumps/go/`, see its README): each fixture's goroutines (ids,
//! wait reasons, minutes, frames), the runtime's own verdict and its cross-check, and the
//! findings, down to the threads and the grade; the text report groups hundreds of alike
//! goroutines into one line; sniffing picks the Go parser.

use hangscan::analyze::{analyze, Activity, Analysis, FindingKind, Grade, Severity, Verdict};
use hangscan::dump::{parse_dump, sniff};
use hangscan::knowledge::{base_name, KnowledgeBase, WaitKind};
use hangscan::model::{IdKind, Snapshot, Thread};
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps/go")
        .join(name)
}

fn load(name: &str) -> (Snapshot, Analysis) {
    let raw = std::fs::read(fixture(name)).unwrap();
    assert_eq!(sniff(&raw).map(|f| f.name()), Some("go"), "{name}");
    let snap = parse_dump(&raw, name, None).unwrap();
    assert_eq!(snap.producer, "go");
    assert!(snap
        .threads
        .iter()
        .all(|t| t.tid.is_none() && t.id_kind == IdKind::Goroutine && t.debugger_id.is_some()));
    let a = analyze(&snap, &KnowledgeBase::builtin());
    (snap, a)
}

fn ids(s: &Snapshot) -> Vec<&str> {
    s.threads
        .iter()
        .map(|t| t.debugger_id.as_deref().unwrap())
        .collect()
}

fn statuses(s: &Snapshot) -> Vec<&str> {
    s.threads
        .iter()
        .map(|t| t.status.as_deref().unwrap())
        .collect()
}

/// The index of goroutine `id`.
fn g(s: &Snapshot, id: &str) -> usize {
    s.threads
        .iter()
        .position(|t| t.debugger_id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no goroutine {id}"))
}

fn kinds(a: &Analysis) -> Vec<FindingKind> {
    a.findings.iter().map(|f| f.kind).collect()
}

/// (function, file, line) of frame `i` of thread `t`.
fn frame(t: &Thread, i: usize) -> (&str, &str, u32) {
    let f = &t.frames[i];
    (
        f.function.as_deref().unwrap(),
        f.file.as_deref().unwrap(),
        f.line.unwrap(),
    )
}

fn text_report(s: &Snapshot, a: &Analysis) -> String {
    let mut out = Vec::new();
    let r = hangscan::report::Report {
        snapshot: s,
        analysis: a,
    };
    hangscan::report::render(&[r], hangscan::report::Format::Text, false, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The single claim, `all goroutines are asleep`, confirmed by finding `by`.
fn assert_all_asleep_confirmed(s: &Snapshot, a: &Analysis, by: FindingKind) {
    assert_eq!(s.claims.len(), 1);
    let c = &s.claims[0];
    assert_eq!(c.text, "fatal error: all goroutines are asleep - deadlock!");
    assert!(c.deadlock && c.threads.is_empty());
    let check = &a.claims[0];
    let verdict = hangscan::report::narrate::claim(&check.verdict);
    assert_eq!(check.confirmed_by.len(), 1, "{verdict}");
    assert_eq!(a.findings[check.confirmed_by[0]].kind, by);
    assert!(verdict.starts_with("confirmed"), "{verdict}");
}

#[test]
fn a_pipeline_with_every_goroutine_on_a_channel_is_a_stall() {
    let (s, a) = load("chan_all_asleep.txt");
    assert!(s.complete);
    assert_eq!(ids(&s), ["1", "18", "19", "20"]);
    assert_eq!(statuses(&s), ["chan send"; 4]);
    assert!(s.threads.iter().all(|t| t.waited_minutes.is_none()));
    assert_eq!(
        frame(&s.threads[0], 0),
        ("main.main", "/home/dev/pipeline/main.go", 22)
    );
    let w = &s.threads[g(&s, "19")];
    assert_eq!(w.frames.len(), 1);
    assert_eq!(
        frame(w, 0),
        ("main.worker", "/home/dev/pipeline/main.go", 11)
    );
    assert_eq!(w.frames[0].arg("#0"), Some("0x2?"));
    assert_eq!(
        w.notes,
        ["created by main.main in goroutine 1 at /home/dev/pipeline/main.go:19"]
    );
    // Runtime frames are hidden: the status alone says the goroutine waits on a channel.
    assert!(a
        .facts
        .iter()
        .all(|f| f.activity == Activity::Blocked && f.waits[0].kind == WaitKind::Channel));
    assert_eq!(kinds(&a), [FindingKind::Stall]);
    assert_eq!(a.findings[0].threads, [0, 1, 2, 3]);
    assert_eq!(a.findings[0].confidence, Grade::Heuristic);
    let explanation = hangscan::report::narrate::explanation(&a.findings[0]);
    assert!(!explanation.contains("lock-order inversion"));
    assert_eq!(a.verdict(), Verdict::Stall);
    assert_all_asleep_confirmed(&s, &a, FindingKind::Stall);
}

#[test]
fn a_waitgroup_nobody_can_complete_is_a_stall() {
    let (s, a) = load("waitgroup_all_asleep.txt");
    assert!(s.complete);
    assert_eq!(ids(&s), ["1", "6", "7"]);
    assert_eq!(statuses(&s), ["semacquire", "chan send", "chan send"]);
    let main = &s.threads[0];
    assert_eq!(
        frame(main, 1),
        (
            "sync.(*WaitGroup).Wait",
            "/usr/local/go/src/sync/waitgroup.go",
            116
        )
    );
    assert_eq!(main.frames[1].arg("#0"), Some("0xc0000140a0?"));
    assert_eq!(
        s.threads[1].frames[0].arg("#0"),
        Some("{0x7ffd2f3c1e21, 0x13}")
    );
    // The semaphore frame is refined by WaitGroup.Wait below it: a latch, like a future.
    let w = &a.facts[0].waits[0];
    assert_eq!((w.kind, w.first, w.frame), (WaitKind::Future, 0, 1));
    assert_eq!(kinds(&a), [FindingKind::Stall]);
    assert_eq!(a.findings[0].threads, [0, 1, 2]);
    assert_all_asleep_confirmed(&s, &a, FindingKind::Stall);
}

#[test]
fn two_goroutines_blocked_in_one_lock_call_are_a_stall_not_a_guessed_cycle() {
    let (s, a) = load("mutex_abba.txt");
    assert_eq!(ids(&s), ["1", "18", "19"]);
    assert_eq!(
        statuses(&s),
        ["semacquire", "sync.Mutex.Lock", "sync.Mutex.Lock"]
    );
    let (g18, g19) = (g(&s, "18"), g(&s, "19"));
    let t = &s.threads[g18];
    assert_eq!(t.frames.len(), 5);
    assert_eq!(frame(t, 3), ("main.transfer", "/home/dev/bank/main.go", 17));
    assert_eq!(
        t.frames[1].function.as_deref(),
        Some("sync.(*Mutex).lockSlow")
    );
    assert!(t.frames[2].inlined && !t.frames[1].inlined);
    // The lock is named by lockSlow's receiver, not by the semaphore inside it (mu + 4).
    assert_eq!(a.facts[g18].waits[0].kind, WaitKind::Mutex);
    assert_eq!(a.facts[g18].waits[0].address, Some(0xc0000120e8));
    assert_eq!(a.facts[g19].waits[0].address, Some(0xc0000120c8));
    // Go records no mutex owner, and both goroutines are blocked in the same lock call
    // (main.transfer, line 17): being there is no sign either holds the other's lock (a third
    // goroutine holding both, or one that exited holding them, looks the same). Every
    // goroutine waits: a stall, which the runtime's own verdict confirms.
    assert_eq!(kinds(&a), [FindingKind::Stall]);
    let f = &a.findings[0];
    let mut stalled = f.threads.clone();
    stalled.sort_unstable();
    assert_eq!(stalled, [g(&s, "1"), g18, g19]);
    assert!(a.graph.edges.iter().all(|e| e.from != g18 && e.from != g19));
    // The stall says what it may be, and what would tell.
    assert!(hangscan::report::narrate::explanation(f).contains(
        "2 of them wait for locks, and nothing shows who holds those: a lock-order inversion"
    ));
    assert!(f
        .suggestion
        .as_deref()
        .is_some_and(|s| s.contains("take locks in one order everywhere")));
    assert_eq!(a.verdict(), Verdict::Stall);
    assert_all_asleep_confirmed(&s, &a, FindingKind::Stall);
}

#[test]
fn a_client_waiting_for_a_reply_is_in_io_and_the_runtime_goroutines_are_idle() {
    let (s, a) = load("io_wait_sigquit.txt");
    assert!(s.complete && s.claims.is_empty());
    assert_eq!(ids(&s), ["0", "1", "2", "3", "4", "5", "6", "7", "18"]);
    let main = &s.threads[1];
    assert_eq!(main.status.as_deref(), Some("IO wait"));
    assert_eq!(main.waited_minutes, Some(12));
    assert_eq!(main.notes, ["gp=0xc0000061c0 m=nil"]);
    assert_eq!(main.frames.len(), 17);
    assert_eq!(
        frame(main, 12),
        ("main.(*Client).readReply", "/home/dev/kvcli/client.go", 74)
    );
    assert_eq!(main.frames[12].address, Some(0x51c73b));
    assert_eq!(main.frames[16].function.as_deref(), Some("runtime.goexit"));
    assert_eq!(s.threads[6].notes[1], "locked to thread");
    let activity: Vec<Activity> = a.facts.iter().map(|f| f.activity).collect();
    use Activity::*;
    assert_eq!(
        activity,
        [Idle, External, Idle, Idle, Idle, Idle, Idle, External, Blocked]
    );
    assert_eq!(a.facts[1].waits[0].kind, WaitKind::Io);
    assert_eq!(a.facts[7].waits[0].kind, WaitKind::SignalWait);
    let chan = &a.facts[8].waits[0];
    assert_eq!(
        (chan.kind, chan.address),
        (WaitKind::Channel, Some(0xc000110120))
    );
    assert_eq!(kinds(&a), [FindingKind::IoWait]);
    assert_eq!(a.findings[0].threads, [1]);
    assert_eq!(a.verdict(), Verdict::NoDeadlock);
}

#[test]
fn two_hundred_goroutines_behind_one_in_io_are_a_root_blocker_shown_as_one_line() {
    let (s, a) = load("cache_convoy_pprof.txt");
    assert_eq!(s.threads.len(), 204);
    assert!(s.complete, "pprof's debug=2 lists every goroutine");
    let waiters: Vec<usize> = (0..s.threads.len())
        .filter(|&t| s.threads[t].status.as_deref() == Some("sync.Mutex.Lock"))
        .collect();
    assert_eq!(waiters.len(), 200);
    assert!(waiters.iter().all(|&t| {
        let th = &s.threads[t];
        th.frames.len() == 10
            && matches!(th.waited_minutes, Some(3 | 4))
            && a.facts[t].waits[0].kind == WaitKind::Mutex
            && a.facts[t].waits[0].address == Some(0xc000118060)
    }));
    let w = &s.threads[waiters[0]];
    assert_eq!(
        frame(w, 1),
        (
            "internal/sync.(*Mutex).lockSlow",
            "/usr/local/go/src/internal/sync/mutex.go",
            149
        )
    );
    assert_eq!(
        frame(w, 4),
        ("main.(*Cache).Get", "/srv/profiles/cache.go", 41)
    );
    let holder = g(&s, "21");
    assert_eq!(a.facts[holder].activity, Activity::External);
    assert_eq!(kinds(&a), [FindingKind::RootBlocker, FindingKind::IoWait]);
    let rb = &a.findings[0];
    assert_eq!(rb.threads[0], holder);
    assert_eq!(rb.threads[1..], waiters[..]);
    assert_eq!(rb.confidence, Grade::Heuristic);
    assert_eq!(a.findings[1].threads, [g(&s, "1"), holder]);
    assert_eq!(a.verdict(), Verdict::NoDeadlock);

    // The waiters the finding does not show collapse into one line.
    let text = text_report(&s, &a);
    let grouped: Vec<&str> = text.lines().filter(|l| l.contains(" × ")).collect();
    assert_eq!(grouped.len(), 1, "{text}");
    assert!(
        grouped[0].starts_with("  197 × goroutine 43, goroutine 44, goroutine 47, …: waits for mutex 0xc000118060 at #4 main.(*Cache).Get (profiles/cache.go:41), in sync.(*Mutex).Lock ← internal/sync.runtime_SemacquireMutex"),
        "{}",
        grouped[0]
    );
    let thread_lines = text
        .lines()
        .skip_while(|l| *l != "threads:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .count();
    assert_eq!(thread_lines, 8, "{text}");
    // How long each shown goroutine has waited, as the runtime said it, heads its stack.
    assert!(
        text.contains("      goroutine 21 (waiting 4 minutes):\n"),
        "{text}"
    );
}

#[test]
fn an_idle_http_service_is_no_hang() {
    let (s, a) = load("http_idle_sigquit.txt");
    assert!(s.complete);
    assert_eq!(ids(&s), ["0", "1", "7", "8", "9", "23", "31", "32"]);
    assert_eq!(
        statuses(&s),
        [
            "idle",
            "IO wait",
            "syscall",
            "chan receive",
            "select",
            "IO wait",
            "IO wait",
            "select"
        ]
    );
    assert_eq!(
        s.threads[7].notes,
        ["created by net/http.(*Transport).dialConn at /usr/lib/go-1.19/src/net/http/transport.go:1752"]
    );
    assert_eq!(
        frame(&s.threads[5], 14),
        (
            "net/http.(*conn).serve",
            "/usr/lib/go-1.19/src/net/http/server.go",
            1916
        )
    );
    // The HTTP client's writer waits for requests: idle, though only its status shows the wait.
    assert_eq!(a.facts[7].activity, Activity::Idle);
    assert_eq!(a.facts[0].activity, Activity::Idle);
    assert_eq!(a.facts[2].activity, Activity::External);
    assert!(!a
        .findings
        .iter()
        .any(|f| matches!(f.severity, Severity::Deadlock | Severity::Warning)));
    assert_eq!(kinds(&a), [FindingKind::IoWait]);
    assert_eq!(a.findings[0].threads, [1, 5, 6]);
    assert_eq!(a.verdict(), Verdict::NoDeadlock);
}

#[test]
fn the_binary_reads_go_dumps_and_exits_by_verdict() {
    let run = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_hangscan"))
            .args(["parse", "--color", "never"])
            .arg(fixture(name))
            .output()
            .unwrap()
    };
    let o = run("http_idle_sigquit.txt");
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("no deadlock found\n8 thread(s)"), "{text}");
    let o = run("mutex_abba.txt");
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("STALL: stall: every thread waits"),
        "{text}"
    );
    assert!(text.contains(
        "\"fatal error: all goroutines are asleep - deadlock!\": confirmed by finding 1"
    ));
}

#[test]
fn go_function_names_are_their_own_base_names() {
    for name in [
        "sync.(*WaitGroup).Wait",
        "main.main.func1",
        "main.Map[...]",
        "github.com/x/y.(*T[...]).M",
        "type:.eq.[2]interface {}",
    ] {
        assert_eq!(base_name(name), name);
    }
}

#[test]
fn shuffled_go_lines_never_panic() {
    let pieces = [
        "goroutine 1 [chan receive]:",
        "goroutine 7 gp=0xc000 m=nil [sync.Mutex.Lock, 3 minutes, locked to thread]:",
        "goroutine 0 [idle]:",
        "goroutine 9 [select (no cases) (scan)]:",
        "goroutine 2 []:",
        "goroutine x [running]:",
        "sync.(*Mutex).lockSlow(0xc0000120e8)",
        "sync.runtime_SemacquireMutex(0xc0000120ec?, 0x0?, 0x0?)",
        "sync.(*Mutex).Lock(...)",
        "sync.(*WaitGroup).Wait(0xc0000140a0?)",
        "internal/poll.runtime_pollWait(0x7f, 0x72)",
        "runtime.gopark(0x0?, {0x1, {0x2}}, ...)",
        "main.F[...]({0x1, 0x2)",
        "main.main()",
        "\t/x/main.go:12 +0x1d",
        "\t/x/main.go:12 +0x1d fp=0x1 sp=0x2 pc=0x3",
        "\t:12",
        "\tC:/a b/c.go:4",
        "created by main.main in goroutine 1",
        "created by ",
        "...additional frames elided...",
        "\tgoroutine running on other thread; stack unavailable",
        "fatal error: all goroutines are asleep - deadlock!",
        "panic: boom [recovered]",
        "SIGQUIT: quit",
        "PC=0x1 m=0 sigcode=0",
        "runtime stack:",
        "goroutine profile: total 3",
        "rax    0xca",
        "> ",
        "svc_1 | goroutine 3 [sleep]:",
        "",
        "é(ü)",
        "(",
        ")",
    ];
    let kb = KnowledgeBase::builtin();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let n = (next() % 40) as usize;
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            text.push('\n');
        }
        let cut = (next() as usize) % (text.len() + 1);
        let raw = &text.as_bytes()[..cut];
        let snap = parse_dump(raw, "fuzz", Some("go")).unwrap();
        let a = analyze(&snap, &kb);
        let _ = text_report(&snap, &a);
    }
}
