//! Offline producers: text dumps in, [`Snapshot`] out. One parser per format behind
//! [`DumpFormat`], chosen by sniffing unless the user forces one. Parsers never panic and never
//! fail outright on bad text: what they cannot read becomes a diagnostic in the snapshot.

pub mod eustack;
pub mod faulthandler;
pub mod gdb;
pub mod go;
pub mod jstack;
pub mod lldb;
mod native;
pub mod normalize;
pub mod pstack;
pub mod pyspy;
mod python;
pub mod rust_backtrace;
pub mod snapshot_json;

use crate::error::{Error, Result};
use crate::model::Snapshot;

/// A dump format: how to recognise it and how to read it.
pub trait DumpFormat: Sync {
    /// The name users pass to `--input-format`.
    fn name(&self) -> &'static str;
    /// Whether the text looks like this format (checked on the first few hundred lines).
    fn sniff(&self, text: &str) -> bool;
    /// Reads the dump. Never panics; unreadable parts become diagnostics.
    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot;
}

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
    ]
}

/// Reads a dump, sniffing its format unless `forced` names one; a snapshot with more threads or
/// deeper stacks than [`crate::limits`] allows is cut down, with a diagnostic.
pub fn parse_dump(raw: &[u8], origin: &str, forced: Option<&str>) -> Result<Snapshot> {
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
            tried: names(),
        })?,
    };
    let mut snap = format.parse(raw, origin);
    crate::limits::bound_dump(&mut snap);
    Ok(snap)
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

/// The first 64 KiB as text, for sniffing.
fn head_text(raw: &[u8]) -> String {
    let end = raw.len().min(64 * 1024);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// The address in a printed value: `0x601040 <global_mutex>`, `x@entry=0x10`, `@0x7ffd: 0`.
pub fn value_address(value: &str) -> Option<u64> {
    let v = after_entry(value);
    let v = v.trim_start_matches(['@', '(']).trim_start();
    // `(pthread_mutex_t *) 0x...`: skip a cast.
    let v = if v.starts_with(|c: char| c.is_alphabetic()) {
        v.find(") 0x").map_or(v, |p| &v[p + 2..])
    } else {
        v
    };
    let hex = v.strip_prefix("0x")?;
    let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    let addr = u64::from_str_radix(&hex[..n], 16).ok()?;
    (addr != 0).then_some(addr)
}

/// What follows the last `@entry=` in a value (`x@entry=0x10` → `0x10`), or all of it. Found
/// from the `@`s, without setting up a substring search for every (short) value.
pub fn after_entry(value: &str) -> &str {
    const ENTRY: &[u8] = b"@entry=";
    let bytes = value.as_bytes();
    let mut end = bytes.len();
    while let Some(at) = bytes[..end].iter().rposition(|&b| b == b'@') {
        if bytes[at..].starts_with(ENTRY) {
            return &value[at + ENTRY.len()..];
        }
        end = at;
    }
    value
}

/// The symbol gdb printed after an address: `0x601040 <global_mutex>` → `global_mutex`.
pub fn value_symbol(value: &str) -> Option<&str> {
    // The first ` <`.
    let start = value
        .match_indices('<')
        .find(|(p, _)| value[..*p].ends_with(' '))?
        .0
        + 1;
    let end = value.rfind('>')?;
    (end > start).then(|| &value[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_values() {
        assert_eq!(value_address("0x601040 <global_mutex>"), Some(0x601040));
        assert_eq!(
            value_address("mutex@entry=0x5555568bb280 <m>"),
            Some(0x5555568bb280)
        );
        assert_eq!(value_address("@0x7ffd: 0"), Some(0x7ffd));
        assert_eq!(value_address("<optimized out>"), None);
        assert_eq!(
            value_address("(pthread_mutex_t *) 0x5000 <m>"),
            Some(0x5000)
        );
        assert_eq!(value_address("m@entry=x@entry=0x20"), Some(0x20));
        assert_eq!(value_symbol("0x1 <a <b>>"), Some("a <b>"));
        assert_eq!(value_symbol("<x> 0x1"), None);
        assert_eq!(value_address("0x0"), None);
        assert_eq!(
            value_symbol("0x601040 <global_mutex>"),
            Some("global_mutex")
        );
    }

    #[test]
    fn unknown_text_is_an_error_naming_the_formats() {
        let err = parse_dump(b"hello world\n", "x.txt", None).unwrap_err();
        assert!(err.to_string().contains("gdb"), "{err}");
        let err = parse_dump(b"#0  f ()\n", "x.txt", Some("nope")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
