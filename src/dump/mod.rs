//! Offline producers: text dumps in, [`Snapshot`] out. One parser per format behind
//! [`DumpFormat`], chosen by sniffing unless the user forces one. Parsers never panic and never
//! fail outright on bad text: what they cannot read becomes a diagnostic in the snapshot.

pub mod eustack;
pub mod faulthandler;
pub mod gdb;
pub mod go;
pub mod jstack;
mod line_prefix;
pub mod lldb;
mod markdown;
mod native;
pub mod normalize;
mod processes;
pub mod pstack;
pub mod pyspy;
mod python;
pub mod rust_backtrace;
pub(crate) mod skeleton;
pub mod snapshot_json;
mod unrecognised;
mod verdicts;

use crate::error::{Error, Result};
use crate::model::Snapshot;

/// How much of a big input one core scans in a whole-input search (Markdown marks, runtime
/// verdict messages): such an input is scanned in pieces of this size on every core.
const SCAN_PIECE: usize = 4 << 20;

/// A dump format: how to recognise it and how to read it.
pub trait DumpFormat: Sync {
    /// The name users pass to `--input-format`.
    fn name(&self) -> &'static str;
    /// Whether the text looks like this format (checked on the first few hundred lines).
    fn sniff(&self, text: &str) -> bool;
    /// Reads the dump. Never panics; unreadable parts become diagnostics.
    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot;
    /// [`DumpFormat::parse`], which may hand `release` the parts of `raw` it has read, for
    /// the caller to let them leave memory (a mapped file's pages, read back if touched
    /// again: [`crate::limits::Bytes::release`]).
    fn parse_releasing(&self, raw: &[u8], origin: &str, release: Release) -> Snapshot {
        let _ = release;
        self.parse(raw, origin)
    }
    /// Where in `raw` a later process's dump starts, when one paste holds several processes'
    /// (byte offsets at line starts, ascending; none for one process).
    fn processes(&self, raw: &[u8]) -> Vec<usize> {
        let _ = raw;
        Vec::new()
    }
}

/// Where a parser hands the parts of its input it has read ([`DumpFormat::parse_releasing`]).
pub type Release<'a> = &'a (dyn Fn(&[u8]) + Sync);

/// Every format, in sniffing order (FORMATS.md section 10). pstack comes before gdb: its
/// gdb-backed kind is gdb's grammar, so only its own sniff (what gdb never prints) can tell.
pub fn formats() -> &'static [&'static dyn DumpFormat] {
    &[
        &snapshot_json::SnapshotJson,
        &jstack::Jstack,
        &go::Go,
        &eustack::EuStack,
        &lldb::Lldb,
        &faulthandler::Faulthandler,
        &pyspy::PySpy,
        &rust_backtrace::RustBacktrace,
        &pstack::Pstack,
        &gdb::Gdb,
        &verdicts::Messages,
    ]
}

/// Reads a dump, sniffing its format unless `forced` names one; a snapshot with more threads or
/// deeper stacks than [`crate::limits`] allows is cut down, with a diagnostic.
pub fn parse_dump(raw: &[u8], origin: &str, forced: Option<&str>) -> Result<Snapshot> {
    parse_dump_releasing(raw, origin, forced, &|_| {})
}

/// [`parse_dump`], handing `release` the parts of `raw` read ([`DumpFormat::parse_releasing`]).
pub fn parse_dump_releasing(
    raw: &[u8],
    origin: &str,
    forced: Option<&str>,
    release: Release,
) -> Result<Snapshot> {
    let format = pick(raw, origin, forced)?;
    // Read before the parse hands the input's pages back.
    let claims = verdicts::claims(raw);
    let mut snap = format.parse_releasing(raw, origin, release);
    verdicts::add_claims(&mut snap, claims);
    crate::limits::bound_dump(&mut snap);
    Ok(snap)
}

/// Reads a paste that may hold several processes' dumps: one snapshot per process, each named
/// by its place in the paste (`FILE (process 2 of 2, from line 41)`) and saying so in a note;
/// one process's dump is [`parse_dump_releasing`]'s snapshot.
pub fn parse_dumps_releasing(
    raw: &[u8],
    origin: &str,
    forced: Option<&str>,
    release: Release,
) -> Result<Vec<Snapshot>> {
    let format = pick(raw, origin, forced)?;
    let starts = format.processes(raw);
    if starts.is_empty() {
        return parse_dump_releasing(raw, origin, Some(format.name()), release).map(|s| vec![s]);
    }
    let bounds: Vec<usize> = std::iter::once(0)
        .chain(starts)
        .chain(std::iter::once(raw.len()))
        .collect();
    let n = bounds.len() - 1;
    let mut line = 1;
    let mut out = Vec::with_capacity(n);
    for (k, piece) in bounds.windows(2).enumerate() {
        let text = &raw[piece[0]..piece[1]];
        let name = format!("{origin} (process {} of {n}, from line {line})", k + 1);
        let mut snap = format.parse(text, &name);
        verdicts::add_claims(&mut snap, verdicts::claims(text));
        crate::limits::bound_dump(&mut snap);
        snap.diagnostics.push(crate::model::Diagnostic {
            line: None,
            message: format!(
                "the input holds {n} processes' dumps (a process header names another process, \
                 or a thread number another thread, further on): this is process {} of {n}, \
                 from line {line}; its line numbers count from there",
                k + 1
            ),
        });
        line += memchr::memchr_iter(b'\n', text).count();
        out.push(snap);
    }
    Ok(out)
}

/// The format `forced` names, or the one sniffed.
fn pick(raw: &[u8], origin: &str, forced: Option<&str>) -> Result<&'static dyn DumpFormat> {
    let all = formats();
    let format = match forced {
        Some(name) => {
            *all.iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| Error::UnknownFormat {
                    name: name.to_string(),
                    known: names(),
                })?
        }
        None => sniff(raw).ok_or_else(|| Error::Unrecognised {
            origin: origin.to_string(),
            why: unrecognised::explain(raw, &names()),
        })?,
    };
    Ok(format)
}

/// The first format, in sniffing order, that recognises the text.
pub fn sniff(raw: &[u8]) -> Option<&'static dyn DumpFormat> {
    let head = head_text(raw);
    formats().iter().copied().find(|f| f.sniff(&head))
}

fn names() -> String {
    formats()
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first 64 KiB as text, for sniffing, without the prefix on every line nor the Markdown
/// around a paste.
fn head_text(raw: &[u8]) -> String {
    let end = raw.len().min(64 * 1024);
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let head = line_prefix::strip(&head).unwrap_or(head);
    if markdown::is_marked(&head) {
        return markdown::unmark(&head);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_text_is_an_error_naming_the_formats() {
        let err = parse_dump(b"hello world\n", "x.txt", None).unwrap_err();
        assert!(err.to_string().contains("gdb"), "{err}");
        let err = parse_dump(b"#0  f ()\n", "x.txt", Some("nope")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
