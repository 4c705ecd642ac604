//! CPython's faulthandler output: `faulthandler.dump_traceback(all_threads=True)`, a fatal
//! error or signal, `dump_traceback_later`'s `Timeout (0:05:00)!`, `faulthandler.register`.
//!
//! ```text
//! Thread 0x00007f3a2c8ff640 (most recent call first):
//!   File "/app/worker.py", line 31 in drain
//! Current thread 0x00007f3a31e4a740 [python] (most recent call first):
//!   <no Python frame>
//! ```
//! Threads are named by their Python ident (the format gives no OS id); frames innermost
//! first, functions named by module (see [`super::python`]). `Fatal Python error: ...` is
//! the runtime's own word on the thread that raised it: kept as a claim, and as that thread's
//! status.

use super::normalize::normalize_with;
use super::python;
use super::skeleton::lines;
use super::skeleton::text::{find, trim};
use super::skeleton::Builder;
use super::DumpFormat;
use crate::model::{Claim, Snapshot, Thread};

/// The faulthandler format.
pub struct Faulthandler;

impl DumpFormat for Faulthandler {
    fn name(&self) -> &'static str {
        "faulthandler"
    }

    fn sniff(&self, text: &str) -> bool {
        text.lines()
            .take(400)
            .any(|l| header(l.trim()).is_some_and(|h| h.recent_first))
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        let text = normalize_with(raw, &stack_start, &|l| {
            header(l).is_some() || l.trim_start().starts_with("File \"")
        });
        let mut p = Parser::default();
        for (no, line) in lines(&text) {
            p.line(no, line);
        }
        p.finish(origin)
    }
}

/// Where a faulthandler line's own text begins (its two-space frame indentation included).
fn stack_start(line: &str) -> Option<usize> {
    if let Some(p) = find(line, "File \"") {
        return Some(if line[..p].ends_with("  ") { p - 2 } else { p });
    }
    ["Current thread 0x", "Thread 0x", "Stack (most recent"]
        .iter()
        .find_map(|h| find(line, h))
}

/// A thread header: `[Current thread|Thread] 0x<ident>[ [name]] (most recent call first):`
/// or `Stack (most recent call first):` (one thread, no ident).
struct Header<'a> {
    ident: Option<&'a str>,
    name: Option<&'a str>,
    current: bool,
    recent_first: bool,
}

fn header(line: &str) -> Option<Header<'_>> {
    let recent_first = line.contains("(most recent call first)");
    if line.starts_with("Stack (most recent call first)") {
        return Some(Header {
            ident: None,
            name: None,
            current: true,
            recent_first,
        });
    }
    let (current, rest) = match line.strip_prefix("Current thread ") {
        Some(r) => (true, r),
        None => (false, line.strip_prefix("Thread ")?),
    };
    let n = python::hex_len(rest)?;
    let after = &rest[n..];
    if !(after.is_empty() || after.starts_with(" (") || after.starts_with(" [")) {
        return None;
    }
    let name = after
        .strip_prefix(" [")
        .and_then(|s| s.find("] (").map(|e| &s[..e]));
    Some(Header {
        ident: Some(&rest[..n]),
        name,
        current,
        recent_first,
    })
}

/// `File "<path>", line <n|???> in <func>`; a cut line gives what it has.
fn frame(text: &str) -> Option<crate::model::Frame> {
    let rest = text.strip_prefix("File \"")?;
    let (file, tail) = match rest.rfind("\", line ") {
        Some(q) => (&rest[..q], &rest[q + "\", line ".len()..]),
        None => (rest.trim_end_matches('"'), ""),
    };
    let (line, func) = match tail.split_once(" in ") {
        Some((l, f)) => (l, f.trim()),
        None => (tail, ""),
    };
    Some(python::frame(func, file, line.trim().parse().ok()))
}

#[derive(Default)]
struct Parser {
    b: Builder,
    /// The thread the frames now read belong to.
    open: Option<usize>,
    saw_header: bool,
    /// More threads than faulthandler prints (an unindented `...` after the last).
    cut: bool,
    fatal: Option<(usize, String)>,
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        let text = trim(line);
        if text.is_empty() {
            self.open = None;
            return;
        }
        self.b.seen(no);
        if let Some(h) = header(text) {
            self.saw_header |= h.ident.is_some();
            let mut t = match h.ident {
                Some(id) => python::ident_thread(id),
                None => Thread::default(),
            };
            t.name = h.name.map(str::to_string);
            t.current = h.current;
            self.open = self.b.thread(t);
            if let Some(i) = self.open {
                self.b.stack_line_of(i, no);
            }
            return;
        }
        if let Some(f) = frame(text) {
            let idx = match self.open {
                Some(i) => i,
                // Past the thread cap.
                None if self.b.dropping() => return,
                None => {
                    self.diag(no, "frames with no thread header before them: read as one thread of unknown id");
                    match self.b.thread(Thread::default()) {
                        Some(i) => i,
                        None => return,
                    }
                }
            };
            self.open = Some(idx);
            if f.function.is_none() {
                self.b.threads[idx].partial = true;
            }
            self.b.push(idx, f);
            // CPython lists the main thread last: a dump whose last stack is not whole, or
            // is not the main thread's (`<module>`), was cut.
            self.b.stack_line_of(idx, no);
            return;
        }
        if text == "..." || text.starts_with("<truncated") {
            match (self.open, line.starts_with(' ')) {
                (Some(i), true) => self.b.threads[i].partial = true,
                _ => self.cut = true,
            }
            return;
        }
        if let Some(msg) = text.strip_prefix("Fatal Python error: ") {
            self.fatal.get_or_insert((no, msg.to_string()));
        }
        // Anything else: `<no Python frame>`, banners, `Extension modules: ...`, shell lines.
    }

    fn diag(&mut self, line: usize, message: &str) {
        self.b.diag(line, message);
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        self.b.nothing_found(
            "no faulthandler thread header or `File \"...\"` frame found in the input",
        );
        if self.cut {
            self.b.note(
                "faulthandler stopped listing threads (`...`): the process has more than it \
                 printed",
            );
        }
        // The fatal error is the runtime's word on what the current thread was doing (`could
        // not acquire lock for <...> at interpreter shutdown`): its status, for rules to read.
        if let Some((line, msg)) = self.fatal.take() {
            let mut threads = Vec::new();
            for t in self.b.threads.iter_mut().filter(|t| t.current) {
                t.status.get_or_insert_with(|| msg.clone());
                threads.extend(t.debugger_id.clone());
            }
            self.b.claims.push(Claim {
                text: format!("Fatal Python error: {msg}"),
                threads,
                deadlock: false,
                line: Some(line),
            });
        }
        let complete = self.saw_header && !self.cut;
        self.b.finish("faulthandler", origin, complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_frames_and_names() {
        let dump = b"Fatal Python error: Aborted\n\nThread 0x00007f3a2c8ff640 (most recent call first):\n  File \"/usr/lib/python3.12/threading.py\", line 1010 in run\n\nCurrent thread 0x00007f3a31e4a740 [python] (most recent call first):\n  File \"/app/main.py\", line ??? in <module>\n  File \"/app/cut.py\", line 9\n";
        let s = Faulthandler.parse(dump, "t");
        assert_eq!(s.threads.len(), 2);
        assert_eq!(
            s.threads[0].debugger_id.as_deref(),
            Some("0x00007f3a2c8ff640")
        );
        assert_eq!(
            s.threads[0].frames[0].function.as_deref(),
            Some("threading.run")
        );
        assert_eq!(s.threads[0].frames[0].line, Some(1010));
        let cur = &s.threads[1];
        assert!(cur.current && cur.partial);
        assert_eq!(cur.name.as_deref(), Some("python"));
        assert_eq!(cur.frames[0].line, None);
        assert_eq!(cur.frames[1].line, Some(9));
        assert_eq!(cur.frames[1].function, None);
        assert!(
            !s.complete,
            "a frame line cut short: not every stack is whole"
        );
        assert_eq!(s.claims[0].threads, vec!["0x00007f3a31e4a740"]);
        assert_eq!(
            cur.status.as_deref(),
            Some("Aborted"),
            "the fatal error's thread"
        );
        assert_eq!(s.threads[0].status, None);
    }

    #[test]
    fn a_cut_thread_list_is_incomplete_and_a_lone_stack_has_no_id() {
        let s = Faulthandler.parse(
            b"Thread 0x1 (most recent call first):\n  File \"a.py\", line 1 in f\n...\n",
            "t",
        );
        assert!(!s.complete);
        let s = Faulthandler.parse(
            b"Stack (most recent call first):\n  File \"a.py\", line 1 in f\n",
            "t",
        );
        assert_eq!(s.threads.len(), 1);
        assert_eq!(s.threads[0].debugger_id, None);
        assert!(!s.complete);
    }

    #[test]
    fn log_prefixes_go() {
        let s = Faulthandler.parse(
            b"app_1  | Thread 0x1 (most recent call first):\napp_1  |   File \"a.py\", line 1 in f\napp_1  |   File \"b.py\", line 2 in g\n",
            "t",
        );
        assert_eq!(s.threads.len(), 1);
        assert_eq!(s.threads[0].frames.len(), 2);
    }
}
