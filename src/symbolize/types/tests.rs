//! The type reader on the DWARF of real fixture programs, built here from
//! `fixtures/programs/` (g++ and rustc, as the integration tests build them): qualified names,
//! member paths through base classes, typedefs and unions, pointees; glibc's `__owner` where
//! the glibc pack's fallback `owner_offset` says it is.

use super::*;
use crate::objects::elf::ElfFile;
use crate::symbolize::dwarf;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `program` (in fixtures/programs) built with `compiler ARGS` into a scratch directory.
fn build(program: &str, compiler: &str, args: &[&str]) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("hangscan-types-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(program.replace('.', "_"));
    let status = Command::new(compiler)
        .args(args)
        .arg(root.join("fixtures/programs").join(program))
        .arg("-o")
        .arg(&out)
        .current_dir(&dir)
        .status()
        .unwrap_or_else(|e| panic!("{compiler} runs: {e}"));
    assert!(status.success(), "{compiler} {program}");
    out
}

/// Runs `check` on the unit and DIE of the first type named `wanted`.
fn with_type(binary: &Path, wanted: &str, check: impl Fn(UnitRef<'_, Reader>, Off)) {
    let file = Arc::new(ElfFile::open(binary).unwrap());
    let dwarf = dwarf::sections(&file).expect("the fixture has DWARF");
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        let unit = dwarf.unit(header).unwrap();
        let unit = unit.unit_ref(&dwarf);
        let scopes = scopes(unit);
        let mut cursor = unit.entries();
        while let Ok(Some(die)) = cursor.next_dfs() {
            let off = die.offset();
            // A defined type (a declaration has no size), or a typedef.
            let defined = matches!(die.tag(), dw::DW_TAG_structure_type | dw::DW_TAG_class_type)
                && die.attr(dw::DW_AT_byte_size).is_some();
            if (defined || die.tag() == dw::DW_TAG_typedef) && name(unit, &scopes, off) == wanted {
                return check(unit, off);
            }
        }
    }
    panic!("no type {wanted} in {}", binary.display());
}

#[test]
fn cpp_guards_and_mutexes_are_read_by_member_names() {
    let binary = build(
        "cpp_abba.cpp",
        "g++",
        &["-g", "-O0", "-pthread", "-std=c++17"],
    );
    with_type(&binary, "std::lock_guard<std::mutex>", |unit, off| {
        let (at, ty) = member_path(unit, off, "_M_device").unwrap();
        assert_eq!(at, 0);
        assert_eq!(shape(unit, ty), Shape::Pointer, "a reference");
        let mutex = pointee(unit, ty).unwrap();
        assert_eq!(
            name(unit, &scopes(unit), mutex),
            "std::lock_guard<std::mutex>::mutex_type"
        );
        let (plain, _) = strip(unit, mutex).unwrap();
        assert_eq!(name(unit, &scopes(unit), plain), "std::mutex");
        // std::mutex → its base __mutex_base → _M_mutex (a typedef of pthread_mutex_t, a
        // union) → __data → __owner: where the glibc pack's fallback says, 8.
        let (owner, owner_ty) = member_path(unit, mutex, "_M_mutex.__data.__owner").unwrap();
        assert_eq!(owner, 8);
        assert_eq!(shape(unit, owner_ty), Shape::Signed(4));
        assert!(member_path(unit, mutex, "_M_mutex.__data.__nothing").is_none());
    });
    with_type(&binary, "std::unique_lock<std::mutex>", |unit, off| {
        assert_eq!(member_path(unit, off, "_M_device").unwrap().0, 0);
        let (owns, ty) = member_path(unit, off, "_M_owns").unwrap();
        assert_eq!(owns, 8);
        assert_eq!(shape(unit, ty), Shape::Bool);
    });
    let kb = crate::knowledge::KnowledgeBase::builtin();
    let glibc = kb.match_function("pthread_mutex_lock").unwrap();
    assert_eq!(
        glibc.owner_offset,
        Some(8),
        "the fallback agrees with DWARF"
    );
    let _ = std::fs::remove_file(binary);
}

#[test]
fn rust_guards_reach_the_futex_inside_the_mutex() {
    let binary = build(
        "rust_abba.rs",
        "rustc",
        &["-g", "-C", "opt-level=0", "--edition", "2021"],
    );
    with_type(
        &binary,
        "std::sync::poison::mutex::MutexGuard<rust_abba::Account>",
        |unit, off| {
            let (at, lock) = member_path(unit, off, "lock").unwrap();
            assert_eq!(at, 0);
            assert_eq!(shape(unit, lock), Shape::Pointer);
            let mutex = pointee(unit, lock).unwrap();
            assert_eq!(
                name(unit, &scopes(unit), mutex),
                "std::sync::poison::mutex::Mutex<rust_abba::Account>"
            );
            let (futex, ty) = member_path(unit, mutex, "inner.futex").unwrap();
            assert!(futex < 24, "inside the 24-byte Mutex<Account>: {futex}");
            assert_eq!(shape(unit, ty), Shape::Aggregate, "an AtomicU32");
        },
    );
    let _ = std::fs::remove_file(binary);
}

#[test]
fn a_scoped_lock_of_two_mutexes_stores_a_reference_to_each_in_its_tuple() {
    let binary = build(
        "cpp_scoped_lock_abba.cpp",
        "g++",
        &["-g", "-O0", "-pthread", "-std=c++17"],
    );
    with_type(
        &binary,
        "std::scoped_lock<std::mutex, std::mutex>",
        |unit, off| {
            let (at, tuple) = member_path(unit, off, "_M_devices").unwrap();
            assert_eq!(at, 0);
            // The tuple keeps each reference in a base class of a base class: both are found.
            let mut found = pointers_in(unit, tuple);
            found.sort_by_key(|&(o, _)| o);
            let offsets: Vec<u64> = found.iter().map(|&(o, _)| o).collect();
            assert_eq!(offsets, [0, 8]);
            for (_, reference) in found {
                let (mutex, _) = strip(unit, pointee(unit, reference).unwrap()).unwrap();
                assert_eq!(name(unit, &scopes(unit), mutex), "std::mutex");
            }
            // A std::mutex stores no pointer.
            let (_, first) = pointers_in(unit, tuple)[0];
            assert!(pointers_in(unit, pointee(unit, first).unwrap()).is_empty());
        },
    );
    let _ = std::fs::remove_file(binary);
}
