//! A big dump read on every core: cut into pieces where a new thread's stack starts, each
//! piece checked and parsed on its own, and the parts put together in input order by the
//! format (which knows how threads named in one piece are the threads of another).
//!
//! Only clean text is cut: valid UTF-8 that the format's clean-up ([`crate::dump::normalize`])
//! would leave as it is. Each piece then holds exactly the lines a whole read would see, with
//! their own numbers.

use crate::dump::Release;
use rayon::prelude::*;

/// Dumps with less than this per piece are read whole: cutting them gains nothing.
const MIN_PIECE: usize = 2 << 20;

/// A piece of a dump: whole lines, starting at a line where a thread's stack starts (but the
/// first piece).
pub struct Piece<'a> {
    /// The 1-based input line of the piece's first line.
    pub first_line: usize,
    /// The piece's text, each line `\n`-ended but perhaps the last piece's last.
    pub text: &'a str,
}

/// Whether a piece may start at a line, given the line before it: where a thread's stack
/// starts, and no line before runs on into it (a wrapped line, an open value). Asked of every
/// line up to a cut: it should look at the line itself before the line before it.
pub type Starts<'s> = &'s (dyn Fn(&str, &str) -> bool + Sync);

/// `raw` in about four pieces per core (each piece read is let go of, so that few are held at
/// once), each at least [`MIN_PIECE`] long. Every piece but the first starts at a line
/// `starts` accepts; `clean` says whether a piece's text needs no clean-up. `None` when that
/// gains nothing (a small dump, no such line) or when some piece is not clean text: then the
/// dump is read whole, the usual way.
pub fn cut<'a>(
    raw: &'a [u8],
    starts: Starts,
    clean: &(dyn Fn(&str) -> bool + Sync),
) -> Option<Vec<Piece<'a>>> {
    let want = (4 * rayon::current_num_threads()).min(raw.len() / MIN_PIECE);
    if want < 2 {
        return None;
    }
    let mut cuts = vec![0];
    for k in 1..want {
        let from = (k * raw.len() / want).max(cuts[cuts.len() - 1]);
        match next_start(raw, from, starts) {
            Some(at) if at > cuts[cuts.len() - 1] => cuts.push(at),
            Some(_) => {}
            None => break,
        }
    }
    if cuts.len() < 2 {
        return None;
    }
    cuts.push(raw.len());
    let checked: Option<Vec<(&str, usize)>> = cuts
        .par_windows(2)
        .map(|w| {
            let bytes = &raw[w[0]..w[1]];
            let text = std::str::from_utf8(bytes).ok()?;
            let newlines = memchr::memchr_iter(b'\n', bytes).count();
            clean(text).then_some((text, newlines))
        })
        .collect();
    let mut line = 1;
    Some(
        checked?
            .into_iter()
            .map(|(text, newlines)| {
                let piece = Piece {
                    first_line: line,
                    text,
                };
                line += newlines;
                piece
            })
            .collect(),
    )
}

/// Reads the pieces of a dump ([`cut`]) with `read`, each on some core, its bytes handed to
/// `release` once read: what each read gave, in input order.
pub fn read_each<'a, R: Send>(
    pieces: &[Piece<'a>],
    release: Release,
    read: impl Fn(&Piece<'a>) -> R + Sync,
) -> Vec<R> {
    pieces
        .par_iter()
        .map(|piece| {
            let r = read(piece);
            release(piece.text.as_bytes());
            r
        })
        .collect()
}

/// The offset of the first line past `from` that `starts` accepts, given the line before it.
fn next_start(raw: &[u8], from: usize, starts: Starts) -> Option<usize> {
    let mut prev_start = from + memchr::memchr(b'\n', raw.get(from..)?)? + 1;
    loop {
        let prev_end = prev_start + memchr::memchr(b'\n', &raw[prev_start..])?;
        let start = prev_end + 1;
        let end = memchr::memchr(b'\n', &raw[start..]).map_or(raw.len(), |e| start + e);
        let (prev, line) = (&raw[prev_start..prev_end], &raw[start..end]);
        if let (Ok(line), Ok(prev)) = (std::str::from_utf8(line), std::str::from_utf8(prev)) {
            if starts(prev, line) {
                return Some(start);
            }
        }
        prev_start = start;
    }
}

/// What the formats' tests of reading in pieces share: a big dump made of a format's
/// recordings, and the check that both reads say the same.
#[cfg(test)]
pub mod check {
    use crate::model::Snapshot;

    /// Every recording in `fixtures/dumps/DIR` whose name ends with `suffix`, in name order,
    /// again and again past two pieces' worth (9 MiB): `each(copy, recording)` is what a copy
    /// of a recording adds.
    pub fn repeated(dir: &str, suffix: &str, each: impl Fn(usize, &str) -> String) -> String {
        let dir = format!("{}/fixtures/dumps/{dir}", env!("CARGO_MANIFEST_DIR"));
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        paths.sort();
        let recordings: Vec<String> = paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        let mut text = String::new();
        for copy in 0.. {
            if text.len() > 9 << 20 {
                break;
            }
            for r in &recordings {
                text.push_str(&each(copy, r));
            }
        }
        text
    }

    /// The read in pieces says what the whole read says: every thread, what could not be
    /// read, the claims, the pid, whether it is complete, and who wrote it.
    pub fn assert_same(cut: &Snapshot, whole: &Snapshot) {
        assert_eq!(cut.threads.len(), whole.threads.len());
        for (a, b) in cut.threads.iter().zip(&whole.threads) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        assert_eq!(
            format!("{:?}", cut.diagnostics),
            format!("{:?}", whole.diagnostics)
        );
        assert_eq!(format!("{:?}", cut.claims), format!("{:?}", whole.claims));
        assert_eq!(
            (cut.pid, cut.complete, &cut.producer),
            (whole.pid, whole.complete, &whole.producer)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_start_at_stack_starts_after_blank_lines_and_count_lines() {
        let block = "Thread 1 (x):\n#0  f ()\n\n";
        let text = block.repeat(2 * MIN_PIECE / block.len() + 10);
        let starts = |prev: &str, l: &str| prev.is_empty() && l.starts_with("Thread ");
        let clean = |t: &str| !t.contains('\r');
        let pieces = cut(text.as_bytes(), &starts, &clean).expect("cut");
        assert!(pieces.len() >= 2);
        assert_eq!(pieces.iter().map(|p| p.text).collect::<String>(), text);
        for p in &pieces {
            assert!(p.text.starts_with("Thread 1"));
            let before = text[..p.text.as_ptr() as usize - text.as_ptr() as usize].lines();
            assert_eq!(p.first_line, before.count() + 1);
        }
        // Text in need of repair (CRLF) is read whole.
        let crlf = text.replace("f ()\n", "f ()\r\n");
        assert!(cut(crlf.as_bytes(), &starts, &clean).is_none());
        assert!(cut(b"Thread 1 (x):\n", &starts, &clean).is_none());
    }
}
