//! One thread's walk over its copied stack (and the process's vdso): the unwinder's memory,
//! which remembers how far past the copy a read reached, so that a walk cut short by the copy
//! says which `--stack-bytes` would have reached, and one that ran off its stack's mapping
//! does not.

use super::ImageThread;
use crate::limits::MAX_FRAMES;
use crate::model::StopReason;
use crate::unwind::{AddressSpace, Early, Memory, MemoryRegion, RawFrame, Unwinder};
use std::sync::atomic::{AtomicU64, Ordering};

/// A thread's copied stack and the process's vdso, borrowed (no copy per thread). Remembers
/// how far past the copied stack a read reached, to tell a cut copy from a broken walk.
pub(super) struct ThreadMemory<'a> {
    pub(super) stack: Option<&'a MemoryRegion>,
    pub(super) vdso: Option<&'a MemoryRegion>,
    /// One past the highest byte asked for beyond the copied stack (within [`STACK_REACH`]);
    /// 0: none.
    pub(super) wanted: AtomicU64,
}

/// How far past the copied stack a failed read still counts as "the stack goes on there": a
/// thread's stack is 8 MiB by default.
const STACK_REACH: u64 = 8 << 20;

impl Memory for ThreadMemory<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let found = [self.stack, self.vdso]
            .into_iter()
            .flatten()
            .any(|r| r.read(addr, buf));
        if let (false, Some(stack)) = (found, self.stack) {
            let end = addr.saturating_add(buf.len() as u64);
            if addr >= stack.start && end > stack.end() && end - stack.end() <= STACK_REACH {
                self.wanted.fetch_max(end, Ordering::Relaxed);
            }
        }
        found
    }
}

/// Unwinds one thread over its copied stack (and the vdso). A walk that failed for want of
/// stack beyond the copy says so, with the `--stack-bytes` that would have reached.
pub(super) fn walk(
    t: &ImageThread,
    space: &AddressSpace,
    unwinder: &Unwinder,
) -> (Vec<RawFrame>, Option<Early>) {
    let Some(regs) = &t.regs else {
        let why = t
            .no_regs
            .as_deref()
            .unwrap_or("registers could not be read");
        let early = Early {
            reason: StopReason::NoRegisters,
            detail: why.to_string(),
        };
        return (Vec::new(), Some(early));
    };
    let mem = ThreadMemory {
        stack: t.stack.as_ref(),
        vdso: space.vdso.as_ref(),
        wanted: AtomicU64::new(0),
    };
    let (frames, why) = unwinder.unwind(regs, &mem, space, MAX_FRAMES);
    let wanted = mem.wanted.into_inner();
    // A copy that ends where the stack's mapping ends was not cut: a walk past it is broken.
    let mapping_goes_on = |stack: &MemoryRegion| {
        let i = space.objects.partition_point(|o| o.start <= stack.start);
        let map = i.checked_sub(1).map(|i| &space.objects[i]);
        map.is_none_or(|m| !m.contains(stack.start) || m.contains(stack.end()))
    };
    let why = match (why, t.stack.as_ref()) {
        (Some(why), Some(stack)) if wanted > 0 && mapping_goes_on(stack) => Some(Early {
            reason: StopReason::StackCut,
            detail: stack_cut_note(&why.detail, stack, wanted),
        }),
        (why, _) => why,
    };
    (frames, why)
}

/// `why` a walk stopped, when it needed stack up to `wanted` and `stack` was copied.
fn stack_cut_note(why: &str, stack: &MemoryRegion, wanted: u64) -> String {
    let copied = stack.bytes.len() as u64;
    // The copy starts below the stack pointer by the red zone; round the need up to a size
    // people type, with room for the frames beyond.
    let need = (wanted - stack.start)
        .saturating_mul(2)
        .max(copied.saturating_mul(4))
        .max(64 << 10)
        .next_power_of_two();
    format!(
        "{why}: the stack was copied only {} deep and the walk needs more; rerun with \
         --stack-bytes {need} (or more)",
        crate::limits::human(copied)
    )
}
