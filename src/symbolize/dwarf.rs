//! One object's DWARF, loaded once and shared: the sections of the file that holds it (the
//! object itself or its separate debug file, with dwz's supplementary file) as a
//! `gimli::Dwarf` over the mapped file (compressed sections inflated once), and the addr2line
//! `Context` built on that same `Dwarf`. Symbolization asks the context for names and lines,
//! the variable reader ([`super::scope`]) the units it parsed for locations and types:
//! nothing is read twice.

use crate::objects::elf::ElfFile;
use object::{Object, ObjectSection};
use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// The bytes of one section: a range of a mapped file, or an inflated copy.
#[derive(Clone)]
pub(crate) struct SectionBytes {
    owner: Owner,
    start: usize,
    len: usize,
}

#[derive(Clone)]
enum Owner {
    File(Arc<ElfFile>),
    Owned(Arc<[u8]>),
}

impl SectionBytes {
    /// Bytes of no file (tests build expressions with it).
    #[cfg(test)]
    pub fn owned(bytes: Vec<u8>) -> SectionBytes {
        SectionBytes {
            len: bytes.len(),
            owner: Owner::Owned(Arc::from(bytes)),
            start: 0,
        }
    }
}

impl Deref for SectionBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let all: &[u8] = match &self.owner {
            Owner::File(f) => &f.data,
            Owner::Owned(v) => v,
        };
        all.get(self.start..self.start + self.len).unwrap_or(&[])
    }
}

impl fmt::Debug for SectionBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SectionBytes({} bytes)", self.len)
    }
}

// SAFETY: the bytes live in an `Arc` (a read-only file mapping or a boxed slice), which does
// not move when the handle is moved or cloned.
unsafe impl gimli::StableDeref for SectionBytes {}
// SAFETY: as above; clones share the same `Arc`.
unsafe impl gimli::CloneStableDeref for SectionBytes {}

/// The reader every DWARF user of this crate shares.
pub(crate) type Reader = gimli::EndianReader<gimli::RunTimeEndian, SectionBytes>;

/// An object's DWARF: the addr2line context over it (which owns the sections; variables and
/// types are read through the units it has parsed).
pub(crate) struct Debug {
    /// Names, lines and inlined frames (lazily parsed, so not `Sync`: behind a lock).
    pub context: Mutex<addr2line::Context<Reader>>,
    /// The object's DWARF package (`OBJECT.dwp`), where split units are found first.
    pub package: Option<gimli::DwarfPackage<Reader>>,
}

/// The bytes of section `name` of `file` (empty when it has none).
fn section(file: &Arc<ElfFile>, parsed: &object::File<'_>, name: &str) -> SectionBytes {
    let empty = SectionBytes {
        owner: Owner::Owned(Arc::from(&[][..])),
        start: 0,
        len: 0,
    };
    let Some(data) = parsed
        .section_by_name(name)
        .and_then(|s| s.uncompressed_data().ok())
    else {
        return empty;
    };
    match data {
        Cow::Borrowed(b) => {
            let base = file.data.as_ptr() as usize;
            let start = (b.as_ptr() as usize).wrapping_sub(base);
            if start
                .checked_add(b.len())
                .is_some_and(|e| e <= file.data.len())
            {
                SectionBytes {
                    owner: Owner::File(file.clone()),
                    start,
                    len: b.len(),
                }
            } else {
                empty
            }
        }
        Cow::Owned(v) => SectionBytes {
            len: v.len(),
            owner: Owner::Owned(Arc::from(v)),
            start: 0,
        },
    }
}

/// The DWARF sections of `file`, or None when it has no `.debug_info`.
pub(super) fn sections(file: &Arc<ElfFile>) -> Option<gimli::Dwarf<Reader>> {
    load_sections(file, ".debug_info", gimli::SectionId::name)
}

/// The DWARF sections of `file` named by `name` (a split unit's are `.dwo`-suffixed), when it
/// has `info`.
fn load_sections(
    file: &Arc<ElfFile>,
    info: &str,
    name: fn(gimli::SectionId) -> &'static str,
) -> Option<gimli::Dwarf<Reader>> {
    let parsed = file.parse()?;
    parsed.section_by_name(info)?;
    let endian = if parsed.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, ()> {
        Ok(Reader::new(section(file, &parsed, name(id)), endian))
    };
    gimli::Dwarf::load(load).ok()
}

/// A split-DWARF unit (`-gsplit-dwarf`): from the object's DWARF package when it has one, else
/// the `.dwo` file where the skeleton unit says it was written (its compilation directory and
/// name), when it is there and is that unit's.
fn load_dwo(
    load: &addr2line::SplitDwarfLoad<Reader>,
    package: Option<&gimli::DwarfPackage<Reader>>,
) -> Option<Arc<gimli::Dwarf<Reader>>> {
    use gimli::Reader as _;
    if let Some(Ok(Some(unit))) = package.map(|p| p.find_cu(load.dwo_id, &load.parent)) {
        return Some(Arc::new(unit));
    }
    use std::os::unix::ffi::OsStrExt;
    let mut path = std::path::PathBuf::new();
    if let Some(dir) = &load.comp_dir {
        path.push(std::ffi::OsStr::from_bytes(&dir.to_slice().ok()?));
    }
    path.push(std::ffi::OsStr::from_bytes(
        &load.path.as_ref()?.to_slice().ok()?,
    ));
    let file = Arc::new(ElfFile::open(&path).ok()?);
    let mut dwarf = load_sections(&file, ".debug_info.dwo", |id| id.dwo_name().unwrap_or(""))?;
    let header = dwarf.units().next().ok()??;
    if dwarf.unit(header).ok()?.dwo_id != Some(load.dwo_id) {
        return None;
    }
    dwarf.make_dwo(&load.parent);
    Some(Arc::new(dwarf))
}

/// The result of a lookup, loading the split-DWARF units it needs on the way, from `package`
/// or `.dwo` files (a unit found in neither is read from its skeleton: names from the symbol
/// table, lines, no variables).
pub(crate) fn resolve<L>(
    mut result: addr2line::LookupResult<L>,
    package: Option<&gimli::DwarfPackage<Reader>>,
) -> L::Output
where
    L: addr2line::LookupContinuation<Buf = Reader>,
{
    loop {
        match result {
            addr2line::LookupResult::Output(out) => return out,
            addr2line::LookupResult::Load { load, continuation } => {
                result = continuation.resume(load_dwo(&load, package));
            }
        }
    }
}

/// The DWARF package `file` (a `.dwp`).
fn package(file: &Arc<ElfFile>) -> Option<gimli::DwarfPackage<Reader>> {
    let parsed = file.parse()?;
    parsed.section_by_name(".debug_cu_index")?;
    let endian = if parsed.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        Ok(Reader::new(
            section(file, &parsed, id.dwo_name().unwrap_or("")),
            endian,
        ))
    };
    let empty = Reader::new(section(file, &parsed, ""), endian);
    gimli::DwarfPackage::load(load, empty).ok()
}

impl Debug {
    /// The DWARF of `file`, with `sup` (dwz's supplementary file) and `dwp` (its DWARF
    /// package) when it has them. None when the file has no DWARF or it cannot be indexed.
    pub fn load(
        file: Arc<ElfFile>,
        sup: Option<Arc<ElfFile>>,
        dwp: Option<Arc<ElfFile>>,
    ) -> Option<Debug> {
        let mut dwarf = sections(&file)?;
        if let Some(sup) = sup.as_ref().and_then(sections) {
            dwarf.set_sup(sup);
        }
        let context = addr2line::Context::from_arc_dwarf(Arc::new(dwarf)).ok()?;
        Some(Debug {
            context: Mutex::new(context),
            package: dwp.as_ref().and_then(package),
        })
    }
}
