//! `py-spy dump` output, with or without `--native` and `--locals`, one process or several
//! pasted together (shell prompts, `=== PID n ===` markers, `head` cuts between them).
//!
//! ```text
//! Process 4242: python3 -m app.server
//! Python v3.11.4 (/usr/bin/python3.11)
//!
//! Thread 4242 (idle): "MainThread"
//!     _wait_for_tstate_lock (threading.py:1132)
//!         Arguments:
//!             self: <Thread at 0x7f00aa1ff640>
//!     PyThread_acquire_lock_timed (libpython3.11.so.1.0)
//! ```
//! A decimal id is the OS tid, a hex one the Python ident; the state (`idle`, `active`,
//! `active+gil`) is kept as the thread's status for the rules. Python frames are named by
//! module as faulthandler's are ([`super::python`]); native frames keep their symbol and
//! library.

use super::normalize::{is_clean_with, normalize_with};
use super::processes::{at_headers, number_after};
use super::python;
use super::skeleton::lines;
use super::skeleton::text::{find, rfind, trim, trim_start};
use super::skeleton::{pieces, Builder, Part};
use super::{DumpFormat, Release};
use crate::dump::skeleton::intern::share;
use crate::model::{Frame, Gap, Snapshot, Thread, Var};

/// The py-spy dump format.
pub struct PySpy;

impl DumpFormat for PySpy {
    fn name(&self) -> &'static str {
        "py-spy"
    }

    fn sniff(&self, text: &str) -> bool {
        text.lines().take(400).any(|l| header(l.trim()).is_some())
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        self.parse_releasing(raw, origin, &|_| {})
    }

    fn parse_releasing(&self, raw: &[u8], origin: &str, release: Release) -> Snapshot {
        in_pieces(raw, origin, release).unwrap_or_else(|| whole(raw, origin))
    }

    fn processes(&self, raw: &[u8]) -> Vec<usize> {
        let pid = |l: &[u8]| number_after(l, b"Process ", b":").map(Some);
        at_headers(raw, b"Process ", &pid, &[])
    }
}

/// The snapshot of a dump read in one go, on one core.
fn whole(raw: &[u8], origin: &str) -> Snapshot {
    let text = normalize_with(raw, &stack_start, &|l| header(l).is_some());
    let mut p = Parser::default();
    for (no, line) in lines(&text) {
        p.line(no, line);
    }
    p.finish(origin)
}

/// What a parser read from one piece of a big dump.
struct Read {
    part: Part,
    /// How many threads came before the piece's first `Process N:` line (all, without one):
    /// those are the process's that an earlier piece named last.
    before_process: usize,
    process: Option<u32>,
    processes: usize,
    cut: bool,
}

/// A big dump read on every core ([`pieces`]): cut before thread headers, each piece read on
/// its own and the threads put one after the other, each in the process named last before it.
/// `None` (read it whole) when it is small or cannot be cut.
fn in_pieces(raw: &[u8], origin: &str, release: Release) -> Option<Snapshot> {
    let starts = |_: &str, l: &str| header(trim(l)).is_some();
    let is_header = |l: &str| header(l).is_some();
    let cut = pieces::cut(raw, &starts, &|t| {
        is_clean_with(t, &stack_start, &is_header)
    })?;
    let reads = pieces::read_each(&cut, release, |piece| {
        let mut p = Parser::default();
        let before = piece.first_line - 1;
        let mut before_process = None;
        for (no, line) in lines(piece.text) {
            let threads = p.b.threads.len();
            p.line(before + no, line);
            if p.processes > 0 && before_process.is_none() {
                before_process = Some(threads);
            }
        }
        Read {
            before_process: before_process.unwrap_or(p.b.threads.len()),
            process: p.process,
            processes: p.processes,
            cut: p.cut,
            part: p.b.into_part(),
        }
    });
    let mut whole = Parser::default();
    for mut r in reads {
        for (t, _) in r.part.threads.iter_mut().take(r.before_process) {
            t.process = whole.process;
        }
        if r.processes > 0 {
            whole.process = r.process;
        }
        whole.processes += r.processes;
        whole.cut |= r.cut;
        whole.b.append(r.part);
    }
    Some(whole.finish(origin))
}

fn stack_start(line: &str) -> Option<usize> {
    find(line, "Thread ")
}

/// `Thread <id> (<state>)[: "<name>"]`.
struct Header<'a> {
    id: &'a str,
    status: &'a str,
    name: Option<&'a str>,
}

const STATES: [&str; 4] = ["idle", "active", "active+gil", "gil"];

fn header(line: &str) -> Option<Header<'_>> {
    let rest = line.strip_prefix("Thread ")?;
    let n = python::hex_len(rest)
        .unwrap_or_else(|| rest.bytes().take_while(u8::is_ascii_digit).count());
    let (id, after) = rest.split_at(n);
    let inner = after.strip_prefix(" (")?;
    let close = inner.find(')')?;
    let status = &inner[..close];
    if id.is_empty() || !STATES.contains(&status) {
        return None;
    }
    let name = inner[close + 1..]
        .strip_prefix(": \"")
        .map(|n| n.strip_suffix('"').unwrap_or(n));
    Some(Header { id, status, name })
}

/// A frame: `<func> (<file>:<line>)`, `<func> (<lib>)`, or a bare `<func>` cut off by a paste.
fn frame(text: &str) -> Frame {
    let Some(open) = text.strip_suffix(')').and_then(|t| rfind(t, " (")) else {
        return python::frame(text, "", None);
    };
    let func = &text[..open];
    let place = &text[open + 2..text.len() - 1];
    let (file, line) = match place.rsplit_once(':') {
        Some((f, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            (f, l.parse().ok())
        }
        _ => (place, None),
    };
    // `0x7fdb94aa3f16 (libc.so.6)`: a native frame py-spy found no symbol for.
    let mut f = match python::hex_len(func).filter(|&n| n == func.len()) {
        Some(_) => Frame {
            address: u64::from_str_radix(&func[2..], 16).ok(),
            file: Some(share(file)),
            ..Frame::default()
        },
        None => python::frame(func, file, line),
    };
    if line.is_none() && crate::names::python_module(file).is_none() {
        // `(libc.so.6)`: the object the native frame is in, not a source file.
        f.module = f.file.take();
    }
    f
}

/// What the indented lines after a frame are: `Arguments:` or `Locals:` values.
#[derive(Clone, Copy, PartialEq)]
enum Vars {
    Args,
    Locals,
}

#[derive(Default)]
struct Parser {
    b: Builder,
    /// The thread whose frames are being read.
    open: Option<usize>,
    vars: Option<Vars>,
    /// The process the `Process N:` line last named, and how many were named.
    process: Option<u32>,
    processes: usize,
    cut: bool,
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        let text = trim(line);
        let indent = line.len() - trim_start(line).len();
        if text.is_empty() {
            return;
        }
        if let Some(h) = header(text) {
            self.thread(h);
            return;
        }
        if let Some(rest) = text.strip_prefix("Process ") {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 && rest[digits..].starts_with(':') {
                self.process = rest[..digits].parse().ok();
                self.processes += 1;
                self.open = None;
                return;
            }
        }
        let Some(t) = self.open else {
            return;
        };
        if indent >= 8 {
            self.var(text);
            return;
        }
        if indent >= 4 {
            self.vars = None;
            if text == "..." {
                self.b.threads[t].partial = true;
                self.cut = true;
                return;
            }
            let f = frame(text);
            if f.file.is_none() && f.module.is_none() {
                self.b.threads[t].partial = true;
                self.b.diag(
                    no,
                    format!("frame `{text}` has no location: the paste may be cut here"),
                );
            }
            self.b.push(t, f);
            return;
        }
        // Shell prompts, `=== PID n ===`, comments: the thread's stack is over.
        self.open = None;
    }

    fn thread(&mut self, h: Header) {
        let mut t = match h.id.parse::<u64>() {
            Ok(tid) => Thread {
                tid: Some(tid),
                ..Thread::default()
            },
            Err(_) => python::ident_thread(h.id),
        };
        t.process = self.process;
        t.status = Some(h.status.to_string());
        t.name = h.name.map(str::to_string);
        // `None` past the thread cap: its frames go nowhere.
        self.open = self.b.thread(t);
        self.vars = None;
    }

    /// `Arguments:` / `Locals:` headings and the `name: repr` lines under them.
    fn var(&mut self, text: &str) {
        let heading = text.trim_end_matches(':');
        match heading {
            "Arguments" => self.vars = Some(Vars::Args),
            "Locals" => self.vars = Some(Vars::Locals),
            _ => {
                let (Some(kind), Some((name, value))) = (self.vars, text.split_once(": ")) else {
                    return;
                };
                let Some(f) = self.open.and_then(|t| self.b.threads[t].frames.last_mut()) else {
                    return;
                };
                let var = Var::new(share(name), share(value));
                match kind {
                    Vars::Args => f.push_arg(var),
                    Vars::Locals => f.locals.push(var),
                }
            }
        }
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        self.b
            .nothing_found("no py-spy `Thread <id> (<state>)` header found in the input");
        // One process: its id is the snapshot's, not repeated on every thread.
        if self.processes <= 1 {
            for t in &mut self.b.threads {
                t.process = None;
            }
        }
        if self.processes == 1 {
            self.b.pid = self.process;
        }
        // py-spy prints every thread, the main one first: threads named, none `MainThread`,
        // is a paste that lost threads.
        let named = self.b.threads.iter().any(|t| t.name.is_some());
        if self.processes == 1
            && named
            && !(self.b.threads.iter()).any(|t| t.name.as_deref() == Some("MainThread"))
        {
            self.b.note(
                "no `MainThread`, which py-spy prints first: threads were left out of the paste",
            );
            self.b.gap(Gap::Missing {
                threads: vec!["MainThread".to_string()],
            });
        }
        let complete = self.processes > 0 && !self.cut;
        // py-spy prints the main thread first, and no count nor end after the threads.
        self.b.gap(Gap::Unmarked {
            format: "py-spy".into(),
        });
        self.b.finish("py-spy", origin, complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let h = header("Thread 0x7F768F77C740 (idle): \"MainThread\"").unwrap();
        assert_eq!(
            (h.id, h.status, h.name),
            ("0x7F768F77C740", "idle", Some("MainThread"))
        );
        let h = header("Thread 4242 (active+gil)").unwrap();
        assert_eq!((h.id, h.status, h.name), ("4242", "active+gil", None));
        assert!(header("Thread 12 (LWP 12):").is_none());
        assert!(header("Thread 0x7f (most recent call first):").is_none());
    }

    #[test]
    fn frames_python_native_and_cut() {
        let f = frame("_recv (multiprocessing/connection.py:395)");
        assert_eq!(
            f.function.as_deref(),
            Some("multiprocessing.connection._recv")
        );
        assert_eq!(
            (f.file.as_deref(), f.line),
            (Some("multiprocessing/connection.py"), Some(395))
        );
        let f = frame("_run_code (<frozen runpy>:88)");
        assert_eq!(f.function.as_deref(), Some("runpy._run_code"));
        let f = frame("__futex_abstimed_wait_common (libc.so.6)");
        assert_eq!(f.function.as_deref(), Some("__futex_abstimed_wait_common"));
        assert_eq!(
            (f.module.as_deref(), f.file.as_deref()),
            (Some("libc.so.6"), None)
        );
        let f = frame("lock_PyThread_acquire_lock (_threadmodule.c:162)");
        assert_eq!(
            (f.file.as_deref(), f.line),
            (Some("_threadmodule.c"), Some(162))
        );
        let f = frame("0x7fdb94aa3f16 (libc.so.6)");
        assert_eq!(
            (f.function, f.address, f.module.as_deref()),
            (None, Some(0x7fdb94aa3f16), Some("libc.so.6"))
        );
        let f = frame("wait");
        assert_eq!(
            (f.function.as_deref(), f.file.as_deref()),
            (Some("wait"), None)
        );
    }

    #[test]
    fn locals_and_processes() {
        let dump = b"Process 10: a\nPython v3.11.4 (/usr/bin/python3.11)\n\nThread 10 (idle): \"MainThread\"\n    get (queue.py:171)\n        Arguments:\n            self: <Queue at 0x7f0>\n        Locals:\n            block: True\nProcess 11: b\n\nThread 0x7F01 (active+gil)\n    run (w.py:3)\n";
        let s = PySpy.parse(dump, "t");
        assert_eq!(s.threads.len(), 2);
        let f = &s.threads[0].frames[0];
        assert_eq!(f.arg("self"), Some("<Queue at 0x7f0>"));
        assert_eq!(&*f.locals[0].name, "block");
        assert_eq!(s.threads[0].tid, Some(10));
        assert_eq!(s.threads[0].process, Some(10));
        assert_eq!(s.threads[1].process, Some(11));
        assert_eq!(s.threads[1].debugger_id.as_deref(), Some("0x7F01"));
        assert_eq!(s.threads[1].status.as_deref(), Some("active+gil"));
        assert_eq!(s.pid, None);
        assert!(
            !s.complete,
            "py-spy prints no end: a copy cut between threads looks whole"
        );
    }

    #[test]
    fn a_big_dump_read_in_pieces_is_the_dump_read_whole() {
        use crate::dump::skeleton::pieces::check::{assert_same, repeated};
        // Several processes: each piece's first threads are in the process an earlier piece
        // named.
        let text = repeated("py-spy", ".txt", |_, r| r.to_string());
        let cut = super::in_pieces(text.as_bytes(), "big", &|_| {}).expect("read in pieces");
        let whole = super::whole(text.as_bytes(), "big");
        assert_same(&cut, &whole);
        assert!(whole.threads.iter().any(|t| t.process.is_some()));
    }
}
