//! A big gdb transcript read on every core ([`crate::dump::skeleton::pieces`]): each piece,
//! from a thread header on, is read by a [`Parser`] of its own, and the parts are put together
//! as one read would have: a thread that a later piece names again is the thread an earlier
//! piece found. A piece that leans on what came before it (a `thread N` command, a switch
//! line, a bare `bt`) or a value left open at a piece's end makes the
//! dump be read whole instead.

use super::{is_gdb_stack_line, Parser};
use crate::dump::normalize::is_clean;
use crate::dump::skeleton::header::{self as target, ThreadRef};
use crate::dump::skeleton::logical::{ends_here, logical_lines};
use crate::dump::skeleton::pieces::{cut, read_each};
use crate::dump::skeleton::Part;
use crate::dump::Release;
use crate::model::Snapshot;

/// What a parser read from one piece.
pub(super) struct Read {
    part: Part,
    saw_info_table: bool,
    saw_all: bool,
    rr: bool,
    /// It leans on a thread selected before the piece.
    leans: bool,
    /// How many of its threads' frames are rr's syscall hooks.
    hook_frames: usize,
    /// A `bt full` value was still open at the piece's end (it would run on into the next).
    open_at_end: bool,
    /// How the piece began and ended.
    ends: super::Ends,
    /// It ended inside an `info threads` table.
    in_info_table: bool,
}

/// The snapshot of a dump big enough to cut, read in pieces; `None` when it is small, cannot
/// be cut, or a piece cannot be read on its own (then it is read whole).
/// Each piece read is handed to `release`.
pub(super) fn parse(raw: &[u8], origin: &str, release: Release) -> Option<Snapshot> {
    let starts = |prev: &str, l: &str| target::parse_header(l).is_some() && ends_here(prev);
    let pieces = cut(raw, &starts, &|t| is_clean(t, &is_gdb_stack_line))?;
    let reads = read_each(&pieces, release, |piece| {
        let mut p = Parser::default();
        let before = piece.first_line - 1;
        logical_lines(piece.text, |no, line| p.line(before + no, line));
        p.into_read()
    });
    let last = reads.len() - 1;
    let alone = |(i, r): (usize, &Read)| (i == 0 || !r.leans) && (i == last || !r.open_at_end);
    if !reads.iter().enumerate().all(alone) {
        return None;
    }
    let mut whole = Parser::default();
    let threads = reads.iter().map(|r| r.part.threads.len()).sum();
    whole.b.threads.reserve_exact(threads);
    whole.reserve(threads);
    for read in reads {
        whole.take_in(read);
    }
    Some(whole.finish(origin))
}

impl Parser {
    /// What this parser read from its piece, its last block ended.
    fn into_read(mut self) -> Read {
        let open_at_end = self.open_local.is_some();
        self.finish_block();
        Read {
            saw_info_table: self.saw_info_table,
            saw_all: self.saw_all,
            rr: self.rr,
            leans: self.leans,
            hook_frames: self.hook_frames,
            open_at_end,
            ends: self.ends,
            in_info_table: self.in_info_table,
            part: self.b.into_part(),
        }
    }

    /// Puts in the next piece's read: its threads, each the thread found before that it names
    /// (taking its stack as a header's block would) or a new one.
    fn take_in(&mut self, mut read: Read) {
        self.saw_info_table |= read.saw_info_table;
        self.saw_all |= read.saw_all;
        self.rr |= read.rr;
        self.ends.merge(read.ends);
        self.in_info_table = read.in_info_table;
        let (last, stack) = read.part.ends;
        let mut placed = Vec::with_capacity(read.part.threads.len());
        // Counted as the piece's; a thread found before, or dropped, takes its own back out.
        self.hook_frames += read.hook_frames;
        for (t, shed) in std::mem::take(&mut read.part.threads) {
            let r = ThreadRef {
                gdb_num: t.debugger_id.clone(),
                tid: t.tid,
                pid: t.process,
                pthread: t.pthread,
                name: t.name.clone(),
            };
            let found = self.find(&r);
            if found.is_some() || self.b.full() {
                self.hook_frames -= super::hooks(&t.frames);
            }
            placed.push(found.or_else(|| (!self.b.full()).then_some(self.b.threads.len())));
            match found {
                Some(idx) => {
                    self.merge(idx, &r);
                    // A partial stack (an `info threads` row) fills only a thread with none.
                    let empty = self.b.threads[idx].frames.is_empty();
                    if !t.partial || empty {
                        self.attach(idx, t.frames, shed);
                        self.b.threads[idx].partial |= t.partial;
                    }
                }
                None => {
                    if let Some(idx) = self.b.thread(t) {
                        self.b.shed(idx, shed);
                        self.merge(idx, &r);
                    }
                }
            }
        }
        let stack = stack.and_then(|(t, line)| Some((placed.get(t).copied().flatten()?, line)));
        self.b.ended(last, stack);
        self.b.absorb(read.part);
    }
}
