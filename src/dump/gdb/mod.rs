//! gdb (and rr's gdb) transcripts: `thread apply all bt [full]`, a lone `bt`, `info threads`
//! tables, thread headers, switch lines and stop banners, prompts and commands, `p *mutex`.
//!
//! A transcript is read as a sequence of *blocks* of frames. A block belongs to the thread named
//! by the header before it, or, for a bare `bt`, to the thread the transcript last selected; a
//! bare `bt` is pinned on that thread only when its frame #0 agrees with what `info threads`
//! showed for it. Whatever cannot be read becomes a diagnostic, never a panic.

mod frame;
pub(crate) mod target;
pub(crate) mod text;

use crate::dump::normalize::normalize;
use crate::dump::DumpFormat;
use crate::model::{Diagnostic, Frame, Printed, Snapshot, Thread, Var};
use std::borrow::Cow;
use std::collections::HashMap;
use target::ThreadRef;

pub use frame::{final_group, parse_frame_text, split_file_line, split_location, split_vars};

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
                || (l.starts_with("Id") && l.contains("Target Id"))
        })
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        let text = normalize(raw, &is_gdb_stack_line);
        let mut p = Parser::default();
        logical_lines(&text, |no, line| p.line(no, line));
        p.finish(origin)
    }
}

fn is_gdb_stack_line(l: &str) -> bool {
    frame_number(l).is_some() || target::parse_header(l).is_some()
}

/// `#12  ...` → (12, rest of the line).
pub(crate) fn frame_number(line: &str) -> Option<(u32, &str)> {
    let t = line.strip_prefix('#')?;
    let n = t.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || !matches!(t.as_bytes().get(n), Some(b' ' | b'\t')) {
        return None;
    }
    Some((t[..n].parse().ok()?, text::trim_start(&t[n..])))
}

/// Splits text glued onto one line by a lost newline (`...()(gdb) thread apply all bt`,
/// `... from libc.so.6#11 0x...`) and joins wrapped frame lines back together; hands each
/// logical line to `f` with its 1-based input line. Lines are borrowed from `input` unless
/// they had to be joined.
pub(crate) fn logical_lines<'a>(input: &'a str, mut f: impl FnMut(usize, &str)) {
    // The last logical line, held back until the next piece shows it is not continued.
    let mut pending: Option<(usize, Cow<'a, str>)> = None;
    // Most dumps hold no prompt at all: then no line needs looking for one.
    let prompts = input.contains("(gdb) ") || input.contains("(rr) ");
    for (i, raw) in input.lines().enumerate() {
        let cuts = glue_points(raw, prompts);
        let mut start = 0;
        for end in cuts.iter().copied().chain([raw.len()]) {
            let piece = &raw[start..end];
            start = end;
            match &mut pending {
                Some((_, prev)) if is_continuation(prev, piece) => {
                    let prev = prev.to_mut();
                    prev.truncate(text::trim_end(prev).len());
                    prev.push(' ');
                    prev.push_str(text::trim(piece));
                }
                _ => {
                    if let Some((no, line)) = pending.take() {
                        f(no, &line);
                    }
                    pending = Some((i + 1, Cow::Borrowed(piece)));
                }
            }
        }
    }
    if let Some((no, line)) = pending {
        f(no, &line);
    }
}

/// Where a line must be cut into pieces (sorted, each > 0 and distinct): before a prompt
/// glued onto earlier text (only looked for when `prompts`), and before a frame glued onto
/// the end of the previous one: `#N 0x.. in` anywhere, or (outside quotes) the number that
/// follows the line's own frame number, which also finds glued frames without an address.
fn glue_points(line: &str, prompts: bool) -> Vec<usize> {
    let mut cuts = Vec::new();
    // `(gdb) ` and `(rr) `, found from their `) `.
    if prompts {
        for (close, _) in line.match_indices(") ") {
            for prompt in ["(gdb", "(rr"] {
                if line[..close].ends_with(prompt) && close > prompt.len() {
                    cuts.push(close - prompt.len());
                }
            }
        }
    }
    // A lost newline before a frame: `...so.6#11 0x0000 in f ()`, `...h:631#11 g (x=1)`.
    let bytes = line.as_bytes();
    let mut next = frame_number(text::trim_start(line)).and_then(|(n, _)| n.checked_add(1));
    for (pos, _) in line.match_indices('#') {
        if pos == 0 || bytes[pos - 1] == b' ' && line[..pos].trim().is_empty() {
            continue;
        }
        let rest = &line[pos + 1..];
        let d = rest.bytes().take_while(u8::is_ascii_digit).count();
        if d == 0 || !rest[d..].starts_with([' ', '\t']) {
            continue;
        }
        let number: Option<u32> = rest[..d].parse().ok();
        let after = rest[d..].trim_start();
        let addressed = after.starts_with("0x") && after.split_whitespace().nth(1) == Some("in");
        if addressed || (number.is_some() && number == next && !in_quotes(&bytes[..pos])) {
            cuts.push(pos);
            next = number.and_then(|n| n.checked_add(1));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Whether the end of `before` is inside a double-quoted string (backslash escapes skipped).
fn in_quotes(before: &[u8]) -> bool {
    let mut quoted = false;
    let mut i = 0;
    while i < before.len() {
        match before[i] {
            b'\\' => i += 1,
            b'"' => quoted = !quoted,
            _ => {}
        }
        i += 1;
    }
    quoted
}

/// Is `line` the wrapped tail of the frame line `prev`?
fn is_continuation(prev: &str, line: &str) -> bool {
    if frame_number(prev).is_none() || text::trim(line).is_empty() {
        return false;
    }
    let trimmed = text::trim_start(line);
    if frame_number(trimmed).is_some()
        || trimmed.starts_with("(gdb)")
        || trimmed.starts_with("(rr)")
    {
        return false;
    }
    let indent = line.len() - trimmed.len();
    if (1..8).contains(&indent) {
        return true;
    }
    // An argument list still open: the rest follows whatever the indentation.
    indent == 0 && paren_balance(prev) > 0
}

fn paren_balance(s: &str) -> i32 {
    let mut depth = 0;
    let mut quote = false;
    let mut prev = 0u8;
    for b in s.bytes() {
        match b {
            b'"' if prev != b'\\' => quote = !quote,
            b'(' if !quote => depth += 1,
            b')' if !quote => depth -= 1,
            _ => {}
        }
        prev = b;
    }
    depth
}

#[derive(Default)]
struct Block {
    /// The thread named by the header before the block; `None` for a bare `bt`.
    owner: Option<usize>,
    line: usize,
    frames: Vec<Frame>,
}

#[derive(Default)]
struct Parser {
    threads: Vec<Thread>,
    by_tid: HashMap<u64, usize>,
    by_pthread: HashMap<u64, usize>,
    by_num: HashMap<String, usize>,
    /// Frame #0 of a thread as `info threads` showed it, to check bare `bt`s against.
    info_top: HashMap<usize, Frame>,
    current: Option<usize>,
    /// The last identity hint (banner or switch line) and the epoch it came in.
    last_hint: Option<(usize, usize)>,
    pending_header: Option<usize>,
    block: Option<Block>,
    /// An open `bt full` local whose value spans lines: (unclosed braces, text).
    open_local: Option<(i32, Var)>,
    in_info_table: bool,
    /// How many frames the last block had (a capacity hint for the next).
    last_block_len: usize,
    /// How many of the threads' frames are rr's `syscall_hook`, kept up to date as frames are
    /// attached (cheaper than walking every frame again at the end).
    hook_frames: usize,
    /// An `info threads` table lists every live thread.
    saw_info_table: bool,
    /// `thread apply all` (or its headers) was seen: complete if thread 1 is there too.
    saw_all: bool,
    /// Counts blocks and headers, so that identity hints with nothing between them merge.
    epoch: usize,
    rr: bool,
    pid: Option<u32>,
    diagnostics: Vec<Diagnostic>,
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        if let Some((depth, mut var)) = self.open_local.take() {
            var.value.push(' ');
            var.value.push_str(line.trim());
            let depth = depth + brace_balance(line);
            if depth > 0 {
                self.open_local = Some((depth, var));
            } else {
                self.push_local(var);
            }
            return;
        }
        let trimmed = text::trim(line);
        if trimmed.is_empty() {
            self.in_info_table = false;
            return;
        }
        if let Some((idx, rest)) = frame_number(trimmed) {
            self.in_info_table = false;
            self.frame(no, idx, rest);
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
            self.local(trimmed);
            return;
        }
        if let Some(cmd) = trimmed
            .strip_prefix("(gdb)")
            .or_else(|| trimmed.strip_prefix("(rr)"))
        {
            if trimmed.starts_with("(rr)") {
                self.rr = true;
            }
            self.command(cmd.trim());
            return;
        }
        if let Some(r) = target::parse_header(trimmed) {
            self.finish_block();
            self.saw_all = true;
            self.epoch += 1;
            let idx = self.identify(&r);
            self.pending_header = Some(idx);
            return;
        }
        if trimmed.starts_with("Id") && trimmed.contains("Target Id") {
            self.finish_block();
            self.in_info_table = true;
            self.saw_info_table = true;
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
                if let Some(o) = b.owner.or(self.current) {
                    self.threads[o].partial = true;
                }
            }
            return;
        }
        if trimmed.starts_with('$') {
            self.value_print(no, trimmed);
            return;
        }
        if let Some(pid) = attach_pid(trimmed) {
            self.pid.get_or_insert(pid);
        }
        // Anything else is noise: banners, source echoes, program output, prose.
    }

    fn command(&mut self, cmd: &str) {
        self.finish_block();
        self.pending_header = None;
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            ["thread", "apply", "all", ..] => self.saw_all = true,
            ["thread", n] if n.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
                let r = ThreadRef {
                    gdb_num: Some((*n).to_string()),
                    ..ThreadRef::default()
                };
                self.current = Some(self.identify(&r));
                self.last_hint = None;
            }
            ["info", "threads", ..] => {
                self.in_info_table = false;
            }
            _ => {}
        }
    }

    fn hint(&mut self, r: &ThreadRef) {
        // A stop banner and a switch line with no stack between them name the same thread.
        if let Some((prev, epoch)) = self.last_hint {
            let fills_gap = (self.threads[prev].tid.is_none() && r.tid.is_some())
                || (self.threads[prev].debugger_id.is_none() && r.gdb_num.is_some());
            if epoch == self.epoch && fills_gap && compatible(&self.threads[prev], r) {
                self.merge(prev, r);
                self.current = Some(prev);
                return;
            }
        }
        let idx = self.identify(r);
        self.current = Some(idx);
        self.last_hint = Some((idx, self.epoch));
    }

    fn info_row(&mut self, no: usize, selected: bool, r: ThreadRef, frame_text: &str) {
        let idx = self.identify(&r);
        if selected {
            self.current = Some(idx);
        }
        match parse_frame_text(Some(0), frame_text) {
            Some(mut f) => {
                f.inlined = false;
                self.info_top.insert(idx, f.clone());
                let t = &mut self.threads[idx];
                if t.frames.is_empty() {
                    self.hook_frames += hooks(std::slice::from_ref(&f));
                    t.frames.push(f);
                    t.partial = true;
                }
            }
            None => self.diag(no, "an `info threads` row has no readable frame"),
        }
    }

    /// Finds the thread a reference names, or adds it; fills in what the reference adds.
    fn identify(&mut self, r: &ThreadRef) -> usize {
        let found = r
            .tid
            .and_then(|t| self.by_tid.get(&t))
            .or_else(|| r.pthread.and_then(|p| self.by_pthread.get(&p)))
            .or_else(|| r.gdb_num.as_ref().and_then(|n| self.by_num.get(n)))
            .copied()
            .filter(|&i| compatible(&self.threads[i], r));
        if let Some(pid) = r.pid {
            self.pid.get_or_insert(pid);
        }
        let idx = found.unwrap_or_else(|| {
            self.threads.push(Thread::default());
            self.threads.len() - 1
        });
        self.merge(idx, r);
        idx
    }

    /// Adds what `r` says to thread `idx`, keeping the lookup maps in step.
    fn merge(&mut self, idx: usize, r: &ThreadRef) {
        let t = &mut self.threads[idx];
        merge_into(t, r);
        if let Some(tid) = t.tid {
            self.by_tid.entry(tid).or_insert(idx);
        }
        if let Some(p) = t.pthread {
            self.by_pthread.entry(p).or_insert(idx);
        }
        if let Some(n) = &t.debugger_id {
            if !self.by_num.contains_key(n) {
                self.by_num.insert(n.clone(), idx);
            }
        }
    }

    fn frame(&mut self, no: usize, idx: u32, rest: &str) {
        let Some(frame) = parse_frame_text(Some(idx), rest) else {
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
            self.block = Some(Block {
                owner: self.pending_header.take(),
                line: no,
                // Stacks in one dump tend to be alike: start at the last one's size.
                frames: Vec::with_capacity(self.last_block_len),
            });
        }
        if let Some(b) = &mut self.block {
            b.frames.push(frame);
        }
    }

    fn local(&mut self, text: &str) {
        if text == "No locals." || text.starts_with("No symbol table info") {
            return;
        }
        let Some((name, value)) = text.split_once(" = ") else {
            return;
        };
        let var = Var {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
        };
        let depth = brace_balance(value);
        if depth > 0 {
            self.open_local = Some((depth, var));
        } else {
            self.push_local(var);
        }
    }

    fn push_local(&mut self, var: Var) {
        if let Some(f) = self.block.as_mut().and_then(|b| b.frames.last_mut()) {
            f.locals.push(var);
        }
    }

    /// `$1 = {__data = {__lock = 2, __count = 0, __owner = 4242, ...` printed for the mutex
    /// argument of the frame shown just before (or `__cur_writer = 4242` for an rwlock): the
    /// lock's owner, read from memory by gdb.
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

    fn finish_block(&mut self) {
        if let Some((_, var)) = self.open_local.take() {
            self.push_local(var);
        }
        let Some(block) = self.block.take() else {
            return;
        };
        self.last_block_len = block.frames.len();
        if block.frames.is_empty() {
            return;
        }
        if let Some(owner) = block.owner {
            self.attach(owner, block.frames);
            return;
        }
        let Some(cur) = self.current else {
            self.hook_frames += hooks(&block.frames);
            self.threads.push(Thread {
                frames: block.frames,
                ..Thread::default()
            });
            return;
        };
        if let Some(top) = self.info_top.get(&cur) {
            if !same_frame(top, &block.frames[0]) {
                let who = self.threads[cur].label();
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
                self.hook_frames += hooks(&block.frames);
                self.threads.push(Thread {
                    frames: block.frames,
                    ..Thread::default()
                });
                return;
            }
        }
        self.attach(cur, block.frames);
    }

    fn attach(&mut self, idx: usize, mut frames: Vec<Frame>) {
        let t = &mut self.threads[idx];
        if t.partial || frames.len() > t.frames.len() {
            self.hook_frames = self.hook_frames - hooks(&t.frames) + hooks(&frames);
            std::mem::swap(&mut t.frames, &mut frames);
            t.partial = false;
        }
        // Values printed after the block not kept (`frame 2` then `p *mutex`) stay with the
        // same frame of the stack that is.
        for dropped in frames.into_iter().filter(|f| !f.printed.is_empty()) {
            let same = |k: &&mut Frame| k.index == dropped.index && k.function == dropped.function;
            if let Some(kept) = t.frames.iter_mut().find(same) {
                kept.printed.extend(dropped.printed);
            }
        }
    }

    fn diag(&mut self, line: usize, message: &str) {
        self.diagnostics.push(Diagnostic {
            line: Some(line),
            message: message.to_string(),
        });
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        self.finish_block();
        debug_assert_eq!(
            self.hook_frames,
            self.threads.iter().map(|t| hooks(&t.frames)).sum::<usize>()
        );
        let rr = self.rr || self.hook_frames > 0;
        let has_first = self
            .threads
            .iter()
            .any(|t| t.debugger_id.as_deref() == Some("1"));
        let mut complete = self.saw_info_table || (self.saw_all && has_first);
        if !complete && self.saw_all && !has_first && !self.threads.is_empty() {
            self.diagnostics.push(Diagnostic {
                line: None,
                message: "the dump looks cut: gdb numbers threads from 1, but thread 1 is not in \
                          it, so threads may be missing"
                    .to_string(),
            });
        }
        if self.threads.is_empty() {
            complete = false;
            self.diagnostics.push(Diagnostic {
                line: None,
                message: "no thread or frame found in the input".to_string(),
            });
        }
        Snapshot {
            producer: if rr { "rr" } else { "gdb" }.to_string(),
            origin: origin.to_string(),
            pid: self.pid,
            complete,
            threads: self.threads,
            evidence: Vec::new(),
            diagnostics: self.diagnostics,
            claims: Vec::new(),
        }
    }
}

/// How many of `frames` are rr's `syscall_hook`.
fn hooks(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter(|f| f.function.as_deref().is_some_and(mentions_syscall_hook))
        .count()
}

/// Whether a function is rr's `syscall_hook`. Found from its `y`, rare in function names
/// (`str::contains` would set up a substring searcher for each of the dump's frames).
fn mentions_syscall_hook(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.match_indices('y')
        .any(|(p, _)| bytes[p.saturating_sub(1)..].starts_with(b"syscall_hook"))
}

fn compatible(t: &Thread, r: &ThreadRef) -> bool {
    let ok = |a: Option<u64>, b: Option<u64>| a.is_none() || b.is_none() || a == b;
    ok(t.tid, r.tid)
        && ok(t.pthread, r.pthread)
        && (t.debugger_id.is_none() || r.gdb_num.is_none() || t.debugger_id == r.gdb_num)
}

fn merge_into(t: &mut Thread, r: &ThreadRef) {
    if t.tid.is_none() {
        t.tid = r.tid;
    }
    if t.pthread.is_none() {
        t.pthread = r.pthread;
    }
    if t.debugger_id.is_none() {
        t.debugger_id.clone_from(&r.gdb_num);
    }
    if t.process.is_none() && r.tid.is_some() && r.pthread.is_none() {
        t.process = r.pid;
    }
    if let Some(n) = &r.name {
        if t.name.as_ref().is_none_or(|old| n.len() > old.len()) {
            t.name = Some(n.clone());
        }
    }
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

fn brace_balance(s: &str) -> i32 {
    let mut depth = 0;
    let mut quote = false;
    let mut prev = 0u8;
    for b in s.bytes() {
        match b {
            b'"' if prev != b'\\' => quote = !quote,
            b'{' if !quote => depth += 1,
            b'}' if !quote => depth -= 1,
            _ => {}
        }
        prev = b;
    }
    depth
}

/// `Attaching to process 4242` / `[Inferior 1 (process 4242) detached]`.
fn attach_pid(line: &str) -> Option<u32> {
    let at = line.find("process ")? + "process ".len();
    if !(line.starts_with("Attaching to") || line.starts_with("[Inferior")) {
        return None;
    }
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests;
