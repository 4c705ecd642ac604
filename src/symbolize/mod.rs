//! Symbolization: unwound pcs to `model::Frame`s — demangled function names (C++ and Rust),
//! inlined callers expanded, file and line from DWARF (the object's own or its separate debug
//! file, by build-id or `.gnu_debuglink`), the ELF symbol table for stripped objects, the
//! `<signal handler called>` marker where a signal interrupted the code. Each object is loaded
//! once and shared; the addresses of many stacks are deduplicated and resolved in parallel, one
//! object per task.
//!
//! A separate debug file is used only when it proves it is the object's (see
//! `objects::debugfile`); one that does not is said. An object whose file changed after
//! the process started has its frames marked untrusted, and says why.
//!
//! Variables, when asked for ([`VarRequest`]: the lock guards the rules know, or every one):
//! each frame's parameters and locals read from the stack copied while the target was
//! stopped, through their DWARF locations (`scope` lists them per pc, `vars` evaluates them
//! per frame, `types` reads their types); the DWARF is the symbolizer's own (`dwarf`).
//!
//! Data addresses (the words threads wait on, the locks guards hold) are named too, by the data
//! symbol whose bytes hold them, as gdb prints `<stats_lock>` after an address (`data`); and
//! each frame's function is scanned for the code naming those objects (`refs`: which frames can
//! have taken a static lock that records no owner).
//!
//! Unlike gdb, no frames are made up for tail callers (gdb infers them from DWARF call-site
//! information); source files are full paths (the compilation directory joined in).

mod data;
mod dwarf;
pub mod program;
mod refs;
mod scope;
mod sources;
mod types;
mod vars;

use crate::model::Frame;
use crate::objects::elf::{self, ObjectCache};
use crate::unwind::{AddressSpace, FrameKind, MappedObject, Memory, RawFrame};
use rayon::prelude::*;
pub use scope::{ArgSpec, GuardSpec, VarRequest};
pub use sources::Depth;
use sources::{ObjectSymbols, Symbol};
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

/// The function name gdb prints for a signal frame.
pub const SIGNAL_FRAME: &str = "<signal handler called>";

/// A mapped object's symbols, and what to say about them in this process.
#[derive(Clone)]
struct Loaded {
    symbols: Arc<ObjectSymbols>,
    /// Why its frames are not trusted (its file changed after the process started).
    doubt: Option<Arc<str>>,
}

/// An address's symbols, why they are not trusted, if they are not, and the variables in
/// scope there (when asked for).
struct Resolved {
    symbols: Vec<Symbol>,
    doubt: Option<Arc<str>>,
    vars: Option<scope::PcVars>,
}

/// Symbolizes stacks. Objects are opened once (per path; objects with the same build-id share
/// one loader) and shared by every call, also from several threads.
#[derive(Default)]
pub struct Symbolizer {
    objects: ObjectCache<Option<Loaded>>,
    by_build_id: Mutex<HashMap<Vec<u8>, Arc<ObjectSymbols>>>,
    /// Read system libraries' DWARF too (see [`Depth::Names`]).
    full: bool,
}

/// How much to read of the object mapped as `name` (its path inside the target): a shared
/// library of the system ([`crate::model::is_system_library`]) by name only unless asked
/// otherwise; the program's own objects, wherever they are, get their DWARF.
fn depth_of(name: &str, full: bool) -> Depth {
    if crate::model::is_system_library(name) && !full {
        Depth::Names
    } else {
        Depth::Dwarf
    }
}

/// The address to look a frame up at: a return address is looked up at the call (pc - 1).
fn probe(frame: &RawFrame) -> u64 {
    match frame.kind {
        FrameKind::ReturnAddress => frame.pc.wrapping_sub(1),
        FrameKind::Ip | FrameKind::AfterSignal => frame.pc,
    }
}

impl Symbolizer {
    /// A symbolizer with nothing loaded yet, reading system libraries by name only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A symbolizer that also reads system libraries' DWARF (file:line and inlined frames in
    /// libc and friends, as gdb shows them), at a cost of about 100 ms per large library.
    pub fn full() -> Self {
        Self {
            full: true,
            ..Self::default()
        }
    }

    /// Symbolizes one stack: each raw frame becomes one or more frames (inlined callers
    /// expanded, innermost first, `inlined` on all but the outermost of a pc), with demangled
    /// names, file and line, module = the object's name. A `<signal handler called>` frame
    /// precedes each [`FrameKind::AfterSignal`] frame. Unknown pcs give a frame with no function
    /// and the address. Frames are numbered 0.. in order, as gdb does.
    pub fn symbolize(&self, space: &AddressSpace, frames: &[RawFrame]) -> Vec<Frame> {
        let none = VarRequest::default();
        let resolved = self.resolve(space, std::iter::once(frames), &none);
        build(space, frames, &resolved, None)
    }

    /// [`Symbolizer::symbolize`] for many stacks of one process: each distinct address is
    /// resolved once, the objects in parallel.
    pub fn symbolize_many(
        &self,
        space: &AddressSpace,
        stacks: &[Vec<RawFrame>],
    ) -> Vec<Vec<Frame>> {
        self.symbolize_with_vars(space, stacks, &VarRequest::default(), &[])
    }

    /// [`Symbolizer::symbolize_many`], with the variables `request` asks for read into each
    /// frame's `args` and `locals` from the stack's copied memory (`memory[i]` for
    /// `stacks[i]`; a stack with none gets no variables). Variables are described once per
    /// distinct pc and read per frame.
    pub fn symbolize_with_vars(
        &self,
        space: &AddressSpace,
        stacks: &[Vec<RawFrame>],
        request: &VarRequest,
        memory: &[&dyn Memory],
    ) -> Vec<Vec<Frame>> {
        let resolved = self.resolve(space, stacks.iter().map(Vec::as_slice), request);
        stacks
            .par_iter()
            .enumerate()
            .map(|(i, frames)| build(space, frames, &resolved, memory.get(i).copied()))
            .collect()
    }

    /// Every distinct probe address of `stacks`, symbolized; grouped by object, one rayon task
    /// per object.
    fn resolve<'a>(
        &self,
        space: &AddressSpace,
        stacks: impl Iterator<Item = &'a [RawFrame]>,
        request: &VarRequest,
    ) -> HashMap<u64, Resolved> {
        let mut by_object: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for frame in stacks.flatten() {
            let probe = probe(frame);
            if let Some(i) = space.object_index_at(probe) {
                by_object.entry(i).or_default().push(probe);
            }
        }
        by_object
            .into_par_iter()
            .flat_map_iter(|(i, mut probes)| {
                probes.sort_unstable();
                probes.dedup();
                let map = &space.objects[i];
                let found = catch_unwind(AssertUnwindSafe(|| {
                    let Some(o) = self.object(space, map) else {
                        return vec![];
                    };
                    let doubt = o.doubt;
                    o.symbols
                        .lookup_all(map, &probes, request)
                        .into_iter()
                        .map(|(probe, symbols, vars)| {
                            let doubt = doubt.clone();
                            let resolved = Resolved {
                                symbols,
                                doubt,
                                vars,
                            };
                            (probe, resolved)
                        })
                        .collect()
                }));
                found.unwrap_or_default()
            })
            .collect()
    }

    /// The symbol sources of `map`'s object, loaded on first use; None if it cannot be read.
    fn object(&self, space: &AddressSpace, map: &MappedObject) -> Option<Loaded> {
        self.objects
            .get(space, map, || {
                let loaded =
                    ObjectSymbols::load(space, map, depth_of(&map.name, self.full)).ok()?;
                // Checked against this mapping before the symbols are shared by build-id.
                let doubt = elf::doubt(space, map, loaded.file()).map(Arc::from);
                let symbols = match loaded.build_id().map(<[u8]>::to_vec) {
                    None => Arc::new(loaded),
                    Some(id) => self
                        .by_build_id
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(id)
                        .or_insert_with(|| Arc::new(loaded))
                        .clone(),
                };
                Some(Loaded { symbols, doubt })
            })
            .ok()
            .flatten()
    }

    /// What the user should know about the symbols of `space`'s objects loaded so far: debug
    /// files found but not used (another build's), objects read for their DWARF that have none
    /// (a stripped program: what its frames lack, and its debug file by build-id), files that
    /// changed after the process started. Each said once, in mapping order.
    pub fn diagnostics(&self, space: &AddressSpace) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for map in space.objects.iter().filter(|o| o.executable) {
            let Some(Some(loaded)) = self.objects.peek(space, map) else {
                continue;
            };
            let doubt = loaded.doubt.as_deref().map(str::to_string);
            let missing = loaded.symbols.missing.clone();
            for said in (loaded.symbols.rejected.iter().cloned())
                .chain(missing)
                .chain(doubt)
            {
                if !out.contains(&said) {
                    out.push(said);
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[test]
fn system_libraries_are_read_by_name_and_programs_in_full() {
    assert_eq!(
        depth_of("/usr/lib/x86_64-linux-gnu/libc.so.6", false),
        Depth::Names
    );
    assert_eq!(depth_of("/lib64/ld-linux-x86-64.so.2", false), Depth::Names);
    assert_eq!(
        depth_of("/usr/lib/x86_64-linux-gnu/libc.so.6", true),
        Depth::Dwarf
    );
    assert_eq!(
        depth_of("/usr/lib/postgresql/15/bin/postgres", false),
        Depth::Dwarf
    );
    assert_eq!(depth_of("/home/me/build/libacme.so", false), Depth::Dwarf);
    assert_eq!(depth_of("/usr/bin/mysqld", false), Depth::Dwarf);
}

/// The model frames of one stack from resolved addresses, with their variables read from
/// `mem` when it is given.
fn build(
    space: &AddressSpace,
    frames: &[RawFrame],
    resolved: &HashMap<u64, Resolved>,
    mem: Option<&dyn Memory>,
) -> Vec<Frame> {
    let mut out = Vec::with_capacity(frames.len() + 4);
    for (j, raw) in frames.iter().enumerate() {
        if raw.kind == FrameKind::AfterSignal {
            out.push(Frame {
                function: Some(SIGNAL_FRAME.into()),
                signal_frame: true,
                ..Frame::default()
            });
        }
        let probe = probe(raw);
        let module = space
            .object_at(probe)
            .map(|o| crate::model::Text::from(o.name.as_str()));
        let found = resolved.get(&probe);
        let untrusted = found.and_then(|r| r.doubt.as_deref()).map(str::to_string);
        match found.map(|r| &r.symbols).filter(|s| !s.is_empty()) {
            Some(symbols) => {
                let caller = frames
                    .get(j + 1)
                    .filter(|c| c.kind == FrameKind::ReturnAddress);
                for (i, s) in symbols.iter().enumerate() {
                    let (args, locals) = match (found.and_then(|r| r.vars.as_ref()), mem) {
                        (Some(vars), Some(mem)) => {
                            let view = vars::FrameView {
                                regs: &raw.regs,
                                caller: caller.map(|c| &c.regs),
                                mem,
                                line: s.line,
                            };
                            vars::read(vars, i, &view)
                        }
                        _ => (Vec::new(), Vec::new()),
                    };
                    out.push(Frame {
                        args: args.into(),
                        locals,
                        address: Some(raw.pc),
                        function: s.function.as_deref().map(crate::model::Text::from),
                        file: s.file.as_deref().map(crate::model::Text::from),
                        line: s.line,
                        module: module.clone(),
                        inlined: i + 1 < symbols.len(),
                        untrusted: untrusted.clone(),
                        trust: Some(raw.method),
                        ..Frame::default()
                    });
                }
            }
            None => out.push(Frame {
                address: Some(raw.pc),
                module,
                untrusted,
                trust: Some(raw.method),
                ..Frame::default()
            }),
        }
    }
    for (i, f) in out.iter_mut().enumerate() {
        f.index = u32::try_from(i).ok();
    }
    out
}
