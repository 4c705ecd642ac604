//! Variables of a frame read from copied memory: each location expression of [`super::scope`]
//! evaluated with gimli against the frame's recovered registers, its CFA and the memory the
//! capture copied while the target was stopped (registers, DW_OP_fbreg through the function's
//! frame base, DW_OP_call_frame_cfa, static addresses moved by the load bias, location lists;
//! DW_OP_entry_value only of a register a call preserves, read from the caller's frame). What
//! cannot be read is said per variable: optimized out, a register the unwind did not recover,
//! memory not copied. A guard variable's bytes give the locks it holds (a pointer guard's
//! value is the lock; a guard of several locks holds each its pointers point at). Pure: no process is
//! touched.

use super::scope::{Desc, Level, Loc, PcVars};
use super::types::Shape;
use crate::model::{GuardHold, Text, Var, VarRead};
use crate::unwind::{FrameRegs, Memory};
use gimli::{EvaluationResult, Location, Value};

/// Steps one expression may take (each resume is one).
const MAX_STEPS: usize = 256;
/// DWARF register numbers a call preserves on x86-64 (rbx, rbp, r12-r15): their value at a
/// function's entry is the caller's.
const PRESERVED: [u16; 6] = [3, 6, 12, 13, 14, 15];

/// What a frame gives the evaluation: its registers, its caller's, and the copied memory.
pub(super) struct FrameView<'a> {
    pub regs: &'a FrameRegs,
    pub caller: Option<&'a FrameRegs>,
    pub mem: &'a dyn Memory,
    /// The source line the frame is at, when known.
    pub line: Option<u32>,
}

/// The variables of level `level` of `vars` in this frame: (parameters, locals).
pub(super) fn read(vars: &PcVars, level: usize, frame: &FrameView<'_>) -> (Vec<Var>, Vec<Var>) {
    let Some(l) = vars.levels.get(level) else {
        return (vec![], vec![]);
    };
    let mut args = Vec::new();
    let mut locals = Vec::new();
    for d in &l.vars {
        let var = one(d, l, vars.bias, frame);
        if d.param {
            args.push(var);
        } else {
            locals.push(var);
        }
    }
    (args, locals)
}

/// Where a value is, once its expression is evaluated.
enum Place {
    Memory(u64),
    Value(u64),
}

fn one(d: &Desc, level: &Level, bias: u64, frame: &FrameView<'_>) -> Var {
    let place = match &d.loc {
        Loc::Gone(why) => Err((*why).to_string()),
        Loc::Const(v) => Ok(Place::Value(*v)),
        Loc::Expr(e) => evaluate(e, level, bias, frame),
    };
    let mut read = VarRead {
        ty: d.ty.clone(),
        ..VarRead::default()
    };
    let value = match place {
        Err(why) => {
            read.unreadable = Some(why);
            String::new()
        }
        Ok(Place::Value(v)) => {
            read.holds = guard_value(d, v);
            format_value(d.shape, v)
        }
        Ok(Place::Memory(addr)) => {
            read.address = Some(addr);
            read.holds = match d.guard.as_ref().filter(|g| g.by_value) {
                Some(_) => read_word(frame.mem, addr, 8).and_then(|v| guard_value(d, v)),
                None => guard(d, addr, frame.mem),
            };
            match scalar_size(d.shape) {
                None => String::new(),
                Some(n) => match read_word(frame.mem, addr, n) {
                    Some(v) => format_value(d.shape, v),
                    None => {
                        read.unreadable = Some("its memory was not copied".to_string());
                        String::new()
                    }
                },
            }
        }
    };
    // A guard declared on the line the frame is at, or further on, is not set yet: the frame
    // is still running its initialiser (`g_mutex_locker_new`, a constructor waiting for the
    // lock), and its bytes are whatever the stack held before.
    if (d.decl_line.zip(frame.line)).is_some_and(|(decl, at)| u64::from(at) <= decl) {
        read.holds = None;
    }
    Var {
        name: d.name.clone(),
        value: Text::from(value.as_str()),
        read: Some(Box::new(read)),
    }
}

/// The lock a guard that is itself a pointer holds: its value `v`, when not null.
fn guard_value(d: &Desc, v: u64) -> Option<GuardHold> {
    let g = d.guard.as_ref().filter(|g| g.by_value)?;
    let &(_, within) = g.locks.first()?;
    (v != 0).then(|| GuardHold {
        lock: v.wrapping_add(within),
        also: Vec::new(),
        rule: g.rule.to_string(),
    })
}

/// The locks a guard at `addr` holds: those its pointer members point at (not null), when
/// the guard owns them.
fn guard(d: &Desc, addr: u64, mem: &dyn Memory) -> Option<GuardHold> {
    let g = d.guard.as_ref()?;
    if let Some(owns) = g.owns {
        if read_word(mem, addr.checked_add(owns)?, 1)? == 0 {
            return None;
        }
    }
    let mut locks = g.locks.iter().filter_map(|&(pointer, within)| {
        let lock = read_word(mem, addr.checked_add(pointer)?, 8)?;
        (lock != 0).then(|| lock.wrapping_add(within))
    });
    Some(GuardHold {
        lock: locks.next()?,
        also: locks.collect(),
        rule: g.rule.to_string(),
    })
}

fn scalar_size(shape: Shape) -> Option<usize> {
    match shape {
        Shape::Signed(n) | Shape::Unsigned(n) | Shape::Char(n) | Shape::Float(n) => {
            Some(usize::from(n))
        }
        Shape::Bool => Some(1),
        Shape::Pointer => Some(8),
        Shape::Aggregate => None,
    }
}

fn read_word(mem: &dyn Memory, addr: u64, n: usize) -> Option<u64> {
    let mut buf = [0u8; 8];
    let n = n.min(8);
    mem.read(addr, &mut buf[..n])
        .then(|| u64::from_le_bytes(buf))
}

/// A scalar's value as a debugger prints it.
fn format_value(shape: Shape, v: u64) -> String {
    let bits = |n: u8| u32::from(n) * 8;
    match shape {
        Shape::Signed(n) if n < 8 => {
            let shift = 64 - bits(n);
            (((v << shift) as i64) >> shift).to_string()
        }
        Shape::Signed(_) => (v as i64).to_string(),
        Shape::Unsigned(n) | Shape::Char(n) if n < 8 => (v & ((1u64 << bits(n)) - 1)).to_string(),
        Shape::Bool => (v & 0xff != 0).to_string(),
        Shape::Float(4) => f32::from_bits(v as u32).to_string(),
        Shape::Float(_) => f64::from_bits(v).to_string(),
        Shape::Pointer | Shape::Aggregate => format!("0x{v:x}"),
        Shape::Unsigned(_) | Shape::Char(_) => v.to_string(),
    }
}

fn generic(v: Value) -> u64 {
    v.to_u64(u64::MAX).unwrap_or(0)
}

/// Evaluates a location expression in `frame`: where the value is.
fn evaluate(
    e: &gimli::Expression<super::dwarf::Reader>,
    level: &Level,
    bias: u64,
    frame: &FrameView<'_>,
) -> Result<Place, String> {
    let mut eval = e.clone().evaluation(level.encoding);
    let mut step = eval.evaluate();
    for _ in 0..MAX_STEPS {
        let next = match step.map_err(|e| format!("a DWARF expression failed: {e}"))? {
            EvaluationResult::Complete => return place(eval.result(), frame),
            EvaluationResult::RequiresMemory { address, size, .. } => {
                let v = read_word(frame.mem, address, usize::from(size))
                    .ok_or("its memory was not copied")?;
                eval.resume_with_memory(Value::Generic(v))
            }
            EvaluationResult::RequiresRegister { register, .. } => {
                let v = frame
                    .regs
                    .get(register.0)
                    .ok_or("in a register the unwind did not recover")?;
                eval.resume_with_register(Value::Generic(v))
            }
            EvaluationResult::RequiresFrameBase => {
                let base = level.frame_base.as_ref().ok_or("no frame base")?;
                // A frame base may not use the frame base.
                let plain = Level {
                    vars: Vec::new(),
                    frame_base: None,
                    encoding: level.encoding,
                };
                let fb = match evaluate(base, &plain, bias, frame)? {
                    Place::Memory(a) | Place::Value(a) => a,
                };
                eval.resume_with_frame_base(fb)
            }
            EvaluationResult::RequiresCallFrameCfa => {
                let cfa = frame.regs.cfa.ok_or("the frame's CFA is unknown")?;
                eval.resume_with_call_frame_cfa(cfa)
            }
            EvaluationResult::RequiresRelocatedAddress(a) => {
                eval.resume_with_relocated_address(a.wrapping_add(bias))
            }
            EvaluationResult::RequiresEntryValue(expr) => {
                let v = entry_value(expr, level.encoding, frame)
                    .ok_or("its value at entry is not recoverable")?;
                eval.resume_with_entry_value(Value::Generic(v))
            }
            _ => return Err("its location needs what a stack copy does not have".into()),
        };
        step = next;
    }
    Err("its location expression is too long".into())
}

/// `DW_OP_entry_value(DW_OP_regN)` of a preserved register: the caller's value of it.
fn entry_value(
    expr: gimli::Expression<super::dwarf::Reader>,
    encoding: gimli::Encoding,
    frame: &FrameView<'_>,
) -> Option<u64> {
    let mut ops = expr.operations(encoding);
    let first = ops.next().ok()??;
    if ops.next().ok()?.is_some() {
        return None;
    }
    match first {
        gimli::Operation::Register { register } if PRESERVED.contains(&register.0) => {
            frame.caller?.get(register.0)
        }
        _ => None,
    }
}

/// The one piece of a result, as an address or a value.
fn place(
    pieces: Vec<gimli::Piece<super::dwarf::Reader>>,
    frame: &FrameView<'_>,
) -> Result<Place, String> {
    let [piece] = pieces.as_slice() else {
        return Err("it is split across registers and memory".into());
    };
    match &piece.location {
        Location::Address { address } => Ok(Place::Memory(*address)),
        Location::Value { value } => Ok(Place::Value(generic(*value))),
        Location::Register { register } => frame
            .regs
            .get(register.0)
            .map(Place::Value)
            .ok_or_else(|| "in a register the unwind did not recover".to_string()),
        Location::Empty => Err("optimized out".into()),
        _ => Err("its value is not in memory".into()),
    }
}

#[cfg(test)]
mod tests;
