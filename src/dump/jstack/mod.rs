//! Java thread dumps: `jstack [-l]`, `jcmd PID Thread.print [-l]`, `kill -3` output, VisualVM's
//! variant, and the JVM's "Found one Java-level deadlock" report, alone or after the threads.
//!
//! Each `"name" … nid=…` header opens a thread: the OS tid is `nid` (or JDK 19's `[tid]`), the
//! dump's own id the `#N`. Its `java.lang.Thread.State:` becomes the status, `at` lines frames,
//! `- ` lines notes of the frame above (`locked <0x…>`, `waiting to lock <0x…>`, ...), and the
//! entries under `Locked ownable synchronizers:` notes of the thread. Every `- locked` monitor
//! (except one the thread gave up in `Object.wait`) and every ownable synchronizer is also an
//! owner statement, [`Evidence::LockOwner`] for the thread's tid: the JVM read it from the
//! object. The deadlock report becomes a [`Claim`](crate::model::Claim) (see `report.rs`).
//! SMR lists, JNI counts, heap summaries and compiler-task lines are skipped.

mod lines;
mod report;

use crate::dump::normalize::repair;
use crate::dump::processes::at_headers;
use crate::dump::skeleton::lines;
use crate::dump::skeleton::text::trim;
use crate::dump::skeleton::Builder;
use crate::dump::DumpFormat;
use crate::model::{Evidence, Frame, Gap, IdKind, Snapshot, Thread};
use report::Report;

/// The Java thread-dump format.
pub struct Jstack;

impl DumpFormat for Jstack {
    fn name(&self) -> &'static str {
        "jstack"
    }

    fn sniff(&self, text: &str) -> bool {
        text.lines().take(400).any(|l| {
            let l = l.trim_start();
            l.starts_with("Full thread dump")
                || l.starts_with("Found one Java-level deadlock")
                || l.starts_with("java.lang.Thread.State:")
                || (l.starts_with('"') && l.contains(" tid=") && l.contains(" nid="))
        })
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        // Java dumps are not gdb-shaped: the shared-prefix search would not find their lines.
        let text = repair(raw);
        let mut p = Parser::default();
        for (no, line) in lines(&text) {
            if p.line(no, line) == Flow::Stop {
                break;
            }
        }
        p.finish(origin)
    }

    /// Each `Full thread dump` after the first starts another dump (it names no process: the
    /// same JVM dumped twice is two snapshots, where the parser reads only the first).
    fn processes(&self, raw: &[u8]) -> Vec<usize> {
        let full = |l: &[u8]| l.starts_with(b"Full thread dump").then_some(None);
        at_headers(
            raw,
            b"Full thread dump",
            &full,
            &[b"JNI global refs", b"Found "],
        )
    }
}

#[derive(PartialEq)]
enum Flow {
    Go,
    Stop,
}

/// Where in the dump the parser is.
#[derive(Default, PartialEq)]
enum Section {
    /// Before the first header: timestamps, `Full thread dump`, SMR info, jcmd's `PID:`.
    #[default]
    Preamble,
    /// Thread blocks.
    Threads,
    /// After `JNI global refs`: heap summaries and the like, until a deadlock report.
    Tail,
    /// Inside a deadlock report.
    Report,
}

/// A `- locked` monitor or an ownable synchronizer of the current thread, kept until the
/// thread's block ends and it is known whether an `Object.wait` gave the monitor up.
struct Owned {
    address: u64,
    line: usize,
    monitor: bool,
    text: String,
}

#[derive(Default)]
struct Parser {
    b: Builder,
    /// Threads from the thread list; those after them come from a deadlock report only.
    listed: usize,
    pid: Option<u32>,
    section: Section,
    /// `Full thread dump` was seen.
    full: bool,
    /// `JNI global refs` (the end of the thread list) was seen.
    ended: bool,
    /// The thread receiving frames and notes.
    current: Option<usize>,
    /// Frames are still accepted for `current` (no blank line since its header).
    open: bool,
    /// Inside `Locked ownable synchronizers:`.
    ownable: bool,
    owned: Vec<Owned>,
    /// Monitors the current thread gave up while waiting (`waiting on`, `waiting to re-lock`).
    released: Vec<u64>,
    report: Option<Report>,
    /// Frame lines outside any thread: how many, and the first.
    stray: (usize, usize),
    /// How many Java threads the JVM's thread list (`_java_thread_list=…, length=N`) counts.
    counted: Option<usize>,
}

/// The count of the JVM's thread-list line (`_java_thread_list=0x…, length=N, elements={`).
fn smr_length(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("_java_thread_list=")?;
    let n = rest.split_once("length=")?.1;
    n[..n.bytes().take_while(u8::is_ascii_digit).count()]
        .parse()
        .ok()
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) -> Flow {
        let trimmed = trim(line);
        if !trimmed.is_empty() {
            self.b.seen(no);
        }
        if trimmed.is_empty() {
            // A blank line ends a thread's frames; its ownable synchronizers may follow.
            self.open = false;
            self.ownable = false;
            return Flow::Go;
        }
        if trimmed.starts_with("Full thread dump") {
            if !self.b.threads.is_empty() {
                self.b.diag(
                    no,
                    "a second thread dump starts here; only the first was read",
                );
                return Flow::Stop;
            }
            self.full = true;
            return Flow::Go;
        }
        if trimmed.starts_with("Found one Java-level deadlock") {
            self.end_thread();
            self.end_report();
            self.section = Section::Report;
            self.report = Some(Report::new(no, trimmed));
            return Flow::Go;
        }
        if self.section == Section::Report {
            self.report_line(no, line, trimmed);
            return Flow::Go;
        }
        if trimmed.starts_with('"') {
            if let Some(h) = lines::header(trimmed) {
                self.start_thread(h);
                return Flow::Go;
            }
        }
        if trimmed.starts_with("JNI global ref") {
            self.end_thread();
            self.ended = true;
            self.section = Section::Tail;
            return Flow::Go;
        }
        if self.section == Section::Preamble {
            if let Some(n) = smr_length(trimmed) {
                self.counted = Some(n);
            }
            if let Some(pid) = trimmed.strip_suffix(':').and_then(|p| p.parse().ok()) {
                self.pid = Some(pid);
            }
            return Flow::Go;
        }
        if self.section == Section::Threads {
            self.thread_line(no, trimmed);
        }
        Flow::Go
    }

    fn start_thread(&mut self, h: lines::Header) {
        self.end_thread();
        self.section = Section::Threads;
        let java_id = h.java_id.map(str::to_string);
        // `None` past the thread cap: its lines go nowhere.
        self.current = self.b.thread(Thread {
            tid: h.os_tid,
            id_kind: if java_id.is_some() {
                IdKind::Java
            } else {
                IdKind::Debugger
            },
            debugger_id: java_id,
            name: Some(h.name.to_string()),
            status: h.state.map(str::to_string),
            ..Thread::default()
        });
        self.listed = self.b.threads.len();
        self.open = true;
    }

    /// A line inside a thread block (trimmed).
    fn thread_line(&mut self, no: usize, trimmed: &str) {
        let Some(t) = self.current else {
            if trimmed.starts_with("at ") && !self.b.dropping() {
                self.stray(no);
            }
            return;
        };
        if let Some(state) = trimmed.strip_prefix("java.lang.Thread.State:") {
            self.b.threads[t].status = Some(state.trim().to_string());
        } else if trimmed == "Locked ownable synchronizers:" {
            self.ownable = true;
        } else if let Some(text) = trimmed.strip_prefix("at ") {
            if self.open {
                self.frame(no, t, text);
            } else {
                self.stray(no);
            }
        } else if let Some(note) = trimmed.strip_prefix("- ") {
            let note = note.trim();
            if self.ownable {
                self.synchronizer(no, t, note);
            } else if self.open {
                self.frame_note(no, t, note);
            }
        }
    }

    fn frame(&mut self, no: usize, t: usize, text: &str) {
        match lines::frame(text) {
            Some(f) => self.b.push(t, f),
            None => {
                self.b.threads[t].partial = true;
                self.b
                    .diag(no, format!("frame line cut short, skipped: `at {text}`"));
            }
        }
    }

    /// `- locked <0x…> (a T)` and its kind, under the last frame.
    fn frame_note(&mut self, no: usize, t: usize, note: &str) {
        let frames = &mut self.b.threads[t].frames;
        if frames.is_empty() {
            // Notes with no frame above them (a report's stack section stripped of frames):
            // kept on a frame whose function is not known.
            frames.push(Frame::default());
        }
        if let Some(f) = frames.last_mut() {
            f.notes.push(note.to_string());
        }
        let address = lines::note_address(note);
        if let Some(a) = address {
            if note.starts_with("locked ") {
                self.owned.push(Owned {
                    address: a,
                    line: no,
                    monitor: true,
                    text: format!("- {note}"),
                });
            } else if note.starts_with("waiting on ") || note.starts_with("waiting to re-lock") {
                self.released.push(a);
            }
        }
    }

    /// An entry under `Locked ownable synchronizers:` (`- None` is no entry).
    fn synchronizer(&mut self, no: usize, t: usize, note: &str) {
        if note == "None" {
            return;
        }
        self.b.threads[t].notes.push(note.to_string());
        if let Some(a) = lines::note_address(note) {
            self.owned.push(Owned {
                address: a,
                line: no,
                monitor: false,
                text: format!("{note} under Locked ownable synchronizers"),
            });
        }
    }

    fn stray(&mut self, no: usize) {
        if self.stray.0 == 0 {
            self.stray.1 = no;
        }
        self.stray.0 += 1;
    }

    /// Ends the current thread's block: its owner statements become evidence.
    fn end_thread(&mut self) {
        let owned = std::mem::take(&mut self.owned);
        let mut released = std::mem::take(&mut self.released);
        self.open = false;
        self.ownable = false;
        let Some(t) = self.current.take() else { return };
        let thread = &self.b.threads[t];
        // A thread in `Object.wait` gave up the monitor it waits on. Old JVMs do not always
        // say which (no `waiting on` line); then it is the innermost one it entered.
        let in_wait = thread.status.as_deref().is_some_and(|s| {
            s.contains("WAITING (on object monitor)") && !s.starts_with("BLOCKED")
        });
        if in_wait && released.is_empty() {
            released.extend(owned.iter().find(|o| o.monitor).map(|o| o.address));
        }
        let Some(tid) = thread.tid else { return };
        for o in owned {
            if o.monitor && released.contains(&o.address) {
                continue;
            }
            self.b.evidence.push(Evidence::LockOwner {
                address: o.address,
                owner_tid: tid,
                owner_name: None,
                source: format!("`{}` (line {})", o.text, o.line),
                by_claim: false,
            });
        }
    }

    fn report_line(&mut self, no: usize, line: &str, trimmed: &str) {
        if let Some(r) = &mut self.report {
            if r.line(no, line, trimmed, &mut self.b.threads, self.listed) {
                return;
            }
        }
        // `Found N deadlocks.` closes the reports.
        if trimmed.starts_with("Found ") && trimmed.contains("deadlock") {
            self.end_report();
            self.section = Section::Tail;
        }
    }

    fn end_report(&mut self) {
        if let Some(r) = self.report.take() {
            r.finish(
                &mut self.b.threads,
                self.listed,
                &mut self.b.evidence,
                &mut self.b.claims,
            );
        }
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        self.end_thread();
        if self.section == Section::Report && self.report.is_some() {
            // Cut inside the JVM's deadlock report: a cycle half listed (a wait whose holder
            // is not yet named) is no claim; one listed whole (its stacks part begun) is.
            let line = self.b.last_seen();
            if !self.report.as_ref().is_some_and(|r| r.listed_whole()) {
                self.report = None;
                self.b.diag(
                    line,
                    "the input ends inside the JVM's deadlock report, before its list of who \
                     waits for whom ended: the report is left out",
                );
            }
            self.b.gap(Gap::NoEnd {
                expected: "Found N deadlock(s).".into(),
                line: Some(line),
            });
        }
        self.end_report();
        if self.stray.0 > 0 {
            let message = format!(
                "{} frame line(s) outside any thread block were skipped",
                self.stray.0
            );
            self.b.diag(self.stray.1, message);
        }
        if !self.b.threads.is_empty() && self.listed == 0 {
            self.b.note(
                "no thread list, only the JVM's deadlock report: its threads, what they wait \
                 for and who holds it come from the report",
            );
        }
        self.b
            .nothing_found("no Java thread (`\"name\" #N ... nid=0x...`) found in the input");
        self.b.pid = self.pid;
        if let Some(said) = self.counted {
            // The list counts the JVM's Java threads, each printed with its `#N`.
            let shown = (self.b.threads.iter())
                .filter(|t| t.id_kind == IdKind::Java)
                .count();
            if shown < said && self.listed > 0 {
                self.b.gap(Gap::Counted { said, shown });
            }
        }
        let complete = self.full && self.ended && self.listed > 0;
        self.b.finish("jstack", origin, complete)
    }
}

#[cfg(test)]
mod tests;
