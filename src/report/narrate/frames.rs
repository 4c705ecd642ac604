//! Frames in words: a frame as `#4 place_order (c_abba.c:67)`, the program's frame with the
//! library frames folded behind it, where a holder holds its lock, the marks of a stack's
//! elided frames, and a stack's heading (the thread, and how long its runtime says it waited).

use crate::analyze::{HeldAt, InProgram};
use crate::model::Thread;

/// `#15 PriorityThreadManager::PriorityImpl::join (Foo.cpp:12)`: thread `th`'s frame `pos`.
/// A thread the dump gives no frames for (its state stated by the runtime) has none to show.
pub fn frame_ref(th: &Thread, pos: usize) -> String {
    let Some(f) = th.frames.get(pos) else {
        return "(no frames; the runtime's word)".to_string();
    };
    let idx = f.index.map_or(pos as u32, |i| i);
    let name = f
        .function
        .as_deref()
        .map(crate::knowledge::base_name)
        .unwrap_or("??");
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("#{idx} {name} ({}:{line})", short_path(file)),
        _ => format!("#{idx} {name}"),
    }
}

/// `goroutine 18 (waiting 12 minutes)`: thread `th`'s label, with how long its runtime says it
/// has been in its state (Go's `[sync.Mutex.Lock, 12 minutes]`), when it says so.
pub fn heading(th: &Thread) -> String {
    match th.waited_minutes {
        Some(1) => format!("{} (waiting 1 minute)", th.label()),
        Some(m) => format!("{} (waiting {m} minutes)", th.label()),
        None => th.label(),
    }
}

fn short_path(p: &str) -> &str {
    let mut parts = p.rsplitn(3, '/');
    let last = parts.next().unwrap_or(p);
    match parts.next() {
        Some(dir) => &p[p.len() - last.len() - dir.len() - 1..],
        None => last,
    }
}

/// The mark for `n` frames left out of a stack.
pub fn elided(n: usize) -> String {
    match n {
        1 => "… 1 frame".to_string(),
        n => format!("… {n} frames"),
    }
}

/// The line that stands for the stacks of `threads` more threads not shown.
pub fn more_stacks(threads: usize) -> String {
    format!("… and the stacks of {threads} more thread(s) (`-v` shows them all)")
}

/// What a stack without frames says.
pub fn no_frames() -> &'static str {
    "no frames"
}

/// `#4 place_order (c_abba.c:67), in pthread_mutex_lock ← __lll_lock_wait`: the program's
/// frame, with the library frames folded behind it.
pub(super) fn in_program(th: &Thread, p: &InProgram) -> String {
    let mut text = frame_ref(th, p.frame);
    let folded: Vec<&str> = p
        .folded
        .iter()
        .filter_map(|&i| th.frames.get(i)?.function.as_deref())
        .map(crate::knowledge::base_name)
        .collect();
    if !folded.is_empty() {
        text.push_str(&format!(", in {}", folded.join(" ← ")));
    }
    text
}

/// The program's frame when there is one, else frame `i`.
pub(super) fn program_or_frame(th: &Thread, i: usize, program: &Option<InProgram>) -> String {
    match program {
        Some(p) => in_program(th, p),
        None => frame_ref(th, i),
    }
}

/// Where a holder holds its lock, in words.
pub(super) fn held_where(th: &Thread, h: &HeldAt) -> String {
    match h {
        HeldAt::Guard { frame } => format!("a guard in {}", frame_ref(th, *frame)),
        HeldAt::Call { frame } => format!("taken in {}, not returned yet", frame_ref(th, *frame)),
        HeldAt::Below { frame } => format!("somewhere at or below {}", frame_ref(th, *frame)),
        HeldAt::Unknown => "no frames show where".to_string(),
    }
}
