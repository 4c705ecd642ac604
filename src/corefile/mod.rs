//! ELF core files, written by the kernel or by gdb's `gcore`, as a [`ProcessImage`]: each
//! thread's registers from `NT_PRSTATUS`, the mapped files from `NT_FILE`, memory from the
//! `PT_LOAD` segments, the vdso from `NT_AUXV`. From there unwinding, symbolization and the
//! analysis are the live capture's, owner evidence from memory included.
//!
//! The core holds the program's data, not its code: objects are opened from disk (under
//! `--sysroot`; the executable from `--exe`). Each object's build-id, as the core kept it in
//! the object's first page, is compared with the file's: a file that is not the one the
//! process ran is reported and not used, rather than producing confident garbage.
//!
//! A truncated core (shorter than its program headers say) is read up to the cut: every whole
//! note before it, so every thread whose `NT_PRSTATUS` is whole, and the memory still in the
//! file. `cut.rs` says what was lost, first among the diagnostics, and the snapshot is not
//! complete.

mod cut;
mod notes;
mod tcb;

use crate::error::{Error, Result};
use crate::limits::{stack_share, threads_dropped, MAX_THREADS};
use crate::model::{Diagnostic, KernelInfo, KernelState};
use crate::objects::elf::{Bytes, ElfFile};
use crate::stackwalk::{ImageThread, ProcessImage};
use crate::unwind::{AddressSpace, MappedObject, MemoryRegion};
use object::elf::{
    FileHeader64, NT_AUXV, NT_FILE, NT_PRPSINFO, NT_PRSTATUS, PF_X, PT_LOAD, PT_NOTE,
};
use object::read::elf::{FileHeader, NoteIterator, ProgramHeader};
use object::LittleEndian as LE;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to read a core.
#[derive(Debug, Clone, Default)]
pub struct CoreOptions {
    /// The executable the process ran, when it is not at the path the core names.
    pub exe: Option<PathBuf>,
    /// A directory the core's paths are relative to (a copy of the machine's root).
    pub sysroot: Option<PathBuf>,
    /// Bytes of each thread's stack used, from the stack pointer up.
    pub stack_bytes: usize,
}

/// The x86-64 red zone below the stack pointer.
const RED_ZONE: u64 = 128;

/// One `PT_LOAD` segment: `filesz` bytes of the core at `offset` are memory at `vaddr`
/// (`memsz` long: what was not dumped reads as absent).
#[derive(Debug, Clone, Copy)]
struct Load {
    vaddr: u64,
    memsz: u64,
    filesz: u64,
    offset: u64,
    executable: bool,
}

/// A core file, mapped (or in memory), with its segments and notes decoded.
struct Core {
    data: Bytes,
    loads: Vec<Load>,
    threads: Vec<notes::PrStatus>,
    /// `NT_PRSTATUS` notes past [`MAX_THREADS`], not read.
    dropped: usize,
    /// Written by a debugger (`gcore`: BFD writes section headers, the kernel none but for
    /// more than 65 535 segments), which names threads by the ids of its own PID namespace.
    by_debugger: bool,
    process: Option<(u32, String)>,
    files: Vec<notes::FileMapping>,
    auxv: Vec<u8>,
    /// How the file is cut, when it is shorter than its program headers say.
    cut: Option<cut::Cut>,
}

impl Core {
    fn open(path: &Path) -> Result<Core> {
        let file = std::fs::File::open(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let data = Bytes::of_file(&file).map_err(|e| Error::Core {
            path: path.display().to_string(),
            detail: format!("cannot read: {e}"),
        })?;
        Core::parse(data, &path.display().to_string())
    }

    /// Decodes the segments and notes of the core in `data`; `origin` names it in errors.
    fn parse(data: Bytes, origin: &str) -> Result<Core> {
        let err = |detail: String| Error::Core {
            path: origin.to_string(),
            detail,
        };
        let header = FileHeader64::<LE>::parse(&*data).map_err(|_| {
            err(if data.starts_with(b"\x7fELF") && data.len() < 64 {
                format!(
                    "the core is truncated: cut at {} bytes, inside its ELF header; nothing in \
                     it can be read (copy it again whole)",
                    data.len()
                )
            } else {
                "not an ELF file (is it a core dump?)".into()
            })
        })?;
        let e = LE;
        if header.e_type(e) != object::elf::ET_CORE {
            return Err(err(
                "an ELF file, but not a core dump (pass the program with --exe)".into(),
            ));
        }
        if header.e_machine(e) != object::elf::EM_X86_64 {
            return Err(err(format!(
                "a core of machine {}; only x86-64 cores are read",
                header.e_machine(e)
            )));
        }
        let phdrs = header.program_headers(e, &*data).map_err(|_| {
            let table = header
                .e_phoff(e)
                .saturating_add(u64::from(header.e_phnum(e)) * 56);
            err(if table > data.len() as u64 {
                format!(
                    "the core is truncated: cut at {} bytes, inside its program headers; \
                     nothing in it can be read (copy it again whole)",
                    data.len()
                )
            } else {
                "its program headers cannot be read".into()
            })
        })?;
        let section_headers = header
            .e_shoff(e)
            .saturating_add(u64::from(header.e_shnum(e)) * u64::from(header.e_shentsize(e)));
        let cut = cut::measure(
            data.len() as u64,
            section_headers,
            phdrs
                .iter()
                .map(|ph| (ph.p_type(e), ph.p_offset(e), ph.p_filesz(e))),
        );
        let (mut loads, mut threads, mut process, mut files, mut auxv) =
            (Vec::new(), Vec::new(), None, Vec::new(), Vec::new());
        let mut dropped = 0;
        for ph in phdrs {
            match ph.p_type(e) {
                PT_LOAD => loads.push(Load {
                    vaddr: ph.p_vaddr(e),
                    memsz: ph.p_memsz(e),
                    filesz: ph.p_filesz(e),
                    offset: ph.p_offset(e),
                    executable: ph.p_flags(e).0 & PF_X.0 != 0,
                }),
                PT_NOTE => {
                    // A cut core keeps the notes before the cut: each whole note is read.
                    let Some(mut it) =
                        present(&data, ph.p_offset(e), ph.p_filesz(e)).and_then(|b| {
                            NoteIterator::<FileHeader64<LE>>::new(e, ph.p_align(e), b).ok()
                        })
                    else {
                        continue;
                    };
                    while let Ok(Some(note)) = it.next() {
                        let desc = note.desc();
                        match note.n_type(e) {
                            NT_PRSTATUS if threads.len() == MAX_THREADS => dropped += 1,
                            NT_PRSTATUS => threads.extend(notes::prstatus(desc)),
                            NT_PRPSINFO => process = notes::prpsinfo(desc),
                            NT_FILE => files = notes::files(desc),
                            NT_AUXV => auxv = desc.to_vec(),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if threads.is_empty() {
            return Err(err(match &cut {
                Some(cut) => format!(
                    "{}, before the first whole thread note (NT_PRSTATUS): no thread's \
                     registers are left, nothing in it can be analysed (copy it again whole)",
                    cut.at()
                ),
                None => "no thread in it (no NT_PRSTATUS note): the core is empty".into(),
            }));
        }
        loads.sort_by_key(|l| l.vaddr);
        Ok(Core {
            by_debugger: header.e_shnum(e) > 0 && header.e_phnum(e) != object::elf::PN_XNUM,
            data,
            loads,
            threads,
            dropped,
            process,
            files,
            auxv,
            cut,
        })
    }

    /// Up to `len` bytes of memory at `addr` (fewer at the end of what was dumped, or at the
    /// end of a truncated file).
    fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        self.backing(addr, len)
            .and_then(|(start, n)| present(&self.data, start, n))
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }

    /// Whether the core dumped the `len` bytes of memory at `addr` (as far as they go) but the
    /// file is cut before their end: `Some(true)` when none of them is left, `Some(false)` when
    /// some are, `None` when they are all there (or were never dumped).
    fn cut_short(&self, addr: u64, len: usize) -> Option<bool> {
        let (start, n) = self.backing(addr, len)?;
        let have = (self.data.len() as u64).saturating_sub(start);
        (have < n).then_some(have == 0)
    }

    /// Where in the file the (up to) `len` bytes of memory at `addr` are: offset and length.
    fn backing(&self, addr: u64, len: usize) -> Option<(u64, u64)> {
        let i = self
            .loads
            .partition_point(|l| l.vaddr <= addr)
            .checked_sub(1)?;
        let l = self.loads[i];
        let off = addr - l.vaddr;
        (off < l.filesz).then(|| {
            (
                l.offset.saturating_add(off),
                (l.filesz - off).min(len as u64),
            )
        })
    }

    /// The end of the segment holding `addr`.
    fn segment_end(&self, addr: u64) -> Option<u64> {
        let i = self
            .loads
            .partition_point(|l| l.vaddr <= addr)
            .checked_sub(1)?;
        let l = self.loads[i];
        (addr - l.vaddr < l.memsz).then(|| l.vaddr.saturating_add(l.memsz))
    }
}

/// Reads a core file into the image the stack walker works on.
pub fn read_core(path: &Path, opts: &CoreOptions) -> Result<ProcessImage> {
    let began = Instant::now();
    Ok(image(Core::open(path)?, opts, began))
}

/// [`read_core`] for a core already in memory (`origin` names it in errors): a core that is not
/// a file, such as the core-file fuzz target's input. The objects it maps are still opened
/// from disk.
pub fn read_core_bytes(bytes: Vec<u8>, origin: &str, opts: &CoreOptions) -> Result<ProcessImage> {
    let began = Instant::now();
    Ok(image(
        Core::parse(Bytes::Owned(bytes), origin)?,
        opts,
        began,
    ))
}

/// The process image of a decoded core.
fn image(core: Core, opts: &CoreOptions, began: Instant) -> ProcessImage {
    let mut diagnostics = Vec::new();
    let space = address_space(&core, opts, &mut diagnostics);
    let (pid, name) = match &core.process {
        Some((pid, name)) => (Some(*pid), Some(name.clone())),
        None => (None, None),
    };
    diagnostics.extend(threads_dropped(core.dropped));
    let (stack_bytes, shared) = stack_share(opts.stack_bytes, core.threads.len());
    diagnostics.extend(shared);
    let pointers: Vec<(u64, u64)> = core
        .threads
        .iter()
        .map(|t| (u64::from(t.tid), t.fs_base))
        .collect();
    let (ns_tids, said) =
        tcb::namespace_tids(&pointers, &space, core.by_debugger, |a, n| core.read(a, n));
    diagnostics.extend(said);
    let mut evidence = Vec::new();
    let mut lost = cut::Lost {
        threads: core.threads.len(),
        files: core.files.is_empty(),
        ..cut::Lost::default()
    };
    let threads: Vec<ImageThread> = core
        .threads
        .iter()
        .map(|t| {
            let (syscall, futex, memory) =
                crate::syscalls::blocking_facts(&t.regs, t.orig_rax, |a, n| core.read(a, n));
            evidence.extend(memory);
            if futex.is_some_and(|f| core.cut_short(f.address, 4).is_some()) {
                lost.words.push(t.tid);
            }
            let sp = t.regs.rsp;
            let start = sp.saturating_sub(RED_ZONE);
            let end = core
                .segment_end(sp)
                .unwrap_or(sp)
                .min(start.saturating_add(stack_bytes as u64));
            let len = end.saturating_sub(start) as usize;
            let stack_cut = core.cut_short(start, len).map(|none_left| {
                if none_left {
                    lost.stacks.push(t.tid);
                    "the core is truncated before this stack"
                } else {
                    lost.stacks_partial.push(t.tid);
                    "the core is truncated inside this stack"
                }
                .to_string()
            });
            let stack = MemoryRegion {
                start,
                bytes: core.read(start, len),
            };
            ImageThread {
                tid: u64::from(t.tid),
                // A core keeps only the process's name: it is the main thread's.
                name: name.clone().filter(|_| Some(t.tid) == pid),
                state: KernelState::Unknown,
                regs: Some(t.regs),
                no_regs: None,
                stack: Some(stack),
                stack_cut,
                kernel: KernelInfo {
                    syscall,
                    futex,
                    ..KernelInfo::default()
                },
            }
        })
        .collect();
    let futexes: Vec<u64> = (threads.iter())
        .filter_map(|t| Some(t.kernel.futex?.address))
        .collect();
    let python = crate::runtime::python::locate(&space).map(|found| {
        found.map(|at| {
            let read = |a: u64, n: usize| core.read(a, n);
            let max = crate::limits::MAX_FRAMES;
            crate::runtime::python::read(&at, &read, &space, max, &futexes)
        })
    });
    let go = crate::runtime::go::locate(&space).map(|found| {
        found.map(|at| {
            let read = |a: u64, n: usize| core.read(a, n);
            crate::runtime::go::read(&at, &read, &space, crate::limits::MAX_FRAMES, None)
        })
    });
    // What the cut took is said first: everything after it is read from what is left.
    if let Some(cut) = &core.cut {
        diagnostics.insert(0, cut.diagnostic(&lost));
    }
    ProcessImage {
        pid,
        threads,
        space,
        evidence,
        frozen: None,
        captured_in: began.elapsed(),
        vanished: Vec::new(),
        all_threads: core.dropped == 0 && core.cut.as_ref().is_none_or(cut::Cut::loses_nothing),
        diagnostics,
        ns_tids,
        python,
        go,
    }
}

/// The mappings: every file `NT_FILE` names (its path resolved on this machine and checked
/// against the core), and every other `PT_LOAD` (the vdso, stacks, heaps). A file mapping is
/// executable as its `PT_LOAD` says; `gcore` leaves out the segments it did not dump (the
/// read-only ones: code), so a file mapping without one is taken to be code.
fn address_space(core: &Core, opts: &CoreOptions, diags: &mut Vec<Diagnostic>) -> AddressSpace {
    let vdso_at = notes::auxv(&core.auxv, notes::AT_SYSINFO_EHDR);
    let phdr_at = notes::auxv(&core.auxv, notes::AT_PHDR);
    let exe_name = phdr_at.and_then(|a| {
        core.files
            .iter()
            .find(|f| f.start <= a && a < f.end)
            .map(|f| f.name.clone())
    });
    let load_at = |start: u64| core.loads.iter().find(|l| l.vaddr == start);
    let mut checked: Vec<(String, Option<PathBuf>)> = Vec::new();
    let mut objects: Vec<MappedObject> = Vec::new();
    for f in &core.files {
        let path = match checked.iter().find(|(n, _)| *n == f.name) {
            Some((_, p)) => p.clone(),
            None => {
                let exe = opts
                    .exe
                    .as_ref()
                    .filter(|_| exe_name.as_ref() == Some(&f.name));
                let p = resolve(core, f, exe, opts.sysroot.as_deref(), diags);
                checked.push((f.name.clone(), p.clone()));
                p
            }
        };
        objects.push(MappedObject {
            start: f.start,
            end: f.end,
            offset: f.offset,
            name: f.name.clone(),
            path,
            executable: load_at(f.start).is_none_or(|l| l.executable),
            inode: None,
        });
    }
    let in_file = |a: u64| core.files.iter().any(|f| f.start <= a && a < f.end);
    for l in core.loads.iter().filter(|l| !in_file(l.vaddr)) {
        let vdso = Some(l.vaddr) == vdso_at;
        objects.push(MappedObject {
            start: l.vaddr,
            end: l.vaddr.saturating_add(l.memsz),
            offset: 0,
            name: if vdso { "[vdso]" } else { "" }.to_string(),
            path: None,
            executable: l.executable,
            inode: None,
        });
    }
    objects.sort_by_key(|o| o.start);
    let vdso = vdso_at.and_then(|a| {
        let len = core.segment_end(a)?.checked_sub(a)?;
        let bytes = core.read(a, len as usize);
        (!bytes.is_empty()).then_some(MemoryRegion { start: a, bytes })
    });
    AddressSpace {
        objects,
        vdso,
        started: None,
    }
}

/// Where the file `f` of the core is on this machine (`exe` for the executable, else its path
/// under `sysroot`), if it exists and its build-id matches the one the core kept.
fn resolve(
    core: &Core,
    f: &notes::FileMapping,
    exe: Option<&PathBuf>,
    sysroot: Option<&Path>,
    diags: &mut Vec<Diagnostic>,
) -> Option<PathBuf> {
    let path = match (exe, sysroot) {
        (Some(exe), _) => exe.clone(),
        (None, Some(root)) => root.join(f.name.trim_start_matches('/')),
        (None, None) => PathBuf::from(&f.name),
    };
    let mut say = |message: String| {
        diags.push(Diagnostic {
            line: None,
            message,
        })
    };
    let file = match ElfFile::open(&path) {
        Ok(file) => file,
        Err(e) => {
            say(format!(
                "{}: {e}; its frames stay unnamed (pass --sysroot DIR, or --exe for the program)",
                f.name
            ));
            return None;
        }
    };
    let kept = core_build_id(core, f);
    match (kept, &file.build_id) {
        (Some(kept), Some(on_disk)) if &kept != on_disk => {
            say(format!(
                "{} is not the file the process ran as {}: the core has build-id {}, the file {}; \
                 it is not used (pass the right one with --exe or --sysroot)",
                path.display(),
                f.name,
                hex(&kept),
                hex(on_disk)
            ));
            None
        }
        (None, Some(_)) if f.offset == 0 && core.cut_short(f.start, 4096).is_some() => {
            say(format!(
                "{}: used without being checked against the core: the core is truncated before \
                 the page that holds its build-id",
                path.display()
            ));
            Some(path)
        }
        _ => Some(path),
    }
}

/// The build-id of the object mapped by `f`, from the first page the core kept of it (cores
/// keep the ELF header page of every mapped object).
fn core_build_id(core: &Core, f: &notes::FileMapping) -> Option<Vec<u8>> {
    if f.offset != 0 {
        return None;
    }
    let page = core.read(f.start, 4096);
    let header = FileHeader64::<LE>::parse(&*page).ok()?;
    let phdrs = header.program_headers(LE, &*page).ok()?;
    phdrs
        .iter()
        .filter(|ph| ph.p_type(LE) == PT_NOTE)
        .find_map(|ph| {
            let mut it = ph.notes(LE, &*page).ok()??;
            while let Ok(Some(note)) = it.next() {
                if note.n_type(LE) == object::elf::NT_GNU_BUILD_ID && note.name() == b"GNU" {
                    return Some(note.desc().to_vec());
                }
            }
            None
        })
}

/// The part of the file's `size` bytes at `offset` that is in `data` (all of them unless the
/// file is cut), if any.
fn present(data: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = usize::try_from(offset.saturating_add(size))
        .unwrap_or(usize::MAX)
        .min(data.len());
    data.get(start..end).filter(|b| !b.is_empty())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
