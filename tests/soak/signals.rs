//! The signals soak: `c_soak` (threads created and joined all the time, signals sent and
//! counted by sequence number, restartable calls, a heartbeat) attached hundreds of times, some
//! runs killed at random or right inside the stop, its own books checked at the end.

use super::{alive, env_number, kill, left_stopped, spawn_hangscan, Rng};
use crate::support::{field, Driven};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime};

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
