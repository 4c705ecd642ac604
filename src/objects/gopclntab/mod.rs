//! A Go binary's pclntab, the table the runtime itself prints tracebacks from, which `-s -w`
//! (no symbol table, no DWARF) leaves in place: the `.gopclntab` section
//! (`.data.rel.ro.gopclntab` in a PIE build), or else the table found by its header in the
//! read-only data. Go 1.18 and 1.19 (magic 0xfffffff0) and 1.20 and newer (0xfffffff1) lay it
//! out alike: a header of offsets, then the function table, pairs of (entry, `_func` offset)
//! from the start of the text, each `_func` naming its function in the name table. Here: the
//! header and the functions' names ([`functions`], for a symbol table); [`lines`] places a pc
//! (file:line, inlined calls) on demand, one function at a time. A table that does not hold
//! together gives the names read so far, or none.

pub(crate) mod lines;
#[cfg(test)]
mod tests;

use object::{Object, ObjectSection};
use std::ops::Range;

/// The magics of the layouts read: Go 1.18-1.19, Go 1.20 and newer.
const MAGICS: [u32; 2] = [0xffff_fff0, 0xffff_fff1];

/// The table's own section: a static build's, a PIE's.
pub const SECTIONS: [&str; 2] = [".gopclntab", ".data.rel.ro.gopclntab"];

/// Functions named at most.
const MAX_FUNCTIONS: usize = 1 << 20;

/// Sections every Go binary has, stripped or not: its build information and build id.
const GO_MARKS: [&str; 2] = [".go.buildinfo", ".note.go.buildid"];

/// Where the read-only data may hold the table when it has no section of its own.
const HOLDERS: [&str; 3] = [".data.rel.ro", ".rodata", ".noptrdata"];

/// One function: its start (an address of the file, as its sections place it), its size and
/// its name.
pub type Function = (u64, u64, String);

/// A table's header (`runtime.pcHeader`): its sub-tables' offsets from the header's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Go 1.20 or newer (magic 0xfffffff1): `_func` has `startLine`, and `inlinedCall` is
    /// laid out anew.
    pub go120: bool,
    /// Functions in the function table.
    pub nfunc: usize,
    /// The text's start as linked (`textStart`).
    pub text: u64,
    /// `funcnametab`, `cutab`, `filetab`, `pctab`, and the function table (`pclntable`).
    pub names: usize,
    /// See `names`.
    pub cutab: usize,
    /// See `names`.
    pub filetab: usize,
    /// See `names`.
    pub pctab: usize,
    /// See `names`.
    pub functab: usize,
}

/// Little-endian u32 at `at` of `t`.
pub(crate) fn u32_at(t: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        t.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The header at `t`'s first byte, if it is one whose offsets fall inside `t`.
pub(crate) fn header(t: &[u8]) -> Option<Header> {
    let word = |i: usize| -> Option<usize> {
        let at = 8 + 8 * i;
        usize::try_from(u64::from_le_bytes(t.get(at..at + 8)?.try_into().ok()?)).ok()
    };
    let magic = u32_at(t, 0)?;
    // Magic, two zero bytes, the instruction quantum (1 on x86-64), the pointer size.
    if !MAGICS.contains(&magic) || t.get(4..8)? != [0, 0, 1, 8] {
        return None;
    }
    let h = Header {
        go120: magic == MAGICS[1],
        nfunc: word(0)?,
        text: word(2)? as u64,
        names: word(3)?,
        cutab: word(4)?,
        filetab: word(5)?,
        pctab: word(6)?,
        functab: word(7)?,
    };
    let inside = [h.names, h.cutab, h.filetab, h.pctab, h.functab]
        .iter()
        .all(|&o| o < t.len());
    (h.nfunc != 0 && h.nfunc <= MAX_FUNCTIONS && h.names >= 72 && inside).then_some(h)
}

/// The table of `file`: its address (as the sections place it) and bytes; none if it has
/// none read here. The read-only data is searched only in a Go binary (its build
/// information's sections say so), not in every object stripped of its symbols.
pub(crate) fn find<'a>(file: &object::File<'a>) -> Option<(u64, &'a [u8])> {
    if let Some(s) = SECTIONS.iter().find_map(|n| file.section_by_name(n)) {
        return Some((s.address(), s.data().ok()?));
    }
    if !GO_MARKS.iter().any(|n| file.section_by_name(n).is_some()) {
        return None;
    }
    HOLDERS.iter().find_map(|name| {
        let s = file.section_by_name(name)?;
        let data = s.data().ok()?;
        let at = scan_at(data)?;
        Some((s.address() + at as u64, data.get(at..)?))
    })
}

/// The functions of `file`'s pclntab, sorted by start; none if it has no table read here.
pub fn functions(file: &object::File<'_>) -> Vec<Function> {
    find(file)
        .and_then(|(_, t)| read(t, text_section(file)))
        .unwrap_or_default()
}

/// The addresses of `file`'s `.text` section.
pub(crate) fn text_section(file: &object::File<'_>) -> Option<Range<u64>> {
    let s = file.section_by_name(".text")?;
    Some(s.address()..s.address().saturating_add(s.size()))
}

/// Where the Go text starts: the header's `textStart` (the file holds its link-time value,
/// which the loader relocates in a PIE) when it lies in the `.text` section `text`; else
/// where that section starts (C code linked before Go's, by an external linker, moves Go's
/// text start past the section's).
pub(crate) fn text_start(h: &Header, text: Option<Range<u64>>) -> u64 {
    match text {
        Some(t) if !t.contains(&h.text) => t.start,
        _ => h.text,
    }
}

/// Where in `data` the first table starts, found by its header (on a pointer's alignment).
fn scan_at(data: &[u8]) -> Option<usize> {
    (0..data.len().saturating_sub(64))
        .step_by(8)
        .find(|&at| data.get(at..).and_then(header).is_some())
}

/// The functions of the first table in `data`, found by its header.
#[cfg(test)]
pub(crate) fn scan(data: &[u8], text: Option<Range<u64>>) -> Option<Vec<Function>> {
    read(data.get(scan_at(data)?..)?, text)
}

/// The functions of the table starting at `t`'s first byte, if its header is one; `text` the
/// `.text` section's addresses.
fn read(t: &[u8], text: Option<Range<u64>>) -> Option<Vec<Function>> {
    let h = header(t)?;
    let text = text_start(&h, text);
    let entry = |i: usize| u32_at(t, h.functab.checked_add(i * 8)?).map(|e| text + u64::from(e));
    let name = |i: usize| -> Option<String> {
        let func = h
            .functab
            .checked_add(u32_at(t, h.functab.checked_add(i * 8 + 4)?)? as usize)?;
        let at = h
            .names
            .checked_add(u32_at(t, func.checked_add(4)?)? as usize)?;
        c_string(t, at)
    };
    let mut out = Vec::with_capacity(h.nfunc);
    for i in 0..h.nfunc {
        // The entry after the last function is its end.
        let (Some(start), Some(end), Some(name)) = (entry(i), entry(i + 1), name(i)) else {
            break;
        };
        if end < start || out.last().is_some_and(|(s, _, _): &Function| *s > start) {
            break;
        }
        out.push((start, end - start, name));
    }
    (!out.is_empty()).then_some(out)
}

/// The NUL-terminated string at `at` of `t` (at most 4096 bytes), lossily UTF-8.
pub(crate) fn c_string(t: &[u8], at: usize) -> Option<String> {
    let bytes = t.get(at..)?;
    let end = bytes.iter().take(4096).position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}
