//! From a process image (registers, copied memory and mappings, as a live capture or a core
//! file gives them) to a [`Snapshot`]: unwind every thread and symbolize its frames, spread
//! over the cores with rayon. Runs after the target was resumed; touches no live process.

use crate::model::{Evidence, KernelInfo, KernelState, Snapshot, Thread};
use crate::symbolize::Symbolizer;
use crate::unwind::{AddressSpace, MemoryRegion, RawFrame, Regions, Regs, Unwinder};
use rayon::prelude::*;
use std::time::Duration;

/// Frames walked per thread at most.
pub const MAX_FRAMES: usize = 512;

/// One thread of a process image.
#[derive(Debug, Clone)]
pub struct ImageThread {
    /// OS thread id.
    pub tid: u64,
    /// Its name.
    pub name: Option<String>,
    /// Scheduling state (before the stop, for a live capture).
    pub state: KernelState,
    /// Registers (`None` when they could not be read).
    pub regs: Option<Regs>,
    /// The copied top of its stack.
    pub stack: Option<MemoryRegion>,
    /// Kernel facts.
    pub kernel: KernelInfo,
}

/// A process as registers, memory and mappings.
#[derive(Debug)]
pub struct ProcessImage {
    /// The process id.
    pub pid: Option<u32>,
    /// Its threads, in tid order.
    pub threads: Vec<ImageThread>,
    /// Its mappings (and the vdso's bytes).
    pub space: AddressSpace,
    /// Memory read for the rules (around futex words).
    pub evidence: Vec<Evidence>,
    /// How long the target was stopped (live capture).
    pub frozen: Duration,
    /// Threads that exited while the others were being stopped.
    pub vanished: Vec<u64>,
}

/// Unwinds and symbolizes every thread.
pub fn to_snapshot(image: ProcessImage, producer: &str, origin: String) -> Snapshot {
    let unwinder = Unwinder::new();
    let symbolizer = Symbolizer::new();
    let space = &image.space;
    let walked: Vec<(Vec<RawFrame>, Option<String>)> = image
        .threads
        .par_iter()
        .map(|t| walk(t, space, &unwinder))
        .collect();
    let stacks: Vec<Vec<RawFrame>> = walked.iter().map(|(f, _)| f.clone()).collect();
    let symbolized = symbolizer.symbolize_many(space, &stacks);
    let threads: Vec<Thread> = image
        .threads
        .iter()
        .zip(walked)
        .zip(symbolized)
        .map(|((t, (_, unwind_error)), frames)| Thread {
            tid: Some(t.tid),
            name: t.name.clone(),
            state: t.state,
            frames,
            kernel: Some(t.kernel.clone()),
            unwind_error,
            ..Thread::default()
        })
        .collect();
    let mut diagnostics = Vec::new();
    for tid in &image.vanished {
        diagnostics.push(crate::model::Diagnostic {
            line: None,
            message: format!("thread {tid} exited while the process was being stopped"),
        });
    }
    Snapshot {
        producer: producer.to_string(),
        origin,
        pid: image.pid,
        complete: true,
        threads,
        evidence: image.evidence,
        diagnostics,
    }
}

/// Unwinds one thread over its copied stack (and the vdso).
fn walk(
    t: &ImageThread,
    space: &AddressSpace,
    unwinder: &Unwinder,
) -> (Vec<RawFrame>, Option<String>) {
    let Some(regs) = &t.regs else {
        return (Vec::new(), Some("registers could not be read".to_string()));
    };
    let mut regions = Vec::new();
    if let Some(s) = &t.stack {
        regions.push(s.clone());
    }
    if let Some(v) = &space.vdso {
        regions.push(v.clone());
    }
    unwinder.unwind(regs, &Regions(regions), space, MAX_FRAMES)
}
