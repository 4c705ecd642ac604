//! Markdown around a pasted dump, undone: a dump pasted into an issue or a chat comes with code
//! fences between its sections, its header lines turned into `#` headings, list and `> `
//! blockquote markers before its lines. A text holding a fence line is read as Markdown: fence
//! lines become blank, blockquote markers go from every line, and outside fences heading and
//! list markers go from the start of a line. Every line keeps its number (diagnostics and cut
//! points name lines). Inside a fence only the quoting goes, so an indented `- locked` of
//! jstack or a `# ` of a dump stays as the tool printed it.

use memchr::memmem;

/// How much of a text's start is looked at for a fence: Markdown around a paste opens a fence
/// before the dump's first line, and a big dump is not searched through.
const HEAD: usize = 64 * 1024;

/// Whether `text` opens with Markdown: a code fence line (```` ``` ```` or `~~~`, maybe quoted
/// or indented) in its first [`HEAD`] bytes. Found with byte searches; most dumps hold neither.
pub fn has_fence(text: &str) -> bool {
    let b = &text.as_bytes()[..text.len().min(HEAD)];
    let at_line_start = |at: usize| {
        let start = memchr::memrchr(b'\n', &b[..at]).map_or(0, |i| i + 1);
        b[start..at]
            .iter()
            .all(|c| matches!(c, b' ' | b'\t' | b'>'))
    };
    memmem::find_iter(b, b"```").any(at_line_start)
        || memmem::find_iter(b, b"~~~").any(at_line_start)
}

/// The text without its Markdown (see the module's note), line for line.
pub fn unmark(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let body = unquote(body);
        let lead = body.len() - body.trim_start_matches([' ', '\t']).len();
        let rest = &body[lead..];
        if lead <= 3 && (rest.starts_with("```") || rest.starts_with("~~~")) {
            fenced = !fenced;
        } else if fenced {
            out.push_str(body);
        } else {
            out.push_str(unlist(unheading(body)));
        }
        out.push_str(end);
    }
    out
}

/// A line without its blockquote markers (`> `, `>> `, `> > `).
fn unquote(line: &str) -> &str {
    let mut rest = line;
    while let Some(r) = rest.strip_prefix('>') {
        rest = r.strip_prefix(' ').unwrap_or(r);
    }
    rest
}

/// A heading's text (`## Found one Java-level deadlock:` → `Found one Java-level deadlock:`);
/// any other line as it is. gdb's `#0` is no heading: a heading's marks end in a space.
fn unheading(line: &str) -> &str {
    let marks = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&marks) {
        return line;
    }
    match line[marks..].strip_prefix(' ') {
        Some(text) => text.trim_end().trim_end_matches('#').trim_end(),
        None if line.len() == marks => "",
        None => line,
    }
}

/// A list item's text, its marker (`- `, `* `, `+ `, `1. `, `1) `) at the line's start gone.
fn unlist(line: &str) -> &str {
    for marker in ["- ", "* ", "+ "] {
        if let Some(text) = line.strip_prefix(marker) {
            return text;
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        if let Some(text) = line[digits..]
            .strip_prefix(". ")
            .or_else(|| line[digits..].strip_prefix(") "))
        {
            return text;
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_go_headings_and_markers_too_line_for_line() {
        let md = "# Found one Java-level deadlock:\n```\n\"a\":\n  - waiting to lock\n```\n> ## Java stack information\n> ```text\n> \tat A.f(A.java:1)\n> \t- locked <0x1>\n> ```\n- #0  f ()\n1. Thread 2 (LWP 3):\n";
        assert!(has_fence(md));
        let out = unmark(md);
        assert_eq!(
            out,
            "Found one Java-level deadlock:\n\n\"a\":\n  - waiting to lock\n\nJava stack information\n\n\tat A.f(A.java:1)\n\t- locked <0x1>\n\n#0  f ()\nThread 2 (LWP 3):\n"
        );
        assert_eq!(out.lines().count(), md.lines().count());
    }

    #[test]
    fn a_dump_is_no_markdown() {
        assert!(!has_fence("#0  f (s=0x1 \"```\")\n#1  g ()\n"));
        assert!(!has_fence("# hangscan fixture\n#0  f ()\n"));
        assert_eq!(unheading("#0  f ()"), "#0  f ()");
        assert_eq!(unheading("#### Thread 2 ####"), "Thread 2");
        assert_eq!(unlist("2026-12-07 f"), "2026-12-07 f");
        assert_eq!(unlist("60: #0 f"), "60: #0 f");
    }
}
