//! Command-line arguments (clap) and their translation into a plain [`Config`]. The only file
//! that knows about clap.

use crate::config::{AttachConfig, Color, Command, Config, CoreConfig, OutputConfig, RunConfig};
use crate::report::Format;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// hangscan tells you why a process is stuck: it captures or reads every thread's stack,
/// builds the wait-for graph (who waits on what, held by whom) and reports the cycles.
#[derive(Parser, Debug)]
#[command(name = "hangscan", version, about, long_about = None, after_help = EXIT_HELP)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

const EXIT_HELP: &str = "Exit status: 0 no deadlock found, 1 a deadlock or a stall (nothing can move) was found, 2 trouble (bad input, no permission, process gone).";

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Capture running processes (no gdb needed): stops every thread for milliseconds,
    /// copies registers and stack tops, resumes them, then unwinds, symbolizes and analyses.
    #[command(after_help = ATTACH_HELP)]
    Attach {
        /// Process ids to capture.
        #[arg(required = true, value_name = "PID")]
        pids: Vec<u32>,
        /// Also capture every descendant of each PID.
        #[arg(long)]
        tree: bool,
        /// Save the captured snapshot as JSON; `hangscan parse FILE` re-analyses it identically.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        #[command(flatten)]
        capture: CaptureArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Analyse recorded dumps, pasted as they are (mail quoting, Markdown, line numbers, log
    /// prefixes, pager prompts and all; several processes' gdb dumps in one paste are reported
    /// one by one): gdb (and rr) `thread apply all bt [full]`, lldb `bt all`, eu-stack, pstack
    /// / gstack, jstack / `jcmd Thread.print`, Go goroutine dumps, Rust panics and parking_lot
    /// reports, Python faulthandler and py-spy, a snapshot saved by `attach --save`, or a
    /// runtime's message alone that is a verdict (Rust's `would result in deadlock`, glibc's
    /// `Resource deadlock avoided`, Go's `all goroutines are asleep`, Python's `cannot join
    /// current thread`), checked against the stacks when there are any.
    #[command(after_help = PARSE_HELP)]
    Parse {
        /// Dump files to read; `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
        /// Force the input format instead of sniffing it: gdb, lldb, eu-stack, pstack, jstack,
        /// go, rust, faulthandler, py-spy, snapshot, message.
        #[arg(long, value_name = "NAME")]
        input_format: Option<String>,
        /// The program the dump was taken from (repeat it for its own shared libraries): the
        /// very build that ran. With it the static objects threads wait on are named, and each
        /// frame's function is checked for which of them its code names, so that a thread
        /// asleep in code that never names a lock is not counted as its holder. For dumps whose
        /// locks record no owner: Go's SIGQUIT dump (`sync.Mutex`), gdb, lldb, eu-stack and
        /// pstack dumps of C programs. A file that does not fit the dump is not used, and the
        /// report says why.
        #[arg(long = "binary", value_name = "FILE")]
        binaries: Vec<PathBuf>,
    },
    /// Analyse core files (written by the kernel or by gdb's `gcore`): threads, registers and
    /// memory from the core, code and symbols from the binaries on this machine, which must be
    /// the ones the process ran (their build-ids are checked).
    #[command(after_help = CORE_HELP)]
    Core {
        /// Core files to read.
        #[arg(required = true, value_name = "CORE")]
        cores: Vec<PathBuf>,
        /// The program the process ran, when it is not at the path the core names.
        #[arg(long, value_name = "BIN")]
        exe: Option<PathBuf>,
        /// Look every file the core names up under DIR (a copy of the machine's root).
        #[arg(long, value_name = "DIR")]
        sysroot: Option<PathBuf>,
        /// Bytes of each thread's stack used, from the stack pointer up.
        #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES")]
        stack_bytes: usize,
        /// Also read system libraries' DWARF (file:line and inlined frames inside libc).
        #[arg(long)]
        full_symbols: bool,
        /// Read every frame's parameters and locals from memory, like gdb's `bt full` (by
        /// default only the lock guards the rules know are read).
        #[arg(long)]
        locals: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Run a command (a test suite, a CI step) with its output untouched. If it ends in time,
    /// exit with its status; if it is still running after --timeout, capture every process of
    /// its tree, report why each is stuck (text on stderr, --report FILE), end the tree and
    /// exit 124.
    #[command(after_help = RUN_HELP)]
    Run {
        /// How long the command may run (`90s`, `10m`, `1h`, `500ms`; plain numbers are seconds).
        #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DUR")]
        timeout: Duration,
        /// How long the post-mortem may take in all; what is not captured by then is named.
        #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DUR")]
        budget: Duration,
        /// How long the tree gets to exit after SIGTERM before SIGKILL.
        #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DUR")]
        grace: Duration,
        /// Also write the report to FILE, in --format.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// The report file's format.
        #[arg(long, value_enum, default_value_t = FormatArg::Json)]
        format: FormatArg,
        /// Bytes of each thread's stack copied while it is stopped (deeper frames are cut).
        #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
        stack_bytes: usize,
        /// Also read system libraries' DWARF (file:line and inlined frames inside libc).
        #[arg(long)]
        full_symbols: bool,
        /// Extra rule files for your own pools and locks.
        #[arg(long, value_name = "FILE")]
        rules: Vec<PathBuf>,
        /// The command and its arguments, after `--`.
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Start a bundled server that hangs like the Nebula storage server did (a SIGTERM
    /// handler joining the worker pool it runs on), attach to it, report, and end it.
    Demo {
        #[command(flatten)]
        capture: CaptureArgs,
        #[command(flatten)]
        common: Common,
    },
    /// List the rules that give frames their meaning (built-in packs plus --rules files).
    Rules {
        /// Extra rule files (TOML, same format as the built-in packs).
        #[arg(long, value_name = "FILE")]
        rules: Vec<PathBuf>,
    },
    /// The demo's hanging server (used by `hangscan demo`).
    #[command(name = "__demo-target", hide = true)]
    DemoTarget,
}

const ATTACH_HELP: &str = "\
Examples:
  hangscan attach 4242
  hangscan attach --format json -o report.json 4242
  hangscan attach --tree $(pgrep -o my-test-runner)

Needs permission to ptrace the process: its owner, root or CAP_SYS_PTRACE, and
kernel.yama.ptrace_scope allowing it. A process already traced by a debugger cannot be
attached; when attaching is refused, hangscan says why (and which tracer holds it).";

const RUN_HELP: &str = "\
Examples:
  hangscan run --timeout 20m --report hang.json -- cargo test
  hangscan run --timeout 5m -- ctest --output-on-failure
  hangscan run --timeout 10m --format junit --report hang.xml -- pytest -x

Exit status: the command's own when it ends in time (128+N when a signal N ended it), 124
when it timed out, 127 when it could not be started. Never uses the network.";

const CORE_HELP: &str = "\
Examples:
  gcore -o /tmp/core 4242 && hangscan core /tmp/core.4242
  hangscan core --exe build/my-server core
  hangscan core --sysroot /srv/rootfs-of-that-machine core

A core holds the process's data, not its code: the program and its libraries are read from
this machine. If one is not the file the process ran (its build-id differs), the report says
so and does not use it.";

const PARSE_HELP: &str = "\
Examples:
  gdb -p PID -batch -ex 'set pagination off' -ex 'thread apply all bt full' > dump.txt
  hangscan parse dump.txt
  hangscan parse --format json -o report.json dump.txt
  xclip -o | hangscan parse -

For lock owners in C programs, also print each waited-on mutex (`p *mutex` in the
pthread_mutex_lock frame; fixtures/gdb/owners.gdb does it for every thread): the `__owner`
field proves who holds it.

Locks that record no owner (Go's sync.Mutex, a C program's own locks) are decided by the code
of the program the dump came from (Go prints its SIGQUIT dump on the program's stderr):
  hangscan parse --binary ./server server-stderr.log
  hangscan parse --binary ./app --binary ./libworker.so dump.txt
Give the very build that ran (keep it beside the dump): only code that names a lock can
have taken it, so a goroutine or thread asleep elsewhere is not its holder.";

#[derive(clap::Args, Debug)]
struct CaptureArgs {
    /// /proc samples: 1 before stopping the process, 2 adds a second look after it, taken
    /// while the stacks are unwound (it tells busy, spinning and livelocked threads from stuck
    /// ones).
    #[arg(long, default_value_t = 2, value_name = "N")]
    samples: u32,
    /// Least milliseconds between the two samples.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    interval: u64,
    /// Bytes of each thread's stack copied while it is stopped (deeper frames are cut).
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    stack_bytes: usize,
    /// Also read system libraries' DWARF: file:line and inlined frames inside libc and the
    /// like, as gdb shows them. Slower (glibc's debug info alone takes ~100 ms to load); by
    /// default their frames are named from their symbol tables.
    #[arg(long)]
    full_symbols: bool,
    /// Read every frame's parameters and locals from memory, like gdb's `bt full` (by default
    /// only the lock guards the rules know are read).
    #[arg(long)]
    locals: bool,
}

#[derive(clap::Args, Debug)]
struct Common {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Extra rule files for your own pools and locks (TOML; see `hangscan rules`).
    #[arg(long, value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Colour in text output: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
    /// Text output: after the report, every thread's frames, each with how the unwinder found
    /// it (context, cfi, frame-pointer, signal) and why each walk ended.
    #[arg(short, long)]
    verbose: bool,
    /// Text output: break lines to fit N columns (0: never). By default the terminal's width
    /// ($COLUMNS, else the terminal's own) when standard output is a terminal; output to a pipe
    /// or a file is not broken.
    #[arg(long, value_name = "N")]
    width: Option<usize>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Text,
    Json,
    Dot,
    Markdown,
    Sarif,
    Junit,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

/// `90s`, `10m`, `1h`, `500ms`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (like 90s, 10m, 1h, 500ms)"))?;
    let seconds = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}` (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{s}`: {e}"))
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Dot => Format::Dot,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Junit => Format::Junit,
        }
    }
}

impl Common {
    fn output(&self) -> OutputConfig {
        OutputConfig {
            format: self.format.format(),
            output: self.output.clone(),
            color: match self.color {
                ColorArg::Auto => Color::Auto,
                ColorArg::Always => Color::Always,
                ColorArg::Never => Color::Never,
            },
            frames: self.verbose,
            width: self.width,
        }
    }
}

fn attach_config(
    pids: Vec<u32>,
    tree: bool,
    save: Option<PathBuf>,
    c: &CaptureArgs,
    common: &Common,
) -> AttachConfig {
    AttachConfig {
        pids,
        tree,
        save,
        samples: c.samples,
        interval: Duration::from_millis(c.interval),
        stack_bytes: c.stack_bytes,
        full_symbols: c.full_symbols,
        locals: c.locals,
        out: common.output(),
    }
}

impl Args {
    /// Turns parsed arguments into the plain configuration the app runs.
    pub fn into_config(self) -> Config {
        match self.command {
            Cmd::Parse {
                files,
                common,
                input_format,
                binaries,
            } => Config {
                rules: common.rules.clone(),
                command: Command::Parse {
                    files,
                    input_format,
                    binaries,
                    out: common.output(),
                },
            },
            Cmd::Attach {
                pids,
                tree,
                save,
                capture,
                common,
            } => Config {
                rules: common.rules.clone(),
                command: Command::Attach(attach_config(pids, tree, save, &capture, &common)),
            },
            Cmd::Core {
                cores,
                exe,
                sysroot,
                stack_bytes,
                full_symbols,
                locals,
                common,
            } => Config {
                rules: common.rules.clone(),
                command: Command::Core(CoreConfig {
                    cores,
                    exe,
                    sysroot,
                    stack_bytes,
                    full_symbols,
                    locals,
                    out: common.output(),
                }),
            },
            Cmd::Run {
                timeout,
                budget,
                grace,
                report,
                format,
                stack_bytes,
                full_symbols,
                rules,
                command,
            } => Config {
                rules,
                command: Command::Run(RunConfig {
                    command,
                    timeout,
                    budget,
                    grace,
                    report,
                    format: format.format(),
                    stack_bytes,
                    full_symbols,
                }),
            },
            Cmd::Demo { capture, common } => Config {
                rules: common.rules.clone(),
                command: Command::Demo(attach_config(Vec::new(), false, None, &capture, &common)),
            },
            Cmd::Rules { rules } => Config {
                rules,
                command: Command::Rules,
            },
            Cmd::DemoTarget => Config {
                rules: Vec::new(),
                command: Command::DemoTarget,
            },
        }
    }
}
