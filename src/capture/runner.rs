//! `hangscan run`'s process handling: start a command the way a CI job would (its standard
//! streams untouched) in its own process group, with hangscan as a child subreaper so that
//! grandchildren whose parents exit stay in the tree; pass SIGINT, SIGTERM and SIGHUP sent to
//! hangscan on to that group; wait with a deadline; and end the whole tree (SIGTERM, then
//! SIGKILL after a grace period), reaping everything.

use crate::error::{Error, Result};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// A signal hangscan received and has not passed on yet (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember(sig: libc::c_int) {
    PENDING.store(sig, Ordering::SeqCst);
}

/// How often the child is looked at while waiting.
const POLL: Duration = Duration::from_millis(20);

/// The command, running.
pub struct Running {
    child: Child,
    /// Its pid, which is also its process group.
    pub pid: u32,
}

/// How the wait ended.
pub enum Outcome {
    /// The command ended by itself, with this status.
    Exited(ExitStatus),
    /// It was still running at the deadline.
    TimedOut,
}

/// Starts `command` in a process group of its own.
pub fn spawn(command: &[OsString]) -> Result<Running> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::Run("no command given after `--`".into()))?;
    // Orphaned descendants are re-parented to hangscan, not to init: they stay in the tree.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let handler = SigAction::new(
        SigHandler::Handler(remember),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores into an atomic.
        let _ = unsafe { signal::sigaction(sig, &handler) };
    }
    let child = Command::new(program)
        .args(args)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Error::Run(format!(
                "cannot run {}: {e} (check the command after `--`: its path, PATH, and that it \
                 is executable)",
                program.to_string_lossy()
            ))
        })?;
    Ok(Running {
        pid: child.id(),
        child,
    })
}

impl Running {
    /// Waits until the command ends or `timeout` passes, passing on signals meanwhile.
    pub fn wait(&mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        loop {
            self.forward_signals();
            match self.child.try_wait() {
                Ok(Some(status)) => return Outcome::Exited(status),
                Ok(None) if Instant::now() >= deadline => return Outcome::TimedOut,
                Ok(None) => std::thread::sleep(POLL.min(deadline - Instant::now())),
                Err(_) => return Outcome::Exited(ExitStatus::from_raw(0)),
            }
        }
    }

    fn forward_signals(&self) {
        let sig = PENDING.swap(0, Ordering::SeqCst);
        if let Ok(sig) = Signal::try_from(sig) {
            let _ = signal::killpg(Pid::from_raw(self.pid as i32), sig);
        }
    }

    /// Ends `tree` (and the command's process group): SIGTERM, then SIGKILL to what is left
    /// after `grace`; reaps every child hangscan has. Returns the pids still alive at the end
    /// (none, unless a process is stuck in the kernel or left the group and hangscan's tree).
    pub fn end(&mut self, tree: &[u32], grace: Duration) -> Vec<u32> {
        let group = Pid::from_raw(self.pid as i32);
        let signal_all = |sig: Signal| {
            let _ = signal::killpg(group, sig);
            for &p in tree {
                let _ = signal::kill(Pid::from_raw(p as i32), sig);
            }
        };
        signal_all(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !alive(tree).is_empty() {
            reap();
            std::thread::sleep(POLL);
        }
        signal_all(Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            reap();
            let left = alive(tree);
            if left.is_empty() || Instant::now() >= deadline {
                let _ = self.child.try_wait();
                return left;
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The exit status a shell would report for `status` (128 + the signal for a killed command).
pub fn shell_status(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Collects every child that has ended (ours or re-parented to us).
fn reap() {
    while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
        if s == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
}

/// The processes of `tree` still running (a zombie does not count).
fn alive(tree: &[u32]) -> Vec<u32> {
    tree.iter()
        .copied()
        .filter(|&p| !super::procinfo::exited(p as i32))
        .collect()
}
