//! The walk's bounds on hostile CFI and stacks: expressions that loop, a CFA that never
//! changes, frame-pointer and return-address loops, signal frames that return to themselves.
//! Each walk ends with the frames found so far and says why it stopped.

use super::super::x86_64::{RA, RBP};
use super::super::Unwinder;
use super::synthetic::*;
use super::ucontext;
use crate::model::StopReason;

/// `DW_OP_skip -3`: an expression that jumps back to itself forever.
const SKIP_TO_ITSELF: [u8; 3] = [0x2f, 0xfd, 0xff];

/// A walk from a function at 0x110 (the usual CFI) into one at 0x1a0 whose FDE has `insns`.
fn walk_into(insns: Vec<u8>) -> (Vec<u64>, String) {
    let cfi = eh_frame(&[
        cie(),
        Entry::Fde(0, TEXT, 0x80, vec![]),
        Entry::Fde(0, 0x1a0, 0x20, insns),
    ]);
    let space = space_with(elf_object(&[0x90; 0xc0], Some(&cfi)));
    // 0x110 returns to 0x1a5; rbp 0: no frame-pointer chain to fall back on; the word at
    // STACK + 16 holds its own address.
    let mem = stack(
        64,
        &[(0, BASE + 0x1a5), (8, BASE + 0x121), (16, STACK + 16)],
    );
    let (frames, reason) = Unwinder::new().unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 64);
    (
        frames.iter().map(|f| f.pc - BASE).collect(),
        reason.expect("the walk says why it stopped").detail,
    )
}

#[test]
fn a_looping_cfa_expression_stops_the_walk() {
    // DW_CFA_def_cfa_expression { DW_OP_skip -3 }.
    let mut insns = vec![0x0f, 3];
    insns.extend(SKIP_TO_ITSELF);
    let (pcs, reason) = walk_into(insns);
    assert_eq!(pcs, [0x110, 0x1a5]);
    assert!(
        reason.contains("at pc 0x7f00000001a5 in [vdso]: CFI expression runs past 1000 operations"),
        "{reason}"
    );
}

#[test]
fn a_looping_return_address_expression_stops_the_walk() {
    // DW_CFA_expression ra { DW_OP_skip -3 }.
    let mut insns = vec![0x10, RA as u8, 3];
    insns.extend(SKIP_TO_ITSELF);
    let (pcs, reason) = walk_into(insns);
    assert_eq!(pcs, [0x110, 0x1a5]);
    assert!(
        reason.contains("CFI expression runs past 1000 operations"),
        "{reason}"
    );
}

#[test]
fn an_expression_reading_memory_without_end_stops_the_walk() {
    // DW_CFA_def_cfa_expression { DW_OP_breg7 8; DW_OP_deref; DW_OP_skip -4 }: rsp + 8 holds
    // its own address, read again on every turn.
    let (pcs, reason) = walk_into(vec![0x0f, 6, 0x77, 8, 0x06, 0x2f, 0xfc, 0xff]);
    assert_eq!(pcs, [0x110, 0x1a5]);
    assert!(
        reason.contains("CFI expression reads too many values"),
        "{reason}"
    );
}

#[test]
fn a_cfa_that_does_not_increase_stops_the_walk() {
    // CFA = rsp + 0: every caller would have the same stack pointer, forever.
    let cfi = eh_frame(&[
        Entry::Cie("zR", vec![0x0c, 7, 0, 0x80 | RA as u8, 1]),
        Entry::Fde(0, TEXT, 0x100, vec![]),
    ]);
    let space = space_with(elf_object(&[0x90; 16], Some(&cfi)));
    let mem = stack(64, &[(0, BASE + 0x120)]);
    let (frames, reason) =
        Unwinder::new().unwind(&regs(BASE + 0x110, STACK + 8, 0), &mem, &space, 64);
    assert_eq!(frames.len(), 1);
    assert!(reason.unwrap().detail.contains("does not increase"));
}

#[test]
fn a_return_address_loop_ends_at_the_frame_limit() {
    // Every stack slot returns to the same function: the stack grows until max_frames.
    let cfi = eh_frame(&[cie(), Entry::Fde(0, TEXT, 0x100, vec![])]);
    let space = space_with(elf_object(&[0x90; 16], Some(&cfi)));
    let words: Vec<(u64, u64)> = (0..512).map(|i| (i * 8, BASE + 0x121)).collect();
    let mem = stack(4096, &words);
    let (frames, reason) = Unwinder::new().unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 100);
    assert_eq!(frames.len(), 100);
    assert!(reason.unwrap().detail.contains("limit of 100 frames"));
}

#[test]
fn a_signal_frame_that_returns_to_itself_ends() {
    // The saved registers point back into the trampoline with the same stack pointer.
    let cfi_bytes = eh_frame(&[
        cie(),
        Entry::Cie("zRS", vec![]),
        Entry::Fde(0, TEXT, 0x7f, vec![]),
        Entry::Fde(
            1,
            0x17f,
            0x10,
            vec![
                0x0f, 4, 0x77, 0xa0, 0x01, 0x06, 0x10, RA as u8, 3, 0x77, 0xa8, 0x01,
            ],
        ),
    ]);
    let space = space_with(elf_object(&[0x90; 0xa0], Some(&cfi_bytes)));
    let mut words = vec![(0, BASE + 0x180)];
    words.extend(ucontext(8, BASE + 0x180, STACK + 8));
    let mem = stack(0x400, &words);
    let (frames, reason) = Unwinder::new().unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 64);
    assert!(frames.len() <= 2, "{frames:x?}");
    assert!(reason
        .unwrap()
        .detail
        .contains("too many nested signal frames"));
}

#[test]
fn a_frame_pointer_loop_is_detected() {
    let space = space_with(elf_object(&[0x90; 16], None));
    // rbp points at itself.
    let mem = stack(0x100, &[(0x40, STACK + 0x40), (0x48, BASE + 0x121)]);
    let (frames, reason) =
        Unwinder::new().unwind(&regs(BASE + 0x110, STACK, STACK + 0x40), &mem, &space, 64);
    assert_eq!(frames.len(), 2);
    assert!(reason.unwrap().detail.contains("not a frame pointer"));
}

#[test]
fn a_cfa_from_a_frame_pointer_that_points_to_itself_stops_the_walk() {
    // CFA = rbp + 16, rbp saved at CFA - 16: the saved rbp is rbp itself, so the caller's CFA
    // is the callee's, and its return address the same, forever.
    let cfi = eh_frame(&[
        cie(),
        Entry::Fde(
            0,
            TEXT,
            0x100,
            vec![0x0c, RBP as u8, 16, 0x80 | RBP as u8, 2],
        ),
    ]);
    let space = space_with(elf_object(&[0x90; 16], Some(&cfi)));
    let mem = stack(0x100, &[(0x40, STACK + 0x40), (0x48, BASE + 0x121)]);
    let (frames, reason) =
        Unwinder::new().unwind(&regs(BASE + 0x110, STACK, STACK + 0x40), &mem, &space, 64);
    assert_eq!(frames.len(), 2);
    let reason = reason.unwrap();
    assert_eq!(reason.reason, StopReason::CfaNotIncreasing);
    assert!(reason.detail.contains("does not increase"), "{reason:?}");
}
