//! Ids of a live process beyond its pid. Which id to read it through: once the main thread has
//! ended (`pthread_exit`), the leader is a zombie whose `/proc/PID/maps`, `mem`, `root` and
//! `map_files` are empty or unreadable, and `process_vm_readv(PID)` fails, while any live
//! thread's id reaches the same address space. And what each thread is called inside the
//! process's own PID namespace (`NSpid:` in its `status`), the ids its memory holds.

use crate::model::Evidence;
use crate::stackwalk::NsTids;

/// The id through which the process's memory, mappings and root are read: `pid` itself while
/// its leader lives, else its first thread that is neither a zombie nor dead; `None` when none
/// is left.
pub fn reader(pid: i32) -> Option<i32> {
    if !super::procinfo::exited(pid) {
        return Some(pid);
    }
    super::procinfo::list_tasks(pid)?
        .into_iter()
        .find(|&tid| !super::procinfo::exited(tid))
}

/// Each thread's id inside the process's innermost PID namespace, for the threads where it
/// differs from the host id. One read when the process is in hangscan's namespace; else one
/// per thread (ids do not change, so this is read after the threads are resumed). Threads
/// whose `status` cannot be read (they exited) are left out.
pub fn namespace_tids(pid: i32, tids: &[i32]) -> NsTids {
    let innermost_of = |path: String| innermost(&std::fs::read_to_string(path).ok()?);
    if innermost_of(format!("/proc/{pid}/status")) == Some(pid as u64) {
        return NsTids::Same;
    }
    NsTids::Mapped(
        tids.iter()
            .filter_map(|&tid| {
                let inner = innermost_of(format!("/proc/{pid}/task/{tid}/status"))?;
                (inner != tid as u64).then_some((tid as u64, inner))
            })
            .collect(),
    )
}

/// At most this many of a parent's threads are listed.
const MAX_PARENT_THREADS: usize = 4096;

/// The parent of process `pid` and its threads' ids inside their innermost PID namespace (the
/// ids a lock copied by `fork` holds), read from `/proc` (`PPid:`, the parent's tasks); `None`
/// for a child of init or when the parent cannot be read.
pub fn parent(pid: i32) -> Option<Evidence> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ppid: i32 = super::procinfo::field(&status, "PPid:")?
        .trim()
        .parse()
        .ok()?;
    if ppid <= 1 {
        return None;
    }
    let tids = super::procinfo::list_tasks(ppid)?
        .into_iter()
        .take(MAX_PARENT_THREADS)
        .filter_map(|t| {
            innermost(&std::fs::read_to_string(format!("/proc/{ppid}/task/{t}/status")).ok()?)
        })
        .collect();
    Some(Evidence::ParentThreads {
        pid: ppid as u32,
        tids,
    })
}

/// The last id of the `NSpid:` line (host first, innermost last).
fn innermost(status: &str) -> Option<u64> {
    super::procinfo::field(status, "NSpid:")?
        .split_whitespace()
        .next_back()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_nspid_is_the_last() {
        assert_eq!(innermost("Name:\tx\nNSpid:\t4242\t7\t2\nX: 1\n"), Some(2));
        assert_eq!(innermost("NSpid:\t4242\n"), Some(4242));
        assert_eq!(innermost("Name:\tx\n"), None);
        assert_eq!(innermost("NSpid:\tgarbage\n"), None);
    }

    #[test]
    fn a_process_in_our_namespace_has_no_other_ids_and_is_read_through_its_pid() {
        let me = std::process::id() as i32;
        assert_eq!(namespace_tids(me, &[me]), NsTids::Same);
        assert_eq!(reader(me), Some(me));
    }
}
