//! The pure analysis core: [`analyze`] takes a [`Snapshot`] and the [`KnowledgeBase`] and
//! returns an [`Analysis`] (per-thread facts, the wait-for graph, findings). It does no I/O and
//! cannot tell which producer filled the snapshot.

mod advice;
mod busy;
mod claims;
mod classify;
mod coverage;
pub mod cross_process;
mod died;
mod finding;
mod findings;
mod graph;
mod group;
mod guarded;
mod loader;
mod motion;
mod names;
mod once;
mod orphans;
mod ownerless;
mod pool_findings;
mod pools;
mod program;
mod readers;
mod runtime;
mod scc;
mod starved_runtime;
mod steps;
mod stopped;
mod upgrade;

pub use claims::{ClaimCheck, ClaimVerdict};
pub use classify::{Activity, Facts, LockId, PoolRef, Wait};
pub use coverage::Coverage;
pub use finding::{Busy, Detail, Doing, Draft, Finding, HeldAt, InProgram, Object, Shows, Step};
pub use graph::{Alternative, Because, Edge, Grade, Graph, Held};
pub use group::{group_threads, Does, ThreadGroup, ThreadState};
pub use motion::Motion;
pub use pools::{FoundBy, Member, MemberState, Pool};
pub use runtime::Runtime;
pub use steps::wait_object;

use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use rayon::prelude::*;
use serde::Serialize;

/// The kinds of finding (SPEC.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A thread waits for a thread set it belongs to.
    SelfJoin,
    /// A thread waits for a lock it holds.
    SelfLock,
    /// Threads wait on each other's locks.
    LockCycle,
    /// Threads join each other.
    JoinCycle,
    /// Every worker of a pool waits for work queued on that pool.
    PoolStarvation,
    /// Every worker of an async runtime blocks in a synchronous wait inside a task.
    RuntimeStarved,
    /// Any other cycle.
    WaitCycle,
    /// Every thread of the process is stopped (a stop signal, a tracer).
    ProcessStopped,
    /// Some threads are stopped (a tracer), the others run.
    ThreadStopped,
    /// Nothing can move, but no cycle is proven.
    Stall,
    /// A thread many others wait on, itself not waiting for them.
    RootBlocker,
    /// A blocking call inside a signal handler.
    SignalUnsafeWait,
    /// Threads blocked in I/O.
    IoWait,
    /// Threads wait for a lock whose owner is no thread of the process.
    OrphanedLock,
    /// Threads wait for a robust mutex whose previous owner died holding it, held by the
    /// thread that was told so and did not make it consistent.
    OwnerDied,
    /// Threads each wait for a static object another of them is initialising.
    StaticInitCycle,
    /// A thread holding a read-write lock for reading waits to take it for writing.
    RwlockUpgrade,
    /// A thread waits in a one-time initialisation whose routine it runs itself.
    OnceRecursion,
    /// Threads wait for the dynamic loader's lock, held by a thread inside the loader (in a
    /// library's constructor or destructor) that itself waits.
    LoaderLock,
    /// Threads wait to write a read-write lock that readers hold (how many, memory says;
    /// which threads, the lock does not record).
    WriterBehindReaders,
    /// Threads wait to write a read-write lock no thread is seen holding as a writer, and the
    /// input shows neither its writer nor its reader count: whether readers hold it cannot be
    /// told (attaching, a core or gdb's printed lock would tell).
    ReadersUnknown,
    /// Threads wait for locks that record no owner and, if the threads seen taking such locks
    /// held them, would close a cycle; but threads whose code the input does not carry (a
    /// dump) could hold them instead: whether it is a deadlock cannot be told from this input
    /// (attaching, or a core with the binary, reads which code names the locks).
    HoldersUnknown,
    /// Threads seen moving between the two looks at a live process: spinning on a lock, a
    /// livelock, or slow progress where the frames alone look like a stall.
    Busy,
}

impl FindingKind {
    /// Whether the finding says something of every thread of the process (nothing can move,
    /// no thread holds the lock, every thread is stopped), so that it needs them all in view.
    pub fn needs_every_thread(self) -> bool {
        matches!(
            self,
            Self::Stall | Self::OrphanedLock | Self::ProcessStopped
        )
    }
}

impl FindingKind {
    /// Every kind.
    pub const ALL: [FindingKind; 23] = [
        Self::SelfJoin,
        Self::SelfLock,
        Self::LockCycle,
        Self::JoinCycle,
        Self::PoolStarvation,
        Self::RuntimeStarved,
        Self::WaitCycle,
        Self::ProcessStopped,
        Self::ThreadStopped,
        Self::Stall,
        Self::RootBlocker,
        Self::SignalUnsafeWait,
        Self::IoWait,
        Self::OrphanedLock,
        Self::OwnerDied,
        Self::StaticInitCycle,
        Self::RwlockUpgrade,
        Self::OnceRecursion,
        Self::LoaderLock,
        Self::WriterBehindReaders,
        Self::ReadersUnknown,
        Self::HoldersUnknown,
        Self::Busy,
    ];

    /// The name used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelfJoin => "self-join",
            Self::SelfLock => "self-lock",
            Self::LockCycle => "lock-cycle",
            Self::JoinCycle => "join-cycle",
            Self::PoolStarvation => "pool-starvation",
            Self::RuntimeStarved => "runtime-starved",
            Self::WaitCycle => "wait-cycle",
            Self::ProcessStopped => "process-stopped",
            Self::ThreadStopped => "thread-stopped",
            Self::Stall => "stall",
            Self::RootBlocker => "root-blocker",
            Self::SignalUnsafeWait => "signal-unsafe-wait",
            Self::IoWait => "io-wait",
            Self::OrphanedLock => "orphaned-lock",
            Self::OwnerDied => "owner-died",
            Self::StaticInitCycle => "static-init-cycle",
            Self::RwlockUpgrade => "rwlock-upgrade",
            Self::OnceRecursion => "once-recursion",
            Self::LoaderLock => "loader-lock",
            Self::WriterBehindReaders => "writer-behind-readers",
            Self::ReadersUnknown => "rwlock-readers-unknown",
            Self::HoldersUnknown => "lock-holders-unknown",
            Self::Busy => "busy",
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The process cannot make progress by itself.
    Deadlock,
    /// Likely a hang or a bug waiting to happen.
    Warning,
    /// Context.
    Info,
}

/// Everything the analysis found.
#[derive(Debug)]
pub struct Analysis {
    /// Per thread, what its frames mean.
    pub facts: Vec<Facts>,
    /// The wait-for graph.
    pub graph: Graph,
    /// The findings, deadlocks first.
    pub findings: Vec<Finding>,
    /// What the analysis makes of the runtime's own verdicts in the dump.
    pub claims: Vec<ClaimCheck>,
    /// Per thread, what it does, pointing at the program's own frame.
    pub states: Vec<ThreadState>,
    /// The language runtimes the processes run (a JVM, CPython, Go), with the command that
    /// dumps each one's own stacks.
    pub runtimes: Vec<Runtime>,
    /// The pools inferred from the threads' stacks, each member idle or busy.
    pub pools: Vec<Pool>,
    /// How much of the process the snapshot shows.
    pub coverage: Coverage,
}

/// The one-word answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A cycle (or a starving pool): the process cannot make progress.
    Deadlock,
    /// The whole process is stopped (a stop signal, a tracer): nothing runs until it is
    /// resumed.
    Stopped,
    /// Nothing can move, but no cycle is proven.
    Stall,
    /// No deadlock among the threads shown, but the snapshot does not show the whole process
    /// (`Analysis::coverage` says why): what was not shown decides.
    Undecidable,
    /// Neither, with the whole process in view.
    NoDeadlock,
}

impl Analysis {
    /// True when a finding says the process cannot make progress because of a cycle.
    pub fn deadlocked(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Deadlock)
    }

    /// Deadlock, stopped, stall, undecidable from this snapshot, or none.
    pub fn verdict(&self) -> Verdict {
        if self.deadlocked() {
            Verdict::Deadlock
        } else if self
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::ProcessStopped)
        {
            Verdict::Stopped
        } else if self.findings.iter().any(|f| f.kind == FindingKind::Stall) {
            Verdict::Stall
        } else if !self.coverage.whole {
            Verdict::Undecidable
        } else {
            Verdict::NoDeadlock
        }
    }
}

/// Analyses a snapshot.
pub fn analyze(snap: &Snapshot, kb: &KnowledgeBase) -> Analysis {
    let coverage = coverage::judge(snap, kb);
    // Rare (a runtime's claim cut short): the claim's threads are set aside, at a copy's cost.
    let trimmed = coverage::without_cut_claims(snap, &coverage);
    let snap = trimmed.as_ref().unwrap_or(snap);
    let names = names::Names::new(&snap.threads, kb);
    // Threads are classified apart from each other: in parallel, in input order.
    let mut facts: Vec<Facts> = (snap.threads.par_iter().enumerate())
        .map(|(t, th)| classify::classify_named(th, names.thread(t), kb, snap))
        .collect();
    guarded::name_guarded_waits(snap, &mut facts, kb);
    ownerless::name_futex_locks(snap, &mut facts);
    let mut graph = graph::build(snap, &facts, &names, kb);
    ownerless::derive(snap, &facts, &mut graph, &names);
    let pools = pools::infer(snap, &facts, &names);
    let findings = findings::find(snap, coverage.whole, &facts, &pools, &graph, &names, kb);
    let claims = claims::check(snap, &findings, &graph);
    let states = group::describe_all(snap, &facts, &graph, &names);
    let runtimes = runtime::find(snap, &names, kb);
    Analysis {
        facts,
        graph,
        findings,
        claims,
        states,
        runtimes,
        pools,
        coverage,
    }
}
