//! DWARF call frame information: finding the FDE for an address (`.eh_frame` through the
//! `.eh_frame_hdr` search table, else a sorted index built once; `.debug_frame` the same way)
//! and evaluating its row — CFA and register rules, DWARF expressions included — to get the
//! caller's registers.

use super::memory::Memory;
use super::x86_64::{self, read_u64, Endian, RegState, ADDRESS_SIZE, RA, RA_CFA_OFFSET, RSP};
use crate::objects::elf::ElfFile;
use gimli::{
    BaseAddresses, CfaRule, CieOrFde, DebugFrame, EhFrame, EhFrameHdr, EhFrameOffset, Encoding,
    EndianSlice, EvaluationResult, Expression, FrameDescriptionEntry, Location, RegisterRule,
    UnwindContext, UnwindSection, UnwindTableRow, Value,
};
use object::{Object, ObjectSection};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

type R<'a> = EndianSlice<'a, Endian>;

/// Bounds for hostile DWARF expressions: operations per expression, and pauses for memory or
/// register values.
const MAX_EXPRESSION_STEPS: u32 = 1000;
const MAX_EXPRESSION_INPUTS: usize = 64;

/// A section's bytes: a range of the object's bytes, or a decompressed copy.
enum SectionData {
    InFile(Range<usize>),
    Owned(Vec<u8>),
}

impl SectionData {
    fn bytes<'a>(&'a self, file: &'a [u8]) -> &'a [u8] {
        match self {
            SectionData::InFile(r) => file.get(r.clone()).unwrap_or(&[]),
            SectionData::Owned(v) => v,
        }
    }
}

/// An FDE's address range and offset in its section.
struct FdeSpan {
    start: u64,
    end: u64,
    offset: usize,
}

/// The CFI sections of one object.
pub(super) struct Cfi {
    eh_frame: Option<SectionData>,
    eh_frame_hdr: Option<SectionData>,
    debug_frame: Option<SectionData>,
    bases: BaseAddresses,
    eh_index: OnceLock<Vec<FdeSpan>>,
    debug_index: OnceLock<Vec<FdeSpan>>,
}

/// What the CFI says about the caller of a frame.
pub(super) enum Step {
    /// The caller's registers; `after_signal` when the FDE is a signal trampoline's (augmentation
    /// `S`), whose "return address" is the exact pc the signal interrupted.
    Caller { regs: RegState, after_signal: bool },
    /// The return address is undefined: this is the outermost frame.
    Outermost,
    /// No FDE covers the address.
    NotCovered,
    /// An FDE covers it but cannot be used.
    Failed(String),
}

impl Cfi {
    /// Finds the CFI sections of `file` (sections without file bytes, as in debug files, count
    /// as absent).
    pub fn new(file: &ElfFile) -> Cfi {
        let mut cfi = Cfi {
            eh_frame: None,
            eh_frame_hdr: None,
            debug_frame: None,
            bases: BaseAddresses::default(),
            eh_index: OnceLock::new(),
            debug_index: OnceLock::new(),
        };
        let Some(parsed) = file.parse() else {
            return cfi;
        };
        let section = |name: &str| {
            let s = parsed.section_by_name(name)?;
            let (offset, size) = s.file_range()?;
            let compressed = s
                .compressed_file_range()
                .is_ok_and(|c| c.format != object::CompressionFormat::None);
            let data = if compressed {
                match s.uncompressed_data().ok()? {
                    Cow::Owned(v) => SectionData::Owned(v),
                    Cow::Borrowed(b) => SectionData::Owned(b.to_vec()),
                }
            } else {
                let start = usize::try_from(offset).ok()?;
                SectionData::InFile(start..start.checked_add(usize::try_from(size).ok()?)?)
            };
            Some((data, s.address()))
        };
        let mut bases = BaseAddresses::default();
        if let Some((data, address)) = section(".eh_frame") {
            bases = bases.set_eh_frame(address);
            cfi.eh_frame = Some(data);
        }
        if let Some((data, address)) = section(".eh_frame_hdr") {
            bases = bases.set_eh_frame_hdr(address);
            cfi.eh_frame_hdr = Some(data);
        }
        if let Some(s) = parsed.section_by_name(".text") {
            bases = bases.set_text(s.address());
        }
        if let Some(s) = parsed.section_by_name(".got") {
            bases = bases.set_got(s.address());
        }
        cfi.debug_frame = section(".debug_frame").map(|(data, _)| data);
        cfi.bases = bases;
        cfi
    }

    /// True if the object has a `.debug_frame`.
    pub fn has_debug_frame(&self) -> bool {
        self.debug_frame.is_some()
    }

    /// The caller of the frame at `svma` (the pc, or the return address minus one) whose
    /// registers are `regs`. `data` is the object's bytes.
    pub fn step(
        &self,
        data: &[u8],
        svma: u64,
        regs: &RegState,
        mem: &dyn Memory,
        ctx: &mut UnwindContext<usize>,
    ) -> Step {
        if let Some(eh) = &self.eh_frame {
            let mut section = EhFrame::new(eh.bytes(data), Endian::default());
            section.set_address_size(ADDRESS_SIZE);
            let fde = self.eh_frame_fde(data, &section, svma);
            if let Some(step) =
                fde.map(|f| self.evaluate(&section, &self.bases, f, svma, regs, mem, ctx))
            {
                if !matches!(step, Step::NotCovered) {
                    return step;
                }
            }
        }
        if let Some(debug) = &self.debug_frame {
            let mut section = DebugFrame::new(debug.bytes(data), Endian::default());
            section.set_address_size(ADDRESS_SIZE);
            let bases = BaseAddresses::default();
            let index = self
                .debug_index
                .get_or_init(|| build_index(&section, &bases));
            if let Some(fde) = indexed_fde(index, &section, &bases, svma) {
                return self.evaluate(&section, &bases, fde, svma, regs, mem, ctx);
            }
        }
        Step::NotCovered
    }

    /// The `.eh_frame` FDE for `svma`: by the header's binary search table when there is a
    /// usable one, else by the index.
    fn eh_frame_fde<'a>(
        &'a self,
        data: &'a [u8],
        section: &EhFrame<R<'a>>,
        svma: u64,
    ) -> Option<FrameDescriptionEntry<R<'a>>> {
        let hdr = self.eh_frame_hdr.as_ref().and_then(|h| {
            EhFrameHdr::new(h.bytes(data), Endian::default())
                .parse(&self.bases, ADDRESS_SIZE)
                .ok()
        });
        if let Some((hdr, table)) = hdr.as_ref().and_then(|h| Some((h, h.table()?))) {
            // gimli's `fde_for_address`, with the entry's offset in `.eh_frame` checked: gimli
            // subtracts without checking, and a table entry before `.eh_frame` overflows.
            let fde = table.lookup(svma, &self.bases).and_then(|entry| {
                let offset = entry
                    .direct()?
                    .checked_sub(hdr.eh_frame_ptr().direct()?)
                    .and_then(|o| usize::try_from(o).ok())
                    .ok_or(gimli::Error::OffsetOutOfBounds(entry.direct()?))?;
                section.fde_from_offset(&self.bases, EhFrameOffset(offset), cie_from_offset)
            });
            return match fde {
                Ok(fde) if fde.contains(svma) => Some(fde),
                Ok(_) | Err(gimli::Error::NoUnwindInfoForAddress) => None,
                // Corrupt or incomplete table: fall back to scanning.
                Err(_) => indexed_fde(self.eh_index(section), section, &self.bases, svma),
            };
        }
        indexed_fde(self.eh_index(section), section, &self.bases, svma)
    }

    fn eh_index(&self, section: &EhFrame<R<'_>>) -> &[FdeSpan] {
        self.eh_index
            .get_or_init(|| build_index(section, &self.bases))
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate<'a, S: UnwindSection<R<'a>>>(
        &self,
        section: &S,
        bases: &BaseAddresses,
        fde: FrameDescriptionEntry<R<'a>>,
        svma: u64,
        regs: &RegState,
        mem: &dyn Memory,
        ctx: &mut UnwindContext<usize>,
    ) -> Step {
        let row = match fde.unwind_info_for_address(section, bases, ctx, svma) {
            Ok(row) => row,
            Err(gimli::Error::NoUnwindInfoForAddress) => return Step::NotCovered,
            Err(e) => return Step::Failed(format!("bad CFI for {svma:#x}: {e}")),
        };
        match apply_row(row, section, fde.cie().encoding(), regs, mem) {
            Ok(Some(regs)) => Step::Caller {
                regs,
                after_signal: fde.is_signal_trampoline(),
            },
            Ok(None) => Step::Outermost,
            Err(e) => Step::Failed(e),
        }
    }
}

fn cie_from_offset<'a, S: UnwindSection<R<'a>>>(
    section: &S,
    bases: &BaseAddresses,
    offset: S::Offset,
) -> gimli::Result<gimli::CommonInformationEntry<R<'a>>> {
    section.cie_from_offset(bases, offset)
}

/// Every FDE of a section, sorted by start address. Stops at the first unparsable entry.
fn build_index<'a, S: UnwindSection<R<'a>>>(section: &S, bases: &BaseAddresses) -> Vec<FdeSpan> {
    let mut out = vec![];
    let mut entries = section.entries(bases);
    while let Ok(Some(entry)) = entries.next() {
        if let CieOrFde::Fde(partial) = entry {
            if let Ok(fde) = partial.parse(cie_from_offset) {
                out.push(FdeSpan {
                    start: fde.initial_address(),
                    end: fde.initial_address().saturating_add(fde.len()),
                    offset: fde.offset(),
                });
            }
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

fn indexed_fde<'a, S: UnwindSection<R<'a>>>(
    index: &[FdeSpan],
    section: &S,
    bases: &BaseAddresses,
    svma: u64,
) -> Option<FrameDescriptionEntry<R<'a>>> {
    let after = index.partition_point(|s| s.start <= svma);
    // Nested or overlapping FDEs are rare; look back a little for one that covers `svma`.
    index[..after]
        .iter()
        .rev()
        .take(4)
        .find(|s| svma < s.end)
        .and_then(|s| {
            section
                .fde_from_offset(bases, S::Offset::from(s.offset), cie_from_offset)
                .ok()
        })
}

/// The caller's registers from one CFI row; `Ok(None)` when the return address is undefined.
/// Registers without a rule keep their value (callee-saved by convention).
fn apply_row<'a, S: UnwindSection<R<'a>>>(
    row: &UnwindTableRow<usize>,
    section: &S,
    encoding: Encoding,
    regs: &RegState,
    mem: &dyn Memory,
) -> Result<Option<RegState>, String> {
    let expression = |e: &gimli::UnwindExpression<usize>| {
        e.get(section)
            .map_err(|e| format!("bad CFI expression: {e}"))
    };
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => regs
            .get(register.0)
            .ok_or_else(|| format!("the CFA register {} is unknown", register.0))?
            .wrapping_add_signed(*offset),
        CfaRule::Expression(e) => evaluate(expression(e)?, encoding, None, regs, mem)?,
    };
    let mut caller = *regs;
    caller.set(RSP, Some(cfa));
    let mut ra_rule = false;
    for (register, rule) in row.registers() {
        let value = match rule {
            RegisterRule::Undefined => None,
            RegisterRule::SameValue => regs.get(register.0),
            RegisterRule::Offset(o) => read_u64(mem, cfa.wrapping_add_signed(*o)),
            RegisterRule::ValOffset(o) => Some(cfa.wrapping_add_signed(*o)),
            RegisterRule::Register(r) => regs.get(r.0),
            RegisterRule::Expression(e) => {
                let at = evaluate(expression(e)?, encoding, Some(cfa), regs, mem)?;
                read_u64(mem, at)
            }
            RegisterRule::ValExpression(e) => {
                Some(evaluate(expression(e)?, encoding, Some(cfa), regs, mem)?)
            }
            RegisterRule::Constant(c) => Some(*c),
            RegisterRule::Architectural => None,
        };
        if register.0 == RA {
            ra_rule = true;
            if matches!(rule, RegisterRule::Undefined) {
                return Ok(None);
            }
            if value.is_none() {
                return Err(format!("cannot read the return address (CFA {cfa:#x})"));
            }
        }
        caller.set(register.0, value);
    }
    if !ra_rule {
        let at = cfa.wrapping_add_signed(RA_CFA_OFFSET);
        let ra = read_u64(mem, at)
            .ok_or_else(|| format!("cannot read the return address at {at:#x}"))?;
        caller.set(RA, Some(ra));
    }
    Ok(Some(caller))
}

/// Evaluates a CFI expression (with the CFA pushed first for register rules) to a value.
fn evaluate(
    expr: Expression<R<'_>>,
    encoding: Encoding,
    initial: Option<u64>,
    regs: &RegState,
    mem: &dyn Memory,
) -> Result<u64, String> {
    let fail = |e: gimli::Error| match e {
        gimli::Error::TooManyIterations => {
            format!("CFI expression runs past {MAX_EXPRESSION_STEPS} operations (a loop?)")
        }
        e => format!("CFI expression: {e}"),
    };
    let mut eval = expr.evaluation(encoding);
    if let Some(v) = initial {
        eval.set_initial_value(v);
    }
    eval.set_max_iterations(MAX_EXPRESSION_STEPS);
    let mut state = eval.evaluate().map_err(fail)?;
    let mut inputs = 0;
    loop {
        inputs += 1;
        if inputs > MAX_EXPRESSION_INPUTS {
            return Err("CFI expression reads too many values".into());
        }
        state = match state {
            EvaluationResult::Complete => break,
            EvaluationResult::RequiresMemory { address, size, .. } => {
                let mut buf = [0u8; 8];
                let n = usize::from(size).min(8);
                if !mem.read(address, &mut buf[..n]) {
                    return Err(format!(
                        "CFI expression reads unreadable memory at {address:#x}"
                    ));
                }
                eval.resume_with_memory(Value::Generic(x86_64::word(buf)))
                    .map_err(fail)?
            }
            EvaluationResult::RequiresRegister { register, .. } => {
                let v = regs.get(register.0).ok_or_else(|| {
                    format!("CFI expression needs unknown register {}", register.0)
                })?;
                eval.resume_with_register(Value::Generic(v)).map_err(fail)?
            }
            _ => return Err("CFI expression uses an operation unwinding cannot provide".into()),
        };
    }
    if let Some(v) = eval.value_result() {
        return v.to_u64(!0).map_err(fail);
    }
    match eval.as_result().first().map(|p| &p.location) {
        Some(Location::Address { address }) => Ok(*address),
        Some(Location::Value { value }) => value.to_u64(!0).map_err(fail),
        _ => Err("CFI expression gives no value".into()),
    }
}
