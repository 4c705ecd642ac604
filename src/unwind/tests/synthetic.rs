//! Hand-made test inputs: `.eh_frame` bytes (CIEs and FDEs with absolute pointers), a tiny
//! x86_64 ELF object holding them, address spaces that map it as the vdso, filled stacks.

use super::super::x86_64::RA;
use super::super::{AddressSpace, MappedObject, MemoryRegion, Regs};

pub(super) const BASE: u64 = 0x7f00_0000_0000;
pub(super) const STACK: u64 = 0x7ffd_0000_0000;
/// Where `.text` starts, in the object and at runtime.
pub(super) const TEXT: u64 = 0x100;
pub(super) const SIGRETURN: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

pub(super) fn uleb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

pub(super) fn sleb(mut v: i64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

/// An `.eh_frame` entry: a CIE (augmentation, initial instructions) or an FDE (its CIE's
/// index among the entries, start SVMA, length, instructions). Pointers are absolute udata8.
pub(super) enum Entry<'a> {
    Cie(&'a str, Vec<u8>),
    Fde(usize, u64, u64, Vec<u8>),
}

pub(super) fn eh_frame(entries: &[Entry]) -> Vec<u8> {
    let mut out = vec![];
    let mut positions = vec![];
    for entry in entries {
        let pos = out.len();
        positions.push(pos);
        let mut body = vec![];
        match entry {
            Entry::Cie(aug, insns) => {
                body.extend(0u32.to_le_bytes());
                body.push(1);
                body.extend(aug.as_bytes());
                body.push(0);
                uleb(1, &mut body);
                sleb(-8, &mut body);
                body.push(RA as u8);
                uleb(1, &mut body);
                body.push(0x04); // DW_EH_PE_udata8
                body.extend(insns);
            }
            Entry::Fde(cie, start, len, insns) => {
                body.extend(((pos + 4 - positions[*cie]) as u32).to_le_bytes());
                body.extend(start.to_le_bytes());
                body.extend(len.to_le_bytes());
                uleb(0, &mut body);
                body.extend(insns);
            }
        }
        while !(body.len() + 4).is_multiple_of(8) {
            body.push(0); // DW_CFA_nop
        }
        out.extend((body.len() as u32).to_le_bytes());
        out.extend(body);
    }
    out.extend(0u32.to_le_bytes());
    out
}

/// A 64-bit x86_64 ELF shared object: one `PT_LOAD` of the whole file at vaddr 0, `.text`
/// (0x100 bytes at 0x100, `text` at its start, int3 after), `.eh_frame` at 0x200 if given.
pub(crate) fn elf_object(text: &[u8], cfi: Option<&[u8]>) -> Vec<u8> {
    let mut f = vec![0u8; 0x200];
    f[0x100..0x200].fill(0xcc);
    f[0x100..0x100 + text.len()].copy_from_slice(text);
    let eh = cfi.unwrap_or(&[]);
    f.extend(eh);
    let shstrtab_off = f.len();
    let names = b"\0.text\0.eh_frame\0.shstrtab\0";
    f.extend(names);
    while !f.len().is_multiple_of(8) {
        f.push(0);
    }
    let shoff = f.len();
    let sh = |name: u32, kind: u32, flags: u64, addr: u64, off: u64, size: u64, f: &mut Vec<u8>| {
        f.extend(name.to_le_bytes());
        f.extend(kind.to_le_bytes());
        f.extend(flags.to_le_bytes());
        f.extend(addr.to_le_bytes());
        f.extend(off.to_le_bytes());
        f.extend(size.to_le_bytes());
        f.extend([0u8; 8]); // link, info
        f.extend(1u64.to_le_bytes());
        f.extend(0u64.to_le_bytes());
    };
    sh(0, 0, 0, 0, 0, 0, &mut f);
    sh(1, 1, 6, TEXT, TEXT, 0x100, &mut f);
    let mut count = 2u16;
    if cfi.is_some() {
        sh(7, 1, 2, 0x200, 0x200, eh.len() as u64, &mut f);
        count += 1;
    }
    sh(17, 3, 0, 0, shstrtab_off as u64, names.len() as u64, &mut f);
    count += 1;
    let total = f.len() as u64;
    let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    h.resize(16, 0);
    h.extend(3u16.to_le_bytes()); // ET_DYN
    h.extend(62u16.to_le_bytes()); // EM_X86_64
    h.extend(1u32.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    h.extend(64u64.to_le_bytes());
    h.extend((shoff as u64).to_le_bytes());
    h.extend(0u32.to_le_bytes());
    for v in [64u16, 56, 1, 64, count, count - 1] {
        h.extend(v.to_le_bytes());
    }
    h.extend(1u32.to_le_bytes()); // PT_LOAD
    h.extend(5u32.to_le_bytes()); // R+X
    for v in [0u64, 0, 0, total, total, 0x1000] {
        h.extend(v.to_le_bytes());
    }
    f[..h.len()].copy_from_slice(&h);
    f
}

/// The object as the vdso of an address space at `BASE`.
pub(super) fn space_with(object: Vec<u8>) -> AddressSpace {
    AddressSpace {
        objects: vec![MappedObject {
            start: BASE,
            end: BASE + object.len() as u64,
            offset: 0,
            name: "[vdso]".into(),
            path: None,
            executable: true,
            inode: None,
        }],
        vdso: Some(MemoryRegion {
            start: BASE,
            bytes: object,
        }),
        started: None,
    }
}

/// A stack of `len` bytes at `STACK` with `words` written at the given offsets.
pub(super) fn stack(len: usize, words: &[(u64, u64)]) -> MemoryRegion {
    let mut bytes = vec![0u8; len];
    for &(at, v) in words {
        bytes[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    }
    MemoryRegion {
        start: STACK,
        bytes,
    }
}

pub(super) fn regs(rip: u64, rsp: u64, rbp: u64) -> Regs {
    Regs {
        rip,
        rsp,
        rbp,
        ..Regs::default()
    }
}

/// The usual CIE: CFA = rsp + 8, return address at CFA - 8.
pub(super) fn cie() -> Entry<'static> {
    Entry::Cie("zR", vec![0x0c, 7, 8, 0x80 | RA as u8, 1])
}
