//! A frame of a stack as the model keeps it: what a dump printed or the unwinder and
//! symbolizer found (function, file:line, module, its arguments and locals as printed or read,
//! the guards it holds, how it was found), and whether it runs in a system library.

use super::Text;
use serde::{Deserialize, Serialize};

/// How an unwinder found a frame, which says how far to trust it: a frame found by frame
/// pointers through code that keeps none may be a wrong caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FrameTrust {
    /// The thread's own registers (its context): the innermost frame.
    Context,
    /// The callee's DWARF call frame information.
    Cfi,
    /// The callee's frame-pointer chain.
    FramePointer,
    /// The callee's stack depth in a Go binary's pclntab (`pcsp`), where no CFI covers it.
    Pclntab,
    /// The registers the kernel saved in a signal frame: the code a signal interrupted.
    Signal,
}

/// One stack frame. Text producers fill what the dump prints; nothing is invented.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Frame {
    /// The frame number as printed (`#12`), if any.
    pub index: Option<u32>,
    /// The program counter, when printed.
    pub address: Option<u64>,
    /// The function as printed (demangled when the input was), `None` for `??`.
    pub function: Option<Text>,
    /// Arguments as printed: `name=value`. Shared: a dump's alike threads repeat their frames
    /// word for word, and a frame read once is copied to each.
    pub args: std::sync::Arc<[Var]>,
    /// Source file.
    pub file: Option<Text>,
    /// Source line.
    pub line: Option<u32>,
    /// The object file (`from /lib/libc.so.6`).
    pub module: Option<Text>,
    /// An inlined frame: it shares the pc of the next real frame.
    pub inlined: bool,
    /// The `<signal handler called>` marker: frames above it run inside a signal handler.
    pub signal_frame: bool,
    /// Locals from `bt full`.
    pub locals: Vec<Var>,
    /// Lines the dump attaches to this frame, as printed without list markers: Java's
    /// `locked <0x…> (a java.lang.Object)`, `waiting to lock <0x…>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why the function, file and line are not to be trusted, when they are not: the object's
    /// file was replaced or changed after the process started, so it may not hold the code the
    /// process runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untrusted: Option<String>,
    /// How the unwinder found the frame (live capture and cores); absent for frames a dump
    /// printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<FrameTrust>,
    /// Values a debugger printed right after this frame was shown (gdb's `$1 = {...}` after
    /// `frame 3`), as printed: the rules read lock owners from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub printed: Vec<Printed>,
    /// The managed language whose frame this is, read from its runtime's memory (a Python
    /// function CPython runs), placed among the native frames where the runtime's
    /// interpreter runs it; absent for a native frame or one a dump printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Which of the snapshot's `data-symbol` objects the frame's function names in its code
    /// (live capture and cores, and dumps read with the program file, `parse --binary`): the start of each one a RIP-relative operand of the function
    /// points into, directly or through a GOT slot or a data word holding its address. Present
    /// only when the function's code was scanned for every such object (shared by the frames
    /// of one function); absent when it could not be (no symbol size, no code bytes, a dump).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refs: Option<std::sync::Arc<Vec<u64>>>,
    /// The pc's offset from its function's entry, as Go's traceback prints it (`+0x6f`): with
    /// the program file (`parse --binary`), a frame whose offset lies past its function's end
    /// shows the file is another build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pc_offset: Option<u64>,
}

/// A managed language whose frames a runtime keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Language {
    /// A Python function (or a C method CPython called from one), read from the interpreter.
    Python,
    /// A Go function on a goroutine's stack, read from the Go runtime's memory.
    Go,
}

/// A value a debugger printed, with the input line it was printed at.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Printed {
    /// 1-based input line.
    pub line: usize,
    /// The text, as printed (`$1 = {__data = {__lock = 2, ... __owner = 8, ...}}`).
    pub text: String,
}

/// Where shared libraries of the system live (`/usr/lib/…`, `/lib64/…`): their frames are
/// never the program's own.
pub const SYSTEM_LIBRARY_DIRS: &[&str] = &["/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"];

/// Whether the object at `path` (as the target names it) is a shared library of the system.
pub fn is_system_library(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    SYSTEM_LIBRARY_DIRS.iter().any(|d| path.starts_with(d)) && file.contains(".so")
}

impl Frame {
    /// Adds an argument (the shared list is copied: for producers that find a few one by one).
    pub fn push_arg(&mut self, var: Var) {
        let mut args = self.args.to_vec();
        args.push(var);
        self.args = args.into();
    }

    /// Whether the frame is known to run in a shared library of the system (its object is
    /// named and lives where the system keeps them).
    pub fn in_system_library(&self) -> bool {
        self.module.as_deref().is_some_and(is_system_library)
    }

    /// The value of the argument called `name`; `#N` is the N-th argument (0-based), for
    /// formats that print arguments by position (Go).
    pub fn arg(&self, name: &str) -> Option<&str> {
        let found = match name.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => self.args.get(n),
            None => self.args.iter().find(|a| &*a.name == name),
        };
        found.map(|a| &*a.value)
    }
}

/// A named value: an argument or a local.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Var {
    /// The name.
    pub name: Text,
    /// The value, as printed (read from memory: a scalar's value, else empty).
    pub value: Text,
    /// What reading it from the target's memory found (live capture and cores): boxed, so a
    /// dump's many locals stay small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Box<VarRead>>,
}

impl Var {
    /// A variable as printed: its name and value text.
    pub fn new(name: Text, value: Text) -> Var {
        Var {
            name,
            value,
            read: None,
        }
    }
}

/// A variable read from memory through its DWARF location and type.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VarRead {
    /// Its type, as DWARF names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<Text>,
    /// Where it lives in memory (none for a value kept in a register or computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<u64>,
    /// Why its value could not be read (optimized out, a register the unwind did not recover,
    /// memory not copied); none when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// A lock this variable (an RAII guard) proves its thread holds: read from the guard's
    /// bytes by a `guard` rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<GuardHold>,
}

/// A lock held through a guard variable.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GuardHold {
    /// The address of the lock's futex word (what its waiters wait on).
    pub lock: u64,
    /// The words of the further locks it holds, when it holds several (a `std::scoped_lock`
    /// of two mutexes), after `lock`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<u64>,
    /// The rule that read it.
    pub rule: String,
}

impl GuardHold {
    /// Every lock it holds: `lock`, then `also`.
    pub fn locks(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.lock).chain(self.also.iter().copied())
    }
}
