//! Plain configuration structs: what the command line asks for, free of clap.

use crate::report::Format;
use std::path::PathBuf;
use std::time::Duration;

/// A whole invocation.
#[derive(Debug)]
pub struct Config {
    /// Extra rule files.
    pub rules: Vec<PathBuf>,
    /// What to do.
    pub command: Command,
}

/// The subcommands.
#[derive(Debug)]
pub enum Command {
    /// Analyse dump files.
    Parse {
        /// Inputs (`-` is stdin).
        files: Vec<PathBuf>,
        /// A forced input format.
        input_format: Option<String>,
        /// The program files the dumps were taken from (`--binary`): their code decides which
        /// threads can hold a lock that records no owner.
        binaries: Vec<PathBuf>,
        /// Where the report goes.
        out: OutputConfig,
    },
    /// Capture live processes.
    Attach(AttachConfig),
    /// Read core files.
    Core(CoreConfig),
    /// Run a command; capture its tree if it hangs.
    Run(RunConfig),
    /// Start the bundled hanging server and attach to it.
    Demo(AttachConfig),
    /// Run the demo's hanging server (internal).
    DemoTarget,
    /// List the rules.
    Rules,
}

/// `hangscan run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The command and its arguments.
    pub command: Vec<std::ffi::OsString>,
    /// How long it may run.
    pub timeout: Duration,
    /// How long the post-mortem (captures and reports) may take.
    pub budget: Duration,
    /// Between SIGTERM and SIGKILL when the tree is ended.
    pub grace: Duration,
    /// Where the report file goes (in `format`).
    pub report: Option<PathBuf>,
    /// The report file's format.
    pub format: Format,
    /// Bytes of each thread's stack copied.
    pub stack_bytes: usize,
    /// Read system libraries' DWARF too.
    pub full_symbols: bool,
}

/// `hangscan core`.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Core files.
    pub cores: Vec<PathBuf>,
    /// The program, when not where the core says.
    pub exe: Option<PathBuf>,
    /// Where the core's files are.
    pub sysroot: Option<PathBuf>,
    /// Bytes of stack used per thread.
    pub stack_bytes: usize,
    /// Read system libraries' DWARF too.
    pub full_symbols: bool,
    /// Read every frame's parameters and locals (`--locals`), not only lock guards.
    pub locals: bool,
    /// Where the report goes.
    pub out: OutputConfig,
}

/// `hangscan attach` (and the demo, which attaches too).
#[derive(Debug, Clone)]
pub struct AttachConfig {
    /// Processes to capture.
    pub pids: Vec<u32>,
    /// Add every descendant of each pid.
    pub tree: bool,
    /// Save each snapshot as JSON (re-read with `parse`).
    pub save: Option<PathBuf>,
    /// `/proc` samples: one before the stop, a second look after it with 2.
    pub samples: u32,
    /// Least time between the two samples.
    pub interval: Duration,
    /// Bytes of stack copied per thread.
    pub stack_bytes: usize,
    /// Read system libraries' DWARF too.
    pub full_symbols: bool,
    /// Read every frame's parameters and locals (`--locals`), not only lock guards.
    pub locals: bool,
    /// Where the report goes.
    pub out: OutputConfig,
}

/// Output choices shared by every command that reports.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// Output format.
    pub format: Format,
    /// Output file (stdout when `None`).
    pub output: Option<PathBuf>,
    /// Colour choice.
    pub color: Color,
    /// Text: also every thread's frames, each with how it was found (`-v`).
    pub frames: bool,
    /// Text: break lines at this many columns (`--width`; 0: never); `None`: the terminal's
    /// width when standard output is one, else never.
    pub width: Option<usize>,
}

/// Colour choice for text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}
