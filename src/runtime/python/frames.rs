//! A thread's Python frames, read from its `_PyInterpreterFrame` chain: each frame's code
//! object (qualified name, file, and the line its instruction is at, from the location
//! table), whether an eval-loop call began with it, and the locks its locals and value stack
//! refer to, and a method's `self`; the `threading` and `asyncio.base_events` modules'
//! globals, from a frame running their code. Code objects are read once each.

use super::layout::{
    common::{OB_SIZE, OWNED_BY_GENERATOR, TUPLE_ITEMS, TYPE_NAME},
    EntryMark, FrameKind, Layout, LineTable,
};
use super::names;
use super::objects::{LockSeen, Objects};
use super::PyFrame;
use std::collections::HashMap;

/// Slots (locals and value stack) of one frame looked at for locks, at most.
const MAX_SLOTS: u64 = 512;

/// Classes of a type's method resolution order looked at, at most.
const MAX_MRO: u64 = 64;

/// What a code object says of itself.
#[derive(Debug, Clone)]
struct Code {
    /// Its qualified name (3.11 on), else its name.
    name: String,
    file: String,
    firstlineno: i32,
    linetable: Vec<u8>,
    /// Slots of a frame running it: its locals and value stack (3.11 on); its value stack
    /// alone (3.8 to 3.10, whose frames say where it begins).
    slots: u64,
    firsttraceable: u64,
    /// Its first local is `self` (a method).
    method: bool,
}

/// Walks frames, with the code objects it has read.
pub struct Walker<'o, 'm, 'a> {
    objects: &'o Objects<'m, 'a>,
    codes: HashMap<u64, Option<Code>>,
    /// A method's class name by (type of `self`, code object), where code objects have no
    /// qualified name.
    classes: HashMap<(u64, u64), Option<String>>,
    /// The `threading` module's globals, once a frame running its code was seen.
    pub threading: Option<u64>,
    /// The `asyncio.base_events` module's globals, likewise.
    pub base_events: Option<u64>,
}

/// Where a frame is in its code, and what its kind says of it.
struct At {
    /// Byte offset of its instruction in the code, when known.
    offset: Option<u64>,
    /// It has begun running (a frame pushed for a call that has not started is not shown).
    started: bool,
    /// An eval-loop call began with it.
    entry: bool,
    /// Where its slots begin, and how many there are.
    slots: (u64, u64),
}

impl<'o, 'm, 'a> Walker<'o, 'm, 'a> {
    /// A walker reading through `objects`.
    pub fn new(objects: &'o Objects<'m, 'a>) -> Self {
        Walker {
            objects,
            codes: HashMap::new(),
            classes: HashMap::new(),
            threading: None,
            base_events: None,
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
        let int = |at: Option<u64>| -> Option<u64> {
            at.map_or(Some(0), |at| u64::try_from(m.i32(addr + at)?).ok())
        };
        let read = || -> Option<Code> {
            let name = (l.code_qualname)
                .and_then(|at| m.u64(addr + at))
                .and_then(|p| o.string(p))
                .or_else(|| o.string(m.u64(addr + l.code_name)?))?;
            let (nlocalsplus, firsttraceable) = match l.frame {
                FrameKind::Interpreter {
                    nlocalsplus,
                    firsttraceable,
                    ..
                } => (nlocalsplus, firsttraceable),
                FrameKind::Object { .. } => (None, None),
            };
            Some(Code {
                name,
                file: o.string(m.u64(addr + l.code_filename)?)?,
                firstlineno: m.i32(addr + l.code_firstlineno)?,
                linetable: o.bytes(m.u64(addr + l.code_linetable)?).unwrap_or_default(),
                slots: match (l.frame, nlocalsplus, l.code_stacksize) {
                    (FrameKind::Interpreter { .. }, Some(_), Some(_))
                    | (FrameKind::Object { .. }, None, Some(_)) => {
                        int(nlocalsplus)? + int(l.code_stacksize)?
                    }
                    // Locks are not read from this version's frames.
                    _ => 0,
                },
                firsttraceable: int(firsttraceable)?,
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
            let previous = m.u64(frame + l.frame_previous).unwrap_or(0);
            if let FrameKind::Interpreter {
                owner,
                entry: EntryMark::Shim(shim),
                ..
            } = l.frame
            {
                if m.u8(frame + owner) == Some(shim) {
                    // The frame a C call of the eval loop pushed: the frames inwards were its.
                    if let Some(last) = out.last_mut() {
                        last.entry = true;
                    }
                    frame = previous;
                    continue;
                }
            }
            let Some(code) = self.code(code_at) else {
                return (
                    out,
                    Some(format!("code object at {code_at:#x} could not be read")),
                );
            };
            let module = if code.file.ends_with("/threading.py") {
                Some(&mut self.threading)
            } else if code.file.ends_with("/asyncio/base_events.py") {
                Some(&mut self.base_events)
            } else {
                None
            };
            if let Some(globals @ None) = module {
                let g = l.names.and_then(|n| m.u64(frame + n.frame_globals));
                *globals = g.filter(|&g| g != 0);
            }
            let at = self.at(frame, code_at, &code);
            if at.started {
                let this = (code.method && at.slots.1 > 0)
                    .then(|| m.u64(frame + l.frame_localsplus))
                    .flatten()
                    .filter(|&p| p != 0);
                let function = match (l.code_qualname, this) {
                    (None, Some(this)) => match self.class_of(this, code_at, &code.name) {
                        Some(class) => format!("{class}.{}", code.name),
                        None => code.name.clone(),
                    },
                    _ => code.name.clone(),
                };
                out.push(PyFrame {
                    function,
                    file: code.file.clone(),
                    line: (at.offset)
                        .and_then(|b| line_of(l.lines, &code.linetable, code.firstlineno, b)),
                    entry: at.entry,
                    locks: self.locks(at.slots),
                    this,
                });
            }
            frame = previous;
        }
        (out, None)
    }

    /// Where the frame at `frame`, running the code at `code_at`, is.
    fn at(&self, frame: u64, code_at: u64, code: &Code) -> At {
        let l = self.layout();
        let m = self.objects.mem;
        let locals = frame + l.frame_localsplus;
        match l.frame {
            FrameKind::Interpreter {
                prev_instr,
                owner,
                entry,
                code_code,
                ..
            } => {
                let instr = m.u64(frame + prev_instr).unwrap_or(0);
                let first = code_at + code_code;
                let started = instr >= first + 2 * code.firsttraceable
                    || m.u8(frame + owner) == Some(OWNED_BY_GENERATOR);
                At {
                    offset: instr.checked_sub(first),
                    started,
                    entry: match entry {
                        EntryMark::Flag(at) => m.u8(frame + at).is_some_and(|b| b != 0),
                        EntryMark::Shim(_) => false,
                    },
                    slots: (locals, code.slots),
                }
            }
            FrameKind::Object {
                lasti,
                lasti_unit,
                valuestack,
            } => {
                let lasti = m.i32(frame + lasti).and_then(|i| u64::try_from(i).ok());
                // Locals, cells and free variables lie between the two.
                let before = (m.u64(frame + valuestack))
                    .and_then(|v| v.checked_sub(locals))
                    .map_or(0, |b| b / 8);
                At {
                    offset: lasti.map(|i| i * lasti_unit),
                    started: lasti.is_some(),
                    entry: true,
                    slots: (locals, before.saturating_add(code.slots)),
                }
            }
        }
    }

    /// The name of the class along the type of `this` whose own dict holds, under `name`, a
    /// function running the code at `code`: the class a method was defined in.
    fn class_of(&mut self, this: u64, code: u64, name: &str) -> Option<String> {
        let o = self.objects;
        let m = o.mem;
        let ty = o.type_of(this)?;
        if let Some(c) = self.classes.get(&(ty, code)) {
            return c.clone();
        }
        let l = self.layout();
        let find = || -> Option<String> {
            let (methods, names) = (l.methods?, l.names?);
            let mro = m.u64(ty + methods.type_mro)?;
            o.type_of(mro)?;
            let n = m.u64(mro + OB_SIZE)?.min(MAX_MRO);
            (0..n).find_map(|i| {
                let class = m.u64(mro + TUPLE_ITEMS + 8 * i)?;
                let dict = m.u64(class + methods.type_dict)?;
                let function = names::get(o, &names, dict, name)?;
                (m.u64(function + methods.function_code)? == code)
                    .then(|| m.c_string(m.u64(class + TYPE_NAME)?))?
            })
        };
        let class = find();
        self.classes.insert((ty, code), class.clone());
        class
    }

    /// The locks a frame's slots (`(first, count)`: locals and value stack) refer to, each
    /// once.
    fn locks(&self, (first, slots): (u64, u64)) -> Vec<LockSeen> {
        let n = slots.min(MAX_SLOTS) as usize;
        let Some(raw) = self.objects.mem.bytes(first, n * 8) else {
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

/// The line of the instruction at byte `offset` of a code object, from its line table.
pub fn line_of(lines: LineTable, table: &[u8], firstlineno: i32, offset: u64) -> Option<u32> {
    match lines {
        LineTable::Locations => location_line(table, firstlineno, offset / 2),
        LineTable::Lnotab => lnotab_line(table, firstlineno, offset),
        LineTable::Ranges => range_line(table, firstlineno, offset),
    }
}

/// The line at byte `offset`, from a `co_lnotab` (3.8, 3.9; `Objects/lnotab_notes.txt`):
/// pairs of a byte-offset increment and a signed line increment, each line starting where
/// its offset is reached.
fn lnotab_line(table: &[u8], firstlineno: i32, offset: u64) -> Option<u32> {
    let mut line = i64::from(firstlineno);
    let mut at = 0u64;
    for pair in table.chunks_exact(2) {
        at += u64::from(pair[0]);
        if at > offset {
            break;
        }
        line += i64::from(pair[1] as i8);
    }
    u32::try_from(line).ok()
}

/// The line at byte `offset`, from 3.10's `co_linetable` (`Objects/lnotab_notes.txt`): pairs
/// of a range's length in bytes and a signed line increment (-128: the range has no line).
fn range_line(table: &[u8], firstlineno: i32, offset: u64) -> Option<u32> {
    let mut line = i64::from(firstlineno);
    let mut end = 0u64;
    for pair in table.chunks_exact(2) {
        let delta = pair[1] as i8;
        if delta != -128 {
            line += i64::from(delta);
        }
        end += u64::from(pair[0]);
        if offset < end {
            return (delta != -128).then(|| u32::try_from(line).ok())?;
        }
    }
    None
}

/// The line code unit `unit` is on, from a location table (PEP 657; `Objects/locations.md`):
/// entries of a first byte `1cccclll` (code `c`, `l + 1` code units) and what the code says
/// follows. `None` for an instruction with no location.
fn location_line(table: &[u8], firstlineno: i32, unit: u64) -> Option<u32> {
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
