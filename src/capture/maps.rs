//! A live process's address space, read without stopping it: its mappings (each file opened
//! through `/proc/PID/map_files`, the very inode mapped, or inside the process's own root) and
//! its vdso's bytes.

use super::{ids, memory, procinfo};
use crate::unwind::{AddressSpace, MappedObject, MemoryRegion};
use std::path::{Path, PathBuf};

/// The process's mappings and its vdso's bytes (read without stopping it), through a live
/// thread when the main thread has ended.
pub fn address_space(pid: u32) -> AddressSpace {
    let Some(ipid) = i32::try_from(pid).ok().and_then(ids::reader) else {
        return AddressSpace::default();
    };
    let maps = read_maps(ipid);
    let vdso = maps
        .iter()
        .find(|m| m.name == "[vdso]")
        .map(|m| MemoryRegion {
            start: m.start,
            bytes: memory::read(ipid, m.start, (m.end - m.start) as usize),
        });
    AddressSpace {
        objects: maps,
        vdso,
        started: procinfo::started(ipid),
    }
}

/// `path` as `maps` shows it, made the path inside the target's root: the kernel shows a
/// chrooted process's files by their path from hangscan's root (`/srv/jail/usr/lib/libc.so.6`),
/// which the target's own root (`root`, as `/proc/PID/root` reads) leads.
fn inside_root(root: Option<&Path>, path: &Path) -> PathBuf {
    match root
        .filter(|r| *r != Path::new("/"))
        .and_then(|r| path.strip_prefix(r).ok())
    {
        Some(rest) => Path::new("/").join(rest),
        None => path.to_path_buf(),
    }
}

/// The process's mappings, read through `pid` (a live thread's id, see [`ids::reader`]).
/// Files are opened through `/proc/PID/map_files` (the very inode mapped, which the target
/// cannot redirect) with `/proc/PID/root/PATH` as the fallback, so processes in containers
/// work and a target cannot point hangscan at a host file.
fn read_maps(pid: i32) -> Vec<MappedObject> {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return Vec::new();
    };
    let Ok(maps) = process.maps() else {
        return Vec::new();
    };
    let root = std::fs::read_link(format!("/proc/{pid}/root")).ok();
    maps.into_iter()
        .map(|m| {
            let (start, end) = m.address;
            let mut inode = None;
            let (name, path) = match &m.pathname {
                procfs::process::MMapPath::Path(p) => {
                    let p = &inside_root(root.as_deref(), p);
                    let by_inode =
                        PathBuf::from(format!("/proc/{pid}/map_files/{start:x}-{end:x}"));
                    let path = if by_inode.exists() {
                        by_inode
                    } else {
                        inode = Some(m.inode);
                        PathBuf::from(format!("/proc/{pid}/root"))
                            .join(p.strip_prefix("/").unwrap_or(p))
                    };
                    (p.to_string_lossy().into_owned(), Some(path))
                }
                procfs::process::MMapPath::Vdso => ("[vdso]".to_string(), None),
                other => (format!("{other:?}"), None),
            };
            MappedObject {
                start,
                end,
                offset: m.offset,
                name,
                path,
                executable: m.perms.contains(procfs::process::MMPermissions::EXECUTE),
                inode,
            }
        })
        .collect()
}

#[cfg(test)]
#[test]
fn a_chrooted_process_s_files_are_named_inside_its_root() {
    let jail = Some(Path::new("/srv/jail"));
    let named = |root, p: &str| inside_root(root, Path::new(p));
    assert_eq!(
        named(jail, "/srv/jail/usr/lib/libc.so.6"),
        Path::new("/usr/lib/libc.so.6")
    );
    // Mapped before the chroot, from outside it: kept as it is.
    assert_eq!(
        named(jail, "/usr/lib/libc.so.6"),
        Path::new("/usr/lib/libc.so.6")
    );
    assert_eq!(
        named(jail, "/srv/jailbreak/x"),
        Path::new("/srv/jailbreak/x")
    );
    assert_eq!(
        named(Some(Path::new("/")), "/usr/bin/x"),
        Path::new("/usr/bin/x")
    );
    assert_eq!(named(None, "/usr/bin/x"), Path::new("/usr/bin/x"));
}
