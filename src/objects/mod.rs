//! The objects a process maps and their files, read safely: the mappings ([`AddressSpace`],
//! [`MappedObject`], the vdso's copied bytes), ELF files opened and parsed once per object and
//! shared (`elf`: `ElfFile`, `ObjectCache`, whether a file changed after the process
//! started), separate debug files found and proven to match (`debugfile`), what glibc
//! says of its thread descriptors (`glibc`), a Go binary's pclntab (`gopclntab`: names,
//! file:line, inlined calls, stack depths), and every file of a target opened so that the
//! target cannot choose it (`open`). The unwinder and the symbolizer read objects through
//! here; neither opens a file itself: the unwinder reads the objects a `Source` gives it
//! (`Files`: from disk).

pub(crate) mod debugfile;
pub(crate) mod elf;
pub(crate) mod glibc;
pub(crate) mod gopclntab;
pub(crate) mod open;
#[cfg(test)]
mod tests;

use elf::ElfFile;
use std::path::PathBuf;

/// Where objects' bytes come from, for a reader that opens nothing itself (the unwinder).
pub(crate) trait Source: Send + Sync {
    /// The object mapped at `map`.
    fn object(&self, space: &AddressSpace, map: &MappedObject) -> Result<ElfFile, String>;
    /// The separate debug file of `file` (the object mapped at `map`), when one is found and
    /// proven to match.
    fn debug_file(&self, map: &MappedObject, file: &ElfFile) -> Option<ElfFile>;
}

/// A process's files as its mappings name them, opened safely ([`open`]), and its vdso's
/// copied bytes; debug files by build-id and debuglink ([`debugfile`]).
pub(crate) struct Files;

impl Source for Files {
    fn object(&self, space: &AddressSpace, map: &MappedObject) -> Result<ElfFile, String> {
        elf::open_object(space, map)
    }

    fn debug_file(&self, map: &MappedObject, file: &ElfFile) -> Option<ElfFile> {
        debugfile::find(map, file).found.map(|(_, debug)| debug)
    }
}

/// One line of `/proc/PID/maps` for a file-backed (or vdso) mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappedObject {
    /// First address of the mapping.
    pub start: u64,
    /// One past its last address.
    pub end: u64,
    /// The file offset mapped at `start`.
    pub offset: u64,
    /// The path as `maps` shows it (inside the target's mount namespace), or `[vdso]`.
    pub name: String,
    /// Where to open the file from here: `/proc/PID/root/...` or `/proc/PID/map_files/...`;
    /// `None` for the vdso (its bytes are in [`AddressSpace::vdso`]).
    pub path: Option<PathBuf>,
    /// Mapped executable (`x` in the permissions).
    pub executable: bool,
    /// The inode `maps` shows, when the file is opened by its path (which may since name
    /// another file) rather than through `map_files` (the very file mapped).
    pub inode: Option<u64>,
}

impl MappedObject {
    /// True if `addr` lies inside the mapping.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end
    }
}

/// The objects mapped into a process, and its vdso's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressSpace {
    /// Every mapping, sorted by start address (as `/proc/PID/maps` lists them).
    pub objects: Vec<MappedObject>,
    /// A copy of the vdso, when the process has one.
    pub vdso: Option<MemoryRegion>,
    /// A live process's start, rounded up (no file changed before it changed after the
    /// process started); `None` for a core.
    pub started: Option<std::time::SystemTime>,
}

impl AddressSpace {
    /// The executable mapping that holds `addr`.
    pub fn object_at(&self, addr: u64) -> Option<&MappedObject> {
        self.object_index_at(addr).map(|i| &self.objects[i])
    }

    /// The index in `objects` of the executable mapping that holds `addr`. A binary search: a
    /// process with a thousand threads has over two thousand mappings (stacks and guards).
    pub fn object_index_at(&self, addr: u64) -> Option<usize> {
        let i = self
            .objects
            .partition_point(|o| o.start <= addr)
            .checked_sub(1)?;
        let o = &self.objects[i];
        (o.executable && o.contains(addr)).then_some(i)
    }

    /// The vdso's bytes if `map` is the vdso mapping.
    pub(crate) fn vdso_of(&self, map: &MappedObject) -> Option<&MemoryRegion> {
        self.vdso
            .as_ref()
            .filter(|v| map.path.is_none() && v.start == map.start)
    }
}

/// A copied region of memory (stack top, vdso).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    /// The address of `bytes[0]` in the target.
    pub start: u64,
    /// The bytes as copied.
    pub bytes: Vec<u8>,
}

impl MemoryRegion {
    /// One past the last address the region covers (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.bytes.len() as u64)
    }

    /// True if `addr` lies inside the region.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end()
    }
}
