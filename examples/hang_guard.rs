//! A test harness built on hangscan's library: runs a command, and when it is still running
//! after a timeout, fails with hangscan's report of why it hangs instead of a bare "timed out".
//!
//! ```text
//! cargo run --example hang_guard -- --timeout 5 -- ./my-test --its-args
//! ```
//!
//! The command runs as hang_guard's child, so hang_guard may trace it (Yama's default allows a
//! parent). If it exits in time, hang_guard exits with its status (128 + the signal that killed
//! it). If not, hang_guard captures it (stopped for milliseconds, then let go), writes the
//! report on standard error, kills it and exits 124, as `timeout(1)` does.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Exit status when the command hung (`timeout(1)`'s).
pub const HUNG: i32 = 124;
/// Exit status for a usage error or a command that could not be started.
pub const TROUBLE: i32 = 2;

const USAGE: &str = "usage: hang_guard [--timeout SECONDS] -- COMMAND [ARGS...]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(&args, &mut std::io::stderr()));
}

/// Runs the command `args` name and returns hang_guard's exit status; messages and the report
/// go to `report`.
pub fn run(args: &[String], report: &mut dyn Write) -> i32 {
    let (timeout, command) = match parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = writeln!(report, "hang_guard: {e}\n{USAGE}");
            return TROUBLE;
        }
    };
    let mut child = match Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let _ = writeln!(report, "hang_guard: cannot run {}: {e}", command[0]);
            return TROUBLE;
        }
    };
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) => {
                return status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .unwrap_or(TROUBLE)
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = writeln!(report, "hang_guard: waiting for {}: {e}", command[0]);
                return TROUBLE;
            }
        }
    }
    let _ = writeln!(
        report,
        "hang_guard: {} (pid {}) is still running after {} s; why:\n",
        command[0],
        child.id(),
        timeout.as_secs_f64()
    );
    match hangscan::attach(child.id(), &hangscan::Options::default()) {
        Ok(snapshot) => {
            let analysis = hangscan::analyze(&snapshot);
            let _ = hangscan::render(&snapshot, &analysis, hangscan::Format::Text, report);
        }
        Err(e) => {
            let _ = writeln!(report, "hang_guard: could not capture it: {e}");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    HUNG
}

/// `[--timeout SECONDS] -- COMMAND [ARGS...]` → (the timeout, the command); 60 s by default.
fn parse(args: &[String]) -> Result<(Duration, &[String]), String> {
    let mut timeout = Duration::from_secs(60);
    let mut rest = args;
    while let Some((first, after)) = rest.split_first() {
        match first.as_str() {
            "--timeout" => {
                let value = after.first().ok_or("--timeout needs a number of seconds")?;
                let seconds: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("`{value}` is not a number of seconds"))?;
                timeout = Duration::from_secs_f64(seconds);
                rest = &after[1..];
            }
            "--" => {
                rest = after;
                break;
            }
            _ => break,
        }
    }
    if rest.is_empty() {
        return Err("no command to run".into());
    }
    Ok((timeout, rest))
}
