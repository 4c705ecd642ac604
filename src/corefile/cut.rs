//! A truncated core: a file shorter than its program headers say (a disk that filled up, a copy
//! cut short, a core size limit). What is missing is measured here — bytes, memory segments,
//! the notes past the cut, the threads whose stacks or lock words were in the lost part — and
//! said in one diagnostic, so the report names the cut instead of showing a partial picture
//! as the whole one.

use crate::limits::human;
use crate::model::Diagnostic;
use object::elf::{ProgramType, PT_LOAD, PT_NOTE};

/// How a core is cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Bytes in the file.
    pub len: u64,
    /// Bytes its program headers call for.
    pub whole: u64,
    /// `PT_LOAD`s with bytes in the file.
    pub loads: usize,
    /// Of those, the ones wholly past the cut.
    pub loads_lost: usize,
    /// And the ones the cut falls inside.
    pub loads_partial: usize,
    /// The notes' bytes in the file and the bytes they should have, when the cut is inside or
    /// before them.
    pub notes: Option<(u64, u64)>,
}

/// One program header: its type, offset and size in the file.
pub type Segment = (ProgramType, u64, u64);

/// The cut of a file of `len` bytes whose program headers are `segments` and whose headers
/// (the section header table: gcore writes one last) end at `tables_end`, if it is shorter than
/// they say.
pub fn measure(
    len: u64,
    tables_end: u64,
    segments: impl IntoIterator<Item = Segment>,
) -> Option<Cut> {
    let mut cut = Cut {
        len,
        whole: len.max(tables_end),
        loads: 0,
        loads_lost: 0,
        loads_partial: 0,
        notes: None,
    };
    for (kind, offset, size) in segments {
        let end = offset.saturating_add(size);
        if size == 0 {
            continue;
        }
        cut.whole = cut.whole.max(end);
        let have = len.saturating_sub(offset).min(size);
        match kind {
            PT_LOAD => {
                cut.loads += 1;
                if have == 0 {
                    cut.loads_lost += 1;
                } else if have < size {
                    cut.loads_partial += 1;
                }
            }
            PT_NOTE if have < size => {
                let (h, s) = cut.notes.unwrap_or((0, 0));
                cut.notes = Some((h + have, s + size));
            }
            _ => {}
        }
    }
    (cut.whole > len).then_some(cut)
}

/// What was lost with the cut, as read from the part that is left.
#[derive(Debug, Default)]
pub struct Lost {
    /// Threads read (their `NT_PRSTATUS` notes are whole).
    pub threads: usize,
    /// The list of mapped files (`NT_FILE`) was past the cut.
    pub files: bool,
    /// Threads none of whose stack is in the file.
    pub stacks: Vec<u32>,
    /// Threads whose stack the cut falls inside.
    pub stacks_partial: Vec<u32>,
    /// Threads blocked on a futex word that is past the cut.
    pub words: Vec<u32>,
}

impl Cut {
    /// Where the cut is, in words: `cut at 1.2 MiB of 40 MiB (38.8 MiB missing)`.
    pub fn at(&self) -> String {
        format!(
            "the core is truncated: cut at {} of {} ({} missing)",
            human(self.len),
            human(self.whole),
            human(self.whole - self.len)
        )
    }

    /// True when the cut took nothing hangscan reads (only section headers).
    pub fn loses_nothing(&self) -> bool {
        self.loads_lost + self.loads_partial == 0 && self.notes.is_none()
    }

    /// The diagnostic that says what the cut took.
    pub fn diagnostic(&self, lost: &Lost) -> Diagnostic {
        if self.loses_nothing() {
            return Diagnostic {
                line: None,
                message: format!(
                    "{}: only its section headers, which are not needed: nothing read from it \
                     is missing",
                    self.at()
                ),
            };
        }
        let mut parts = Vec::new();
        let segments = match (self.loads_lost, self.loads_partial) {
            (0, 0) => None,
            (0, cut) => Some(format!("{cut} of {} memory segments cut short", self.loads)),
            (lost, 0) => Some(format!("{lost} of {} memory segments missing", self.loads)),
            (lost, cut) => Some(format!(
                "{lost} of {} memory segments missing and {cut} cut short",
                self.loads
            )),
        };
        parts.extend(segments);
        if let Some((have, size)) = self.notes {
            let mut s = format!(
                "the notes are cut at {} of {}: only the {} thread(s) whose notes are whole are \
                 read, any after them are missing",
                human(have),
                human(size),
                lost.threads
            );
            if lost.files {
                s.push_str(", and so is the list of mapped files (NT_FILE): no frame can be named");
            }
            parts.push(s);
        }
        if !lost.stacks.is_empty() {
            parts.push(format!(
                "the stacks of threads {} cannot be read (their frames end at the first)",
                tids(&lost.stacks)
            ));
        }
        if !lost.stacks_partial.is_empty() {
            parts.push(format!(
                "the stacks of threads {} are read only in part",
                tids(&lost.stacks_partial)
            ));
        }
        if !lost.words.is_empty() {
            parts.push(format!(
                "the futex words threads {} wait on are missing (a lock's owner is unknown)",
                tids(&lost.words)
            ));
        }
        Diagnostic {
            line: None,
            message: format!(
                "{}: {}. A deadlock found among what was read stands, but \"no deadlock\" is no \
                 verdict on this core: the whole core would decide (copy it again, or raise the \
                 limit that cut it: `ulimit -c`, systemd-coredump's ProcessSizeMax)",
                self.at(),
                parts.join("; ")
            ),
        }
    }
}

fn tids(tids: &[u32]) -> String {
    let shown: Vec<String> = tids.iter().take(20).map(u32::to_string).collect();
    match tids.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_core_is_not_cut() {
        let segs = [(PT_NOTE, 100, 100), (PT_LOAD, 200, 80)];
        assert_eq!(measure(300, 300, segs), None);
        // gcore's section headers come after the last segment.
        let headers = measure(290, 300, segs).unwrap();
        assert!(headers.loses_nothing());
        let m = headers.diagnostic(&Lost::default()).message;
        assert!(m.contains("nothing read from it is missing"), "{m}");
    }

    #[test]
    fn segments_past_the_end_are_counted() {
        let segs = [
            (PT_LOAD, 100, 100),
            (PT_LOAD, 200, 100),
            (PT_LOAD, 300, 100),
            (PT_NOTE, 400, 100),
        ];
        let cut = measure(250, 0, segs).unwrap();
        assert!(!cut.loses_nothing());
        assert_eq!(
            (cut.whole, cut.loads, cut.loads_lost, cut.loads_partial),
            (500, 3, 1, 1)
        );
        assert_eq!(cut.notes, Some((0, 100)));
        let lost = Lost {
            threads: 0,
            stacks: vec![3, 4],
            ..Lost::default()
        };
        let m = cut.diagnostic(&lost).message;
        assert!(m.starts_with("the core is truncated: cut at 250 B of 500 B (250 B missing)"));
        assert!(
            m.contains("1 of 3 memory segments missing and 1 cut short"),
            "{m}"
        );
        assert!(
            m.contains("the stacks of threads 3, 4 cannot be read"),
            "{m}"
        );
    }

    #[test]
    fn a_cut_inside_the_notes_says_how_much_of_them_is_left() {
        let cut = measure(150, 64, [(PT_NOTE, 100, 100)]).unwrap();
        assert_eq!(cut.notes, Some((50, 100)));
        let lost = Lost {
            threads: 2,
            files: true,
            ..Lost::default()
        };
        let m = cut.diagnostic(&lost).message;
        assert!(
            m.contains("only the 2 thread(s) whose notes are whole"),
            "{m}"
        );
        assert!(m.contains("no frame can be named"), "{m}");
    }
}
