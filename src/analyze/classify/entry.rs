//! Pool membership by where a thread starts (an `entry` rule): a library's own worker thread,
//! whose loop is its start routine, a static function no frame names without the library's
//! debug info (libuv's threadpool `worker`). Read from the frames alone, so a core shows it too.

use super::{Membership, PoolRef};
use crate::analyze::names::FrameNames;
use crate::knowledge::{KnowledgeBase, Meaning};
use crate::model::Thread;

/// The membership an `entry` rule states for `thread`, for a pool no frame already names: its
/// start routine (the outermost frame inside the thread-start plumbing, which must be seen, so
/// that a walk cut short is never taken for a thread's start) is in an object the rule names.
/// That frame is the worker loop.
pub(super) fn entry_member(
    thread: &Thread,
    names: FrameNames,
    kb: &KnowledgeBase,
    members: &[Membership],
) -> Option<Membership> {
    let frames = &thread.frames;
    let start = (0..frames.len()).rev().find(|&i| !names.plumbing(i))?;
    if start + 1 == frames.len() {
        return None;
    }
    let rule = kb.match_entry(frames[start].module.as_deref()?)?;
    let class = rule
        .pool
        .as_ref()
        .filter(|_| rule.meaning == Meaning::Member)?;
    if members.iter().any(|m| m.pool.class == *class) {
        return None;
    }
    Some(Membership {
        pool: PoolRef {
            class: class.clone(),
            instance: None,
        },
        frame: start,
        rule: rule.id.clone(),
    })
}
