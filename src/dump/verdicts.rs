//! Runtime messages that are verdicts, bare or around a dump: Rust's `... would result in
//! deadlock` panics, glibc's `Resource deadlock avoided` (EDEADLK, as `std::system_error` or
//! `perror` print it), Go's `all goroutines are asleep - deadlock!` and Python's `cannot join
//! current thread`. Each becomes a [`Claim`] the analysis checks against the stacks; the
//! claim is the runtime's word, never evidence that confirms itself. A paste of such a
//! message alone is read too ([`Messages`]): its claim stands with no stack to bear it out.
//! The whole input is searched (a message may stand between two pastes of a dump, or in a
//! log around it), with one byte search per word that finds the messages.

use super::skeleton::{lines, Builder};
use super::DumpFormat;
use crate::model::{Claim, Snapshot};
use memchr::memmem;

/// The messages.
const MESSAGES: [&str; 4] = [
    "would result in deadlock",
    "Resource deadlock avoided",
    "all goroutines are asleep",
    "cannot join current thread",
];

/// The words a byte search finds the messages by: the first three hold `deadlock`.
const WORDS: [&str; 2] = ["deadlock", "join current thread"];

/// A text made of runtime messages and no stack (the last format tried).
pub struct Messages;

impl DumpFormat for Messages {
    fn name(&self) -> &'static str {
        "message"
    }

    fn sniff(&self, text: &str) -> bool {
        MESSAGES.iter().any(|m| text.contains(m))
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        let text = super::normalize::repair(raw);
        let mut b = Builder::default();
        for (no, _) in lines(&text) {
            b.seen(no);
        }
        b.nothing_found(
            "no stack in the input: only a runtime's message, whose word hangscan cannot check",
        );
        let mut snap = b.finish("message", origin, false);
        add_claims(&mut snap, claims(text.as_bytes()));
        snap
    }
}

/// How much of the input one byte search covers: a big input is searched in pieces of this
/// size on every core.
const PIECE: usize = super::SCAN_PIECE;

/// Where `word` occurs in `raw`, ascending: a byte search per [`PIECE`] (each reaching
/// `word`'s length into the next, so no occurrence across a border is missed), on every core.
fn find_all(raw: &[u8], word: &[u8]) -> Vec<usize> {
    use rayon::prelude::*;
    let starts: Vec<usize> = (0..raw.len()).step_by(PIECE).collect();
    let found: Vec<Vec<usize>> = starts
        .par_iter()
        .map(|&from| {
            let to = (from + PIECE + word.len() - 1).min(raw.len());
            let piece = memmem::find_iter(&raw[from..to], word).map(|at| from + at);
            piece.filter(|&at| at < from + PIECE).collect()
        })
        .collect();
    found.concat()
}

/// The claims of the runtime messages anywhere in `raw`, one per message (its first line):
/// one byte search over the input per word of [`WORDS`] ([`find_all`]).
pub fn claims(raw: &[u8]) -> Vec<Claim> {
    let mut out: Vec<Claim> = Vec::new();
    for at in WORDS.iter().flat_map(|w| find_all(raw, w.as_bytes())) {
        let start = memchr::memrchr(b'\n', &raw[..at]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &raw[at..]).map_or(raw.len(), |i| at + i);
        // A word in a dump's own text (`lockdep_deadlock_check`) is looked at no further, nor
        // is a message quoted inside a value (a panic's `msg = "… would result in deadlock"`
        // in a `bt full`): data of the program, not the runtime's verdict.
        let Some(m) = MESSAGES
            .iter()
            .find_map(|m| memmem::find(&raw[start..end], m.as_bytes()))
        else {
            continue;
        };
        if memchr::memchr_iter(b'"', &raw[start..start + m]).count() % 2 == 1 {
            continue;
        }
        let line = String::from_utf8_lossy(&raw[start..end]);
        let text = line.trim_start_matches(['>', ' ', '\t']).trim_end();
        // Python's traceback echoes the source line that raised it before the message.
        if text.starts_with("raise ") {
            continue;
        }
        for message in MESSAGES.iter().filter(|m| text.contains(*m)) {
            if out.iter().any(|c| c.text.contains(message)) {
                continue;
            }
            let no = memchr::memchr_iter(b'\n', &raw[..start]).count() + 1;
            out.push(Claim {
                text: text.to_string(),
                threads: panicking_thread(raw, start).into_iter().collect(),
                deadlock: true,
                line: Some(no),
            });
        }
    }
    out.sort_by_key(|c| c.line);
    out
}

/// Adds `found` ([`claims`]) to `snap`, but for messages a claim of its format says already.
pub fn add_claims(snap: &mut Snapshot, found: Vec<Claim>) {
    for claim in found {
        let said = |c: &Claim| {
            MESSAGES
                .iter()
                .any(|m| c.text.contains(m) && claim.text.contains(m))
        };
        if !snap.claims.iter().any(said) {
            snap.claims.push(claim);
        }
    }
}

/// The thread a Rust panic message names on the line before it (`thread 'NAME' panicked at`),
/// when the message at `start` is one.
fn panicking_thread(raw: &[u8], start: usize) -> Option<String> {
    let before = &raw[..start.saturating_sub(1)];
    let from = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let line = String::from_utf8_lossy(&before[from..]);
    let rest = line
        .trim_start_matches(['>', ' ', '\t'])
        .strip_prefix("thread '")?;
    let (name, after) = rest.split_once('\'')?;
    (after.contains("panicked") && name != "<unnamed>").then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_across_two_pieces_is_found_once() {
        let mut raw = vec![b'x'; 2 * PIECE + 10];
        raw[PIECE - 3..PIECE + 5].copy_from_slice(b"deadlock");
        raw[2 * PIECE..2 * PIECE + 8].copy_from_slice(b"deadlock");
        assert_eq!(find_all(&raw, b"deadlock"), [PIECE - 3, 2 * PIECE]);
        assert!(find_all(b"", b"deadlock").is_empty());
    }

    #[test]
    fn each_message_is_a_claim_naming_the_panicking_thread() {
        let raw = b"> thread 'indexer' panicked at src/x.rs:1:1:\n> rwlock read lock would result in deadlock\nterminate called after throwing an instance of 'std::system_error'\n  what():  Resource deadlock avoided\n";
        let mut snap = Snapshot::default();
        add_claims(&mut snap, claims(raw));
        assert_eq!(snap.claims.len(), 2);
        assert_eq!(
            snap.claims[0].text,
            "rwlock read lock would result in deadlock"
        );
        assert_eq!(snap.claims[0].threads, ["indexer"]);
        assert_eq!(snap.claims[0].line, Some(2));
        assert_eq!(snap.claims[1].text, "what():  Resource deadlock avoided");
        assert!(snap.claims[1].threads.is_empty());
        // A claim the format made already is not made twice.
        add_claims(&mut snap, claims(raw));
        assert_eq!(snap.claims.len(), 2);
    }
}
