//! What every text-dump parser is built from, so that a format's own file holds only its
//! grammar: a byte-level line scan ([`lines`]), the snapshot being filled with its threads,
//! diagnostics, evidence and claims, held to the thread cap as it is filled ([`Builder`]), its
//! repeated names and values shared ([`intern`]), text
//! helpers for the per-line hot paths ([`text`]), lines repeated word for word read once
//! ([`memo`]), and the native stack grammar gdb, pstack,
//! lldb and eu-stack share: the frame line ([`frame`]: `#N  [ADDR in ]FUNC[ (ARGS)][ at
//! FILE:LINE][ from LIB]`), gdb's thread names and headers ([`header`]) and wrapped or glued
//! frame lines put right ([`logical`]); a big dump cut into pieces read on every core
//! ([`pieces`]).

mod builder;
pub mod frame;
pub mod header;
pub mod intern;
pub mod logical;
pub mod memo;
pub mod pieces;
pub mod text;

pub use builder::{push_bounded, Builder, Part};

/// How many of the threads a dump's numbering says it lost are named.
pub const MISSING_SHOWN: usize = 32;

/// The numbers below the highest of `seen` that it lacks (at most [`MISSING_SHOWN`]): the
/// threads a debugger that numbers threads from 1 and never reuses a number (gdb, lldb) gave
/// numbers to and the dump does not show (left out, or exited before it).
pub fn missing_numbers(seen: &std::collections::BTreeSet<u32>) -> Vec<String> {
    let top = seen.last().copied().unwrap_or(0);
    (1..top)
        .filter(|n| !seen.contains(n))
        .take(MISSING_SHOWN)
        .map(|n| n.to_string())
        .collect()
}

use text::trim_start;

/// Every line of `text` with its 1-based number, `\n` or `\r\n` ended, found a byte at a time
/// (with `memchr`); the same lines as `str::lines`.
pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut no = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        no += 1;
        let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, ""),
        };
        rest = next;
        Some((no, line.strip_suffix('\r').unwrap_or(line)))
    })
}

/// The first lines of a dump as a sniffer sees them: without mail quoting and indentation.
pub fn head_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .take(200)
        .map(|l| trim_start(l.trim_start_matches(['>', ' ', '\t'])))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_std_lines_numbered() {
        for text in [
            "",
            "a",
            "a\n",
            "a\r\nb",
            "\n\nx\r\n",
            "é\nb\r\n\r\n",
            "a\rb\n",
        ] {
            let ours: Vec<(usize, &str)> = super::lines(text).collect();
            let std: Vec<(usize, &str)> =
                text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }
}
