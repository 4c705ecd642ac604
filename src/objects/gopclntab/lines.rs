//! A pc placed by a Go binary's pclntab, as the runtime's own traceback places it (and the
//! stack pointer's depth there, `pcsp`, for the unwinder): the
//! function holding it (a binary search of the function table), its file and line (the
//! function's `pcfile` and `pcln` pc-value tables, varint-encoded deltas; the file through
//! its compilation unit's row of `cutab`), and the calls inlined there, innermost first
//! (`PCDATA_InlTreeIndex` at the pc indexes the function's inline tree, `FUNCDATA_InlTree`;
//! each entry names the inlined function and the pc of its call site, `parentPc`, whose own
//! index and line give the next frame out). Go 1.18-1.19 and 1.20+ differ in `_func`'s fixed
//! part (1.20 adds `startLine`) and in the inline tree's entries (`inlinedCall`). The inline
//! tree lies outside the pclntab, at an offset from `moduledata.gofunc`: the module data is
//! found by its pointer to the table's header. Only the functions asked about are decoded.

use super::{c_string, find, header, text_section, text_start, u32_at, Header};
use crate::objects::elf::ElfFile;
use object::{Object, ObjectSection};
use std::sync::Arc;

/// Frames (inlined ones and the function) given per pc at most.
const MAX_INLINED: usize = 128;

/// Pc-value pairs decoded per lookup at most (and one a byte of the function's code).
const MAX_STEPS: usize = 1 << 20;

/// `PCDATA_InlTreeIndex`, `FUNCDATA_InlTree`: the same in every version read.
const PCDATA_INL_TREE_INDEX: u32 = 2;
/// See [`PCDATA_INL_TREE_INDEX`].
const FUNCDATA_INL_TREE: u32 = 3;

/// Bytes of an object at its addresses (SVMAs), as its loaded segments hold them.
pub(crate) trait Image: Send + Sync {
    /// `len` bytes at `svma`, if one segment's file bytes hold them all.
    fn bytes(&self, svma: u64, len: usize) -> Option<&[u8]>;
}

impl Image for ElfFile {
    fn bytes(&self, svma: u64, len: usize) -> Option<&[u8]> {
        let s = (self.segments.iter()).find(|s| svma >= s.vaddr && svma - s.vaddr < s.filesz)?;
        if (svma - s.vaddr).checked_add(len as u64)? > s.filesz {
            return None;
        }
        let at = usize::try_from(s.offset + (svma - s.vaddr)).ok()?;
        self.data.get(at..at.checked_add(len)?)
    }
}

/// One frame at a pc: its function, file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// A pclntab ready to place pcs.
pub(crate) struct Table {
    image: Arc<dyn Image>,
    /// The table's address and length.
    at: u64,
    len: usize,
    h: Header,
    /// The text's start: function entries are offsets from it.
    text: u64,
    /// `moduledata.gofunc`, the base of the functions' data (their inline trees); none if the
    /// module data was not found (then no inlined frames).
    gofunc: Option<u64>,
}

/// The parts of one `_func` read to place a pc in it.
struct Func {
    /// Its entry (an SVMA), its size, and where its `_func` is in the table.
    entry: u64,
    size: u32,
    at: usize,
    name: u32,
    pcsp: u32,
    pcfile: u32,
    pcln: u32,
    npcdata: u32,
    cu: u32,
    nfuncdata: u32,
}

impl Table {
    /// The pclntab of `file`, if it has one read here.
    pub fn open(file: Arc<ElfFile>) -> Option<Table> {
        let parsed = file.parse()?;
        let (at, bytes) = find(&parsed)?;
        let h = header(bytes)?;
        let text = text_start(&h, text_section(&parsed));
        let gofunc = gofunc(&parsed, at, &h);
        let len = bytes.len();
        drop(parsed);
        Some(Table::new(file, at, len, h, text, gofunc))
    }

    /// A table at `at` (`len` bytes) of `image`, its header `h`.
    pub(super) fn new(
        image: Arc<dyn Image>,
        at: u64,
        len: usize,
        h: Header,
        text: u64,
        gofunc: Option<u64>,
    ) -> Table {
        Table {
            image,
            at,
            len,
            h,
            text,
            gofunc,
        }
    }

    /// The frames at `svma`, innermost first (calls inlined there, then the function holding
    /// it); none if no function holds it.
    pub fn places(&self, svma: u64) -> Vec<Place> {
        let Some(t) = self.image.bytes(self.at, self.len) else {
            return Vec::new();
        };
        let Some(f) = self.func(t, svma) else {
            return Vec::new();
        };
        let place = |function: String, pc: u64| -> Place {
            let line = self.pcvalue(t, f.pcln, &f, pc);
            let file = (self.pcvalue(t, f.pcfile, &f, pc))
                .and_then(|n| u32::try_from(n).ok())
                .and_then(|n| {
                    let row = self.h.cutab.checked_add(4 * (f.cu as usize + n as usize))?;
                    let off = u32_at(t, row).filter(|&o| o != u32::MAX)?;
                    c_string(t, self.h.filetab.checked_add(off as usize)?)
                });
            Place {
                function,
                file,
                line: line.and_then(|l| u32::try_from(l).ok()).filter(|&l| l > 0),
            }
        };
        let mut out = Vec::new();
        let mut pc = svma;
        if let Some((index, tree)) = self.inline_tree(t, &f) {
            let (size, name_at, parent_at) = if self.h.go120 {
                (16, 4, 8)
            } else {
                (20, 12, 16)
            };
            while out.len() + 1 < MAX_INLINED {
                let Some(ix) = self.pcvalue(t, index, &f, pc) else {
                    break;
                };
                let Ok(ix) = u64::try_from(ix) else { break };
                let Some(call) = (ix.checked_mul(size))
                    .and_then(|o| tree.checked_add(o))
                    .and_then(|a| self.image.bytes(a, size as usize))
                else {
                    break;
                };
                let name = (u32_at(call, name_at))
                    .and_then(|n| c_string(t, self.h.names.checked_add(n as usize)?));
                let (Some(name), Some(parent)) = (name, u32_at(call, parent_at)) else {
                    break;
                };
                out.push(place(name, pc));
                pc = f.entry + u64::from(parent);
            }
        }
        if let Some(name) = c_string(t, self.h.names.saturating_add(f.name as usize)) {
            out.push(place(name, pc));
        }
        out
    }

    /// How far the stack pointer at `svma` is below its value at the function's entry (its
    /// `pcsp` table): the return address is that far above it. None outside every function.
    pub fn sp_delta(&self, svma: u64) -> Option<i32> {
        let t = self.image.bytes(self.at, self.len)?;
        let f = self.func(t, svma)?;
        self.pcvalue(t, f.pcsp, &f, svma)
    }

    /// The function holding `svma`, by a binary search of the function table.
    fn func(&self, t: &[u8], svma: u64) -> Option<Func> {
        let off = u32::try_from(svma.checked_sub(self.text)?).ok()?;
        let entry = |i: usize| u32_at(t, self.h.functab.checked_add(i.checked_mul(8)?)?);
        // The first function whose entry is past `off`, by the entries' order.
        let (mut lo, mut hi) = (0, self.h.nfunc);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if entry(mid)? <= off {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = lo.checked_sub(1)?;
        // The entry after the last function is its end.
        let end = entry(i + 1)?;
        if off >= end {
            return None;
        }
        let funcoff = u32_at(t, self.h.functab.checked_add(i * 8 + 4)?)?;
        let at = self.h.functab.checked_add(funcoff as usize)?;
        let field = |k: usize| u32_at(t, at.checked_add(4 * k)?);
        let fixed = if self.h.go120 { 44 } else { 40 };
        let nfuncdata = u32::from(*t.get(at.checked_add(fixed - 1)?)?);
        Some(Func {
            entry: self.text + u64::from(field(0)?),
            size: end.saturating_sub(field(0)?),
            at: at + fixed,
            name: field(1)?,
            pcsp: field(4)?,
            pcfile: field(5)?,
            pcln: field(6)?,
            npcdata: field(7)?,
            cu: field(8)?,
            nfuncdata,
        })
    }

    /// The function's inline-tree index table (a pc-value table) and its tree's address.
    fn inline_tree(&self, t: &[u8], f: &Func) -> Option<(u32, u64)> {
        if f.npcdata <= PCDATA_INL_TREE_INDEX || f.nfuncdata <= FUNCDATA_INL_TREE {
            return None;
        }
        let index = u32_at(t, f.at + 4 * PCDATA_INL_TREE_INDEX as usize)?;
        let data = f.at + 4 * (f.npcdata + FUNCDATA_INL_TREE) as usize;
        let tree = u32_at(t, data).filter(|&o| o != u32::MAX)?;
        Some((index, self.gofunc?.checked_add(u64::from(tree))?))
    }

    /// The value the pc-value table at `off` of `pctab` gives `target` in function `f`: pairs
    /// of (value delta, zig-zag; pc delta), both varints, ended by a zero value delta. Each
    /// pair moves the pc on, so a function has at most one a byte of its code.
    fn pcvalue(&self, t: &[u8], off: u32, f: &Func, target: u64) -> Option<i32> {
        if off == 0 {
            return None;
        }
        let mut p = self.h.pctab.checked_add(off as usize)?;
        let (mut pc, mut val) = (f.entry, -1i32);
        for step in 0..MAX_STEPS.min(f.size as usize + 1) {
            let (delta, n) = varint(t, p)?;
            if delta == 0 && step > 0 {
                return None;
            }
            val = val.wrapping_add(((delta >> 1) ^ 0u32.wrapping_sub(delta & 1)) as i32);
            let (advance, m) = varint(t, p + n)?;
            p += n + m;
            pc = pc.checked_add(u64::from(advance))?;
            if target < pc {
                return Some(val);
            }
        }
        None
    }
}

/// The unsigned varint at `at` of `t` (at most 5 bytes) and its length.
fn varint(t: &[u8], at: usize) -> Option<(u32, usize)> {
    let mut v = 0u32;
    for (i, &b) in t.get(at..)?.iter().take(5).enumerate() {
        v |= u32::from(b & 0x7f) << (7 * i as u32);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// `moduledata.gofunc` of the module whose pclntab starts at `table`: the module data lives
/// in `.noptrdata` and starts with a pointer to the table's header, then the name table's
/// slice (a pointer to it, its length twice); `gofunc` follows the address-range words, one
/// pair more from Go 1.20 (`covctrs`).
fn gofunc(file: &object::File<'_>, table: u64, h: &Header) -> Option<u64> {
    let data = file.section_by_name(".noptrdata")?.data().ok()?;
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            data.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    let slot = if h.go120 { 40 } else { 38 };
    (0..data.len().saturating_sub(8 * (slot + 1)))
        .step_by(8)
        .find(|&at| word(at) == Some(table) && word(at + 8) == table.checked_add(h.names as u64))
        .and_then(|at| word(at + 8 * slot))
        .filter(|&g| g != 0)
}
