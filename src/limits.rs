//! Every bound hangscan puts on what it reads, in one place, and the helpers that apply them:
//! a huge or hostile input costs bounded memory and time, and gives a partial result with a
//! diagnostic saying what was left out, never an out-of-memory kill or a hang.
//!
//! The bounds on DWARF expressions are the unwinder's own (`unwind/cfi.rs`): they are about
//! one object's CFI, not about the size of an input.

use crate::model::{Diagnostic, Snapshot, Thread};
use std::io::Read;

/// Bytes of a dump read at most (`parse FILE`, `parse -`); the rest is not read. Parsing costs
/// about 6× the input in memory on real dumps (a 127 MB, 100 000-thread gdb dump peaks at
/// 830 MB), up to about 35× on inputs made of nothing but one-line threads.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Threads of one snapshot analysed at most; the threads after them are dropped.
pub const MAX_THREADS: usize = 100_000;

/// Frames of one thread kept at most. A live capture or a core walks the innermost this many;
/// a dump's deeper stack keeps its innermost and outermost halves: the innermost frames carry
/// the wait, the outermost the thread's role (its pool's worker loop, its entry point).
pub const MAX_FRAMES: usize = 512;

/// Bytes of stack copied for all the threads of a live capture or a core together, at most:
/// with very many threads each gets an equal share (the default 64 KiB each fits 8 192
/// threads), so a core with a million thread notes cannot make hangscan copy 64 GiB.
pub const MAX_STACK_BYTES: u64 = 512 << 20;

/// Steps of one finding shown in the reports meant for people (text, Markdown, JUnit, SARIF's
/// related locations); the JSON report has every step.
pub const MAX_STEPS_SHOWN: usize = 40;

/// Reads at most [`MAX_INPUT_BYTES`] of `input`, cut after its last complete line when there
/// was more. `size` is the input's whole size when known (a file's), for the diagnostic.
pub fn read_prefix(input: impl Read, size: Option<u64>) -> std::io::Result<Prefix> {
    let mut bytes = Vec::new();
    let mut input = input.take(MAX_INPUT_BYTES + 1);
    input.read_to_end(&mut bytes)?;
    if bytes.len() as u64 <= MAX_INPUT_BYTES {
        return Ok(Prefix { bytes, cut: None });
    }
    bytes.truncate(MAX_INPUT_BYTES as usize);
    if let Some(last) = bytes.iter().rposition(|&b| b == b'\n') {
        bytes.truncate(last + 1);
    }
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    let of = size.map_or_else(String::new, |s| format!(" ({} in all)", human(s)));
    let message = format!(
        "the input is larger than the limit of {}{of}: only its first {} (up to line {lines}, \
         the last complete one) are analysed",
        human(MAX_INPUT_BYTES),
        human(bytes.len() as u64),
    );
    Ok(Prefix {
        bytes,
        cut: Some(Diagnostic {
            line: None,
            message,
        }),
    })
}

/// What [`read_prefix`] read.
#[derive(Debug)]
pub struct Prefix {
    /// The bytes: all of the input, or its first complete lines up to the limit.
    pub bytes: Vec<u8>,
    /// Why not all of it, when it was cut.
    pub cut: Option<Diagnostic>,
}

impl Prefix {
    /// Records the cut in the snapshot read from the prefix: said first, and the snapshot no
    /// longer shows every thread.
    pub fn note_in(&self, snap: &mut Snapshot) {
        if let Some(d) = &self.cut {
            snap.diagnostics.insert(0, d.clone());
            snap.complete = false;
        }
    }
}

/// The bytes of stack to copy for each of `threads` threads, `requested` each unless
/// [`MAX_STACK_BYTES`] says less; the diagnostic when it does.
pub fn stack_share(requested: usize, threads: usize) -> (usize, Option<Diagnostic>) {
    let share = usize::try_from(MAX_STACK_BYTES / threads.max(1) as u64).unwrap_or(usize::MAX);
    if requested <= share {
        return (requested, None);
    }
    let message = format!(
        "{threads} threads: {} of stack copied for each instead of {} (the limit is {} for all), \
         so deep stacks may end early",
        human(share as u64),
        human(requested as u64),
        human(MAX_STACK_BYTES)
    );
    (
        share,
        Some(Diagnostic {
            line: None,
            message,
        }),
    )
}

/// The diagnostic for the threads a core or a dump had beyond [`MAX_THREADS`].
pub fn threads_dropped(dropped: usize) -> Option<Diagnostic> {
    (dropped > 0).then(|| Diagnostic {
        line: None,
        message: format!(
            "{MAX_THREADS} threads shown, {dropped} more not analysed (the limit is \
             {MAX_THREADS} threads a snapshot)"
        ),
    })
}

/// Holds a parsed dump to [`MAX_THREADS`] threads and [`MAX_FRAMES`] frames a thread, saying
/// what was left out.
pub fn bound_dump(snap: &mut Snapshot) {
    if let Some(d) = threads_dropped(snap.threads.len().saturating_sub(MAX_THREADS)) {
        snap.threads.truncate(MAX_THREADS);
        snap.complete = false;
        snap.diagnostics.push(d);
    }
    let deep: Vec<(usize, usize)> = snap
        .threads
        .iter_mut()
        .enumerate()
        .filter_map(|(i, t)| elide_middle(t).map(|depth| (i, depth)))
        .collect();
    if let Some(message) = deep_stacks(snap, &deep) {
        snap.diagnostics.push(Diagnostic {
            line: None,
            message,
        });
    }
}

/// Leaves out the middle of a stack deeper than [`MAX_FRAMES`], keeping its innermost and
/// outermost halves (their frames keep the numbers the dump printed); returns its depth then.
fn elide_middle(t: &mut Thread) -> Option<usize> {
    let depth = t.frames.len();
    if depth <= MAX_FRAMES {
        return None;
    }
    let keep = MAX_FRAMES / 2;
    t.frames.drain(keep..depth - (MAX_FRAMES - keep));
    Some(depth)
}

/// The diagnostic for the threads whose stacks were elided: (index, depth before).
fn deep_stacks(snap: &Snapshot, deep: &[(usize, usize)]) -> Option<String> {
    if deep.is_empty() {
        return None;
    }
    let named = deep
        .iter()
        .map(|&(i, depth)| format!("{} ({depth} frames)", snap.threads[i].label()));
    let keep = MAX_FRAMES / 2;
    Some(format!(
        "{} thread(s) deeper than {MAX_FRAMES} frames: only the innermost {keep} and the \
         outermost {} frames of each are analysed, the frames between are left out: {}",
        deep.len(),
        MAX_FRAMES - keep,
        some_of(named, deep.len())
    ))
}

/// The diagnostic for the threads of a live capture or a core whose walk stopped at
/// [`MAX_FRAMES`] (their labels): what is below is not known.
pub fn walk_limit_note(labels: &[String]) -> Option<Diagnostic> {
    if labels.is_empty() {
        return None;
    }
    Some(Diagnostic {
        line: None,
        message: format!(
            "{} thread(s) deeper than {MAX_FRAMES} frames: only the innermost {MAX_FRAMES} were \
             walked, the outer ones are not known: {}",
            labels.len(),
            some_of(labels.iter().cloned(), labels.len())
        ),
    })
}

/// The first few of `count` names, and how many more.
fn some_of(names: impl Iterator<Item = String>, count: usize) -> String {
    const NAMED: usize = 5;
    let mut shown: Vec<String> = names.take(NAMED).collect();
    if count > NAMED {
        shown.push(format!("{} more", count - NAMED));
    }
    shown.join(", ")
}

/// A byte count as people read it: `512 B`, `64 MiB`, `1.0 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
