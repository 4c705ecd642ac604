//! Markdown around a pasted dump, undone: a dump pasted into an issue or a chat comes with code
//! fences between its sections, its header lines turned into `#` headings, list and `> `
//! blockquote markers before its lines. A text holding a fence line, or a dump's line behind a
//! heading, list or quote marker, anywhere, is read as Markdown ([`is_marked`]): fence lines
//! become blank, blockquote markers go from every line, and outside fences heading markers and
//! the list markers before a dump's line go from the start of a line. Every line keeps its number (diagnostics and cut
//! points name lines). Inside a fence only the quoting goes, so an indented `- locked` of
//! jstack or a `# ` of a dump stays as the tool printed it.

/// Whether `text` is Markdown around a dump, decided by its lines wherever they are: a code
/// fence line (```` ``` ```` or `~~~`, maybe quoted or indented), or a dump's line behind a
/// heading, list or blockquote marker (`# "main" #1 prio=5`, `## Thread 2 (LWP 7)`,
/// `- #0  0x… in f ()`, `> Thread 1 …`). A heading over prose (`# hangscan fixture`) is not
/// enough: its text is no dump line, and nothing of the dump needs undoing. One pass over line
/// starts, most lines left at their first byte or two (gdb's `#0` is a frame, not a heading:
/// its `#` is followed by a digit).
pub fn is_marked(text: &str) -> bool {
    use rayon::prelude::*;
    let b = text.as_bytes();
    // A big text is looked at in pieces on every core, each from a line's start.
    let mut starts = vec![0];
    while let Some(&last) = starts.last() {
        match memchr::memchr(b'\n', b.get(last + PIECE..).unwrap_or_default()) {
            Some(i) => starts.push(last + PIECE + i + 1),
            None => break,
        }
    }
    starts.push(b.len());
    starts.par_windows(2).any(|w| {
        let piece = &b[..w[1]];
        std::iter::once(w[0])
            .chain(memchr::memchr_iter(b'\n', &piece[w[0]..]).map(|i| w[0] + i + 1))
            .filter(|&at| at < w[1])
            .any(|at| marked_line(&b[at..]))
    })
}

/// How much of a text one core looks at for Markdown ([`is_marked`]).
const PIECE: usize = super::SCAN_PIECE;

/// Whether the line that `rest` starts with (up to the text's end) is a fence or a marked dump
/// line ([`is_marked`]).
fn marked_line(rest: &[u8]) -> bool {
    match rest.first() {
        Some(b'`' | b'~') => is_fence(rest),
        Some(b' ') => {
            let lead = rest.iter().take(4).take_while(|&&c| c == b' ').count();
            lead <= 3 && is_fence(&rest[lead..])
        }
        Some(b'#') => {
            let marks = rest.iter().take(7).take_while(|&&c| c == b'#').count();
            marks <= 6 && rest[marks..].starts_with(b" ") && dump_line(&rest[marks + 1..])
        }
        Some(b'>') => {
            let mut r = rest;
            while let Some(after) = r.strip_prefix(b">") {
                r = after.strip_prefix(b" ").unwrap_or(after);
            }
            is_fence(r) || dump_line(r) || (!r.starts_with(b">") && r != rest && marked_line(r))
        }
        // lldb marks its selected thread `* thread #1`: its own line, no list item.
        Some(b'*') if rest.starts_with(b"* thread #") => false,
        _ => item_marker(rest).is_some_and(|at| dump_line(&rest[at..])),
    }
}

/// Whether `line` opens with a fence (```` ``` ```` or `~~~`).
fn is_fence(line: &[u8]) -> bool {
    line.starts_with(b"```") || line.starts_with(b"~~~")
}

/// How the lines of the dumps hangscan reads start, the lines Markdown takes for its own:
/// frames, thread and process headers, a JVM's report and dump headers.
const DUMP_STARTS: [&[u8]; 12] = [
    b"Thread ",
    b"\"",
    b"thread #",
    b"frame #",
    b"goroutine ",
    b"File \"",
    b"TID ",
    b"PID ",
    b"Process ",
    b"Full thread dump",
    b"Found one Java-level deadlock",
    b"Java stack information",
];

/// Whether `line` starts as a dump's line does: a frame `#N` or one of [`DUMP_STARTS`].
fn dump_line(line: &[u8]) -> bool {
    (line.first() == Some(&b'#') && line.get(1).is_some_and(u8::is_ascii_digit))
        || DUMP_STARTS.iter().any(|s| line.starts_with(s))
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

/// A list item's text, its marker (`- `, `* `, `+ `, `1. `, `1) `) at the line's start gone,
/// when the item is a dump's line ([`dump_line`]): a wrapped line that starts `250) at f.c:7`
/// is the dump's own, and gdb's `* 1    Thread …` is its selected `info threads` row.
fn unlist(line: &str) -> &str {
    let b = line.as_bytes();
    match item_marker(b).filter(|&at| dump_line(&b[at..])) {
        Some(at) => &line[at..],
        None => line,
    }
}

/// The length of the list marker `line` starts with (`- `, `* `, `+ `, `1. `, `1) `), if any.
fn item_marker(line: &[u8]) -> Option<usize> {
    match line.first()? {
        b'-' | b'*' | b'+' => (line.get(1) == Some(&b' ')).then_some(2),
        c if c.is_ascii_digit() => {
            let digits = line
                .iter()
                .take(10)
                .take_while(|c| c.is_ascii_digit())
                .count();
            matches!(line.get(digits..digits + 2), Some(b". " | b") ")).then_some(digits + 2)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_go_headings_and_markers_too_line_for_line() {
        let md = "# Found one Java-level deadlock:\n```\n\"a\":\n  - waiting to lock\n```\n> ## Java stack information\n> ```text\n> \tat A.f(A.java:1)\n> \t- locked <0x1>\n> ```\n- #0  f ()\n1. Thread 2 (LWP 3):\n";
        assert!(is_marked(md));
        let out = unmark(md);
        assert_eq!(
            out,
            "Found one Java-level deadlock:\n\n\"a\":\n  - waiting to lock\n\nJava stack information\n\n\tat A.f(A.java:1)\n\t- locked <0x1>\n\n#0  f ()\nThread 2 (LWP 3):\n"
        );
        assert_eq!(out.lines().count(), md.lines().count());
    }

    #[test]
    fn marked_dump_lines_are_markdown_without_a_fence_anywhere() {
        let long = "#0  f ()\n".repeat(20_000);
        for marked in [
            "# \"main\" #1 prio=5 os_prio=0 tid=0x1 nid=0x2 waiting for monitor entry\n",
            "## Thread 2 (Thread 0x7f (LWP 7) \"w\"):\n",
            "- #0  0x1 in f ()\n",
            "> Thread 1 (Thread 0x7f (LWP 6) \"m\"):\n",
            "> ## Thread 1 (LWP 6)\n",
            "3. #2  0x1 in g ()\n",
            "~~~\n",
        ] {
            assert!(is_marked(&format!("{long}{marked}{long}")), "{marked}");
        }
        assert!(!is_marked(&long));
        // Past a piece's end, on another core.
        let big = "#0  f ()\n".repeat(PIECE / 4);
        assert!(is_marked(&format!("{big}{big}- #0  0x1 in f ()\n{big}")));
        assert!(!is_marked(&format!("{big}{big}")));
    }

    #[test]
    fn a_dump_is_no_markdown() {
        assert!(!is_marked("#0  f (s=0x1 \"```\")\n#1  g ()\n"));
        assert!(!is_marked("# hangscan fixture\n#0  f ()\n"));
        assert!(!is_marked(
            "* thread #1, name = 'a'\n  * frame #0: 0x1 a`f\n"
        ));
        assert!(!is_marked(
            "  Id   Target Id\n* 1    Thread 0x7f (LWP 7) \"a\" f ()\n"
        ));
        assert_eq!(
            unlist("* 1    Thread 0x7f (LWP 7)"),
            "* 1    Thread 0x7f (LWP 7)"
        );
        assert_eq!(unlist("250) at cpp_abba.cpp:73"), "250) at cpp_abba.cpp:73");
        assert_eq!(unlist("1 #0  f ()"), "1 #0  f ()");
        assert_eq!(unlist("12) #0  f ()"), "#0  f ()");
        assert_eq!(unheading("#0  f ()"), "#0  f ()");
        assert_eq!(unheading("#### Thread 2 ####"), "Thread 2");
        assert_eq!(unlist("2026-12-07 f"), "2026-12-07 f");
        assert_eq!(unlist("60: #0 f"), "60: #0 f");
    }
}
