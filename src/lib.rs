//! hangscan: why is this process stuck?
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
pub mod app;
pub mod buckets;
#[cfg(target_os = "linux")]
pub mod capture;
pub mod cli;
pub mod config;
pub mod corefile;
#[cfg(target_os = "linux")]
pub mod demo;
pub mod dump;
pub mod error;
pub mod knowledge;
pub mod limits;
pub mod model;
pub mod names;
pub mod objects;
pub mod report;
pub mod sanitize;
pub mod stackwalk;
pub mod symbolize;
pub mod syscalls;
pub mod unwind;
pub mod values;
