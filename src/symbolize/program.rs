//! A program file given beside a recorded dump (`parse --binary`): the very build that ran,
//! read for what the dump's text lacks. Its symbol table (or a Go binary's pclntab) places the
//! dump's frames in its functions, so each function's code is scanned for the static objects
//! the threads wait on, exactly as a live capture's are (`refs`: the same scanner); and the
//! waited-on addresses are named by its data symbols (`data-symbol` evidence).
//!
//! Where the file was loaded (its bias: runtime address − the file's own) is 0 for an
//! executable linked to run where it is (Go builds by default), and for a position-independent
//! one is inferred from frames that print a pc inside a function it names: `pc − start`
//! rounded down to the page, the value most such frames give. A file that does not fit the
//! dump (a function the dump names that it lacks, Go's `+0x..` past a function's end, pcs in
//! other functions than the dump names, no bias to be found) is not used at all, and why is
//! said: a wrong file must never change a verdict.

use super::data;
use super::refs::{self, Scan, Scanned};
use super::sources::ObjectSymbols;
use crate::model::{Diagnostic, Evidence, Frame, Snapshot, Thread};
use crate::names::base_name;
use crate::objects::elf::ElfFile;
use crate::objects::gopclntab;
use object::Object;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

/// The page the bias of a loaded object is a multiple of.
const PAGE: u64 = 0x1000;

/// A program file read for a dump: its functions by the names frames show.
pub struct Program {
    /// The file as the user named it.
    name: String,
    symbols: ObjectSymbols,
    /// Function start (the file's address) and size, by [`key`].
    by_name: HashMap<String, (u64, u64)>,
    /// Position-independent (`ET_DYN`): it may have been loaded anywhere.
    movable: bool,
}

/// A function a frame runs, in one of the programs: which, its start and size.
#[derive(Clone, Copy)]
struct Placed {
    program: usize,
    start: u64,
    size: u64,
}

impl Program {
    /// Reads the file at `path`; an error says what was expected when it is no x86-64 ELF
    /// object with a symbol table or a Go pclntab.
    pub fn open(path: &Path) -> Result<Program, String> {
        let name = path.display().to_string();
        let file = ElfFile::open(path).map_err(|e| {
            format!("--binary: {e}; expected the program (or shared library) the dump was taken from, an x86-64 ELF file")
        })?;
        let movable = (file.parse()).is_some_and(|p| p.kind() == object::ObjectKind::Dynamic);
        // Go's traceback names functions as its pclntab does (an assembly function's symbol
        // is `runtime.futex.abi0`, its traceback name `runtime.futex`).
        let go = (file.parse().map(|p| gopclntab::functions(&p))).unwrap_or_default();
        let symbols = ObjectSymbols::of_file(Arc::new(file));
        let mut by_name = HashMap::new();
        for (start, size, function) in go.into_iter().chain(symbols.functions()) {
            by_name.entry(key(&function)).or_insert((start, size));
        }
        if by_name.is_empty() {
            return Err(format!(
                "--binary {name}: it names no functions (no symbol table, no Go pclntab): \
                 expected the program the dump was taken from as built, not stripped"
            ));
        }
        Ok(Program {
            name,
            symbols,
            by_name,
            movable,
        })
    }

    /// The file as the user named it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the dump's process had this file loaded (its bias), or why the file does not fit
    /// the dump and is not to be used.
    pub fn place(&self, threads: &[Thread]) -> Result<u64, String> {
        let mut votes: HashMap<u64, usize> = HashMap::new();
        let mut named = 0usize;
        for f in threads.iter().flat_map(|t| &t.frames) {
            let Some(function) = considered(f) else {
                continue;
            };
            match self.by_name.get(&key(function)) {
                Some(&(start, size)) => {
                    named += 1;
                    if let Some(o) = f.pc_offset.filter(|&o| o > size) {
                        return Err(format!(
                            "the dump's {function}+{o:#x} lies past that function's end in it \
                             ({size:#x} bytes): another build"
                        ));
                    }
                    if let Some(pc) = f.address {
                        *votes
                            .entry(pc.wrapping_sub(start) & !(PAGE - 1))
                            .or_default() += 1;
                    }
                }
                // Go prints `+0x..` for the program's own functions only.
                None if f.pc_offset.is_some() => {
                    return Err(format!(
                        "it has no function {function}, which the dump runs"
                    ))
                }
                None => {}
            }
        }
        if named == 0 {
            return Err("none of the functions the dump names is in it".into());
        }
        let bias = match majority(&votes) {
            Some(b) => b,
            None if !self.movable => 0,
            None => {
                return Err(
                    "it is position-independent and no frame of the dump prints a pc in \
                            one of its functions, so where it was loaded is not known"
                        .into(),
                )
            }
        };
        if !self.movable && bias != 0 {
            return Err(format!(
                "the dump's pcs place it {bias:#x} away from where it is linked to run"
            ));
        }
        let (mut fit, mut misfit) = (0usize, 0usize);
        for t in threads {
            for (f, probe) in probes(&t.frames) {
                let (Some(function), Some(probe)) = (considered(f), probe) else {
                    continue;
                };
                let svma = probe.wrapping_sub(bias);
                if !self.symbols.file().loads(svma) {
                    continue;
                }
                let there = self.symbols.function_at(svma).map(|at| at.0);
                if there.is_some_and(|at| self.by_name.get(&key(function)).map(|f| f.0) == Some(at))
                {
                    fit += 1;
                } else {
                    misfit += 1;
                }
            }
        }
        if misfit > fit {
            return Err(format!(
                "{misfit} of {} frames' pcs fall in other functions of it than the dump names",
                fit + misfit
            ));
        }
        Ok(bias)
    }

    /// The function frame `f` (at `probe`, its pc or call site, when printed) runs in this
    /// program loaded at `bias`: by its pc when it prints one (none when that is in another
    /// object), else by name.
    fn function(&self, f: &Frame, probe: Option<u64>, bias: u64) -> Option<(u64, u64)> {
        match probe.map(|p| p.wrapping_sub(bias)) {
            Some(svma) if self.symbols.file().loads(svma) => self.symbols.function_at(svma),
            Some(_) => None,
            None => self.by_name.get(&key(considered(f)?)).copied(),
        }
    }
}

/// Adds what `programs` (each placed at its bias) say to `snap`: the data objects holding
/// `waited` (the addresses its threads wait on), then each frame's `refs` against them, and a
/// note of what was used.
pub fn apply(programs: &[(&Program, u64)], snap: &mut Snapshot, waited: &[u64]) {
    let Snapshot {
        threads,
        evidence,
        diagnostics,
        ..
    } = snap;
    for &address in &waited.iter().copied().collect::<BTreeSet<u64>>() {
        if data::named_in(evidence, address) {
            continue;
        }
        let named = programs.iter().find_map(|&(p, bias)| {
            let svma = address.wrapping_sub(bias);
            let file = p.symbols.file();
            if !file.loads(svma) {
                return None;
            }
            let (name, start, size) = p.symbols.data_symbol(svma)?;
            Some(Evidence::DataSymbol {
                address: start.wrapping_add(bias),
                size,
                name,
            })
        });
        evidence.extend(named);
    }
    let targets = refs::targets(evidence);
    let names: Vec<String> = (programs.iter())
        .map(|(p, bias)| format!("{} (loaded at +{bias:#x})", p.name))
        .collect();
    if targets.is_empty() {
        diagnostics.push(Diagnostic {
            line: None,
            message: format!(
                "{} fits the dump, but no address its threads wait on is a static object of                  it (a lock on the heap, or one reached through a pointer): its code decides                  nothing here",
                names.join(", ")
            ),
        });
        return;
    }
    let scans: Vec<Option<Scan>> = (programs.iter())
        .map(|&(p, bias)| Scan::of(p.symbols.file(), bias, &targets))
        .collect();
    let mut scanned = Scanned::new();
    let mut checked = 0usize;
    for t in threads.iter_mut() {
        let placed: Vec<Option<Placed>> = probes(&t.frames)
            .map(|(f, probe)| {
                considered(f)?;
                programs
                    .iter()
                    .enumerate()
                    .find_map(|(program, &(p, bias))| {
                        let (start, size) = p.function(f, probe, bias)?;
                        Some(Placed {
                            program,
                            start,
                            size,
                        })
                    })
            })
            .collect();
        // An inlined frame's code is its caller's, the next frame not inlined.
        let mut outer = None;
        for (f, placed) in t.frames.iter_mut().zip(placed).rev() {
            if f.inlined {
                f.refs.clone_from(&outer);
                continue;
            }
            outer = None;
            let Some(at) = placed else { continue };
            let (p, bias) = programs[at.program];
            let Some(scan) = &scans[at.program] else {
                continue;
            };
            let function = (at.start, at.size, at.start.wrapping_add(bias));
            f.refs = scan.function(
                p.symbols.file(),
                function,
                (at.program, at.start),
                &mut scanned,
            );
            checked += usize::from(f.refs.is_some());
            outer.clone_from(&f.refs);
        }
    }
    diagnostics.push(Diagnostic {
        line: None,
        message: format!(
            "read the code of {checked} frames' functions from {}: which static objects each \
             names, so that a thread asleep in code that never names a lock is not its holder \
             (this holds only if the file is the very build that ran)",
            names.join(", ")
        ),
    });
}

/// Each frame of a stack with the address to look it up at: its pc for the innermost frame
/// and one a signal interrupted, else the call (a return address − 1); `None` when the dump
/// prints no pc.
fn probes(frames: &[Frame]) -> impl Iterator<Item = (&Frame, Option<u64>)> {
    let mut at_pc = true;
    frames.iter().map(move |f| {
        let probe = f
            .address
            .map(|pc| if at_pc { pc } else { pc.wrapping_sub(1) });
        if f.signal_frame {
            at_pc = true;
        } else if !f.inlined {
            at_pc = false;
        }
        (f, probe)
    })
}

/// The function of a frame that may be the program's: named, not the signal marker, not in a
/// system library.
fn considered(f: &Frame) -> Option<&str> {
    if f.signal_frame || f.in_system_library() {
        return None;
    }
    f.function.as_deref()
}

/// A function's name as both a dump and a symbol table give it: its base name (no parameter
/// list, symbol version or hash), Go's type arguments as its tracebacks print them (`[...]`).
fn key(function: &str) -> String {
    let base = base_name(function);
    let mut out = String::with_capacity(base.len());
    let mut depth = 0usize;
    for c in base.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    out.push_str("[...]");
                }
                depth += 1;
            }
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The bias most frames give (the lowest of equally many); none without votes.
fn majority(votes: &HashMap<u64, usize>) -> Option<u64> {
    (votes.iter())
        .max_by_key(|&(&bias, &n)| (n, std::cmp::Reverse(bias)))
        .map(|(&bias, _)| bias)
}

#[cfg(test)]
#[path = "program_tests.rs"]
mod tests;
