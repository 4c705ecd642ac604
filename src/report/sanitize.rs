//! Untrusted text (thread names, symbols, file names) made safe to print: no terminal escapes,
//! no control characters, no bidi overrides that could make a report lie.

/// Drops control characters (C0 but tab, DEL, C1) and bidi embedding/override/isolate marks.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            !(c.is_control() && c != '\t'
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || c == '\u{200e}'
                || c == '\u{200f}'
                || c == '\u{061c}')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_escapes_and_bidi() {
        assert_eq!(
            super::clean("a\x1b[31mb\u{202e}c\u{7f}d\u{9b}e"),
            "a[31mbcde"
        );
        assert_eq!(super::clean("plain name-1"), "plain name-1");
    }
}
