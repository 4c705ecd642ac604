//! A program started from any path or command (not a fixture built by [`super::build_fixture`]),
//! ready once it printed `READY` and its main thread sleeps; killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The started program.
pub struct Started(Child);

impl Started {
    /// Starts `exe ARGS`, waits (20 s at most) for its `READY` line, then (5 s at most) until
    /// its main thread sleeps.
    pub fn start(exe: &Path, args: &[&str]) -> Started {
        let mut command = Command::new(exe);
        command.args(args);
        Self::start_command(command)
    }

    /// [`Started::start`] for a command made by the caller (a `chroot`, a changed root).
    pub fn start_command(mut command: Command) -> Started {
        let what = format!("{command:?}");
        let mut child = Started(
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {what}: {e}")),
        );
        let out = BufReader::new(child.0.stdout.take().expect("piped stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if line.starts_with("READY") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{what} did not print READY"));
        let stat = format!("/proc/{}/stat", child.pid());
        for _ in 0..1000 {
            let text = std::fs::read_to_string(&stat).unwrap_or_default();
            if text
                .rsplit(')')
                .next()
                .is_some_and(|t| t.trim_start().starts_with('S'))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
