//! Plain configuration structs: what the command line asks for, free of clap.

use crate::report::Format;
use std::path::PathBuf;

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
    Parse(ParseConfig),
    /// List the rules.
    Rules,
}

/// `hangscan parse`.
#[derive(Debug)]
pub struct ParseConfig {
    /// Inputs (`-` is stdin).
    pub files: Vec<PathBuf>,
    /// A forced input format.
    pub input_format: Option<String>,
    /// Output format.
    pub format: Format,
    /// Output file (stdout when `None`).
    pub output: Option<PathBuf>,
    /// Colour choice.
    pub color: Color,
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
