//! The library's one error type. Messages are full sentences that say what failed and what to
//! do; per-item problems (a frame that cannot be read) are diagnostics in the model, not errors.

use thiserror::Error;

/// Everything that can stop a command from producing a report.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An input file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An output file (`-o`, `--save`) could not be written.
    #[error("cannot write {path}: {source} (check that the directory exists and is writable)")]
    WriteFile {
        /// The path as given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// No parser recognised the input.
    #[error("{origin}: {why}")]
    Unrecognised {
        /// Where the input came from.
        origin: String,
        /// What the input is instead, and what to do with it.
        why: String,
    },
    /// `--input-format` named no known format.
    #[error("unknown input format `{name}` (known: {known})")]
    UnknownFormat {
        /// What the user asked for.
        name: String,
        /// The known formats.
        known: String,
    },
    /// A rules file is invalid.
    #[error("rules {origin}: {message}")]
    Rules {
        /// The file (or built-in pack) the rule came from.
        origin: String,
        /// What is wrong, naming the rule.
        message: String,
    },
    /// No such process.
    #[error("process {pid} does not exist (check the PID with `ps`)")]
    NoProcess {
        /// The pid asked for.
        pid: u32,
    },
    /// The process exited while it was being captured.
    #[error("process {pid} exited while it was being captured; nothing to analyse")]
    ProcessGone {
        /// The pid.
        pid: u32,
    },
    /// hangscan may not trace the process.
    #[error("permission denied attaching to process {pid}: {why}")]
    Permission {
        /// The pid.
        pid: u32,
        /// Why, and what to do (see `capture::access`).
        why: String,
    },
    /// Another tracer (a debugger, strace) holds the process or one of its threads.
    #[error("{} is already traced by {tracer}, and a thread can have only one tracer — detach it (quit the debugger) and run hangscan again", whom(*pid, *tid))]
    AlreadyTraced {
        /// The pid.
        pid: u32,
        /// The thread refused, when it is not the process's first.
        tid: Option<u32>,
        /// "process 4645 (gdb)".
        tracer: String,
    },
    /// The process is not one hangscan can capture at all (a kernel thread, hangscan itself)
    /// or not now (another hangscan holds it).
    #[error("cannot attach to process {pid}: {why}")]
    Untraceable {
        /// The pid.
        pid: u32,
        /// Why, and what to do (see `capture::access`).
        why: String,
    },
    /// A thread of the process was calling `execve` every time hangscan tried to stop it.
    #[error("process {pid} was calling execve (a thread was replacing the program) each of the {tries} times hangscan tried to stop it; its threads were let go untouched — try again (a process cannot be captured in the middle of an exec)")]
    ExecRace {
        /// The pid.
        pid: u32,
        /// How many times the capture was tried.
        tries: u32,
    },
    /// Stopping the process stayed blocked in the kernel past the deadline.
    #[error("stopping process {pid} stayed blocked in the kernel for {secs:.1} s{}; hangscan gave up: every thread it had stopped is let go as soon as the kernel returns, or when hangscan exits — try again", if *exec { " (a thread of it is calling execve, which waits for its other threads to end, and PTRACE_SEIZE waits for that exec)" } else { " (in PTRACE_SEIZE, which waits while the process changes its credentials or calls execve)" })]
    Stalled {
        /// The pid.
        pid: u32,
        /// How long the seize had been blocked.
        secs: f64,
        /// Whether a thread of the process was seen in `execve`.
        exec: bool,
    },
    /// Any other capture failure.
    #[error("cannot capture process {pid}: {detail}")]
    Capture {
        /// The pid.
        pid: u32,
        /// What failed.
        detail: String,
    },
    /// A core file could not be used at all.
    #[error("{path}: {detail}")]
    Core {
        /// The core file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A file that looks like a saved JSON report could not be read as one.
    #[error("{path}: {detail}")]
    BadReport {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// `hangscan run` could not start or follow its command.
    #[error("run: {0}")]
    Run(String),
    /// A program file given with `parse --binary` cannot be used.
    #[error("{0}")]
    Binary(String),
    /// The demo could not run.
    #[error("demo: {0}")]
    Demo(String),
    /// Writing the report failed.
    #[error("cannot write the report: {0}")]
    Write(#[from] std::io::Error),
}

/// "process P" or "thread T of process P".
fn whom(pid: u32, tid: Option<u32>) -> String {
    match tid {
        Some(tid) => format!("thread {tid} of process {pid}"),
        None => format!("process {pid}"),
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
