//! What glibc publishes for debuggers about its own structures, read from its file: where a
//! thread's `struct pthread` (its `pthread_t`, also its thread pointer) keeps the thread's own
//! tid, as libthread_db reads it. The core reader checks namespace ids with it; the CPython
//! reader maps thread idents to tids with it where the interpreter records no native id.

use super::elf::ElfFile;
use object::{Object, ObjectSymbol};

/// The symbol of glibc's descriptor of `struct pthread.tid` (libc ≥ 2.34, libpthread before).
const TID_DESCRIPTOR: &str = "_thread_db_pthread_tid";

/// The offset of `tid` in `struct pthread`, from `file`'s descriptor: three u32 (bit size 32,
/// count 1, offset), read from the file. `None` for a file without it (not glibc).
pub(crate) fn pthread_tid_offset(file: &ElfFile) -> Option<u64> {
    let parsed = file.parse()?;
    let sym = parsed
        .dynamic_symbols()
        .find(|s| s.name() == Ok(TID_DESCRIPTOR))?;
    let at = sym.address();
    let start = file.segments.iter().find_map(|s| {
        let inside = at.checked_sub(s.vaddr)?;
        (inside.checked_add(12)? <= s.filesz).then(|| inside.checked_add(s.offset))?
    })?;
    let start = usize::try_from(start).ok()?;
    let b = file.data.get(start..start.checked_add(12)?)?;
    let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (u(0) == 32 && u(4) == 1).then(|| u64::from(u(8)))
}
