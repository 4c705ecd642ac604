//! Where a finding's steps point: the frame each step names and the source line it shows,
//! shared by the renderers that link to code (Markdown, SARIF, JUnit) and by JSON.

use crate::analyze::{Analysis, Step};
use crate::model::{Frame, Snapshot};

/// The frame a step names, if its thread has it.
pub fn step_frame<'a>(snap: &'a Snapshot, s: &Step) -> Option<&'a Frame> {
    s.frame
        .and_then(|i| snap.threads.get(s.thread)?.frames.get(i))
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

/// The source line of the frame a step names, when the frame has a file and a line (≥ 1).
pub fn step_source<'a>(snap: &'a Snapshot, s: &Step) -> Option<SourceLine<'a>> {
    source(step_frame(snap, s)?)
}

/// Where a step is reached from in the source: the nearest frame at or outside the step's frame
/// (it or a caller) that has a source line, with that frame. For a wait inside a library printed
/// without lines, the line in the code that called it. Never past a signal frame: what lies
/// beyond is the code the signal interrupted, not a caller.
pub fn reached_from<'a>(
    snap: &'a Snapshot,
    a: &Analysis,
    s: &Step,
) -> Option<(&'a Frame, SourceLine<'a>)> {
    let frames = &snap.threads.get(s.thread)?.frames;
    let from = s.frame?;
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
