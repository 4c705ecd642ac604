//! Command-line arguments (clap) and their translation into a plain [`Config`]. The only file
//! that knows about clap.

use crate::config::{Color, Command, Config, ParseConfig};
use crate::report::Format;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// hangscan tells you why a process is stuck: it reads thread dumps, builds the wait-for
/// graph (who waits on what, held by whom) and reports the cycles.
#[derive(Parser, Debug)]
#[command(name = "hangscan", version, about, long_about = None, after_help = EXIT_HELP)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

const EXIT_HELP: &str = "Exit status: 0 no deadlock found, 1 a deadlock or a stall (nothing can move) was found, 2 trouble (bad input, unreadable file).";

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Analyse recorded dumps: gdb `thread apply all bt` / `bt full` / `info threads` (and
    /// rr), pasted as they are (mail quoting, log prefixes, pager prompts and all).
    #[command(after_help = PARSE_HELP)]
    Parse {
        /// Dump files to read; `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
        /// Force the input format instead of sniffing it (see `hangscan parse --help`).
        #[arg(long, value_name = "NAME")]
        input_format: Option<String>,
    },
    /// List the rules that give frames their meaning (built-in packs plus --rules files).
    Rules {
        /// Extra rule files (TOML, same format as the built-in packs).
        #[arg(long, value_name = "FILE")]
        rules: Vec<PathBuf>,
    },
}

const PARSE_HELP: &str = "\
Examples:
  gdb -p PID -batch -ex 'set pagination off' -ex 'thread apply all bt full' > dump.txt
  hangscan parse dump.txt
  hangscan parse --format json -o report.json dump.txt
  xclip -o | hangscan parse -

For lock owners in C programs, also print each waited-on mutex (`p *mutex` in the
pthread_mutex_lock frame): the `__owner` field proves who holds it.";

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
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Text,
    Json,
    Dot,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

impl Args {
    /// Turns parsed arguments into the plain configuration the app runs.
    pub fn into_config(self) -> Config {
        match self.command {
            Cmd::Parse {
                files,
                common,
                input_format,
            } => Config {
                rules: common.rules,
                command: Command::Parse(ParseConfig {
                    files,
                    input_format,
                    format: match common.format {
                        FormatArg::Text => Format::Text,
                        FormatArg::Json => Format::Json,
                        FormatArg::Dot => Format::Dot,
                    },
                    output: common.output,
                    color: match common.color {
                        ColorArg::Auto => Color::Auto,
                        ColorArg::Always => Color::Always,
                        ColorArg::Never => Color::Never,
                    },
                }),
            },
            Cmd::Rules { rules } => Config {
                rules,
                command: Command::Rules,
            },
        }
    }
}
