//! Unwinding a stopped thread's stack from a copy: its registers, the top of its stack, the
//! vdso's bytes and the list of mapped objects, taken by the capture before it detached. Never
//! touches a live process.
//!
//! Each step finds the caller by DWARF CFI (`.eh_frame`, `.debug_frame`, also from a separate
//! debug file: `cfi`), else, innermost in a Go binary without CFI (no DWARF), by the stack
//! depth its pclntab gives (`objects::gopclntab`: a leaf that keeps no frame pointer), else by
//! the frame-pointer chain; the sigreturn trampoline hands over to
//! the registers the kernel saved in the signal frame (`x86_64` holds everything
//! architecture-specific). A walk never panics and never loops: it stops at `max_frames`, on a
//! CFA that does not increase, on unreadable memory and on a pc outside every mapping, and says
//! why. Registers, memory and unwind data in, frames out: the objects' bytes (and their
//! separate debug files) come from a source of [`crate::objects`] (by default the process's
//! files), and the unwinder reads only those and the copied memory, opening nothing itself.

mod cfi;
mod memory;
#[cfg(test)]
pub(crate) mod tests;
mod x86_64;

pub use crate::objects::{AddressSpace, MappedObject};
pub use memory::{Memory, MemoryRegion, Regions};

use crate::model::{FrameTrust, StopReason};
use crate::objects::elf::{ElfFile, ObjectCache};
use crate::objects::gopclntab::lines::Table;
use crate::objects::{Files, Source};
use cfi::{Cfi, Step};
use gimli::UnwindContext;
use serde::{Deserialize, Serialize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use x86_64::RegState;

/// A thread's general-purpose registers (x86_64), as `PTRACE_GETREGS` gives them.
#[allow(missing_docs)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
}

/// What a frame's pc is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrameKind {
    /// The innermost frame: the instruction the thread stopped at.
    Ip,
    /// A return address: the instruction after a call (symbolize and look up at pc - 1).
    ReturnAddress,
    /// The exact pc of the code a signal interrupted, right after a signal frame.
    AfterSignal,
}

/// Why a walk ended before the thread's first frame: the reason, and the same in words
/// (where, and what failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Early {
    /// Why, as a kind.
    pub reason: StopReason,
    /// Why, in words.
    pub detail: String,
}

fn early(reason: StopReason, detail: impl Into<String>) -> Option<Early> {
    Some(Early {
        reason,
        detail: detail.into(),
    })
}

/// One frame as unwinding found it, before symbolization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFrame {
    /// The program counter (a return address for [`FrameKind::ReturnAddress`]).
    pub pc: u64,
    /// What the pc is.
    pub kind: FrameKind,
    /// How it was found.
    pub method: FrameTrust,
    /// The frame's stack pointer (for callers: the callee's CFA).
    pub sp: u64,
    /// Its registers as the walk recovered them, and its CFA (for reading its variables).
    #[serde(skip)]
    pub regs: FrameRegs,
}

/// A frame's registers as unwinding recovered them: all of them in the innermost frame and
/// after a signal, only those a call preserves in a caller; and the frame's CFA (its
/// caller's stack pointer) when the step to the caller found it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameRegs {
    state: RegState,
    /// The canonical frame address.
    pub cfa: Option<u64>,
}

impl FrameRegs {
    /// The register with DWARF number `reg`, if this frame knows it.
    pub fn get(&self, reg: u16) -> Option<u64> {
        self.state.get(reg)
    }

    /// Every register of a stopped thread (tests, and frames built by hand).
    pub fn from_regs(regs: &Regs) -> FrameRegs {
        FrameRegs {
            state: RegState::from_regs(regs),
            cfa: None,
        }
    }
}

/// Where the next step of a walk leads.
enum Next {
    Caller(RegState, FrameKind, FrameTrust),
    End,
}

/// An object as the unwinder uses it: its bytes, its CFI, and, loaded on first need, the CFI
/// of its separate debug file and a Go binary's pclntab.
struct UnwindObject {
    file: Arc<ElfFile>,
    cfi: Cfi,
    debug: OnceLock<Option<(ElfFile, Cfi)>>,
    /// A Go binary's pclntab, read on the first pc no CFI covers.
    go: OnceLock<Option<Table>>,
}

type Loaded = Result<Arc<UnwindObject>, String>;

/// Unwinds stacks. Objects are read from the source and their CFI indexed once, then shared
/// by every walk, also from several threads at once.
pub struct Unwinder {
    source: Box<dyn Source>,
    objects: ObjectCache<Loaded>,
}

impl Default for Unwinder {
    fn default() -> Self {
        Self::with_source(Box::new(Files))
    }
}

impl Unwinder {
    /// An unwinder of processes whose objects are read from their files (and the vdso's copied
    /// bytes), with nothing loaded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// An unwinder of the objects `source` gives.
    pub(crate) fn with_source(source: Box<dyn Source>) -> Self {
        Self {
            source,
            objects: ObjectCache::default(),
        }
    }

    /// Walks one thread's stack. Never panics, never loops forever: stops at `max_frames`, on a
    /// CFA that does not increase, on unreadable memory, on a pc outside every mapping; returns
    /// the frames found so far plus why it stopped early, if it did (`None`: at the outermost
    /// frame).
    pub fn unwind(
        &self,
        regs: &Regs,
        mem: &dyn Memory,
        space: &AddressSpace,
        max_frames: usize,
    ) -> (Vec<RawFrame>, Option<Early>) {
        let mut frames = Vec::new();
        let walked = catch_unwind(AssertUnwindSafe(|| {
            self.walk(regs, mem, space, max_frames, &mut frames)
        }));
        let reason = walked.unwrap_or_else(|_| {
            early(
                StopReason::Internal,
                "internal error: the unwinder panicked",
            )
        });
        (frames, reason)
    }

    fn walk(
        &self,
        regs: &Regs,
        mem: &dyn Memory,
        space: &AddressSpace,
        max_frames: usize,
        frames: &mut Vec<RawFrame>,
    ) -> Option<Early> {
        let mut state = RegState::from_regs(regs);
        let mut kind = FrameKind::Ip;
        let mut method = FrameTrust::Context;
        let mut ctx = UnwindContext::new();
        let mut signal_hops = 0usize;
        loop {
            let (Some(pc), Some(sp)) = (state.pc(), state.sp()) else {
                return early(
                    StopReason::NoRegisters,
                    "the pc or stack pointer is unknown",
                );
            };
            if self.is_sigreturn(space, mem, pc, kind == FrameKind::Ip) {
                signal_hops += 1;
                if signal_hops > max_frames {
                    return early(StopReason::SignalFrame, "too many nested signal frames");
                }
                state = match x86_64::signal_frame(mem, sp) {
                    Ok(s) => s,
                    Err(e) => return early(StopReason::SignalFrame, e),
                };
                kind = FrameKind::AfterSignal;
                method = FrameTrust::Signal;
                continue;
            }
            if frames.len() >= max_frames {
                return early(
                    StopReason::FrameLimit,
                    format!("stopped at the limit of {max_frames} frames"),
                );
            }
            frames.push(RawFrame {
                pc,
                kind,
                method,
                sp,
                regs: FrameRegs {
                    state: match kind {
                        FrameKind::ReturnAddress => state.preserved(),
                        FrameKind::Ip | FrameKind::AfterSignal => state,
                    },
                    cfa: None,
                },
            });

            let lookup = match kind {
                FrameKind::ReturnAddress => pc.wrapping_sub(1),
                FrameKind::Ip | FrameKind::AfterSignal => pc,
            };
            let Some(map) = space.object_at(lookup) else {
                return early(
                    StopReason::OutsideObjects,
                    format!("pc {pc:#x} is outside every mapped object"),
                );
            };
            let (caller, next_kind, next_method) =
                match self.step(space, map, (lookup, kind), &state, mem, &mut ctx) {
                    Ok(Next::Caller(c, k, m)) => (c, k, m),
                    Ok(Next::End) => return None,
                    Err(e) => {
                        return early(
                            StopReason::NoCaller,
                            format!("at pc {pc:#x} in {}: {e}", map.name),
                        )
                    }
                };
            let (Some(next_pc), Some(next_sp)) = (caller.pc(), caller.sp()) else {
                return early(
                    StopReason::NoCaller,
                    format!("at pc {pc:#x}: the caller's pc or stack pointer is unknown"),
                );
            };
            if next_pc == 0 {
                return None;
            }
            if let Some(last) = frames.last_mut() {
                last.regs.cfa = (next_kind != FrameKind::AfterSignal).then_some(next_sp);
            }
            if next_kind == FrameKind::AfterSignal {
                // A trampoline known by its CFI (augmentation `S`): like one known by its code,
                // it shows as the signal frame marker, not as a frame of its own.
                frames.pop();
                signal_hops += 1;
                if signal_hops > max_frames {
                    return early(StopReason::SignalFrame, "too many nested signal frames");
                }
            } else if next_sp <= sp {
                return early(
                    StopReason::CfaNotIncreasing,
                    format!("at pc {pc:#x}: the CFA {next_sp:#x} does not increase (sp {sp:#x})"),
                );
            }
            state = caller;
            kind = next_kind;
            method = next_method;
        }
    }

    /// True if the code at `pc` (or, innermost, a little before) is the sigreturn trampoline.
    fn is_sigreturn(
        &self,
        space: &AddressSpace,
        mem: &dyn Memory,
        pc: u64,
        innermost: bool,
    ) -> bool {
        x86_64::trampoline_offsets(innermost).iter().any(|&back| {
            let start = pc.wrapping_sub(back);
            let mut code = [0u8; x86_64::SIGRETURN_LEN];
            let from_object = space.object_at(start).and_then(|map| {
                let obj = self.object(space, map).ok()?;
                obj.file
                    .bytes_at(map, start, code.len())
                    .map(|b| code.copy_from_slice(b))
            });
            (from_object.is_some() || mem.read(start, &mut code)) && x86_64::is_sigreturn(&code)
        })
    }

    /// One step from the frame whose (lookup) pc is `lookup`, of `kind`, in `map`: CFI; else,
    /// innermost in a Go binary, its pclntab's stack depth (a leaf keeps no frame pointer);
    /// else frame pointers.
    fn step(
        &self,
        space: &AddressSpace,
        map: &MappedObject,
        (lookup, kind): (u64, FrameKind),
        state: &RegState,
        mem: &dyn Memory,
        ctx: &mut UnwindContext<usize>,
    ) -> Result<Next, String> {
        let (cfi_problem, covered) = match self.object(space, map) {
            Ok(obj) => match obj.cfi_step(&*self.source, map, lookup, state, mem, ctx) {
                Step::NotCovered if kind != FrameKind::ReturnAddress => {
                    match obj.go_step(map, lookup, state, mem) {
                        Some(caller) => {
                            return Ok(Next::Caller(
                                caller,
                                FrameKind::ReturnAddress,
                                FrameTrust::Pclntab,
                            ))
                        }
                        None => ("no CFI covers it".to_string(), false),
                    }
                }
                Step::Caller {
                    regs,
                    after_signal: true,
                } => {
                    return Ok(Next::Caller(
                        regs,
                        FrameKind::AfterSignal,
                        FrameTrust::Signal,
                    ))
                }
                Step::Caller {
                    regs,
                    after_signal: false,
                } => {
                    return Ok(Next::Caller(
                        regs,
                        FrameKind::ReturnAddress,
                        FrameTrust::Cfi,
                    ))
                }
                Step::Outermost => return Ok(Next::End),
                Step::NotCovered => ("no CFI covers it".to_string(), false),
                Step::Failed(e) => (e, true),
            },
            Err(e) => (e, false),
        };
        // A zero rbp ends a frame-pointer chain, but not a walk whose CFI failed.
        match x86_64::frame_pointer_step(state, mem) {
            Ok(Some(caller)) => Ok(Next::Caller(
                caller,
                FrameKind::ReturnAddress,
                FrameTrust::FramePointer,
            )),
            Ok(None) if covered => Err(cfi_problem),
            Ok(None) => Ok(Next::End),
            Err(fp) => Err(format!("{cfi_problem}, and no frame pointer: {fp}")),
        }
    }

    /// The loaded object for `map`, opened on first use.
    fn object(&self, space: &AddressSpace, map: &MappedObject) -> Loaded {
        self.objects.get(space, map, || {
            let file = self.source.object(space, map)?;
            let cfi = Cfi::new(&file);
            Ok(Arc::new(UnwindObject {
                file: Arc::new(file),
                cfi,
                debug: OnceLock::new(),
                go: OnceLock::new(),
            }))
        })?
    }
}

impl UnwindObject {
    /// The step from the innermost frame at runtime address `lookup` by the object's Go
    /// pclntab, if it has one that holds `lookup`.
    fn go_step(
        &self,
        map: &MappedObject,
        lookup: u64,
        state: &RegState,
        mem: &dyn Memory,
    ) -> Option<RegState> {
        let go = self.go.get_or_init(|| Table::open(self.file.clone()));
        let delta = go.as_ref()?.sp_delta(self.file.svma(map, lookup)?)?;
        x86_64::go_frame_step(state, mem, delta)
    }

    /// The CFI step at runtime address `lookup`: the object's own CFI, then the `.debug_frame`
    /// of its separate debug file when it has none itself.
    fn cfi_step(
        &self,
        source: &dyn Source,
        map: &MappedObject,
        lookup: u64,
        state: &RegState,
        mem: &dyn Memory,
        ctx: &mut UnwindContext<usize>,
    ) -> Step {
        let Some(svma) = self.file.svma(map, lookup) else {
            return Step::NotCovered;
        };
        let step = self.cfi.step(&self.file.data, svma, state, mem, ctx);
        if !matches!(step, Step::NotCovered) || self.cfi.has_debug_frame() {
            return step;
        }
        let debug = self.debug.get_or_init(|| {
            let file = source.debug_file(map, &self.file)?;
            let cfi = Cfi::new(&file);
            cfi.has_debug_frame().then_some((file, cfi))
        });
        match debug {
            Some((file, cfi)) => cfi.step(&file.data, svma, state, mem, ctx),
            None => Step::NotCovered,
        }
    }
}
