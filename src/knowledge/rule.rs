//! One compiled rule: what its pattern is matched against ([`Subject`]), what a match means
//! ([`Meaning`]), and what else it says. The kinds of wait and their meanings are in `kind.rs`,
//! the TOML a pack is written in and its checks in `pack.rs`. See `packs/*.toml` for the format
//! in use.

use super::lockword::OwnerWord;
use super::pattern::Pattern;
use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

mod kind;
mod pack;

pub use kind::{KindMeaning, Release, WaitKind};
pub use pack::{parse_capture_rules, parse_pack, Source};

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
