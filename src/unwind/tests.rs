//! Unit tests on hand-made objects: a tiny ELF (loaded as the vdso, from bytes) with CFI written
//! byte by byte, and hand-filled stacks. Real programs are in `tests/unwind_symbolize.rs`.

use super::cfi::{Cfi, Step};
use super::x86_64::{RegState, RA, RBP, RSP};
use super::*;
use crate::objects::elf::ElfFile;
use synthetic::*;

mod bounds;
pub(crate) mod synthetic;

#[test]
fn walks_cfi_to_the_outermost_frame() {
    let cfi = eh_frame(&[cie(), Entry::Fde(0, TEXT, 0x100, vec![])]);
    let space = space_with(elf_object(&[0x90; 16], Some(&cfi)));
    // Three frames: 0x110 returns to 0x121, which returns to 0x131, whose caller is pc 0.
    let mem = stack(64, &[(0, BASE + 0x121), (8, BASE + 0x131), (16, 0)]);
    let (frames, reason) = Unwinder::new().unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 64);
    assert_eq!(reason, None);
    let pcs: Vec<u64> = frames.iter().map(|f| f.pc - BASE).collect();
    assert_eq!(pcs, [0x110, 0x121, 0x131]);
    assert_eq!(frames[0].kind, FrameKind::Ip);
    assert_eq!(frames[0].method, FrameTrust::Context);
    assert!(frames[1..]
        .iter()
        .all(|f| f.kind == FrameKind::ReturnAddress && f.method == FrameTrust::Cfi));
    assert_eq!(frames[2].sp, STACK + 16);
}

/// The unwind data is what the source gives: here an object's bytes for a mapping whose path
/// does not exist, so nothing can have been opened.
#[test]
fn unwind_data_comes_from_the_source() {
    struct Given(Vec<u8>);
    impl crate::objects::Source for Given {
        fn object(&self, _: &AddressSpace, _: &MappedObject) -> Result<ElfFile, String> {
            ElfFile::from_bytes(self.0.clone())
        }
        fn debug_file(&self, _: &MappedObject, _: &ElfFile) -> Option<ElfFile> {
            None
        }
    }
    let cfi = eh_frame(&[cie(), Entry::Fde(0, TEXT, 0x100, vec![])]);
    let object = elf_object(&[0x90; 16], Some(&cfi));
    let mut space = space_with(object.clone());
    space.vdso = None;
    space.objects[0].path = Some("/nonexistent/given.so".into());
    let mem = stack(64, &[(0, BASE + 0x121), (8, BASE + 0x131), (16, 0)]);
    let walk =
        |unwinder: Unwinder| unwinder.unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 64);
    let (frames, reason) = walk(Unwinder::with_source(Box::new(Given(object))));
    assert_eq!(reason, None);
    let pcs: Vec<u64> = frames.iter().map(|f| f.pc - BASE).collect();
    assert_eq!(pcs, [0x110, 0x121, 0x131]);
    // From the files: the mapping names none that opens, so no CFI, and rbp 0 ends the walk.
    let (frames, _) = walk(Unwinder::new());
    assert_eq!(frames.len(), 1);
}

#[test]
fn expression_rules_are_evaluated() {
    // CFA = *(rsp + 16); rbx is at the address rsp + 8 (DW_CFA_expression, CFA pushed first and
    // ignored); rbp = CFA + 32 (DW_CFA_val_expression); r12 = r13 (DW_CFA_register); r14
    // undefined; r15 at CFA - 16 (DW_CFA_offset); ra at CFA - 8 (from the CIE).
    let insns = vec![
        0x0f,
        3,
        0x77,
        16,
        0x06, // def_cfa_expression: breg7 16; deref
        0x10,
        3,
        2,
        0x77,
        8, // expression rbx: breg7 8
        0x16,
        6,
        2,
        0x23,
        32, // val_expression rbp: plus_uconst 32
        0x09,
        12,
        13, // register r12 <- r13
        0x07,
        14, // undefined r14
        0x80 | 15,
        2, // offset r15 at cfa-16
    ];
    let cfi_bytes = eh_frame(&[cie(), Entry::Fde(0, TEXT, 0x100, insns)]);
    let file = ElfFile::from_bytes(elf_object(&[0x90; 16], Some(&cfi_bytes))).unwrap();
    let cfi = Cfi::new(&file);
    let cfa = STACK + 0x100;
    let mem = stack(
        0x200,
        &[(8, 0xb0b), (16, cfa), (0xf0, 0xf15), (0xf8, BASE + 0x140)],
    );
    let mut r = regs(BASE + 0x110, STACK, 0);
    r.r13 = 0x1313;
    r.r14 = 0x1414;
    let step = cfi.step(
        &file.data,
        0x110,
        &RegState::from_regs(&r),
        &mem,
        &mut gimli::UnwindContext::new(),
    );
    let Step::Caller {
        regs: caller,
        after_signal,
    } = step
    else {
        panic!("no caller");
    };
    assert!(!after_signal);
    assert_eq!(caller.sp(), Some(cfa));
    assert_eq!(caller.pc(), Some(BASE + 0x140));
    assert_eq!(caller.get(3), Some(0xb0b));
    assert_eq!(caller.get(RBP), Some(cfa + 32));
    assert_eq!(caller.get(12), Some(0x1313));
    assert_eq!(caller.get(14), None);
    assert_eq!(caller.get(15), Some(0xf15));
}

#[test]
fn an_undefined_return_address_is_the_outermost_frame() {
    let cfi_bytes = eh_frame(&[cie(), Entry::Fde(0, TEXT, 0x100, vec![0x07, RA as u8])]);
    let space = space_with(elf_object(&[0x90; 16], Some(&cfi_bytes)));
    let mem = stack(64, &[]);
    let (frames, reason) = Unwinder::new().unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 64);
    assert_eq!((frames.len(), reason), (1, None));
}

/// A `ucontext` at `at` in a stack: the interrupted rip and rsp (the other gregs 0).
fn ucontext(at: u64, rip: u64, rsp: u64) -> [(u64, u64); 2] {
    [(at + 40 + 15 * 8, rsp), (at + 40 + 16 * 8, rip)]
}

#[test]
fn the_sigreturn_trampoline_resumes_at_the_interrupted_pc() {
    // .text: 0x100 handler code, 0x180 glibc's __restore_rt, 0x1a0 the interrupted code.
    let mut text = vec![0x90; 0x90];
    text[0x80..0x89].copy_from_slice(&SIGRETURN);
    let cfi_bytes = eh_frame(&[
        cie(),
        Entry::Fde(0, TEXT, 0x7f, vec![]),
        Entry::Fde(0, 0x1a0, 0x20, vec![]),
    ]);
    let space = space_with(elf_object(&text, Some(&cfi_bytes)));
    // The handler returns to the trampoline; the ucontext follows; the interrupted code's
    // frame (rsp 0x300) returns to pc 0.
    let mut words = vec![(0, BASE + 0x180)];
    words.extend(ucontext(8, BASE + 0x1a4, STACK + 0x300));
    words.push((0x300, 0));
    let mem = stack(0x400, &words);
    let (frames, reason) = Unwinder::new().unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 64);
    assert_eq!(reason, None);
    let seen: Vec<(u64, FrameKind, FrameTrust)> = frames
        .iter()
        .map(|f| (f.pc - BASE, f.kind, f.method))
        .collect();
    assert_eq!(
        seen,
        [
            (0x110, FrameKind::Ip, FrameTrust::Context),
            (0x1a4, FrameKind::AfterSignal, FrameTrust::Signal)
        ]
    );

    let symbolized = crate::symbolize::Symbolizer::new().symbolize(&space, &frames);
    let marks: Vec<(Option<u32>, bool, Option<u64>)> = symbolized
        .iter()
        .map(|f| (f.index, f.signal_frame, f.address))
        .collect();
    assert_eq!(
        marks,
        [
            (Some(0), false, Some(BASE + 0x110)),
            (Some(1), true, None),
            (Some(2), false, Some(BASE + 0x1a4))
        ]
    );
    assert_eq!(
        symbolized[1].function.as_deref(),
        Some(crate::symbolize::SIGNAL_FRAME)
    );
    assert_eq!(symbolized[0].module.as_deref(), Some("[vdso]"));
}

#[test]
fn a_signal_trampoline_fde_resumes_at_the_interrupted_pc() {
    // Augmentation "S", like glibc's own CFI for __restore_rt (the FDE starts one byte early so
    // that return-address lookups at pc - 1 find it): CFA = *(rsp + 160), ra = *(rsp + 168).
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
        Entry::Fde(0, 0x1a0, 0x20, vec![]),
    ]);
    let space = space_with(elf_object(&[0x90; 0xa0], Some(&cfi_bytes)));
    let mut words = vec![(0, BASE + 0x180)];
    words.extend(ucontext(8, BASE + 0x1a4, STACK + 0x300));
    words.push((0x300, 0));
    let mem = stack(0x400, &words);
    let (frames, reason) = Unwinder::new().unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 64);
    assert_eq!(reason, None);
    let seen: Vec<(u64, FrameKind)> = frames.iter().map(|f| (f.pc - BASE, f.kind)).collect();
    assert_eq!(
        seen,
        [(0x110, FrameKind::Ip), (0x1a4, FrameKind::AfterSignal)]
    );
    // The trampoline itself is not a frame: the symbolizer shows the signal frame marker.
    assert_eq!(frames[1].method, FrameTrust::Signal);
}

#[test]
fn frame_pointers_when_there_is_no_cfi() {
    let space = space_with(elf_object(&[0x90; 16], None));
    // rbp chain: 0x40 -> 0x80 -> 0; return addresses 0x121, 0x131.
    let mem = stack(
        0x100,
        &[
            (0x40, STACK + 0x80),
            (0x48, BASE + 0x121),
            (0x80, 0),
            (0x88, BASE + 0x131),
        ],
    );
    let (frames, reason) =
        Unwinder::new().unwind(&regs(BASE + 0x110, STACK, STACK + 0x40), &mem, &space, 64);
    assert_eq!(reason, None);
    let pcs: Vec<u64> = frames.iter().map(|f| f.pc - BASE).collect();
    assert_eq!(pcs, [0x110, 0x121, 0x131]);
    assert!(frames[1..]
        .iter()
        .all(|f| f.method == FrameTrust::FramePointer));
}

#[test]
fn garbage_gives_a_short_stack_and_a_reason() {
    let cfi = eh_frame(&[cie(), Entry::Fde(0, TEXT, 0x100, vec![])]);
    let space = space_with(elf_object(&[0x90; 16], Some(&cfi)));
    let unwinder = Unwinder::new();
    // A pc outside every mapping.
    let (frames, reason) = unwinder.unwind(&regs(0xdead, STACK, 0), &stack(64, &[]), &space, 64);
    assert_eq!(frames.len(), 1);
    let reason = reason.unwrap();
    assert_eq!(reason.reason, StopReason::OutsideObjects);
    assert!(reason.detail.contains("outside every mapped object"));
    // No stack memory at all.
    let (frames, reason) =
        unwinder.unwind(&regs(BASE + 0x110, 0x10, 0), &Regions(vec![]), &space, 64);
    assert_eq!(frames.len(), 1);
    assert!(reason.unwrap().detail.contains("cannot read"));
    // max_frames 0.
    let (frames, reason) =
        unwinder.unwind(&regs(BASE + 0x110, STACK, 0), &stack(64, &[]), &space, 0);
    assert!(frames.is_empty());
    assert_eq!(reason.map(|r| r.reason), Some(StopReason::FrameLimit));
    // Random registers and stacks (a fixed LCG), pointing into the object now and then.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed
    };
    for _ in 0..300 {
        let mut pick = |n: u64| match next() % 3 {
            0 => BASE + next() % n,
            1 => STACK + next() % 0x1000,
            _ => next(),
        };
        let r = Regs {
            rip: pick(0x300),
            rsp: pick(0x1000),
            rbp: pick(0x1000),
            ..Regs::default()
        };
        let words: Vec<(u64, u64)> = (0..512).map(|i| (i * 8, pick(0x300))).collect();
        let (frames, reason) = unwinder.unwind(&r, &stack(4096, &words), &space, 50);
        assert!(frames.len() <= 50);
        assert!(!reason.is_some_and(|r| r.reason == StopReason::Internal));
    }
}

#[test]
fn corrupt_objects_do_not_panic() {
    let cfi = eh_frame(&[cie(), Entry::Fde(0, TEXT, 0x100, vec![0x0f, 0xff, 0x77])]);
    let good = elf_object(&[0x90; 16], Some(&cfi));
    let unwinder = Unwinder::new();
    let symbolizer = crate::symbolize::Symbolizer::new();
    let mem = stack(64, &[(0, BASE + 0x121)]);
    for cut in (0..good.len()).step_by(7) {
        for flip in [None, Some(cut)] {
            let mut bytes = good.clone();
            bytes.truncate(if flip.is_some() { good.len() } else { cut });
            if let Some(at) = flip {
                bytes[at] ^= 0xff;
            }
            let space = space_with(bytes);
            let (frames, reason) = unwinder.unwind(&regs(BASE + 0x110, STACK, 0), &mem, &space, 16);
            assert!(!reason.is_some_and(|r| r.reason == StopReason::Internal));
            let _ = symbolizer.symbolize(&space, &frames);
        }
    }
}

#[test]
fn memory_regions() {
    let a = MemoryRegion {
        start: 0x1000,
        bytes: vec![1; 16],
    };
    let b = MemoryRegion {
        start: 0x1010,
        bytes: vec![2; 16],
    };
    let mut buf = [0u8; 8];
    assert!(a.read(0x1008, &mut buf) && buf == [1; 8]);
    assert!(!a.read(0x100c, &mut buf));
    assert!(!a.read(0xfff, &mut buf));
    assert!(!a.read(u64::MAX - 2, &mut buf));
    let both = Regions(vec![b, a]);
    assert!(both.read(0x100c, &mut buf));
    assert_eq!(buf, [1, 1, 1, 1, 2, 2, 2, 2]);
    assert!(!both.read(0x101c, &mut buf));
}

#[test]
fn the_signal_frame_layout() {
    let gregs: Vec<(u64, u64)> = (0..17).map(|i| (40 + i * 8, 100 + i)).collect();
    let regs = x86_64::signal_frame(&stack(0x200, &gregs), STACK).unwrap();
    // r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip
    let expect = [
        (8, 100),
        (15, 107),
        (5, 108),
        (4, 109),
        (RBP, 110),
        (3, 111),
        (1, 112),
        (0, 113),
        (2, 114),
        (RSP, 115),
        (RA, 116),
    ];
    for (reg, v) in expect {
        assert_eq!(regs.get(reg), Some(v), "register {reg}");
    }
}

#[test]
fn a_go_function_s_stack_depth_finds_its_caller_and_rbp_only_when_it_set_rbp() {
    use super::x86_64::go_frame_step;
    let state = |pc, sp, bp| RegState::from_regs(&regs(pc, sp, bp));
    // A leaf at depth 0: its return address is at rsp, and rbp is still its caller's.
    let mem = stack(
        0x100,
        &[
            (0, BASE + 0x121),
            (0x30, STACK + 0x80),
            (0x38, BASE + 0x131),
        ],
    );
    let leaf = go_frame_step(&state(BASE + 0x110, STACK, STACK + 0x40), &mem, 0).unwrap();
    let got = |r: RegState| (r.get(RA), r.get(RSP), r.get(RBP));
    assert_eq!(
        got(leaf),
        (Some(BASE + 0x121), Some(STACK + 8), Some(STACK + 0x40))
    );
    // At depth 0x38 with rbp on its saved slot: the caller's rbp is read from there.
    let framed = go_frame_step(&state(BASE + 0x110, STACK, STACK + 0x30), &mem, 0x38).unwrap();
    assert_eq!(
        got(framed),
        (Some(BASE + 0x131), Some(STACK + 0x40), Some(STACK + 0x80))
    );
    // A depth past the copied stack, or negative: no caller.
    assert_eq!(go_frame_step(&state(BASE, STACK, 0), &mem, 0x1000), None);
    assert_eq!(go_frame_step(&state(BASE, STACK, 0), &mem, -8), None);
}
