//! Which threads could hold a lock that records no owner. A thread could only if some frame of
//! the program's own, outside its own waits, is live on its stack (code that took the lock and
//! has not returned to unlock it), or code no symbol names outside the system's libraries (a
//! stripped program, a JIT's or an interpreter's code; a captured frame at a pc in no
//! executable mapping is no code), or its stack cannot be read.
//!
//! For a lock at a static address whose object the capture checked the frames' code against
//! (`model::Frame::refs`, live and from cores), a live frame counts only if its code names the
//! lock's object: a thread asleep in a loop that never names the lock cannot hold it. A frame
//! not checked (a dump's read without its program file, code with no sized symbol) could still
//! hold any lock.
//!
//! For a lock in no object's image (on the heap: a field of a struct allocated at run time),
//! which no code names, the capture looked for it on the threads' stacks
//! (`model::Thread::stack_refs`, against the snapshot's `stack-locks`: a word of the live
//! stack, or a register, pointing at it or shortly before it): a thread with live frames whose
//! stack holds no such word cannot hold it (code that will unlock a lock keeps a way to reach
//! it), one whose stack does could; unless no stack but its waiters' points at the lock (its
//! holder reaches it through another object: a pimpl's private part), when the stacks say
//! nothing of it. A thread whose stack was not read whole could hold any,
//! as could one running code no symbol names (a JIT's, whose references the runtime keeps
//! elsewhere) or Python functions (whose frames are on the heap): their stacks say nothing.

use crate::analyze::classify::{Activity, Facts};
use crate::analyze::names::Names;
use crate::model::{Evidence, Frame, Language, Snapshot};

/// How a thread could hold a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Could {
    /// It cannot: no live frame of the program's own, or none whose code names the lock.
    Not,
    /// A live frame of the program's own names the lock's object in its code.
    Names,
    /// A live frame of the program's own whose code was not checked has an argument pointing
    /// at the lock or just before it (a receiver or a struct that holds it: Go's dump prints
    /// a frame's arguments), or the thread's live stack holds such a word: it could have
    /// taken it.
    Points,
    /// A live frame whose code was not checked for the lock (a dump's frames without the
    /// program file, code no sized symbol covers, a lock at no static address), or a stack
    /// that cannot be read: it may.
    Unchecked,
}

/// The frames of thread `o` that could have taken a lock and not returned: the program's own
/// and unnamed code, outside its waits; `None` when its stack cannot be read (it may hold any).
pub(super) fn live_frames(
    snap: &Snapshot,
    facts: &[Facts],
    names: &Names,
    o: usize,
) -> Option<Vec<usize>> {
    let frames = &snap.threads[o].frames;
    if frames.is_empty() || facts[o].activity == Activity::Unknown {
        return None;
    }
    let fnames = names.thread(o);
    let in_wait = |i: usize| {
        facts[o]
            .waits
            .iter()
            .any(|w| (w.first..=w.frame).contains(&i))
    };
    // A captured frame in no executable mapping (no module) runs no code: a walk gone astray.
    let unnamed_code = |f: &Frame| {
        f.function.is_none()
            && f.address.is_some_and(|a| a != 0)
            && !f.signal_frame
            && !f.in_system_library()
            && (f.trust.is_none() || f.module.is_some())
    };
    Some(
        (0..frames.len())
            .filter(|&i| {
                let program = fnames.is_program(frames, i) && !fnames.plumbing(i);
                (program || unnamed_code(&frames[i])) && !in_wait(i)
            })
            .collect(),
    )
}

/// The start of the static object (`data-symbol` evidence) holding `address`, which frames'
/// `refs` name it by.
pub(super) fn static_object(snap: &Snapshot, address: u64) -> Option<u64> {
    snap.evidence.iter().find_map(|e| match e {
        Evidence::DataSymbol {
            address: start,
            size,
            ..
        } => (address >= *start && address - start < (*size).max(1)).then_some(*start),
        _ => None,
    })
}

/// How far past an argument's address a lock may lie and still be inside what it points at
/// (a receiver or a struct that holds the lock).
const ARG_REACH: u64 = 256;

/// The locks the capture looked for on the threads' stacks (`stack-locks` evidence).
pub(super) fn stack_locks(snap: &Snapshot) -> &[u64] {
    (snap.evidence.iter())
        .find_map(|e| match e {
            Evidence::StackLocks { addresses } => Some(&addresses[..]),
            _ => None,
        })
        .unwrap_or_default()
}

/// How thread `o`, whose live frames are `live`, could hold the lock at `address`, in the
/// static object at `object` (`None`: at no static address, or not known); `looked_for`: the
/// locks looked for on the threads' stacks.
pub(super) fn could(
    snap: &Snapshot,
    o: usize,
    live: Option<&[usize]>,
    (address, object): (Option<u64>, Option<u64>),
    looked_for: &[u64],
) -> Could {
    let Some(live) = live else {
        return Could::Unchecked;
    };
    let frames = &snap.threads[o].frames;
    let points = |f: &Frame| {
        let Some(lock) = address else { return false };
        (f.args.iter()).any(|a| {
            crate::values::value_address(&a.value)
                .is_some_and(|p| p <= lock && lock - p < ARG_REACH)
        })
    };
    // What the thread's stack points at, when it was looked at for this lock, and it says
    // where the thread's code keeps its pointers: not for code no symbol names (a JIT's, an
    // interpreter's, whose references live in their own structures, the JVM's object maps)
    // nor for a thread running Python functions (whose frames are on the heap).
    let native = (live.iter()).all(|&i| frames[i].function.is_some())
        && !(frames.iter()).any(|f| f.language == Some(Language::Python));
    let stack = (address.filter(|_| native)).and_then(|l| stack_points(snap, o, l, looked_for));
    let mut how = Could::Not;
    for &i in live {
        match (&frames[i].refs, object) {
            (Some(refs), Some(start)) if refs.contains(&start) => return Could::Names,
            (Some(_), Some(_)) => {}
            _ if points(&frames[i]) || stack == Some(true) => how = Could::Points,
            _ if how == Could::Not && stack.is_none() => how = Could::Unchecked,
            _ => {}
        }
    }
    how
}

/// Whether thread `o`'s live stack points at the lock at `address`: `None` when it was not
/// looked for there (a dump, a stack not read whole, a lock in an object's image), by
/// `looked_for`.
fn stack_points(snap: &Snapshot, o: usize, address: u64, looked_for: &[u64]) -> Option<bool> {
    let found = snap.threads[o].stack_refs.as_ref()?;
    (looked_for.binary_search(&address).is_ok()).then(|| found.binary_search(&address).is_ok())
}
