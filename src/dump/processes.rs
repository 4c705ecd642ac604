//! Several processes' dumps in one paste, told apart: where each later process's dump starts
//! ([`super::DumpFormat::processes`]), for `parse_dumps_releasing` to read one snapshot each.
//! Formats whose dump opens with a process header (eu-stack's `PID N - process`, lldb's
//! `Process N stopped`, py-spy's `Process N: cmd`, the JVM's `Full thread dump`) start another
//! process at each header naming another process ([`at_headers`]); gdb, which prints none,
//! by its thread numbers (`gdb/processes.rs`). Either way the cut goes after the last stack
//! line before the header ([`after_last_stack_line`]), so the prose and banners before a
//! header go with the dump they introduce.

use memchr::memmem;

/// The biggest input read as a paste that may hold several processes: a recorded dump past it
/// is one process's, and is not searched through once more.
pub const PASTE_MAX: usize = 16 << 20;

/// What a process header line says of its process: `None` for no header, `Some(None)` for a
/// header that names no process (the JVM's `Full thread dump`), `Some(Some(pid))`.
pub type Header<'a> = &'a dyn Fn(&[u8]) -> Option<Option<u64>>;

/// The byte offsets in `raw` where a later process's dump starts: at each line starting with
/// `opens` that `header` reads as a process header, after an earlier one, unless both name the
/// same process (dumped twice, it is one process). `ends` are the lines a dump ends with
/// ([`after_last_stack_line`]). None for one process or an input past [`PASTE_MAX`].
pub fn at_headers(raw: &[u8], opens: &[u8], header: Header, ends: &[&[u8]]) -> Vec<usize> {
    let mut out = Vec::new();
    if raw.len() > PASTE_MAX {
        return out;
    }
    let mut last: Option<Option<u64>> = None;
    let mut needle = b"\n".to_vec();
    needle.extend_from_slice(opens);
    let found = memmem::find_iter(raw, &needle).map(|at| at + 1);
    for at in std::iter::once(0)
        .filter(|_| raw.starts_with(opens))
        .chain(found)
    {
        let end = memchr::memchr(b'\n', &raw[at..]).map_or(raw.len(), |i| at + i);
        let Some(process) = header(&raw[at..end]) else {
            continue;
        };
        if last.is_some_and(|l| process.is_none() || l != process) {
            out.push(after_last_stack_line(raw, at, ends));
        }
        last = Some(process);
    }
    out.dedup();
    out
}

/// The start of the line after the last stack line (a frame `#N`, an indented frame, local or
/// value) or line starting with one of `ends` (what a dump ends with: gdb's `No locals.` and
/// `[Inferior N (process P) detached]`, the JVM's `JNI global refs`) before offset `at`, or
/// `at` when there is none.
pub fn after_last_stack_line(raw: &[u8], at: usize, ends: &[&[u8]]) -> usize {
    let mut end = at;
    while end > 0 {
        let start = memchr::memrchr(b'\n', &raw[..end - 1]).map_or(0, |i| i + 1);
        let line = &raw[start..end - 1];
        let stack = line
            .first()
            .is_some_and(|b| matches!(b, b'#' | b' ' | b'\t'))
            && line.iter().any(|b| !b.is_ascii_whitespace());
        if stack || ends.iter().any(|e| line.starts_with(e)) {
            return end;
        }
        end = start;
    }
    at
}

/// The number `line` holds right after `prefix`, when digits follow it and then `then`
/// (`PID 42 - process`: `PID `, ` - `).
pub fn number_after(line: &[u8], prefix: &[u8], then: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(prefix)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !rest[digits..].starts_with(then) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_naming_another_process_starts_its_dump_after_the_last_stack_line() {
        let pid = |l: &[u8]| number_after(l, b"PID ", b" - ").map(Some);
        let two = "PID 10 - process\nTID 10:\n#0  0x1 f\n\nand the other one:\nPID 20 - process\nTID 20:\n#0  0x1 g\n";
        let cut = at_headers(two.as_bytes(), b"PID ", &pid, &[]);
        assert_eq!(cut.len(), 1);
        assert!(two[cut[0]..].starts_with("\nand the other one:"));
        // The same process dumped twice is one process.
        let again = "PID 10 - process\nTID 10:\n#0  0x1 f\nPID 10 - process\nTID 10:\n#0  0x1 f\n";
        assert!(at_headers(again.as_bytes(), b"PID ", &pid, &[]).is_empty());
        // A header naming no process starts another dump each time.
        let jvm = |l: &[u8]| l.starts_with(b"Full thread dump").then_some(None);
        let text = "Full thread dump A:\n\"a\" #1\n\tat A.f(A.java:1)\n\nJNI global refs: 1\n2026-12-07 10:00:00\nFull thread dump A:\n";
        let cut = at_headers(
            text.as_bytes(),
            b"Full thread dump",
            &jvm,
            &[b"JNI global refs"],
        );
        assert!(
            text[cut[0]..].starts_with("2026-12-07"),
            "{}",
            &text[cut[0]..]
        );
    }
}
