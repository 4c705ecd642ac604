//! One object's symbol sources: its DWARF through an addr2line `Loader` (the separate debug
//! file's, found by build-id or `.gnu_debuglink` and proven to match, else the object's own) with inlined frames and
//! file:line, then the ELF symbol table (`.symtab`, else `.dynsym`) for stripped objects. For
//! objects read by name only ([`Depth::Names`]), the symbol table of the debug file (which
//! has every local function) or else the object's own.

use crate::names::demangle;
use crate::objects::debugfile;
use crate::objects::elf::{self, ElfFile};
use crate::objects::open;
use crate::unwind::{AddressSpace, MappedObject};
use addr2line::Loader;
use object::{Object, ObjectSymbol, ObjectSymbolTable};
use std::sync::{Mutex, PoisonError};

/// Inlined frames kept per address at most (hostile DWARF can nest without end).
const MAX_INLINED: usize = 128;

/// What one address is, one entry per function (inlined ones first).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Symbol {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// A symbol-table entry owned by the cache: start, size, raw name, and how public the name
/// is (0 global, 1 weak, 2 local: of several names for one address the most public is shown,
/// `pthread_cond_wait` rather than glibc's internal `___pthread_cond_wait`).
struct TableEntry {
    start: u64,
    size: u64,
    name: String,
    privacy: u8,
}

/// Everything needed to symbolize addresses of one object.
pub(super) struct ObjectSymbols {
    /// The object itself (program headers, for the address translation).
    file: ElfFile,
    /// DWARF and the symbol table of the file it was built from. A `Loader` is not `Sync`.
    loader: Option<Mutex<Loader>>,
    /// The object's own symbol table, when the loader reads another file (a separate debug
    /// file) or could not be built.
    table: Vec<TableEntry>,
    /// Debug files found but not used, each in words: they are another build's.
    pub rejected: Vec<String>,
}

/// How much of an object's debug information to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// DWARF: inlined frames, file and line.
    Dwarf,
    /// Function names from the symbol table only: no file:line, no inlined frames. Reading a
    /// system library's DWARF costs far more than the rest of an attach (glibc's debug file is
    /// compressed: inflating it takes about 100 ms), and its names are what rules match.
    Names,
}

impl ObjectSymbols {
    /// Opens `map`'s object and its debug file. Errors only when the object cannot be read.
    pub fn load(
        space: &AddressSpace,
        map: &MappedObject,
        depth: Depth,
    ) -> Result<ObjectSymbols, String> {
        let file = elf::open_object(space, map)?;
        let debugfile::Search {
            found: debug,
            rejected,
        } = debugfile::find(map, &file);
        if depth == Depth::Names {
            let table = debug
                .as_ref()
                .map(|(_, d)| own_table(d))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| own_table(&file));
            return Ok(ObjectSymbols {
                file,
                loader: None,
                table,
                rejected,
            });
        }
        let dwarf_path = debug
            .as_ref()
            .map(|(p, _)| p.clone())
            .or_else(|| map.path.clone());
        let sup = match &debug {
            Some((path, debug_file)) => debugfile::find_alt(map, path, debug_file),
            None => map
                .path
                .as_deref()
                .and_then(|p| debugfile::find_alt(map, p, &file)),
        };
        // addr2line opens the files by path: give it the ones opened safely, by descriptor.
        let dwarf = dwarf_path.and_then(|p| open::open_regular(&p).ok());
        let sup = sup.and_then(|p| open::open_regular(&p).ok());
        let loader = dwarf.as_ref().and_then(|d| {
            Loader::new_with_sup(open::fd_path(d), sup.as_ref().map(open::fd_path)).ok()
        });
        let table = if debug.is_some() || loader.is_none() {
            own_table(&file)
        } else {
            vec![]
        };
        Ok(ObjectSymbols {
            file,
            loader: loader.map(Mutex::new),
            table,
            rejected,
        })
    }

    /// The build-id of the object.
    pub fn build_id(&self) -> Option<&[u8]> {
        self.file.build_id.as_deref()
    }

    /// The object file read (to check it against the mapping).
    pub fn file(&self) -> &ElfFile {
        &self.file
    }

    /// Symbolizes each of `probes` (runtime addresses in `map`, already pc - 1 for return
    /// addresses), holding the loader's lock once for all of them.
    pub fn lookup_all(&self, map: &MappedObject, probes: &[u64]) -> Vec<(u64, Vec<Symbol>)> {
        let loader = self
            .loader
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(PoisonError::into_inner));
        probes
            .iter()
            .map(|&probe| {
                let symbols = match self.file.svma(map, probe) {
                    Some(svma) => self.lookup(loader.as_deref(), svma),
                    None => vec![],
                };
                (probe, symbols)
            })
            .collect()
    }

    fn lookup(&self, loader: Option<&Loader>, svma: u64) -> Vec<Symbol> {
        let mut out = Vec::new();
        if let Some(loader) = loader {
            if let Ok(mut frames) = loader.find_frames(svma) {
                while let Ok(Some(frame)) = frames.next() {
                    if out.len() >= MAX_INLINED {
                        break;
                    }
                    let function = frame
                        .function
                        .as_ref()
                        .and_then(|f| f.raw_name().ok().map(|raw| demangle(&raw, f.language)));
                    let (file, line) = frame
                        .location
                        .map(|l| (l.file.map(str::to_string), l.line))
                        .unwrap_or_default();
                    out.push(Symbol {
                        function,
                        file,
                        line,
                    });
                }
            }
        }
        if out.last().is_none_or(|s| s.function.is_none()) {
            let name = loader
                .and_then(|l| l.find_symbol(svma))
                .map(|n| demangle(n, None))
                .or_else(|| self.table_lookup(svma));
            match out.last_mut() {
                Some(last) => last.function = name,
                None if name.is_some() => out.push(Symbol {
                    function: name,
                    ..Symbol::default()
                }),
                None => {}
            }
        }
        out
    }

    fn table_lookup(&self, svma: u64) -> Option<String> {
        let i = self
            .table
            .partition_point(|e| e.start <= svma)
            .checked_sub(1)?;
        let e = &self.table[i];
        (svma - e.start < e.size).then(|| demangle(&e.name, None))
    }
}

/// The object's own function symbols (`.symtab`, else `.dynsym`), sorted, with sizes (a zero
/// size is taken to reach the next symbol).
fn own_table(file: &ElfFile) -> Vec<TableEntry> {
    let Some(parsed) = file.parse() else {
        return vec![];
    };
    let Some(table) = parsed
        .symbol_table()
        .or_else(|| parsed.dynamic_symbol_table())
    else {
        return vec![];
    };
    let mut entries: Vec<TableEntry> = table
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.is_definition())
        .filter_map(|s| {
            Some(TableEntry {
                start: s.address(),
                size: s.size(),
                // `clock_nanosleep@GLIBC_2.2.5`: the version is not part of the name.
                name: s
                    .name()
                    .ok()
                    .and_then(|n| n.split('@').next())
                    .filter(|n| !n.is_empty())?
                    .to_string(),
                privacy: if s.is_weak() {
                    1
                } else if s.is_global() {
                    0
                } else {
                    2
                },
            })
        })
        .collect();
    // Of equally public names the shortest: internal aliases add prefixes (`__GI___lll_lock_wait`
    // for `__lll_lock_wait`).
    entries.sort_by_key(|e| (e.start, e.privacy, e.name.len(), std::cmp::Reverse(e.size)));
    entries.dedup_by_key(|e| e.start);
    for i in 0..entries.len() {
        if entries[i].size == 0 {
            let next = entries.get(i + 1).map_or(entries[i].start, |n| n.start);
            entries[i].size = next - entries[i].start;
        }
    }
    entries
}
