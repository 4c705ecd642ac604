//! Signature buckets (see [`crate::buckets`]) as text for a person or JSON for a dashboard.

use crate::buckets::Bucket;
use crate::sanitize::{clean, write_json};
use serde::Serialize;
use std::io::Write;

/// The schema id of the JSON form.
pub const BUCKETS_SCHEMA: &str = "hangscan-buckets/1";

/// Renders `buckets` of findings from `files` report files; JSON when `json`, else text.
pub fn render_buckets(
    buckets: &[Bucket],
    files: usize,
    json: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if json {
        #[derive(Serialize)]
        struct Doc<'a> {
            schema: &'static str,
            reports: usize,
            buckets: &'a [Bucket],
        }
        let doc = Doc {
            schema: BUCKETS_SCHEMA,
            reports: files,
            buckets,
        };
        write_json(&mut *out, &doc)?;
        return writeln!(out);
    }
    let findings: usize = buckets.iter().map(|b| b.count).sum();
    writeln!(
        out,
        "{findings} finding(s) from {files} report file(s), in {} bucket(s):",
        buckets.len()
    )?;
    for b in buckets {
        writeln!(out)?;
        writeln!(
            out,
            "{:>4} × {} ({})  signature {}",
            b.count,
            clean(&b.kind),
            clean(&b.severity),
            clean(&b.signature)
        )?;
        writeln!(out, "       {}", clean(&b.title))?;
        let shown: Vec<String> = b.files.iter().take(5).map(|f| clean(f)).collect();
        let more = b.files.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        writeln!(out, "       in {}{tail}", shown.join(", "))?;
    }
    Ok(())
}
