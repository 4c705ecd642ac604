//! Go goroutine dumps: the traceback of a `panic:` or a `fatal error:` (such as the runtime's own
//! `all goroutines are asleep - deadlock!`), a SIGQUIT dump with its register block,
//! `runtime.Stack`, `debug.Stack` and pprof's `goroutine?debug=2`.
//!
//! Every `goroutine N [...]:` header starts a thread: its id is the goroutine id
//! (`IdKind::Goroutine`; Go prints no OS thread id), its status the wait reason as printed, its
//! minutes the header's `N minutes`, its notes the header's other items and the `created by`
//! line. A frame is two lines, the call and its location; arguments are kept by position
//! (`Frame::arg("#0")`), the function as Go prints it. The runtime's verdicts (`fatal error:`,
//! `panic:`) become claims. Program output, shell prompts, annotations and register dumps
//! between the goroutines are skipped, and so is `runtime stack:` (the system stack of the
//! thread that threw, printed before the goroutines: not a goroutine). A per-line prefix taken
//! from the first header (mail quoting, `svc_1 | `, log timestamps) is stripped.

mod line;

use crate::dump::normalize::{is_clean, repair};
use crate::dump::skeleton::intern::share;
use crate::dump::skeleton::lines;
use crate::dump::skeleton::{pieces, Builder, Part};
use crate::dump::{DumpFormat, Release};
use crate::model::{Claim, Frame, IdKind, Snapshot, Thread, Var};

/// The Go format: goroutine dumps from panics, fatal errors, SIGQUIT and `runtime.Stack`.
pub struct Go;

impl DumpFormat for Go {
    fn name(&self) -> &'static str {
        "go"
    }

    fn sniff(&self, text: &str) -> bool {
        text.lines().any(|l| line::find_header(l).is_some())
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        self.parse_releasing(raw, origin, &|_| {})
    }

    fn parse_releasing(&self, raw: &[u8], origin: &str, release: Release) -> Snapshot {
        in_pieces(raw, origin, release).unwrap_or_else(|| whole(raw, origin))
    }
}

/// The snapshot of a dump read in one go, on one core.
fn whole(raw: &[u8], origin: &str) -> Snapshot {
    // Go's own lines are recognised after whatever prefix `shared_prefix` finds.
    let text = repair(raw);
    let prefix = shared_prefix(&text);
    let mut p = Parser::default();
    for (no, l) in lines(&text) {
        let l = prefix.and_then(|pre| strip_shaped(l, pre)).unwrap_or(l);
        p.line(no, clean(l));
    }
    p.finish(origin)
}

/// What a parser read from one piece of a big dump.
struct Read {
    part: Part,
    panic: bool,
    fatal: bool,
    signal: bool,
    /// The piece's lines carry a prefix (each piece would have to know the first's).
    prefixed: bool,
    /// A location or a panic's goroutine was still to come at the piece's end.
    open_at_end: bool,
}

/// A big dump read on every core ([`pieces`]): cut before goroutine headers, each piece read on
/// its own and the goroutines put one after the other. `None` (read it whole) when it is small,
/// cannot be cut, carries a line prefix, or a piece ends waiting for what the next begins with.
fn in_pieces(raw: &[u8], origin: &str, release: Release) -> Option<Snapshot> {
    let starts = |prev: &str, l: &str| {
        line::find_header(l).is_some_and(|(at, _)| at == 0) && prev.is_empty()
    };
    let cut = pieces::cut(raw, &starts, &|t| is_clean(t, &|_| false))?;
    let reads = pieces::read_each(&cut, release, |piece| {
        let mut p = Parser::default();
        let before = piece.first_line - 1;
        for (no, l) in lines(piece.text) {
            p.line(before + no, clean(l));
        }
        Read {
            prefixed: shared_prefix(piece.text).is_some(),
            open_at_end: p.awaiting.is_some() || p.claim_for_next.is_some(),
            panic: p.panic,
            fatal: p.fatal,
            signal: p.signal,
            part: p.b.into_part(),
        }
    });
    let last = reads.len() - 1;
    let alone = |(i, r): (usize, &Read)| !r.prefixed && (i == last || !r.open_at_end);
    if !reads.iter().enumerate().all(alone) {
        return None;
    }
    let mut whole = Parser::default();
    for r in reads {
        whole.panic |= r.panic;
        whole.fatal |= r.fatal;
        whole.signal |= r.signal;
        whole.b.append(r.part);
    }
    Some(whole.finish(origin))
}

/// What comes before the first goroutine header on its line, when it is more than
/// indentation: the prefix every line of the dump is likely to carry.
fn shared_prefix(text: &str) -> Option<&str> {
    let (line, at) = text
        .lines()
        .find_map(|l| line::find_header(l).map(|(at, _)| (l, at)))?;
    let prefix = &line[..at];
    (!clean(prefix).is_empty()).then_some(prefix)
}

/// `line` without `prefix`, if it starts with it; digit runs match any digit run, so log
/// timestamps and numbered service names match.
fn strip_shaped<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let (l, p) = (line.as_bytes(), prefix.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < p.len() {
        if p[j].is_ascii_digit() {
            if !l.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            j += p[j..].iter().take_while(|b| b.is_ascii_digit()).count();
            i += l[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        } else if l.get(i) == Some(&p[j]) {
            i += 1;
            j += 1;
        } else {
            return None;
        }
    }
    line.get(i..)
}

/// A line without its indentation (tabs, or spaces in pastes), mail quoting and the `^\` a
/// terminal echoes for the Ctrl-\ that sent SIGQUIT.
fn clean(l: &str) -> &str {
    let mut l = l.trim_matches([' ', '\t']);
    while let Some(r) = l.strip_prefix('>') {
        l = r.trim_start_matches([' ', '\t']);
    }
    l.strip_prefix("^\\").unwrap_or(l)
}

/// Where the parser is.
#[derive(Default, PartialEq, Eq)]
enum Mode {
    /// Before the first goroutine: frames here belong to an excerpt's unnamed goroutine.
    #[default]
    Start,
    /// In the goroutine at this index.
    In(usize),
    /// After a goroutine's `created by` line (its location follows), or in `runtime stack:`:
    /// frames here belong to no goroutine.
    Outside,
}

/// What the next line may be the location of.
#[derive(Clone, Copy)]
enum Awaiting {
    /// The last frame of the thread at this index.
    Frame(usize),
    /// The `created by` note (the last) of the thread at this index.
    Creator(usize),
}

#[derive(Default)]
struct Parser {
    b: Builder,
    mode: Mode,
    /// A line that wants its location line next.
    awaiting: Option<Awaiting>,
    /// A claim about the goroutine printed next (a panic's).
    claim_for_next: Option<usize>,
    panic: bool,
    fatal: bool,
    signal: bool,
}

impl Parser {
    fn line(&mut self, no: usize, l: &str) {
        if l.is_empty() {
            return;
        }
        self.b.seen(no);
        if let Some(awaiting) = self.awaiting.take() {
            if let Some(loc) = line::parse_location(l) {
                if let Awaiting::Frame(t) = awaiting {
                    self.b.stack_line_of(t, no);
                }
                self.location(awaiting, loc);
                return;
            }
        }
        if let Some(h) = line::parse_header(l) {
            self.header(h);
        } else if l.starts_with("created by ") {
            self.created_by(l);
        } else if let Some(call) = line::parse_call(l) {
            self.call(no, call);
        } else if line::is_elision(l) || l == "goroutine running on other thread; stack unavailable"
        {
            if let Mode::In(t) = self.mode {
                self.b.threads[t].partial = true;
                self.b.threads[t].notes.push(l.to_string());
            }
        } else if let Some(msg) = l.strip_prefix("fatal error: ") {
            self.fatal = true;
            self.claim(no, l, msg);
        } else if let Some(msg) = l.strip_prefix("panic: ") {
            self.panic = true;
            self.claim(no, l, msg);
        } else if line::is_signal_line(l) {
            self.signal = true;
        } else if l == "runtime stack:" {
            self.mode = Mode::Outside;
        } else if l.starts_with("goroutine profile: total ") {
            self.diag(
                no,
                "this is pprof's `goroutine?debug=1` profile (stacks counted, no goroutine ids \
                 or states), which is not read; take `goroutine?debug=2` or a SIGQUIT dump",
            );
        }
        // Anything else is noise: program output, prompts, register dumps, annotations.
    }

    fn header(&mut self, h: line::Header) {
        let mut notes = Vec::new();
        notes.extend(h.machine.map(str::to_string));
        if h.scan {
            notes.push("(scan)".to_string());
        }
        notes.extend(h.extras.iter().map(|e| e.to_string()));
        if let Some(c) = self.claim_for_next.take() {
            self.b.claims[c].threads.push(h.id.to_string());
        }
        let idx = self.b.thread(Thread {
            debugger_id: Some(h.id.to_string()),
            id_kind: IdKind::Goroutine,
            status: Some(h.status.to_string()),
            waited_minutes: h.minutes,
            notes,
            ..Thread::default()
        });
        // Past the thread cap: its frames go nowhere.
        self.mode = idx.map_or(Mode::Outside, Mode::In);
    }

    fn call(&mut self, no: usize, call: line::Call) {
        let t = match self.mode {
            Mode::In(t) => t,
            Mode::Start => {
                self.diag(
                    no,
                    "frames before any `goroutine N [...]:` header: read as one goroutine whose \
                     id and state the excerpt does not show",
                );
                let Some(t) = self.b.thread(Thread {
                    partial: true,
                    ..Thread::default()
                }) else {
                    self.mode = Mode::Outside;
                    return;
                };
                self.mode = Mode::In(t);
                t
            }
            Mode::Outside => return,
        };
        let mut args = Vec::with_capacity(line::split_args(call.args).count());
        args.extend(line::split_args(call.args).map(|a| Var::new(share(""), share(a))));
        let f = Frame {
            function: Some(share(call.function)),
            // Go prints `(...)` for exactly the frames it inlined.
            inlined: call.args == "...",
            args: args.into(),
            ..Frame::default()
        };
        self.b.push(t, f);
        self.b.stack_line_of(t, no);
        self.awaiting = Some(Awaiting::Frame(t));
    }

    fn location(&mut self, awaiting: Awaiting, loc: line::Location) {
        match awaiting {
            Awaiting::Frame(t) => {
                if let Some(f) = self.b.threads[t].frames.last_mut() {
                    f.file = Some(share(loc.file));
                    f.line = Some(loc.line);
                    f.address = loc.pc;
                    f.pc_offset = loc.offset;
                }
            }
            Awaiting::Creator(t) => {
                if let Some(note) = self.b.threads[t].notes.last_mut() {
                    note.push_str(&format!(" at {}:{}", loc.file, loc.line));
                }
            }
        }
    }

    /// `created by main.main in goroutine 1`: the goroutine's stack ends here.
    fn created_by(&mut self, l: &str) {
        if let Mode::In(t) = self.mode {
            self.b.threads[t].notes.push(l.to_string());
            self.awaiting = Some(Awaiting::Creator(t));
        }
        self.mode = Mode::Outside;
    }

    fn claim(&mut self, no: usize, l: &str, msg: &str) {
        let deadlock = msg.contains("deadlock");
        self.b.claims.push(Claim {
            text: l.to_string(),
            threads: Vec::new(),
            deadlock,
            line: Some(no),
        });
        // "All goroutines are asleep" speaks of the process; a panic of the goroutine that
        // Go prints first.
        self.claim_for_next = (!deadlock).then_some(self.b.claims.len() - 1);
    }

    fn diag(&mut self, line: usize, message: &str) {
        self.b.diag(line, message);
    }

    fn finish(mut self, origin: &str) -> Snapshot {
        let threads = &self.b.threads;
        let goroutines = threads.iter().filter(|t| t.debugger_id.is_some()).count();
        let headless = goroutines < threads.len();
        let has_main = threads
            .iter()
            .any(|t| t.debugger_id.as_deref() == Some("1"));
        // A fatal error and a signal print every goroutine; a panic prints only its own unless
        // GOTRACEBACK says otherwise, and a bare dump may be an excerpt: believe those complete
        // when more than one goroutine (and, without a panic, the main one) is there.
        let complete = !headless
            && goroutines > 0
            && (self.fatal || self.signal || (goroutines > 1 && (self.panic || has_main)));
        let found = !threads.is_empty();
        self.b.nothing_found("no goroutine found in the input");
        if found && !complete && self.panic && goroutines == 1 {
            self.b.note(
                "only the panicking goroutine is shown (Go's default GOTRACEBACK=single); run \
                 with GOTRACEBACK=all to see every goroutine",
            );
        } else if found && !complete {
            self.b.note(
                "the dump does not show that it holds every goroutine (no `fatal error:` or \
                 signal line, and goroutine 1 missing or alone), so it is read as an excerpt",
            );
        }
        self.b.finish("go", origin, complete)
    }
}

#[cfg(test)]
mod tests;
