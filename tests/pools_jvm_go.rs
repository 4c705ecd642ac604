//! Pools of the JVM's `java.util.concurrent` and of Go, read from the runtimes' own dumps of
//! programs the tests build and hang (`fixtures/programs/java`, `fixtures/programs/go`).
//!
//! Java, dumped with `jstack -l PID`: a `ThreadPoolExecutor` whose tasks submit to their own
//! pool and wait in `Future.get` (`PoolSelfSubmit`, two workers; `PoolSelfWait`, one), or
//! `CompletableFuture.join` work queued behind them (`CompletableJoin`), or await a
//! `CountDownLatch` whose countdowns are queued in the same pool (`LatchInPool`), and a
//! `ForkJoinPool`
//! whose tasks wait on a `CountDownLatch` that shards queued in the same pool would count down
//! (`ForkJoinLatch`: a latch is no managed blocker, so the pool adds no spare worker). Each is
//! pool starvation of the right pool (its workers known by their loop, `runWorker`, as
//! `java.toml` says), every worker busy in the wait that needs queued work. Executors of one
//! class are told apart by their workers' names (`TwoExecutors`: a single-thread executor,
//! `pool-1-thread-1`, waits in `Future.get` for its own queued task while another executor's
//! `pool-2-thread-N` idle: the first starves alone).
//!
//! Go, from the runtime's own dumps (the fatal "all goroutines are asleep" of the program run
//! with `-alone`, and SIGQUIT with `GOTRACEBACK=all` while a sleeping goroutine keeps the
//! runtime's detector quiet), and read from its memory, attached live and from a gcore core,
//! with the same verdict: a worker pool on a buffered channel whose jobs send to their own
//! full queue (`pool_self_submit`), and one whose jobs wait on a `sync.WaitGroup` for sections
//! queued behind them (`pool_batch_wait`). Each is pool starvation of the goroutines in the
//! pool's loop, `main.worker` (a send is never a wait for work, `go.toml` says), never a stall.
//! So is an errgroup at its `SetLimit` whose tasks start more tasks in it (`errgroup_limit`,
//! built against Debian's golang.org/x/sync in GOPATH mode): its goroutines are the pool
//! `Go errgroup`, each blocked in `Group.Go`.
//!
//! Healthy twins exit 0 with no finding: idle and busy executors and an idle `ForkJoinPool`
//! (`IdlePools`), and an idle Go worker pool (`go/idle_workers.go`), whose workers are one pool,
//! all idle.

mod support;

use hangscan::analyze::{Analysis, Detail, FindingKind, MemberState, Severity, Shows};
use hangscan::knowledge::WaitKind;
use hangscan::model::Snapshot;
use std::path::Path;
use std::process::Command;
use support::runtimes::{build_go, java, javac, quit_go, with_stderr_to};
use support::{gcore, hangscan, require, scratch, HungProcess};

/// A Java fixture that starves its pool: the pool the rules name, its workers' thread names and
/// the frame each waits in.
struct JavaStarves {
    program: &'static str,
    pool: &'static str,
    workers: &'static [&'static str],
    wait: &'static str,
}

const JAVA_STARVES: &[JavaStarves] = &[
    JavaStarves {
        program: "PoolSelfSubmit",
        pool: "java ThreadPoolExecutor",
        workers: &["orders-1", "orders-2"],
        wait: "java.util.concurrent.FutureTask.get",
    },
    JavaStarves {
        program: "PoolSelfWait",
        pool: "java ThreadPoolExecutor",
        workers: &["render-worker-1"],
        wait: "java.util.concurrent.FutureTask.get",
    },
    JavaStarves {
        program: "TwoExecutors",
        pool: "java ThreadPoolExecutor",
        workers: &["pool-1-thread-1"],
        wait: "java.util.concurrent.FutureTask.get",
    },
    JavaStarves {
        program: "CompletableJoin",
        pool: "java ThreadPoolExecutor",
        workers: &["thumbs-1", "thumbs-2"],
        wait: "java.util.concurrent.CompletableFuture.join",
    },
    JavaStarves {
        program: "LatchInPool",
        pool: "java ThreadPoolExecutor",
        workers: &["export-1", "export-2"],
        wait: "java.util.concurrent.CountDownLatch.await",
    },
    JavaStarves {
        program: "ForkJoinLatch",
        pool: "java ForkJoinPool",
        workers: &["ForkJoinPool-1-worker-1", "ForkJoinPool-1-worker-2"],
        wait: "java.util.concurrent.CountDownLatch.await",
    },
];

/// `jstack -l PID` of a running JVM.
fn jstack(pid: u32) -> String {
    let out = Command::new("jstack")
        .args(["-l", &pid.to_string()])
        .output()
        .expect("jstack runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn read(text: &str) -> (Snapshot, Analysis) {
    let snap = hangscan::parse_dump(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let a = hangscan::analyze(&snap);
    (snap, a)
}

/// `hangscan parse` of `text` (written into `dir`): its exit code and report.
fn parse_cli(dir: &Path, text: &str) -> (Option<i32>, String) {
    let file = dir.join("dump.txt");
    std::fs::write(&file, text).unwrap();
    let (code, out, _) = hangscan(&["parse", file.to_str().unwrap()]);
    (code, out)
}

fn thread_name(snap: &Snapshot, t: usize) -> &str {
    snap.threads[t].name.as_deref().unwrap_or("?")
}

/// The one deadlock of `a`: pool starvation of pool `pool` by threads `workers` (indexes),
/// each step at a frame of function `wait(thread)`, every member busy; never a stall.
fn assert_starves(
    snap: &Snapshot,
    a: &Analysis,
    pool: &str,
    workers: &[usize],
    wait: impl Fn(usize) -> String,
    what: &str,
) {
    let deadlocks: Vec<_> = (a.findings.iter())
        .filter(|f| f.severity == Severity::Deadlock)
        .collect();
    assert_eq!(deadlocks.len(), 1, "{what}: {:?}", a.findings);
    let f = deadlocks[0];
    assert_eq!(f.kind, FindingKind::PoolStarvation, "{what}");
    assert!(
        matches!(&f.detail, Detail::Starvation { pool: p } if p == pool),
        "{what}: {:?}",
        f.detail
    );
    let mut threads = f.threads.clone();
    threads.sort_unstable();
    assert_eq!(threads, workers, "{what}");
    assert!(!a.findings.iter().any(|f| f.kind == FindingKind::Stall));
    for s in &f.steps {
        let Shows::WorkerWaits { at, .. } = s.shows else {
            panic!("{what}: {s:?}");
        };
        let function = snap.threads[s.thread].frames[at].function.as_deref();
        assert_eq!(function, Some(wait(s.thread).as_str()), "{what}");
    }
    // The workers' own pool: another instance of the same class is another pool.
    let p = (a.pools.iter())
        .find(|p| p.name == pool && p.member(workers[0]).is_some())
        .unwrap_or_else(|| panic!("{what}: no pool {pool}"));
    assert_eq!(p.members.len(), workers.len(), "{what}: {p:?}");
    assert!(
        (p.members.iter()).all(|m| m.state == MemberState::Busy),
        "{what}: {p:?}"
    );
}

#[test]
fn java_pools_whose_tasks_wait_on_work_queued_behind_them_starve() {
    if !require("jdk") {
        return;
    }
    let dir = scratch("pools_jvm_go", "java");
    let sources: Vec<String> = JAVA_STARVES
        .iter()
        .map(|j| format!("{}.java", j.program))
        .collect();
    javac(
        &dir,
        &sources.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for j in JAVA_STARVES {
        let hung = HungProcess::spawn(j.program, java(&dir, j.program));
        let text = jstack(hung.pid);
        drop(hung);
        let (snap, a) = read(&text);
        assert_eq!(snap.producer, "jstack");
        let workers: Vec<usize> = j
            .workers
            .iter()
            .map(|w| {
                (0..snap.threads.len())
                    .find(|&t| thread_name(&snap, t) == *w)
                    .unwrap_or_else(|| panic!("{}: no thread {w}", j.program))
            })
            .collect();
        let mut sorted = workers.clone();
        sorted.sort_unstable();
        assert_starves(
            &snap,
            &a,
            j.pool,
            &sorted,
            |_| j.wait.to_string(),
            j.program,
        );
        // The JVM's own deadlock report sees no lock cycle here.
        assert!(snap.claims.is_empty(), "{}", j.program);
        let (code, out) = parse_cli(&dir, &text);
        assert_eq!(code, Some(1), "{out}");
        let title = match j.workers.len() {
            1 => format!("the one thread of `{}`", j.pool),
            n => format!("all {n} workers of `{}`", j.pool),
        };
        assert!(
            out.starts_with(&format!("DEADLOCK: pool starvation: {title}")),
            "{out}"
        );
    }
}

#[test]
fn idle_and_busy_java_pools_are_no_hang() {
    if !require("jdk") {
        return;
    }
    let dir = scratch("pools_jvm_go", "java-idle");
    javac(&dir, &["IdlePools.java"]);
    let hung = HungProcess::spawn("IdlePools", java(&dir, "IdlePools"));
    let text = jstack(hung.pid);
    drop(hung);
    let (snap, a) = read(&text);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    let state = |name: &str| {
        let t = (0..snap.threads.len())
            .find(|&t| thread_name(&snap, t) == name)
            .unwrap_or_else(|| panic!("no thread {name}"));
        let pool = (a.pools.iter())
            .find(|p| p.member(t).is_some())
            .unwrap_or_else(|| panic!("{name} is in no pool"));
        (pool.name.as_str(), pool.member(t).unwrap().state)
    };
    for idle in ["ingest-1", "ingest-2"] {
        assert_eq!(
            state(idle),
            ("java ThreadPoolExecutor", MemberState::Idle),
            "{idle}"
        );
    }
    for busy in ["batch-1", "batch-2"] {
        assert_eq!(
            state(busy),
            ("java ThreadPoolExecutor", MemberState::Busy),
            "{busy}"
        );
    }
    assert_eq!(state("ForkJoinPool-1-worker-1").0, "java ForkJoinPool");
    let (code, out) = parse_cli(&dir, &text);
    assert_eq!(code, Some(0), "{out}");
}

/// Go fixture `name` as every view shows it: the runtime's fatal error when it runs with
/// `-alone`; while it hangs with a sleeper, attached live, from a gcore core, and its SIGQUIT
/// dump under `GOTRACEBACK=all`.
fn go_views(name: &str) -> Vec<(&'static str, Snapshot)> {
    let dir = scratch("pools_jvm_go", name);
    let exe = build_go(&dir, name);
    let crashed = Command::new(&exe)
        .arg("-alone")
        .env("GOTRACEBACK", "all")
        .output()
        .expect("the fixture runs");
    let fatal = String::from_utf8(crashed.stderr).unwrap();
    assert_eq!(crashed.status.code(), Some(2), "{fatal}");
    assert!(
        fatal.contains("fatal error: all goroutines are asleep - deadlock!"),
        "{fatal}"
    );
    let err = dir.join("sigquit.txt");
    let mut command = with_stderr_to(&err, &[&exe]);
    command.env("GOTRACEBACK", "all");
    let mut hung = HungProcess::spawn(name, command);
    let options = hangscan::Options::default();
    let mut views = vec![
        ("fatal error", read(&fatal).0),
        (
            "attach",
            hangscan::attach(hung.pid, &options).expect("attach"),
        ),
    ];
    if require("gcore") {
        let core = gcore(hung.pid, &dir);
        views.push(("core", hangscan::read_core(&core, &options).expect("core")));
        let _ = std::fs::remove_file(&core);
    }
    let quit = quit_go(&mut hung, &err);
    assert!(quit.starts_with("SIGQUIT: quit"), "{quit}");
    views.push(("SIGQUIT", read(&quit).0));
    let producers: Vec<&str> = views.iter().map(|(_, s)| s.producer.as_str()).collect();
    assert_eq!(producers[..2], ["go", "attach"], "{producers:?}");
    views
}

/// The goroutines whose stacks show `function`, by index.
fn goroutines_in(snap: &Snapshot, function: &str) -> Vec<usize> {
    (0..snap.threads.len())
        .filter(|&t| {
            (snap.threads[t].frames.iter()).any(|f| f.function.as_deref() == Some(function))
        })
        .collect()
}

#[test]
fn a_go_pool_whose_jobs_send_to_its_own_full_queue_starves_not_stalls() {
    if !require("go") {
        return;
    }
    for (how, snap) in go_views("pool_self_submit") {
        let a = hangscan::analyze(&snap);
        let workers = goroutines_in(&snap, "main.crawl");
        assert_eq!(workers, goroutines_in(&snap, "main.worker"), "{how}");
        assert_eq!(workers.len(), 2, "{how}");
        for &t in &workers {
            assert_eq!(a.facts[t].waits[0].kind, WaitKind::Channel, "{how}");
        }
        // The send is the wait: the runtime's frame when it shows them, else the status
        // names it on the frame that sends.
        let wait = |t: usize| {
            let frames = &snap.threads[t].frames;
            let shown = frames
                .iter()
                .any(|f| f.function.as_deref() == Some("runtime.chansend1"));
            if shown {
                "runtime.chansend1"
            } else {
                "main.crawl"
            }
            .to_string()
        };
        assert_starves(&snap, &a, "main.worker", &workers, wait, how);
        assert_verdict_confirmed(&a, how);
    }
}

/// From the runtime's fatal error, its verdict (all goroutines are asleep) is confirmed by the
/// starvation; a SIGQUIT dump states none.
fn assert_verdict_confirmed(a: &Analysis, how: &str) {
    if how == "fatal error" {
        assert_eq!(a.claims.len(), 1, "{how}");
        let f = &a.findings[a.claims[0].confirmed_by[0]];
        assert_eq!(f.kind, FindingKind::PoolStarvation, "{how}");
    } else {
        assert!(a.claims.is_empty(), "{how}");
    }
}

#[test]
fn a_go_pool_whose_jobs_wait_on_a_waitgroup_for_work_queued_behind_them_starves() {
    if !require("go") {
        return;
    }
    for (how, snap) in go_views("pool_batch_wait") {
        let a = hangscan::analyze(&snap);
        let workers = goroutines_in(&snap, "main.worker");
        assert_eq!(workers.len(), 2, "{how}");
        for &t in &workers {
            let w = &a.facts[t].waits[0];
            assert_eq!(
                (w.kind, w.rule.as_str()),
                (WaitKind::Future, "go.waitgroup")
            );
        }
        let wait = |_| "sync.(*WaitGroup).Wait".to_string();
        assert_starves(&snap, &a, "main.worker", &workers, wait, how);
        assert_verdict_confirmed(&a, how);
        // main waits on its own WaitGroup: not a member of the pool.
        let main = goroutines_in(&snap, "main.main");
        assert!(a.pools.iter().all(|p| p.member(main[0]).is_none()));
    }
}

#[test]
fn an_errgroup_at_its_limit_whose_tasks_start_more_in_it_starves() {
    if !require("go-errgroup") {
        return;
    }
    for (how, snap) in go_views("errgroup_limit") {
        let a = hangscan::analyze(&snap);
        let workers = goroutines_in(&snap, "main.crawlSite");
        assert_eq!(workers.len(), 2, "{how}");
        for &t in &workers {
            let w = &a.facts[t].waits[0];
            assert_eq!((w.kind, w.busy), (WaitKind::Channel, true), "{how}");
        }
        let wait = |_| "golang.org/x/sync/errgroup.(*Group).Go".to_string();
        assert_starves(&snap, &a, "Go errgroup", &workers, wait, how);
        assert_verdict_confirmed(&a, how);
    }
}

#[test]
fn an_idle_go_worker_pool_is_one_pool_all_idle_and_no_hang() {
    if !require("go") {
        return;
    }
    let dir = scratch("pools_jvm_go", "idle_workers");
    let exe = build_go(&dir, "idle_workers");
    let err = dir.join("sigquit.txt");
    let mut command = with_stderr_to(&err, &[&exe]);
    command.env("GOTRACEBACK", "all");
    let mut hung = HungProcess::spawn("idle_workers", command);
    let text = quit_go(&mut hung, &err);
    let (snap, a) = read(&text);
    let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::IoWait], "{text}");
    let workers = goroutines_in(&snap, "main.work");
    assert_eq!(workers.len(), 4, "{text}");
    let pool = (a.pools.iter())
        .find(|p| p.name == "main.work")
        .unwrap_or_else(|| panic!("no pool: {:?}", a.pools));
    let mut members: Vec<usize> = pool.members.iter().map(|m| m.thread).collect();
    members.sort_unstable();
    assert_eq!(members, workers);
    assert!(pool.members.iter().all(|m| m.state == MemberState::Idle));
    let (code, out) = parse_cli(&dir, &text);
    assert_eq!(code, Some(0), "{out}");
}
