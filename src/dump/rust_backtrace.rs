//! Rust's own backtraces: panics (`RUST_BACKTRACE=1` and `full`), a printed
//! `std::backtrace::Backtrace`, and parking_lot's `deadlock_detection` report, in any number
//! and interleaved with the program's log lines (which may carry a prefix).
//!
//! ```text
//! thread 'pool-2' (4242) panicked at src/pool.rs:88:9:
//! called `Option::unwrap()` on a `None` value
//! stack backtrace:
//!    0:     0x55d1c0a1b2c3 - myapp::pool::Pool::join::h0123456789abcdef
//!                                at /src/pool.rs:88:9
//!                            myapp::pool::inlined_caller
//! 1 deadlocks detected
//! Deadlock #0
//! Thread Id 140200000000000
//!    0: ...
//! ```
//! Symbols are named as gdb prints them (no `::h<hash>`, no `[..]` crate disambiguators,
//! `{{closure}}`), so one rule matches a live capture, a gdb dump and a panic alike. A block
//! of frames belongs to the panic header, `Thread Id` or nothing before it; frames restart at
//! 0 for each stack. Each `Deadlock #k` is the runtime's claim, naming its threads.

use super::normalize::normalize_with;
use super::skeleton::lines;
use super::skeleton::Builder;
use super::DumpFormat;
use crate::dump::skeleton::intern::{derived, share, share_owned};
use crate::dump::skeleton::text::{find, trim, trim_start};
use crate::model::{Claim, Frame, Snapshot, Thread};
use crate::names::{base_name, rust_like_gdb};

/// Rust panics, `std::backtrace` and parking_lot's deadlock report.
pub struct RustBacktrace;

impl DumpFormat for RustBacktrace {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn sniff(&self, text: &str) -> bool {
        text.lines().take(400).any(|l| {
            let t = l.trim_start_matches(['>', ' ', '\t']).trim_end();
            t.starts_with("stack backtrace:")
                || t.ends_with("deadlocks detected")
                || frame_line(t).is_some_and(|f| f.address.is_some())
        })
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        let text = normalize_with(raw, &stack_start, &is_stack_line);
        let mut p = Parser::default();
        for (no, line) in lines(&text) {
            p.line(no, line);
        }
        p.finish(origin)
    }
}

/// Where a line's own text would begin: a frame number, a report or panic line. Only what
/// precedes it up to its last space is a prefix (the indentation belongs to the stack).
fn stack_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let markers = ["Thread Id ", "Deadlock #", "thread '", "stack backtrace:"];
    let at = markers.iter().find_map(|m| find(line, m)).or_else(|| {
        (0..b.len()).find(|&i| {
            b[i].is_ascii_digit()
                && (i == 0 || b[i - 1] == b' ')
                && frame_parts(&line[i..]).is_some()
        })
    })?;
    let before = line[..at].trim_end();
    if before.is_empty() {
        return Some(0);
    }
    let space = line[before.len()..]
        .chars()
        .next()
        .map_or(0, char::len_utf8);
    Some(before.len() + space)
}

fn is_stack_line(l: &str) -> bool {
    let t = l.trim();
    t.starts_with("Thread Id ") || frame_parts(t).is_some()
}

/// One numbered frame line: `N: [ADDR - ]symbol`.
fn frame_line(t: &str) -> Option<Frame> {
    let (index, address, symbol) = frame_parts(t)?;
    let function = derived(&["rust", symbol], || function_name(symbol).map(share_owned));
    Some(Frame {
        index: Some(index),
        address,
        function,
        ..Frame::default()
    })
}

/// A frame line's number, address and symbol, if it is one.
fn frame_parts(t: &str) -> Option<(u32, Option<u64>, &str)> {
    let n = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = t[n..].strip_prefix(": ")?;
    let index: u32 = t[..n].parse().ok()?;
    let rest = rest.trim_start();
    let mut address = None;
    let symbol = match rest.strip_prefix("0x") {
        Some(hex) => {
            let h = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
            let tail = hex[h..].trim_start();
            if h == 0 || !(tail.is_empty() || tail.starts_with("- ")) {
                return None;
            }
            address = u64::from_str_radix(&hex[..h], 16).ok().filter(|&a| a != 0);
            tail.strip_prefix("- ").unwrap_or("")
        }
        None => rest,
    };
    let symbol = symbol.trim();
    if symbol.is_empty() && address.is_none() && !rest.starts_with("0x") {
        return None;
    }
    Some((index, address, symbol))
}

/// A symbol as gdb would print it; `None` for `<unknown>`. Legacy-mangled names print as
/// gdb prints them once the hash is gone; v0 ones (crate disambiguators, `{closure#0}`) are
/// reshaped as the symbolizer does.
fn function_name(symbol: &str) -> Option<String> {
    if symbol.is_empty() || symbol == "<unknown>" {
        return None;
    }
    let base = base_name(symbol);
    let mut s = if base.contains('[') {
        drop_disambiguators(base)
    } else {
        base.to_string()
    };
    if s.len() == base.len() && !s.contains("{closure#") {
        return Some(s);
    }
    while let Some(p) = s.find("{closure#") {
        let end = s[p..].find('}').map_or(s.len(), |e| p + e + 1);
        s.replace_range(p..end, "{{closure}}");
    }
    Some(rust_like_gdb(s))
}

/// `std[e28293b1aa0f68bd]::io` → `std::io`: v0 crate disambiguators, which gdb does not print.
fn drop_disambiguators(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'[' && i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
            let hex = b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            if hex > 0 && b.get(i + 1 + hex) == Some(&b']') {
                i += hex + 2;
                continue;
            }
        }
        let len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + len]);
        i += len;
    }
    out
}

/// `at <file>:<line>[:<col>]`.
fn location(t: &str) -> Option<(&str, Option<u32>)> {
    let loc = t.strip_prefix("at ")?.trim();
    let number = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let Some((head, last)) = loc.rsplit_once(':').filter(|(_, l)| number(l).is_some()) else {
        return Some((loc, None));
    };
    // `file:line:col`, else `file:line`.
    if let Some((file, line)) = head.rsplit_once(':') {
        if let Some(n) = number(line) {
            return Some((file, Some(n)));
        }
    }
    Some((head, number(last)))
}

/// `thread 'name' [(tid) ]panicked at ...`: the name (`None` for `<unnamed>`), the tid, and
/// the text from `panicked`.
fn panic_header(line: &str) -> Option<(Option<&str>, Option<u64>, &str)> {
    let at = find(line, "thread '")?;
    let rest = &line[at + "thread '".len()..];
    let (name, after) = rest.split_once('\'')?;
    let after = after.trim_start();
    let (tid, after) = match after.strip_prefix('(') {
        Some(r) => {
            let (n, a) = r.split_once(')')?;
            (n.parse().ok(), a.trim_start())
        }
        None => (None, after),
    };
    let text = after.strip_suffix(':').unwrap_or(after);
    text.starts_with("panicked")
        .then_some(((name != "<unnamed>").then_some(name), tid, text))
}

#[derive(Default)]
struct Parser {
    b: Builder,
    /// The thread whose frames are being read (`None`: past the thread cap), and the last frame
    /// number read for it.
    open: Option<(Option<usize>, Option<u32>)>,
    /// A panic whose message line is next.
    message_for: Option<usize>,
    /// parking_lot's `N deadlocks detected` line, and the claim of the `Deadlock #k` block.
    summary: Option<String>,
    deadlock: Option<usize>,
    /// The line of a frame number with nothing after it (`9:`): a frame line cut short.
    cut_frame: Option<usize>,
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        let t = trim(line);
        if t.is_empty() {
            return;
        }
        self.b.seen(no);
        if let Some(thread) = self.message_for.take() {
            if !t.starts_with("stack backtrace:") && !t.starts_with("note:") {
                if let Some(n) = self.b.threads[thread].notes.last_mut() {
                    n.push_str(": ");
                    n.push_str(t);
                }
                return;
            }
        }
        if let Some((name, tid, text)) = panic_header(t) {
            let idx = self.new_thread(Thread {
                name: name.map(str::to_string),
                tid,
                notes: vec![text.to_string()],
                ..Thread::default()
            });
            self.message_for = idx;
            return;
        }
        if let Some(f) = frame_line(t) {
            self.frame(no, f);
            self.stack_line(no);
            return;
        }
        if t.strip_suffix(':')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            self.cut_frame = Some(no);
            self.stack_line(no);
            return;
        }
        let indent = line.len() - trim_start(line).len();
        if let Some((file, l)) = location(t).filter(|_| indent >= 4) {
            self.stack_line(no);
            if let Some(f) = self.open_frames().and_then(|fs| fs.last_mut()) {
                if f.file.is_none() {
                    f.file = Some(share(file));
                    f.line = l;
                }
            }
            return;
        }
        if t.starts_with("stack backtrace:") {
            let reuse = self
                .open
                .filter(|&(i, _)| i.is_none_or(|i| self.b.threads[i].frames.is_empty()));
            if reuse.is_none() {
                self.new_thread(Thread::default());
            }
            return;
        }
        if let Some(id) = t.strip_prefix("Thread Id ") {
            let digits = id.bytes().take_while(u8::is_ascii_digit).count();
            let id = &id[..digits];
            self.new_thread(Thread {
                debugger_id: Some(id.to_string()),
                pthread: id.parse().ok(),
                ..Thread::default()
            });
            self.stack_line(no);
            match self.deadlock {
                Some(c) => self.b.claims[c].threads.push(id.to_string()),
                None => self.diag(no, "a `Thread Id` with no `Deadlock #` block before it"),
            }
            return;
        }
        if let Some(k) = t.strip_prefix("Deadlock #") {
            let summary = self.summary.as_deref().unwrap_or("deadlocks detected");
            self.b.claims.push(Claim {
                text: format!("{summary}: Deadlock #{k}"),
                threads: Vec::new(),
                deadlock: true,
                line: Some(no),
            });
            self.deadlock = Some(self.b.claims.len() - 1);
            self.open = None;
            return;
        }
        if let Some(p) = t.find(" deadlocks detected") {
            // The count: the digits right before it, whatever (and however wide) precedes them.
            let start = p - t[..p].bytes().rev().take_while(u8::is_ascii_digit).count();
            self.summary = Some(t[start..].to_string());
            self.open = None;
            return;
        }
        if t.starts_with("note: Some details are omitted") {
            if let Some((Some(i), _)) = self.open.take() {
                self.b.threads[i].partial = true;
            }
            return;
        }
        // An inlined caller printed under a numbered frame, aligned with its symbol.
        if indent >= 6 && self.open.is_some_and(|(_, last)| last.is_some()) {
            if let Some(function) = function_name(t) {
                self.inlined(function);
                self.stack_line(no);
            }
        }
        // Anything else is the program's own output, interleaved.
    }

    /// Line `no` belongs to the open thread's stack.
    fn stack_line(&mut self, no: usize) {
        if let Some((Some(i), _)) = self.open {
            self.b.stack_line_of(i, no);
        }
    }

    /// Starts a thread; its index, `None` past the thread cap.
    fn new_thread(&mut self, t: Thread) -> Option<usize> {
        let idx = self.b.thread(t);
        self.open = Some((idx, None));
        idx
    }

    fn open_frames(&mut self) -> Option<&mut Vec<Frame>> {
        let (i, _) = self.open?;
        Some(&mut self.b.threads[i?].frames)
    }

    fn frame(&mut self, no: usize, f: Frame) {
        let index = f.index.unwrap_or(0);
        let continues = self
            .open
            .is_some_and(|(_, last)| last.is_none_or(|l| index > l));
        if !continues {
            let idx = self.new_thread(Thread::default());
            if let Some(idx) = idx.filter(|_| index > 0) {
                self.b.threads[idx].partial = true;
                self.diag(no, &format!("a backtrace starts at frame {index}: its first frames are not in the input"));
            }
        }
        let Some((i, last)) = &mut self.open else {
            return;
        };
        *last = Some(index);
        if let Some(i) = i {
            self.b.push(*i, f);
        }
    }

    /// A caller printed under the last frame without a number: the last frame was inlined
    /// into it, and it has the same address.
    fn inlined(&mut self, function: String) {
        let Some(frames) = self.open_frames() else {
            return;
        };
        let Some(last) = frames.last_mut() else {
            return;
        };
        last.inlined = true;
        let (index, address) = (last.index, last.address);
        frames.push(Frame {
            index,
            address,
            function: Some(share_owned(function)),
            ..Frame::default()
        });
    }

    fn diag(&mut self, line: usize, message: &str) {
        self.b.diag(line, message);
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        let last = self.b.last_seen();
        if let (Some(c), Some(line)) = (self.deadlock, self.cut_frame.filter(|&l| l == last)) {
            // Cut inside a `Deadlock #k` block's frame line: the report lists its threads with
            // no count, so more may have followed; its claim is left out.
            self.b.claims.remove(c);
            self.b.diag(
                line,
                "the input ends inside a frame line of parking_lot's deadlock report: threads \
                 of the deadlock may follow, so the report is left out",
            );
        }
        self.b
            .nothing_found("no Rust panic, backtrace or parking_lot report found in the input");
        // Panics and parking_lot's report show some threads, never all of them.
        self.b.finish("rust", origin, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_gdb_prints_them() {
        for (printed, gdb) in [
            (
                "std::thread::JoinInner<T>::join::h0123456789abcdef",
                "std::thread::JoinInner<T>::join",
            ),
            (
                "<std[e28293b1aa0f68bd]::sys::thread::unix::Thread>::new::thread_start",
                "std::sys::thread::unix::Thread::new::thread_start",
            ),
            (
                "std[e28293b1aa0f68bd]::panicking::default_hook::{closure#0}",
                "std::panicking::default_hook::{{closure}}",
            ),
            (
                "core::slice::<impl [T]>::len",
                "core::slice::<impl [T]>::len",
            ),
        ] {
            assert_eq!(function_name(printed).as_deref(), Some(gdb));
        }
        assert_eq!(function_name("<unknown>"), None);
    }

    #[test]
    fn frame_lines() {
        let f = frame_line("12:     0x55e9a509c59a - std::io::x::h0123456789abcdef").unwrap();
        assert_eq!((f.index, f.address), (Some(12), Some(0x55e9a509c59a)));
        assert_eq!(f.function.as_deref(), Some("std::io::x"));
        let f = frame_line("20:                0x0 - <unknown>").unwrap();
        assert_eq!((f.address, f.function), (None, None));
        assert!(frame_line("2: core::panicking::panic_fmt").is_some());
        assert!(frame_line("error 42: oops").is_none());
        assert!(frame_line("3:").is_none());
        assert_eq!(
            location("at /rustc/x/library/std/src/panicking.rs:689:5"),
            Some(("/rustc/x/library/std/src/panicking.rs", Some(689)))
        );
        assert_eq!(location("at src/main.rs:3"), Some(("src/main.rs", Some(3))));
    }

    #[test]
    fn panics_inlined_frames_and_reports() {
        let dump = "\
[INFO app] starting
thread 'pool-2' (77) panicked at src/pool.rs:88:9:
called `Option::unwrap()` on a `None` value
stack backtrace:
   0: std::panicking::begin_panic_handler
             at /rustc/abc/library/std/src/panicking.rs:652:5
[INFO app] still going
   1:     0x55d1c0a1b2c3 - myapp::pool::Pool::run::h0123456789abcdef
                               at /src/pool.rs:88:9
                           myapp::pool::worker
                               at /src/pool.rs:12:1
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
1 deadlocks detected
Deadlock #0
Thread Id 140200000000000
   0:     0x55d1c0000100 - parking_lot::raw_mutex::RawMutex::lock_slow::h0123456789abcdef
";
        let s = RustBacktrace.parse(dump.as_bytes(), "t");
        assert_eq!(s.threads.len(), 2);
        let p = &s.threads[0];
        assert_eq!((p.name.as_deref(), p.tid), (Some("pool-2"), Some(77)));
        assert!(p.partial);
        assert_eq!(
            p.notes,
            vec!["panicked at src/pool.rs:88:9: called `Option::unwrap()` on a `None` value"]
        );
        let names: Vec<_> = p
            .frames
            .iter()
            .map(|f| f.function.as_deref().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "std::panicking::begin_panic_handler",
                "myapp::pool::Pool::run",
                "myapp::pool::worker"
            ]
        );
        assert!(p.frames[1].inlined && !p.frames[2].inlined);
        assert_eq!(p.frames[2].address, Some(0x55d1c0a1b2c3));
        assert_eq!((p.frames[1].line, p.frames[2].line), (Some(88), Some(12)));
        let d = &s.threads[1];
        assert_eq!(d.debugger_id.as_deref(), Some("140200000000000"));
        assert_eq!(s.claims.len(), 1);
        assert_eq!(s.claims[0].text, "1 deadlocks detected: Deadlock #0");
        assert_eq!(s.claims[0].threads, vec!["140200000000000"]);
        assert!(!s.complete);
    }

    #[test]
    fn a_deadlock_count_after_a_wide_character() {
        // Found by the dump_rust fuzz target: the count's start was taken one byte after the
        // character before it, inside it when it is wider than a byte.
        for prefix in ["é", "日本", "\u{fffd}", "ok: "] {
            let dump = format!("{prefix}12 deadlocks detected\nDeadlock #0\nThread Id 7\n");
            let s = RustBacktrace.parse(dump.as_bytes(), "t");
            assert_eq!(s.claims[0].text, "12 deadlocks detected: Deadlock #0");
        }
    }
}
