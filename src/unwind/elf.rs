//! Mapped objects as ELF files, shared by unwinding and symbolization: opening one (a file on
//! disk, or the vdso from its copied bytes), translating a runtime address to the object's
//! static address (SVMA) through its program headers, and finding its separate debug file by
//! build-id or `.gnu_debuglink`, also under the target's own root (`/proc/PID/root`).

use super::{AddressSpace, MappedObject};
use memmap2::Mmap;
use object::{Object, ObjectSegment};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The bytes of an object: a read-only file mapping, or an owned copy (the vdso).
pub(crate) enum Bytes {
    Map(Mmap),
    Owned(Vec<u8>),
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

/// One `PT_LOAD` program header: file bytes `offset..offset+filesz` load at `vaddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub offset: u64,
    pub filesz: u64,
    pub vaddr: u64,
}

/// An ELF object with what every user needs precomputed.
pub(crate) struct ElfFile {
    pub data: Bytes,
    pub segments: Vec<Segment>,
    pub build_id: Option<Vec<u8>>,
    /// The file name in `.gnu_debuglink`.
    pub debuglink: Option<Vec<u8>>,
    /// The file name in `.gnu_debugaltlink` (dwz's supplementary file).
    pub altlink: Option<Vec<u8>>,
}

impl ElfFile {
    /// Maps and parses the file at `path`.
    pub fn open(path: &Path) -> Result<ElfFile, String> {
        let file = super::open::open_regular(path)?;
        // SAFETY: the mapping is read-only and private to this process; like every debugger we
        // accept that a file truncated while mapped may fault.
        let map = unsafe { Mmap::map(&file) }
            .map_err(|e| format!("cannot map {}: {e}", path.display()))?;
        ElfFile::new(Bytes::Map(map)).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses an object from copied bytes (the vdso).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<ElfFile, String> {
        ElfFile::new(Bytes::Owned(bytes))
    }

    fn new(data: Bytes) -> Result<ElfFile, String> {
        let parsed = object::File::parse(&*data).map_err(|e| format!("not an ELF object: {e}"))?;
        if parsed.architecture() != super::x86_64::ARCHITECTURE {
            return Err(format!(
                "the object is for {:?}; only {:?} is supported",
                parsed.architecture(),
                super::x86_64::ARCHITECTURE
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
                }
            })
            .collect();
        let build_id = parsed.build_id().ok().flatten().map(<[u8]>::to_vec);
        let debuglink = parsed
            .gnu_debuglink()
            .ok()
            .flatten()
            .map(|(name, _crc)| name.to_vec());
        let altlink = parsed
            .gnu_debugaltlink()
            .ok()
            .flatten()
            .map(|(name, _id)| name.to_vec());
        drop(parsed);
        Ok(ElfFile {
            data,
            segments,
            build_id,
            debuglink,
            altlink,
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

    /// `len` bytes of the object at runtime address `addr` inside mapping `map`.
    pub fn bytes_at(&self, map: &MappedObject, addr: u64, len: usize) -> Option<&[u8]> {
        let file_offset = addr.checked_sub(map.start)?.checked_add(map.offset)?;
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
}

/// Opens the object of `map`: its file, or the vdso's copied bytes.
pub(crate) fn open_object(space: &AddressSpace, map: &MappedObject) -> Result<ElfFile, String> {
    match (&map.path, space.vdso_of(map)) {
        (Some(p), _) => ElfFile::open(p),
        (None, Some(v)) => ElfFile::from_bytes(v.bytes.clone()),
        (None, None) => Err(format!("{} has no file to read", map.name)),
    }
}

/// The directory under which the target's files are visible: `/proc/PID/root` when the object
/// is opened through `/proc/PID/root/...` or `/proc/PID/map_files/...`, else `/`.
pub(crate) fn target_root(path: &Path) -> PathBuf {
    let mut parts = path.components();
    if let (Some(Component::RootDir), Some(proc_), Some(Component::Normal(pid)), Some(kind)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        let is_pid = pid
            .to_str()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        let kind = kind.as_os_str();
        if proc_.as_os_str() == "proc" && is_pid && (kind == "root" || kind == "map_files") {
            return Path::new("/proc").join(pid).join("root");
        }
    }
    PathBuf::from("/")
}

/// `root` joined with an absolute path inside it.
fn under(root: &Path, absolute: &Path) -> PathBuf {
    root.join(absolute.strip_prefix("/").unwrap_or(absolute))
}

/// The roots to search: the target's, then this system's.
fn roots(object_path: Option<&Path>) -> Vec<PathBuf> {
    let mut roots = vec![];
    if let Some(p) = object_path {
        let root = target_root(p);
        if root != Path::new("/") {
            roots.push(root);
        }
    }
    roots.push(PathBuf::from("/"));
    roots
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a separate debug file for `obj` may be, best first: by build-id
/// (`usr/lib/debug/.build-id/xx/yyyy.debug`), then by `.gnu_debuglink` (the object's directory,
/// its `.debug/` subdirectory, `usr/lib/debug/<dir>/`), under the target's root, then `/`.
pub(crate) fn debug_candidates(obj: &MappedObject, file: &ElfFile) -> Vec<PathBuf> {
    let roots = roots(obj.path.as_deref());
    let mut out = vec![];
    if let Some(id) = file.build_id.as_deref().filter(|id| id.len() >= 2) {
        let rel = format!(
            "usr/lib/debug/.build-id/{}/{}.debug",
            hex(&id[..1]),
            hex(&id[1..])
        );
        out.extend(roots.iter().map(|r| r.join(&rel)));
    }
    let name = obj.name.strip_suffix(" (deleted)").unwrap_or(&obj.name);
    let link = file
        .debuglink
        .as_deref()
        .and_then(|l| std::str::from_utf8(l).ok())
        .filter(|l| !l.is_empty() && !l.contains('/'));
    if let (Some(link), Some(dir)) = (link, Path::new(name).parent()) {
        // A directory with `..` in it (a core's file note can say anything) leads nowhere.
        if dir.is_absolute() && !dir.components().any(|c| c == Component::ParentDir) {
            for root in &roots {
                out.push(under(root, &dir.join(link)));
                out.push(under(root, &dir.join(".debug").join(link)));
                out.push(under(
                    root,
                    &Path::new("/usr/lib/debug")
                        .join(dir.strip_prefix("/").unwrap_or(dir))
                        .join(link),
                ));
            }
        }
    }
    out
}

/// The first candidate that is an ELF object other than `obj` itself, with a matching build-id
/// when both have one.
pub(crate) fn find_debug_file(obj: &MappedObject, file: &ElfFile) -> Option<(PathBuf, ElfFile)> {
    let own = obj
        .path
        .as_deref()
        .and_then(|p| std::fs::canonicalize(p).ok());
    debug_candidates(obj, file)
        .into_iter()
        .find_map(|candidate| {
            if own.is_some() && std::fs::canonicalize(&candidate).ok() == own {
                return None;
            }
            let debug = ElfFile::open(&candidate).ok()?;
            match (&file.build_id, &debug.build_id) {
                (Some(a), Some(b)) if a != b => None,
                _ => Some((candidate, debug)),
            }
        })
}

/// The dwz supplementary file named by `debug`'s `.gnu_debugaltlink`, if it exists: absolute
/// names are looked up under the target's root first, relative ones next to the debug file.
pub(crate) fn find_alt_file(
    obj: &MappedObject,
    debug_path: &Path,
    debug: &ElfFile,
) -> Option<PathBuf> {
    let name = std::str::from_utf8(debug.altlink.as_deref()?).ok()?;
    let name = Path::new(name);
    let candidates: Vec<PathBuf> = if name.is_absolute() {
        roots(obj.path.as_deref())
            .iter()
            .map(|r| under(r, name))
            .collect()
    } else {
        vec![debug_path.parent()?.join(name)]
    };
    candidates
        .into_iter()
        .find(|c| super::open::open_regular(c).is_ok())
}
