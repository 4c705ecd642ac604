//! A thread's Python frames, read from its `_PyInterpreterFrame` chain: each frame's code
//! object (qualified name, file, and the line its instruction is at, from the location
//! table), whether an eval-loop call began with it, and the locks its locals and value stack
//! refer to, and a method's `self`; the `threading` module's globals, from a frame running
//! its code. Code objects are read once each.

use super::layout::{
    common::{OWNED_BY_GENERATOR, TUPLE_ITEMS},
    EntryMark, Layout,
};
use super::objects::{LockSeen, Objects};
use super::PyFrame;
use std::collections::HashMap;

/// Slots (locals and value stack) of one frame looked at for locks, at most.
const MAX_SLOTS: u64 = 512;

/// What a code object says of itself.
#[derive(Debug, Clone)]
struct Code {
    qualname: String,
    file: String,
    firstlineno: i32,
    linetable: Vec<u8>,
    slots: u64,
    firsttraceable: u64,
    /// Its first local is `self` (a method).
    method: bool,
}

/// Walks frames, with the code objects it has read.
pub struct Walker<'o, 'm, 'a> {
    objects: &'o Objects<'m, 'a>,
    codes: HashMap<u64, Option<Code>>,
    /// The `threading` module's globals, once a frame running its code was seen.
    pub threading: Option<u64>,
}

impl<'o, 'm, 'a> Walker<'o, 'm, 'a> {
    /// A walker reading through `objects`.
    pub fn new(objects: &'o Objects<'m, 'a>) -> Self {
        Walker {
            objects,
            codes: HashMap::new(),
            threading: None,
        }
    }

    fn layout(&self) -> &'m Layout {
        self.objects.layout
    }

    fn code(&mut self, addr: u64) -> Option<Code> {
        if let Some(c) = self.codes.get(&addr) {
            return c.clone();
        }
        let l = self.layout();
        let o = self.objects;
        let m = o.mem;
        let read = || -> Option<Code> {
            let qualname = (m.u64(addr + l.code_qualname))
                .and_then(|p| o.string(p))
                .or_else(|| o.string(m.u64(addr + l.code_name)?))?;
            Some(Code {
                qualname,
                file: o.string(m.u64(addr + l.code_filename)?)?,
                firstlineno: m.i32(addr + l.code_firstlineno)?,
                linetable: o.bytes(m.u64(addr + l.code_linetable)?).unwrap_or_default(),
                slots: match (l.code_nlocalsplus, l.code_stacksize) {
                    (Some(n), Some(s)) => {
                        u64::try_from(m.i32(addr + n)?).ok()?
                            + u64::try_from(m.i32(addr + s)?).ok()?
                    }
                    // Locks are not read from this version's frames.
                    _ => 0,
                },
                firsttraceable: match l.code_firsttraceable {
                    Some(at) => u64::try_from(m.i32(addr + at)?).ok()?,
                    None => 0,
                },
                method: (l.code_localsplusnames)
                    .and_then(|at| m.u64(addr + at))
                    .and_then(|names| m.u64(names + TUPLE_ITEMS))
                    .and_then(|first| o.string(first))
                    .is_some_and(|name| name == "self"),
            })
        };
        let code = read();
        self.codes.insert(addr, code.clone());
        code
    }

    /// The frames from `frame` (the innermost) outwards, at most `max`; whether the walk was
    /// cut (a pointer that led nowhere, or the limit).
    pub fn walk(&mut self, mut frame: u64, max: usize) -> (Vec<PyFrame>, Option<String>) {
        let l = self.layout();
        let m = self.objects.mem;
        let mut out: Vec<PyFrame> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while frame != 0 {
            if out.len() >= max {
                return (out, Some(format!("more than {max} Python frames")));
            }
            if !seen.insert(frame) {
                return (
                    out,
                    Some("its frames loop (read while they changed?)".into()),
                );
            }
            let Some(code_at) = m.u64(frame + l.frame_code) else {
                return (out, Some(format!("frame at {frame:#x} could not be read")));
            };
            let owner = m.u8(frame + l.frame_owner).unwrap_or(0);
            let previous = m.u64(frame + l.frame_previous).unwrap_or(0);
            let shim = matches!(l.frame_entry, EntryMark::Shim(s) if s == owner);
            if shim {
                // The frame a C call of the eval loop pushed: the frames inwards were its.
                if let Some(last) = out.last_mut() {
                    last.entry = true;
                }
                frame = previous;
                continue;
            }
            let Some(code) = self.code(code_at) else {
                return (
                    out,
                    Some(format!("code object at {code_at:#x} could not be read")),
                );
            };
            let instr = m.u64(frame + l.frame_prev_instr).unwrap_or(0);
            let first = code_at + l.code_code;
            let started = instr >= first + 2 * code.firsttraceable;
            if self.threading.is_none() && code.file.ends_with("/threading.py") {
                let globals = l.names.and_then(|n| m.u64(frame + n.frame_globals));
                self.threading = globals.filter(|&g| g != 0);
            }
            if owner == OWNED_BY_GENERATOR || started {
                let unit = instr.checked_sub(first).map(|b| b / 2);
                out.push(PyFrame {
                    function: code.qualname.clone(),
                    file: code.file.clone(),
                    line: unit.and_then(|u| line_of(&code.linetable, code.firstlineno, u)),
                    entry: match l.frame_entry {
                        EntryMark::Flag(at) => m.u8(frame + at).is_some_and(|b| b != 0),
                        EntryMark::Shim(_) => false,
                    },
                    locks: self.locks(frame, code.slots),
                    this: (code.method && code.slots > 0)
                        .then(|| m.u64(frame + l.frame_localsplus))
                        .flatten()
                        .filter(|&p| p != 0),
                });
            }
            frame = previous;
        }
        (out, None)
    }

    /// The locks a frame's locals and value stack refer to, each once.
    fn locks(&self, frame: u64, slots: u64) -> Vec<LockSeen> {
        let l = self.layout();
        let n = slots.min(MAX_SLOTS) as usize;
        let Some(raw) = self.objects.mem.bytes(frame + l.frame_localsplus, n * 8) else {
            return Vec::new();
        };
        let mut out: Vec<LockSeen> = Vec::new();
        for slot in raw.chunks_exact(8) {
            let p = u64::from_le_bytes(slot.try_into().unwrap_or_default());
            if p == 0 {
                continue;
            }
            if let Some(lock) = self.objects.lock(p) {
                match out.iter_mut().find(|o| o.object == lock.object) {
                    Some(o) => o.exits += lock.exits,
                    None => out.push(lock),
                }
            }
        }
        out
    }
}

/// The line code unit `unit` is on, from a location table (PEP 657; `Objects/locations.md`):
/// entries of a first byte `1cccclll` (code `c`, `l + 1` code units) and what the code says
/// follows. `None` for an instruction with no location.
pub fn line_of(table: &[u8], firstlineno: i32, unit: u64) -> Option<u32> {
    let mut bytes = table.iter().copied();
    let mut line = i64::from(firstlineno);
    let mut at = 0u64;
    while let Some(head) = bytes.next() {
        if head & 0x80 == 0 {
            return None;
        }
        let code = (head >> 3) & 15;
        let len = u64::from(head & 7) + 1;
        let mut located = true;
        match code {
            15 => located = false,
            14 => {
                line += svarint(&mut bytes)?;
                for _ in 0..3 {
                    varint(&mut bytes)?;
                }
            }
            13 => line += svarint(&mut bytes)?,
            10..=12 => {
                line += i64::from(code - 10);
                bytes.next()?;
                bytes.next()?;
            }
            _ => {
                bytes.next()?;
            }
        }
        if unit < at + len {
            return located.then(|| u32::try_from(line).ok()).flatten();
        }
        at += len;
    }
    None
}

fn varint(bytes: &mut impl Iterator<Item = u8>) -> Option<i64> {
    let mut b = bytes.next()?;
    let mut val = i64::from(b & 63);
    let mut shift = 0;
    while b & 64 != 0 {
        b = bytes.next()?;
        shift += 6;
        if shift > 56 {
            return None;
        }
        val |= i64::from(b & 63) << shift;
    }
    Some(val)
}

fn svarint(bytes: &mut impl Iterator<Item = u8>) -> Option<i64> {
    let v = varint(bytes)?;
    Some(if v & 1 != 0 { -(v >> 1) } else { v >> 1 })
}
