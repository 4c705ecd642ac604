//! Target safety soak: the real `hangscan attach` run on `c_soak` (threads created and joined
//! all the time, signals sent and counted by sequence number, restartable calls, a heartbeat)
//! hundreds of times in a row, and killed with SIGKILL in some runs: at a random point, or
//! right inside the stop. After each run the target must be alive with no thread stopped; at
//! the end its own books must show no signal lost or duplicated, no call failed with EINTR or
//! ended early, no byte out of sequence, every thread still moving.
//!
//! `HANGSCAN_SOAK_ATTACHES` sets the number of runs (default 200), `HANGSCAN_SOAK_SEED` the
//! seed of the random kills (printed on failure). The figures are printed at the end (see
//! them with `--nocapture`); `benches/soak.sh` runs a bigger soak on a release build.
//!
//! `churn.py` (on the distribution's CPython) and `churn.go`, runtimes whose threads or
//! goroutines and frames come and go all the time, are attached `HANGSCAN_SOAK_ATTACHES / 4`
//! times each, every other run killed at random: their structures are read from memory while
//! they change, and each completed run still gives a report and no deadlock, the target alive,
//! nothing left stopped, its heartbeat going on.
//!
//! The exec soak attaches to `c_reexec` (100 idle threads, and one that replaces the program
//! with `execve` every few milliseconds) `HANGSCAN_SOAK_EXEC_ATTACHES` times (default 150,
//! where the code before the watch wedged within 20–30; 1000 in `benches/soak.sh`): each
//! attach must end (a watchdog fails the test on a wedge) with a capture or a clear error
//! about the exec, leave no thread stopped, traced or a zombie, and
//! the program's generation counter must keep moving. And when the exec cannot end (another
//! tracer leaves a thread it killed unreaped), hangscan gives up on its blocked seize with a
//! clear error instead of waiting for ever.

mod support;

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use support::{build_fixture, field, stopped_threads, Driven, HungProcess, Tracer};

/// xorshift64*: enough to spread the kills, and reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// How one run ended.
enum Run {
    /// hangscan finished: its exit status, and the stop it reported (ms).
    Completed(Option<i32>, Option<f64>),
    /// Killed; whether it was tracing the target at that moment.
    Killed { while_tracing: bool },
}

/// The target's main thread is traced (by the hangscan run in progress).
fn traced(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .is_some_and(|v| v.trim() != "0")
}

/// hangscan attached to `pid`, its output piped (`piped`) or dropped.
fn spawn_hangscan(pid: u32, piped: bool) -> Child {
    let output = || if piped { Stdio::piped() } else { Stdio::null() };
    Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args([
            "attach",
            "--samples",
            "1",
            "--format",
            "json",
            &pid.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .spawn()
        .expect("run hangscan")
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// "the process was stopped for 5.4 ms (...)" in the report's diagnostics.
fn reported_stop_ms(json: &str) -> Option<f64> {
    let doc: Value = serde_json::from_str(json).ok()?;
    doc["reports"][0]["diagnostics"]
        .as_array()?
        .iter()
        .find_map(|d| {
            let m = d["message"].as_str()?;
            let rest = m.strip_prefix("the process was stopped for ")?;
            rest.split(' ').next()?.parse().ok()
        })
}

/// One run: complete, killed after a random delay within `typical`, or killed a random few
/// hundred microseconds after it began tracing the target.
fn one_run(pid: u32, rng: &mut Rng, typical: Duration) -> (Run, String) {
    match rng.below(4) {
        0 | 1 => {
            let child = spawn_hangscan(pid, true);
            let o = child.wait_with_output().expect("wait for hangscan");
            let out = String::from_utf8_lossy(&o.stdout);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            (Run::Completed(o.status.code(), reported_stop_ms(&out)), err)
        }
        2 => {
            let child = spawn_hangscan(pid, false);
            let limit = typical.as_micros().max(1) as u64;
            std::thread::sleep(Duration::from_micros(rng.below(limit)));
            let while_tracing = traced(pid);
            kill(child);
            (Run::Killed { while_tracing }, String::new())
        }
        _ => {
            let mut child = spawn_hangscan(pid, false);
            let deadline = Instant::now() + typical * 4;
            while !traced(pid) && Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_micros(rng.below(2000)));
            let while_tracing = traced(pid);
            kill(child);
            (Run::Killed { while_tracing }, String::new())
        }
    }
}

/// Threads left stopped: a thread the kernel just let go may still show `t` for an instant,
/// so a few looks are taken; one left behind stays stopped for good.
fn left_stopped(pid: u32) -> Vec<u32> {
    let mut stopped = stopped_threads(pid);
    for _ in 0..20 {
        if stopped.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        stopped = stopped_threads(pid);
    }
    stopped
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

#[derive(Default)]
struct Figures {
    completed: u64,
    killed: u64,
    killed_tracing: u64,
    /// The longest heartbeat gap the target saw during one run, per run (µs).
    target_gaps: Vec<i64>,
    /// The stop hangscan reported, per completed run (ms).
    reported_stops: Vec<f64>,
}

fn median<T: PartialOrd + Copy>(v: &mut [T]) -> Option<T> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(v.len() / 2).copied()
}

#[test]
fn hundreds_of_attaches_and_kills_harm_nothing() {
    let attaches = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200);
    let seed = env_number("HANGSCAN_SOAK_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    let mut rng = Rng(seed);
    let mut target = Driven::start("c_soak", &[]);
    let pid = target.pid;
    let began = Instant::now();

    // The machine's own jitter, for scale: the heartbeat's longest gap over a second alone.
    target.ask("reset");
    std::thread::sleep(Duration::from_secs(1));
    let idle_gap = field(&target.ask("stats"), "maxgap_us").unwrap_or(0);

    let mut f = Figures::default();
    let mut typical = Duration::from_millis(300);
    for run in 0..attaches {
        target.ask("reset");
        let started = Instant::now();
        let (outcome, err) = one_run(pid, &mut rng, typical);
        match outcome {
            Run::Completed(code, stop) => {
                // Under thread churn an attach must still succeed (exit 0: the program is
                // healthy), not fail on a thread that exited meanwhile.
                assert_eq!(
                    code,
                    Some(0),
                    "seed {seed}, run {run}: hangscan failed: {err}"
                );
                f.completed += 1;
                f.reported_stops.extend(stop);
                typical = (typical * 3 + started.elapsed()) / 4;
            }
            Run::Killed { while_tracing } => {
                f.killed += 1;
                f.killed_tracing += u64::from(while_tracing);
            }
        }
        assert!(alive(pid), "seed {seed}, run {run}: the target died");
        let stopped = left_stopped(pid);
        assert!(
            stopped.is_empty(),
            "seed {seed}, run {run}: threads left stopped: {stopped:?}"
        );
        f.target_gaps
            .push(field(&target.ask("stats"), "maxgap_us").unwrap_or(0));
    }

    let books = target.ask("report");
    let elapsed = began.elapsed();
    let n = |key: &str| field(&books, key).unwrap_or_else(|| panic!("no {key} in {books}"));
    let longest_gap = f.target_gaps.iter().copied().max().unwrap_or(0);
    let longest_stop = f.reported_stops.iter().copied().fold(0.0, f64::max);
    println!(
        "soak (seed {seed}): {attaches} attaches in {:.0} s: {} completed, {} killed ({} while \
         tracing the target)",
        elapsed.as_secs_f64(),
        f.completed,
        f.killed,
        f.killed_tracing
    );
    for kind in ["rtproc", "rtthread"] {
        println!(
            "  {kind}: {} sent, {} handled, {} lost, {} duplicated, {} without their number",
            n(&format!("{kind}.sent")),
            n(&format!("{kind}.received")),
            n(&format!("{kind}.lost")),
            n(&format!("{kind}.dup")),
            n(&format!("{kind}.foreign"))
        );
    }
    println!(
        "  SIGUSR1: {} sent in {} bursts, handled {} times, {} bursts lost",
        n("usr1.sent"),
        n("usr1.bursts"),
        n("usr1.handled"),
        n("usr1.lost_bursts")
    );
    println!(
        "  EINTR failures {}, early wake-ups {}, bytes out of sequence {}, partial writes {}, \
         threads created {} / joined {}, stalled: {}",
        n("eintr"),
        n("short_waits"),
        n("seq_errors"),
        n("partial_writes"),
        n("created"),
        n("joined"),
        books
            .split_whitespace()
            .find_map(|w| w.strip_prefix("stalled="))
            .unwrap_or("?")
    );
    println!(
        "  freeze seen by the target (longest heartbeat gap per run): longest {:.1} ms, median \
         {:.1} ms (alone for 1 s: {:.1} ms); stop reported by hangscan: longest {longest_stop:.1} \
         ms, median {:.1} ms",
        longest_gap as f64 / 1000.0,
        median(&mut f.target_gaps).unwrap_or(0) as f64 / 1000.0,
        idle_gap as f64 / 1000.0,
        median(&mut f.reported_stops).unwrap_or(0.0)
    );

    let must_be_zero = [
        "rtproc.lost",
        "rtproc.dup",
        "rtproc.foreign",
        "rtthread.lost",
        "rtthread.dup",
        "rtthread.foreign",
        "usr1.lost_bursts",
        "eintr",
        "short_waits",
        "seq_errors",
        "partial_writes",
        "create_fail",
    ];
    let wrong: Vec<&str> = must_be_zero.into_iter().filter(|k| n(k) != 0).collect();
    assert!(wrong.is_empty(), "seed {seed}: {wrong:?} in {books}");
    assert!(
        n("usr1.handled") <= n("usr1.sent"),
        "seed {seed}: SIGUSR1 handled more often than sent: {books}"
    );
    assert!(
        books.contains(" stalled=-"),
        "seed {seed}: threads stopped making progress: {books}"
    );
    assert!(n("rtthread.sent") > 0 && n("created") > 0, "{books}");
}

/// The live (not zombie) threads of `pid`.
fn live_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                    !matches!(
                        stat.rsplit_once(')')
                            .and_then(|(_, r)| r.trim_start().chars().next()),
                        Some('Z' | 'X') | None
                    )
                })
                .count()
        })
        .unwrap_or(0)
}

/// `runs` attaches to the deadlocked `pid`, every other one killed after a random delay:
/// each completed one proves the lock cycle, and after each the target keeps all its live
/// threads with none left stopped. Returns the number of completed runs.
fn soak_deadlocked(pid: u32, runs: u64, what: &str) -> u64 {
    let seed = env_number("HANGSCAN_SOAK_SEED").unwrap_or(0x5eed) | 1;
    let mut rng = Rng(seed);
    let threads = live_threads(pid);
    let mut completed = 0;
    for run in 0..runs {
        if run % 2 == 0 {
            let o = spawn_hangscan(pid, true)
                .wait_with_output()
                .expect("wait for hangscan");
            let out = String::from_utf8_lossy(&o.stdout);
            let doc: Value = serde_json::from_str(&out).unwrap_or_default();
            let finding = &doc["reports"][0]["findings"][0];
            assert_eq!(
                (o.status.code(), &finding["kind"], &finding["confidence"]),
                (Some(1), &Value::from("lock-cycle"), &Value::from("proven")),
                "{what}, seed {seed}, run {run}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            completed += 1;
        } else {
            let child = spawn_hangscan(pid, false);
            std::thread::sleep(Duration::from_micros(rng.below(150_000)));
            kill(child);
        }
        let stopped = left_stopped(pid);
        assert!(
            stopped.is_empty(),
            "{what}, seed {seed}, run {run}: left stopped {stopped:?}"
        );
        assert_eq!(
            live_threads(pid),
            threads,
            "{what}, seed {seed}, run {run}: a thread died"
        );
    }
    completed
}

/// The zombie-leader target (main ended with `pthread_exit`, its threads deadlocked) through
/// many attaches, some killed: every completed one reads it through a live thread.
#[test]
fn a_process_with_a_dead_main_thread_survives_many_attaches() {
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let target = support::HungProcess::start("c_zombie_leader");
    let completed = soak_deadlocked(target.pid, runs, "zombie leader");
    eprintln!("zombie leader: {runs} runs, {completed} completed");
}

/// A deadlocked program in its own PID and mount namespace (as in a container) through many
/// attaches, some killed: every completed one maps the namespace's ids and proves the cycle.
#[test]
fn a_process_in_a_pid_namespace_survives_many_attaches() {
    if !support::require("unshare") {
        return;
    }
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let target = support::namespace::Namespaced::start(&support::build_fixture("c_abba"), None);
    let completed = soak_deadlocked(target.pid, runs, "PID namespace");
    eprintln!("PID namespace: {runs} runs, {completed} completed");
}

/// `runs` attaches to a runtime that churns (`churn.py`, `churn.go`: threads or goroutines and
/// their frames created and destroyed all the time, its heartbeat on request), every other one
/// killed after a random delay: each completed one exits with a report that read the runtime
/// from memory (its structures changing meanwhile) and found no deadlock, and after each the target is alive, no
/// thread is left stopped, and its heartbeat goes on. Returns the number of completed runs.
fn soak_churn(churn: &mut Driven, runs: u64, what: &str) -> u64 {
    let seed = env_number("HANGSCAN_SOAK_SEED").unwrap_or(0x5eed) | 1;
    let mut rng = Rng(seed);
    let pid = churn.pid;
    let beats = |d: &mut Driven| d.ask("beats").trim().parse::<u64>().unwrap_or(0);
    let mut last = beats(churn);
    let mut completed = 0;
    for run in 0..runs {
        if run % 2 == 0 {
            let o = spawn_hangscan(pid, true)
                .wait_with_output()
                .expect("wait for hangscan");
            let out = String::from_utf8_lossy(&o.stdout);
            let doc: Value = serde_json::from_str(&out).unwrap_or_default();
            let findings = doc["reports"][0]["findings"].as_array().cloned();
            let deadlocks: Vec<Value> = (findings.iter().flatten())
                .filter(|f| f["severity"] == "deadlock")
                .map(|f| f["kind"].clone())
                .collect();
            // The runtime was read from memory, not left out.
            let read = (doc["reports"][0]["diagnostics"]
                .as_array()
                .into_iter()
                .flatten())
            .any(|d| {
                d["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains(" read from memory in ")
            });
            assert!(
                matches!(o.status.code(), Some(0 | 1))
                    && findings.is_some()
                    && deadlocks.is_empty()
                    && read,
                "{what}, seed {seed}, run {run}: {:?} {deadlocks:?} {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            );
            completed += 1;
        } else {
            let child = spawn_hangscan(pid, false);
            std::thread::sleep(Duration::from_micros(rng.below(150_000)));
            kill(child);
        }
        assert!(
            alive(pid),
            "{what}, seed {seed}, run {run}: the target died"
        );
        let stopped = left_stopped(pid);
        assert!(
            stopped.is_empty(),
            "{what}, seed {seed}, run {run}: left stopped {stopped:?}"
        );
        let now = beats(churn);
        assert!(
            now >= last,
            "{what}, seed {seed}, run {run}: {now} after {last}"
        );
        last = now;
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(beats(churn) > last, "{what}: the heartbeat stopped");
    completed
}

/// CPython (the distribution's) creating and ending threads and frames, through many attaches
/// that read its interpreter from memory, some killed.
#[test]
fn a_python_interpreter_that_churns_survives_many_attaches() {
    if !support::require("debian-python3.11") {
        return;
    }
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let mut command = Command::new(support::python::DEBIAN_PYTHON);
    command.arg(support::runtimes::programs("python").join("churn.py"));
    let mut churn = Driven::spawn("churn.py", command);
    let completed = soak_churn(&mut churn, runs, "python churn");
    eprintln!("python churn: {runs} runs, {completed} completed");
}

/// A Go program creating, growing, moving and freeing goroutines, through many attaches that
/// read its goroutines from memory, some killed.
#[test]
fn a_go_runtime_that_churns_survives_many_attaches() {
    if !support::require("go") {
        return;
    }
    let dir = support::scratch("soak", "go-churn");
    let exe = support::runtimes::build_go(&dir, "churn");
    let runs = env_number("HANGSCAN_SOAK_ATTACHES").unwrap_or(200) / 4;
    let mut churn = Driven::spawn("churn", Command::new(exe));
    let completed = soak_churn(&mut churn, runs, "go churn");
    eprintln!("go churn: {runs} runs, {completed} completed");
}

/// How long one attach to the exec target may take before it counts as wedged: far above its
/// worst case (five tries, each bounded by the stop timeout and the wait for an exec to end).
const WEDGED: Duration = Duration::from_secs(90);

/// The generation `c_reexec` wrote last.
fn generation(counter: &std::path::Path) -> i64 {
    std::fs::read_to_string(counter)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Threads of `pid` stopped, traced or zombies, with their state: none may stay once hangscan
/// has exited (a zombie shows for an instant while an exec ends the threads, so a few looks).
fn held_threads(pid: u32) -> Vec<String> {
    let look = || -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|t| {
                let status = std::fs::read_to_string(t.path().join("status")).ok()?;
                let get = |key: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.trim().to_string())
                };
                let state = get("State:")?;
                let tracer = get("TracerPid:")?;
                let held = state.starts_with(['t', 'T', 'Z']) || tracer != "0";
                held.then(|| format!("{:?} {state} traced by {tracer}", t.file_name()))
            })
            .collect()
    };
    let mut held = look();
    for _ in 0..50 {
        if held.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        held = look();
    }
    held
}

#[test]
fn attaches_to_a_process_that_execs_all_the_time_never_wedge_it_or_hangscan() {
    let attaches = env_number("HANGSCAN_SOAK_EXEC_ATTACHES").unwrap_or(150);
    let dir = std::env::temp_dir().join(format!("hangscan-exec-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = dir.join("generation");
    let mut command = Command::new(build_fixture("c_reexec"));
    command.arg("100").arg(&counter);
    let target = HungProcess::spawn("c_reexec", command);
    let pid = target.pid;
    let began = Instant::now();
    let (mut captured, mut exec_refusals) = (0, 0);
    for run in 0..attaches {
        let before = generation(&counter);
        let err_path = dir.join("stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
            .args(["attach", "--samples", "1", "--format", "json"])
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .expect("run hangscan");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > WEDGED {
                let held = held_threads(pid);
                kill(child);
                panic!(
                    "run {run}: hangscan wedged for {} s on a process that execs; its threads: \
                     {held:?}",
                    WEDGED.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        match status.code() {
            Some(0) => captured += 1,
            Some(2) if err.contains("was calling execve") && err.contains("try again") => {
                exec_refusals += 1
            }
            code => panic!("run {run}: hangscan ended with {code:?}: {err}"),
        }
        let held = held_threads(pid);
        assert!(held.is_empty(), "run {run}: threads left held: {held:?}");
        // The program goes on replacing itself (it does so every few ms when left alone).
        let moving = Instant::now();
        while generation(&counter) == before {
            assert!(
                moving.elapsed() < Duration::from_secs(30),
                "run {run}: the program made no progress after hangscan ended: {err}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    println!(
        "exec soak: {attaches} attaches in {:.0} s: {captured} captured, {exec_refusals} refused \
         as in the middle of an exec",
        began.elapsed().as_secs_f64()
    );
    drop(target);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The state letter of thread `tid` of `pid`, and whether it waits inside `execve`.
fn thread_state(pid: u32, tid: u32) -> (Option<char>, bool) {
    let dir = format!("/proc/{pid}/task/{tid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.trim_start().chars().next());
    let wchan = std::fs::read_to_string(format!("{dir}/wchan")).unwrap_or_default();
    (state, wchan.contains("exec"))
}

#[test]
fn an_exec_that_cannot_end_makes_hangscan_give_up_not_hang() {
    let dir = std::env::temp_dir().join(format!("hangscan-exec-stuck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = dir.join("generation");
    let mut command = Command::new(build_fixture("c_reexec"));
    command.arg("2").arg(&counter);
    let target = HungProcess::spawn("c_reexec", command);
    let pid = target.pid;
    // Another tracer takes an idle thread (the first one made); the next exec kills it, and
    // the tracer never reaps it: the exec waits for ever, holding the lock PTRACE_SEIZE takes.
    let limit = Instant::now() + Duration::from_secs(20);
    let tracer = loop {
        assert!(Instant::now() < limit, "could not wedge the exec");
        let first = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&t| t != pid)
            .min();
        let Some((tracer, traced)) =
            first.and_then(|t| Tracer::try_seize(t, "unreaping").map(|r| (r, t)))
        else {
            continue;
        };
        let wedged = Instant::now();
        while wedged.elapsed() < Duration::from_secs(1) {
            let (state, _) = thread_state(pid, traced);
            let in_exec = std::fs::read_dir(format!("/proc/{pid}/task"))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .any(|t| thread_state(pid, t).1);
            if state == Some('Z') && in_exec {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if thread_state(pid, traced).0 == Some('Z') {
            break tracer;
        }
    };
    let stuck_at = generation(&counter);

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(["attach", "--samples", "1"])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hangscan");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > WEDGED {
            kill(child);
            panic!("hangscan waited for the exec for {} s", WEDGED.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for words in [
        format!("stopping process {pid} stayed blocked in the kernel"),
        "calling execve".to_string(),
        "try again".to_string(),
    ] {
        assert!(err.contains(&words), "{words:?} missing: {err}");
    }
    assert_eq!(generation(&counter), stuck_at, "the exec was not stuck");

    // Once the other tracer lets go, the program goes on, and hangscan held nothing.
    drop(tracer);
    let moving = Instant::now();
    while generation(&counter) == stuck_at {
        assert!(moving.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    let held = held_threads(pid);
    assert!(held.is_empty(), "threads left held: {held:?}");
    drop(target);
    let _ = std::fs::remove_dir_all(&dir);
}
