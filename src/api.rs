//! The library's front door, re-exported at the crate root: get a [`Snapshot`] (parse a dump,
//! attach to a process, read a core), [`analyze`] it with the built-in rules, [`render`] the
//! report. The `hangscan` command is built on these same calls; the modules behind them stay
//! public for finer control ([`crate::analyze::analyze`] with your own
//! [`crate::knowledge::KnowledgeBase`], [`crate::report::render`] of several reports).

use crate::analyze::Analysis;
use crate::error::Result;
use crate::knowledge::KnowledgeBase;
use crate::model::{Diagnostic, Snapshot};
use crate::report::{Format, Report};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// How to capture a live process ([`attach`]) or read a core file ([`read_core`]). The
/// defaults are the command's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Bytes of each thread's stack copied (attach) or used (core), from the stack pointer up;
    /// deeper frames are cut, and the report says how many bytes would reach them.
    pub stack_bytes: usize,
    /// Also read system libraries' DWARF (file:line and inlined frames inside libc); slower.
    pub full_symbols: bool,
    /// Read every frame's parameters and locals from memory into its `args` and `locals`,
    /// like gdb's `bt full`; by default only the lock guards the rules know are read.
    pub locals: bool,
    /// Attach: `/proc` samples: one before the stop, and with 2 a second look after it, taken
    /// while the stacks are unwound (it tells busy threads from stuck ones).
    pub samples: u32,
    /// Attach: the least time between the two samples.
    pub interval: Duration,
    /// Core: the executable the process ran, when it is not at the path the core names.
    pub exe: Option<PathBuf>,
    /// Core: a directory the core's paths are relative to (a copy of the machine's root).
    pub sysroot: Option<PathBuf>,
    /// Extra rule files `(origin, text)`, as [`KnowledgeBase::load`] takes them: their `guard`
    /// rules say which variables are lock guards too, before the built-in ones.
    pub rules: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stack_bytes: 64 * 1024,
            full_symbols: false,
            locals: false,
            samples: 2,
            interval: Duration::from_millis(50),
            exe: None,
            sysroot: None,
            rules: Vec::new(),
        }
    }
}

/// Reads a thread dump as text: gdb or rr (`thread apply all bt [full]`), lldb `bt all`,
/// eu-stack, pstack, jstack, a Go goroutine dump, a Rust panic or parking_lot report, Python's
/// faulthandler or py-spy, or a snapshot saved by `hangscan attach --save`; the format is
/// sniffed. An error when the text is none of them; what could not be read in a dump of a
/// known format becomes the snapshot's diagnostics, never a panic.
///
/// ```
/// let dump = "\
/// Thread 2 (Thread 0x7ffff7d8a640 (LWP 4243) \"worker\"):
/// #0  futex_wait (private=0, expected=2, futex_word=0x555555558040 <lock>) at ../sysdeps/nptl/futex-internal.h:146
/// #1  __GI___lll_lock_wait (futex=0x555555558040 <lock>, private=0) at ./nptl/lowlevellock.c:49
/// #2  0x00007ffff7e1c0f1 in lll_mutex_lock_optimized (mutex=0x555555558040 <lock>) at ./nptl/pthread_mutex_lock.c:48
/// #3  ___pthread_mutex_lock (mutex=0x555555558040 <lock>) at ./nptl/pthread_mutex_lock.c:93
/// #4  0x0000555555555196 in worker () at prog.c:9
/// ";
/// let snapshot = hangscan::parse_dump(dump).unwrap();
/// assert_eq!(snapshot.producer, "gdb");
/// assert_eq!(snapshot.threads[0].tid, Some(4243));
/// assert_eq!(snapshot.threads[0].frames[4].function.as_deref(), Some("worker"));
/// ```
pub fn parse_dump(text: impl AsRef<[u8]>) -> Result<Snapshot> {
    crate::dump::parse_dump(text.as_ref(), "dump", None)
}

/// The built-in rules, compiled once (tens of milliseconds) and shared.
fn builtin_rules() -> &'static KnowledgeBase {
    static RULES: OnceLock<KnowledgeBase> = OnceLock::new();
    RULES.get_or_init(KnowledgeBase::builtin)
}

/// The variables a capture or a core reads: those the guard rules name, and the parameters
/// of the waits whose futex word names no lock (`sleeps_apart`), the extra files' rules and
/// the built-in ones (every variable with `locals`).
#[cfg(target_os = "linux")]
fn var_request(options: &Options) -> crate::stackwalk::VarRequest {
    use crate::stackwalk::{ArgSpec, GuardSpec, VarRequest};
    let mut request = VarRequest {
        all: options.locals,
        ..VarRequest::default()
    };
    for r in KnowledgeBase::capture_rules(&options.rules) {
        match r.members {
            Some(m) => request.guards.push(GuardSpec {
                rule: r.id,
                pattern: r.pattern.regex().clone(),
                pointer: m.pointer,
                within: m.within,
                owns: m.owns,
            }),
            None => request.args.push(ArgSpec {
                pattern: r.pattern.regex().clone(),
                names: r.address_args,
            }),
        }
    }
    request
}

/// Analyses a snapshot with the built-in rules: each thread's wait, the wait-for graph, and
/// the findings (deadlocks, starvation, stalls, root blockers), each with its evidence grade.
/// A pure function of the snapshot.
///
/// ```
/// use hangscan::Verdict;
///
/// // Two threads, each joining the other (gdb's `thread apply all bt`).
/// let dump = "\
/// Thread 3 (Thread 0x7f81f346e6c0 (LWP 18767) \"writer\"):
/// #0  __futex_abstimed_wait_common64 (private=128, cancel=true, abstime=0x0, op=265, expected=18766, futex_word=0x7f81f3c6f990) at ./nptl/futex-internal.c:57
/// #1  0x00007f81f3cfdce3 in __pthread_clockjoin_ex (threadid=140196117411520, thread_return=0x0, clockid=0, abstime=0x0, block=<optimized out>) at ./nptl/pthread_join_common.c:102
/// #2  0x0000557796942591 in writer_main (arg=0x0) at conn.c:20
///
/// Thread 2 (Thread 0x7f81f3c6f6c0 (LWP 18766) \"reader\"):
/// #0  __futex_abstimed_wait_common64 (private=128, cancel=true, abstime=0x0, op=265, expected=18767, futex_word=0x7f81f346e990) at ./nptl/futex-internal.c:57
/// #1  0x00007f81f3cfdce3 in __pthread_clockjoin_ex (threadid=140196109018816, thread_return=0x0, clockid=0, abstime=0x0, block=<optimized out>) at ./nptl/pthread_join_common.c:102
/// #2  0x0000557796942540 in reader_main (arg=0x0) at conn.c:10
/// ";
/// let snapshot = hangscan::parse_dump(dump).unwrap();
/// let analysis = hangscan::analyze(&snapshot);
/// assert_eq!(analysis.verdict(), Verdict::Deadlock);
///
/// let mut report = Vec::new();
/// hangscan::render(&snapshot, &analysis, hangscan::Format::Text, &mut report).unwrap();
/// let report = String::from_utf8(report).unwrap();
/// assert!(report.starts_with("DEADLOCK: join cycle: 2 threads wait for each other to exit"));
/// ```
pub fn analyze(snapshot: &Snapshot) -> Analysis {
    crate::analyze::analyze(snapshot, builtin_rules())
}

/// Writes the report of `snapshot` and its `analysis` in `format` (text without colour, JSON
/// as in docs/json-schema.md, DOT, Markdown, SARIF, JUnit).
///
/// ```
/// let snapshot = hangscan::parse_dump("\
/// Thread 1 (Thread 0x7ffff7d8b740 (LWP 7) \"idle\"):
/// #0  0x00007ffff7e9e1b4 in clock_nanosleep () from /lib/x86_64-linux-gnu/libc.so.6
/// #1  0x0000555555555170 in main () at sleep.c:5
/// ").unwrap();
/// let analysis = hangscan::analyze(&snapshot);
/// let mut out = Vec::new();
/// hangscan::render(&snapshot, &analysis, hangscan::Format::Text, &mut out).unwrap();
/// assert!(String::from_utf8(out).unwrap().starts_with("no deadlock found"));
/// ```
pub fn render(
    snapshot: &Snapshot,
    analysis: &Analysis,
    format: Format,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let report = Report { snapshot, analysis };
    crate::report::render(&[report], format, false, out)
}

/// Captures a live process (Linux, ptrace): samples `/proc`, stops every thread for a few
/// milliseconds, copies registers and the top of each stack, lets the process go (also on
/// every error path), then unwinds and symbolizes the copies while a second look at `/proc`
/// says which threads ran, woke or did I/O meanwhile. Needs the right to trace the
/// process (the same user and Yama's `ptrace_scope` allowing it, or root); the error says
/// which right is missing.
pub fn attach(pid: u32, options: &Options) -> Result<Snapshot> {
    #[cfg(target_os = "linux")]
    {
        let opts = crate::capture::CaptureOptions {
            stack_bytes: options.stack_bytes,
            samples: options.samples,
            interval: options.interval,
        };
        // The objects are known before the threads are stopped: load their symbols, and the
        // rules that say which variables to read, meanwhile.
        let space = crate::capture::address_space(pid);
        let walker = crate::stackwalk::Stackwalker::new(options.full_symbols);
        let (captured, vars) = std::thread::scope(|s| {
            let warm = space.clone();
            let walker = &walker;
            // Only a head start: without memory for the thread, they load after the capture.
            let ahead = std::thread::Builder::new().spawn_scoped(s, move || {
                let vars = var_request(options);
                walker.warm(&warm);
                vars
            });
            let captured = crate::capture::capture(pid, &opts, space);
            let vars = ahead.ok().and_then(|h| h.join().ok());
            (captured, vars)
        });
        let captured = captured?;
        let vars = vars.unwrap_or_else(|| var_request(options));
        // The second look at /proc is taken while the copies are unwound and symbolized.
        let mut snapshot =
            walker
                .with_vars(vars)
                .to_snapshot(captured.image, "attach", format!("pid {pid}"));
        captured.second_look.finish(&mut snapshot);
        snapshot.process = Some(captured.facts);
        Ok(snapshot)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = options;
        Err(crate::error::Error::Capture {
            pid,
            detail: "live capture needs Linux; record a gdb dump and use `hangscan parse`".into(),
        })
    }
}

/// Reads an ELF core file (the kernel's or `gcore`'s) and unwinds its threads. A truncated
/// core gives what it holds, its snapshot marked incomplete and the cut said in its
/// diagnostics.
pub fn read_core(path: &Path, options: &Options) -> Result<Snapshot> {
    read_core_warning(path, options, |_| {})
}

/// [`read_core`], with the files the core names that could not be used (or not checked)
/// handed to `warn` before the threads are unwound.
pub(crate) fn read_core_warning(
    path: &Path,
    options: &Options,
    warn: impl FnOnce(&[Diagnostic]),
) -> Result<Snapshot> {
    #[cfg(target_os = "linux")]
    {
        let opts = crate::corefile::CoreOptions {
            exe: options.exe.clone(),
            sysroot: options.sysroot.clone(),
            stack_bytes: options.stack_bytes,
        };
        let image = crate::corefile::read_core(path, &opts)?;
        warn(&image.diagnostics);
        let walker = crate::stackwalk::Stackwalker::new(options.full_symbols)
            .with_vars(var_request(options));
        let mut snapshot = walker.to_snapshot(image, "core", path.display().to_string());
        snapshot.diagnostics.push(crate::stackwalk::no_second_look(
            "a core file is one instant of the process",
        ));
        Ok(snapshot)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (options, warn);
        Err(crate::error::Error::Read {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "reading core files needs Linux; on Linux, or with gdb here, dump it \
                 (`gdb -batch -ex 'thread apply all bt full' PROGRAM CORE`) and use `hangscan parse`",
            ),
        })
    }
}
