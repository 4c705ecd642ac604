//! Everything x86_64 about unwinding, in one place: the object architecture, byte order and
//! address size, DWARF register numbers, the return-address convention, the sigreturn
//! trampoline and the kernel's signal frame, and the frame-pointer rule. The rest of `unwind` is
//! architecture-neutral.

use super::memory::Memory;
use super::Regs;

/// Byte order of the target's memory and CFI.
pub(super) type Endian = gimli::LittleEndian;
/// Bytes in an address.
pub(super) const ADDRESS_SIZE: u8 = 8;

/// A little-endian word from up to 8 bytes.
pub(super) fn word(bytes: [u8; 8]) -> u64 {
    u64::from_le_bytes(bytes)
}

/// Reads a word (in the target's byte order) at `addr`.
pub(super) fn read_u64(mem: &dyn Memory, addr: u64) -> Option<u64> {
    let mut buf = [0u8; 8];
    mem.read(addr, &mut buf).then(|| word(buf))
}

/// DWARF register numbers (System V x86_64 psABI, figure 3.36).
pub(super) const RBP: u16 = 6;
pub(super) const RSP: u16 = 7;
/// The return-address column.
pub(super) const RA: u16 = 16;
const COUNT: usize = 17;

/// Where the return address is when CFI gives no rule for it: just below the CFA, pushed by
/// `call`.
pub(super) const RA_CFA_OFFSET: i64 = -8;

/// Registers of one frame by DWARF number, with which of them this frame knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RegState {
    values: [u64; COUNT],
    known: u32,
}

impl RegState {
    /// Nothing known.
    pub fn unknown() -> RegState {
        RegState {
            values: [0; COUNT],
            known: 0,
        }
    }

    /// All registers of a stopped thread, the pc in the return-address column.
    pub fn from_regs(r: &Regs) -> RegState {
        RegState {
            values: [
                r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15, r.rip,
            ],
            known: (1 << COUNT) - 1,
        }
    }

    pub fn get(&self, reg: u16) -> Option<u64> {
        let i = usize::from(reg);
        (i < COUNT && self.known & (1 << i) != 0).then(|| self.values[i])
    }

    /// Sets a register; numbers this unwinder does not track (vector registers, ...) are ignored.
    pub fn set(&mut self, reg: u16, value: Option<u64>) {
        let i = usize::from(reg);
        if i >= COUNT {
            return;
        }
        match value {
            Some(v) => {
                self.values[i] = v;
                self.known |= 1 << i;
            }
            None => self.known &= !(1 << i),
        }
    }

    /// Only the registers a call preserves (rbx, rbp, rsp, r12-r15, and the pc): what a
    /// caller's frame really knows, the others being the callee's leftovers.
    pub fn preserved(&self) -> RegState {
        const KEPT: u32 = 1 << 3 | 1 << RBP | 1 << RSP | 0xf << 12 | 1 << RA;
        RegState {
            values: self.values,
            known: self.known & KEPT,
        }
    }

    pub fn pc(&self) -> Option<u64> {
        self.get(RA)
    }

    pub fn sp(&self) -> Option<u64> {
        self.get(RSP)
    }
}

/// glibc's `__restore_rt`: `mov $15,%rax` (`rt_sigreturn`); `syscall`.
const SIGRETURN: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

/// Offsets into the trampoline a thread's pc may have: 0 when it is a return address (the
/// handler returns to the trampoline's first byte) and, for the innermost frame only, also at
/// or just after the `syscall`.
pub(super) fn trampoline_offsets(innermost: bool) -> &'static [u64] {
    if innermost {
        &[0, 7, 9]
    } else {
        &[0]
    }
}

/// True if `code` (read at a candidate trampoline start) is the sigreturn trampoline.
pub(super) fn is_sigreturn(code: &[u8]) -> bool {
    code == SIGRETURN
}

/// The trampoline's length, for reading its bytes.
pub(super) const SIGRETURN_LEN: usize = SIGRETURN.len();

/// Byte offset of `uc_mcontext` in the kernel's `struct ucontext`: `uc_flags`, `uc_link`, and
/// the 24-byte `uc_stack` come first.
const MCONTEXT: u64 = 8 + 8 + 24;

/// The registers the signal interrupted, from the `rt_sigframe` whose `ucontext` is at `sp`
/// (the handler's `ret` popped `pretcode`). The `sigcontext` greg order is r8..r15, rdi, rsi,
/// rbp, rbx, rdx, rax, rcx, rsp, rip.
pub(super) fn signal_frame(mem: &dyn Memory, sp: u64) -> Result<RegState, String> {
    const ORDER: [u16; 17] = [8, 9, 10, 11, 12, 13, 14, 15, 5, 4, RBP, 3, 1, 0, 2, RSP, RA];
    let mut regs = RegState::unknown();
    for (i, reg) in ORDER.iter().enumerate() {
        let at = sp.wrapping_add(MCONTEXT + 8 * i as u64);
        let value =
            read_u64(mem, at).ok_or_else(|| format!("cannot read the signal frame at {at:#x}"))?;
        regs.set(*reg, Some(value));
    }
    Ok(regs)
}

/// The caller's registers by the frame-pointer chain: `[rbp]` is the caller's rbp, `[rbp+8]`
/// the return address, the caller's rsp is `rbp+16`. `Ok(None)` at the chain's end (rbp 0).
pub(super) fn frame_pointer_step(
    regs: &RegState,
    mem: &dyn Memory,
) -> Result<Option<RegState>, String> {
    let sp = regs.sp().ok_or("the stack pointer is unknown")?;
    let fp = regs.get(RBP).ok_or("rbp is unknown")?;
    if fp == 0 {
        return Ok(None);
    }
    if !fp.is_multiple_of(8) || fp < sp {
        return Err(format!("rbp {fp:#x} is not a frame pointer (rsp {sp:#x})"));
    }
    let caller_fp =
        read_u64(mem, fp).ok_or_else(|| format!("cannot read the frame at rbp {fp:#x}"))?;
    let ra = read_u64(mem, fp.wrapping_add(8)).ok_or_else(|| {
        format!(
            "cannot read the return address at {:#x}",
            fp.wrapping_add(8)
        )
    })?;
    // The caller's rbp is checked when (if) it is used: the caller may have CFI and use rbp
    // as a general register.
    let mut caller = *regs;
    caller.set(RBP, Some(caller_fp));
    caller.set(RSP, Some(fp.wrapping_add(16)));
    caller.set(RA, Some(ra));
    Ok(Some(caller))
}

/// The caller's registers by a Go function's stack depth at the pc, `delta` (its pclntab's
/// `pcsp`): the return address is at `rsp + delta`. The caller's rbp is the one saved below
/// it when the function has set rbp to that slot, else (a leaf that keeps no frame, a
/// prologue not done yet) rbp still is the caller's. This finds the caller a frame-pointer
/// step skips: the callee of a function that keeps no frame pointer.
pub(super) fn go_frame_step(regs: &RegState, mem: &dyn Memory, delta: i32) -> Option<RegState> {
    let sp = regs.sp()?;
    let slot = sp.checked_add(u64::try_from(delta).ok()?)?;
    let ra = read_u64(mem, slot)?;
    let mut caller = *regs;
    if slot >= sp + 8 && regs.get(RBP) == Some(slot - 8) {
        caller.set(RBP, Some(read_u64(mem, slot - 8)?));
    }
    caller.set(RSP, Some(slot + 8));
    caller.set(RA, Some(ra));
    Some(caller)
}
