//! Where a block of frames goes once it ends (the thread its header named, the thread the
//! transcript selected when its frame #0 agrees, or an unidentified thread of its own), and
//! the snapshot made at the end of the transcript, with the gaps it leaves (threads missing,
//! one stack alone, a cut table or transcript).

use super::{Owner, Parser};
use crate::dump::skeleton::intern::share_owned;
use crate::dump::skeleton::missing_numbers;
use crate::model::{Frame, Gap, Snapshot, Thread};

impl Parser {
    pub(super) fn finish_block(&mut self) {
        if let Some((_, name, value)) = self.open_local.take() {
            self.push_local(name, share_owned(value));
        }
        self.settle_locals();
        let Some(mut block) = self.block.take() else {
            return;
        };
        self.last_block_len = block.frames.len();
        // Kept for the life of the snapshot: no room to spare.
        block.frames.shrink_to_fit();
        if block.frames.is_empty() {
            return;
        }
        match block.owner {
            Some(Owner::Thread(owner)) => {
                self.b.stack_line_of(owner, block.last);
                return self.attach(owner, block.frames, block.shed);
            }
            Some(Owner::PastCap) => return,
            None => self.leans = true,
        }
        let Some(cur) = self.current else {
            return self.unidentified(block.frames, block.shed, block.last);
        };
        if let Some(top) = self.info_top.get(&cur) {
            if !same_frame(top, &block.frames[0]) {
                let who = self.b.threads[cur].label();
                let message = format!(
                    "the backtrace at line {} does not say whose stack it is; its frame #0 ({}) \
                     disagrees with {}'s frame in `info threads` ({}), so it is reported as an \
                     unidentified thread",
                    block.line,
                    func_or_unknown(&block.frames[0]),
                    who,
                    func_or_unknown(top)
                );
                self.diag(block.line, &message);
                return self.unidentified(block.frames, block.shed, block.last);
            }
        }
        self.b.stack_line_of(cur, block.last);
        self.attach(cur, block.frames, block.shed);
    }

    /// A stack no header or selection names: a thread of its own.
    /// `shed`: frames left out of the stack's middle ([`push_bounded`]); `last`: its last line.
    fn unidentified(&mut self, frames: Vec<Frame>, shed: usize, last: usize) {
        let hooked = hooks(&frames);
        let kept = self.b.thread(Thread {
            frames,
            ..Thread::default()
        });
        if let Some(i) = kept {
            self.hook_frames += hooked;
            self.b.shed(i, shed);
            self.b.stack_line_of(i, last);
        }
    }

    pub(super) fn attach(&mut self, idx: usize, mut frames: Vec<Frame>, shed: usize) {
        let t = &mut self.b.threads[idx];
        if t.partial || frames.len() > t.frames.len() {
            self.hook_frames = self.hook_frames - hooks(&t.frames) + hooks(&frames);
            std::mem::swap(&mut t.frames, &mut frames);
            t.partial = false;
            self.b.shed(idx, shed);
        }
        let t = &mut self.b.threads[idx];
        // Values printed after the block not kept (`frame 2` then `p *mutex`) stay with the
        // same frame of the stack that is.
        for dropped in frames.into_iter().filter(|f| !f.printed.is_empty()) {
            let same = |k: &&mut Frame| k.index == dropped.index && k.function == dropped.function;
            if let Some(kept) = t.frames.iter_mut().find(same) {
                kept.printed.extend(dropped.printed);
            }
        }
    }

    /// What `info threads` rows with no header say of the threads not shown: gdb numbers
    /// threads from 1 up, so each number below the highest that no row has is a thread the
    /// table lost (filtered out, or exited before: gdb does not reuse numbers).
    fn filtered_rows(&mut self) {
        if self.headless.is_empty() {
            return;
        }
        self.b.note(
            "`info threads` rows with no table header above them: a table filtered (by grep) \
             or cut, so it need not list every thread",
        );
        let Some(numbers) = self.headless.iter().copied().collect::<Option<Vec<u32>>>() else {
            return;
        };
        let missing = missing_numbers(&numbers.into_iter().collect());
        if !missing.is_empty() {
            self.b.gap(Gap::Missing { threads: missing });
        }
    }

    pub(super) fn finish(mut self, origin: &str) -> Snapshot {
        self.finish_block();
        debug_assert_eq!(
            self.hook_frames,
            self.b
                .threads
                .iter()
                .map(|t| hooks(&t.frames))
                .sum::<usize>()
        );
        let rr = self.rr || self.hook_frames > 0;
        let has_first = self
            .b
            .threads
            .iter()
            .any(|t| t.debugger_id.as_deref() == Some("1"));
        let complete = self.saw_info_table || (self.saw_all && has_first);
        if !complete && self.saw_all && !has_first && !self.b.threads.is_empty() {
            self.b.note(
                "the dump looks cut: gdb numbers threads from 1, but thread 1 is not in it, so \
                 threads may be missing",
            );
            self.b.gap(Gap::Missing {
                threads: vec!["1".to_string()],
            });
        }
        if !self.saw_info_table {
            self.filtered_rows();
        }
        let rows_only = !self.headless.is_empty() && self.ends.first_block.is_none();
        if !self.saw_all && !self.saw_info_table && !rows_only && !self.b.threads.is_empty() {
            self.b.gap(Gap::OneStack {
                line: self.ends.first_block,
            });
        }
        if self.in_info_table {
            let line = self.b.last_seen();
            self.b.gap(Gap::EndsInList { line });
        }
        if self.ends.cut() {
            self.b.gap(Gap::NoEnd {
                expected: "[Inferior 1 (process …) detached]".to_string(),
                line: Some(self.b.last_seen()),
            });
        }
        self.b
            .finish(if rr { "rr" } else { "gdb" }, origin, complete)
    }
}

/// How many of `frames` are rr's `syscall_hook`.
pub(super) fn hooks(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter(|f| f.function.as_deref().is_some_and(mentions_syscall_hook))
        .count()
}

/// Whether a function is rr's `syscall_hook`. Found from its `y`, rare in function names
/// (`str::contains` would set up a substring searcher for each of the dump's frames).
fn mentions_syscall_hook(name: &str) -> bool {
    let bytes = name.as_bytes();
    memchr::memchr_iter(b'y', bytes)
        .any(|p| bytes[p.saturating_sub(1)..].starts_with(b"syscall_hook"))
}

fn same_frame(a: &Frame, b: &Frame) -> bool {
    if let (Some(x), Some(y)) = (a.address, b.address) {
        return x == y;
    }
    a.function == b.function
}

fn func_or_unknown(f: &Frame) -> &str {
    f.function.as_deref().unwrap_or("??")
}
