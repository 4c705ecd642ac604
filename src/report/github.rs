//! GitHub Actions workflow commands: an `::error` annotation per deadlock and a `::warning` per
//! warning, at the source line the finding is reached from, so the hang shows on the code in
//! the job's summary and the pull request.

use super::{locate, Report};
use crate::analyze::Severity;
use crate::sanitize::clean;
use std::io::Write;

/// Writes one annotation per deadlock or warning finding of `reports`.
pub fn render_annotations(reports: &[Report], out: &mut dyn Write) -> std::io::Result<()> {
    for r in reports {
        for f in &r.analysis.findings {
            let level = match f.severity {
                Severity::Deadlock => "error",
                Severity::Warning => "warning",
                Severity::Info => continue,
            };
            let mut props = String::new();
            if let Some((_, src)) = f
                .steps
                .iter()
                .find_map(|s| locate::reached_from(r.snapshot, r.analysis, s))
            {
                props.push_str(&format!("file={},line={},", property(src.file), src.line));
            }
            props.push_str(&format!(
                "title={}",
                property(&format!("hangscan: {}", f.kind.as_str()))
            ));
            let title = super::narrate::title(r.snapshot, f);
            writeln!(out, "::{level} {props}::{}", data(&clean(&title)))?;
        }
    }
    Ok(())
}

/// A command's message: `%`, CR and LF escaped, so untrusted text cannot end the command or
/// start another.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value: also `:` and `,`, which separate properties.
fn property(s: &str) -> String {
    data(&clean(s)).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_break_out_of_a_command() {
        assert_eq!(data("50%\n::error::x"), "50%25%0A::error::x");
        assert_eq!(property("a.c,line=1:x"), "a.c%2Cline=1%3Ax");
    }
}
