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

/// `s.find(pat)` for a non-empty ASCII `pat`: the occurrences of its rarest byte found with
/// memchr, each checked in place.
pub fn find(s: &str, pat: &str) -> Option<usize> {
    let p = pat.as_bytes();
    let k = rarest(p)?;
    let key = char::from(p[k]);
    // Every cut is just after an ASCII byte, so on a character boundary.
    let mut from = 0;
    while let Some(at) = s[from..].find(key) {
        let at = from + at;
        if let Some(start) = at.checked_sub(k) {
            if s.as_bytes()[start..].starts_with(p) {
                return Some(start);
            }
        }
        from = at + 1;
    }
    None
}

/// `s.rfind(pat)` for a non-empty ASCII `pat`.
pub fn rfind(s: &str, pat: &str) -> Option<usize> {
    let p = pat.as_bytes();
    let k = rarest(p)?;
    let key = char::from(p[k]);
    let mut to = s.len();
    while let Some(at) = s[..to].rfind(key) {
        let start = at.checked_sub(k)?;
        if s.as_bytes()[start..].starts_with(p) {
            return Some(start);
        }
        to = at;
    }
    None
}

/// Where in `pat` its least common byte in dump text is: punctuation, then capitals and
/// braces, then digits and other brackets, then rare letters, then common ones and spaces;
/// `None` for an empty pattern.
fn rarest(pat: &[u8]) -> Option<usize> {
    let rank = |b: u8| match b {
        b' ' | b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' | b'h' | b'l' | b':'
        | b'_' => 8,
        b'd' | b'c' | b'u' | b'm' | b'f' | b'p' | b'g' | b'w' | b'y' | b'b' => 7,
        b'a'..=b'z' | b'0'..=b'9' | b'\t' | b'\n' => 6,
        b'(' | b')' | b',' | b'-' | b'.' | b'/' | b'=' | b'[' | b']' => 4,
        b'{' | b'}' | b'A'..=b'Z' => 2,
        _ => 0,
    };
    (0..pat.len()).min_by_key(|&i| rank(pat[i]))
}

/// How many `open` brackets `s` leaves open (negative: more closed), outside double quotes.
pub fn balance(s: &str, open: u8, close: u8) -> i32 {
    let mut depth = 0;
    let mut quote = false;
    let mut prev = 0u8;
    for b in s.bytes() {
        if b == b'"' && prev != b'\\' {
            quote = !quote;
        } else if !quote && b == open {
            depth += 1;
        } else if !quote && b == close {
            depth -= 1;
        }
        prev = b;
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
