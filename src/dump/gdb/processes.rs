//! Several processes' gdb dumps in one paste (two `thread apply all bt`s with a line of prose
//! between them): told apart by gdb's thread numbers, which name one thread each within a
//! session. A header whose number an earlier header gave another LWP starts another process's
//! dump; the cut goes after the last stack line before it, so the prose and banners before the
//! header (`Attaching to process P`) go with the dump they introduce
//! ([`crate::dump::processes`], shared with the formats that print a process header).

use crate::dump::processes::{after_last_stack_line, PASTE_MAX};
use std::collections::HashMap;

/// The lines besides stack lines a gdb dump ends with.
const ENDS: [&[u8]; 2] = [b"No locals.", b"[Inferior "];

/// The byte offsets in `raw` where a later process's dump starts (none for one process, or an
/// input past [`PASTE_MAX`]). Only thread headers at the start of a line are read, found with
/// a byte search, and only for their number and LWP.
pub fn starts(raw: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if raw.len() > PASTE_MAX {
        return out;
    }
    let mut seen: HashMap<&[u8], &[u8]> = HashMap::new();
    let headers = memchr::memmem::find_iter(raw, b"\nThread ").map(|at| at + 1);
    for at in std::iter::once(0)
        .filter(|_| raw.starts_with(b"Thread "))
        .chain(headers)
    {
        let end = memchr::memchr(b'\n', &raw[at..]).map_or(raw.len(), |i| at + i);
        let Some((num, lwp)) = number_and_lwp(&raw[at..end]) else {
            continue;
        };
        if seen.get(num).is_some_and(|&t| t != lwp) {
            out.push(after_last_stack_line(raw, at, &ENDS));
            seen.clear();
        }
        seen.insert(num, lwp);
    }
    out
}

/// A thread header's gdb number and LWP digits (`Thread 3 (Thread 0x7f… (LWP 4242) …):`).
fn number_and_lwp(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = line.strip_prefix(b"Thread ")?;
    let n = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    if n == 0 || !rest[n..].starts_with(b" (") {
        return None;
    }
    let lwp = memchr::memmem::find(&rest[n..], b"(LWP ")? + n + 5;
    let digits = rest[lwp..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    (digits > 0).then(|| (&rest[..n], &rest[lwp..lwp + digits]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_number_given_another_lwp_starts_another_process() {
        let two = "Attaching to process 10\nThread 2 (Thread 0x1 (LWP 11)):\n#0  f ()\nThread 1 (Thread 0x2 (LWP 10)):\n#0  g ()\n        x = 1\n\nand the other one:\nAttaching to process 20\nThread 2 (Thread 0x1 (LWP 21)):\n#0  f ()\n";
        let cut = starts(two.as_bytes());
        assert_eq!(cut.len(), 1);
        assert!(
            two[cut[0]..].starts_with("\nand the other one:"),
            "{}",
            &two[cut[0]..]
        );
        // The same process dumped twice is one process.
        let again = "Thread 2 (Thread 0x1 (LWP 11)):\n#0  f ()\nThread 2 (Thread 0x1 (LWP 11)):\n#0  f ()\n";
        assert!(starts(again.as_bytes()).is_empty());
    }
}
