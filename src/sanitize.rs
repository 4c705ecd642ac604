//! Untrusted text (thread names, symbols, file names) made safe to print: no terminal escapes,
//! no control characters, no bidi overrides that could make a report lie. Text formats drop
//! such characters ([`clean`]); JSON keeps them, escaped as `\uXXXX` ([`write_json`]), so a
//! consumer sees exactly what the target said and no terminal or editor acts on it.
//! A leaf: it imports nothing from the crate, so renderers and producers (capture's refusal
//! reasons, saved snapshots) share it without depending on each other.

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};
use std::io::{self, Write};

/// Whether `c` may not reach a reader as itself: a control character (C0 but tab, DEL, C1), a
/// bidi embedding/override/isolate or mark, or a line/paragraph separator.
fn unsafe_char(c: char) -> bool {
    c.is_control() && c != '\t'
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{2028}' | '\u{2029}'
        )
}

/// Drops what may not reach a reader as itself: control characters (but tab), bidi marks
/// and overrides, line and paragraph separators.
pub fn clean(s: &str) -> String {
    s.chars().filter(|&c| !unsafe_char(c)).collect()
}

/// Writes `value` as pretty JSON in which each of those characters is escaped
/// (serde_json escapes only C0 controls: DEL, C1 and bidi marks would pass through as is).
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, Escaping(PrettyFormatter::new()));
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// serde_json's pretty layout, with the string fragments it leaves alone escaped as needed.
struct Escaping<'a>(PrettyFormatter<'a>);

impl Formatter for Escaping<'_> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        let mut rest = s;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| unsafe_char(c)) {
            w.write_all(&rest.as_bytes()[..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{u:04x}")?;
            }
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
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

    #[test]
    fn json_escapes_what_serde_leaves_and_round_trips() {
        let name = "a\x1b[31mb\u{202e}c\u{7f}d\u{9b}e\u{2066}é𝄞\"\\";
        let mut out = Vec::new();
        super::write_json(&mut out, &serde_json::json!({ "name": name })).unwrap();
        let doc = String::from_utf8(out).unwrap();
        let raw = doc.chars().filter(|&c| c != '\n').any(super::unsafe_char);
        assert!(!raw, "{doc}");
        assert!(doc.contains("\\u202e") && doc.contains("\\u009b") && doc.contains("\\u007f"));
        assert!(doc.contains("é𝄞"), "other characters stay as they are");
        let back: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(back["name"], name);
    }
}
