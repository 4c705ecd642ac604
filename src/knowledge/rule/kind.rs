//! Kinds of wait and what each means, in one table: who ends it, whether a worker waiting on it
//! may be idle or awaiting queued work, whether a signal handler may block on it, its noun.
//! The analysis asks `meaning()`, never the variant.

use serde::{Deserialize, Serialize};

/// What a thread waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitKind {
    /// A mutex (or any exclusive lock).
    Mutex,
    /// A spinlock: the waiter burns CPU until the holder lets go.
    Spinlock,
    /// A reader-writer lock, for reading.
    RwlockRead,
    /// A reader-writer lock, for writing.
    RwlockWrite,
    /// A condition variable or event: whoever will signal it is not known.
    Condvar,
    /// Another thread's exit.
    Join,
    /// Every worker of a pool to exit (a pool's join/stop).
    PoolDrain,
    /// A future, promise, baton or latch.
    Future,
    /// A channel or queue.
    Channel,
    /// A semaphore.
    Semaphore,
    /// A bare futex or syscall wait whose meaning the frames below may refine.
    Futex,
    /// CPython's lock acquire in C (`threading.Lock`, and the lock under `Condition.wait`,
    /// `Thread.join`, `queue.Queue.get`): a lock with no owner, which any thread may release;
    /// the Python frames below, when shown, say what for.
    PythonLock,
    /// A static object's initialisation another thread runs (a C++ function-local static's
    /// guard): released when that thread's initialiser returns.
    StaticInit,
    /// A one-time initialisation (`pthread_once`, `std::call_once`) whose routine a thread
    /// runs: released when that routine returns.
    Once,
    /// The dynamic loader's lock (glibc's `dl_load_lock`), taken by `dlopen`, `dlsym`,
    /// `dlclose`, `dladdr`: released when the thread inside the loader (running a library's
    /// constructors or destructors) leaves it.
    Loader,
    /// I/O: read, poll, accept, ...
    Io,
    /// A sleep.
    Sleep,
    /// Waiting for a signal (`pause`, `sigwait`).
    SignalWait,
}

/// Who ends a wait: what the analysis looks for on the other side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The thread holding the lock (an owner field, a guard, a frame that took it).
    LockHolder,
    /// The joined thread, by exiting.
    ThreadExit,
    /// Every worker of the pool being joined, by exiting.
    PoolExit,
    /// Some thread of the process that signals, posts, sends or completes it; which one, the
    /// wait does not say.
    AnotherThread,
    /// Something outside the process: data, time, a signal.
    Outside,
}

/// What a kind of wait means, in one place: every question the analysis asks of a kind is
/// answered here, and a new kind cannot be added without answering them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindMeaning {
    /// The word used in reports.
    pub noun: &'static str,
    /// Who ends it.
    pub released_by: Release,
    /// A worker whose loop waits here directly may be waiting for work (idle), not stuck.
    pub may_be_idle: bool,
    /// A pool worker blocked here may be waiting for work queued behind it (starvation).
    pub may_await_queued_work: bool,
    /// Blocking here inside a signal handler is reported as not async-signal-safe (the
    /// handler may have interrupted the very code that would end it). Waits for the outside
    /// and bare futex waits (which may be the handler's own, safe, machinery) are not.
    pub unsafe_in_signal_handler: bool,
    /// A bare wait that a more specific rule in the frames below may name better.
    pub generic: bool,
    /// Names what a wait directly above it, released as this says, is for: the frames are one
    /// wait, of this kind. The loader's entry that called `pthread_mutex_lock` names the lock
    /// it takes (`LockHolder`); a pool's join that called a thread join names that thread as
    /// one of the pool's workers, whose exit waits for the pool's work to run out
    /// (`ThreadExit`); a queue's pop that waits on a condition variable or semaphore names it
    /// as the queue's own (`AnotherThread`).
    pub names_wait: Option<Release>,
}

impl WaitKind {
    /// What this kind of wait means (see [`KindMeaning`]).
    pub fn meaning(self) -> KindMeaning {
        use Release::*;
        let m = |noun, released_by, may_be_idle, may_await_queued_work, unsafe_in_handler| {
            KindMeaning {
                noun,
                released_by,
                may_be_idle,
                may_await_queued_work,
                unsafe_in_signal_handler: unsafe_in_handler,
                generic: false,
                names_wait: None,
            }
        };
        match self {
            Self::Mutex => m("mutex", LockHolder, false, false, true),
            Self::Spinlock => m("spinlock", LockHolder, false, false, true),
            Self::RwlockRead => m("rwlock (read)", LockHolder, false, false, true),
            Self::RwlockWrite => m("rwlock (write)", LockHolder, false, false, true),
            Self::Condvar => m("condition variable", AnotherThread, true, true, true),
            Self::Join => m("thread join", ThreadExit, false, false, true),
            Self::PoolDrain => KindMeaning {
                names_wait: Some(ThreadExit),
                ..m("pool join", PoolExit, false, false, true)
            },
            Self::Future => m("future", AnotherThread, false, true, true),
            Self::Channel => KindMeaning {
                names_wait: Some(AnotherThread),
                ..m("channel", AnotherThread, true, true, true)
            },
            Self::Semaphore => m("semaphore", AnotherThread, true, false, true),
            Self::Futex => KindMeaning {
                generic: true,
                ..m("futex", AnotherThread, true, true, false)
            },
            Self::PythonLock => KindMeaning {
                generic: true,
                ..m("Python lock", AnotherThread, true, true, false)
            },
            Self::StaticInit => m("static initialisation", LockHolder, false, false, true),
            Self::Once => m("one-time initialisation", LockHolder, false, false, true),
            Self::Loader => KindMeaning {
                names_wait: Some(LockHolder),
                ..m("dynamic loader's lock", LockHolder, false, false, true)
            },
            Self::Io => m("I/O", Outside, true, false, false),
            Self::Sleep => m("sleep", Outside, false, false, false),
            Self::SignalWait => m("signal wait", Outside, false, false, false),
        }
    }

    /// Kinds that end when something outside the process happens (data, time, a signal).
    pub fn is_external(self) -> bool {
        self.meaning().released_by == Release::Outside
    }

    /// Kinds released by a lock holder.
    pub fn is_lock(self) -> bool {
        self.meaning().released_by == Release::LockHolder
    }

    /// Kinds released by threads exiting (a join, a pool's join).
    pub fn is_join(self) -> bool {
        matches!(
            self.meaning().released_by,
            Release::ThreadExit | Release::PoolExit
        )
    }

    /// A bare wait that a more specific rule in the frames below may name better.
    pub fn is_generic(self) -> bool {
        self.meaning().generic
    }

    /// Names what a wait of kind `above`, directly above it, is for (see
    /// [`KindMeaning::names_wait`]): the two are one wait, of this kind.
    pub fn names_wait_of(self, above: WaitKind) -> bool {
        self != above && self.meaning().names_wait == Some(above.meaning().released_by)
    }

    /// The word used in reports.
    pub fn noun(self) -> &'static str {
        self.meaning().noun
    }
}
