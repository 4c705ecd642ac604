//! Renderers at the edge: the same [`Report`] as text for a person, JSON for machines, DOT for
//! the graph. The only code that formats output; it never analyses.

mod buckets;
mod dot;
mod json;
mod sanitize;
mod text;

pub use buckets::{render_buckets, BUCKETS_SCHEMA};
pub use json::SCHEMA;
pub use sanitize::clean;

use crate::analyze::Analysis;
use crate::model::Snapshot;
use std::io::Write;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person: verdict first, then each finding step by step, then grouped threads.
    Text,
    /// Versioned JSON (see docs/json-schema.md).
    Json,
    /// Graphviz DOT of the wait-for graph, cycles in red.
    Dot,
}

/// A snapshot with its analysis: what every renderer reads.
pub struct Report<'a> {
    /// The input.
    pub snapshot: &'a Snapshot,
    /// What was found.
    pub analysis: &'a Analysis,
}

/// Renders `reports` (one per input) in `format`. `color` only applies to text.
pub fn render(
    reports: &[Report],
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        Format::Text => {
            for (i, r) in reports.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                text::render(r, color, reports.len() > 1, out)?;
            }
            Ok(())
        }
        Format::Json => json::render(reports, out),
        Format::Dot => dot::render(reports, out),
    }
}
