//! elfutils `eu-stack`: `PID n - process|core`, one `TID n:` per thread, then frames
//! `#N  0xADDR[ - 1] [FUNC][ - MODULE]`. The source (`-s`) comes on an indented line below the
//! frame, or (some builds, post-processed copies) after three spaces on the same line; `-b`
//! adds an indented build-id line. `-i` prints inlined functions as frames of their own with
//! the caller's address. `...` marks frames someone cut out of a paste.

use super::native::function_name;
use super::normalize::normalize;
use super::processes::{at_headers, number_after};
use super::skeleton::frame::{frame_number, split_file_line};
use super::skeleton::lines;
use super::skeleton::text::{find, trim, trim_start};
use super::skeleton::{head_lines, Builder};
use super::DumpFormat;
use crate::dump::skeleton::intern::{share, share_cow};
use crate::model::{Frame, Gap, Snapshot, Thread};

/// The `eu-stack` format.
pub struct EuStack;

impl DumpFormat for EuStack {
    fn name(&self) -> &'static str {
        "eu-stack"
    }

    fn sniff(&self, text: &str) -> bool {
        head_lines(text).any(|l| pid_header(l).is_some() || tid_header(l).is_some())
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        let text = normalize(raw, &is_stack_line);
        let mut p = Parser::default();
        for (no, line) in lines(&text) {
            p.line(no, line);
        }
        p.finish(origin)
    }

    fn processes(&self, raw: &[u8]) -> Vec<usize> {
        let pid = |l: &[u8]| number_after(l, b"PID ", b" - ").map(Some);
        at_headers(raw, b"PID ", &pid, &[])
    }
}

fn is_stack_line(l: &str) -> bool {
    frame_number(l).is_some() || tid_header(l).is_some()
}

/// `PID 4242 - process` / `PID 4242 - core` → the pid.
fn pid_header(line: &str) -> Option<u32> {
    let (pid, kind) = line.strip_prefix("PID ")?.split_once(" - ")?;
    matches!(trim(kind), "process" | "core")
        .then(|| pid.parse().ok())
        .flatten()
}

/// `TID 4243:` → the tid.
fn tid_header(line: &str) -> Option<u64> {
    trim(line)
        .strip_prefix("TID ")?
        .strip_suffix(':')?
        .parse()
        .ok()
}

#[derive(Default)]
struct Parser {
    b: Builder,
    /// The processes seen, in order (several `eu-stack` runs may be pasted together).
    pids: Vec<u32>,
    /// The last line was a frame, so an indented line below it is its source.
    after_frame: bool,
}

impl Parser {
    fn line(&mut self, no: usize, line: &str) {
        let after_frame = std::mem::take(&mut self.after_frame);
        let trimmed = trim(line);
        if trimmed.is_empty() {
            return;
        }
        self.b.seen(no);
        if let Some((index, rest)) = frame_number(trimmed) {
            match parse_frame(index, rest) {
                Some(f) => {
                    self.b.frame(f);
                    self.b.stack_line(no);
                    self.after_frame = true;
                }
                None => self.b.diag(no, format!("frame #{index} could not be read")),
            }
            return;
        }
        if after_frame && line.starts_with([' ', '\t']) {
            self.b.stack_line(no);
            self.detail(trimmed);
            self.after_frame = true;
            return;
        }
        if let Some(tid) = tid_header(trimmed) {
            let process = self.pids.last().copied();
            self.b.thread(Thread {
                tid: Some(tid),
                process,
                ..Thread::default()
            });
        } else if let Some(pid) = pid_header(trimmed) {
            self.pids.push(pid);
        } else if trimmed == "..." || trimmed == "…" {
            if let Some(t) = self.b.last() {
                t.partial = true;
            }
        } else if let Some(msg) = trimmed.strip_prefix("eu-stack: ") {
            self.b.diag(no, format!("eu-stack reported: {msg}"));
        }
        // Anything else is noise: the command line, prose, a shell prompt.
    }

    /// An indented line under a frame: its source (`-s`) or its module's build-id (`-b`).
    fn detail(&mut self, text: &str) {
        if text.starts_with('[') {
            return;
        }
        let Some(f) = self.b.last().and_then(|t| t.frames.last_mut()) else {
            return;
        };
        if f.file.is_none() {
            set_source(f, text);
        }
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        let several = self.pids.len() > 1;
        for t in &mut self.b.threads {
            mark_inlined(&mut t.frames);
            if !several {
                t.process = None;
            }
        }
        self.b.pid = if several {
            None
        } else {
            self.pids.first().copied()
        };
        // eu-stack prints every thread of the process, the main thread (its TID the PID)
        // first: a paste without it lost threads.
        if let [pid] = self.pids[..] {
            let main = u64::from(pid);
            if !self.b.threads.is_empty() && !self.b.threads.iter().any(|t| t.tid == Some(main)) {
                self.b.note(format!(
                    "no `TID {pid}:`: the process's main thread, which eu-stack prints first, \
                     is not in the paste, so threads were left out"
                ));
                self.b.gap(Gap::Missing {
                    threads: vec![pid.to_string()],
                });
            }
        }
        // eu-stack prints every thread of the process (unless asked for one with `-1`), but
        // no count and no end: a copy cut between two threads looks whole.
        self.b.gap(Gap::Unmarked {
            format: "eu-stack".into(),
        });
        self.b.finish("eu-stack", origin, false)
    }
}

/// The text after `#N`: `0xADDR[ - 1] [FUNC][ - MODULE][   SOURCE]`.
fn parse_frame(index: u32, text: &str) -> Option<Frame> {
    let hex = trim(text).strip_prefix("0x")?;
    let digits = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    let mut frame = Frame {
        index: Some(index),
        address: Some(u64::from_str_radix(hex.get(..digits)?, 16).ok()?),
        ..Frame::default()
    };
    let mut rest = trim_start(&hex[digits..]);
    // `-a` marks frames whose pc was adjusted to the call (`- 1`) before the name.
    if let Some(r) = rest.strip_prefix("- 1") {
        if r.is_empty() || r.starts_with(' ') {
            rest = trim_start(r);
        }
    }
    let (head, source) = match find(rest, "   ") {
        Some(p) => (&rest[..p], Some(trim(&rest[p..]))),
        None => (rest, None),
    };
    let (function, module) = match head.strip_prefix("- ") {
        Some(module) => ("", Some(module)),
        None => match find(head, " - ") {
            Some(p) => (&head[..p], Some(&head[p + 3..])),
            None => (head, None),
        },
    };
    let function = trim(function);
    if !function.is_empty() && function != "??" && function != "??()" {
        frame.function = Some(share_cow(function_name(function)));
    }
    frame.module = module.map(trim).filter(|m| !m.is_empty()).map(share);
    if let Some(source) = source {
        set_source(&mut frame, source);
    }
    Some(frame)
}

/// `file:line[:col]`, or a file alone.
fn set_source(frame: &mut Frame, text: &str) {
    match split_file_line(text) {
        Some((file, line)) => {
            frame.file = Some(share(file));
            frame.line = Some(line);
        }
        None => frame.file = Some(share(text)),
    }
}

/// With `-i`, an inlined function is printed as a frame with the address of the frame it was
/// inlined into, the next one.
fn mark_inlined(frames: &mut [Frame]) {
    for i in 1..frames.len() {
        if frames[i - 1].address.is_some() && frames[i - 1].address == frames[i].address {
            frames[i - 1].inlined = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Snapshot {
        EuStack.parse(text.as_bytes(), "test")
    }

    #[test]
    fn plain_output() {
        let s = parse(
            "PID 4242 - process\nTID 4242:\n#0  0x00007f11aa0c1d2d __poll\n#1  0x0000556600a1b2c3 serve_loop\n\
             TID 4243:\n#0  0x00007f11aa09e4c8 __futex_abstimed_wait_common - /usr/lib/libc.so.6\n\
             #1  0x00007f11aa09e4d0 ??()\n#2  0x00007f11aa09e4d8\n",
        );
        assert_eq!(s.pid, Some(4242));
        assert!(
            !s.complete,
            "eu-stack prints no end: a copy cut between threads looks whole"
        );
        assert_eq!(s.threads.len(), 2);
        let t = &s.threads[1];
        assert_eq!((t.tid, t.process), (Some(4243), None));
        assert_eq!(t.frames[0].module.as_deref(), Some("/usr/lib/libc.so.6"));
        assert_eq!(
            t.frames[0].function.as_deref(),
            Some("__futex_abstimed_wait_common")
        );
        assert_eq!(
            (
                t.frames[1].function.as_deref(),
                t.frames[2].function.as_deref()
            ),
            (None, None)
        );
        assert_eq!(t.frames[2].address, Some(0x7f11aa09e4d8));
    }

    #[test]
    fn source_on_the_line_below_or_after_three_spaces() {
        let s = parse(
            "TID 7:\n#0  0x00007f1ee343f99d read\n    ../sysdeps/unix/syscall-template.S:84\n\
             #1  0x00007f1ee4147864 nix::FdSource::readUnbuffered(unsigned char*, unsigned long)\n    src/a.cc:44:3\n\
             #2  0x000055be68a34432 L::listen() - /bin/mysqld   /usr/include/poll2.h:39:10\n...\n",
        );
        assert!(!s.complete, "no PID line: an excerpt");
        let f = &s.threads[0].frames;
        assert_eq!(
            f[0].file.as_deref(),
            Some("../sysdeps/unix/syscall-template.S")
        );
        assert_eq!(f[0].line, Some(84));
        assert_eq!(
            f[1].function.as_deref(),
            Some("nix::FdSource::readUnbuffered(unsigned char*, unsigned long)")
        );
        assert_eq!(
            (f[1].file.as_deref(), f[1].line),
            (Some("src/a.cc"), Some(44))
        );
        assert_eq!(f[2].module.as_deref(), Some("/bin/mysqld"));
        assert_eq!(f[2].line, Some(39));
        assert!(s.threads[0].partial, "`...` cut frames out");
    }

    #[test]
    fn verbose_output_activation_inlines_build_ids_and_signal_frames() {
        let s = parse(
            "PID 9 - core\nTID 10:\n\
             #0  0x00007f536ffee12b     futex_wait - /usr/lib/libc.so.6\n    ../sysdeps/nptl/futex-internal.h:146:13\n\
             #1  0x00007f536ffee12b     __GI___lll_lock_wait - /usr/lib/libc.so.6\n    [0123abcd]@0x7f536ff00000+0xee12b\n    ./nptl/lowlevellock.c:49:7\n\
             #2  0x000055ad7a93d4c8 - 1 stats_dump - /tmp/p\n\
             #3  0x00007f536ffa4050     __restore_rt - /usr/lib/libc.so.6\n\
             #4  0x00007f53700602ea - 1 - /usr/lib/libc.so.6\n\
             #5  0x000055ad7a93d594 - 1 _ZN3Foo3barEv\n",
        );
        let f = &s.threads[0].frames;
        assert!(f[0].inlined && !f[1].inlined);
        assert_eq!(f[1].line, Some(49), "the build-id line is skipped");
        assert_eq!(f[2].function.as_deref(), Some("stats_dump"));
        assert_eq!(f[3].function.as_deref(), Some("__restore_rt"));
        assert_eq!(
            (f[4].function.as_deref(), f[4].module.as_deref()),
            (None, Some("/usr/lib/libc.so.6"))
        );
        assert_eq!(f[5].function.as_deref(), Some("Foo::bar()"));
    }

    #[test]
    fn several_runs_keep_their_processes() {
        let s = parse("$ eu-stack -p 1\nPID 1 - process\nTID 1:\n#0  0x1 read\n\nPID 2 - core\nTID 2:\n#0  0x2 read\neu-stack: dwfl_thread_getframes tid 2: no matching address range\n");
        assert_eq!(s.threads.len(), 2);
        assert_eq!((s.pid, s.threads[1].process), (None, Some(2)));
        assert!(s.diagnostics[0]
            .message
            .contains("no matching address range"));
    }

    #[test]
    fn sniffs_headers_only() {
        assert!(EuStack.sniff("PID 5 - process\n"));
        assert!(EuStack.sniff("> TID 5:\n"));
        assert!(!EuStack.sniff("PID 5 - zombie\nTID x:\n#0  0x1 in f ()\n"));
    }
}
