//! The Snapshot: the one model every producer fills (text dumps today, live capture and core
//! files later) and everything downstream reads. Data only: no I/O, no analysis, no rendering,
//! and nothing imported from the rest of the crate.

use serde::{Deserialize, Serialize};

mod frame;
mod gap;
mod process;
pub use frame::{
    is_system_library, Frame, FrameTrust, GuardHold, Language, Printed, Var, VarRead,
    SYSTEM_LIBRARY_DIRS,
};
pub use gap::Gap;
pub use process::{
    Access, Channel, ChannelEnd, FdKind, FileLock, OpenFd, OtherProcess, PipeEnd, ProcessFacts,
    SocketPeer,
};

/// Text a dump repeats (function names, files, modules, variables): shared, so that one copy
/// serves every frame that prints it. Reads like `&str` (it derefs to one); make one with
/// `.into()` from a `&str` or a `String`.
pub type Text = std::sync::Arc<str>;

/// One process as a producer saw it: its threads, their stacks, and what could not be read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Which producer filled it (`gdb`, `rr`, ...).
    pub producer: String,
    /// Where it came from (a file path, `-` for stdin, a pid).
    pub origin: String,
    /// The process id, when the input names it.
    pub pid: Option<u32>,
    /// True when the input claims to show every thread of the process (`thread apply all bt`,
    /// a live capture); false for a lone `bt` or an excerpt. Only a complete view can prove
    /// that *nothing* can move.
    pub complete: bool,
    /// What the input shows is missing, or may be (a stack it ends inside): the reasons
    /// `complete` is false, with where they are seen. Empty for a whole capture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// Every thread, in input order.
    pub threads: Vec<Thread>,
    /// Values read from the target's memory while it was stopped (mutex owner fields, ...).
    pub evidence: Vec<Evidence>,
    /// What could not be read, with where and why.
    pub diagnostics: Vec<Diagnostic>,
    /// What the runtime that wrote the dump concluded by itself (the JVM's "Found one
    /// Java-level deadlock", Go's "all goroutines are asleep", parking_lot's "deadlocks
    /// detected"). Cross-checked by the analysis, never trusted blindly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
    /// What the kernel said of the process's ties to other processes (live capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessFacts>,
}

/// A verdict the dump's own runtime printed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    /// What it says, as printed (one line, untrusted text).
    pub text: String,
    /// The threads it names, as the dump names them (a name, a tid, a goroutine id); empty
    /// when it speaks of the whole process.
    pub threads: Vec<String>,
    /// Whether it says the process is deadlocked (as opposed to a warning or a note).
    pub deadlock: bool,
    /// 1-based input line.
    pub line: Option<usize>,
}

/// One thread.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Thread {
    /// The OS thread id (LWP), when the input gives it.
    pub tid: Option<u64>,
    /// The thread's id inside the process's own PID namespace (a container seen from the
    /// host), when it differs from `tid`: the id the process's memory holds (lock owners,
    /// futex words, join targets). Absent: no namespace, the ids are `tid`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_tid: Option<u64>,
    /// True when the process lives in a PID namespace whose id for this thread is not known (a
    /// `gcore` core taken from the host: gdb writes host ids, the process's memory holds the
    /// namespace's), so an id read from memory cannot be matched to this thread for sure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ns_tid_unknown: bool,
    /// The process the thread belongs to, when the input names it per thread (rr's and
    /// gdbserver's `Thread PID.TID`).
    pub process: Option<u32>,
    /// The producer's own id for the thread (gdb's thread number, a goroutine id); what it
    /// is says `id_kind`.
    pub debugger_id: Option<String>,
    /// What kind of id `debugger_id` is.
    #[serde(default, skip_serializing_if = "IdKind::is_default")]
    pub id_kind: IdKind,
    /// The `pthread_t` value (gdb's `Thread 0x7f..`), used to resolve `pthread_join` targets.
    pub pthread: Option<u64>,
    /// The thread's name, as the input gives it (untrusted text).
    pub name: Option<String>,
    /// The kernel's scheduling state, when known.
    pub state: KernelState,
    /// The runtime's own word for what the thread is doing, as printed: a Go wait reason
    /// (`chan receive`), a Java state (`BLOCKED (on object monitor)`), py-spy's `idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// How long the runtime says the thread has been in that state, in minutes (Go's
    /// `[chan receive, 5 minutes]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_minutes: Option<u64>,
    /// Lines the dump attaches to the thread as a whole (Java's locked ownable synchronizers,
    /// Go's `created by`), as printed without list markers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The thread the debugger had selected.
    pub current: bool,
    /// Innermost frame first.
    pub frames: Vec<Frame>,
    /// True when only part of the stack is known (an `info threads` row, a cut excerpt).
    pub partial: bool,
    /// What the kernel said about the thread (live capture and core files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelInfo>,
    /// Why the stack ends early, when the unwinder stopped before the thread's first frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwind_error: Option<String>,
    /// Why the unwinder's walk ended (live capture and cores; `unwind_error` says it in words
    /// when the walk ended early). Absent for stacks a dump printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwind_stop: Option<StopReason>,
    /// Which of the snapshot's `stack-locks` (the waited-on locks in no object's image: the
    /// heap, anonymous memory, a stack) the thread's live stack points at, sorted (live capture
    /// and cores): every word from its stack pointer to the top of its stack (a goroutine's:
    /// to `g.stack.hi`) and its registers at the stop, a word pointing at a lock when it is the
    /// lock's address or lies shortly before it (a pointer to the struct holding it); a lock
    /// inside the stack itself counts too. Absent when its stack was not read whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_refs: Option<Vec<u64>>,
}

/// Why an unwinder's walk of a stack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// At the thread's first frame: the unwind data, a zero return address or a zero frame
    /// pointer says there is no caller. The whole stack.
    Outermost,
    /// At the limit of frames a thread.
    FrameLimit,
    /// The thread's registers (or the pc and stack pointer among them) are not known.
    NoRegisters,
    /// A pc lies outside every mapped object.
    OutsideObjects,
    /// Neither the unwind data nor a frame pointer led to the caller.
    NoCaller,
    /// The caller's frame is not above the callee's (a loop, or garbage).
    CfaNotIncreasing,
    /// A signal frame could not be read, or they nest past the limit.
    SignalFrame,
    /// The walk needed stack beyond what was copied (`--stack-bytes` would reach further) or
    /// what a truncated core holds.
    StackCut,
    /// The unwinder failed (a bug, kept from taking hangscan down).
    Internal,
}

/// Per-thread facts from the kernel: `/proc/PID/task/TID/*` and the registers at the stop.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct KernelInfo {
    /// Where the kernel has the thread sleeping (`/proc/.../wchan`), when it says.
    pub wchan: Option<String>,
    /// The system call the thread was blocked in when it was stopped.
    pub syscall: Option<Syscall>,
    /// The futex wait the thread was blocked in, decoded from the system call.
    pub futex: Option<FutexWait>,
    /// CPU time used between the two samples, in clock ticks.
    pub cpu_ticks_delta: Option<u64>,
    /// Times the thread was scheduled (context switches) between the two samples.
    pub switches_delta: Option<u64>,
    /// Who keeps the thread stopped, when it is (live capture: read before hangscan's own
    /// stop, which is not one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<StoppedBy>,
    /// What the second look showed of the thread: a live capture's `/proc` sample taken while
    /// the stacks were unwound, compared with the one taken just before the stop. Absent when
    /// there was none (`--samples 1`, a core, a dump; a diagnostic says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_look: Option<ThreadLook>,
}

/// What one thread did between the sample before the stop and the second look after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadLook {
    /// Milliseconds between the two samples.
    pub interval_ms: u64,
    /// CPU time it used, in microseconds.
    pub cpu_us: u64,
    /// Times it went to sleep by itself (voluntary context switches), less the two that
    /// hangscan's own stop and resume cause a thread it stopped.
    pub voluntary: u64,
    /// Times it was preempted (involuntary context switches).
    pub involuntary: u64,
    /// Its scheduling state at the second look.
    pub state: KernelState,
    /// Whether it sat in the same system call with the same arguments at the stop and at the
    /// second look (`/proc/.../syscall`; for a thread in uninterruptible sleep, the same
    /// `wchan`). Asked only for a thread the counters saw do nothing (one asleep again with no
    /// switch never left its wait: going to sleep in another is a switch); absent when not
    /// asked, when it was in no system call at the stop, or when it could not be read.
    pub same_wait: Option<bool>,
}

/// Who keeps a stopped thread stopped, and so what resumes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum StoppedBy {
    /// A stop signal (SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU; `T` in `/proc`): a group stop,
    /// which SIGCONT ends.
    Signal,
    /// A tracer, such as a debugger (`t` in `/proc`): the thread runs again when the tracer
    /// continues or detaches it.
    Tracer {
        /// The tracer's process id (0: not known, it let go meanwhile).
        pid: u32,
        /// The tracer's name, when known (untrusted text).
        name: Option<String>,
    },
}

impl KernelInfo {
    /// True when the thread ran between the two samples (it is busy, not stuck).
    pub fn progressed(&self) -> bool {
        self.cpu_ticks_delta.is_some_and(|d| d > 0)
    }
}

/// A system call and its arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Syscall {
    /// The architecture's system call number.
    pub number: u64,
    /// Its name, when known (`futex`, `read`, ...).
    pub name: Option<String>,
    /// The six argument registers.
    pub args: [u64; 6],
}

impl Syscall {
    /// Whether the call was given a timeout, by its arguments (Linux x86_64 ABI): a futex
    /// wait's timeout pointer, `poll`'s and `epoll_wait`'s milliseconds (-1 is none),
    /// `select`'s and `pselect6`'s timeout pointer. Sleeps are timed by what they are.
    pub fn has_timeout(&self) -> bool {
        let [_, _, third, fourth, fifth, _] = self.args;
        match self.name.as_deref() {
            Some("futex") => fourth != 0,
            Some("poll") => third as i32 >= 0,
            Some("epoll_wait") => fourth as i32 >= 0,
            Some("select" | "pselect6") => fifth != 0,
            _ => false,
        }
    }
}

/// A `futex(2)` wait: the word's address, the operation and the value waited on.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FutexWait {
    /// The futex word's address (for a glibc mutex, the mutex itself).
    pub address: u64,
    /// The futex operation, without the private flag.
    pub op: u32,
    /// The value the thread waits to change (for a glibc join: the joined thread's tid).
    pub value: u32,
}

/// What a thread's `debugger_id` is.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IdKind {
    /// A debugger's thread number (gdb, lldb) or a tool's index.
    #[default]
    Debugger,
    /// A Go goroutine id.
    Goroutine,
    /// A Java thread's `#N` number.
    Java,
    /// A Python thread ident (`threading.get_ident()`, the pthread_t).
    Python,
}

impl IdKind {
    fn is_default(&self) -> bool {
        *self == Self::Debugger
    }

    /// The word a label puts before the id.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Debugger => "thread",
            Self::Goroutine => "goroutine",
            Self::Java => "java thread",
            Self::Python => "python thread",
        }
    }
}

impl Thread {
    /// A short human label: `25.43 "executor-pri3-1"`, `LWP 4242 "worker"`, `thread 3`,
    /// `goroutine 17`.
    pub fn label(&self) -> String {
        let id = match (self.tid, &self.debugger_id) {
            (Some(t), _) if self.process.is_some() => format!("{}.{t}", self.process.unwrap_or(0)),
            (Some(t), _) => format!("LWP {t}"),
            (None, Some(d)) => format!("{} {d}", self.id_kind.noun()),
            (None, None) => "unidentified thread".to_string(),
        };
        match &self.name {
            Some(n) => format!("{id} \"{n}\""),
            None => id,
        }
    }

    /// Whether this is the thread a runtime's claim calls `name`: its name, OS tid, tid in its
    /// PID namespace (as the runtime saw it), or the dump's own id.
    pub fn answers_to(&self, name: &str) -> bool {
        let name = name.trim();
        self.name.as_deref() == Some(name)
            || self.debugger_id.as_deref() == Some(name)
            || [self.tid, self.ns_tid]
                .into_iter()
                .flatten()
                .any(|tid| tid.to_string() == name)
    }
}

/// Kernel scheduling state of a thread (`/proc/PID/task/TID/stat`), or unknown for text dumps.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KernelState {
    /// Not known (text dumps do not say).
    #[default]
    Unknown,
    /// R: running or runnable.
    Running,
    /// S: interruptible sleep.
    Sleeping,
    /// D: uninterruptible sleep (usually I/O).
    DiskSleep,
    /// T or t: stopped.
    Stopped,
    /// Z: zombie.
    Zombie,
}

/// A fact read from the target's memory (or printed from it by a debugger).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// The owner field of a lock: glibc `pthread_mutex_t.__owner` is the holder's tid.
    LockOwner {
        /// The lock's address.
        address: u64,
        /// The owner's OS thread id (0: unlocked, or not given: see `owner_name`).
        owner_tid: u64,
        /// The owner named only by its thread's name, when the source gives no id (the JVM's
        /// deadlock report about a thread the dump lists with no id): the one thread of that
        /// name, none when names repeat.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner_name: Option<String>,
        /// Where it was read (e.g. `p *mutex` in the dump, line 120).
        source: String,
        /// Only a runtime's own deadlock report says so (the JVM's `which is held by`), not the
        /// dump's own statement of the thread: a claim, graded by what the dump itself shows.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_claim: bool,
    },
    /// The process's parent and its threads, as the process's PID namespace numbers them, read
    /// from `/proc` at capture: a lock whose owner field names one of them was copied locked
    /// into this process by `fork`.
    ParentThreads {
        /// The parent's pid (as hangscan sees it).
        pid: u32,
        /// Its threads' ids.
        tids: Vec<u64>,
    },
    /// A data object of the process (a global, a static, a C++ guard variable) whose bytes
    /// hold an address the rules look at (a word threads wait on, a lock a guard holds), named
    /// by its object's symbol table (live capture and cores): an address inside it is
    /// `name+offset`, as gdb prints `<name+offset>` after an address.
    DataSymbol {
        /// Its first byte.
        address: u64,
        /// Its size in bytes.
        size: u64,
        /// Its name, demangled (`stats_lock`, `guard variable for config()::c`).
        name: String,
    },
    /// The locks the capture looked for on every thread's stack (`Thread::stack_refs`): the
    /// words threads wait on (and a Go runtime's semaphores and the mutexes around them) that
    /// lie in no object's image, sorted.
    StackLocks {
        /// Their addresses.
        addresses: Vec<u64>,
    },
    /// Bytes read from the target's memory while it was stopped (around each futex word), for
    /// the rules to interpret (a mutex's owner field).
    Memory {
        /// Where the bytes start.
        address: u64,
        /// The bytes, as hex in JSON.
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
}

impl Snapshot {
    /// Threads (indexes into `threads`) by the id the process's memory holds for them: the
    /// namespace's `ns_tid`, else the `tid`.
    pub fn by_memory_tid(&self) -> std::collections::HashMap<u64, usize> {
        let mut by = std::collections::HashMap::with_capacity(self.threads.len());
        by.extend(
            self.threads
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.ns_tid.or(t.tid).map(|id| (id, i))),
        );
        by
    }

    /// The data symbol that holds `address`, as gdb names it: `name`, or `name+offset`
    /// (decimal) inside it.
    pub fn data_symbol(&self, address: u64) -> Option<String> {
        self.evidence.iter().find_map(|e| match e {
            Evidence::DataSymbol {
                address: start,
                size,
                name,
            } => match address.checked_sub(*start)? {
                0 => Some(name.clone()),
                off if off < *size => Some(format!("{name}+{off}")),
                _ => None,
            },
            _ => None,
        })
    }

    /// A little-endian u32 read from the memory evidence, if it covers `address..address+4`.
    pub fn read_u32(&self, address: u64) -> Option<u32> {
        self.evidence.iter().find_map(|e| match e {
            Evidence::Memory {
                address: start,
                bytes,
            } => {
                let off = address.checked_sub(*start)? as usize;
                let b = bytes.get(off..off.checked_add(4)?)?;
                Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => None,
        })
    }
}

/// Serde helpers: bytes as a hex string.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Something a producer could not read, kept so the report can say what it skipped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Diagnostic {
    /// 1-based input line, when it applies.
    pub line: Option<usize>,
    /// What happened, in words a person can act on.
    pub message: String,
}
