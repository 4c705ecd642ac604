//! Where a finding's steps point: the frame each step names, the program's frame a person is
//! sent to, and the source line it shows, shared by the renderers that link to code (Markdown,
//! SARIF, JUnit) and by JSON.

use crate::analyze::{Analysis, HeldAt, InProgram, Shows, Step};
use crate::model::{Frame, Snapshot};

/// The frame a step names, if its thread has it.
pub fn step_frame<'a>(snap: &'a Snapshot, s: &Step) -> Option<&'a Frame> {
    s.frame
        .and_then(|i| snap.threads.get(s.thread)?.frames.get(i))
}

/// The frame a person is sent to for a step: the program's own frame behind the library call
/// (where a wait was called from, where a holder keeps its guard or took the lock), when the
/// analysis found one; else the frame the step names.
pub fn place_frame<'a>(snap: &'a Snapshot, s: &Step) -> Option<&'a Frame> {
    place(s).and_then(|i| snap.threads.get(s.thread)?.frames.get(i))
}

/// The position of [`place_frame`].
fn place(s: &Step) -> Option<usize> {
    let program = |p: &Option<InProgram>| p.as_ref().map(|p| p.frame);
    let place = match &s.shows {
        Shows::Waits { program: p, .. }
        | Shows::InIo { program: p, .. }
        | Shows::Blocker { program: p, .. }
        | Shows::HandlerWaits { program: p, .. } => program(p),
        Shows::Holder {
            held_at: Some(HeldAt::Guard { frame } | HeldAt::Call { frame }),
            ..
        } => Some(*frame),
        Shows::MayRead { guard, .. } => Some(*guard),
        _ => None,
    };
    place.or(s.frame)
}

/// A place in the source, as the input printed it (untrusted text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLine<'a> {
    /// The file, as printed.
    pub file: &'a str,
    /// 1-based.
    pub line: u32,
}

impl std::fmt::Display for SourceLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The source line of the frame a step sends a person to ([`place_frame`]), when the frame has
/// a file and a line (≥ 1).
pub fn step_source<'a>(snap: &'a Snapshot, s: &Step) -> Option<SourceLine<'a>> {
    source(place_frame(snap, s)?)
}

/// Where a step is reached from in the source: the nearest frame at or outside its place frame
/// (it or a caller) that has a source line, with that frame. For a wait inside a library printed
/// without lines, the line in the code that called it. Never past a signal frame: what lies
/// beyond is the code the signal interrupted, not a caller.
pub fn reached_from<'a>(
    snap: &'a Snapshot,
    a: &Analysis,
    s: &Step,
) -> Option<(&'a Frame, SourceLine<'a>)> {
    let frames = &snap.threads.get(s.thread)?.frames;
    let from = place(s)?;
    let end = a.facts.get(s.thread)?.segment_end(from).min(frames.len());
    frames
        .get(from..end)?
        .iter()
        .find_map(|f| source(f).map(|src| (f, src)))
}

fn source(f: &Frame) -> Option<SourceLine<'_>> {
    match (f.file.as_deref(), f.line) {
        (Some(file), Some(line)) if line >= 1 && !file.is_empty() => {
            Some(SourceLine { file, line })
        }
        _ => None,
    }
}
