//! One object's symbol sources: its DWARF through an addr2line context ([`super::dwarf`]: the
//! separate debug file's, found by build-id or `.gnu_debuglink` and proven to match, else the
//! object's own) with inlined frames and file:line, then the ELF symbol table (`.symtab`, else
//! `.dynsym`) of the file read for stripped objects and names DWARF does not give; a Go binary
//! without DWARF (`-w`, `-s -w`) is placed by its pclntab instead (file:line and inlined
//! frames, `objects/gopclntab/lines.rs`), one function at a time. For
//! objects read by name only ([`Depth::Names`]), the symbol table of the debug file (which
//! has every local function) or else the object's own.

use super::dwarf::{self, Debug};
use super::scope::{self, Level, PcVars, VarRequest};
use super::types::{self, Scopes};
use crate::names::{base_name, demangle, demangle_data};
use crate::objects::debugfile;
use crate::objects::elf::{self, ElfFile};
use crate::objects::gopclntab;
use crate::unwind::{AddressSpace, MappedObject};
use object::{Object, ObjectSection, ObjectSymbol, ObjectSymbolTable};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

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
    file: Arc<ElfFile>,
    /// Its DWARF (the debug file's, or its own), shared with the variable reader.
    pub debug: Option<Debug>,
    /// A Go binary's pclntab, when it has no DWARF: functions, file:line, inlined frames.
    go: Option<gopclntab::lines::Table>,
    /// Each unit's scopes, by the unit's offset, indexed on first need (see `types::scopes`).
    scopes: Mutex<HashMap<usize, Arc<Scopes>>>,
    /// The symbol table of the file the DWARF comes from, else the object's own.
    table: Vec<TableEntry>,
    /// The file whose symbol table `table` is (the debug file's has the local ones).
    symtab: Arc<ElfFile>,
    /// Its data objects (`.data`, `.bss`: globals, statics, guard variables), read on the
    /// first data address asked about (see [`ObjectSymbols::data_symbol`]).
    data: OnceLock<Vec<TableEntry>>,
    /// Debug files found but not used, each in words: they are another build's.
    pub rejected: Vec<String>,
    /// Read for its DWARF but none found, in words: what its frames lack and what would add it.
    pub missing: Option<String>,
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
        let file = Arc::new(elf::open_object(space, map)?);
        let debugfile::Search {
            found: debug_file,
            rejected,
        } = debugfile::find(map, &file);
        if depth == Depth::Names {
            let (symtab, table) = debug_file
                .map(|(_, d)| Arc::new(d))
                .map(|d| (own_table(&d), d))
                .filter(|(t, _)| !t.is_empty())
                .map_or_else(|| (file.clone(), own_table(&file)), |(t, d)| (d, t));
            return Ok(ObjectSymbols {
                file,
                debug: None,
                go: None,
                scopes: Mutex::default(),
                table,
                symtab,
                data: OnceLock::new(),
                rejected,
                missing: None,
            });
        }
        let sup = match &debug_file {
            Some((path, d)) => debugfile::find_alt(map, path, d),
            None => map
                .path
                .as_deref()
                .and_then(|p| debugfile::find_alt(map, p, &file)),
        };
        let sup = sup.and_then(|p| ElfFile::open(&p).ok()).map(Arc::new);
        let dwarf_file = match debug_file {
            Some((_, d)) => Arc::new(d),
            None => file.clone(),
        };
        let (symtab, table) = Some(own_table(&dwarf_file))
            .filter(|t| !t.is_empty())
            .map_or_else(
                || (file.clone(), own_table(&file)),
                |t| (dwarf_file.clone(), t),
            );
        let dwp = debugfile::find_dwp(map)
            .and_then(|p| ElfFile::open(&p).ok())
            .map(Arc::new);
        let debug = Debug::load(dwarf_file, sup, dwp);
        // A Go binary without DWARF is placed by its pclntab, as its own traceback is.
        let go = debug
            .is_none()
            .then(|| gopclntab::lines::Table::open(file.clone()))
            .flatten();
        let names = file.parse().is_some_and(|p| {
            p.symbol_table().is_some()
                || (!table.is_empty()
                    && (gopclntab::SECTIONS.iter()).any(|s| p.section_by_name(s).is_some()))
        });
        // The vdso is the kernel's: no file, and nothing a user could install.
        let missing = (debug.is_none() && go.is_none() && map.path.is_some())
            .then(|| debugfile::missing(map, &file, names));
        Ok(ObjectSymbols {
            debug,
            go,
            missing,
            scopes: Mutex::default(),
            file,
            table,
            symtab,
            data: OnceLock::new(),
            rejected,
        })
    }

    /// The symbols of a file read by itself, no process around it (a program given beside a
    /// dump): its own symbol table (or Go pclntab), no DWARF, no debug file looked for.
    pub fn of_file(file: Arc<ElfFile>) -> ObjectSymbols {
        ObjectSymbols {
            table: own_table(&file),
            symtab: file.clone(),
            file,
            debug: None,
            go: None,
            scopes: Mutex::default(),
            data: OnceLock::new(),
            rejected: Vec::new(),
            missing: None,
        }
    }

    /// Its functions: start (SVMA), size and name as frames show it.
    pub fn functions(&self) -> impl Iterator<Item = (u64, u64, String)> + '_ {
        (self.table.iter()).map(|e| (e.start, e.size, demangle(&e.name, None)))
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
    /// addresses), holding the context's lock once for all of them; with the variables
    /// `request` asks for at each (none for an object read without DWARF).
    pub fn lookup_all(
        &self,
        map: &MappedObject,
        probes: &[u64],
        request: &VarRequest,
    ) -> Vec<(u64, Vec<Symbol>, Option<PcVars>)> {
        let context = self
            .debug
            .as_ref()
            .map(|d| d.context.lock().unwrap_or_else(PoisonError::into_inner));
        let package = self.debug.as_ref().and_then(|d| d.package.as_ref());
        probes
            .iter()
            .map(|&probe| {
                let Some(svma) = self.file.svma(map, probe) else {
                    return (probe, vec![], None);
                };
                let symbols = self.lookup(context.as_deref(), package, svma);
                let vars = match &context {
                    Some(c) if !request.is_empty() => {
                        variables(&self.scopes, c, package, svma, request).map(|levels| PcVars {
                            levels,
                            bias: probe.wrapping_sub(svma),
                        })
                    }
                    _ => None,
                };
                (probe, symbols, vars)
            })
            .collect()
    }

    fn lookup(
        &self,
        context: Option<&addr2line::Context<dwarf::Reader>>,
        package: Package,
        svma: u64,
    ) -> Vec<Symbol> {
        let mut out = Vec::new();
        if let Some(context) = context {
            if let Ok(mut frames) = dwarf::resolve(context.find_frames(svma), package) {
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
        if let (None, Some(go)) = (context, &self.go) {
            out = (go.places(svma).into_iter().take(MAX_INLINED))
                .map(|p| Symbol {
                    function: Some(p.function),
                    file: p.file,
                    line: p.line,
                })
                .collect();
        }
        if out.last().is_none_or(|s| s.function.is_none()) {
            let name = self.table_lookup(svma);
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

    /// The function (symbol-table entry) whose bytes hold `svma`: its start (SVMA) and size.
    pub fn function_at(&self, svma: u64) -> Option<(u64, u64)> {
        lookup_in(&self.table, svma).map(|e| (e.start, e.size))
    }

    fn table_lookup(&self, svma: u64) -> Option<String> {
        lookup_in(&self.table, svma).map(|e| demangle(&e.name, None))
    }

    /// The data object (a global, a static, a guard variable) whose bytes hold `svma`: its
    /// demangled name, start (SVMA) and size. The data symbols are read on the first call.
    pub fn data_symbol(&self, svma: u64) -> Option<(String, u64, u64)> {
        let table = self.data.get_or_init(|| {
            Some(data_table(&self.symtab))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| data_table(&self.file))
        });
        lookup_in(table, svma).map(|e| (demangle_data(&e.name), e.start, e.size))
    }
}

/// The entry of `table` (sorted by start) whose bytes hold `svma`.
fn lookup_in(table: &[TableEntry], svma: u64) -> Option<&TableEntry> {
    let i = table.partition_point(|e| e.start <= svma).checked_sub(1)?;
    let e = &table[i];
    (svma - e.start < e.size).then_some(e)
}

/// An object's DWARF package, when it has one ([`dwarf::Debug::package`]).
type Package<'a> = Option<&'a gimli::DwarfPackage<dwarf::Reader>>;

/// The variables at `svma`, per function level (as `lookup` lists them, innermost first).
fn variables(
    scopes: &Mutex<HashMap<usize, Arc<Scopes>>>,
    context: &addr2line::Context<dwarf::Reader>,
    package: Package,
    svma: u64,
    request: &VarRequest,
) -> Option<Vec<Level>> {
    let unit = dwarf::resolve(context.find_dwarf_and_unit(svma), package)?;
    let mut dies = Vec::new();
    let mut frames = dwarf::resolve(context.find_frames(svma), package).ok()?;
    while let Ok(Some(frame)) = frames.next() {
        if dies.len() >= MAX_INLINED {
            break;
        }
        // The parameters asked for by the function's name (a wait's `address_args`).
        let params = match &frame.function {
            Some(f) if !request.args.is_empty() => f
                .raw_name()
                .ok()
                .map(|raw| request.params_of(base_name(&demangle(&raw, f.language))))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        dies.push((frame.dw_die_offset, params));
    }
    let key = unit.header.offset().0;
    let scopes = || {
        scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert_with(|| Arc::new(types::scopes(unit)))
            .clone()
    };
    Some(scope::collect(unit, &scopes, &dies, svma, request))
}

/// The object's own function symbols (`.symtab`, else `.dynsym`; a Go binary with neither,
/// its pclntab's), sorted, with sizes (a zero size is taken to reach the next symbol).
fn own_table(file: &ElfFile) -> Vec<TableEntry> {
    let mut entries = table_of(file, object::SymbolKind::Text);
    if entries.is_empty() {
        let go = file.parse().map(|p| gopclntab::functions(&p));
        entries = (go.into_iter().flatten())
            .map(|(start, size, name)| TableEntry {
                start,
                size,
                name,
                privacy: 0,
            })
            .collect();
    }
    // A zero size (an assembly routine's label: cgo's `crosscall_amd64`) reaches the next
    // symbol, or its section's end.
    let sections: Vec<(u64, u64)> = (file.parse().into_iter())
        .flat_map(|p| {
            let ranges = p
                .sections()
                .filter(|s| s.kind() == object::SectionKind::Text);
            ranges
                .map(|s| (s.address(), s.address().saturating_add(s.size())))
                .collect::<Vec<_>>()
        })
        .collect();
    for i in 0..entries.len() {
        if entries[i].size == 0 {
            let start = entries[i].start;
            let section_end = (sections.iter())
                .find(|&&(a, e)| (a..e).contains(&start))
                .map_or(start, |s| s.1);
            let next = entries.get(i + 1).map_or(section_end, |n| n.start);
            entries[i].size = next.min(section_end) - start;
        }
    }
    entries
}

/// The object's data symbols (`.symtab`, else `.dynsym`), sorted; only those with a size: an
/// address is named only inside its object's bytes.
fn data_table(file: &ElfFile) -> Vec<TableEntry> {
    let mut entries = table_of(file, object::SymbolKind::Data);
    entries.retain(|e| e.size > 0);
    entries
}

/// The defined symbols of `kind` in the object's `.symtab` (else `.dynsym`), sorted by start,
/// one per start: the most public name. Functions include the untyped labels of code
/// ([`code_label`]).
fn table_of(file: &ElfFile, kind: object::SymbolKind) -> Vec<TableEntry> {
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
        .filter(|s| s.is_definition() && (s.kind() == kind || code_label(&parsed, s, kind)))
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
    entries
}

/// Whether `s`, asked for as a function, is an untyped label inside code (`NOTYPE` in a text
/// section, as assembly routines are: cgo's `crosscall_amd64`), which names the code after it
/// as gdb's minimal symbols do; not one at its section's very end (`etext`).
fn code_label(parsed: &object::File, s: &object::Symbol, kind: object::SymbolKind) -> bool {
    if kind != object::SymbolKind::Text || s.kind() != object::SymbolKind::Unknown {
        return false;
    }
    let section = s
        .section_index()
        .and_then(|i| parsed.section_by_index(i).ok());
    section.is_some_and(|sec| {
        sec.kind() == object::SectionKind::Text
            && s.address() < sec.address().saturating_add(sec.size())
    })
}
