//! A finding's steps as data: each a typed fact ([`Shows`]) about one thread and the frame that
//! shows it (a wait and what it waits for, [`Object`]; a hold and where, [`HeldAt`]; what a
//! thread is doing, [`Doing`]), and the frames of each thread the finding points at.

use crate::analyze::graph::{Because, Grade};
use crate::knowledge::WaitKind;
use crate::model::StoppedBy;
use serde::Serialize;

/// What a wait waits for, as far as the dump shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Object {
    /// A thread of the snapshot (index), to exit.
    ThreadExit {
        /// Which thread.
        thread: usize,
    },
    /// The thread its PID namespace calls `tid`, to exit: which thread that is cannot be told
    /// (the namespace's ids are not known).
    NamespaceThreadExit {
        /// The id in the namespace.
        tid: u64,
    },
    /// A thread the dump does not have, by its tid, to exit.
    MissingThreadExit {
        /// Its tid.
        tid: u64,
    },
    /// A thread the dump does not have, by its `pthread_t`, to exit.
    MissingPthreadExit {
        /// Its `pthread_t`.
        pthread: u64,
    },
    /// Some thread, to exit.
    AnyThreadExit,
    /// Every worker of a pool (its class, when named), to exit.
    PoolExit {
        /// The pool's class.
        pool: Option<String>,
    },
    /// A resource a rule names (a library-internal lock).
    Named {
        /// Its name.
        name: String,
    },
    /// An object of a kind, at an address (with the symbol printed for it).
    Kind {
        /// What kind of wait.
        kind: WaitKind,
        /// Its address.
        address: Option<u64>,
        /// The symbol printed for the address.
        symbol: Option<String>,
    },
}

/// What a thread many others wait on is doing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Doing {
    /// Running (not in a blocking call).
    Running,
    /// Stopped outside a blocking call.
    Stopped,
    /// Waiting for something outside the process.
    Waiting {
        /// For what.
        object: Option<Object>,
    },
    /// Nothing says.
    Unknown,
}

/// What one step shows.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Shows {
    /// The thread runs a signal handler: the signal interrupted it at frame `signal`; `calls`
    /// are the handler's own calls from its entry down to the wait (frames, outermost first,
    /// without the plumbing the packs name or repeats).
    Interrupted {
        /// The signal frame.
        signal: usize,
        /// The handler's calls.
        calls: Vec<usize>,
    },
    /// The thread waits for `object`: the call that explains it at frame `at`, blocked in frame
    /// `blocked_in` when that is another one; `program`: the program's own frame that waits.
    Waits {
        /// For what.
        object: Object,
        /// The call that explains the wait.
        at: usize,
        /// The innermost frame of the wait, when it is not `at`.
        blocked_in: Option<usize>,
        /// The program's frame that made the call, with the library frames folded behind it.
        program: Option<InProgram>,
    },
    /// The thread is why the previous step's wait does not end (`itself`: the waiting thread).
    Holder {
        /// What shows it.
        because: Because,
        /// It is the waiting thread itself.
        itself: bool,
        /// Where on its stack it holds the lock, as far as the stack shows (none for a joined
        /// thread or a pool's worker).
        held_at: Option<HeldAt>,
    },
    /// A worker of `pool` (its loop at frame `member`) waits for a result at frame `at`.
    WorkerWaits {
        /// The pool's class.
        pool: String,
        /// The worker-loop frame.
        member: usize,
        /// The wait.
        at: usize,
    },
    /// A member of `pool` (its loop at frame `member`) is idle: it waits for work at frame `at`.
    IdleMember {
        /// The pool: its loop's function.
        pool: String,
        /// The loop frame.
        member: usize,
        /// The wait for work.
        at: usize,
    },
    /// What a root blocker is doing, at frame `at`.
    Blocker {
        /// What.
        doing: Doing,
        /// Its top frame.
        at: usize,
        /// The program's frame it is in, with the library frames folded behind it.
        program: Option<InProgram>,
    },
    /// The thread is in I/O, at frame `at`.
    InIo {
        /// The I/O call.
        at: usize,
        /// The program's frame that made the call, with the library frames folded behind it.
        program: Option<InProgram>,
    },
    /// A read guard at frame `guard` (rule `rule`) suggests the thread is one of a lock's
    /// readers, which the lock does not record: a suspect, never proof.
    MayRead {
        /// The guard's frame.
        guard: usize,
        /// The guard's rule.
        rule: String,
    },
    /// The thread is stopped by `by`, at its top frame.
    Stopped {
        /// Who stops it.
        by: StoppedBy,
        /// Its top frame.
        at: Option<usize>,
    },
    /// What the thread did between the two looks at a live process (its counters are the
    /// thread's `second_look`), at frame `at`: the wait it spins in or keeps going back to.
    Moved {
        /// What.
        motion: crate::analyze::Motion,
        /// The frame.
        at: Option<usize>,
    },
    /// The signal frame of a handler that blocks.
    SignalFrame {
        /// The frame.
        at: usize,
    },
    /// The handler waits for `object` at frame `at`.
    HandlerWaits {
        /// For what.
        object: Object,
        /// The wait.
        at: usize,
        /// The program's frame that made the call, with the library frames folded behind it.
        program: Option<InProgram>,
    },
}

/// The program's own frame a step points at: the first frame, from the library call outwards,
/// that no rule names as a library's (waits, holds, plumbing, thread entries) and that is not in
/// a system library; with the library frames folded behind it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct InProgram {
    /// The program's frame (position in the thread's frames).
    pub frame: usize,
    /// The library frames folded behind it, outermost first: the call the program made, then
    /// the innermost frame of the wait (no repeats).
    pub folded: Vec<usize>,
}

/// Where a holder holds its lock, as far as its stack shows: never a frame that cannot take it
/// (a thread entry, plumbing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum HeldAt {
    /// A guard in this frame holds it (`bt full`'s `std::lock_guard`, Rust's `MutexGuard`), or
    /// the dump notes the lock as taken here (Java's `- locked`). Guard evidence read from
    /// memory lands here too.
    Guard {
        /// The frame.
        frame: usize,
    },
    /// This program frame called what holds it and has not returned.
    Call {
        /// The frame.
        frame: usize,
    },
    /// The stack does not show where: somewhere at or below this frame (the holder's
    /// innermost program frame, else its top frame), in a call that has not returned.
    Below {
        /// The frame.
        frame: usize,
    },
    /// No frame of the thread can be named.
    Unknown,
}

impl Shows {
    /// Every frame of its thread the step names, in no particular order.
    pub fn frames(&self) -> Vec<usize> {
        let program = |p: &Option<InProgram>| {
            p.iter()
                .flat_map(|p| std::iter::once(p.frame).chain(p.folded.iter().copied()))
                .collect::<Vec<usize>>()
        };
        match self {
            Shows::Interrupted { signal, calls } => std::iter::once(*signal)
                .chain(calls.iter().copied())
                .collect(),
            Shows::Waits {
                at,
                blocked_in,
                program: p,
                ..
            } => [*at]
                .into_iter()
                .chain(*blocked_in)
                .chain(program(p))
                .collect(),
            Shows::IdleMember { member, at, .. } => vec![*member, *at],
            Shows::Holder {
                because, held_at, ..
            } => {
                let by = match because {
                    Because::Holds { frame, .. } => *frame,
                    Because::Member { frame }
                    | Because::InScope { frame }
                    | Because::ScopeOwner { frame } => Some(*frame),
                    Because::IsTarget | Because::Claimed { .. } => None,
                };
                let at = match held_at {
                    Some(
                        HeldAt::Guard { frame } | HeldAt::Call { frame } | HeldAt::Below { frame },
                    ) => Some(*frame),
                    _ => None,
                };
                by.into_iter().chain(at).collect()
            }
            Shows::WorkerWaits { member, at, .. } => vec![*member, *at],
            Shows::MayRead { guard, .. } => vec![*guard],
            Shows::Blocker { at, program: p, .. }
            | Shows::InIo { at, program: p }
            | Shows::HandlerWaits { at, program: p, .. } => {
                std::iter::once(*at).chain(program(p)).collect()
            }
            Shows::Stopped { at, .. } | Shows::Moved { at, .. } => at.iter().copied().collect(),
            Shows::SignalFrame { at } => vec![*at],
        }
    }
}

/// The frames of one thread that matter to a finding (positions, innermost first): what its
/// steps name, its signal frames and the program's own frames (the first few); the text report
/// shows these, eliding the rest.
#[derive(Debug, Clone)]
pub struct KeyFrames {
    /// Which thread.
    pub thread: usize,
    /// Its frames that matter.
    pub frames: Vec<usize>,
}

/// One step of a finding, pointing at the frame that shows it.
#[derive(Debug, Clone)]
pub struct Step {
    /// Which thread (index into the snapshot's threads).
    pub thread: usize,
    /// Which frame (position in that thread's frames).
    pub frame: Option<usize>,
    /// What it shows.
    pub shows: Shows,
    /// How it is known, for steps that are edges.
    pub grade: Option<Grade>,
}
