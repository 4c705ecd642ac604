//! The notes of an x86-64 Linux core file, decoded from their raw bytes: `NT_PRSTATUS` (one per
//! thread: its tid and registers), `NT_PRPSINFO` (the process's pid and command name),
//! `NT_FILE` (which file is mapped where) and `NT_AUXV` (where the vdso and the program's
//! entry point are). Layouts are the kernel's (`include/uapi/linux/elfcore.h`,
//! `fs/binfmt_elf.c`); short or malformed notes are skipped, never trusted.

use crate::unwind::Regs;

/// `AT_PHDR`: the program's program headers (inside the executable's first mapping).
pub const AT_PHDR: u64 = 3;
/// `AT_SYSINFO_EHDR`: the vdso.
pub const AT_SYSINFO_EHDR: u64 = 33;

/// One thread's status.
#[derive(Debug, Clone)]
pub struct PrStatus {
    /// Its tid.
    pub tid: u32,
    /// Its registers.
    pub regs: Regs,
    /// `orig_rax`: the system call it was in, or -1.
    pub orig_rax: u64,
    /// `fs_base`: the thread pointer (its TLS and, with glibc, its `struct pthread`).
    pub fs_base: u64,
}

/// `struct elf_prstatus` on x86-64: `pr_pid` at 32, `pr_reg` (27 registers) at 112.
pub fn prstatus(desc: &[u8]) -> Option<PrStatus> {
    const PID: usize = 32;
    const REG: usize = 112;
    let tid = u32_at(desc, PID)?;
    let r = |i: usize| u64_at(desc, REG + 8 * i);
    // user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip
    // cs eflags rsp ss fs_base ...
    let regs = Regs {
        r15: r(0)?,
        r14: r(1)?,
        r13: r(2)?,
        r12: r(3)?,
        rbp: r(4)?,
        rbx: r(5)?,
        r11: r(6)?,
        r10: r(7)?,
        r9: r(8)?,
        r8: r(9)?,
        rax: r(10)?,
        rcx: r(11)?,
        rdx: r(12)?,
        rsi: r(13)?,
        rdi: r(14)?,
        rip: r(16)?,
        rsp: r(19)?,
    };
    Some(PrStatus {
        tid,
        regs,
        orig_rax: r(15)?,
        fs_base: r(21)?,
    })
}

/// `struct elf_prpsinfo` on x86-64: `pr_pid` at 24, `pr_fname[16]` at 40.
pub fn prpsinfo(desc: &[u8]) -> Option<(u32, String)> {
    let pid = u32_at(desc, 24)?;
    let name = desc.get(40..56)?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Some((pid, String::from_utf8_lossy(&name[..end]).into_owned()))
}

/// One `NT_FILE` entry: the file mapped at `start..end` from byte `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    /// First address.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// The file offset mapped at `start`, in bytes.
    pub offset: u64,
    /// The file's path as the process saw it.
    pub name: String,
}

/// `NT_FILE`: a count, the page size, `count` (start, end, offset in pages) triples, then
/// `count` NUL-terminated names.
pub fn files(desc: &[u8]) -> Vec<FileMapping> {
    let (Some(count), Some(page)) = (u64_at(desc, 0), u64_at(desc, 8)) else {
        return Vec::new();
    };
    // Each entry takes 24 bytes: a count larger than the note is a lie.
    let count = usize::try_from(count).unwrap_or(0).min(desc.len() / 24);
    let mut names = desc
        .get(16 + count * 24..)
        .unwrap_or_default()
        .split(|&b| b == 0);
    (0..count)
        .map_while(|i| {
            let at = 16 + i * 24;
            Some(FileMapping {
                start: u64_at(desc, at)?,
                end: u64_at(desc, at + 8)?,
                offset: u64_at(desc, at + 16)?.checked_mul(page)?,
                name: String::from_utf8_lossy(names.next()?).into_owned(),
            })
        })
        .collect()
}

/// `NT_AUXV`: the value of entry `key`.
pub fn auxv(desc: &[u8], key: u64) -> Option<u64> {
    desc.chunks_exact(16)
        .map(|c| (u64_at(c, 0), u64_at(c, 8)))
        .find_map(|(k, v)| (k == Some(key)).then_some(v).flatten())
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_notes_decode_and_lying_counts_are_cut() {
        let mut d = Vec::new();
        for v in [2u64, 4096, 0x1000, 0x2000, 0, 0x3000, 0x5000, 2] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(b"/bin/a\0/lib/b.so\0");
        let f = files(&d);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[1].start, f[1].offset, f[1].name.as_str()),
            (0x3000, 8192, "/lib/b.so")
        );
        d[0] = 200;
        assert!(files(&d).len() <= 2);
        assert!(files(&d[..5]).is_empty());
    }

    #[test]
    fn prstatus_needs_the_whole_register_set() {
        let mut d = vec![0u8; 336];
        d[32..36].copy_from_slice(&4242u32.to_le_bytes());
        d[112 + 16 * 8..112 + 17 * 8].copy_from_slice(&0x401000u64.to_le_bytes());
        let s = prstatus(&d).unwrap();
        assert_eq!((s.tid, s.regs.rip), (4242, 0x401000));
        assert!(prstatus(&d[..200]).is_none());
    }

    #[test]
    fn auxv_finds_its_key() {
        let mut d = Vec::new();
        for v in [3u64, 0x400040, 33, 0x7fff0000, 0, 0] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(auxv(&d, AT_SYSINFO_EHDR), Some(0x7fff0000));
        assert_eq!(auxv(&d, 99), None);
    }
}
