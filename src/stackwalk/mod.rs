//! From a process image (registers, copied memory and mappings, as a live capture or a core
//! file gives them) to a [`Snapshot`]: unwind every thread and symbolize its frames, spread
//! over the cores with rayon. Runs after the target was resumed; touches no live process.

use crate::limits::{walk_limit_note, MAX_FRAMES};
use crate::model::{Evidence, KernelInfo, KernelState, Snapshot, Thread};
use crate::model::{FrameTrust, StopReason};
use crate::runtime::go::{self, GoProcess};
use crate::runtime::pointers;
use crate::runtime::python::{merge::merge as merge_python, PyProcess, Unreadable};
use crate::symbolize::Symbolizer;
pub use crate::symbolize::{ArgSpec, GuardSpec, VarRequest};
use crate::unwind::{AddressSpace, Early, Memory, MemoryRegion, RawFrame, Regs, Unwinder};
use rayon::prelude::*;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use walk::{walk, ThreadMemory};

mod walk;

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
    /// Why there are no registers, when that is known (a thread that would not stop).
    pub no_regs: Option<String>,
    /// The copied top of its stack.
    pub stack: Option<MemoryRegion>,
    /// Why less of the stack was copied than asked for, when the input itself ends early (a
    /// truncated core): said with the unwind error, and the thread's stack is partial.
    pub stack_cut: Option<String>,
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
    /// How long the target was stopped (a live capture; `None` for a core file).
    pub frozen: Option<Duration>,
    /// How long the capture (or reading the core) took in all.
    pub captured_in: Duration,
    /// Threads that exited while the others were being stopped.
    pub vanished: Vec<u64>,
    /// True when `threads` holds every thread of the process (a core's can be cut at
    /// [`crate::limits::MAX_THREADS`]).
    pub all_threads: bool,
    /// What the producer could not read or wants said (a core and a binary that differ).
    pub diagnostics: Vec<crate::model::Diagnostic>,
    /// What the threads are called inside the process's PID namespace.
    pub ns_tids: NsTids,
    /// The CPython interpreter read from the process's memory (while it was stopped, or from
    /// the core), or the one it runs that could not be read and why; `None`: none found.
    pub python: Option<Result<PyProcess, Unreadable>>,
    /// The Go runtime's goroutines read from the process's memory (while it was stopped, or
    /// from the core), or why a Go program's could not be; `None`: no Go runtime found.
    pub go: Option<Result<GoProcess, go::Unreadable>>,
}

/// The ids a process's threads have inside its PID namespace: the ids its memory holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NsTids {
    /// The threads' `tid`s (no namespace of its own, or a kernel-written core, which uses the
    /// process's own ids).
    #[default]
    Same,
    /// Host tid → namespace tid, for the threads where they differ.
    Mapped(std::collections::BTreeMap<u64, u64>),
    /// In a namespace whose ids are not known.
    Unknown,
}

/// The note for a snapshot without a second look at the process (a live capture's `/proc`
/// sample after the stop), `because` saying why: a core, or a capture that took one sample.
pub fn no_second_look(because: &str) -> crate::model::Diagnostic {
    crate::model::Diagnostic {
        line: None,
        message: format!(
            "no second look was taken: {because}, so threads that run, spin or wake and sleep \
             again are not told apart from stuck ones"
        ),
    }
}

/// The unwinder and the symbolizer, with what they loaded: load once, use for every thread.
pub struct Stackwalker {
    unwinder: Unwinder,
    symbolizer: Symbolizer,
    vars: VarRequest,
}

impl Stackwalker {
    /// Nothing loaded yet; `full_symbols` reads system libraries' DWARF too (see
    /// [`Symbolizer::full`]).
    pub fn new(full_symbols: bool) -> Self {
        Self {
            unwinder: Unwinder::new(),
            symbolizer: if full_symbols {
                Symbolizer::full()
            } else {
                Symbolizer::new()
            },
            vars: VarRequest::default(),
        }
    }

    /// Also reads the variables `vars` asks for into each frame (from the copied stack).
    pub fn with_vars(mut self, vars: VarRequest) -> Self {
        self.vars = vars;
        self
    }

    /// Loads the symbols of every executable object of `space` ahead of time, so that it can
    /// overlap with the capture (the objects are known before the threads are stopped).
    pub fn warm(&self, space: &AddressSpace) {
        let probes: Vec<Vec<RawFrame>> = space
            .objects
            .iter()
            .filter(|o| o.executable)
            .map(|o| {
                vec![RawFrame {
                    pc: o.start,
                    kind: crate::unwind::FrameKind::Ip,
                    method: FrameTrust::Context,
                    sp: 0,
                    regs: Default::default(),
                }]
            })
            .collect();
        let _ = self.symbolizer.symbolize_many(space, &probes);
    }

    /// Unwinds and symbolizes every thread.
    pub fn to_snapshot(&self, image: ProcessImage, producer: &str, origin: String) -> Snapshot {
        to_snapshot_with(self, image, producer, origin)
    }
}

/// Each goroutine's stack as frames to symbolize: its saved pc, then return addresses; and
/// its creator's `go` statement (a call: looked up as a return address is).
fn goroutine_stacks(g: &GoProcess) -> (Vec<Vec<RawFrame>>, Vec<Vec<RawFrame>>) {
    let frame = |(i, &pc): (usize, &u64)| RawFrame {
        pc,
        kind: if i == 0 {
            crate::unwind::FrameKind::Ip
        } else {
            crate::unwind::FrameKind::ReturnAddress
        },
        method: if i == 0 {
            FrameTrust::Context
        } else {
            FrameTrust::FramePointer
        },
        sp: 0,
        regs: Default::default(),
    };
    let stacks = (g.goroutines.iter())
        .map(|r| r.pcs.iter().enumerate().map(frame).collect())
        .collect();
    let creators = (g.goroutines.iter())
        .map(|r| r.created_by.iter().map(|pc| frame((1, pc))).collect())
        .collect();
    (stacks, creators)
}

fn to_snapshot_with(
    w: &Stackwalker,
    image: ProcessImage,
    producer: &str,
    origin: String,
) -> Snapshot {
    let t0 = Instant::now();
    let unwinder = &w.unwinder;
    let symbolizer = &w.symbolizer;
    let space = &image.space;
    let walked: Vec<(Vec<RawFrame>, Option<Early>)> = image
        .threads
        .par_iter()
        .map(|t| walk(t, space, unwinder))
        .collect();
    let unwound_in = t0.elapsed();
    // Walks that stopped at the frame limit, not at the thread's first frame.
    let walked_deep: Vec<usize> = walked
        .iter()
        .enumerate()
        .filter(|(_, (frames, why))| frames.len() >= MAX_FRAMES && why.is_some())
        .map(|(i, _)| i)
        .collect();
    let stacks: Vec<Vec<RawFrame>> = walked.iter().map(|(f, _)| f.clone()).collect();
    let memories: Vec<ThreadMemory> = image
        .threads
        .iter()
        .map(|t| ThreadMemory {
            stack: t.stack.as_ref(),
            vdso: space.vdso.as_ref(),
            wanted: AtomicU64::new(0),
        })
        .collect();
    let memory: Vec<&dyn Memory> = memories.iter().map(|m| m as &dyn Memory).collect();
    let symbolized = symbolizer.symbolize_with_vars(space, &stacks, &w.vars, &memory);
    let threads: Vec<Thread> = image
        .threads
        .iter()
        .zip(walked)
        .zip(symbolized)
        .map(|((t, (_, unwind_error)), frames)| Thread {
            tid: Some(t.tid),
            ns_tid: match &image.ns_tids {
                NsTids::Mapped(m) => m.get(&t.tid).copied(),
                _ => None,
            },
            ns_tid_unknown: image.ns_tids == NsTids::Unknown,
            name: t.name.clone(),
            state: t.state,
            frames,
            kernel: Some(t.kernel.clone()),
            unwind_stop: Some(match (&unwind_error, &t.stack_cut) {
                (None, _) => StopReason::Outermost,
                (Some(_), Some(_)) => StopReason::StackCut,
                (Some(e), None) => e.reason,
            }),
            unwind_error: match (unwind_error, &t.stack_cut) {
                (Some(e), Some(cut)) => Some(format!("{} ({cut})", e.detail)),
                (e, _) => e.map(|e| e.detail),
            },
            partial: t.stack_cut.is_some(),
            ..Thread::default()
        })
        .collect();
    let mut threads = threads;
    let mut evidence = image.evidence;
    let mut diagnostics = image.diagnostics;
    match &image.python {
        Some(Ok(py)) => {
            let (read, said) = merge_python(&mut threads, py);
            evidence.extend(read);
            diagnostics.extend(said);
        }
        Some(Err(u)) => diagnostics.push(crate::model::Diagnostic {
            line: None,
            message: format!(
                "the process runs CPython ({}), whose Python frames were not read: {}",
                u.object, u.why
            ),
        }),
        None => {}
    }
    let mut go_locks = Vec::new();
    match &image.go {
        Some(Ok(g)) => {
            let (stacks, creators) = goroutine_stacks(g);
            let (goroutines, said, locks) = go::merge::goroutines(
                g,
                symbolizer.symbolize_many(space, &stacks),
                symbolizer.symbolize_many(space, &creators),
                &threads,
            );
            threads.extend(goroutines);
            diagnostics.extend(said);
            go_locks = locks;
        }
        Some(Err(u)) => diagnostics.push(crate::model::Diagnostic {
            line: None,
            message: format!(
                "the process runs Go ({}), whose goroutines were not read: {}",
                u.object, u.why
            ),
        }),
        None => {}
    }
    let semaphores =
        (image.go.iter().flatten()).flat_map(|g| g.goroutines.iter().filter_map(|r| r.sema));
    evidence.extend(symbolizer.data_symbols(space, waited_on(&threads).chain(semaphores)));
    symbolizer.references(space, &mut threads, &evidence);
    let scanned = stack_refs(
        &image.threads,
        &stacks,
        &mut threads,
        go_locks,
        (symbolizer, space),
    );
    evidence.extend(scanned);
    let symbolized_in = t0.elapsed() - unwound_in;
    let deep: Vec<String> = walked_deep.iter().map(|&i| threads[i].label()).collect();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let stopped = match image.frozen {
        Some(frozen) => format!(
            "the process was stopped for {:.1} ms ({} threads); capture {:.0} ms",
            ms(frozen),
            image.threads.len(),
            ms(image.captured_in),
        ),
        None => format!(
            "{} threads read in {:.0} ms",
            image.threads.len(),
            ms(image.captured_in)
        ),
    };
    diagnostics.push(crate::model::Diagnostic {
        line: None,
        message: format!(
            "{stopped}, unwinding {:.0} ms, symbols {:.0} ms",
            ms(unwound_in),
            ms(symbolized_in)
        ),
    });
    diagnostics.extend(walk_limit_note(&deep));
    if let NsTids::Mapped(m) = &image.ns_tids {
        diagnostics.push(crate::model::Diagnostic {
            line: None,
            message: format!(
                "the process lives in its own PID namespace (a container): {} of its threads \
                 have other ids there, which its memory holds (lock owners, joined threads); \
                 they are matched by those ids",
                m.len()
            ),
        });
    }
    diagnostics.extend(symbolizer.diagnostics(space).into_iter().map(|message| {
        crate::model::Diagnostic {
            line: None,
            message,
        }
    }));
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
        complete: image.all_threads,
        threads,
        evidence,
        diagnostics,
        claims: Vec::new(),
        gaps: Vec::new(),
        process: None,
    }
}

/// The addresses the analysis names objects at: the words threads wait on and the locks their
/// guards hold (each lock's data symbol is looked up, not every word of the stacks); with a Go
/// runtime's semaphores, the static objects frames' `refs` are checked against.
fn waited_on(threads: &[Thread]) -> impl Iterator<Item = u64> + '_ {
    let futexes = threads
        .iter()
        .filter_map(|t| t.kernel.as_ref()?.futex.map(|f| f.address));
    let guarded = (threads.iter().flat_map(|t| &t.frames))
        .flat_map(|f| f.args.iter().chain(&f.locals))
        .filter_map(|v| v.read.as_ref()?.holds.as_ref().map(|h| h.lock));
    futexes.chain(guarded)
}

/// What each thread's live stack points at (`runtime::pointers`), among the waited-on locks
/// in no object's image (the native threads' futex words and guarded locks, and `go_locks`):
/// a native thread's whole copied stack from its stack pointer up and its registers, when the
/// copy holds all of it; a goroutine's, as the Go reader read it, kept to those locks. The
/// locks looked for, as evidence; none past [`MAX_STACK_LOCKS`] (then no stack counts).
fn stack_refs(
    image: &[ImageThread],
    stacks: &[Vec<RawFrame>],
    threads: &mut [Thread],
    go_locks: Vec<u64>,
    (symbolizer, space): (&Symbolizer, &AddressSpace),
) -> Option<Evidence> {
    let mut locks: Vec<u64> = waited_on(threads).chain(go_locks).collect();
    locks.sort_unstable();
    locks.dedup();
    locks.retain(|&a| symbolizer.outside_images(space, a));
    let goroutines = threads[image.len()..].iter_mut();
    if locks.is_empty() || locks.len() > MAX_STACK_LOCKS {
        goroutines.for_each(|t| t.stack_refs = None);
        return None;
    }
    for found in goroutines.filter_map(|t| t.stack_refs.as_mut()) {
        found.retain(|a| locks.binary_search(a).is_ok());
    }
    let scan = |((t, it), walked): ((&mut Thread, &ImageThread), &Vec<RawFrame>)| {
        let (Some(regs), Some(stack)) = (&it.regs, &it.stack) else {
            return;
        };
        let from = regs.rsp;
        // Every live word is in the copy when it reaches the end of the stack's mapping, or
        // up to the CFA of the first frame when the walk reached it (a stack inside a larger
        // mapping: a Go M's, on the heap).
        let to_top = (space.objects.iter()).any(|o| o.contains(from) && o.end == stack.end());
        let first = (walked.iter()).map(|f| f.regs.cfa.unwrap_or(f.sp)).max();
        let top = match (to_top, t.unwind_stop, first) {
            _ if it.stack_cut.is_some() => return,
            (true, ..) => stack.end(),
            (false, Some(StopReason::Outermost), Some(top)) if top <= stack.end() => top,
            _ => return,
        };
        let at = |a: u64| {
            a.checked_sub(stack.start)
                .and_then(|o| usize::try_from(o).ok())
        };
        let Some(live) = (at(from).zip(at(top))).and_then(|(a, b)| stack.bytes.get(a..b)) else {
            return;
        };
        let near = |&w: &u64| pointers::before_any(w, &locks, pointers::REACH);
        let words = (pointers::words(live).chain(gprs(regs)))
            .filter(near)
            .collect();
        t.stack_refs = Some(pointers::pointed_at(words, (from, top), &locks));
    };
    (threads.par_iter_mut().zip(image).zip(stacks)).for_each(scan);
    Some(Evidence::StackLocks { addresses: locks })
}

/// The locks looked for on the stacks, at most: more waited-on words than this (each thread
/// on a word of its own) are not looked for, and no thread is narrowed by its stack.
const MAX_STACK_LOCKS: usize = 1024;

/// The general registers of `r`.
fn gprs(r: &Regs) -> [u64; 16] {
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ]
}
