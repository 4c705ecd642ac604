//! A finding as data: its kind, what it rests on ([`Detail`]) and its steps, each a typed fact
//! ([`Shows`]) about one thread and the frame that shows it. No words here: the report's
//! narration (`report::narrate`) says them, for every format alike; grouping and signatures key
//! on this structure.

use super::graph::{Because, Grade, Held};
use super::{FindingKind, Severity};
use crate::knowledge::{base_name, WaitKind};
use crate::model::{Snapshot, StoppedBy};
use serde::Serialize;
use sha2::{Digest, Sha256};

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
        motion: super::Motion,
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

/// What a finding rests on, beyond its kind and steps: what its title and explanation say.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Detail {
    /// A cycle (self-join, self-lock, lock, join or wait cycle).
    Cycle {
        /// It runs through a signal handler.
        through_signal: bool,
        /// For a self-join: what the thread waits for.
        object: Option<Object>,
    },
    /// A member of `pool` (a pool inferred from its threads' stacks) joins a member idle in
    /// that pool, which leaves only when the pool's work, the joiner's task among it, runs out.
    PoolSelfJoin {
        /// The pool: its loop's function.
        pool: String,
        /// The join runs in a signal handler.
        through_signal: bool,
    },
    /// Every worker of `pool` waits for a result.
    Starvation {
        /// The pool's class.
        pool: String,
    },
    /// Every worker of the async runtime `runtime` blocks in a synchronous wait inside a task.
    RuntimeStarved {
        /// The runtime (its workers' pool class).
        runtime: String,
    },
    /// Every thread waits; `unowned_locks` of them for locks no holder is shown for.
    Stall {
        /// How many wait for locks nothing shows a holder of.
        unowned_locks: usize,
    },
    /// Threads queue behind `blocker`.
    RootBlocker {
        /// The thread (index).
        blocker: usize,
        /// How many threads wait on it, directly or in a chain.
        waiting: usize,
        /// What it does.
        doing: Doing,
    },
    /// A handler blocks on a wait of `kind`.
    SignalUnsafe {
        /// The kind of wait.
        kind: WaitKind,
    },
    /// Threads in I/O.
    Io,
    /// A thread waits for the one-time initialisation `once` whose routine it runs itself.
    OnceRecursion {
        /// The once control (or flag).
        once: Object,
    },
    /// A thread holds `lock` for reading and waits to take it for writing.
    Upgrade {
        /// The lock.
        lock: Object,
    },
    /// Writers wait for `lock`, which no writer holds and `readers` readers do (read at
    /// `by`); `suspects` are the threads a read guard shows inside a read-locked section.
    BehindReaders {
        /// The lock.
        lock: Object,
        /// How many readers hold it.
        readers: u64,
        /// Where the count was read.
        by: Held,
        /// Threads (indexes) that may be readers: never proof, the lock names none.
        suspects: Vec<usize>,
    },
    /// Writers wait for `lock`, no thread is seen holding it as a writer, and neither its writer
    /// nor its reader count is in the input; `suspects` as for [`Detail::BehindReaders`].
    ReadersUnknown {
        /// The lock.
        lock: Object,
        /// Threads (indexes) a read guard shows inside a read-locked section.
        suspects: Vec<usize>,
    },
    /// Threads wait for `locks`, which record no owner, and would close a cycle if the threads
    /// seen taking such locks held them; `unchecked` (thread indexes) could hold them instead:
    /// the input does not carry their code, or (`captured`: live, a core) no symbol names it or
    /// their stacks were not read whole.
    HoldersUnknown {
        /// The locks on the cycle.
        locks: Vec<Object>,
        /// The threads that could hold them instead.
        unchecked: Vec<usize>,
        /// The input is a capture, whose code was read where it could be.
        captured: bool,
    },
    /// Threads wait for `lock`, whose owner field names `owner_tid`, no thread of the process.
    Orphaned {
        /// The lock.
        lock: Object,
        /// The owner's id, as the process's memory holds it.
        owner_tid: u64,
        /// Where the owner was read.
        by: Held,
        /// The parent process whose thread the owner is, when the capture read the parent's
        /// threads and found it among them: the lock was copied locked by `fork`.
        #[serde(skip_serializing_if = "Option::is_none")]
        forked_from: Option<u32>,
    },
    /// Threads wait for the robust mutex `lock`, whose previous owner died holding it:
    /// `holder` was told so (`EOWNERDEAD`), holds it and has not made it consistent.
    OwnerDied {
        /// The lock.
        lock: Object,
        /// The thread that recovered it (index).
        holder: usize,
        /// Its id, as the lock word holds it.
        holder_tid: u64,
        /// Where the lock word and owner field were read.
        by: Held,
    },
    /// Threads wait for the dynamic loader's `lock`, held by `holder`, inside the loader, who
    /// waits in turn: for a lock one of the waiters holds (`cycle`), or for anything else.
    Loader {
        /// The loader's lock.
        lock: Object,
        /// The thread inside the loader (index).
        holder: usize,
        /// The holder waits for one of the waiters.
        cycle: bool,
    },
    /// Threads seen moving between the two looks.
    Busy {
        /// How.
        how: Busy,
    },
    /// Stopped threads.
    Stopped {
        /// Who stops them, when it is the same for all.
        cause: Option<StoppedBy>,
        /// Every one by a stop signal.
        by_signal: bool,
    },
}

/// How threads seen moving between the two looks move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Busy {
    /// Threads waiting for a lock used CPU time: they spin on it.
    Spinning,
    /// Threads woke and slept again over and over with little CPU, while nothing else ran or
    /// did I/O: retry loops that get nowhere.
    Livelock,
    /// Every thread waits by its frames, yet threads ran, woke or did I/O: slow progress, not a
    /// stall.
    SlowProgress,
}

impl Busy {
    /// The situation the packs' advice is asked for (`busy/spinning`).
    pub fn situation(self) -> &'static str {
        match self {
            Busy::Spinning => "busy/spinning",
            Busy::Livelock => "busy/livelock",
            Busy::SlowProgress => "busy/slow-progress",
        }
    }
}

/// A finding: a cycle, a stall, a blocker, a warning. Built only by [`Draft::sign`], so it
/// always has its signature.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// The weakest evidence it rests on.
    pub confidence: Grade,
    /// The threads involved (indices).
    pub threads: Vec<usize>,
    /// What it rests on.
    pub detail: Detail,
    /// The chain, frame by frame.
    pub steps: Vec<Step>,
    /// What to do: a rule's suggestion or the packs' advice.
    pub suggestion: Option<String>,
    /// Stable across runs: same hang, same signature.
    pub signature: String,
    /// The frames that matter of the threads its shown steps are on, in the order they first
    /// appear in the steps.
    pub key_frames: Vec<KeyFrames>,
}

/// A finding before its signature.
#[derive(Debug, Clone)]
pub struct Draft {
    /// What kind.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// The weakest evidence it rests on.
    pub confidence: Grade,
    /// The threads involved.
    pub threads: Vec<usize>,
    /// What it rests on.
    pub detail: Detail,
    /// The chain.
    pub steps: Vec<Step>,
    /// What to do.
    pub suggestion: Option<String>,
}

impl Draft {
    /// The finding, with its signature: the kind and the normalised functions of the frames
    /// the steps point at, no addresses or tids.
    pub fn sign(self, snap: &Snapshot) -> Finding {
        let mut names: Vec<String> = self
            .steps
            .iter()
            .filter_map(|s| {
                let frame = snap.threads[s.thread].frames.get(s.frame?)?;
                frame.function.as_deref().map(|n| base_name(n).to_string())
            })
            .collect();
        names.sort();
        names.dedup();
        let mut h = Sha256::new();
        h.update(format!("{:?}", self.kind));
        for n in names {
            h.update(b"\0");
            h.update(n.as_bytes());
        }
        let digest = h.finalize();
        Finding {
            kind: self.kind,
            severity: self.severity,
            confidence: self.confidence,
            threads: self.threads,
            detail: self.detail,
            steps: self.steps,
            suggestion: self.suggestion,
            signature: digest[..8].iter().map(|b| format!("{b:02x}")).collect(),
            key_frames: Vec::new(),
        }
    }
}
