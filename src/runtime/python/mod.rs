//! CPython read from memory, read-only: [`locate`] finds the interpreter among the objects a
//! process maps (`_PyRuntime` in the dynamic symbol table of `python3.N` or `libpython3.N`,
//! which stripped builds keep; the version from `Py_Version`, else the object's name) and
//! picks its built-in layout ([`layout`], `versions`: 3.8 to 3.12) or reads it from the
//! interpreter's `_Py_DebugOffsets` (3.13, with the built-in facts beyond them), checked
//! against the symbol's size; [`read`]
//! walks interpreters, thread states and frames through a memory reader (a stopped process or
//! a core), giving each thread's OS tid (before 3.11, from its `struct pthread`, where glibc
//! says), ident, `threading` name (`names`), GIL, Python frames with the locks they refer to,
//! and the asyncio tasks of the loop it runs (`tasks`); for 3.13, what each futex word a
//! thread sleeps on stands for in CPython's parking lot (the lock or thread handle it parks
//! on). [`merge`] places those frames among a thread's native ones. What cannot be read is
//! said in the result's notes; nothing here panics on what memory holds.

mod debug_offsets;
mod fields;
mod frames;
pub mod layout;
pub mod merge;
mod names;
mod objects;
mod tasks;
#[cfg(test)]
mod tests;
mod versions;

use crate::objects::elf::{open_object, ElfFile};
use crate::objects::glibc::pthread_tid_offset;
use crate::objects::AddressSpace;
use crate::runtime::memory::Mem;
pub use crate::runtime::memory::ReadFn;
use layout::{CurrentFrame, GilHolder, Layout};
use object::{Object, ObjectSection, ObjectSymbol};
pub use objects::{LockKind, LockSeen};
use std::collections::HashMap;

/// Python threads read at most.
const MAX_THREADS: usize = 4096;

/// Interpreters (the main one and subinterpreters) read at most.
const MAX_INTERPRETERS: usize = 64;

/// The interpreter found in a process's mappings, ready to be read.
#[derive(Debug, Clone)]
pub struct Located {
    /// The object that holds `_PyRuntime` (its path as the process maps it).
    pub object: String,
    /// `_PyRuntime`'s address in the process.
    pub runtime: u64,
    /// `3.minor.micro`, as far as known.
    pub version: String,
    /// The layout read with.
    pub layout: Layout,
    /// Where the version and layout came from, in words.
    pub how: String,
}

/// A CPython the process runs that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The object that holds it.
    pub object: String,
    /// Why.
    pub why: String,
}

/// One Python frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyFrame {
    /// The code object's qualified name (`Bank.transfer`).
    pub function: String,
    /// Its file (`co_filename`).
    pub file: String,
    /// The line its instruction is at.
    pub line: Option<u32>,
    /// A C call of the eval loop began with this frame: it is the outermost frame that one
    /// `_PyEval_EvalFrameDefault` on the native stack runs.
    pub entry: bool,
    /// The `_thread` locks its locals and value stack refer to.
    pub locks: Vec<LockSeen>,
    /// A method's `self` (its first local), the object it runs on.
    pub this: Option<u64>,
}

/// One thread state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyThread {
    /// The OS thread id (`native_thread_id`).
    pub tid: u64,
    /// The thread's ident (`threading.get_ident()`, its `pthread_t`).
    pub ident: u64,
    /// It holds the GIL.
    pub gil: bool,
    /// Innermost first.
    pub frames: Vec<PyFrame>,
    /// Why its frames stop early, when they do.
    pub cut: Option<String>,
    /// The lock joining it acquires (its `_tstate_lock`), when `threading` made one.
    pub join_lock: Option<LockSeen>,
    /// Its name in `threading` (`threading.current_thread().name`), when it has one there.
    pub name: Option<String>,
    /// The asyncio tasks of the loop it runs.
    pub tasks: Vec<PyTask>,
}

/// One asyncio task of a running loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyTask {
    /// Its name (`Task-1`), when it has one as a string.
    pub name: Option<String>,
    /// Its coroutine's qualified name.
    pub coroutine: String,
    /// The coroutine's file, once started.
    pub file: Option<String>,
    /// The line it awaits at (or runs, when running).
    pub line: Option<u32>,
    /// Where it is.
    pub state: TaskState,
}

/// Where an asyncio task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Created, its coroutine not yet run once (a loop that never gets to it).
    NotStarted,
    /// Suspended at an `await`.
    Awaiting,
    /// The task the loop runs now.
    Running,
}

/// What was read of one CPython process.
#[derive(Debug, Clone)]
pub struct PyProcess {
    /// The interpreter, as located.
    pub located: Located,
    /// Its threads, in the interpreter's order.
    pub threads: Vec<PyThread>,
    /// What could not be read.
    pub notes: Vec<String>,
    /// Pages of memory read, and how long reading took (live: while the process was stopped).
    pub cost: (usize, std::time::Duration),
    /// For each futex word a thread sleeps on, the word its parking-lot wait entry would hold
    /// before it (3.13): what that thread parks on, if it sleeps on such an entry's semaphore
    /// (a lock a frame refers to says whether it does).
    pub parked: HashMap<u64, u64>,
}

/// The CPython the process maps, if any: `Ok` to read, `Err` naming one hangscan cannot read.
/// Reads only the objects' files (before a capture stops anything).
pub fn locate(space: &AddressSpace) -> Option<Result<Located, Unreadable>> {
    let mut tried = std::collections::HashSet::new();
    for map in &space.objects {
        let base = map.name.rsplit('/').next().unwrap_or(&map.name);
        if !(base.starts_with("python3") || base.starts_with("libpython3"))
            || !tried.insert(map.name.clone())
        {
            continue;
        }
        let Ok(file) = open_object(space, map) else {
            continue;
        };
        if let Some(found) = in_object(space, &map.name, &file) {
            return Some(found);
        }
    }
    None
}

/// `_PyRuntime` in `file` (mapped as `name`), with its version and layout.
fn in_object(
    space: &AddressSpace,
    name: &str,
    file: &ElfFile,
) -> Option<Result<Located, Unreadable>> {
    let parsed = file.parse()?;
    let symbol = |wanted: &str| {
        (parsed.dynamic_symbols())
            .chain(parsed.symbols())
            .find(|s| s.name() == Ok(wanted))
    };
    let runtime = symbol("_PyRuntime")?;
    let unreadable = |why: String| {
        Some(Err(Unreadable {
            object: name.to_string(),
            why,
        }))
    };
    // `Py_Version` (3.11 and later), read from the file: the hex version.
    let from_symbol = symbol("Py_Version").and_then(|s| {
        let section = parsed.section_by_index(s.section_index()?).ok()?;
        let bytes = section.data_range(s.address(), 4).ok()??;
        let v = u32::from_le_bytes(bytes.try_into().ok()?);
        Some(((v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8))
    });
    let (version, how) = match from_symbol {
        Some((3, minor, micro)) => (
            (minor, Some(micro)),
            "the version from its Py_Version".to_string(),
        ),
        Some((major, minor, _)) => return unreadable(format!("Python {major}.{minor}")),
        None => match minor_in_name(name) {
            Some(minor) => ((minor, None), "the version from its file name".to_string()),
            None => return unreadable("its version is not known".into()),
        },
    };
    let shown = match version.1 {
        Some(micro) => format!("3.{}.{micro}", version.0),
        None => format!("3.{}", version.0),
    };
    let layout = match layout::for_minor(version.0) {
        Some(l) => l.clone(),
        None if version.0 >= 13 => {
            let offsets = (runtime.section_index())
                .and_then(|i| parsed.section_by_index(i).ok())
                .and_then(|sec| {
                    sec.data_range(runtime.address(), debug_offsets::SIZE as u64)
                        .ok()?
                });
            match offsets.map(|b| debug_offsets::layout(b, version)) {
                Some(Ok(l)) => l,
                Some(Err(why)) => return unreadable(format!("CPython {shown}: {why}")),
                None => {
                    return unreadable(format!(
                        "CPython {shown}: its _Py_DebugOffsets could not be read"
                    ))
                }
            }
        }
        None => {
            return unreadable(format!(
                "CPython {shown}: hangscan reads 3.8 to 3.12 by their built-in layouts and 3.13 \
                 by its _Py_DebugOffsets, no other version yet"
            ))
        }
    };
    if runtime.size() != layout.runtime_size {
        return unreadable(format!(
            "CPython {shown}: its _PyRuntime is {} bytes where {} has {} (a debug or \
             free-threaded build?), so its structures are not read",
            runtime.size(),
            layout.source,
            layout.runtime_size
        ));
    }
    let maps = space.objects.iter().filter(|m| m.name == name);
    let bias = maps.into_iter().find_map(|m| file.bias(m))?;
    Some(Ok(Located {
        object: name.to_string(),
        runtime: runtime.address().wrapping_add(bias),
        version: shown,
        how: format!(
            "{how}, _PyRuntime from its symbol table, {} (its size checked against \
             _PyRuntime's)",
            layout.source
        ),
        layout,
    }))
}

/// Where glibc's `struct pthread` keeps the thread's id, as the libc the process maps says.
fn glibc_tid_offset(space: &AddressSpace) -> Option<u64> {
    (space.objects.iter())
        .filter(|m| {
            let base = m.name.rsplit('/').next().unwrap_or(&m.name);
            base.starts_with("libc.so")
                || base.starts_with("libc-")
                || base.starts_with("libpthread")
        })
        .find_map(|m| pthread_tid_offset(&open_object(space, m).ok()?))
}

/// `N` in `python3.N` or `libpython3.N.so…`.
fn minor_in_name(name: &str) -> Option<u8> {
    let base = name.rsplit('/').next()?;
    let rest = base
        .strip_prefix("lib")
        .unwrap_or(base)
        .strip_prefix("python3.")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads the interpreter `at` through `read` (the process's memory, stopped, or a core's), the
/// files of `space` standing in for memory `read` lacks; at most `max_frames` a thread.
/// `futexes` are the words the process's threads sleep on.
pub fn read(
    at: &Located,
    read: ReadFn<'_>,
    space: &AddressSpace,
    max_frames: usize,
    futexes: &[u64],
) -> PyProcess {
    let began = std::time::Instant::now();
    let mem = Mem::new(read, space);
    let l = &at.layout;
    let objects = objects::Objects::new(&mem, l);
    let mut walker = frames::Walker::new(&objects);
    let mut notes = Vec::new();
    let mut threads = Vec::new();
    let gil_tstate = |interp: u64| -> Option<u64> {
        match l.gil {
            GilHolder::Runtime(off) => mem.u64(at.runtime + off),
            GilHolder::Interp {
                gil,
                last_holder,
                locked,
            } => {
                let g = mem.u64(interp + gil)?;
                (mem.i32(g + locked)? != 0).then(|| mem.u64(g + last_holder))?
            }
            GilHolder::InterpInline {
                locked,
                last_holder,
            } => (mem.i32(interp + locked)? != 0).then(|| mem.u64(interp + last_holder))?,
        }
    };
    // Before 3.11 a thread state holds no OS id: it is in the thread's `struct pthread` (its
    // ident), where glibc says.
    let pthread_tid = match l.tstate_native_thread_id {
        Some(_) => None,
        None => {
            let found = glibc_tid_offset(space);
            if found.is_none() {
                notes.push(format!(
                    "CPython {}'s threads are matched to OS threads through glibc's thread \
                     descriptors, and no mapped libc says where they keep the thread's id",
                    at.version
                ));
            }
            found
        }
    };
    let mut interp = mem
        .u64(at.runtime + l.runtime_interpreters_head)
        .unwrap_or(0);
    let mut interps = std::collections::HashSet::new();
    while interp != 0 && interps.len() < MAX_INTERPRETERS {
        if !interps.insert(interp) {
            notes.push("the interpreters loop (read while they changed?)".into());
            break;
        }
        let holder = gil_tstate(interp).unwrap_or(0);
        let mut tstate = mem.u64(interp + l.interp_threads_head).unwrap_or(0);
        let mut seen = std::collections::HashSet::from([tstate]);
        while tstate != 0 {
            if threads.len() >= MAX_THREADS {
                notes.push(format!(
                    "more than {MAX_THREADS} Python threads: the rest not read"
                ));
                break;
            }
            let Some(ident) = mem.u64(tstate + l.tstate_thread_id) else {
                notes.push(format!("thread state at {tstate:#x} could not be read"));
                break;
            };
            let tid = match (l.tstate_native_thread_id, pthread_tid) {
                (Some(at), _) => mem.u64(tstate + at),
                (None, Some(at)) => ident
                    .checked_add(at)
                    .and_then(|a| mem.i32(a))
                    .and_then(|t| u64::try_from(t).ok()),
                (None, None) => None,
            }
            .unwrap_or(0);
            let first = match l.current_frame {
                CurrentFrame::CFrame { cframe, current } => {
                    mem.u64(tstate + cframe).and_then(|c| mem.u64(c + current))
                }
                CurrentFrame::Direct(at) => mem.u64(tstate + at),
            }
            .unwrap_or(0);
            let (frames, cut) = walker.walk(first, max_frames);
            let join_lock = (l.tstate_on_delete_data)
                .and_then(|at| mem.u64(tstate + at))
                .filter(|&w| w != 0)
                .and_then(|w| objects.tstate_lock(w));
            threads.push(PyThread {
                tid,
                ident,
                gil: tstate == holder,
                frames,
                cut,
                join_lock,
                name: None,
                tasks: Vec::new(),
            });
            tstate = mem.u64(tstate + l.tstate_next).unwrap_or(0);
            if !seen.insert(tstate) {
                notes.push("the thread states loop (read while they changed?)".into());
                break;
            }
        }
        interp = mem.u64(interp + l.interp_next).unwrap_or(0);
    }
    if let (Some(n), Some(globals)) = (&l.names, walker.threading) {
        let mut names = names::thread_names(&objects, n, globals);
        for t in &mut threads {
            t.name = names.remove(&t.ident);
        }
    }
    if let (Some(n), Some(a), Some(globals)) = (&l.names, &l.asyncio, walker.base_events) {
        let mut tasks = tasks::running_tasks(&objects, &mut walker, (n, a), globals);
        for t in &mut threads {
            t.tasks = tasks.remove(&t.ident).unwrap_or_default();
        }
    }
    if threads.is_empty() {
        notes.push(
            "no Python thread could be read (an interpreter starting or finalizing, or its \
             memory not readable)"
                .into(),
        );
    }
    if mem.exhausted() {
        notes.push("the reads allowed ran out: what was read is partial".into());
    }
    let parked = match l.parking_lot {
        Some(p) => (futexes.iter())
            .filter_map(|&w| {
                let entry = w.checked_add_signed(p.entry_addr)?;
                Some((w, mem.u64(entry).filter(|&a| a != 0)?))
            })
            .collect(),
        None => HashMap::new(),
    };
    PyProcess {
        located: at.clone(),
        threads,
        notes,
        cost: (mem.pages(), began.elapsed()),
        parked,
    }
}
