//! The function names of a Go binary from its pclntab, the table the runtime itself prints
//! tracebacks from, which `-s -w` (no symbol table, no DWARF) leaves in place: the
//! `.gopclntab` section (`.data.rel.ro.gopclntab` in a PIE build), or else the table found by
//! its header in the read-only data. Go 1.18 and 1.19 (magic 0xfffffff0) and 1.20 and newer
//! (0xfffffff1) lay it out alike: a header of offsets, then the function table, pairs of
//! (entry, `_func` offset) from the start of the text, each `_func` naming its function in the
//! name table. A table that does not hold together gives the names read so far, or none.

use object::{Object, ObjectSection};

/// The magics of the layouts read: Go 1.18-1.19, Go 1.20 and newer.
const MAGICS: [u32; 2] = [0xffff_fff0, 0xffff_fff1];

/// The table's own section: a static build's, a PIE's.
pub const SECTIONS: [&str; 2] = [".gopclntab", ".data.rel.ro.gopclntab"];

/// Functions named at most.
const MAX_FUNCTIONS: usize = 1 << 20;

/// Where the read-only data may hold the table when it has no section of its own.
const HOLDERS: [&str; 3] = [".data.rel.ro", ".rodata", ".noptrdata"];

/// One function: its start (an address of the file, as its sections place it), its size and
/// its name.
pub type Function = (u64, u64, String);

/// The functions of `file`'s pclntab, sorted by start; none if it has no table read here.
pub fn functions(file: &object::File<'_>) -> Vec<Function> {
    let text = file.section_by_name(".text").map(|s| s.address());
    let own = (SECTIONS.iter()).find_map(|n| file.section_by_name(n)?.data().ok());
    if let Some(table) = own {
        return read(table, text).unwrap_or_default();
    }
    for name in HOLDERS {
        let Some(data) = file.section_by_name(name).and_then(|s| s.data().ok()) else {
            continue;
        };
        if let Some(found) = scan(data, text) {
            return found;
        }
    }
    Vec::new()
}

/// The first table in `data`, found by its header (it starts on a pointer's alignment).
pub(crate) fn scan(data: &[u8], text: Option<u64>) -> Option<Vec<Function>> {
    (0..data.len().saturating_sub(64))
        .step_by(8)
        .find_map(|at| read(data.get(at..)?, text))
}

/// The table starting at `t`'s first byte, if its header is one; `text` the text's start.
fn read(t: &[u8], text: Option<u64>) -> Option<Vec<Function>> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            t.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let word = |i: usize| -> Option<usize> {
        let at = 8 + 8 * i;
        usize::try_from(u64::from_le_bytes(t.get(at..at + 8)?.try_into().ok()?)).ok()
    };
    // Magic, two zero bytes, the instruction quantum (1 on x86-64), the pointer size.
    if !MAGICS.contains(&u32_at(0)?) || t.get(4..8)? != [0, 0, 1, 8] {
        return None;
    }
    let n = word(0)?;
    let (names, functab) = (word(3)?, word(7)?);
    if n == 0 || n > MAX_FUNCTIONS || names >= t.len() || functab >= t.len() {
        return None;
    }
    // The linked text start, unless the sections say it (a PIE's header is relocated at load).
    let text = text.or_else(|| word(2).map(|w| w as u64))?;
    let entry = |i: usize| u32_at(functab.checked_add(i * 8)?).map(|e| text + u64::from(e));
    let name = |i: usize| -> Option<String> {
        let func = functab.checked_add(u32_at(functab.checked_add(i * 8 + 4)?)? as usize)?;
        let at = names.checked_add(u32_at(func.checked_add(4)?)? as usize)?;
        let bytes = t.get(at..)?;
        let end = bytes.iter().take(4096).position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
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
