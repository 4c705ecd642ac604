//! `hangscan demo`: starts a bundled server that hangs the way the Nebula storage server did
//! (a SIGTERM handler, run on a pool worker, joins the pool), waits until it is stuck, and hands
//! its pid to `attach`. The target is this same executable run as `hangscan __demo-target`, so
//! the demo needs nothing but the hangscan binary.

pub mod target;

use crate::error::{Error, Result};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running demo target; killed when dropped.
pub struct DemoTarget {
    child: Child,
    /// Its pid.
    pub pid: u32,
}

impl DemoTarget {
    /// Starts the target and waits (at most 10 s) until it reports that it hangs.
    pub fn start() -> Result<Self> {
        let exe = std::env::current_exe().map_err(|e| Error::Demo(e.to_string()))?;
        let mut child = Command::new(exe)
            .arg("__demo-target")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Demo(format!("cannot start the demo target: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let pid = child.id();
        let guard = DemoTarget { child, pid };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut reader = BufReader::new(stdout);
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading so the target never writes into a closed pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.starts_with("READY") => Ok(guard),
            Ok(line) => Err(Error::Demo(format!(
                "the demo target said {line:?} instead of READY"
            ))),
            Err(_) => Err(Error::Demo(
                "the demo target did not get stuck within 10 s".into(),
            )),
        }
    }
}

impl Drop for DemoTarget {
    fn drop(&mut self) {
        // It ignores SIGTERM by design (that is the bug it shows): SIGKILL.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
