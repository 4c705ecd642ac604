//! lldb `bt all` / `thread backtrace all` (and a lone `bt`): thread headers
//! `[* ]thread #N[: tid = T, SUMMARY][, name = 'NAME'][, queue = 'Q'][, stop reason = WHY]`,
//! the frames below each (`frame.rs`), `(lldb)` prompts, and the hard wraps a terminal paste
//! puts in long lines, joined back.

mod frame;

use super::normalize::{is_clean, normalize};
use super::processes::{at_headers, number_after};
use super::skeleton::text::{trim, trim_start};
use super::skeleton::{head_lines, missing_numbers, pieces, Builder, Part};
use super::{DumpFormat, Release};
use crate::dump::skeleton::lines;
use crate::model::{Gap, Snapshot, Thread};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// The lldb format.
pub struct Lldb;

impl DumpFormat for Lldb {
    fn name(&self) -> &'static str {
        "lldb"
    }

    fn sniff(&self, text: &str) -> bool {
        head_lines(text).any(|l| {
            parse_header(l).is_some()
                || l.strip_prefix("* ")
                    .map_or(l, trim_start)
                    .strip_prefix("frame #")
                    .is_some_and(|r| {
                        let d = r.bytes().take_while(u8::is_ascii_digit).count();
                        d > 0 && r[d..].starts_with(": 0x")
                    })
        })
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        self.parse_releasing(raw, origin, &|_| {})
    }

    fn parse_releasing(&self, raw: &[u8], origin: &str, release: Release) -> Snapshot {
        in_pieces(raw, origin, release).unwrap_or_else(|| whole(raw, origin))
    }

    /// `Process N stopped` (an attach, a stop) naming another process starts its dump; the
    /// session's prompt and `Process N detached` end the one before.
    fn processes(&self, raw: &[u8]) -> Vec<usize> {
        let pid = |l: &[u8]| number_after(l, b"Process ", b" stopped").map(Some);
        at_headers(raw, b"Process ", &pid, &[b"(lldb)", b"Process "])
    }
}

/// The snapshot of a dump read in one go, on one core.
fn whole(raw: &[u8], origin: &str) -> Snapshot {
    // lldb's lines are found by their words (`frame #`, `thread #`), not by a `#N` at the
    // start that a shared prefix could be measured against: no prefix is stripped.
    let text = normalize(raw, &|_| false);
    let mut p = Parser::default();
    joined_lines(&text, wrap_width(&text), |no, line| p.line(no, line));
    p.finish(origin)
}

/// What a parser read from one piece of a big dump.
struct Read {
    part: Part,
    saw_first: bool,
    saw_all: bool,
    ended: bool,
    numbers: BTreeSet<u32>,
    stop_threads: usize,
}

/// A big dump read on every core ([`pieces`]): cut before thread headers, each piece read on
/// its own (with the hard-wrap width of the whole paste, from every piece's widths) and the
/// threads put one after the other. `None` (read it whole) when it is small or cannot be cut.
fn in_pieces(raw: &[u8], origin: &str, release: Release) -> Option<Snapshot> {
    let starts = |_: &str, l: &str| parse_header(trim(l.trim_start_matches('>'))).is_some();
    let cut = pieces::cut(raw, &starts, &|t| is_clean(t, &|_| false))?;
    let mut all = HashMap::new();
    for piece in cut.par_iter().map(|p| widths(p.text)).collect::<Vec<_>>() {
        for (width, n) in piece {
            *all.entry(width).or_default() += n;
        }
    }
    let width = widest(all);
    let reads = pieces::read_each(&cut, release, |piece| {
        let mut p = Parser::default();
        let before = piece.first_line - 1;
        joined_lines(piece.text, width, |no, line| p.line(before + no, line));
        Read {
            saw_first: p.saw_first,
            saw_all: p.saw_all,
            ended: p.ended,
            numbers: p.numbers,
            stop_threads: p.stop_threads,
            part: p.b.into_part(),
        }
    });
    let mut whole = Parser::default();
    for r in reads {
        whole.saw_first |= r.saw_first;
        whole.saw_all |= r.saw_all;
        whole.numbers.extend(r.numbers);
        whole.stop_threads += r.stop_threads;
        whole.ended = r.ended || (whole.ended && r.part.threads.is_empty());
        whole.b.append(r.part);
    }
    Some(whole.finish(origin))
}

/// What a thread header says.
#[derive(Debug, PartialEq)]
struct Header {
    index: String,
    tid: Option<u64>,
    name: Option<String>,
    selected: bool,
}

/// `[* ]thread #N...` → the header; `None` for any other line.
fn parse_header(line: &str) -> Option<Header> {
    let t = trim_start(line.trim_start_matches('>'));
    let (selected, t) = match t.strip_prefix('*') {
        Some(r) => (true, trim_start(r)),
        None => (false, t),
    };
    let t = t.strip_prefix("thread #")?;
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &t[digits..];
    if digits == 0 || !(rest.is_empty() || rest.starts_with([',', ':'])) {
        return None;
    }
    Some(Header {
        index: t[..digits].to_string(),
        tid: field(rest, "tid = ").and_then(parse_number),
        name: field(rest, "name = '").map(|v| quoted_name(v).to_string()),
        selected,
    })
}

/// The text after `key` in a header, up to the end of the line.
fn field<'a>(rest: &'a str, key: &str) -> Option<&'a str> {
    let at = rest.find(key)?;
    let before = rest[..at].trim_end();
    (before.ends_with(',') || before.ends_with(':')).then(|| &rest[at + key.len()..])
}

/// A thread name up to its closing quote: the first `'` that ends the field.
fn quoted_name(v: &str) -> &str {
    v.match_indices('\'')
        .map(|(p, _)| p)
        .find(|&p| {
            let after = trim(&v[p + 1..]);
            after.is_empty() || after.starts_with(',')
        })
        .map_or(v, |p| &v[..p])
}

/// `0x1ba0d5` or `4242`, up to the next `,`.
fn parse_number(v: &str) -> Option<u64> {
    let v = trim(v.split(',').next()?);
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Whether a line starts the way lldb's own lines do (or is empty); any other line that
/// follows a line as wide as the terminal is that line's wrapped tail.
fn starts_like_lldb(line: &str) -> bool {
    let t = trim_start(line.trim_start_matches('>'));
    let unmarked = t.strip_prefix('*').map_or(t, trim_start);
    t.is_empty()
        || unmarked.starts_with("frame #")
        || unmarked.starts_with("thread #")
        || t.starts_with("(lldb)")
}

/// The terminal width a paste was hard-wrapped at: the most common width of lines followed
/// by a line that does not start like lldb's (wider ones win ties); `None` when nothing wraps.
fn wrap_width(text: &str) -> Option<usize> {
    widest(widths(text))
}

/// How many lines of each width are followed by a line that does not start like lldb's.
fn widths(text: &str) -> HashMap<usize, usize> {
    let mut widths: HashMap<usize, usize> = HashMap::new();
    let mut prev: Option<&str> = None;
    for (_, line) in lines(text) {
        // A line of fewer than 40 bytes has fewer than 40 characters: counted only when wider.
        if let Some(p) = prev.filter(|p| p.len() >= 40) {
            let width = p.chars().count();
            if width >= 40 && !starts_like_lldb(line) {
                *widths.entry(width).or_default() += 1;
            }
        }
        prev = Some(line);
    }
    widths
}

/// The most common width of [`widths`] (wider ones win ties).
fn widest(widths: HashMap<usize, usize>) -> Option<usize> {
    widths
        .into_iter()
        .max_by_key(|&(width, n)| (n, width))
        .map(|(width, _)| width)
}

/// Hands each logical line to `f` with its 1-based first input line: a line cut by a hard
/// wrap at `width` is joined to the rest of it without a space (the wrap fell mid-token).
fn joined_lines<'a>(text: &'a str, width: Option<usize>, mut f: impl FnMut(usize, &str)) {
    let mut pending: Option<(usize, Cow<'a, str>)> = None;
    let mut prev_width = 0;
    for (no, line) in lines(text) {
        let wrapped = width == Some(prev_width) && !starts_like_lldb(line);
        match &mut pending {
            Some((_, prev)) if wrapped => prev.to_mut().push_str(line),
            _ => {
                if let Some((no, l)) = pending.take() {
                    f(no, &l);
                }
                pending = Some((no, Cow::Borrowed(line)));
            }
        }
        if let Some(w) = width {
            // Only a line at least `w` bytes long can be `w` characters wide.
            prev_width = if line.len() >= w {
                line.chars().count()
            } else {
                0
            };
        }
    }
    if let Some((no, l)) = pending {
        f(no, &l);
    }
}

#[derive(Default)]
struct Parser {
    b: Builder,
    /// Thread #1 is there: lldb numbers threads from 1.
    saw_first: bool,
    /// The transcript shows the command that prints every thread.
    saw_all: bool,
    /// A prompt or a `Process N …` line came after the last thread: its output ended there
    /// (lldb prints thread #1 first and no count, so nothing else tells a cut copy).
    ended: bool,
    /// The threads' `#N` numbers: lldb numbers threads from 1 and never reuses a number.
    numbers: BTreeSet<u32>,
    /// Inside the stop report a `Process N stopped` line opens (up to the next prompt), and
    /// how many threads it showed: each with its innermost frame only.
    in_stop: bool,
    stop_threads: usize,
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        let t = trim(line.trim_start_matches('>'));
        if !t.is_empty() {
            self.b.seen(no);
        }
        if let Some(f) = frame::parse_frame_line(t) {
            self.b.frame(f);
            self.b.stack_line(no);
        } else if let Some(h) = parse_header(t) {
            self.saw_first |= h.index == "1";
            self.ended = false;
            self.numbers.extend(h.index.parse::<u32>().ok());
            self.stop_threads += usize::from(self.in_stop);
            self.b.thread(Thread {
                tid: h.tid,
                debugger_id: Some(h.index),
                name: h.name,
                current: h.selected,
                ..Thread::default()
            });
        } else if let Some(cmd) = t.strip_prefix("(lldb)") {
            self.in_stop = false;
            let cmd = trim(cmd);
            self.saw_all |= cmd == "bt all" || cmd.starts_with("thread backtrace all");
            self.ended = !self.b.threads.is_empty();
        } else if t.starts_with("frame #") {
            self.b.diag(no, "a frame line could not be read");
        }
        if t.starts_with("Process ") && !self.b.threads.is_empty() {
            self.ended = true;
        }
        if t.starts_with("Process ") && t.ends_with(" stopped") {
            self.in_stop = true;
        }
        // Anything else is noise: `Process N stopped`, program output, prose.
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        let complete = self.saw_all || self.saw_first;
        self.counted();
        if !self.ended {
            self.b.gap(Gap::Unmarked {
                format: "lldb".into(),
            });
        }
        self.b.finish("lldb", origin, complete)
    }
}

impl Parser {
    /// What the thread numbers and a stop report say of the threads not shown. Numbers an
    /// output of `bt all` skips are threads that exited before it (lldb does not reuse them);
    /// in a paste that does not show the command, they may have been cut out as well. A
    /// `Process N stopped` report alone shows the stopped threads' innermost frames only.
    fn counted(&mut self) {
        if self.saw_all {
            return;
        }
        let missing = missing_numbers(&self.numbers);
        if !missing.is_empty() {
            self.b.note(
                "lldb numbers threads from 1, and some numbers below the highest shown are \
                 not in the paste: threads may have been left out",
            );
            self.b.gap(Gap::Missing { threads: missing });
        }
        let shown = self.b.threads.len();
        if shown > 0 && self.stop_threads == shown {
            let threads = self.b.threads.iter().take(8).map(|t| t.label()).collect();
            self.b.note(
                "only the report lldb prints when the process stops (`Process N stopped`): \
                 the stopped threads' innermost frames, not every thread's stack (`bt all`)",
            );
            self.b.gap(Gap::NoStack {
                count: shown,
                threads,
            });
        }
    }
}

#[cfg(test)]
mod tests;
