//! The graph's data: edges, why each holds, and how it is known.

use serde::Serialize;

/// How an edge is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grade {
    /// Type or name patterns only.
    Heuristic,
    /// Frames and their arguments or locals (an address, a `this=`, a `threadid=`).
    Symbolic,
    /// Read from memory (a lock's owner field, a futex word).
    Proven,
}

/// Why `to` is what `from` waits for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Because {
    /// `to` holds the lock (the frame that shows it; `None` when only memory shows it).
    Holds {
        /// The frame that shows it.
        frame: Option<usize>,
        /// What shows it.
        by: Held,
    },
    /// `to` is the joined thread.
    IsTarget,
    /// `to` is a worker of the pool being joined.
    Member {
        /// Its worker-loop frame.
        frame: usize,
    },
    /// `to` runs a closure of the function that opened the scope being joined: a thread
    /// spawned in it.
    InScope {
        /// Its frame in that closure.
        frame: usize,
    },
    /// `to` opened the scope that joins the waiting thread, and every other thread waits:
    /// only `to`, once its scope ends, is left to end the wait.
    ScopeOwner {
        /// Its frame that opened the scope.
        frame: usize,
    },
    /// `to` holds the lock by the runtime's own deadlock report alone: nothing in the dump
    /// shows it, so it is graded as any holder the stacks only suggest, and it never confirms
    /// the report it comes from.
    Claimed {
        /// Which report says so.
        by: Held,
    },
}

/// What shows that a thread holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "kebab-case")]
pub enum Held {
    /// A frame or local a rule recognises (the rule's id).
    Rule {
        /// The rule.
        rule: String,
    },
    /// What the producer states (the evidence's own source, e.g. a JVM's lock list).
    Stated {
        /// Where, as the producer says it.
        source: String,
    },
    /// An owner field a debugger printed (`__owner`), at an input line.
    Printed {
        /// The field.
        field: String,
        /// The line.
        line: usize,
    },
    /// An owner field read from the target's memory, at an address.
    Memory {
        /// Where.
        address: u64,
    },
    /// A lock word that holds its holder's tid (a robust mutex's), read from the target's
    /// memory, at an address.
    LockWord {
        /// Where.
        address: u64,
    },
    /// A signal interrupted the thread inside the functions that take the lock.
    InterruptedInside {
        /// Those functions.
        sites: Vec<String>,
    },
    /// The thread is inside the function where the lock is taken.
    InsideSite {
        /// That function.
        site: String,
    },
    /// The lock records no owner and nothing shows one: the holder is derived from where every
    /// thread stands (`analyze::ownerless`), and every assignment consistent with that closes a
    /// cycle. `alternatives`: the other threads that could hold it, with the cycle each closes.
    Consistent {
        /// The other possible holders.
        alternatives: Vec<Alternative>,
        /// How many more could hold it, not listed.
        unlisted: usize,
        /// Whether the holders were narrowed by what the threads' code names: a thread counts
        /// only if a live frame of the program's own names the lock's static object in its
        /// code (`model::Frame::refs`, read live and from cores).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_code: bool,
        /// Whether the holders were narrowed by what the threads' stacks point at (a lock in
        /// no object's image: the heap): a thread counts only if a word of its live stack, or
        /// a register, points at the lock or shortly before it (`model::Thread::stack_refs`,
        /// read live and from cores).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_stack: bool,
    },
    /// The runtime's own deadlock report.
    Report {
        /// What it says.
        text: String,
        /// Its input line.
        line: Option<usize>,
    },
}

/// Another thread that could hold an ownerless lock, and the cycle it would close instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternative {
    /// The thread (index into the snapshot's threads).
    pub holder: usize,
    /// The threads of the cycle it closes (indices).
    pub cycle: Vec<usize>,
}

/// One edge of the wait-for graph.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The waiting thread (index into the snapshot's threads).
    pub from: usize,
    /// The thread waited for.
    pub to: usize,
    /// Which of `from`'s waits.
    pub wait: usize,
    /// How it is known.
    pub grade: Grade,
    /// Why.
    pub because: Because,
}

/// The graph, plus the waits that lead nowhere known.
#[derive(Debug, Default)]
pub struct Graph {
    /// All edges.
    pub edges: Vec<Edge>,
    /// Per thread, the wait its edges come from (the first whose holder is known, else the
    /// first), if it is blocked.
    pub effective: Vec<Option<usize>>,
    /// Every lock owner field read from memory or printed (`owners.rs`), those no
    /// thread has too: read once, for the holders here and for the orphaned locks.
    pub owners: Vec<Owner>,
    /// Threads by the id the process's memory holds for them (`Snapshot::by_memory_tid`;
    /// empty when those ids are unknown): made once, for the holders here, the orphaned
    /// locks and the owners that died.
    pub by_tid: std::collections::HashMap<u64, usize>,
}

/// An owner field read from memory.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The lock's address.
    pub address: u64,
    /// The owner's thread id, as the process's memory holds it (never 0: unlocked, or held
    /// by readers, names no one).
    pub tid: u64,
    /// Where it was read.
    pub by: Held,
    /// The lock says it is shared between processes: its owner may be another process's
    /// thread.
    pub shared: bool,
    /// The owner recovered the lock after its previous owner died (it was told `EOWNERDEAD`)
    /// and has not made it consistent: a robust mutex's owner field says so.
    pub recovered: bool,
}

impl Graph {
    /// Edges leaving thread `t`.
    pub fn out(&self, t: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.from == t)
    }
}
