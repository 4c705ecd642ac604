//! Which static data objects a frame's code names: the evidence of which live frames can have
//! taken a lock that records no owner. A function can have taken a lock at a static address
//! (a global or static in `.data`, `.bss`, Go's `.noptrbss`) only if its code names it: on
//! x86-64 a RIP-relative operand resolving into the object (`lea main.accountsMu(%rip)`,
//! `lock cmpxchg %ecx, m(%rip)`), or to a slot holding its address (a GOT entry a dynamic
//! relocation fills with it, by value or by the object's name in another object, or a data
//! word holding it: `static GMutex *lockp = &m`).
//!
//! The function's bytes `[entry, entry + size)` (its symbol-table entry, from the object file
//! the frames were symbolized with, or the program file a dump is read with: `program`, which
//! scans with the same [`Scan`]) are read for every 4-byte window `d` at offset `i`: it is
//! a RIP-relative displacement if `end + d` falls in an object, where `end` is the end of the
//! instruction: `i + 4`, or further by the 1, 2 or 4 bytes of an immediate after it. Every
//! window is tried, not only real instructions' operands (no disassembler), so a window of
//! immediates or of two instructions' bytes can hit an object by chance, the likelier the
//! larger the object. Measured against objdump's RIP-relative operands on Go 1.19's
//! `mutex_abba` (1437 functions, 610 sized data objects) and the C fixtures: every true
//! reference found; against objects of at most 64 bytes (locks), 2.7e-5 of (function, object)
//! pairs named by chance, plus neighbours of a named object (a displacement read as if an
//! immediate followed it lands in the object next to it). Such a false
//! hit only keeps a thread among a lock's possible holders (the cautious side). A function
//! larger than [`MAX_FUNCTION`], one with no sized symbol, or code in a file not trusted to be
//! the one mapped, gets no `refs`: it could hold any lock. Frames in the system's shared
//! libraries are not scanned (the analysis never counts them as the program's).
//!
//! What this cannot see: a lock reached through a pointer set at run time (a heap object, a
//! global pointer assigned after start), or taken by a callee that returned while holding it
//! (a wrapper that locks and returns) when its caller did not name the lock itself. The
//! analysis grades what it derives from these references `heuristic` and says so.

use super::Symbolizer;
use crate::model::{Evidence, Thread};
use crate::names::demangle_data;
use crate::objects::elf::ElfFile;
use crate::unwind::AddressSpace;
use object::{Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, RelocationTarget};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Functions larger than this are not scanned: their frames could hold any lock.
const MAX_FUNCTION: u64 = 1 << 20;

/// The bytes an x86-64 instruction may carry after its 32-bit displacement (none, or an 8-,
/// 16- or 32-bit immediate): the displacement counts from the instruction's end.
const AFTER_DISPLACEMENT: [u64; 4] = [0, 1, 2, 4];

/// A static data object the analysis looks at: its runtime bytes and name.
pub(super) struct Target<'a> {
    start: u64,
    end: u64,
    name: &'a str,
}

/// The `data-symbol` objects of `evidence`, sorted by start: what code is scanned against.
pub(super) fn targets(evidence: &[Evidence]) -> Vec<Target<'_>> {
    let mut targets: Vec<Target> = (evidence.iter())
        .filter_map(|e| match e {
            Evidence::DataSymbol {
                address,
                size,
                name,
            } => Some(Target {
                start: *address,
                end: address.saturating_add(*size),
                name,
            }),
            _ => None,
        })
        .collect();
    targets.sort_by_key(|t| t.start);
    targets
}

/// Functions scanned, by (object, start): each once, shared by its frames.
pub(super) type Scanned = HashMap<(usize, u64), Option<Arc<Vec<u64>>>>;

/// What one object's code is scanned against: the targets' ranges, and the slots of this
/// object (GOT entries, data words) that hold a target's address, with that target's start.
pub(super) struct Scan {
    ranges: Vec<(u64, u64)>,
    slots: HashMap<u64, u64>,
}

impl Scan {
    /// The target start a resolved operand address names.
    fn hit(&self, addr: u64) -> Option<u64> {
        let i = self
            .ranges
            .partition_point(|r| r.0 <= addr)
            .checked_sub(1)?;
        let (start, end) = self.ranges[i];
        if addr < end {
            return Some(start);
        }
        self.slots.get(&addr).copied()
    }

    /// The targets `code` (at runtime address `at`) names.
    fn names(&self, code: &[u8], at: u64) -> Vec<u64> {
        let mut out = Vec::new();
        for (i, w) in code.windows(4).enumerate() {
            let d = i64::from(i32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            let end = at.wrapping_add(i as u64 + 4);
            for k in AFTER_DISPLACEMENT {
                if let Some(t) = self.hit(end.wrapping_add(k).wrapping_add_signed(d)) {
                    out.push(t);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The targets named by `file`'s function at `start` (SVMA) of `size` bytes, loaded at
    /// runtime address `at`, scanned once per `key` into `scanned`. `None` (it could hold any
    /// lock) for a function with no size, one over [`MAX_FUNCTION`], or bytes not in the file.
    pub(super) fn function(
        &self,
        file: &ElfFile,
        (start, size, at): (u64, u64, u64),
        key: (usize, u64),
        scanned: &mut Scanned,
    ) -> Option<Arc<Vec<u64>>> {
        let scan = || {
            if size == 0 || size > MAX_FUNCTION {
                return None;
            }
            let code = file.bytes_at_svma(start, usize::try_from(size).ok()?)?;
            Some(Arc::new(self.names(code, at)))
        };
        (scanned.entry(key))
            .or_insert_with(|| catch_unwind(AssertUnwindSafe(scan)).ok().flatten())
            .clone()
    }

    /// What `file`'s code, loaded `bias` from its own addresses, is scanned against: the
    /// targets, and its own slots holding one's address. `None` when it is no x86-64 object.
    pub(super) fn of(file: &ElfFile, bias: u64, targets: &[Target]) -> Option<Scan> {
        catch_unwind(AssertUnwindSafe(|| Scan::read(file, bias, targets)))
            .ok()
            .flatten()
    }

    fn read(file: &ElfFile, bias: u64, targets: &[Target]) -> Option<Scan> {
        let parsed = file.parse()?;
        if parsed.architecture() != object::Architecture::X86_64 {
            return None;
        }
        let inside = |addr: u64| {
            let k = targets
                .partition_point(|t| t.start <= addr)
                .checked_sub(1)?;
            (addr < targets[k].end).then_some(targets[k].start)
        };
        let mut slots = HashMap::new();
        // Words of its writable data holding a target's address (as linked: an executable's
        // own pointers; a position-independent one's are filled by the relocations below).
        for section in parsed.sections() {
            if section.kind() != object::SectionKind::Data {
                continue;
            }
            let (Ok(bytes), addr) = (section.data(), section.address()) else {
                continue;
            };
            for (k, w) in bytes.chunks_exact(8).enumerate() {
                let value = u64::from_le_bytes(w.try_into().unwrap_or_default());
                if let Some(t) = inside(value.wrapping_add(bias)) {
                    slots.insert(addr.wrapping_add(bias).wrapping_add(k as u64 * 8), t);
                }
            }
        }
        // Slots the loader fills with a target's address: by value (a relative relocation,
        // a symbol defined here), or by the target's name (a symbol another object defines).
        let symbols = parsed.dynamic_symbol_table();
        for (offset, reloc) in parsed.dynamic_relocations().into_iter().flatten() {
            let value = match reloc.target() {
                RelocationTarget::Absolute => inside((reloc.addend() as u64).wrapping_add(bias)),
                RelocationTarget::Symbol(s) => {
                    let Some(sym) = symbols.as_ref().and_then(|t| t.symbol_by_index(s).ok()) else {
                        continue;
                    };
                    if sym.is_definition() {
                        inside(
                            sym.address()
                                .wrapping_add_signed(reloc.addend())
                                .wrapping_add(bias),
                        )
                    } else {
                        let name = sym.name().ok().map(demangle_data);
                        (targets.iter())
                            .find(|t| name.as_deref() == Some(t.name))
                            .map(|t| t.start)
                    }
                }
                _ => None,
            };
            if let Some(t) = value {
                slots.insert(offset.wrapping_add(bias), t);
            }
        }
        Some(Scan {
            ranges: targets.iter().map(|t| (t.start, t.end)).collect(),
            slots,
        })
    }
}

impl Symbolizer {
    /// Sets each frame's `refs` (see `model::Frame::refs`) against the `data-symbol` objects of
    /// `evidence`: the objects its function's code names. Nothing is set when there are none.
    pub fn references(&self, space: &AddressSpace, threads: &mut [Thread], evidence: &[Evidence]) {
        let targets = targets(evidence);
        if targets.is_empty() {
            return;
        }
        let mut scans: HashMap<usize, Option<Scan>> = HashMap::new();
        let mut scanned = Scanned::new();
        for thread in threads {
            // The innermost frame's pc, and the one a signal interrupted, are in their
            // function; a caller's return address may be one past its function's end.
            let mut at_pc = true;
            for frame in &mut thread.frames {
                if frame.signal_frame {
                    at_pc = true;
                    continue;
                }
                let Some(pc) = frame.address else { continue };
                let probe = if at_pc { pc } else { pc.wrapping_sub(1) };
                if !frame.inlined {
                    at_pc = false;
                }
                // A system library's frames never count as the program's: not scanned.
                let Some(i) = space.object_index_at(probe) else {
                    continue;
                };
                if crate::model::is_system_library(&space.objects[i].name) {
                    continue;
                }
                let map = &space.objects[i];
                // Not from a file that may not be the one mapped (its frames say so).
                let Some(loaded) = self.object(space, map).filter(|l| l.doubt.is_none()) else {
                    continue;
                };
                let file = loaded.symbols.file();
                let scan = scans.entry(i).or_insert_with(|| {
                    let bias = file.bias(map)?;
                    Scan::of(file, bias, &targets)
                });
                let Some(scan) = scan else { continue };
                let Some(svma) = file.svma(map, probe) else {
                    continue;
                };
                let Some((start, size)) = loaded.symbols.function_at(svma) else {
                    continue;
                };
                let at = probe.wrapping_sub(svma).wrapping_add(start);
                frame.refs = scan.function(file, (start, size, at), (i, start), &mut scanned);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scan;
    use std::collections::HashMap;

    #[test]
    fn a_rip_relative_operand_names_the_object_it_resolves_into_and_a_slot_its_target() {
        let scan = Scan {
            ranges: vec![(0x55c060, 0x55c068), (0x55c068, 0x55c070)],
            slots: HashMap::from([(0x600000, 0x55c060)]),
        };
        // lea 0xd959f(%rip),%rdx at 0x482aba (7 bytes): 0x482ac1 + 0xd959f = 0x55c060.
        let lea = [0x48, 0x8d, 0x15, 0x9f, 0x95, 0x0d, 0x00];
        assert_eq!(scan.names(&lea, 0x482aba), [0x55c060]);
        // cmpl $0x0,0xd959e(%rip): an imm8 after the displacement; 0x482ac2 + 0xd959e.
        let cmp = [0x83, 0x3d, 0x9e, 0x95, 0x0d, 0x00, 0x00];
        assert_eq!(scan.names(&cmp, 0x482abb), [0x55c060]);
        // mov 0x7d539(%rip),%rax at 0x482ac0: through the slot at 0x600000.
        let mov = [0x48, 0x8b, 0x05, 0x39, 0xd5, 0x17, 0x00];
        assert_eq!(scan.names(&mov, 0x482ac0), [0x55c060]);
        // Code naming neither.
        assert_eq!(scan.names(&[0x90; 64], 0x482ac0), Vec::<u64>::new());
    }
}
