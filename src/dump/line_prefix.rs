//! A prefix on every line of a paste, undone: line numbers a pastebin or an editor added
//! (`60: `, `60 | `, `60\t`) and log timestamps (`2026-12-03T09:41:07.037Z `, `[12:00:01] `),
//! whatever the format inside. The prefix is made of digits and the punctuation of numbers and
//! times only, ends in whitespace, and every one of the text's first lines has it in the same
//! shape (digit runs alike): then it goes from every line that has that shape. A dump's own
//! lines never all start so (gdb's `#0`, `Thread`, lldb's indented `frame #`, Go's
//! `goroutine`): only its first lines are looked at before the text is left as it is.

/// How many of the first non-blank lines must share the prefix (all of them, when fewer).
const LOOKED_AT: usize = 12;

/// The text without the prefix every line shares; `None` when its lines share none.
pub fn strip(text: &str) -> Option<String> {
    let shape = shared(text)?;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match prefix(line).filter(|p| same_shape(p, shape)) {
            Some(p) => out.push_str(&line[p.len()..]),
            None => out.push_str(line),
        }
    }
    Some(out)
}

/// Whether [`strip`] would change the text: its first lines share a prefix.
pub fn has_prefix(text: &str) -> bool {
    shared(text).is_some()
}

/// The first line's prefix, when the text's first non-blank lines (at least three) all have
/// one of its shape.
fn shared(text: &str) -> Option<&str> {
    let mut first = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(LOOKED_AT);
    let shape = prefix(first.next()?)?;
    let mut seen = 1;
    for line in first {
        if !prefix(line).is_some_and(|p| same_shape(p, shape)) {
            return None;
        }
        seen += 1;
    }
    (seen >= 3).then_some(shape)
}

/// A line's prefix: a run of digits and number or time punctuation holding a digit, then one
/// space or tab, and a gutter's `| ` after it (`60 | `); or the run alone on an otherwise empty
/// line (`61:` numbers a blank line). The line's own indentation stays.
fn prefix(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let run = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || b"-:.,/+TZ[]|".contains(c))
        .count();
    if run == 0
        || !b[..run].iter().any(u8::is_ascii_digit)
        || !(b[0].is_ascii_digit() || b[0] == b'[')
    {
        return None;
    }
    match b.get(run) {
        None | Some(b'\n' | b'\r') => Some(&line[..run]),
        Some(b' ' | b'\t') => {
            let gutter = b[run + 1..].starts_with(b"| ") || b[run + 1..].starts_with(b"|\t");
            Some(&line[..run + if gutter { 3 } else { 1 }])
        }
        Some(_) => None,
    }
}

/// Whether two prefixes have one shape: the same bytes once each digit run counts as one and
/// whitespace as one, whitespace at the end aside (`60: ` and `100: `; `[09:41:07] ` and
/// `[09:41:13]  `; `61:` numbering a blank line).
fn same_shape(a: &str, b: &str) -> bool {
    let mut x = shape(a.trim_end());
    let mut y = shape(b.trim_end());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (p, q) if p == q => {}
            _ => return false,
        }
    }
}

/// A prefix's shape, a byte at a time: `9` for a digit run, ` ` for a whitespace run.
fn shape(p: &str) -> impl Iterator<Item = u8> + '_ {
    let b = p.as_bytes();
    (0..b.len()).filter_map(move |i| {
        let class = |c: u8| match c {
            b'0'..=b'9' => b'9',
            b' ' | b'\t' => b' ',
            c => c,
        };
        let c = class(b[i]);
        let runs = matches!(c, b'9' | b' ');
        (!(runs && i > 0 && class(b[i - 1]) == c)).then_some(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_and_timestamps_go() {
        let numbered = "99: (lldb) bt all\n100: * thread #1\n101:\n102:     frame #0: 0x1 a`f\n";
        assert_eq!(
            strip(numbered).unwrap(),
            "(lldb) bt all\n* thread #1\n\n    frame #0: 0x1 a`f\n"
        );
        let stamped = "2026-12-03T09:41:07.037Z goroutine 1 [running]:\n2026-12-03T09:41:07.1Z main.main()\n2026-12-03T09:41:08.2Z \t/x/main.go:5 +0x1\n";
        assert_eq!(
            strip(stamped).unwrap(),
            "goroutine 1 [running]:\nmain.main()\n\t/x/main.go:5 +0x1\n"
        );
        assert!(has_prefix(stamped));
        assert_eq!(
            strip("[12:00:01] a\n[12:00:02]  b\n[12:00:13] c\n").unwrap(),
            "a\n b\nc\n"
        );
        assert_eq!(
            strip("7 | #0  f ()\n8 |         x = 1\n9 | #1  g ()\n").unwrap(),
            "#0  f ()\n        x = 1\n#1  g ()\n"
        );
    }

    #[test]
    fn dumps_keep_their_lines() {
        for text in [
            "#0  f ()\n#1  g ()\n#2  h ()\n",
            "Thread 2 (LWP 3):\n#0  f ()\n#1  g ()\n",
            "  1    Thread 0x7f (LWP 3) f ()\n  2    Thread 0x7e (LWP 4) g ()\n  3    x\n",
            "57\t./nptl/futex-internal.c: No such file.\n#0  f ()\n#1  g ()\n",
            "  0: std::panicking::begin\n      at x.rs:1\n  1: main\n",
            "100: a\n101: b\n",
        ] {
            assert!(strip(text).is_none(), "{text}");
            assert!(!has_prefix(text), "{text}");
        }
    }
}
