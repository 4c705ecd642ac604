//! gdb (and rr's gdb) transcripts: `thread apply all bt [full]`, a lone `bt`, `info threads`
//! tables, thread headers, switch lines and stop banners, prompts and commands, `p *mutex`.
//!
//! A transcript is read as a sequence of *blocks* of frames. A block belongs to the thread named
//! by the header before it, or, for a bare `bt`, to the thread the transcript last selected; a
//! bare `bt` is pinned on that thread only when its frame #0 agrees with what `info threads`
//! showed for it. Whatever cannot be read becomes a diagnostic, never a panic.

use crate::dump::normalize::normalize;
use crate::dump::skeleton::frame::{blank_frame_number, frame_number};
use crate::dump::skeleton::header::{self as target, ThreadRef};
use crate::dump::skeleton::intern::{share, share_owned, DumpMap};
use crate::dump::skeleton::logical::logical_lines;
use crate::dump::skeleton::memo::Memo;
use crate::dump::skeleton::text;
use crate::dump::skeleton::{push_bounded, Builder};
use crate::dump::{DumpFormat, Release};
use crate::model::{Frame, Printed, Snapshot, Text, Var};

mod blocks;
mod ends;
mod identity;
mod pieces;
mod processes;

use blocks::hooks;
use ends::Ends;
use identity::compatible;

/// A gdb frame line's text after `#N`.
pub use crate::dump::skeleton::frame::parse_frame_text;

/// The gdb format: `thread apply all bt`, `bt`, `bt full`, `info threads`, rr and gdbserver.
pub struct Gdb;

impl DumpFormat for Gdb {
    fn name(&self) -> &'static str {
        "gdb"
    }

    fn sniff(&self, text: &str) -> bool {
        text.lines().take(400).any(|l| {
            let l = l.trim_start_matches(['>', ' ']);
            target::parse_header(l).is_some()
                || frame_number(l).is_some()
                || target::parse_info_row(l).is_some()
                || (l.starts_with("Id") && l.contains("Target Id"))
        })
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        self.parse_releasing(raw, origin, &|_| {})
    }

    fn parse_releasing(&self, raw: &[u8], origin: &str, release: Release) -> Snapshot {
        pieces::parse(raw, origin, release).unwrap_or_else(|| whole(raw, origin))
    }

    fn processes(&self, raw: &[u8]) -> Vec<usize> {
        processes::starts(raw)
    }
}

/// The snapshot of a dump read in one go, on one core.
fn whole(raw: &[u8], origin: &str) -> Snapshot {
    let text = normalize(raw, &is_gdb_stack_line);
    let mut p = Parser::default();
    logical_lines(&text, |no, line| p.line(no, line));
    p.finish(origin)
}

fn is_gdb_stack_line(l: &str) -> bool {
    frame_number(l).is_some() || target::parse_header(l).is_some()
}

/// Whose a block of frames is, when a header before it said.
#[derive(Clone, Copy)]
enum Owner {
    /// The thread at this index.
    Thread(usize),
    /// A thread past the thread cap: the block is dropped.
    PastCap,
}

impl Owner {
    fn of(idx: Option<usize>) -> Self {
        idx.map_or(Self::PastCap, Self::Thread)
    }
}

#[derive(Default)]
struct Block {
    /// The thread named by the header before the block; `None` for a bare `bt`.
    owner: Option<Owner>,
    line: usize,
    /// Its last line (a frame's, a local's).
    last: usize,
    frames: Vec<Frame>,
    /// Frames left out of the middle of a deep stack ([`push_bounded`]).
    shed: usize,
}

#[derive(Default)]
struct Parser {
    b: Builder,
    by_tid: DumpMap<u64, usize>,
    by_pthread: DumpMap<u64, usize>,
    by_num: DumpMap<String, usize>,
    /// Frame #0 of a thread as `info threads` showed it, to check bare `bt`s against.
    info_top: DumpMap<usize, Frame>,
    current: Option<usize>,
    /// The last identity hint (banner or switch line) and the epoch it came in.
    last_hint: Option<(usize, usize)>,
    pending_header: Option<Owner>,
    block: Option<Block>,
    /// An open `bt full` local whose value spans lines: (unclosed braces, name, value so far).
    open_local: Option<(i32, Text, String)>,
    in_info_table: bool,
    /// What was read leans on a thread selected before the text at hand (a command, a switch
    /// line, a bare `bt`): a piece of a dump that does cannot be read
    /// on its own ([`pieces`]).
    leans: bool,
    /// How many frames the last block had (a capacity hint for the next).
    last_block_len: usize,
    /// How many of the threads' frames are rr's `syscall_hook`, kept up to date as frames are
    /// attached (cheaper than walking every frame again at the end).
    hook_frames: usize,
    /// An `info threads` table lists every live thread.
    saw_info_table: bool,
    /// The numbers of `info threads` rows read with no table header above them (a filtered
    /// table): they show only some threads (`None`: a row numbered `inferior.thread`).
    headless: Vec<Option<u32>>,
    /// `thread apply all` (or its headers) was seen: complete if thread 1 is there too.
    saw_all: bool,
    /// Counts blocks and headers, so that identity hints with nothing between them merge.
    epoch: usize,
    rr: bool,
    /// Frame lines read before, by frame number (the text after `#N`).
    frames: Memo<Option<Frame>>,
    /// `bt full` local lines read before.
    locals: Memo<Local>,
    /// How the transcript began and ended ([`Ends`]).
    ends: Ends,
    /// The locals read so far of the block's last frame: given to it in one allocation of the
    /// right size when the next frame starts or the block ends ([`Parser::settle_locals`]).
    locals_read: Vec<Var>,
}

/// A `bt full` local line: a whole `name = value`, or one whose value runs on (unclosed
/// braces, the name, the value so far); `None` when it is no local.
type Local = Option<(i32, Text, Text)>;

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        if let Some((depth, name, mut value)) = self.open_local.take() {
            self.block_line(no);
            value.push(' ');
            value.push_str(line.trim());
            let depth = depth + text::balance(line, b'{', b'}');
            if depth > 0 {
                self.open_local = Some((depth, name, value));
            } else {
                self.push_local(name, share_owned(value));
            }
            return;
        }
        let trimmed = text::trim(line);
        if trimmed.is_empty() {
            self.in_info_table = false;
            return;
        }
        self.b.seen(no);
        if let Some((idx, rest)) = frame_number(trimmed) {
            self.in_info_table = false;
            self.frame(no, idx, rest);
            return;
        }
        if let Some(idx) = self.swallowed_marker(trimmed) {
            self.diag(
                no,
                &format!("frame #{idx} is blank: read as `<signal handler called>`, which Markdown takes for a tag and hides"),
            );
            self.frame(no, idx, "*");
            return;
        }
        if self.in_info_table {
            if let Some((selected, r, frame_text)) = target::parse_info_row(trimmed) {
                self.info_row(no, selected, r, frame_text);
                return;
            }
            self.in_info_table = false;
        }
        if line.starts_with("        ") || line.starts_with('\t') {
            self.local(no, trimmed);
            return;
        }
        if let Some(cmd) = trimmed
            .strip_prefix("(gdb)")
            .or_else(|| trimmed.strip_prefix("(rr)"))
        {
            if trimmed.starts_with("(rr)") {
                self.rr = true;
            }
            self.ends.not_batch_attach = true;
            self.command(cmd.trim());
            return;
        }
        if let Some(r) = target::parse_header(trimmed) {
            self.finish_block();
            self.saw_all = true;
            self.epoch += 1;
            let idx = self.identify(&r);
            if let Some(i) = idx {
                // An input that ends here ends inside this thread's block.
                self.b.stack_line_of(i, no);
            }
            self.pending_header = Some(Owner::of(idx));
            return;
        }
        if trimmed.starts_with("Id") && trimmed.contains("Target Id") {
            self.finish_block();
            self.in_info_table = true;
            self.saw_info_table = true;
            self.ends.stacks = true;
            return;
        }
        if let Some(r) =
            target::parse_switch(trimmed).or_else(|| target::parse_stop_banner(trimmed))
        {
            self.finish_block();
            self.hint(&r);
            return;
        }
        if trimmed.starts_with("(More stack frames follow") {
            if let Some(b) = &self.block {
                let owner = match b.owner {
                    Some(Owner::Thread(o)) => Some(o),
                    Some(Owner::PastCap) => None,
                    None => {
                        self.leans = true;
                        self.current
                    }
                };
                if let Some(o) = owner {
                    self.b.threads[o].partial = true;
                }
            }
            return;
        }
        if trimmed.starts_with('$') {
            self.value_print(no, trimmed);
            return;
        }
        if let Some((selected, r, frame_text)) = target::parse_info_row(trimmed) {
            // A row with no table header above it: a table someone filtered (`| grep`).
            self.finish_block();
            self.ends.stacks = true;
            self.headless
                .push(r.gdb_num.as_deref().and_then(|n| n.parse().ok()));
            self.info_row(no, selected, r, frame_text);
            return;
        }
        if let Some(pid) = attach_pid(trimmed) {
            self.b.pid.get_or_insert(pid);
        }
        self.ends.banner(trimmed);
        // Anything else is noise: banners, source echoes, program output, prose.
    }

    /// A frame line Markdown emptied (`#N` alone, `N` the next frame of the open block): what
    /// it hid is gdb's `<signal handler called>`, the one frame printed as a bare `<...>`.
    fn swallowed_marker(&self, line: &str) -> Option<u32> {
        let idx = blank_frame_number(line)?;
        let last = self.block.as_ref()?.frames.last()?.index?;
        (idx == last + 1).then_some(idx)
    }

    fn command(&mut self, cmd: &str) {
        self.finish_block();
        self.leans = true;
        self.pending_header = None;
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            ["thread", "apply", "all", ..] => self.saw_all = true,
            ["thread", n] if n.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
                let r = ThreadRef {
                    gdb_num: Some((*n).to_string()),
                    ..ThreadRef::default()
                };
                self.current = self.identify(&r);
                self.last_hint = None;
            }
            ["info", "threads", ..] => {
                self.in_info_table = false;
            }
            _ => {}
        }
    }

    fn hint(&mut self, r: &ThreadRef) {
        self.leans = true;
        // A stop banner and a switch line with no stack between them name the same thread.
        if let Some((prev, epoch)) = self.last_hint {
            let fills_gap = (self.b.threads[prev].tid.is_none() && r.tid.is_some())
                || (self.b.threads[prev].debugger_id.is_none() && r.gdb_num.is_some());
            if epoch == self.epoch && fills_gap && compatible(&self.b.threads[prev], r) {
                self.merge(prev, r);
                self.current = Some(prev);
                return;
            }
        }
        let idx = self.identify(r);
        self.current = idx;
        self.last_hint = idx.map(|idx| (idx, self.epoch));
    }

    fn info_row(&mut self, no: usize, selected: bool, r: ThreadRef, frame_text: &str) {
        let Some(idx) = self.identify(&r) else {
            return;
        };
        if selected {
            self.current = Some(idx);
        }
        match parse_frame_text(Some(0), frame_text) {
            Some(mut f) => {
                f.inlined = false;
                self.info_top.insert(idx, f.clone());
                let t = &mut self.b.threads[idx];
                if t.frames.is_empty() {
                    self.hook_frames += hooks(std::slice::from_ref(&f));
                    t.frames.push(f);
                    t.partial = true;
                }
            }
            None => self.diag(no, "an `info threads` row has no readable frame"),
        }
    }

    fn frame(&mut self, no: usize, idx: u32, rest: &str) {
        self.settle_locals();
        let parsed = self
            .frames
            .get(idx as usize, rest, |r| parse_frame_text(Some(idx), r));
        let Some(frame) = parsed else {
            self.diag(no, &format!("frame #{idx} could not be read"));
            return;
        };
        let starts_new = match &self.block {
            None => true,
            Some(b) => b
                .frames
                .last()
                .and_then(|f| f.index)
                .is_some_and(|last| idx <= last),
        };
        if starts_new {
            self.finish_block();
            self.epoch += 1;
            self.ends.stacks = true;
            self.ends.first_block.get_or_insert(no);
            self.block = Some(Block {
                owner: self.pending_header.take(),
                line: no,
                last: no,
                // Stacks in one dump tend to be alike: start at the last one's size.
                frames: Vec::with_capacity(self.last_block_len),
                shed: 0,
            });
        }
        if let Some(b) = &mut self.block {
            b.shed += push_bounded(&mut b.frames, frame);
            b.last = no;
        }
    }

    /// Line `no` goes with the block being read (a local, a value running on).
    fn block_line(&mut self, no: usize) {
        if let Some(b) = &mut self.block {
            b.last = no;
        }
    }

    fn local(&mut self, no: usize, text: &str) {
        self.block_line(no);
        if text == "No locals." || text.starts_with("No symbol table info") {
            return;
        }
        match self.locals.get(0, text, split_local) {
            Some((0, name, value)) => self.push_local(name, value),
            Some((depth, name, value)) => self.open_local = Some((depth, name, value.to_string())),
            None => {}
        }
    }

    fn push_local(&mut self, name: Text, value: Text) {
        if self.block.as_ref().is_some_and(|b| !b.frames.is_empty()) {
            self.locals_read.push(Var::new(name, value));
        }
    }

    /// Gives the block's last frame the locals read after it.
    fn settle_locals(&mut self) {
        if self.locals_read.is_empty() {
            return;
        }
        let read = self.locals_read.drain(..);
        if let Some(f) = self.block.as_mut().and_then(|b| b.frames.last_mut()) {
            f.locals.extend(read);
        }
    }

    /// A value printed after a frame (`p *mutex` after `frame 3`) is kept with that frame, for
    /// the rules to read (a lock's owner field); one printed before any frame says nothing.
    fn value_print(&mut self, no: usize, text: &str) {
        if let Some(frame) = self.block.as_mut().and_then(|b| b.frames.last_mut()) {
            frame.printed.push(Printed {
                line: no,
                text: text.to_string(),
            });
        }
    }

    fn diag(&mut self, line: usize, message: &str) {
        self.b.diag(line, message);
    }
}

/// A `bt full` local line read: its name and value, shared, with the braces its value leaves
/// open (0 when whole).
fn split_local(text: &str) -> Local {
    // The first ` = ` (found from its `=`: a searcher built for each of a dump's locals
    // would cost more than the search).
    let bytes = text.as_bytes();
    let at_sign = |&at: &usize| at > 0 && bytes[at - 1] == b' ' && bytes.get(at + 1) == Some(&b' ');
    let eq = memchr::memchr_iter(b'=', bytes).find(at_sign)? - 1;
    let (name, value) = (&text[..eq], &text[eq + 3..]);
    let depth = text::balance(value, b'{', b'}').max(0);
    Some((depth, share(name.trim()), share(value.trim())))
}

/// `Attaching to process 4242` / `[Inferior 1 (process 4242) detached]`.
fn attach_pid(line: &str) -> Option<u32> {
    if !(line.starts_with("Attaching to") || line.starts_with("[Inferior")) {
        return None;
    }
    let at = line.find("process ")? + "process ".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests;
