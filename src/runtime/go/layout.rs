//! The offsets of the Go runtime's structures, read from the binary's own DWARF (`runtime.g`,
//! `runtime.gobuf`, `runtime.sudog`, `runtime.semaRoot`): the fields [`super::read`] follows,
//! whatever the Go version laid them out as. A field the DWARF lacks makes the layout
//! unknown, said by name.

use object::{Object, ObjectSection};
use std::borrow::Cow;
use std::collections::HashMap;

/// Where each field read sits in its structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `g.goid`.
    pub goid: u64,
    /// `g.atomicstatus`.
    pub status: u64,
    /// `g.waitreason`.
    pub waitreason: u64,
    /// `g.m`: the M (OS thread) running it, and that M's `procid` (its thread id).
    pub m: u64,
    /// See `m`.
    pub m_procid: u64,
    /// `m.p` (the P it holds while it runs Go code; none in a system call) and `p.id`. Not
    /// read where the DWARF lacks them.
    pub m_p: Option<(u64, u64)>,
    /// `g.gopc`: the pc of the `go` statement that created it.
    pub gopc: u64,
    /// `g.waiting`: the sudogs of the channel operation it is parked in.
    pub waiting: u64,
    /// `g.waitsince`: the runtime's clock (`nanotime`) when its wait began, once a garbage
    /// collection has seen it blocked (0 before). Not read where the DWARF lacks it.
    pub waitsince: Option<u64>,
    /// `g.sched.sp`, `g.sched.pc`, `g.sched.bp`.
    pub sched_sp: u64,
    /// See `sched_sp`.
    pub sched_pc: u64,
    /// See `sched_sp`.
    pub sched_bp: u64,
    /// `g.stack.hi`: the top of its stack (one past its highest byte). Not read where the
    /// DWARF lacks it.
    pub stack_hi: Option<u64>,
    /// `semaRoot.treap`.
    pub root_treap: u64,
    /// `sudog.g`, `.elem`, `.prev`, `.next`, `.waitlink`, `.c` (its channel).
    pub sudog_g: u64,
    /// See `sudog_g`.
    pub sudog_elem: u64,
    /// See `sudog_g`.
    pub sudog_prev: u64,
    /// See `sudog_g`.
    pub sudog_next: u64,
    /// See `sudog_g`.
    pub sudog_waitlink: u64,
    /// See `sudog_g`.
    pub sudog_c: u64,
    /// `sync.Mutex.sema`, when the program uses `sync.Mutex`: a mutex's semaphore is inside
    /// it, at this offset.
    pub mutex_sema: Option<u64>,
    /// `sync.RWMutex`'s `w` (its writers' mutex), `writerSem` and `readerSem`, when the
    /// program uses it: a semaphore (or mutex) inside one names it.
    pub rwmutex: Option<RwMutex>,
}

/// Where a `sync.RWMutex` keeps what its waiters sleep on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RwMutex {
    /// `w`: the mutex writers take first.
    pub w: u64,
    /// `writerSem`: a writer waits there for the readers to leave.
    pub writer_sem: u64,
    /// `readerSem`: a reader waits there for the writer to leave.
    pub reader_sem: u64,
}

/// The structures whose members are read, and the members.
const WANTED: [(&str, &[&str]); 9] = [
    (
        "runtime.g",
        &[
            "goid",
            "atomicstatus",
            "waitreason",
            "sched",
            "waiting",
            "m",
            "gopc",
            "waitsince",
            "stack",
        ],
    ),
    ("runtime.stack", &["hi"]),
    ("runtime.m", &["procid", "p"]),
    ("runtime.p", &["id"]),
    ("runtime.gobuf", &["sp", "pc", "bp"]),
    (
        "runtime.sudog",
        &["g", "elem", "prev", "next", "waitlink", "c"],
    ),
    ("runtime.semaRoot", &["treap"]),
    ("sync.Mutex", &["sema"]),
    ("sync.RWMutex", &["w", "writerSem", "readerSem"]),
];

type R<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

/// The layout from `file`'s DWARF, or why not.
pub fn from_dwarf(file: &object::File<'_>) -> Result<Layout, String> {
    // A unit reads its line program's header too.
    let sections: HashMap<gimli::SectionId, Cow<'_, [u8]>> = [
        gimli::SectionId::DebugInfo,
        gimli::SectionId::DebugAbbrev,
        gimli::SectionId::DebugStr,
        gimli::SectionId::DebugLine,
        gimli::SectionId::DebugLineStr,
    ]
    .into_iter()
    .filter_map(|id| {
        let s = file.section_by_name(id.name())?;
        Some((id, s.uncompressed_data().ok()?))
    })
    .collect();
    if !sections.contains_key(&gimli::SectionId::DebugInfo) {
        return Err("the binary has no DWARF (built with -ldflags=-w?)".into());
    }
    let dwarf = gimli::Dwarf::load(|id| -> Result<R<'_>, ()> {
        let bytes = sections.get(&id).map_or(&[][..], |c| &c[..]);
        Ok(gimli::EndianSlice::new(bytes, gimli::LittleEndian))
    })
    .map_err(|()| "its DWARF could not be read".to_string())?;
    let found = members(&dwarf).map_err(|e| format!("its DWARF could not be read: {e}"))?;
    let at = |ty: &str, field: &str| {
        (found.get(&(ty, field)).copied()).ok_or_else(|| format!("its DWARF has no {ty}.{field}"))
    };
    let sched = at("runtime.g", "sched")?;
    Ok(Layout {
        goid: at("runtime.g", "goid")?,
        status: at("runtime.g", "atomicstatus")?,
        waitreason: at("runtime.g", "waitreason")?,
        waiting: at("runtime.g", "waiting")?,
        m: at("runtime.g", "m")?,
        gopc: at("runtime.g", "gopc")?,
        waitsince: at("runtime.g", "waitsince").ok(),
        m_procid: at("runtime.m", "procid")?,
        m_p: (at("runtime.m", "p").ok()).zip(at("runtime.p", "id").ok()),
        sched_sp: sched + at("runtime.gobuf", "sp")?,
        sched_pc: sched + at("runtime.gobuf", "pc")?,
        sched_bp: sched + at("runtime.gobuf", "bp")?,
        stack_hi: (at("runtime.g", "stack").ok())
            .zip(at("runtime.stack", "hi").ok())
            .map(|(g, hi)| g + hi),
        root_treap: at("runtime.semaRoot", "treap")?,
        sudog_g: at("runtime.sudog", "g")?,
        sudog_elem: at("runtime.sudog", "elem")?,
        sudog_prev: at("runtime.sudog", "prev")?,
        sudog_next: at("runtime.sudog", "next")?,
        sudog_waitlink: at("runtime.sudog", "waitlink")?,
        sudog_c: at("runtime.sudog", "c")?,
        mutex_sema: at("sync.Mutex", "sema").ok(),
        rwmutex: (|| {
            Some(RwMutex {
                w: at("sync.RWMutex", "w").ok()?,
                writer_sem: at("sync.RWMutex", "writerSem").ok()?,
                reader_sem: at("sync.RWMutex", "readerSem").ok()?,
            })
        })(),
    })
}

/// The offsets of the [`WANTED`] members, by (structure, member), from the first unit that
/// defines each structure.
fn members(
    dwarf: &gimli::Dwarf<R<'_>>,
) -> gimli::Result<HashMap<(&'static str, &'static str), u64>> {
    let mut out = HashMap::new();
    let mut done = std::collections::HashSet::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        // The structure being read, and its depth.
        let mut inside: Option<(&'static str, &'static [&'static str], isize)> = None;
        while let Some(entry) = entries.next_dfs()? {
            let depth = entry.depth();
            if inside.is_some_and(|(_, _, d)| depth <= d) {
                inside = None;
            }
            let name = || -> Option<String> {
                let v = entry.attr_value(gimli::DW_AT_name)?;
                let s = dwarf.attr_string(&unit, v).ok()?;
                Some(String::from_utf8_lossy(&s).into_owned())
            };
            match (entry.tag(), inside) {
                (gimli::DW_TAG_structure_type, None) => {
                    let Some(n) = name() else { continue };
                    if let Some(&(ty, fields)) = WANTED.iter().find(|(ty, _)| *ty == n) {
                        if done.insert(ty) {
                            inside = Some((ty, fields, depth));
                        }
                    }
                }
                (gimli::DW_TAG_member, Some((ty, fields, d))) if depth == d + 1 => {
                    let Some(n) = name() else { continue };
                    let Some(&field) = fields.iter().find(|f| **f == n) else {
                        continue;
                    };
                    let offset = (entry.attr_value(gimli::DW_AT_data_member_location))
                        .and_then(|v| v.udata_value());
                    if let Some(o) = offset {
                        out.insert((ty, field), o);
                    }
                }
                _ => {}
            }
        }
        if done.len() == WANTED.len() {
            break;
        }
    }
    Ok(out)
}
