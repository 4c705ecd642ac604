//! Unit tests of object files: addresses through program headers, where debug files are
//! looked for, and when a file is doubted. The objects are the unwinder's hand-made ELF files.

use super::debugfile::{self, Via};
use super::elf::{self, ElfFile};
use super::{AddressSpace, MappedObject};
use crate::unwind::tests::synthetic::elf_object;

#[test]
fn svma_goes_through_the_program_headers() {
    // A segment at file offset 0x1000 linked at 0x401000 and mapped at 0x5555_0000_0000.
    let file = ElfFile::from_bytes(elf_object(&[0x90; 16], None)).unwrap();
    let file = ElfFile {
        segments: vec![elf::Segment {
            offset: 0x1000,
            filesz: 0x2000,
            vaddr: 0x401000,
            memsz: 0x3000,
        }],
        ..file
    };
    let map = MappedObject {
        start: 0x5555_0000_0000,
        end: 0x5555_0000_2000,
        offset: 0x1000,
        ..MappedObject::default()
    };
    assert_eq!(file.svma(&map, 0x5555_0000_0010), Some(0x401010));
    assert_eq!(file.svma(&map, 0x5555_0000_2000 + 0x1000), None);
    assert_eq!(file.svma(&map, 0x10), None);
    // Runtime − SVMA; `.bss` past the file bytes is the segment's too.
    assert_eq!(file.bias(&map), Some(0x5555_0000_0000 - 0x401000));
    assert!(file.loads(0x401000 + 0x2800) && !file.loads(0x401000 + 0x3000));
    // A mapping that starts inside the segment (after `mprotect` split it) gives the same bias.
    let later = MappedObject {
        start: 0x5555_0000_1000,
        offset: 0x2000,
        ..map.clone()
    };
    assert_eq!(file.bias(&later), file.bias(&map));
}

/// Inside the target's root only, but for build-id files of this system (the build-id proves
/// them): a host file of the same name is never tried.
#[test]
fn debug_files_are_looked_for_under_the_target_root() {
    let file = ElfFile {
        build_id: Some(vec![0xab, 0xcd, 0xef]),
        debuglink: Some(b"libc.so.6.debug".to_vec()),
        ..ElfFile::from_bytes(elf_object(&[0x90; 16], None)).unwrap()
    };
    let map = MappedObject {
        name: "/usr/lib/libc.so.6".into(),
        path: Some("/proc/42/root/usr/lib/libc.so.6".into()),
        ..MappedObject::default()
    };
    let found: Vec<(String, Via)> = debugfile::candidates(&map, &file)
        .into_iter()
        .map(|c| (c.path.display().to_string(), c.via))
        .collect();
    let want = [
        (
            "/proc/42/root/usr/lib/debug/.build-id/ab/cdef.debug",
            Via::BuildId,
        ),
        ("/usr/lib/debug/.build-id/ab/cdef.debug", Via::BuildId),
        ("/proc/42/root/usr/lib/libc.so.6.debug", Via::Debuglink),
        (
            "/proc/42/root/usr/lib/.debug/libc.so.6.debug",
            Via::Debuglink,
        ),
        (
            "/proc/42/root/usr/lib/debug/usr/lib/libc.so.6.debug",
            Via::Debuglink,
        ),
    ]
    .map(|(p, v)| (p.to_string(), v));
    assert_eq!(found, want);
    assert_eq!(
        debugfile::target_root("/proc/7/map_files/1-2".as_ref()),
        std::path::Path::new("/proc/7/root")
    );
    assert_eq!(
        debugfile::target_root("/usr/lib/x".as_ref()),
        std::path::Path::new("/")
    );
    // A core's objects (no target root): this system's files.
    let core_map = MappedObject {
        path: Some("/usr/lib/libc.so.6".into()),
        ..map
    };
    assert_eq!(
        debugfile::candidates(&core_map, &file)[0].path,
        std::path::Path::new("/usr/lib/debug/.build-id/ab/cdef.debug")
    );
}

/// A file changed after the process started, or not the inode mapped, is doubted; one that
/// changed before, or a core's (no start known), is not.
#[test]
fn a_file_changed_after_the_start_is_doubted() {
    use std::time::{Duration, SystemTime};
    let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    let file = ElfFile {
        identity: Some(elf::Identity {
            dev: 1,
            ino: 7,
            changed: at(1000),
            born: Some(at(10)),
        }),
        ..ElfFile::from_bytes(elf_object(&[0x90; 16], None)).unwrap()
    };
    let map = MappedObject {
        name: "/usr/lib/libx.so".into(),
        ..MappedObject::default()
    };
    let space = |started: Option<SystemTime>| AddressSpace {
        started,
        ..AddressSpace::default()
    };
    let doubt = elf::doubt(&space(Some(at(900))), &map, &file).expect("changed after");
    assert!(
        doubt.contains("/usr/lib/libx.so changed 100.0 s after"),
        "{doubt}"
    );
    assert_eq!(elf::doubt(&space(Some(at(1000))), &map, &file), None);
    assert_eq!(elf::doubt(&space(Some(at(1100))), &map, &file), None);
    assert_eq!(elf::doubt(&space(None), &map, &file), None);
    // Made after the start and written then (extracted, then loaded): not doubted; changed
    // long after it was made: doubted.
    let made = |born: u64| ElfFile {
        identity: file.identity.map(|i| elf::Identity {
            born: Some(at(born)),
            ..i
        }),
        ..ElfFile::from_bytes(elf_object(&[0x90; 16], None)).unwrap()
    };
    assert_eq!(elf::doubt(&space(Some(at(900))), &map, &made(999)), None);
    assert!(elf::doubt(&space(Some(at(900))), &map, &made(950)).is_some());
    let replaced = MappedObject {
        inode: Some(8),
        ..map.clone()
    };
    let doubt = elf::doubt(&space(None), &replaced, &file).expect("another inode");
    assert!(doubt.contains("was replaced"), "{doubt}");
    let same = MappedObject {
        inode: Some(7),
        ..map
    };
    assert_eq!(elf::doubt(&space(None), &same, &file), None);
}
