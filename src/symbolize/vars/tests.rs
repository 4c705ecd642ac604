//! The evaluator on hand-made locations and memory: the frame base through the CFA, registers
//! a caller's frame did or did not recover, entry values, memory not copied, guards.

use super::*;
use crate::symbolize::dwarf::{Reader, SectionBytes};
use crate::symbolize::scope::GuardLayout;
use crate::unwind::{MemoryRegion, Regs};
use gimli::constants as dw;
use std::sync::Arc;

fn expr(bytes: &[u8]) -> gimli::Expression<Reader> {
    gimli::Expression(Reader::new(
        SectionBytes::owned(bytes.to_vec()),
        gimli::RunTimeEndian::Little,
    ))
}

fn level(vars: Vec<Desc>) -> PcVars {
    PcVars {
        levels: vec![Level {
            vars,
            // DW_OP_call_frame_cfa
            frame_base: Some(expr(&[dw::DW_OP_call_frame_cfa.0])),
            encoding: gimli::Encoding {
                address_size: 8,
                format: gimli::Format::Dwarf32,
                version: 5,
            },
        }],
        bias: 0x1000,
    }
}

fn desc(name: &str, loc: Loc, shape: Shape) -> Desc {
    Desc {
        name: Text::from(name),
        ty: Some(Text::from("t")),
        param: false,
        loc,
        shape,
        guard: None,
        decl_line: None,
    }
}

/// 64 bytes of stack at 0x7000, word i holding `words[i]`.
fn stack(words: &[u64]) -> MemoryRegion {
    let mut bytes = vec![0u8; 64];
    for (i, w) in words.iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    MemoryRegion {
        start: 0x7000,
        bytes,
    }
}

fn read_one(d: Desc, regs: &FrameRegs, caller: Option<&FrameRegs>, mem: &MemoryRegion) -> Var {
    read_at(d, regs, caller, mem, None)
}

/// Like [`read_one`], in a frame at source line `line`.
fn read_at(
    d: Desc,
    regs: &FrameRegs,
    caller: Option<&FrameRegs>,
    mem: &MemoryRegion,
    line: Option<u32>,
) -> Var {
    let vars = level(vec![d]);
    let view = FrameView {
        regs,
        caller,
        mem,
        line,
    };
    let (_, mut locals) = read(&vars, 0, &view);
    locals.remove(0)
}

fn unreadable(v: &Var) -> Option<&str> {
    v.read.as_ref()?.unreadable.as_deref()
}

#[test]
fn a_local_at_the_frame_base_is_read_from_the_copied_stack() {
    let mut regs = FrameRegs::default();
    regs.cfa = Some(0x7020);
    let mem = stack(&[0, 0, (-42i64) as u64, 0]);
    // DW_OP_fbreg -16: the CFA less 16 is 0x7010, the third word.
    let v = read_one(
        desc(
            "n",
            Loc::Expr(expr(&[dw::DW_OP_fbreg.0, 0x70])),
            Shape::Signed(8),
        ),
        &regs,
        None,
        &mem,
    );
    assert_eq!(&*v.value, "-42");
    assert_eq!(v.read.as_ref().unwrap().address, Some(0x7010));
    // Without a CFA it cannot be found, and says why.
    let v = read_one(
        desc(
            "n",
            Loc::Expr(expr(&[dw::DW_OP_fbreg.0, 0x70])),
            Shape::Signed(8),
        ),
        &FrameRegs::default(),
        None,
        &mem,
    );
    assert_eq!(unreadable(&v), Some("the frame's CFA is unknown"));
}

#[test]
fn registers_are_read_only_where_the_unwind_recovered_them() {
    let regs = FrameRegs::from_regs(&Regs {
        rbx: 7,
        ..Regs::default()
    });
    let mem = stack(&[]);
    let in_rbx = || {
        desc(
            "r",
            Loc::Expr(expr(&[dw::DW_OP_reg3.0])),
            Shape::Unsigned(8),
        )
    };
    assert_eq!(&*read_one(in_rbx(), &regs, None, &mem).value, "7");
    let v = read_one(in_rbx(), &FrameRegs::default(), None, &mem);
    assert_eq!(
        unreadable(&v),
        Some("in a register the unwind did not recover")
    );
    // DW_OP_entry_value(DW_OP_reg3) DW_OP_stack_value: the caller's rbx.
    let entry = |reg: u8| {
        desc(
            "e",
            Loc::Expr(expr(&[
                dw::DW_OP_entry_value.0,
                1,
                reg,
                dw::DW_OP_stack_value.0,
            ])),
            Shape::Unsigned(8),
        )
    };
    let v = read_one(
        entry(dw::DW_OP_reg3.0),
        &FrameRegs::default(),
        Some(&regs),
        &mem,
    );
    assert_eq!(&*v.value, "7");
    // rdi at entry is not the caller's rdi now: a call does not preserve it.
    let v = read_one(
        entry(dw::DW_OP_reg5.0),
        &FrameRegs::default(),
        Some(&regs),
        &mem,
    );
    assert_eq!(
        unreadable(&v),
        Some("its value at entry is not recoverable")
    );
}

#[test]
fn statics_move_by_the_load_bias_and_uncopied_memory_is_said() {
    let mem = stack(&[5]);
    // DW_OP_addr 0x6000: with the bias of 0x1000, the copied word at 0x7000.
    let mut op = vec![dw::DW_OP_addr.0];
    op.extend(0x6000u64.to_le_bytes());
    let v = read_one(
        desc("s", Loc::Expr(expr(&op)), Shape::Bool),
        &FrameRegs::default(),
        None,
        &mem,
    );
    assert_eq!(&*v.value, "true");
    let mut op = vec![dw::DW_OP_addr.0];
    op.extend(0x9000u64.to_le_bytes());
    let v = read_one(
        desc("s", Loc::Expr(expr(&op)), Shape::Bool),
        &FrameRegs::default(),
        None,
        &mem,
    );
    assert_eq!(unreadable(&v), Some("its memory was not copied"));
    assert_eq!(v.read.as_ref().unwrap().address, Some(0xa000));
    let gone = read_one(
        desc("g", Loc::Gone("optimized out"), Shape::Bool),
        &FrameRegs::default(),
        None,
        &mem,
    );
    assert_eq!(unreadable(&gone), Some("optimized out"));
}

#[test]
fn a_guard_that_owns_its_lock_names_it() {
    let mut regs = FrameRegs::default();
    regs.cfa = Some(0x7040);
    let guard = |owns: u64| {
        let mem = stack(&[0x5000, owns]);
        let mut d = desc(
            "g",
            // DW_OP_fbreg -64: the guard at 0x7000.
            Loc::Expr(expr(&[dw::DW_OP_fbreg.0, 0x40])),
            Shape::Aggregate,
        );
        d.guard = Some(GuardLayout {
            rule: Arc::from("r"),
            locks: vec![(0, 4)],
            by_value: false,
            owns: Some(8),
        });
        read_one(d, &regs, None, &mem)
            .read
            .and_then(|r| r.holds)
            .map(|h| h.lock)
    };
    assert_eq!(guard(1), Some(0x5004));
    assert_eq!(guard(0), None, "a unique_lock that does not own its mutex");
}

#[test]
fn a_guard_of_several_locks_names_each_one_set() {
    let mut regs = FrameRegs::default();
    regs.cfa = Some(0x7040);
    // A std::scoped_lock's tuple at 0x7000: references to 0x5000, none (0), 0x6000.
    let mem = stack(&[0x5000, 0, 0x6000]);
    let mut d = desc(
        "books",
        Loc::Expr(expr(&[dw::DW_OP_fbreg.0, 0x40])),
        Shape::Aggregate,
    );
    d.guard = Some(GuardLayout {
        rule: Arc::from("r"),
        locks: vec![(0, 0), (8, 0), (16, 0)],
        by_value: false,
        owns: None,
    });
    let holds = read_one(d, &regs, None, &mem).read.and_then(|r| r.holds);
    assert_eq!(
        holds.map(|h| h.locks().collect::<Vec<_>>()),
        Some(vec![0x5000, 0x6000])
    );
}

#[test]
fn a_pointer_guard_is_its_lock_in_memory_or_in_a_register() {
    let mut regs = FrameRegs::default();
    regs.cfa = Some(0x7040);
    let mem = stack(&[0x5000]);
    let pointer_guard = |loc: Loc| {
        let mut d = desc("locker", loc, Shape::Pointer);
        d.guard = Some(GuardLayout {
            rule: Arc::from("r"),
            locks: vec![(0, 0)],
            by_value: true,
            owns: None,
        });
        d
    };
    let held = |v: Var| v.read.and_then(|r| r.holds).map(|h| h.lock);
    // DW_OP_fbreg -64: the locker at 0x7000 holds 0x5000.
    let in_memory = pointer_guard(Loc::Expr(expr(&[dw::DW_OP_fbreg.0, 0x40])));
    assert_eq!(held(read_one(in_memory, &regs, None, &mem)), Some(0x5000));
    assert_eq!(
        held(read_one(
            pointer_guard(Loc::Const(0x6000)),
            &regs,
            None,
            &mem
        )),
        Some(0x6000)
    );
    assert_eq!(
        held(read_one(pointer_guard(Loc::Const(0)), &regs, None, &mem)),
        None,
        "a cleared locker holds nothing"
    );
    // Declared on line 30: a frame at line 30 still runs its initialiser, one at 31 has it.
    let declared = || {
        let mut d = pointer_guard(Loc::Const(0x6000));
        d.decl_line = Some(30);
        d
    };
    let at = |line| held(read_at(declared(), &regs, None, &mem, Some(line)));
    assert_eq!(
        at(30),
        None,
        "not set yet: its bytes are the stack's old ones"
    );
    assert_eq!(at(29), None);
    assert_eq!(at(31), Some(0x6000));
}
