//! Every bound hangscan puts on what it reads, in one place, and the helpers that apply them:
//! a huge or hostile input costs bounded memory and time, and gives a partial result with a
//! diagnostic saying what was left out, never an out-of-memory kill or a hang.
//!
//! The bounds on DWARF expressions are the unwinder's own (`unwind/cfi.rs`): they are about
//! one object's CFI, not about the size of an input.

use crate::model::{Diagnostic, Frame, Snapshot};
use std::io::Read;

/// Bytes of a dump read at most (`parse FILE`, `parse -`); the rest is not read. Parsing costs
/// about 6× the bytes read in memory on real dumps (64 MiB of a generated gdb dump: 441 MB peak
/// RSS), up to about 33× on degenerate ones made of nothing but one-line threads (2.1 GB).
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

/// Stacks shown under one finding in the text report (threads with alike frames share one);
/// `-v` shows them all.
pub const MAX_STACKS_SHOWN: usize = 8;

/// Reads at most [`MAX_INPUT_BYTES`] of `input`, cut after its last complete line when there
/// was more. `size` is the input's whole size when known (a file's), for the diagnostic.
pub fn read_prefix(input: impl Read, size: Option<u64>) -> std::io::Result<Prefix> {
    let limit = MAX_INPUT_BYTES + 1;
    let mut bytes = Vec::with_capacity(size.unwrap_or(0).min(limit) as usize);
    input.take(limit).read_to_end(&mut bytes)?;
    let (len, cut) = cut_at_line(&bytes, size);
    bytes.truncate(len);
    Ok(Prefix {
        bytes: Bytes::Read(bytes),
        cut,
    })
}

/// [`read_prefix`] for a regular file of `size` bytes, mapped instead of copied: the kernel's
/// copy and the fresh pages it fills cost a fifth of parsing a big dump. Another program
/// truncating the file while it is read would stop hangscan (SIGBUS), as it would a core's
/// reader; a file that cannot be mapped is read.
pub fn map_prefix(file: &std::fs::File, size: u64) -> std::io::Result<Prefix> {
    if size == 0 {
        return read_prefix(file, Some(size));
    }
    let len = size.min(MAX_INPUT_BYTES + 1) as usize;
    // SAFETY: the map is read only and lives in the Prefix; see above for truncation.
    let map = match unsafe { memmap2::MmapOptions::new().len(len).populate().map(file) } {
        Ok(map) => map,
        Err(_) => return read_prefix(file, Some(size)),
    };
    let (len, cut) = cut_at_line(&map, Some(size));
    Ok(Prefix {
        bytes: Bytes::Mapped(map, len),
        cut,
    })
}

/// How much of `bytes` (at most [`MAX_INPUT_BYTES`] + 1 of an input of `size`) is read: all of
/// it, or its complete lines up to the limit, and the diagnostic then.
fn cut_at_line(bytes: &[u8], size: Option<u64>) -> (usize, Option<Diagnostic>) {
    if bytes.len() as u64 <= MAX_INPUT_BYTES {
        return (bytes.len(), None);
    }
    let bytes = &bytes[..MAX_INPUT_BYTES as usize];
    let (len, upto) = match memchr::memrchr(b'\n', bytes) {
        Some(last) => {
            let lines = memchr::memchr_iter(b'\n', &bytes[..=last]).count();
            (
                last + 1,
                format!("up to line {lines}, the last complete one"),
            )
        }
        None => (bytes.len(), "part of its first line".to_string()),
    };
    let of = size.map_or_else(String::new, |s| format!(" ({} in all)", human(s)));
    let message = format!(
        "the input is larger than the limit of {}{of}: only its first {} ({upto}) are analysed",
        human(MAX_INPUT_BYTES),
        human(len as u64),
    );
    (
        len,
        Some(Diagnostic {
            line: None,
            message,
        }),
    )
}

/// What [`read_prefix`] or [`map_prefix`] read.
#[derive(Debug)]
pub struct Prefix {
    /// The bytes: all of the input, or its first complete lines up to the limit.
    pub bytes: Bytes,
    /// Why not all of it, when it was cut.
    pub cut: Option<Diagnostic>,
}

/// The bytes of a [`Prefix`]: read into memory, or a file mapped (its first bytes).
#[derive(Debug)]
pub enum Bytes {
    /// Read from a stream.
    Read(Vec<u8>),
    /// The map of a file, and how many of its bytes are the prefix.
    Mapped(memmap2::Mmap, usize),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Read(v) => v,
            Bytes::Mapped(m, len) => &m[..*len],
        }
    }
}

impl Bytes {
    /// Lets the system take back the pages of `part` (a slice of these bytes) that a reader
    /// is done with: a mapped file's pages wholly inside it leave memory, to be read back from
    /// the file if touched again; read bytes stay. A big dump's parse thus holds the pieces it
    /// is reading, not the whole file, beside the snapshot it builds.
    pub fn release(&self, part: &[u8]) {
        let Bytes::Mapped(map, _) = self else {
            return;
        };
        let page = page_size();
        let base = map.as_ptr() as usize;
        let start = (part.as_ptr() as usize).saturating_sub(base);
        let end = start + part.len();
        if end > map.len() {
            return;
        }
        let (first, last) = (start.next_multiple_of(page), end / page * page);
        if last > first {
            // SAFETY: the map is private and read only, never written: dropping its pages
            // drops clean copies of the file, and a later read faults the same bytes back in
            // (as for the map itself, a file truncated meanwhile would stop hangscan).
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, last - first)
            };
        }
    }
}

/// The system's page size (4 KiB when it cannot be read).
fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
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
/// what was left out. The text parsers hold both while they read (the skeleton's `Builder`);
/// this is for the snapshots read whole (`snapshot_json`) and what a parser added at its end.
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
        .filter_map(|(i, t)| {
            let depth = t.frames.len();
            (elide_middle(&mut t.frames) > 0).then_some((i, depth))
        })
        .collect();
    if let Some(d) = deep_stacks(snap, &deep) {
        snap.diagnostics.push(d);
    }
}

/// Leaves out the middle of a stack deeper than [`MAX_FRAMES`], keeping its innermost and
/// outermost halves (their frames keep the numbers the dump printed); returns how many frames
/// were left out.
pub fn elide_middle(frames: &mut Vec<Frame>) -> usize {
    let depth = frames.len();
    if depth <= MAX_FRAMES {
        return 0;
    }
    let keep = MAX_FRAMES / 2;
    frames.drain(keep..depth - (MAX_FRAMES - keep));
    depth - MAX_FRAMES
}

/// The diagnostic for the threads whose stacks were elided: (index, depth before).
pub fn deep_stacks(snap: &Snapshot, deep: &[(usize, usize)]) -> Option<Diagnostic> {
    if deep.is_empty() {
        return None;
    }
    let named = deep
        .iter()
        .map(|&(i, depth)| format!("{} ({depth} frames)", snap.threads[i].label()));
    let keep = MAX_FRAMES / 2;
    Some(Diagnostic {
        line: None,
        message: format!(
            "{} thread(s) deeper than {MAX_FRAMES} frames: only the innermost {keep} and the \
             outermost {} frames of each are analysed, the frames between are left out: {}",
            deep.len(),
            MAX_FRAMES - keep,
            some_of(named, deep.len())
        ),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Thread;

    #[test]
    fn an_endless_input_is_read_to_the_limit() {
        // `yes | hangscan parse -`: no line ends within the limit.
        let p = read_prefix(std::io::repeat(b'y'), None).unwrap();
        assert_eq!(p.bytes.len() as u64, MAX_INPUT_BYTES);
        let said = p.cut.unwrap().message;
        assert!(
            said.contains("only its first 64 MiB (part of its first line)"),
            "{said}"
        );
        let short = read_prefix(&b"a\nb\n"[..], Some(4)).unwrap();
        assert_eq!((&*short.bytes, short.cut), (&b"a\nb\n"[..], None));
    }

    #[test]
    fn deep_stacks_keep_both_ends() {
        let frame = |f: &str| Frame {
            function: Some(f.into()),
            ..Frame::default()
        };
        let mut deep = Thread::default();
        deep.frames.push(frame("wait"));
        deep.frames.extend((0..10_000).map(|_| frame("recurse")));
        deep.frames.push(frame("entry"));
        let mut snap = Snapshot {
            threads: vec![deep, Thread::default()],
            ..Snapshot::default()
        };
        bound_dump(&mut snap);
        let kept = &snap.threads[0].frames;
        assert_eq!(kept.len(), MAX_FRAMES);
        assert_eq!(kept[0].function.as_deref(), Some("wait"));
        assert_eq!(kept[MAX_FRAMES - 1].function.as_deref(), Some("entry"));
        assert_eq!(snap.diagnostics.len(), 1);
        assert!(snap.diagnostics[0]
            .message
            .ends_with("left out: unidentified thread (10002 frames)"));
    }

    #[test]
    fn stack_shares_and_sizes() {
        assert_eq!(stack_share(64 << 10, 8192), (64 << 10, None));
        let (each, said) = stack_share(64 << 10, 100_000);
        assert_eq!(each, (MAX_STACK_BYTES / 100_000) as usize);
        assert!(said.is_some());
        assert_eq!(stack_share(1, 0).0, 1);
        assert_eq!(human(512), "512 B");
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
