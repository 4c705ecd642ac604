//! One rule and the TOML it is written in. See `packs/*.toml` for the format in use.

use super::lockword::{OwnerWord, RawOwnerWord};
use super::pattern::{compile as compile_pattern, Pattern};
use crate::error::{Error, Result};
use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

/// What a matching frame says about its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Meaning {
    /// The thread waits (on a lock, a thread, a pool, I/O, ...).
    Wait,
    /// The frame (or its local) holds a lock.
    Hold,
    /// The thread is a worker of a pool.
    Member,
    /// The thread is a worker waiting for work: not part of any hang by itself.
    Idle,
    /// A tracer's or runtime's own frame on top of the real blocking call: look past it.
    Skip,
    /// A library's call plumbing (`std::`, `core::ops::function`): left out when a report
    /// names the calls a handler made. Matched apart from the other function rules, so it
    /// never hides what a frame means.
    Plumbing,
    /// The signal return trampoline (`__restore_rt`): the frames above it run in a signal
    /// handler, as above gdb's `<signal handler called>`.
    SignalFrame,
    /// What to do about a finding (`suggestion`), for the findings its `finding` pattern
    /// matches, used when the finding's waits are in this rule's pack.
    Advice,
    /// The frame shows which language runtime the process runs (`runtime`: a JVM, CPython,
    /// Go), and `suggestion` the command that dumps its own stacks, which hangscan reads.
    /// Matched apart from the other function rules, so it never hides what a frame means.
    Runtime,
    /// Nothing but that a whole stack may end at the frame (`outermost`): gdb's backtraces stop
    /// at `main`. Matched apart from the other function rules, so it never hides what a frame
    /// means.
    Outermost,
}

impl Meaning {
    /// The name rules are written with (`meaning = "signal-frame"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Wait => "wait",
            Meaning::Hold => "hold",
            Meaning::Member => "member",
            Meaning::Idle => "idle",
            Meaning::Skip => "skip",
            Meaning::Plumbing => "plumbing",
            Meaning::SignalFrame => "signal-frame",
            Meaning::Advice => "advice",
            Meaning::Runtime => "runtime",
            Meaning::Outermost => "outermost",
        }
    }
}

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

/// What a rule's pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A frame's function, reduced to its base name.
    Function,
    /// A `bt full` local's value; a group `addr` captures the lock address.
    Local,
    /// A line the dump attaches to a frame or a thread (Java's `- locked <0x…>`); a group
    /// `addr` captures the object's address.
    Note,
    /// The runtime's own word for the thread's state (a Go wait reason, a Java state).
    Status,
    /// The thread's name, as the library that started it names it (GLib's pool threads:
    /// `pool`, `pool-<prgname>`): for pool members whose worker loop no frame names (a
    /// library without its debug info, whose loop is a static function).
    Thread,
    /// The path of the object the thread's start routine is in (the frame just inside the
    /// thread-start plumbing): for a library's own worker threads, whose loop is that routine,
    /// a static function no frame names without the library's debug info (libuv's threadpool).
    /// Unlike a name, it is in a core too.
    Entry,
    /// A value a debugger printed right after a frame (gdb's `$1 = {__data = {... __owner =
    /// 8 ...}}`); a group `owner` captures the lock holder's tid, a group `field` the field's
    /// name, and `address_args` name the arguments of the frame that carry the lock.
    Printed,
    /// A variable's type name, qualified as the source spells it (`std::lock_guard<std::mutex>`),
    /// read from DWARF in a live capture or a core: the variable is an RAII guard, and the
    /// rule's `members` say where in it the lock is.
    Guard,
    /// A finding's situation: its kind (`lock-cycle`), with `/signal-handler` when it runs
    /// through a signal handler, `/unowned-locks` for a stall on locks no owner is shown for,
    /// and for a busy finding how its threads move (`busy/livelock`).
    Finding,
}

impl Subject {
    /// The TOML key that holds the pattern.
    pub fn key(self) -> &'static str {
        match self {
            Self::Function => "function",
            Self::Local => "local",
            Self::Note => "note",
            Self::Status => "status",
            Self::Thread => "thread",
            Self::Entry => "entry",
            Self::Printed => "printed",
            Self::Guard => "guard",
            Self::Finding => "finding",
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id, `pack.name`.
    pub id: String,
    /// The pack (or file) it came from.
    pub pack: String,
    /// One line saying what it recognises.
    pub summary: String,
    /// What the pattern is matched against.
    pub subject: Subject,
    /// The pattern.
    pub pattern: Pattern,
    /// What a match means.
    pub meaning: Meaning,
    /// For waits and holds: on what.
    pub kind: Option<WaitKind>,
    /// Only meaningful when the thread is already blocked in a primitive above this frame.
    pub context: bool,
    /// For waits: the primitive the frames above this one block in (a condition variable, a
    /// semaphore) is how this wait is built, not what it is: this rule's kind is the wait's,
    /// whatever theirs (HotSpot's monitor enter parks on a condition variable).
    pub refines: bool,
    /// For runtime rules: the runtime's name (`HotSpot JVM`, `CPython`, `Go`).
    pub runtime: Option<String>,
    /// For runtime rules: the source files of the runtime's own frames (`\.py$`): a thread
    /// that shows one is already seen through the runtime's own dump (py-spy `--native`).
    pub own_files: Option<Regex>,
    /// A wait with a timeout: it ends by itself.
    pub timed: bool,
    /// A wait a pool's worker never idles in: it runs a task that hands work on (a send or
    /// put into a full queue or channel), so it is busy, whatever frame the wait ends in.
    pub busy: bool,
    /// For join waits: a scope (`std::thread::scope`) joining the threads spawned in it, those
    /// that run a closure of the function that opened it.
    pub scope: bool,
    /// A wait the runtime gave up on as fatal (CPython's "could not acquire lock ... at
    /// interpreter shutdown"): its holder will never release, so it is a hang by itself.
    pub fatal: bool,
    /// For waits: in a pool's task, work queued on the same pool may be what ends it (libuv's
    /// `uv_sem_wait` in a work callback), as a future's result is: every worker blocked so,
    /// none idle, is a pool starving.
    pub awaits_work: bool,
    /// Arguments that carry the waited-on object's address.
    pub address_args: Vec<String>,
    /// Arguments that carry a joined thread's `pthread_t`.
    pub target_args: Vec<String>,
    /// Arguments that carry a joined thread's tid (glibc's join futex waits on it).
    pub tid_args: Vec<String>,
    /// Arguments naming a mutex this wait releases while it waits (a condvar's mutex).
    pub releases_args: Vec<String>,
    /// Arguments naming the pool instance (`this`).
    pub instance_args: Vec<String>,
    /// A fixed pool class; without it, the pattern's `pool` group names the class.
    pub pool: Option<String>,
    /// A fixed name for the waited-on or held resource (a library-internal lock).
    pub resource: Option<String>,
    /// What to do about a hang this rule takes part in.
    pub suggestion: Option<String>,
    /// For a static's guard: its name for the static `{}` stands for (the C++ ABI's `guard
    /// variable for {}`), so that the static a holder is seen initialising names the guard a
    /// dump does not print.
    pub guard_name: Option<String>,
    /// For locks: the offset from the lock's address of its owner's tid (glibc mutex: 8).
    pub owner_offset: Option<u64>,
    /// For locks that may be shared between processes: where the flag that says so is, from
    /// the lock's address, and its bit mask (glibc mutex: `__kind` at 16, bit 128). A shared
    /// lock's owner may be another process's thread.
    pub shared_flag: Option<(u64, u64)>,
    /// For `printed` owners: the pattern whose `kind` group holds the flag word `shared_flag`'s
    /// mask is tested on (glibc: `__kind = 128`).
    pub shared_printed: Option<Regex>,
    /// For locks whose waiters sleep on a futex word inside the lock rather than at its start
    /// (a glibc rwlock): the offsets of the words a waiter may sleep on. From memory, the lock
    /// is the candidate `futex_values` names, else the first whose owner field is set, else
    /// the last.
    pub futex_offsets: Vec<u64>,
    /// Beside `futex_offsets`, the value a waiter passes to the futex wait on each word (glibc
    /// rwlock writer: `1|FUTEX_USED` on `__writers_futex`, `FUTEX_USED` on `__wrphase_futex`):
    /// the wait's value tells which word it sleeps on when no owner is set.
    pub futex_values: Vec<u32>,
    /// For read-write locks: where the reader count is, from the lock's address, and how far
    /// it is shifted left past the state bits (glibc: `__readers` at 0, shift 3).
    pub readers: Option<(u64, u32)>,
    /// For `printed` locks: the pattern whose `readers` group holds the reader word, shifted
    /// as `readers` says (glibc: `__readers = 18`: 2 readers).
    pub readers_printed: Option<Regex>,
    /// For locks that keep their holder in the lock word for some of their kinds (glibc's
    /// robust and PI mutexes): where, and what the owner field says then.
    pub owner_word: Option<OwnerWord>,
    /// The runtime's status word says no more than `meaning` does (py-spy's `idle`): reports
    /// do not repeat it.
    pub redundant: bool,
    /// For status rules: the runtime says the thread runs or is about to (a Go goroutine
    /// readied but not yet scheduled keeps the stack it parked with): whatever wait its frames
    /// show is over, and it is not blocked.
    pub runs: bool,
    /// For member rules: the pool is an async runtime's workers (tokio's), which poll tasks
    /// that must never block them in a synchronous wait.
    pub async_runtime: bool,
    /// For member rules: the pool lends its threads to other pools' loops for good (tokio's
    /// blocking pool runs each runtime worker as a blocking task that never ends): a thread
    /// whose frames show another pool's worker loop above this one is that pool's member only.
    pub hosts: bool,
    /// A whole stack may end at this frame: a thread's or the process's first frame as the
    /// dumps print it (`start_thread`, `clone3`, `_start`; `main`, where gdb stops). A dump that
    /// ends inside a stack whose outermost frame is none of these was cut there.
    pub outermost: bool,
    /// For lock waits: the lock's waiters sleep on a word of their own, not on one of the
    /// lock's (absl::Mutex: each thread's semaphore), so the futex word a thread sleeps on
    /// names no lock; a live capture or a core reads `address_args` from the frame's
    /// parameters (their DWARF locations) instead.
    pub sleeps_apart: bool,
    /// For guard rules: where in the guard the lock is.
    pub members: Option<GuardMembers>,
    /// For `local` rules: the local's name must match this too (a C pointer guard, which
    /// `bt full` prints without its type: GLib's `g_autoptr(GMutexLocker) locker`).
    pub local_name: Option<Regex>,
    /// For `thread` rules: some frame of the thread must be in an object whose path matches
    /// this (the library that names its threads so: a program's own `pool-1` is not GLib's).
    pub thread_module: Option<Regex>,
    /// Subjects (names, values, notes or states) this rule must match.
    pub examples: Vec<String>,
    /// Subjects this rule must not match.
    pub counterexamples: Vec<String>,
}

/// Where a guard's lock is, by member paths (`a.b`) the DWARF type reader resolves: no offsets
/// in the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardMembers {
    /// The guard's pointer or reference to the lock (`_M_device`); empty: the guard is a
    /// pointer, itself the lock's address (GLib's `GMutexLocker_autoptr`); ending in `*`
    /// (`_M_devices.*`): every pointer or reference stored inside that member (its members
    /// and base classes, by value) is a lock the guard holds (`std::scoped_lock`'s tuple).
    pub pointer: String,
    /// Inside the lock, what its waiters wait on (Rust's `inner.futex`); empty: the lock's
    /// own address.
    pub within: String,
    /// The guard's flag that says it owns the lock (`_M_owns`), when it has one.
    pub owns: Option<String>,
}

impl Rule {
    /// For a `thread` rule: whether a thread whose frames are in the objects `modules` is the
    /// library's (its `thread_module`, if any, matches one of them).
    pub fn thread_in<'a>(&self, mut modules: impl Iterator<Item = &'a str>) -> bool {
        (self.thread_module.as_ref()).is_none_or(|m| modules.any(|p| m.is_match(p.as_bytes())))
    }

    /// For runtime rules: whether `file` is a source file of the runtime's own frames (its
    /// `own_files`).
    pub fn own_file(&self, file: &str) -> bool {
        (self.own_files.as_ref()).is_some_and(|p| p.is_match(file.as_bytes()))
    }

    /// The pool class named by this rule for a frame's base name.
    pub fn pool_class(&self, base: &str) -> Option<String> {
        if let Some(p) = &self.pool {
            return Some(p.clone());
        }
        if self.subject != Subject::Function {
            return None;
        }
        let caps = self.pattern.captures(base.as_bytes())?;
        caps.name("pool")
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    summary: String,
    meaning: Meaning,
    function: Option<String>,
    local: Option<String>,
    note: Option<String>,
    status: Option<String>,
    thread: Option<String>,
    entry: Option<String>,
    printed: Option<String>,
    guard: Option<String>,
    finding: Option<String>,
    pointer: Option<String>,
    within: Option<String>,
    owns: Option<String>,
    local_name: Option<String>,
    thread_module: Option<String>,
    kind: Option<WaitKind>,
    #[serde(default)]
    context: bool,
    #[serde(default)]
    refines: bool,
    runtime: Option<String>,
    own_files: Option<String>,
    #[serde(default)]
    timed: bool,
    #[serde(default)]
    busy: bool,
    #[serde(default)]
    scope: bool,
    #[serde(default)]
    fatal: bool,
    #[serde(default)]
    awaits_work: bool,
    #[serde(default)]
    address_args: Vec<String>,
    #[serde(default)]
    target_args: Vec<String>,
    #[serde(default)]
    tid_args: Vec<String>,
    #[serde(default)]
    releases_args: Vec<String>,
    #[serde(default)]
    instance_args: Vec<String>,
    pool: Option<String>,
    resource: Option<String>,
    suggestion: Option<String>,
    guard_name: Option<String>,
    owner_offset: Option<u64>,
    shared_offset: Option<u64>,
    shared_mask: Option<u64>,
    shared_printed: Option<String>,
    #[serde(default)]
    futex_offsets: Vec<u64>,
    #[serde(default)]
    futex_values: Vec<u32>,
    readers_offset: Option<u64>,
    readers_shift: Option<u32>,
    readers_printed: Option<String>,
    owner_word: Option<RawOwnerWord>,
    #[serde(default)]
    redundant: bool,
    #[serde(default)]
    runs: bool,
    #[serde(default)]
    async_runtime: bool,
    #[serde(default)]
    hosts: bool,
    #[serde(default)]
    outermost: bool,
    #[serde(default)]
    sleeps_apart: bool,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counterexamples: Vec<String>,
}

/// What is wrong with a rule whose subject or meaning needs a particular shape, if anything.
fn shape_problem(r: &RawRule, subject: Subject, pattern: &Pattern) -> Option<&'static str> {
    let has_group = |g: &str| pattern.regex().capture_names().flatten().any(|n| n == g);
    match (subject, r.meaning) {
        (Subject::Finding, Meaning::Advice) if r.suggestion.is_none() => {
            Some("(advice) needs a `suggestion`")
        }
        (Subject::Finding, Meaning::Advice) => None,
        (Subject::Finding, _) | (_, Meaning::Advice) => {
            Some("must be `meaning = \"advice\"` with a `finding` pattern, or neither")
        }
        (Subject::Printed, Meaning::Hold) if !has_group("owner") || r.address_args.is_empty() => {
            Some("(printed) needs an `owner` group and `address_args`")
        }
        (Subject::Printed, Meaning::Hold) => None,
        (Subject::Guard, Meaning::Hold) if r.pointer.is_none() => {
            Some("(guard) needs a `pointer` member")
        }
        (Subject::Guard, Meaning::Hold)
            if r.pointer.as_deref().is_some_and(|p| {
                p.trim_end_matches('*').contains('*') || (p.ends_with('*') && !is_every(p))
            }) =>
        {
            Some("(guard) takes `*` in `pointer` only as its last member (`_M_devices.*`)")
        }
        (Subject::Guard, Meaning::Hold) => None,
        (Subject::Guard, _) => Some("(guard) must be `meaning = \"hold\"`"),
        (Subject::Thread, Meaning::Member) if r.pool.is_none() => {
            Some("(thread) needs a fixed `pool`")
        }
        (Subject::Thread, Meaning::Member) => None,
        (Subject::Thread, _) => Some("(thread) must be `meaning = \"member\"`"),
        (Subject::Entry, Meaning::Member) if r.pool.is_none() => {
            Some("(entry) needs a fixed `pool`")
        }
        (Subject::Entry, Meaning::Member) => None,
        (Subject::Entry, _) => Some("(entry) must be `meaning = \"member\"`"),
        (Subject::Function, Meaning::Runtime) if r.runtime.is_none() || r.suggestion.is_none() => {
            Some(
                "(runtime) needs `runtime` (its name) and `suggestion` (the command that dumps it)",
            )
        }
        (Subject::Function, Meaning::Runtime) => None,
        (_, Meaning::Runtime) => Some("(runtime) needs a `function` pattern"),
        _ if r.runtime.is_some() || r.own_files.is_some() => {
            Some("takes `runtime` and `own_files` only as `meaning = \"runtime\"`")
        }
        _ if (r.refines || r.awaits_work) && r.meaning != Meaning::Wait => {
            Some("takes `refines` and `awaits_work` only as a wait")
        }
        _ if (r.async_runtime || r.hosts) && r.meaning != Meaning::Member => {
            Some("takes `async_runtime` and `hosts` only as a member")
        }
        _ if r.sleeps_apart && (r.meaning != Meaning::Wait || r.address_args.is_empty()) => {
            Some("takes `sleeps_apart` only as a wait with `address_args`")
        }
        _ if r.pointer.is_some() || r.within.is_some() || r.owns.is_some() => {
            Some("takes `pointer`, `within` or `owns` only with a `guard` pattern")
        }
        (s, _) if s != Subject::Local && r.local_name.is_some() => {
            Some("takes `local_name` only with a `local` pattern")
        }
        (s, _) if s != Subject::Thread && r.thread_module.is_some() => {
            Some("takes `thread_module` only with a `thread` pattern")
        }
        (Subject::Printed, _) => Some("(printed) must be `meaning = \"hold\"`"),
        (s, Meaning::Plumbing | Meaning::SignalFrame | Meaning::Outermost)
            if s != Subject::Function =>
        {
            Some("(plumbing, signal-frame, outermost) needs a `function` pattern")
        }
        (s, _) if s != Subject::Function && r.outermost => {
            Some("takes `outermost` only with a `function` pattern")
        }
        _ => None,
    }
}

/// A `pointer` path that names every pointer inside a member: `*` or `a.b.*`.
fn is_every(path: &str) -> bool {
    path == "*" || path.ends_with(".*")
}

/// Where a pack comes from: built in (tested: its patterns are compiled when first matched),
/// or a user's file (compiled as it loads, so that a bad pattern is an error naming its rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Builtin,
    User,
}

/// Parses one pack.
pub fn parse_pack(origin: &str, text: &str, source: Source) -> Result<Vec<Rule>> {
    parse_rules(origin, text, source, |_| true)
}

/// Only the rules a capture reads variables by (`guard` rules, and waits that `sleeps_apart`,
/// whose arguments are read): what a capture needs before the analysis, compiled without the
/// rest.
pub fn parse_capture_rules(origin: &str, text: &str, source: Source) -> Result<Vec<Rule>> {
    parse_rules(origin, text, source, |r| {
        r.guard.is_some() || r.sleeps_apart
    })
}

fn parse_rules(
    origin: &str,
    text: &str,
    source: Source,
    keep: impl Fn(&RawRule) -> bool,
) -> Result<Vec<Rule>> {
    let err = |message: String| Error::Rules {
        origin: origin.to_string(),
        message,
    };
    let file: PackFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::with_capacity(file.rule.len());
    for mut r in file.rule.into_iter().filter(keep) {
        let given: Vec<(Subject, &String)> = [
            (Subject::Function, &r.function),
            (Subject::Local, &r.local),
            (Subject::Note, &r.note),
            (Subject::Status, &r.status),
            (Subject::Thread, &r.thread),
            (Subject::Entry, &r.entry),
            (Subject::Printed, &r.printed),
            (Subject::Guard, &r.guard),
            (Subject::Finding, &r.finding),
        ]
        .into_iter()
        .filter_map(|(s, p)| Some((s, p.as_ref()?)))
        .collect();
        let [(subject, pattern)] = given[..] else {
            return Err(err(format!(
                "rule `{}` needs exactly one of `function`, `local`, `note`, `status`, `thread`, \
                 `entry`, `printed`, `guard` or `finding`",
                r.id
            )));
        };
        let pattern = match source {
            Source::Builtin => Pattern::on_demand(pattern),
            Source::User => {
                Pattern::compiled(pattern).map_err(|e| err(format!("rule `{}`: {e}", r.id)))?
            }
        };
        if matches!(r.meaning, Meaning::Wait | Meaning::Hold) && r.kind.is_none() {
            return Err(err(format!(
                "rule `{}` ({:?}) needs a `kind`",
                r.id, r.meaning
            )));
        }
        let shared_printed = match r.shared_printed.as_deref().map(compile_pattern) {
            Some(Ok(p)) if p.capture_names().flatten().any(|n| n == "kind") => Some(p),
            Some(Ok(_)) => {
                return Err(err(format!(
                    "rule `{}`: `shared_printed` needs a (?P<kind>...) group",
                    r.id
                )))
            }
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let readers_printed = match r.readers_printed.as_deref().map(compile_pattern) {
            Some(Ok(p)) if p.capture_names().flatten().any(|n| n == "readers") => Some(p),
            Some(Ok(_)) => {
                return Err(err(format!(
                    "rule `{}`: `readers_printed` needs a (?P<readers>...) group",
                    r.id
                )))
            }
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let owner_word = match r
            .owner_word
            .take()
            .map(|w| OwnerWord::compile(w, compile_pattern))
        {
            Some(Ok(w)) => Some(w),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let own_files = match r.own_files.as_deref().map(compile_pattern) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let local_name = match r.local_name.as_deref().map(compile_pattern) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let thread_module = match r.thread_module.as_deref().map(compile_pattern) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        if !r.futex_values.is_empty() && r.futex_values.len() != r.futex_offsets.len() {
            return Err(err(format!(
                "rule `{}`: `futex_values` needs one value per `futex_offsets` entry",
                r.id
            )));
        }
        if let Some(problem) = shape_problem(&r, subject, &pattern) {
            return Err(err(format!("rule `{}` {problem}", r.id)));
        }
        if r.meaning == Meaning::Member && r.pool.is_none() {
            let named = r
                .function
                .as_deref()
                .is_some_and(|p| p.contains("?P<pool>"));
            if !named {
                return Err(err(format!(
                    "member rule `{}` needs `pool` or a `(?P<pool>...)` group",
                    r.id
                )));
            }
        }
        out.push(Rule {
            id: r.id,
            pack: origin.to_string(),
            summary: r.summary,
            subject,
            pattern,
            meaning: r.meaning,
            kind: r.kind,
            context: r.context,
            refines: r.refines,
            runtime: r.runtime,
            own_files,
            timed: r.timed,
            busy: r.busy,
            scope: r.scope,
            fatal: r.fatal,
            awaits_work: r.awaits_work,
            address_args: r.address_args,
            target_args: r.target_args,
            tid_args: r.tid_args,
            releases_args: r.releases_args,
            instance_args: r.instance_args,
            pool: r.pool,
            resource: r.resource,
            suggestion: r.suggestion,
            guard_name: r.guard_name,
            owner_offset: r.owner_offset,
            shared_flag: r.shared_mask.map(|m| (r.shared_offset.unwrap_or(0), m)),
            shared_printed,
            futex_offsets: r.futex_offsets,
            futex_values: r.futex_values,
            readers: r.readers_offset.map(|o| (o, r.readers_shift.unwrap_or(0))),
            readers_printed,
            owner_word,
            redundant: r.redundant,
            runs: r.runs,
            async_runtime: r.async_runtime,
            hosts: r.hosts,
            outermost: r.outermost || r.meaning == Meaning::Outermost,
            sleeps_apart: r.sleeps_apart,
            members: r.pointer.map(|pointer| GuardMembers {
                pointer,
                within: r.within.unwrap_or_default(),
                owns: r.owns,
            }),
            local_name,
            thread_module,
            examples: r.examples,
            counterexamples: r.counterexamples,
        });
    }
    Ok(out)
}
