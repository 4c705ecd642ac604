//! What the kernel still proves when the frames do not: a thread whose registers show it
//! blocked in a system call, while no rule knows its innermost frames (a library whose symbols
//! are stripped or could not be read, code that makes the call itself) or its stack could not
//! be read at all, waits in that call, as the call's own libc wrapper would say (`read` is I/O,
//! `futex` a bare futex wait whose word may show it a lock), timed when its arguments give a
//! timeout. Without this, the first named frame further out (the program's own) would be taken
//! for running code.

use super::{new_wait, Wait};
use crate::knowledge::{KnowledgeBase, Meaning};
use crate::model::Thread;

/// The wait the thread's system call is, shown at frame `innermost` (the running segment's
/// first), for a thread whose frames named no wait.
pub(super) fn kernel_wait(thread: &Thread, innermost: usize, kb: &KnowledgeBase) -> Option<Wait> {
    let call = thread.kernel.as_ref()?.syscall.as_ref()?;
    let rule = kb.match_function(call.name.as_deref()?)?;
    if rule.meaning != Meaning::Wait || rule.context {
        return None;
    }
    let mut w = new_wait(rule.kind?, rule, innermost);
    w.timed = rule.timed || call.has_timeout();
    Some(w)
}
