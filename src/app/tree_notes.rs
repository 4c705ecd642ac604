//! The processes of a tree to capture (`attach --tree`), and the set's notes on those that
//! are not in the report: one that exited or moved during the capture, hangscan itself.

use crate::config::AttachConfig;
use crate::error::Error;

/// Whether a capture failed because the process exited (or was replaced) before or during it.
pub fn moved_on(e: &Error) -> bool {
    matches!(
        e,
        Error::ProcessGone { .. } | Error::NoProcess { .. } | Error::ExecRace { .. }
    )
}

/// The note for process `pid`, found in the tree of `roots`, that exited meanwhile.
pub fn exited(pid: u32, roots: &[u32]) -> String {
    format!(
        "pid {pid}, found in the process tree of {}, exited during the capture (or is a zombie \
         its parent has not waited for), so it is not in the report",
        pid_list(roots)
    )
}

/// The note for hangscan's own process `pid`, found in the tree of `roots` (an ancestor's).
pub fn itself(pid: u32, roots: &[u32]) -> String {
    format!(
        "pid {pid}, found in the process tree of {}, is this hangscan: a process cannot trace \
         itself, so it is not in the report",
        pid_list(roots)
    )
}

/// "1, 2, 3".
fn pid_list(pids: &[u32]) -> String {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    pids.join(", ")
}

/// The pids asked for, plus (with `--tree`) all their descendants.
pub fn expand_pids(a: &AttachConfig) -> Vec<u32> {
    #[cfg(target_os = "linux")]
    if a.tree {
        return crate::capture::tree::descendants(&a.pids, None);
    }
    a.pids.clone()
}
