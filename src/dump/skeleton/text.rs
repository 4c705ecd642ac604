//! Text helpers for the per-line hot paths. Whitespace trimming with the same results as
//! `str::trim`, `trim_start` and `trim_end` (Unicode `White_Space`), but the common all-ASCII
//! edges are stepped over byte by byte instead of being decoded character by character; and
//! substring search from the pattern's first byte (found with memchr), cheaper on short lines
//! than `str::find` with a string, which sets up a two-way searcher on every call.

/// The ASCII characters `char::is_whitespace` accepts.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// `s.trim_start()`.
pub fn trim_start(s: &str) -> &str {
    let n = s.bytes().take_while(|&b| is_ascii_space(b)).count();
    let t = &s[n..];
    // A non-ASCII character may be whitespace too: let the full version decide.
    if t.as_bytes().first().is_some_and(|&b| !b.is_ascii()) {
        t.trim_start()
    } else {
        t
    }
}

/// `s.trim_end()`.
pub fn trim_end(s: &str) -> &str {
    let n = s.bytes().rev().take_while(|&b| is_ascii_space(b)).count();
    let t = &s[..s.len() - n];
    if t.as_bytes().last().is_some_and(|&b| !b.is_ascii()) {
        t.trim_end()
    } else {
        t
    }
}

/// `s.trim()`.
pub fn trim(s: &str) -> &str {
    trim_end(trim_start(s))
}

/// `s.find(pat)`, with memchr's SIMD substring search (std's is a byte at a time); the
/// offset is a character boundary when `pat` starts with one.
pub fn find(s: &str, pat: &str) -> Option<usize> {
    memchr::memmem::find(s.as_bytes(), pat.as_bytes())
}

/// `s.rfind(pat)`, as [`find`].
pub fn rfind(s: &str, pat: &str) -> Option<usize> {
    memchr::memmem::rfind(s.as_bytes(), pat.as_bytes())
}

/// How many `open` brackets `s` leaves open (negative: more closed), outside double quotes
/// (a quote after a backslash is no quote). Only the three bytes that matter are visited,
/// found with memchr: most values and frames have few or none.
pub fn balance(s: &str, open: u8, close: u8) -> i32 {
    let bytes = s.as_bytes();
    let mut depth = 0;
    let mut quote = false;
    for i in memchr::memchr3_iter(b'"', open, close, bytes) {
        let b = bytes[i];
        if b == b'"' && (i == 0 || bytes[i - 1] != b'\\') {
            quote = !quote;
        } else if !quote && b == open {
            depth += 1;
        } else if !quote && b == close {
            depth -= 1;
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_like_std() {
        let spaces = [
            "", " ", "\t", "\n", "\x0b", "\x0c", "\r", "\u{85}", "\u{a0}", "\u{2028}", "\u{3000}",
        ];
        let words = ["", "x", "é", "a b", "\u{a0}x\u{a0}", "\x00", "\u{7f}"];
        for a in spaces {
            for b in spaces {
                for w in words {
                    for c in spaces {
                        let s = format!("{a}{b}{w}{c}{a}");
                        assert_eq!(trim(&s), s.trim(), "{s:?}");
                        assert_eq!(trim_start(&s), s.trim_start(), "{s:?}");
                        assert_eq!(trim_end(&s), s.trim_end(), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn balance_counts_brackets_outside_quotes() {
        let cases = [
            ("", 0),
            ("{a = 1}", 0),
            ("{a = {b = 2}", 1),
            ("}}", -2),
            (r#"{s = "}}"}"#, 0),
            (r#"{s = "\"{"}"#, 0),
            (r#""{" {"#, 1),
            ("f (a=1, b=(2)", 1),
        ];
        for (s, want) in cases {
            let open = if s.contains('(') { b'(' } else { b'{' };
            let close = if open == b'(' { b')' } else { b'}' };
            assert_eq!(balance(s, open, close), want, "{s:?}");
        }
    }

    #[test]
    fn finds_like_std() {
        let texts = [
            "",
            "a - b - c",
            "é - x",
            "--",
            " - ",
            "a -b",
            "x   y    z",
            "thread 't' 'x",
        ];
        for s in texts {
            for pat in [" - ", "   ", "-", "x", "thread '", "' ", "a"] {
                assert_eq!(find(s, pat), s.find(pat), "{s:?} {pat:?}");
                assert_eq!(rfind(s, pat), s.rfind(pat), "{s:?} {pat:?}");
            }
        }
    }
}
