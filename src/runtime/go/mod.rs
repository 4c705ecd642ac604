//! Go read from memory, read-only: [`locate`] finds the runtime in a process's executable
//! (`runtime.allgs` in its symbol table, which Go keeps unless stripped) and the offsets of
//! its structures in the binary's DWARF ([`layout`]); [`read`] walks the goroutines through a
//! memory reader (a stopped process, or a core): each one's id, status or wait reason (the
//! runtime's `waitReasonStrings`), its stack unwound from its saved registers (`g.sched`) by
//! frame pointers, the semaphore it sleeps on (the sudogs of `runtime.semtable`: a
//! `sync.Mutex`'s, a `WaitGroup`'s) and the channel it sends to or receives from (its one
//! sudog, `g.waiting`: a `select` of several cases has one a case, and names none), and how
//! long it has waited (`g.waitsince` against the runtime's clock at capture, [`clock`]). [`merge`]
//! makes them threads of the snapshot, named by the stackwalk's symbolizer. What cannot be
//! read is said in the result's notes; nothing here panics on what memory holds.

pub mod layout;
pub mod merge;

#[cfg(test)]
mod tests;

use crate::objects::elf::open_object;
use crate::objects::AddressSpace;
use crate::runtime::memory::{Mem, ReadFn};
use crate::runtime::pointers;
use layout::Layout;
use object::{Object, ObjectSymbol};
use std::collections::{HashMap, HashSet};

/// Goroutines read at most.
const MAX_GOROUTINES: u64 = crate::limits::MAX_THREADS as u64;

/// The buckets of `runtime.semtable` (`semTabSize`, the same since Go 1.0).
const SEMTAB_SIZE: u64 = 251;

/// Sudogs visited at most in the semaphore table.
const MAX_SUDOGS: usize = 1 << 20;

/// The scan bit `atomicstatus` may carry beside the status (`_Gscan`).
const SCAN: u32 = 0x1000;

/// The runtime found in a process's executable, ready to be read.
#[derive(Debug, Clone)]
pub struct Located {
    /// The object that holds it (its path as the process maps it).
    pub object: String,
    /// The addresses in the process of `runtime.allgs` (a slice), `runtime.allglen`,
    /// `runtime.buildVersion` (a string).
    pub allgs: u64,
    /// See `allgs`.
    pub allglen: u64,
    /// See `allgs`.
    pub version: Option<u64>,
    /// `runtime.waitReasonStrings` (an array of strings): its address and length.
    pub reasons: Option<(u64, u64)>,
    /// `runtime.semtable`: its address and size.
    pub semtable: Option<(u64, u64)>,
    /// The structures' offsets.
    pub layout: Layout,
}

/// A Go program that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The executable.
    pub object: String,
    /// Why.
    pub why: String,
}

/// One goroutine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goroutine {
    /// Its id (`goid`).
    pub id: u64,
    /// Its status as Go's own dump prints it: the wait reason of a waiting goroutine
    /// (`semacquire`, `chan receive`), else `runnable`, `running`, `syscall`…
    pub status: String,
    /// Its stack's program counters, innermost first: the saved pc, then return addresses.
    pub pcs: Vec<u64>,
    /// Each of those frames' first argument word, as Go's traceback prints it: the spill slot
    /// of its first register argument, just above its return address (16 bytes above its frame
    /// pointer); `None` where it could not be read. A register argument the function never
    /// spilled leaves a stale word there (Go's dump marks it `?`): only functions known to
    /// spill it are read (`merge`).
    pub first_args: Vec<Option<u64>>,
    /// Why its stack stops early, or was not read.
    pub cut: Option<String>,
    /// The semaphore word it sleeps on (`semacquire`'s address).
    pub sema: Option<u64>,
    /// The words of its stack, from its saved stack pointer to its top, that point at or
    /// shortly before a semaphore some goroutine sleeps on (`runtime::pointers`: the struct
    /// around the semaphore is the lock); `None` when its stack was not read whole (running,
    /// too deep, unreadable) or no goroutine sleeps on a semaphore.
    pub stack_words: Option<Vec<u64>>,
    /// The channel (`hchan`) it is parked sending to or receiving from.
    pub chan: Option<u64>,
    /// The pc of the `go` statement that created it (none for the main goroutine).
    pub created_by: Option<u64>,
    /// The OS thread running it (its M's `procid`, in the process's PID namespace), when it
    /// runs or is in a system call: its stack is that thread's.
    pub tid: Option<u64>,
    /// The id of the P its M holds (running Go code; a system call's M has given its P up).
    pub p: Option<u32>,
    /// The whole minutes it has waited or been in a system call, as Go's dump prints them
    /// (only from one minute, [`waited_minutes`]).
    pub waited_minutes: Option<u64>,
}

/// What was read of one Go process.
#[derive(Debug, Clone)]
pub struct GoProcess {
    /// The runtime, as located.
    pub located: Located,
    /// `runtime.buildVersion` (`go1.19.8`), when read.
    pub version: Option<String>,
    /// Its goroutines, in `allgs`' order (dead ones left out).
    pub goroutines: Vec<Goroutine>,
    /// What could not be read.
    pub notes: Vec<String>,
    /// Pages of memory read, and how long reading took (live: while the process was stopped).
    pub cost: (usize, std::time::Duration),
}

/// The Go runtime in the process's main executable, if it has one: `Ok` to read, `Err` saying
/// why it cannot be. Reads only the file (before a capture stops anything).
pub fn locate(space: &AddressSpace) -> Option<Result<Located, Unreadable>> {
    let mut tried = HashSet::new();
    for map in &space.objects {
        if !map.executable || !tried.insert(map.name.clone()) {
            continue;
        }
        let Ok(file) = open_object(space, map) else {
            continue;
        };
        let Some(parsed) = file.parse() else { continue };
        let symbols: HashMap<&str, (u64, u64)> = parsed
            .symbols()
            .filter_map(|s| {
                let n = s.name().ok()?;
                n.starts_with("runtime.")
                    .then(|| (n, (s.address(), s.size())))
            })
            .collect();
        let (Some(allgs), Some(allglen)) =
            (symbols.get("runtime.allgs"), symbols.get("runtime.allglen"))
        else {
            // A Go binary stripped of its symbols still names itself by these sections.
            if (crate::objects::gopclntab::SECTIONS
                .iter()
                .chain(&[".go.buildinfo"]))
            .any(|s| parsed.section_by_name(s).is_some())
            {
                return Some(Err(Unreadable {
                    object: map.name.clone(),
                    why: "the binary has no symbol table (stripped, -s), so runtime.allgs, \
                          the list of its goroutines, is not found (its threads' frames are \
                          placed from its pclntab: functions, file:line, inlined calls)"
                        .into(),
                }));
            }
            continue;
        };
        let layout = match layout::from_dwarf(&parsed) {
            Ok(l) => l,
            Err(why) => {
                return Some(Err(Unreadable {
                    object: map.name.clone(),
                    why,
                }))
            }
        };
        let maps = space.objects.iter().filter(|m| m.name == map.name);
        let bias = maps.into_iter().find_map(|m| file.bias(m))?;
        let at = |name: &str| symbols.get(name).map(|&(a, n)| (a.wrapping_add(bias), n));
        return Some(Ok(Located {
            object: map.name.clone(),
            allgs: allgs.0.wrapping_add(bias),
            allglen: allglen.0.wrapping_add(bias),
            version: at("runtime.buildVersion").map(|a| a.0),
            reasons: at("runtime.waitReasonStrings"),
            semtable: at("runtime.semtable"),
            layout,
        }));
    }
    None
}

/// The runtime's clock (`nanotime`, which is CLOCK_MONOTONIC on Linux) in process `pid` now:
/// ours, moved by the offset of its time namespace from ours (`/proc/PID/timens_offsets`,
/// none before Linux 5.6).
pub fn clock(pid: i32) -> Option<u64> {
    let ours = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let offset = |who: &str| -> i128 {
        let text = std::fs::read_to_string(format!("/proc/{who}/timens_offsets"));
        let line = text.ok().and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("monotonic"))?;
            let mut words = line.split_whitespace().skip(1).map(str::parse::<i128>);
            Some((words.next()?.ok()?, words.next()?.ok()?))
        });
        line.map_or(0, |(secs, nanos)| secs * 1_000_000_000 + nanos)
    };
    let now = i128::from(ours.tv_sec()) * 1_000_000_000 + i128::from(ours.tv_nsec());
    u64::try_from(now + offset(&pid.to_string()) - offset("self")).ok()
}

/// The whole minutes from `since` to `now` (both the runtime's clock, in nanoseconds), as
/// Go's dump prints a wait: none under a minute, none for a wait no garbage collection has
/// seen yet (`since` 0: the runtime stamps a wait only when a collection finds it blocked),
/// none for a stamp ahead of the clock.
pub fn waited_minutes(since: u64, now: u64) -> Option<u64> {
    let minutes = now.checked_sub(since).filter(|_| since != 0)? / 60_000_000_000;
    (minutes >= 1).then_some(minutes)
}

/// Reads the goroutines of the runtime `at` through `read` (the process's memory, stopped, or
/// a core's), the files of `space` standing in for memory `read` lacks; at most `max_frames`
/// a goroutine. `now` is the runtime's clock when the memory was taken ([`clock`]), which times
/// the goroutines' waits; none (a core) leaves them untimed, said when one was stamped.
pub fn read(
    at: &Located,
    read: ReadFn<'_>,
    space: &AddressSpace,
    max_frames: usize,
    now: Option<u64>,
) -> GoProcess {
    let began = std::time::Instant::now();
    let mem = Mem::new(read, space);
    let l = &at.layout;
    let mut notes = Vec::new();
    let string = |addr: u64| -> Option<String> {
        let (ptr, len) = (mem.u64(addr)?, mem.u64(addr + 8)?);
        let bytes = mem.bytes(ptr, usize::try_from(len.min(256)).ok()?)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let version = at.version.and_then(string);
    let reason = |r: u8| -> Option<String> {
        let (table, size) = at.reasons?;
        (u64::from(r) * 16 < size).then(|| string(table + u64::from(r) * 16))?
    };
    let sema = semaphores(at, &mem, &mut notes);
    let mut semas: Vec<u64> = sema.values().copied().collect();
    semas.sort_unstable();
    semas.dedup();
    let n = mem.u64(at.allglen).unwrap_or(0);
    if n > MAX_GOROUTINES {
        notes.push(format!(
            "allglen says {n} goroutines: the first {MAX_GOROUTINES} are read"
        ));
    }
    let n = n.min(MAX_GOROUTINES);
    let gs = (mem.u64(at.allgs))
        .and_then(|p| mem.bytes(p, usize::try_from(n * 8).ok()?))
        .unwrap_or_default();
    let mut goroutines = Vec::new();
    // Each goroutine's `g`, when it is parked (its stack its own, not a thread's).
    let mut parked = Vec::new();
    let mut untimed = false;
    for g in gs
        .chunks_exact(8)
        .filter_map(|w| Some(u64::from_le_bytes(w.try_into().ok()?)))
    {
        let Some(raw) = mem.i32(g + l.status).map(|s| s as u32 & !SCAN) else {
            notes.push(format!("the goroutine at {g:#x} could not be read"));
            continue;
        };
        let status = match raw {
            // Idle (just allocated) and dead goroutines run nothing.
            0 | 6 => continue,
            1 => "runnable".to_string(),
            2 => "running".to_string(),
            3 => "syscall".to_string(),
            4 => (mem.u8(g + l.waitreason).and_then(reason)).unwrap_or_else(|| "waiting".into()),
            8 => "copystack".to_string(),
            9 => "preempted".to_string(),
            other => format!("status {other}"),
        };
        let Some(id) = mem.u64(g + l.goid) else {
            continue;
        };
        let on_thread = raw == 2 || raw == 3;
        // Go's dump times the waiting and those in a system call.
        let since = (raw == 3 || raw == 4)
            .then(|| mem.u64(g + l.waitsince?))
            .flatten()
            .filter(|&s| s != 0);
        untimed |= since.is_some() && now.is_none();
        let m = on_thread
            .then(|| mem.u64(g + l.m))
            .flatten()
            .filter(|&m| m != 0);
        let tid = m.and_then(|m| mem.u64(m + l.m_procid));
        let p = (m.zip(l.m_p))
            .and_then(|(m, (m_p, p_id))| Some((mem.u64(m + m_p).filter(|&p| p != 0)?, p_id)))
            .and_then(|(p, p_id)| u32::try_from(mem.i32(p + p_id)?).ok());
        let (pcs, first_args, cut) = if on_thread {
            (Vec::new(), Vec::new(), None)
        } else {
            stack(&mem, l, g, max_frames)
        };
        // One sudog, on a channel: a send or a receive (a select waits on one a case).
        let chan = (raw == 4)
            .then(|| mem.u64(g + l.waiting))
            .flatten()
            .filter(|&s| s != 0 && mem.u64(s + l.sudog_waitlink) == Some(0))
            .and_then(|s| mem.u64(s + l.sudog_c))
            .filter(|&c| c != 0);
        parked.push((!on_thread).then_some(g));
        goroutines.push(Goroutine {
            id,
            status,
            pcs,
            first_args,
            cut,
            sema: sema.get(&g).copied(),
            stack_words: None,
            chan,
            tid,
            p,
            waited_minutes: since.zip(now).and_then(|(s, n)| waited_minutes(s, n)),
            // The main goroutine's is the runtime's start, which Go's dump does not name.
            created_by: mem.u64(g + l.gopc).filter(|&pc| pc != 0 && id != 1),
        });
    }
    // Then, with what the budget leaves (never at the cost of a goroutine's own read), the
    // words of the parked goroutines' stacks that point at the semaphores.
    for (r, g) in goroutines.iter_mut().zip(parked) {
        if let Some(g) = g.filter(|_| !semas.is_empty() && mem.left() > STACK_PAGES) {
            r.stack_words = stack_words(&mem, l, g, &semas);
        }
    }
    if goroutines.is_empty() {
        notes.push(
            "no goroutine could be read (the runtime starting, or its memory not readable)".into(),
        );
    }
    if untimed {
        notes.push(
            "how long the goroutines have waited is not known: the runtime's clock at the \
             capture is not in the input (a core holds none); attach to the process to time them"
                .into(),
        );
    }
    if mem.exhausted() {
        notes.push("the reads allowed ran out: what was read is partial".into());
    }
    GoProcess {
        located: at.clone(),
        version,
        goroutines,
        notes,
        cost: (mem.pages(), began.elapsed()),
    }
}

/// A goroutine's stack: its pcs, each frame's first argument word, and why the walk stopped
/// early.
type Stack = (Vec<u64>, Vec<Option<u64>>, Option<String>);

/// The stack of the goroutine `g` from its saved registers, by frame pointers: each frame's
/// saved frame pointer and return address sit at its frame pointer, its first argument's spill
/// slot right above them, and they lie further up the goroutine's stack than the last.
fn stack(mem: &Mem<'_>, l: &Layout, g: u64, max_frames: usize) -> Stack {
    let (Some(pc), Some(sp), Some(mut bp)) = (
        mem.u64(g + l.sched_pc),
        mem.u64(g + l.sched_sp),
        mem.u64(g + l.sched_bp),
    ) else {
        let why = "its saved registers could not be read";
        return (Vec::new(), Vec::new(), Some(why.into()));
    };
    if pc == 0 {
        return (Vec::new(), Vec::new(), Some("it has no saved pc".into()));
    }
    let mut pcs = vec![pc];
    let mut args = Vec::new();
    let mut below = sp;
    let cut = loop {
        // The frame of the last pc pushed: its frame pointer is `bp`.
        args.push((bp != 0).then(|| mem.u64(bp.checked_add(16)?)).flatten());
        if bp == 0 {
            break None;
        }
        if pcs.len() >= max_frames {
            break Some(format!("the walk stopped at {max_frames} frames"));
        }
        if bp < below {
            break Some(format!(
                "frame pointer {bp:#x} is below the frame before (changed while read?)"
            ));
        }
        let (Some(next), Some(ret)) = (mem.u64(bp), mem.u64(bp + 8)) else {
            break Some(format!("its stack at {bp:#x} could not be read"));
        };
        if ret == 0 {
            break None;
        }
        pcs.push(ret);
        below = bp + 16;
        bp = next;
    };
    (pcs, args, cut)
}

/// The words of the goroutine `g`'s stack, from its saved stack pointer to its top, that point
/// at or shortly before one of `semas` (sorted; the lock around a semaphore starts up to
/// [`SEMA_SLACK`] before it); `None` when the stack is deeper than [`MAX_STACK_WORDS`] or
/// cannot be read.
fn stack_words(mem: &Mem<'_>, l: &Layout, g: u64, semas: &[u64]) -> Option<Vec<u64>> {
    let (sp, hi) = (mem.u64(g + l.sched_sp)?, mem.u64(g + l.stack_hi?)?);
    let len = hi.checked_sub(sp).filter(|&n| n <= MAX_STACK_WORDS)?;
    let bytes = mem.bytes(sp, usize::try_from(len).ok()?)?;
    let reach = pointers::REACH + SEMA_SLACK;
    let mut words: Vec<u64> = (pointers::words(&bytes))
        .filter(|&w| pointers::before_any(w, semas, reach))
        .collect();
    words.sort_unstable();
    words.dedup();
    Some(words)
}

/// How far before its semaphore a lock may start (a `sync.RWMutex`'s writer semaphore, its
/// writers' mutex's semaphore).
const SEMA_SLACK: u64 = 64;

/// The bytes of a goroutine's stack read, at most, for the words pointing at locks.
const MAX_STACK_WORDS: u64 = 256 << 10;

/// The pages such a read may take: it is made only while more than this are left.
const STACK_PAGES: usize = (MAX_STACK_WORDS >> 12) as usize + 1;

/// The semaphore each sleeping goroutine waits on (`g` → address), from the sudogs queued in
/// `runtime.semtable`: each bucket's treap of addresses (`prev`, `next`), each node's waiters
/// on its `waitlink` list.
fn semaphores(at: &Located, mem: &Mem<'_>, notes: &mut Vec<String>) -> HashMap<u64, u64> {
    let l = &at.layout;
    let mut out = HashMap::new();
    let Some((table, size)) = at.semtable else {
        return out;
    };
    if size == 0 || size % SEMTAB_SIZE != 0 {
        notes.push(format!(
            "runtime.semtable is {size} bytes, not {SEMTAB_SIZE} buckets: the semaphores are \
             not read"
        ));
        return out;
    }
    let step = size / SEMTAB_SIZE;
    let mut seen = HashSet::new();
    for i in 0..SEMTAB_SIZE {
        let mut todo: Vec<u64> = mem
            .u64(table + i * step + l.root_treap)
            .into_iter()
            .collect();
        while let Some(node) = todo.pop() {
            if node == 0 || !seen.insert(node) {
                continue;
            }
            if seen.len() > MAX_SUDOGS {
                notes.push("the semaphore table holds too many waiters: read in part".into());
                return out;
            }
            todo.extend(mem.u64(node + l.sudog_prev));
            todo.extend(mem.u64(node + l.sudog_next));
            let elem = mem.u64(node + l.sudog_elem);
            let mut waiter = node;
            while waiter != 0 && (waiter == node || seen.insert(waiter)) {
                if let (Some(g), Some(addr)) = (mem.u64(waiter + l.sudog_g), elem) {
                    out.insert(g, addr);
                }
                waiter = mem.u64(waiter + l.sudog_waitlink).unwrap_or(0);
            }
        }
    }
    out
}
