//! Logical lines of a native stack dump: text glued onto one line by a lost newline split
//! apart, and frame lines wrapped by a terminal or a mail client joined back together (gdb's
//! and pstack's `#N` frames).

use super::frame::frame_number;
use super::{lines, text};
use std::borrow::Cow;

/// Splits text glued onto one line by a lost newline (`...()(gdb) thread apply all bt`,
/// `... from libc.so.6#11 0x...`) and joins wrapped frame lines back together; hands each
/// logical line to `f` with its 1-based input line. Lines are borrowed from `input` unless
/// they had to be joined.
pub fn logical_lines<'a>(input: &'a str, mut f: impl FnMut(usize, &str)) {
    // The last logical line, held back until the next piece shows it is not continued.
    let mut pending: Option<(usize, Cow<'a, str>)> = None;
    let mut prompts = Prompts::new(input);
    for (no, raw) in lines(input) {
        let at = raw.as_ptr() as usize - input.as_ptr() as usize;
        let mut cuts = Vec::new();
        prompts.on_line(at, raw.len(), &mut cuts);
        glue_points(raw, &mut cuts);
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
                    pending = Some((no, Cow::Borrowed(piece)));
                }
            }
        }
    }
    if let Some((no, line)) = pending {
        f(no, &line);
    }
}

/// Where the prompts glued onto earlier text are: each `(gdb) ` or `(rr) ` after the start of
/// its line, found in one pass over the whole input for both (most dumps have none, or a few;
/// a searcher for each would each stop at every `(` of a dump's frames).
struct Prompts<'a> {
    found: aho_corasick::FindIter<'static, 'a>,
    /// The next one at or after the line being read: where it starts and ends.
    next: Option<(usize, usize)>,
}

/// The prompts a transcript may carry.
static PROMPTS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
    aho_corasick::AhoCorasick::new(["(gdb) ", "(rr) "]).expect("two literal patterns")
});

impl<'a> Prompts<'a> {
    fn new(input: &'a str) -> Self {
        let mut found = PROMPTS.find_iter(input);
        let next = found.next().map(|m| (m.start(), m.end()));
        Self { found, next }
    }

    /// The cuts before the prompts on the line at `at` (`len` bytes), as line offsets.
    fn on_line(&mut self, at: usize, len: usize, cuts: &mut Vec<usize>) {
        while let Some((start, end)) = self.next.filter(|&(start, _)| start < at + len) {
            if start > at && end <= at + len {
                cuts.push(start - at);
            }
            self.next = self.found.next().map(|m| (m.start(), m.end()));
        }
    }
}

/// Adds to `cuts` (the prompts' cuts) where a line must be cut into pieces, and sorts them
/// (each > 0 and distinct): before a frame glued onto the end of the previous one: `#N 0x.. in`
/// anywhere, or (outside quotes) the number that follows the line's own frame number, which
/// also finds glued frames without an address.
fn glue_points(line: &str, cuts: &mut Vec<usize>) {
    let bytes = line.as_bytes();
    // A lost newline before a frame: `...so.6#11 0x0000 in f ()`, `...h:631#11 g (x=1)`.
    // Most lines have no `#` but their own first one.
    if bytes
        .get(1..)
        .is_none_or(|rest| memchr::memchr(b'#', rest).is_none())
    {
        cuts.sort_unstable();
        cuts.dedup();
        return;
    }
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

/// Whether the line after `prev` starts a logical line of its own, whatever it holds at no
/// indentation (a thread header): `prev` is empty, or a whole frame line (its arguments
/// closed). Where a big dump may be cut ([`super::pieces`]).
pub fn ends_here(prev: &str) -> bool {
    prev.is_empty()
        || frame_number(text::trim_start(prev)).is_some() && text::balance(prev, b'(', b')') <= 0
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
    indent == 0 && text::balance(prev, b'(', b')') > 0
}
