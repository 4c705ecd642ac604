//! One native frame line as gdb prints it (and pstack, which runs gdb; lldb and eu-stack use
//! its pieces): `#N  [ADDR in ]FUNC[ (ARGS)][ at FILE:LINE][ from LIB]`.
//!
//! C++ names nest `()`, `<>`, `[]` and `{}` arbitrarily and argument values hold quoted strings,
//! so nothing here splits on spaces: the argument list is the last balanced `(...)` at depth 0
//! that is followed by the end, ` at ` or ` from `.

use super::intern::share;
use super::text::{trim, trim_end, trim_start};
use crate::model::{Frame, Var};

/// `#12  ...` → (12, rest of the line).
pub fn frame_number(line: &str) -> Option<(u32, &str)> {
    let t = line.strip_prefix('#')?;
    let n = t.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || !matches!(t.as_bytes().get(n), Some(b' ' | b'\t')) {
        return None;
    }
    Some((t[..n].parse().ok()?, trim_start(&t[n..])))
}

/// Parses the text after `#N` (or an `info threads` Frame column). Returns `None` when the text
/// is not a frame at all.
pub fn parse_frame_text(index: Option<u32>, text: &str) -> Option<Frame> {
    let text = trim(text);
    if text.is_empty() {
        return None;
    }
    if index.is_some_and(|i| i > 0) && swallowed_marker(text) {
        return Some(signal_frame(index));
    }
    let mut frame = Frame {
        index,
        ..Frame::default()
    };
    let mut rest = text;
    if let Some(after) = rest.strip_prefix("0x") {
        let hex_len = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex_len > 0 {
            frame.address = u64::from_str_radix(&after[..hex_len], 16).ok();
            let tail = &after[hex_len..];
            match tail.strip_prefix(" in ") {
                Some(t) => rest = t,
                // A bare address (`#7  0x0000000000401234`) or `0x.. ()`.
                None => {
                    rest = trim_start(tail);
                    if rest.is_empty() || rest == "()" {
                        return Some(frame);
                    }
                }
            }
        }
    } else {
        // gdb omits the address for inlined frames and for frame #0 at a line boundary.
        frame.inlined = index.is_some_and(|i| i > 0);
    }
    if rest.starts_with("<signal handler called>") {
        frame.signal_frame = true;
        frame.function = Some(share("<signal handler called>"));
        return Some(frame);
    }
    let (head, tail) = split_location(rest);
    apply_location(&mut frame, tail);
    let (func, args) = split_args(head);
    let func = trim(func);
    if func.is_empty() {
        return None;
    }
    if func != "??" {
        frame.function = Some(share(func));
    }
    if let Some(args) = args {
        frame.args = split_vars(args).into();
    }
    Some(frame)
}

/// gdb's `<signal handler called>` marker frame, as gdb prints it with no address.
pub fn signal_frame(index: Option<u32>) -> Frame {
    Frame {
        index,
        inlined: index.is_some_and(|i| i > 0),
        signal_frame: true,
        function: Some(share("<signal handler called>")),
        ..Frame::default()
    }
}

/// Whether a frame's text is what Markdown leaves of `<signal handler called>`, the one frame
/// gdb prints as `<...>` alone: taken for an HTML tag it is gone (a blank `#N` line, see
/// [`blank_frame_number`]), or emphasis ate its brackets (`*signal handler called*`) or left
/// only its marks (`**`). No function gdb names is made of `*`, `_` and `\` alone.
fn swallowed_marker(text: &str) -> bool {
    let first = text.as_bytes()[0];
    if !matches!(first, b'*' | b'_' | b'\\' | b'<' | b's') {
        return false;
    }
    let words = text.trim_matches(|c: char| matches!(c, '*' | '_' | '\\' | '<' | '>' | ' '));
    words.is_empty() || words == "signal handler called"
}

/// A frame line Markdown emptied: `#N` and nothing after it (see [`swallowed_marker`]).
pub fn blank_frame_number(line: &str) -> Option<u32> {
    let digits = line.strip_prefix('#')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Splits `head at file:line` / `head from lib` at the last depth-0 location keyword.
pub fn split_location(s: &str) -> (&str, &str) {
    const SPECIAL: [bool; 256] = byte_set(b"\"'()[]{} ");
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    let mut cut = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                i = skip_quoted(bytes, i + 1, b'"');
                continue;
            }
            b'\'' if depth > 0 => {
                i = skip_quoted(bytes, i + 1, b'\'');
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b' ' if depth <= 0 && (s[i..].starts_with(" at ") || s[i..].starts_with(" from ")) => {
                cut = Some(i);
            }
            _ => {}
        }
        i += 1;
    }
    match cut {
        Some(c) => (&s[..c], &s[c + 1..]),
        None => (s, ""),
    }
}

/// The bytes a scanner stops at, as a lookup table (the scanners skip everything else).
const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        set[bytes[i] as usize] = true;
        i += 1;
    }
    set
}

/// From just inside a quote opened by `q`, the position after the quote that closes it
/// (backslash escapes skipped), or past the end when it never closes.
fn skip_quoted(bytes: &[u8], mut i: usize, q: u8) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == q => return i + 1,
            _ => i += 1,
        }
    }
    i
}

fn apply_location(frame: &mut Frame, tail: &str) {
    if let Some(lib) = tail.strip_prefix("from ") {
        frame.module = Some(share(trim(lib)));
        return;
    }
    let Some(loc) = tail.strip_prefix("at ") else {
        return;
    };
    let loc = trim(loc);
    if let Some((file, line)) = split_file_line(loc) {
        frame.file = Some(share(file));
        frame.line = Some(line);
        return;
    }
    // Seen: `at /lib64/libpthread.so.0` (a library after `at`).
    if loc.contains(".so") {
        frame.module = Some(share(loc));
    } else {
        frame.file = Some(share(loc));
    }
}

/// `file:line` or `file:line:column` (tools other than gdb print the column) → (file, line).
pub fn split_file_line(loc: &str) -> Option<(&str, u32)> {
    let (head, last) = loc.rsplit_once(':')?;
    let last: u32 = last.parse().ok()?;
    if let Some((file, line)) = head.rsplit_once(':') {
        if let Ok(line) = line.parse::<u32>() {
            if !file.is_empty() {
                return Some((file, line));
            }
        }
    }
    (!head.is_empty()).then_some((head, last))
}

/// Splits `func (args)` into the function and the inside of its argument list.
fn split_args(head: &str) -> (&str, Option<&str>) {
    let head = trim_end(head);
    match final_group(head) {
        // The argument list is separated from the name by a space; a `(` glued to the name is
        // part of a C++ signature (`wait(std::unique_lock<..>&)`).
        Some(open) if open > 0 && head.as_bytes()[open - 1] == b' ' => {
            (&head[..open - 1], Some(&head[open + 1..head.len() - 1]))
        }
        _ => (head, None),
    }
}

/// Where the `(` is that the final `)` of `s` closes, walking back over nested brackets and
/// quoted strings; `None` when `s` does not end with `)` or the group never opens.
pub fn final_group(s: &str) -> Option<usize> {
    const SPECIAL: [bool; 256] = byte_set(b"\"()[]{}");
    if !s.ends_with(')') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        let b = bytes[i];
        if !SPECIAL[usize::from(b)] {
            continue;
        }
        match b {
            // Back to the unescaped `"` that opened the string; none: no group.
            b'"' => loop {
                if i == 0 {
                    return None;
                }
                i -= 1;
                if bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\\') {
                    break;
                }
            },
            b')' | b']' | b'}' => depth += 1,
            _ => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
        }
    }
    None
}

/// Splits `a=1, b={x = 2, y = 3}, c="s, t"` into variables: at depth-0 `, ` followed by `name=`.
pub fn split_vars(s: &str) -> Vec<Var> {
    const SPECIAL: [bool; 256] = byte_set(b"\"'()[]{}<>,");
    // Where each variable ends: the list is sized from them, kept as long as the snapshot.
    let mut ends = Ends::default();
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !SPECIAL[usize::from(b)] {
            i += 1;
            continue;
        }
        match b {
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i + 1, b);
                continue;
            }
            b'(' | b'[' | b'{' | b'<' => depth += 1,
            b')' | b']' | b'}' | b'>' => depth = (depth - 1).max(0),
            b',' if depth == 0 && starts_new_var(&s[i + 1..]) => ends.push(i),
            _ => {}
        }
        i += 1;
    }
    ends.push(s.len());
    let mut out = Vec::with_capacity(ends.len());
    let mut start = 0;
    for end in ends.iter() {
        push_var(&mut out, &s[start..end]);
        start = end + 1;
    }
    out
}

/// Positions in a list: the first few in place, the rest (long lists only) on the heap.
#[derive(Default)]
struct Ends {
    near: [usize; 16],
    len: usize,
    far: Vec<usize>,
}

impl Ends {
    fn push(&mut self, at: usize) {
        match self.near.get_mut(self.len) {
            Some(slot) => *slot = at,
            None => self.far.push(at),
        }
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let near = &self.near[..self.len.min(self.near.len())];
        near.iter().chain(&self.far).copied()
    }
}

fn starts_new_var(rest: &str) -> bool {
    let rest = trim_start(rest);
    let name_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#' | b'.' | b'@'))
        .count();
    // `(null)`: lldb's name for an unnamed parameter.
    (name_len > 0 && rest[name_len..].starts_with('=')) || rest.starts_with("(null)=")
}

fn push_var(out: &mut Vec<Var>, s: &str) {
    let s = trim(s);
    if s.is_empty() {
        return;
    }
    match s.bytes().position(|b| b == b'=') {
        Some(eq) => out.push(Var::new(share(trim(&s[..eq])), share(trim(&s[eq + 1..])))),
        None => out.push(Var::new(share(""), share(s))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_frame_with_args_and_source() {
        let f = parse_frame_text(
            Some(3),
            "0x00005600de01 in pool_run (p=0x5600aa, n=3) at pool.c:88",
        )
        .unwrap();
        assert_eq!(f.address, Some(0x5600de01));
        assert_eq!(f.function.as_deref(), Some("pool_run"));
        assert_eq!(f.arg("p"), Some("0x5600aa"));
        assert_eq!(f.arg("n"), Some("3"));
        assert_eq!(f.file.as_deref(), Some("pool.c"));
        assert_eq!(f.line, Some(88));
        assert!(!f.inlined);
    }

    #[test]
    fn inlined_frame_has_no_address() {
        let f =
            parse_frame_text(Some(4), "worker_main (arg=<optimized out>) at worker.c:12").unwrap();
        assert!(f.inlined);
        assert_eq!(f.function.as_deref(), Some("worker_main"));
        assert_eq!(f.arg("arg"), Some("<optimized out>"));
    }

    #[test]
    fn cxx_signature_is_part_of_the_name() {
        let f = parse_frame_text(
            Some(12),
            "0x0000000004ed23e0 in std::condition_variable::wait(std::unique_lock<std::mutex>&) ()",
        )
        .unwrap();
        assert_eq!(
            f.function.as_deref(),
            Some("std::condition_variable::wait(std::unique_lock<std::mutex>&)")
        );
        assert!(f.args.is_empty());
    }

    #[test]
    fn library_frame_and_unknown_function() {
        let f = parse_frame_text(
            Some(0),
            "0x00007f47d12ec3ae in __lll_lock_wait_private () from /lib64/libc.so.6",
        )
        .unwrap();
        assert_eq!(f.module.as_deref(), Some("/lib64/libc.so.6"));
        let f = parse_frame_text(Some(61), "0x000000000492ac9c in ?? ()").unwrap();
        assert_eq!(f.function, None);
        let f = parse_frame_text(
            Some(3),
            "0x00007fa1228fb3df in dl_iterate_phdr () at /lib64/libc.so.6",
        )
        .unwrap();
        assert_eq!(f.module.as_deref(), Some("/lib64/libc.so.6"));
        assert_eq!(f.file, None);
    }

    #[test]
    fn signal_marker() {
        let f = parse_frame_text(
            Some(18),
            "0x00007fa122b9b100 in <signal handler called> () at /lib64/libpthread.so.0",
        )
        .unwrap();
        // gdb prints the marker after an address in some builds; it is still the marker.
        assert!(f.signal_frame);
        let f = parse_frame_text(Some(33), "<signal handler called>").unwrap();
        assert!(f.signal_frame);
    }

    #[test]
    fn what_markdown_left_of_the_signal_marker() {
        for text in [
            "*signal handler called*",
            "**",
            "\\<signal handler called\\>",
            "_",
        ] {
            let f = parse_frame_text(Some(6), text).unwrap();
            assert!(f.signal_frame, "{text}");
        }
        assert!(
            !parse_frame_text(Some(6), "signal_handler (sig=1)")
                .unwrap()
                .signal_frame
        );
        assert!(
            !parse_frame_text(Some(6), "*this_fn ()")
                .unwrap()
                .signal_frame
        );
        assert_eq!(blank_frame_number("#13"), Some(13));
        assert_eq!(blank_frame_number("#"), None);
        assert_eq!(blank_frame_number("#1a"), None);
    }

    #[test]
    fn strings_with_commas_and_at() {
        let f = parse_frame_text(
            Some(4),
            r#"0x1 in qemu_cond_wait_impl (cond=0x55, mutex=0x5555568bb280 <qemu_global_mutex>, file=0x5555561ca869 "a, b at c.c:1", line=514) at ../util/qemu-thread-posix.c:194"#,
        )
        .unwrap();
        assert_eq!(f.arg("mutex"), Some("0x5555568bb280 <qemu_global_mutex>"));
        assert_eq!(f.arg("line"), Some("514"));
        assert_eq!(f.line, Some(194));
    }

    #[test]
    fn lambda_and_operator_call() {
        let f = parse_frame_text(
            Some(27),
            "0x0000000002bbad2f in <lambda(nebula::SignalHandler::GeneralSignalInfo*)>::operator()(nebula::SignalHandler::GeneralSignalInfo *) const (__closure=0x5d93360 <nebula::SignalHandler::get()::instance+448>, info=0x7f3c1c8fe030) at /root/src/nebula/src/daemons/StorageDaemon.cpp:174",
        )
        .unwrap();
        assert_eq!(
            f.function.as_deref(),
            Some("<lambda(nebula::SignalHandler::GeneralSignalInfo*)>::operator()(nebula::SignalHandler::GeneralSignalInfo *) const")
        );
        assert_eq!(f.arg("info"), Some("0x7f3c1c8fe030"));
    }

    #[test]
    fn entry_values_and_struct_values() {
        let vars = split_vars("x=x@entry=0x10, s={a = 1, b = {c = 2}}, c=99 'c', r=@0x7ffd: 0");
        assert_eq!(vars.len(), 4);
        assert_eq!(&*vars[0].value, "x@entry=0x10");
        assert_eq!(&*vars[1].value, "{a = 1, b = {c = 2}}");
        assert_eq!(&*vars[3].value, "@0x7ffd: 0");
    }

    #[test]
    fn columns_after_the_line() {
        let f = parse_frame_text(Some(0), "0x1 in __GI___poll at poll.c:29:10").unwrap();
        assert_eq!((f.file.as_deref(), f.line), (Some("poll.c"), Some(29)));
        assert_eq!(split_file_line("a.c:7"), Some(("a.c", 7)));
        assert_eq!(split_file_line("C:12"), Some(("C", 12)));
        assert_eq!(split_file_line(":12"), None);
        assert_eq!(split_file_line("a.c:x:3"), Some(("a.c:x", 3)));
    }

    #[test]
    fn garbage_is_not_a_frame() {
        assert!(parse_frame_text(Some(0), "").is_none());
        assert!(parse_frame_text(Some(0), "   ").is_none());
    }
}
