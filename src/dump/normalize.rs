//! Text clean-up shared by every dump parser: what people do to a dump before they paste it.
//!
//! Undoes quoted-printable mail encoding, CRLF line ends, line numbers or timestamps before
//! every line ([`super::line_prefix`]), Markdown around a paste (fences,
//! headings, list and quote markers: [`super::markdown`]), gdb's pager prompts left in the
//! middle of a line, and a per-line prefix (mail quoting `> `, log timestamps, `svc_1 | `,
//! markdown indentation) that most stack lines share. Pure string work, no format knowledge
//! beyond "what a stack line looks like" (given by the caller).

use memchr::memmem;
use regex::Regex;
use std::borrow::Cow;
use std::sync::OnceLock;

/// Pager prompts of gdb >= 9 and older gdb, with the user's optional answer glued on, and the
/// newline the answer produced (the output continues on the next line).
fn pager_residue() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"--Type <RET> for more, q to quit, c to continue without paging--[cq]?\n?|---Type <return> to continue, or q <return> to quit---\n?",
        )
        .expect("static regex")
    })
}

/// Normalises raw input into clean text lines. `is_stack_line` tells which lines are the
/// format's own (used to find a shared prefix to strip). Clean UTF-8 input that needs none of
/// the repairs is returned as it is, without a copy.
pub fn normalize<'a>(raw: &'a [u8], is_stack_line: &dyn Fn(&str) -> bool) -> Cow<'a, str> {
    let text = repair(raw);
    if !has_prefixed_stack_line(&text, is_stack_line) {
        return text;
    }
    strip_common_prefix(text, &stack_start, is_stack_line)
}

/// Whether [`normalize`] would return `text` as it is: no repair to make, no prefix to strip.
pub fn is_clean(text: &str, is_stack_line: &dyn Fn(&str) -> bool) -> bool {
    !needs_repair(text) && !has_prefixed_stack_line(text, is_stack_line)
}

/// Whether [`normalize_with`] would return `text` as it is.
pub fn is_clean_with(
    text: &str,
    stack_start: &dyn Fn(&str) -> Option<usize>,
    is_stack_line: &dyn Fn(&str) -> bool,
) -> bool {
    !needs_repair(text)
        && !super::skeleton::lines(text).any(|(_, line)| {
            stack_start(line).is_some_and(|pos| pos > 0 && is_stack_line(&line[pos..]))
        })
}

/// Whether [`repair`] would change `text` (or might: quoted-printable and pager prompts are
/// told by a cheap sign).
fn needs_repair(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr(b'\r', b).is_some()
        || memmem::find(b, b"=3D").is_some()
        || memmem::find(b, b"Type <").is_some()
        || super::markdown::is_marked(text)
        || super::line_prefix::has_prefix(text)
}

/// Whether some stack line has a prefix: its [`stack_start`] is past its first byte. Found by
/// byte searches over the whole text, looking only at the lines with a `#<digit>` or `Thread `
/// inside them: most dumps have none, and then the line-by-line count of
/// [`strip_common_prefix`] (which would find no prefix) is skipped.
fn has_prefixed_stack_line(text: &str, is_stack_line: &dyn Fn(&str) -> bool) -> bool {
    let b = text.as_bytes();
    let hashes =
        memchr::memchr_iter(b'#', b).filter(|&at| b.get(at + 1).is_some_and(u8::is_ascii_digit));
    any_prefixed(text, hashes, is_stack_line)
        || any_prefixed(text, memmem::find_iter(b, b"Thread "), is_stack_line)
}

/// Whether a line holding one of the offsets `found` (in order), past its first byte, is a
/// stack line with a prefix. Each line is looked at once, however many of its bytes were
/// found (a frame line may hold several `#N`: `{lambda()#1}`).
fn any_prefixed(
    text: &str,
    mut found: impl Iterator<Item = usize>,
    is_stack_line: &dyn Fn(&str) -> bool,
) -> bool {
    let b = text.as_bytes();
    let mut seen_until = 0;
    found.any(|at| {
        if at == 0 || b[at - 1] == b'\n' || at < seen_until {
            return false;
        }
        let start = memchr::memrchr(b'\n', &b[..at]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &b[at..]).map_or(b.len(), |i| at + i);
        seen_until = end;
        let line = &text[start..end];
        stack_start(line).is_some_and(|pos| pos > 0 && is_stack_line(&line[pos..]))
    })
}

/// [`normalize`] for formats whose stack lines start otherwise than gdb's (`#N`, `Thread `):
/// `stack_start` says where a line's own text would begin, if anywhere.
pub fn normalize_with<'a>(
    raw: &'a [u8],
    stack_start: &dyn Fn(&str) -> Option<usize>,
    is_stack_line: &dyn Fn(&str) -> bool,
) -> Cow<'a, str> {
    strip_common_prefix(repair(raw), stack_start, is_stack_line)
}

/// The repairs alone (UTF-8, line ends, quoted-printable, line prefixes, Markdown, pager
/// prompts), without looking for a
/// shared prefix: for formats that find their own lines after any prefix.
pub fn repair(raw: &[u8]) -> Cow<'_, str> {
    // `from_utf8` is much faster than `from_utf8_lossy` on valid text; the result is the same.
    let text = match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let text: Cow<str> = if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        text
    };
    let text = if looks_quoted_printable(&text) {
        Cow::Owned(decode_quoted_printable(&text))
    } else {
        text
    };
    let text = match super::line_prefix::strip(&text) {
        Some(stripped) => Cow::Owned(stripped),
        None => text,
    };
    let text = if super::markdown::is_marked(&text) {
        Cow::Owned(super::markdown::unmark(&text))
    } else {
        text
    };
    // Both prompts hold `Type <`: most dumps have none, and a substring test is cheaper than
    // the regex's scan.
    if !text.contains("Type <") {
        return text;
    }
    match pager_residue().replace_all(&text, "") {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Quoted-printable shows as `=3D` for `=` and `=` at the end of soft-broken lines.
fn looks_quoted_printable(text: &str) -> bool {
    // The cheap test first: most dumps have no `=3D` at all.
    text.contains("=3D") && text.lines().any(|l| l.ends_with('='))
}

fn decode_quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut pending: Vec<u8> = Vec::new();
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'=' {
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 2;
                // A soft break: the next line repeats the mail quote prefix; drop it.
                while i < bytes.len() && (bytes[i] == b'>') {
                    i += 1;
                    if bytes.get(i) == Some(&b' ') {
                        i += 1;
                    }
                }
                continue;
            }
            if let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2)) {
                if let (Some(h), Some(l)) = (hex_val(*h), hex_val(*l)) {
                    pending.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
        }
        if !pending.is_empty() {
            out.push_str(&String::from_utf8_lossy(&pending));
            pending.clear();
        }
        let ch_len = utf8_len(b);
        let end = (i + ch_len).min(bytes.len());
        out.push_str(&text[i..end]);
        i = end;
    }
    if !pending.is_empty() {
        out.push_str(&String::from_utf8_lossy(&pending));
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The shape of a prefix, into `out`: digit runs become one `9`, so timestamps compare equal.
fn prefix_shape(prefix: &str, out: &mut String) {
    out.clear();
    let mut in_digits = false;
    for c in prefix.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('9');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
}

/// Finds a prefix shape shared by most stack lines and strips it from every line that has it.
fn strip_common_prefix<'a>(
    text: Cow<'a, str>,
    stack_start: &dyn Fn(&str) -> Option<usize>,
    is_stack_line: &dyn Fn(&str) -> bool,
) -> Cow<'a, str> {
    // Shape → (lines with it, order of first appearance), so that ties go to the first seen.
    // Lines with no prefix (the empty shape) are never stripped; they only count as stack
    // lines, which matters only once some prefixed stack line was found.
    let mut counts: std::collections::HashMap<String, (usize, usize)> =
        std::collections::HashMap::new();
    let mut shape = String::new();
    for line in text.lines() {
        let Some(pos) = stack_start(line) else {
            continue;
        };
        if pos == 0 || !is_stack_line(&line[pos..]) {
            continue;
        }
        prefix_shape(&line[..pos], &mut shape);
        match counts.get_mut(shape.as_str()) {
            Some(c) => c.0 += 1,
            None => {
                let seen = counts.len();
                counts.insert(shape.clone(), (1, seen));
            }
        }
    }
    let best = counts
        .into_iter()
        .max_by_key(|(_, (n, first))| (*n, std::cmp::Reverse(*first)));
    let Some((shape, (n, _))) = best else {
        return text;
    };
    let stack_lines = text
        .lines()
        .filter_map(|line| Some(&line[stack_start(line)?..]))
        .filter(|l| is_stack_line(l))
        .count();
    if n * 2 < stack_lines || n < 1 {
        return text;
    }
    let Some(re) = shape_regex(&shape) else {
        return text;
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match re.find(line) {
            Some(m) => out.push_str(&line[m.end()..]),
            // Mail quoting: a bare `>` line is an empty quoted line.
            None if shape.trim_end() == ">" && line.trim_end() == ">" => {}
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Cow::Owned(out)
}

/// Where a stack line's own text starts: the first `#<digit>` or `Thread ` on the line. Both
/// are found with byte searches (memchr), most lines having neither. A `#<digit>` glued to a
/// name is part of it (C++'s `__args#0` pack locals, Rust's `{closure#0}`), never a frame.
fn stack_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let hash = first(line, '#', |at| {
        b.get(at + 1).is_some_and(u8::is_ascii_digit)
            && !(at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_'))
    });
    let before = &line[..hash.unwrap_or(line.len())];
    first(before, 'T', |at| before[at..].starts_with("Thread ")).or(hash)
}

/// The first `c` in `s` that `fits`.
fn first(s: &str, c: char, fits: impl Fn(usize) -> bool) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = s[from..].find(c) {
        if fits(from + p) {
            return Some(from + p);
        }
        from += p + 1;
    }
    None
}

fn shape_regex(shape: &str) -> Option<Regex> {
    let mut pattern = String::from("^");
    for c in shape.chars() {
        if c == '9' {
            pattern.push_str(r"\d+");
        } else {
            pattern.push_str(&regex::escape(&c.to_string()));
        }
    }
    Regex::new(&pattern).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gdb_like(l: &str) -> bool {
        l.starts_with('#') || l.starts_with("Thread ")
    }

    #[test]
    fn strips_mail_quoting_and_qp() {
        let raw = b"> #0  0x1 in f (m=3D0x5) at a.c:1=\n> 0\n> #1  0x2 in g () at b.c:2\nprose\n";
        let out = normalize(raw, &gdb_like);
        assert!(out.contains("#0  0x1 in f (m=0x5) at a.c:10\n"), "{out}");
        assert!(out.contains("\n#1  0x2 in g () at b.c:2\n"), "{out}");
        assert!(out.contains("prose"));
    }

    #[test]
    fn strips_timestamps_of_varying_digits() {
        let raw = b"[12:00:01] #0  f ()\n[12:00:02] #1  g ()\n[12:00:13] Thread 2 (LWP 3):\n";
        let out = normalize(raw, &gdb_like);
        assert_eq!(out, "#0  f ()\n#1  g ()\nThread 2 (LWP 3):\n");
    }

    #[test]
    fn equally_common_prefixes_go_to_the_first_seen() {
        let raw = b"| #0  f ()\n; #1  g ()\n; #2  h ()\n| #3  i ()\n";
        for _ in 0..8 {
            assert_eq!(
                normalize(raw, &gdb_like),
                "#0  f ()\n; #1  g ()\n; #2  h ()\n#3  i ()\n"
            );
        }
    }

    #[test]
    fn leaves_unprefixed_text_alone() {
        let raw = b"#0  f ()\n    at x.c:1\n#1  g ()\n";
        assert_eq!(
            normalize(raw, &gdb_like),
            "#0  f ()\n    at x.c:1\n#1  g ()\n"
        );
        assert!(matches!(normalize(raw, &gdb_like), Cow::Borrowed(_)));
        let header = "Thread 2 (Thread 0x7f (LWP 9)):\n#0  f ()\n    x = 0x1 \"#\"\n";
        let any = |_: &str| true;
        assert!(!has_prefixed_stack_line(header, &any));
        assert!(has_prefixed_stack_line("#0  f ()\n    x = \"#1 \"\n", &any));
        assert!(!has_prefixed_stack_line(
            "#0  f ()\n    x = \"#1 \"\n",
            &|_| false
        ));
        assert!(has_prefixed_stack_line("a\n> #0  f ()\n", &gdb_like));
        // A pack local (`__args#0`) or a closure (`{closure#0}`) is no prefixed frame.
        let pack = b"#0  f<int> (__args#0=@0x1: 1)\n        __args#0 = @0x7f: 0x5\n";
        assert!(matches!(normalize(pack, &any), Cow::Borrowed(_)));
        assert!(has_prefixed_stack_line(
            "x Thread 2 (Thread 0x7f (LWP 9)):",
            &any
        ));
    }

    #[test]
    fn removes_pager_residue_and_rejoins() {
        let raw = b"#0  f (a=1, b=--Type <RET> for more, q to quit, c to continue without paging--c\n2) at x.c:1\n";
        assert_eq!(normalize(raw, &gdb_like), "#0  f (a=1, b=2) at x.c:1\n");
    }

    #[test]
    fn repair_keeps_prefixes() {
        assert_eq!(
            repair(b"svc_1 | #0  f ()\r\nsvc_1 | #1  g ()\r\n"),
            "svc_1 | #0  f ()\nsvc_1 | #1  g ()\n"
        );
        // A dump's lines in a blockquote are Markdown: the quoting goes, wherever it is.
        assert_eq!(
            repair(b"#0  f ()\r\n> #1  g ()\r\n"),
            "#0  f ()\n#1  g ()\n"
        );
    }

    #[test]
    fn crlf() {
        assert_eq!(
            normalize(b"#0  f ()\r\n#1  g ()\r\n", &gdb_like),
            "#0  f ()\n#1  g ()\n"
        );
    }
}
