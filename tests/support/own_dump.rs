//! A runtime's own dump of its threads, written to standard error when it handles a signal
//! (CPython's faulthandler on SIGUSR1, a JVM or Go on SIGQUIT): the program started with its
//! standard error in a file, the signal sent, the dump read back once whole.

use std::path::Path;
use std::process::Command;

/// `command` run with its standard error sent to `file` (where a runtime writes its own dump
/// on a signal), same process id.
pub fn with_stderr_to(file: &Path, command: &[&Path]) -> Command {
    let mut sh = Command::new("sh");
    sh.args(["-c", "exec \"$@\" 2>\"$0\""])
        .arg(file)
        .args(command);
    sh
}

/// Sends `signal` to the fixture.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

/// The dump in `file` once it holds its last line, `until` (the runtime writes it as soon as it
/// handles the signal; bounded only so that a broken test ends, not a timing assertion).
pub fn dump_in(file: &Path, until: &str) -> String {
    for _ in 0..500 {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(until) {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no dump in {}", file.display());
}
