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
//!
//! Each soak is a file of `soak/`: `signals.rs` (`c_soak`), `deadlocked.rs` (a dead main
//! thread, a PID namespace), `churn.rs` (CPython and Go), `exec.rs` (`c_reexec`); this file
//! holds what they share: the seeded kills, running and killing hangscan, the target's state.

#[path = "soak/churn.rs"]
mod churn;
#[path = "soak/deadlocked.rs"]
mod deadlocked;
#[path = "soak/exec.rs"]
mod exec;
#[path = "soak/signals.rs"]
mod signals;
mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::stopped_threads;

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
