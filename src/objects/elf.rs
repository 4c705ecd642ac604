//! Mapped objects as ELF files, shared by unwinding and symbolization: opening one (a file on
//! disk, or the vdso from its copied bytes), translating a runtime address to the object's
//! static address (SVMA) through its program headers, and saying when the file read may not be
//! what the process has mapped (it changed after the process started). Separate debug files
//! are [`super::debugfile`]'s.

use super::{AddressSpace, MappedObject};
use memmap2::Mmap;
use object::{Object, ObjectSegment};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

/// The objects read: x86_64 (the unwinder's `x86_64` reads their code and CFI).
pub(crate) const ARCHITECTURE: object::Architecture = object::Architecture::X86_64;

/// The bytes of an object: a read-only file mapping, or an owned copy (the vdso).
pub(crate) enum Bytes {
    Map(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    /// The whole of `file`, mapped; a file that cannot be mapped is read. Mapping fails for
    /// want of address space (`ulimit -v`) as an allocation would: reading then either
    /// succeeds or runs out of memory, which ends hangscan with its message. It must not end
    /// in an object left unread, whose frames would go missing and change the verdict.
    pub fn of_file(file: &std::fs::File) -> std::io::Result<Bytes> {
        // SAFETY: the mapping is read-only and private to this process; like every debugger
        // we accept that a file truncated while mapped may fault.
        match unsafe { Mmap::map(file) } {
            Ok(map) => Ok(Bytes::Map(map)),
            Err(_) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut &*file, &mut bytes)?;
                Ok(Bytes::Owned(bytes))
            }
        }
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// One `PT_LOAD` program header: file bytes `offset..offset+filesz` load at `vaddr`, in
/// `memsz` bytes of memory (the rest zeroed: `.bss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub offset: u64,
    pub filesz: u64,
    pub vaddr: u64,
    pub memsz: u64,
}

/// An ELF object with what every user needs precomputed.
pub(crate) struct ElfFile {
    pub data: Bytes,
    pub segments: Vec<Segment>,
    pub build_id: Option<Vec<u8>>,
    /// The file name in `.gnu_debuglink`.
    pub debuglink: Option<Vec<u8>>,
    /// The CRC-32 of the debug file, in `.gnu_debuglink`.
    pub debuglink_crc: Option<u32>,
    /// The file name in `.gnu_debugaltlink` (dwz's supplementary file).
    pub altlink: Option<Vec<u8>>,
    /// The build-id of that supplementary file, in `.gnu_debugaltlink`.
    pub altlink_id: Option<Vec<u8>>,
    /// Which file was read (`None` for copied bytes).
    pub identity: Option<Identity>,
}

/// The file an object was read from, as `fstat` of the open file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub dev: u64,
    pub ino: u64,
    /// Its last status change (`ctime`): a write, also one that put the modification time
    /// back (`cp -p`, `touch -d`), moves it, and nothing can set it back.
    pub changed: SystemTime,
    /// When it was created, if the file system says (`statx` birth time).
    pub born: Option<SystemTime>,
}

/// A file last changed within this of its creation was written once, when it was made.
const WRITTEN_WHEN_MADE: Duration = Duration::from_secs(2);

/// The precision of a process's start time: `/proc/PID/stat` counts it in `USER_HZ` ticks,
/// which the kernel's ABI fixes at 100 a second.
const START_TICK: Duration = Duration::from_millis(10);

impl ElfFile {
    /// Maps and parses the file at `path`.
    pub fn open(path: &Path) -> Result<ElfFile, String> {
        let file = super::open::open_regular(path)?;
        let bytes =
            Bytes::of_file(&file).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let identity = file.metadata().ok().map(|m| Identity {
            dev: m.dev(),
            ino: m.ino(),
            changed: SystemTime::UNIX_EPOCH
                + Duration::new(
                    u64::try_from(m.ctime()).unwrap_or(0),
                    u32::try_from(m.ctime_nsec()).unwrap_or(0),
                ),
            born: m.created().ok(),
        });
        let mut elf = ElfFile::new(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        elf.identity = identity;
        Ok(elf)
    }

    /// Parses an object from copied bytes (the vdso).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<ElfFile, String> {
        ElfFile::new(Bytes::Owned(bytes))
    }

    fn new(data: Bytes) -> Result<ElfFile, String> {
        let parsed = object::File::parse(&*data).map_err(|e| format!("not an ELF object: {e}"))?;
        if parsed.architecture() != ARCHITECTURE {
            return Err(format!(
                "the object is for {:?}; only {:?} is supported",
                parsed.architecture(),
                ARCHITECTURE
            ));
        }
        let segments = parsed
            .segments()
            .map(|s| {
                let (offset, filesz) = s.file_range();
                Segment {
                    offset,
                    filesz,
                    vaddr: s.address(),
                    memsz: s.size(),
                }
            })
            .collect();
        let build_id = parsed.build_id().ok().flatten().map(<[u8]>::to_vec);
        let (debuglink, debuglink_crc) = match parsed.gnu_debuglink().ok().flatten() {
            Some((name, crc)) => (Some(name.to_vec()), Some(crc)),
            None => (None, None),
        };
        let (altlink, altlink_id) = match parsed.gnu_debugaltlink().ok().flatten() {
            Some((name, id)) => (Some(name.to_vec()), Some(id.to_vec())),
            None => (None, None),
        };
        drop(parsed);
        Ok(ElfFile {
            data,
            segments,
            build_id,
            debuglink,
            debuglink_crc,
            altlink,
            altlink_id,
            identity: None,
        })
    }

    /// Parses the object again (cheap: headers only) to reach its sections and symbols.
    pub fn parse(&self) -> Option<object::File<'_>> {
        object::File::parse(&*self.data).ok()
    }

    /// The SVMA of runtime address `addr` inside mapping `map` of this object: its file offset
    /// through the `PT_LOAD` segment holding that offset. None if no segment holds it.
    pub fn svma(&self, map: &MappedObject, addr: u64) -> Option<u64> {
        let file_offset = addr.checked_sub(map.start)?.checked_add(map.offset)?;
        self.segments
            .iter()
            .find(|s| file_offset >= s.offset && file_offset - s.offset < s.filesz)
            .and_then(|s| (file_offset - s.offset).checked_add(s.vaddr))
    }

    /// How far the object was moved when it was loaded (runtime address − SVMA), from any file
    /// byte of a `PT_LOAD` segment mapping `map` maps. None if it maps none.
    pub fn bias(&self, map: &MappedObject) -> Option<u64> {
        let mapped = map.offset..map.offset.checked_add(map.end.checked_sub(map.start)?)?;
        self.segments.iter().find_map(|s| {
            let at = mapped.start.max(s.offset);
            (at < mapped.end && at < s.offset.checked_add(s.filesz)?).then(|| {
                let runtime = map.start.wrapping_add(at - mapped.start);
                runtime.wrapping_sub(s.vaddr.wrapping_add(at - s.offset))
            })
        })
    }

    /// Whether `svma` lies in the memory of a `PT_LOAD` segment (its file bytes or its `.bss`).
    pub fn loads(&self, svma: u64) -> bool {
        (self.segments.iter()).any(|s| svma >= s.vaddr && svma - s.vaddr < s.memsz)
    }

    /// `len` bytes of the object at runtime address `addr` inside mapping `map`.
    pub fn bytes_at(&self, map: &MappedObject, addr: u64, len: usize) -> Option<&[u8]> {
        let file_offset = addr.checked_sub(map.start)?.checked_add(map.offset)?;
        self.file_bytes(file_offset, len)
    }

    /// `len` bytes of the object at `svma`, from the file bytes of the `PT_LOAD` segment
    /// holding it (none when they run past that segment's file bytes).
    pub fn bytes_at_svma(&self, svma: u64, len: usize) -> Option<&[u8]> {
        let s = (self.segments.iter()).find(|s| svma >= s.vaddr && svma - s.vaddr < s.filesz)?;
        let within = svma - s.vaddr;
        if within.checked_add(len as u64)? > s.filesz {
            return None;
        }
        self.file_bytes(s.offset.checked_add(within)?, len)
    }

    fn file_bytes(&self, file_offset: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(file_offset).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }
}

/// What identifies an object for caching: its path, or for the vdso (whose address differs per
/// process) its length and a hash of its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ObjectKey {
    Path(PathBuf),
    Vdso(usize, u64),
}

impl ObjectKey {
    /// The key of `map`; an error for a mapping with neither a path nor the vdso's bytes.
    pub fn of(space: &AddressSpace, map: &MappedObject) -> Result<ObjectKey, String> {
        match (&map.path, space.vdso_of(map)) {
            (Some(p), _) => Ok(ObjectKey::Path(p.clone())),
            (None, Some(v)) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                v.bytes.hash(&mut h);
                Ok(ObjectKey::Vdso(v.bytes.len(), h.finish()))
            }
            (None, None) => Err(format!("{} has no file to read", map.name)),
        }
    }
}

/// Per-object values built once, on first use (also by several threads at once, each object
/// by one of them), then shared: the unwinder's CFI index, the symbolizer's symbol sources.
pub(crate) struct ObjectCache<V> {
    cells: Mutex<HashMap<ObjectKey, Arc<OnceLock<V>>>>,
}

impl<V> Default for ObjectCache<V> {
    fn default() -> Self {
        Self {
            cells: Mutex::default(),
        }
    }
}

impl<V: Clone> ObjectCache<V> {
    /// The value for `map`'s object, built by `load` the first time; an error for a mapping
    /// with no object to read.
    pub fn get(
        &self,
        space: &AddressSpace,
        map: &MappedObject,
        load: impl FnOnce() -> V,
    ) -> Result<V, String> {
        let key = ObjectKey::of(space, map)?;
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        Ok(cell.get_or_init(load).clone())
    }

    /// The value for `map`'s object if it was built already.
    pub fn peek(&self, space: &AddressSpace, map: &MappedObject) -> Option<V> {
        let key = ObjectKey::of(space, map).ok()?;
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)?
            .clone();
        cell.get().cloned()
    }
}

/// Opens the object of `map`: its file, or the vdso's copied bytes.
pub(crate) fn open_object(space: &AddressSpace, map: &MappedObject) -> Result<ElfFile, String> {
    match (&map.path, space.vdso_of(map)) {
        (Some(p), _) => ElfFile::open(p),
        (None, Some(v)) => ElfFile::from_bytes(v.bytes.clone()),
        (None, None) => Err(format!("{} has no file to read", map.name)),
    }
}

/// Why the symbols read from `file` (opened for `map`) may not be those of the code the
/// process runs: the file is not the one mapped (it was replaced after it was loaded), or it
/// changed after the process started (overwritten in place: the mapping shows the new bytes,
/// the stacks hold addresses in the old code). None when nothing says so, or nothing is known
/// (a core file, the vdso). A file made after the process started and not changed since it
/// was written (a library the program extracts and then loads, as JNI and cffi libraries are)
/// is not doubted: it was complete before anything could map it.
pub(crate) fn doubt(space: &AddressSpace, map: &MappedObject, file: &ElfFile) -> Option<String> {
    let id = file.identity?;
    if map.inode.is_some_and(|ino| ino != id.ino) {
        return Some(format!(
            "{} was replaced after it was loaded: the file there now is not the one the process \
             mapped, so its symbols are not trusted",
            map.name
        ));
    }
    let started = space.started?;
    let later = id
        .changed
        .duration_since(started)
        .ok()
        .filter(|d| !d.is_zero())?;
    // `started` is rounded up to the next clock tick: a file born in the tick the process
    // started in may have been made by it.
    let made_later_and_left = id.born.is_some_and(|born| {
        born + START_TICK > started
            && id
                .changed
                .duration_since(born)
                .is_ok_and(|d| d <= WRITTEN_WHEN_MADE)
    });
    if made_later_and_left {
        return None;
    }
    Some(format!(
        "{} changed {:.1} s after the process started: if it was overwritten in place, the \
         process runs other code than the file holds, so its symbols (and the callers unwound \
         through its code) are not trusted",
        map.name,
        later.as_secs_f64()
    ))
}
