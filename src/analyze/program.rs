//! The program's own frame behind a library call: the first frame from a wait (or a thread's
//! top frame) outwards that no rule names as a library's and that is not in a system library,
//! with the library frames folded behind it ("in pthread_mutex_lock ← __lll_lock_wait").
//! Decided by the rules and the objects frames run in, never by names of the program's. The
//! steps of findings and the thread lines of the report both point there.

use super::classify::{Facts, Wait};
use super::finding::InProgram;
use super::names::{FrameNames, Names};
use crate::model::{Frame, Snapshot};

/// The program's frame behind a library call whose innermost frame is `inner`: the first
/// program frame at or outside it before the end of its segment (past a signal frame lies
/// interrupted code, not a caller), with the library frames folded behind it: the call the
/// program made and the innermost one. A wait a dump states on a program frame (Java's
/// `- waiting to lock`, a Go goroutine's status) is that frame, with nothing folded.
pub fn in_program(
    frames: &[Frame],
    names: FrameNames,
    facts: &Facts,
    inner: usize,
) -> Option<InProgram> {
    let end = facts.segment_end(inner).min(frames.len());
    let frame = (inner..end).find(|&i| names.is_program(frames, i))?;
    let named = |i: &usize| frames[*i].function.is_some();
    let entry = (inner..frame).rev().find(named);
    let innermost = (inner..frame).find(named);
    let same = |a: usize, b: usize| frames[a].function == frames[b].function;
    let mut folded: Vec<usize> = entry.into_iter().collect();
    folded.extend(innermost.filter(|&i| entry.is_none_or(|e| !same(e, i))));
    Some(InProgram { frame, folded })
}

/// The program frame of a wait of thread `t`.
pub fn wait_in_program(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    t: usize,
    w: &Wait,
) -> Option<InProgram> {
    in_program(&snap.threads[t].frames, names.thread(t), &facts[t], w.first)
}

/// The program frame thread `t` is in at frame `top` (its top frame, or a wait's) and the
/// library frames folded behind it (those of its wait, when `top` is in one).
pub fn top_in_program(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    t: usize,
    top: usize,
) -> Option<InProgram> {
    let inner = match facts[t].waits.first() {
        Some(w) if w.first <= top && top <= w.frame => w.first,
        _ => top,
    };
    in_program(&snap.threads[t].frames, names.thread(t), &facts[t], inner)
}
