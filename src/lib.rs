//! hangscan: why is this process stuck?
//!
//! As a library, the front door is at the root: [`parse_dump`], [`attach`] or [`read_core`]
//! give a [`Snapshot`], [`analyze()`] finds what blocks what ([`Analysis::verdict`]), [`render`]
//! writes the report.
//!
//! ```
//! # let dump = "Thread 1 (Thread 0x7ffff7d8b740 (LWP 7) \"idle\"):\n\
//! #   #0  0x00007ffff7e9e1b4 in clock_nanosleep () from /lib/x86_64-linux-gnu/libc.so.6\n";
//! let snapshot = hangscan::parse_dump(dump)?;
//! let analysis = hangscan::analyze(&snapshot);
//! if analysis.verdict() != hangscan::Verdict::NoDeadlock {
//!     hangscan::render(&snapshot, &analysis, hangscan::Format::Text, &mut std::io::stderr())?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```text
//!   text dump (gdb, rr, ...) ─► Snapshot ─► classify ─► wait-for graph ─► findings ─► render
//!   dump::*                     model       analyze     analyze::graph     analyze     report
//!                                           (knowledge: rules as data)
//! ```
//! Producers fill one [`model::Snapshot`]; [`analyze::analyze`] is a pure function of the
//! snapshot and the [`knowledge::KnowledgeBase`]; [`report`] renders. See ARCHITECTURE.md.

#![warn(missing_docs)]

pub mod analyze;
mod api;
mod app;
pub mod buckets;
mod cli;
pub mod config;
pub mod dump;
pub mod error;
pub mod knowledge;
pub mod limits;
pub mod model;
pub mod names;
pub mod report;
pub mod sanitize;
pub mod values;

// Platform code, declared here only: live capture (ptrace, `/proc`) and the demo are Linux's;
// so are reading objects (`openat2`, `/proc/PID/root`), unwinding, symbolizing and core files,
// which the capture feeds. Everything else (dumps, analysis, reports) builds on any target,
// where `attach` and `read_core` return an error saying so.
#[cfg(target_os = "linux")]
pub mod capture;
#[cfg(target_os = "linux")]
pub mod corefile;
#[cfg(target_os = "linux")]
mod demo;
#[cfg(target_os = "linux")]
pub mod objects;
#[cfg(target_os = "linux")]
pub mod runtime;
#[cfg(target_os = "linux")]
pub mod stackwalk;
#[cfg(target_os = "linux")]
pub mod symbolize;
#[cfg(target_os = "linux")]
pub mod syscalls;
#[cfg(target_os = "linux")]
pub mod unwind;

pub use analyze::{Analysis, Verdict};
pub use api::{analyze, attach, parse_dump, read_core, render, Options};
pub use error::{Error, Result};
pub use model::Snapshot;
pub use report::Format;

/// The `hangscan` command (the binary's `main`, not part of the library's API): reads the
/// arguments (exiting on `--help` or a usage error), calls `ready` (the binary sizes its
/// thread pool there), runs the command and returns its exit status.
#[doc(hidden)]
pub fn run_cli(ready: impl FnOnce()) -> i32 {
    use clap::Parser;
    let args = cli::Args::parse();
    ready();
    app::run(args.into_config())
}
