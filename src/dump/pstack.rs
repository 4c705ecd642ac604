//! pstack, gstack and their relatives (FORMATS.md section 4), read with gdb's frame grammar:
//!
//! * gdb-backed pstack/gstack: gdb's `Thread N (...)` headers and `#N 0x... in f () from lib`
//!   frames, one space after the number; a lost newline can glue a frame to the previous one.
//!   A single-threaded process gets a bare `bt`, with no header.
//! * Percona's pt-eustack-resolver: `Thread TID (LWP TID):`, `#N 0x... in f at file:line:col`.
//! * Home-grown tools: `thread: N, lwp: TID, type: N` headers, frames
//!   `#N  0x... in f()+OFF in MODULE[ at FILE:LINE]` with raw mangled names marked by a `!`.
//! * Solaris/illumos: `---  lwp# 3 / thread# 3  ---` headers, frames `ADDR name (args) + off`.
//!
//! pstack prints every thread of the process, in its own order from its first thread on: a dump
//! without that first thread has been cut.

use super::native::function_name;
use super::normalize::{is_clean, normalize};
use super::skeleton::frame::{frame_number, parse_frame_text, split_file_line};
use super::skeleton::header::{parse_header, ThreadRef};
use super::skeleton::logical::{ends_here, logical_lines};
use super::skeleton::text::{find, trim, trim_end, trim_start};
use super::skeleton::{head_lines, pieces, Builder, Part};
use super::{DumpFormat, Release};
use crate::dump::skeleton::intern::{share, share_cow, share_owned};
use crate::model::{Frame, Gap, Snapshot, Thread, Var};
use std::borrow::Cow;

/// The pstack format and its relatives.
pub struct Pstack;

impl DumpFormat for Pstack {
    fn name(&self) -> &'static str {
        "pstack"
    }

    /// What gdb never prints: its own headers numbered by tid, one space after a one-digit
    /// frame number, and the other tools' headers; and no gdb prompt.
    fn sniff(&self, text: &str) -> bool {
        let mut found = false;
        for l in head_lines(text) {
            if l.starts_with("(gdb)") || l.starts_with("(rr)") {
                return false;
            }
            found = found
                || own_header(l).is_some()
                || parse_header(l).is_some_and(|r| by_tid(&r))
                || l.as_bytes()
                    .get(..3)
                    .is_some_and(|b| b[0] == b'#' && b[1].is_ascii_digit() && b[2] == b' ')
                    && !l[3..].starts_with([' ', '\t']);
        }
        found
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        self.parse_releasing(raw, origin, &|_| {})
    }

    fn parse_releasing(&self, raw: &[u8], origin: &str, release: Release) -> Snapshot {
        in_pieces(raw, origin, release).unwrap_or_else(|| whole(raw, origin))
    }
}

fn is_stack_line(l: &str) -> bool {
    frame_number(l).is_some() || parse_header(l).is_some()
}

/// The snapshot of a dump read in one go, on one core.
fn whole(raw: &[u8], origin: &str) -> Snapshot {
    let text = normalize(raw, &is_stack_line);
    let mut p = Parser::default();
    logical_lines(&text, |no, line| p.line(no, line));
    p.finish(origin)
}

/// What a parser read from one piece of a big dump.
struct Read {
    part: Part,
    numbered: bool,
    saw_first: bool,
    first_first: bool,
}

/// A big dump read on every core ([`pieces`]): cut before thread headers that no line before
/// runs on into, each piece read on its own and the threads put one after the other. `None` (read it
/// whole) when it is small or cannot be cut.
fn in_pieces(raw: &[u8], origin: &str, release: Release) -> Option<Snapshot> {
    let starts = |prev: &str, l: &str| {
        let l = trim(l);
        (parse_header(l).is_some() || own_header(l).is_some()) && ends_here(prev)
    };
    let cut = pieces::cut(raw, &starts, &|t| is_clean(t, &is_stack_line))?;
    let reads = pieces::read_each(&cut, release, |piece| {
        let mut p = Parser::default();
        let before = piece.first_line - 1;
        logical_lines(piece.text, |no, line| p.line(before + no, line));
        Read {
            numbered: p.numbered,
            saw_first: p.saw_first,
            first_first: p.first_first,
            part: p.b.into_part(),
        }
    });
    let mut whole = Parser::default();
    for r in reads {
        whole.numbered |= r.numbered;
        whole.saw_first |= r.saw_first;
        whole.first_first |= r.first_first;
        whole.b.append(r.part);
    }
    Some(whole.finish(origin))
}

/// A gdb-style header numbered by tid (`Thread 4242 (LWP 4242):`, pt-eustack-resolver), which
/// gdb itself never prints: its numbers count from 1 and it shows `pthread_t`s.
fn by_tid(r: &ThreadRef) -> bool {
    r.pthread.is_none()
        && r.tid
            .is_some_and(|t| t > 1 && Some(t.to_string()) == r.gdb_num)
}

/// The headers of tools other than gdb: (their thread number, the tid).
fn own_header(line: &str) -> Option<(String, u64)> {
    if let Some(rest) = line.strip_prefix("thread: ") {
        let (num, rest) = rest.split_once(", lwp: ")?;
        let lwp = rest.split(',').next()?;
        return Some((num.to_string(), trim(lwp).parse().ok()?));
    }
    // Solaris: `-----------------  lwp# 3 / thread# 3  --------------------`.
    let rest = line.trim_start_matches('-');
    let rest = trim_start(rest).strip_prefix("lwp# ")?;
    let (lwp, rest) = rest.split_once(" / thread# ")?;
    let num = rest.split_whitespace().next()?;
    Some((num.to_string(), lwp.parse().ok()?))
}

#[derive(Default)]
struct Parser {
    b: Builder,
    /// Headers number threads in the tool's order (not by tid)...
    numbered: bool,
    /// ...and the tool's first thread (gdb's 1, the `thread:` tools' 0, Solaris' 1) is there.
    saw_first: bool,
    /// In a Solaris block, where frames have no `#N`.
    solaris: bool,
    /// Threads come first thread first (by tid, `thread: N`, Solaris), with no count and no
    /// end after them: a copy cut between two threads looks whole.
    first_first: bool,
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        let t = trim(line);
        if !t.is_empty() {
            self.b.seen(no);
        }
        if let Some((index, rest)) = frame_number(t) {
            match parse_frame(index, rest) {
                Some(f) => {
                    self.b.frame(f);
                    self.b.stack_line(no);
                }
                None => self.b.diag(no, format!("frame #{index} could not be read")),
            }
        } else if let Some(r) = parse_header(t) {
            self.solaris = false;
            let by_tid = by_tid(&r);
            self.numbered |= !by_tid;
            self.first_first |= by_tid;
            self.saw_first |= by_tid || r.gdb_num.as_deref() == Some("1");
            self.b.thread(Thread {
                tid: r.tid,
                process: r.pid.filter(|_| r.pthread.is_none()),
                debugger_id: r.gdb_num,
                pthread: r.pthread,
                name: r.name,
                ..Thread::default()
            });
        } else if let Some((num, tid)) = own_header(t) {
            self.solaris = !t.starts_with("thread: ");
            let first = if self.solaris { "1" } else { "0" };
            self.numbered = true;
            self.first_first = true;
            self.saw_first |= num == first;
            self.b.thread(Thread {
                tid: Some(tid),
                debugger_id: Some(num),
                ..Thread::default()
            });
        } else if self.solaris {
            if let Some(f) = solaris_frame(t, self.b.last().map_or(0, |th| th.frames.len())) {
                self.b.frame(f);
                self.b.stack_line(no);
            }
        } else if t == "..." {
            if let Some(th) = self.b.last() {
                th.partial = true;
            }
        }
        // Anything else is noise.
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        let headers = self.numbered || self.saw_first;
        if self.numbered && !self.saw_first && !self.b.threads.is_empty() {
            self.b.note(
                "the dump looks cut: pstack prints every thread from its first one on, but the \
                 first thread is not in it, so threads may be missing",
            );
        }
        // Without any header, gstack printed the one thread of a single-threaded process.
        let complete = self.saw_first || (!headers && self.b.threads.len() == 1);
        if self.first_first {
            self.b.gap(Gap::Unmarked {
                format: "pstack".into(),
            });
        }
        self.b.finish("pstack", origin, complete)
    }
}

/// A frame after `#N`: gdb's grammar, or `0x... in f()+OFF in MODULE[ at FILE:LINE]`.
fn parse_frame(index: u32, text: &str) -> Option<Frame> {
    offset_frame(index, text).or_else(|| {
        let mut f = parse_frame_text(Some(index), text)?;
        let renamed = f.function.as_deref().map(function_name);
        if let Some(Cow::Owned(name)) = renamed {
            f.function = Some(share_owned(name));
        }
        Some(f)
    })
}

/// `0x00007ffff7e57376 in __pthread_cond_wait()+534 in /lib/libpthread.so.0 at f.h:183`.
fn offset_frame(index: u32, text: &str) -> Option<Frame> {
    let hex = text.strip_prefix("0x")?;
    let digits = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    let rest = hex[digits..].strip_prefix(" in ")?;
    let at = find(rest, "()+")?;
    let (name, rest) = (&rest[..at], &rest[at + 3..]);
    let off = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest[off..].strip_prefix(" in ")?;
    let (module, location) = match rest.split_once(" at ") {
        Some((m, l)) => (m, Some(l)),
        None => (rest, None),
    };
    let name = name.strip_suffix('!').unwrap_or(name);
    let mut frame = Frame {
        index: Some(index),
        address: u64::from_str_radix(&hex[..digits], 16).ok(),
        function: (!name.is_empty() && name != "??").then(|| share_cow(function_name(name))),
        module: Some(share(trim(module))),
        ..Frame::default()
    };
    if let Some((file, line)) = location.and_then(|l| split_file_line(trim(l))) {
        frame.file = Some(share(file));
        frame.line = Some(line);
    }
    Some(frame)
}

/// Solaris: ` fee55a3c cond_wait_queue (8062a40, 8062a28, 0) + 5c`; `index` is its position.
fn solaris_frame(line: &str, index: usize) -> Option<Frame> {
    let (addr, rest) = line.split_once(' ')?;
    let address = u64::from_str_radix(addr, 16).ok()?;
    let rest = match rest.rsplit_once(" + ") {
        Some((head, off)) if off.bytes().all(|b| b.is_ascii_hexdigit()) => head,
        _ => rest,
    };
    let rest = trim_end(rest);
    let (name, args) = match rest.split_once(" (") {
        Some((name, args)) => (trim_end(name), args.strip_suffix(')')),
        None => (rest, None),
    };
    Some(Frame {
        index: u32::try_from(index).ok(),
        address: Some(address),
        function: (!name.is_empty()).then(|| share(name)),
        args: args
            .map(|a| {
                a.split(", ")
                    .filter(|v| !v.is_empty())
                    .map(|v| Var::new(share(""), share(v)))
                    .collect()
            })
            .unwrap_or_default(),
        ..Frame::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Snapshot {
        Pstack.parse(text.as_bytes(), "test")
    }

    #[test]
    fn gstack_output_with_a_lost_newline() {
        let s = parse(
            "Thread 2 (Thread 0x7fd4b0049640 (LWP 15380)):\n\
             #0 0x00007fd4b5c36dc0 in __lll_lock_wait () from /lib64/libpthread.so.0\n\
             #1 0x0000000001fec091 in open (line=2404) at btr0pcur.h:631#2 row_ins (flags=<optimized out>) at row0ins.cc:2404\n\
             #3 0x00007fd4b4ca4303 in clone () from /lib64/libc.so.6\n\
             Thread 1 (Thread 0x7fd4b0049700 (LWP 15379)):\n#0 0x1 in main () at m.c:3\n",
        );
        assert_eq!(s.producer, "pstack");
        assert!(s.complete);
        let t = &s.threads[0];
        assert_eq!((t.tid, t.debugger_id.as_deref()), (Some(15380), Some("2")));
        assert_eq!(t.pthread, Some(0x7fd4b0049640));
        assert_eq!(t.frames.len(), 4);
        assert_eq!(
            (t.frames[1].file.as_deref(), t.frames[1].line),
            (Some("btr0pcur.h"), Some(631))
        );
        assert_eq!(t.frames[2].function.as_deref(), Some("row_ins"));
        assert!(t.frames[2].inlined);
    }

    #[test]
    fn a_dump_without_the_first_thread_is_cut() {
        let s = parse("Thread 69 (Thread 0x7f (LWP 15380)):\n#0 0x1 in f () from /lib/libc.so.6\n");
        assert!(!s.complete);
        assert!(s.diagnostics[0].message.contains("looks cut"));
        let s = parse("#0 0x1 in f () from /lib/libc.so.6\n#1 0x2 in main ()\n");
        assert!(s.complete, "gstack's bare bt: a single-threaded process");
    }

    #[test]
    fn pt_eustack_resolver() {
        let s = parse(
            "Thread 3441765 (LWP 3441765):\n#0 0x00007f2763f18bcf in __GI___poll at poll.c:29:10\n\
             #1 0x000055be68a34432 in L::listen() at s.cc:1354:3\n\n\
             Thread 3441805 (LWP 3441805):\n#0 0x00007f2763f1e88d in syscall at syscall.S:38\n\
             #1 0x00007f2764a91279 in io_getevents from /usr/lib/libaio.so.1\n#8 0x1 in ?? from /usr/lib/libstdc++.so.6\n",
        );
        assert!(
            !s.complete,
            "threads by tid or first first, and no end: a cut copy looks whole"
        );
        assert_eq!(s.threads.len(), 2);
        let f = &s.threads[0].frames;
        assert_eq!(
            (f[0].function.as_deref(), f[0].line),
            (Some("__GI___poll"), Some(29))
        );
        assert_eq!(f[1].function.as_deref(), Some("L::listen()"));
        assert_eq!(s.threads[1].frames[2].function, None);
    }

    #[test]
    fn offset_frames_with_raw_mangled_names() {
        let s = parse(
            "...\nthread: 0, lwp: 71129, type: 0\n\
             #0  0x00007ffff7e57376 in __pthread_cond_wait()+534 in /lib/x86_64-linux-gnu/libpthread.so.0 at futex-internal.h:183\n\
             #1  0x0000000004b187f0 in _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE!()+15 in /opt/bin/srv\n",
        );
        assert!(
            !s.complete,
            "threads by tid or first first, and no end: a cut copy looks whole"
        );
        let t = &s.threads[0];
        assert_eq!((t.tid, t.debugger_id.as_deref()), (Some(71129), Some("0")));
        let f = &t.frames;
        assert_eq!(f[0].function.as_deref(), Some("__pthread_cond_wait"));
        assert_eq!(
            (f[0].file.as_deref(), f[0].line),
            (Some("futex-internal.h"), Some(183))
        );
        assert_eq!(
            f[1].function.as_deref(),
            Some("std::condition_variable::wait(std::unique_lock<std::mutex>&)")
        );
        assert_eq!(f[1].module.as_deref(), Some("/opt/bin/srv"));
    }

    #[test]
    fn solaris() {
        let s = parse(
            "-----------------  lwp# 1 / thread# 1  --------------------\n\
             \x20fee5b1c5 lwp_park  (0, 0, 0)\n\
             \x20fee55a3c cond_wait_queue (8062a40, 8062a28, 0) + 5c\n\
             -----------------  lwp# 3 / thread# 3  --------------------\n\
             \x20fee5b1c5 read     (4, 8047a10, 400)\n",
        );
        assert!(
            !s.complete,
            "threads by tid or first first, and no end: a cut copy looks whole"
        );
        assert_eq!(s.threads.len(), 2);
        let f = &s.threads[0].frames;
        assert_eq!(f[1].function.as_deref(), Some("cond_wait_queue"));
        assert_eq!((f[1].index, f[1].args.len()), (Some(1), 3));
        assert_eq!(s.threads[1].tid, Some(3));
    }

    #[test]
    fn sniffs_what_gdb_never_prints() {
        assert!(Pstack.sniff("Thread 2 (Thread 0x7f (LWP 9)):\n#0 0x1 in f ()\n"));
        assert!(Pstack.sniff("Thread 9 (LWP 9):\n#0  0x1 in f ()\n"));
        assert!(Pstack.sniff("thread: 0, lwp: 7, type: 0\n"));
        assert!(
            !Pstack.sniff("Thread 2 (Thread 0x7f (LWP 9)):\n#0  0x1 in f ()\n#10 0x2 in g ()\n")
        );
        assert!(!Pstack.sniff("(gdb) bt\n#0 0x1 in f ()\n"));
    }

    #[test]
    fn a_big_dump_read_in_pieces_is_the_dump_read_whole() {
        use crate::dump::skeleton::pieces::check::{assert_same, repeated};
        // No blank line between recordings: gstack prints none.
        let text = repeated("pstack", ".txt", |_, r| r.to_string());
        let cut = super::in_pieces(text.as_bytes(), "big", &|_| {}).expect("read in pieces");
        assert_same(&cut, &super::whole(text.as_bytes(), "big"));
    }
}
