//! A finding as data: its kind, what it rests on ([`Detail`]) and its steps, each a typed fact
//! ([`Shows`]) about one thread and the frame that shows it. No words here: the report's
//! narration (`report::narrate`) says them, for every format alike; grouping and signatures key
//! on this structure.

use super::graph::{Grade, Held};
use super::{FindingKind, Severity};
use crate::knowledge::{base_name, WaitKind};
use crate::model::{Snapshot, StoppedBy};
use serde::Serialize;
use sha2::{Digest, Sha256};

mod step;
pub use step::{Doing, HeldAt, InProgram, KeyFrames, Object, Shows, Step};

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
