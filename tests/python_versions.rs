//! CPython versions besides the distribution's: those `.ci/run` unpacks from Debian's archive
//! (bullseye's 3.9 and trixie's 3.13, which CI must have) and every interpreter pyenv has
//! installed are tried where they are. Those hangscan reads (3.8 to 3.12 by their built-in
//! layouts, 3.13 through its `_Py_DebugOffsets` and the built-in facts beyond them) find the
//! `threading.Lock` ABBA as Debian's 3.11 does, live and from a core, with each thread's
//! Python line and `threading` name (3.13's lock waits parked in CPython's parking lot, its
//! joins on thread handles), an RLock ABBA, a join cycle and the GIL's holder (3.13 also a
//! self-lock, its pools, waits on one Condition, Event or Queue, and a churning program
//! attached again and again, as tests/python_memory.rs has them on 3.11); each built-in
//! layout is the one its version's headers give (`fixtures/programs/python/layout_offsets.c`,
//! built against the headers of every interpreter installed, Debian's 3.9 and 3.11 at least),
//! as are 3.13's facts beyond its debug offsets; an older one with a `_PyRuntime` (3.7) is
//! named with why it is not read and the command for its own dump.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::python::*;
use support::runtimes::programs;
use support::{hangscan, require, scratch, skip};

#[test]
fn the_interpreters_ci_unpacks_from_debian_s_archive_are_there_and_run() {
    for &minor in ARCHIVE_MINORS {
        let Some(python) = archive_python(minor) else {
            skip(&format!(
                "CPython 3.{minor} from Debian's archive: .ci/run fetches it"
            ));
            continue;
        };
        let ran = Command::new(&python)
            .args(["-c", "import threading, sys; print(sys.version_info[:2])"])
            .output()
            .expect("runs");
        assert_eq!(
            String::from_utf8_lossy(&ran.stdout).trim(),
            format!("(3, {minor})"),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
    }
}

/// Other interpreters hangscan reads: those whose minor version has a built-in layout (3.8 to
/// 3.12) and 3.13, read through its `_Py_DebugOffsets`; with their version as hangscan names
/// it (`3.N.M`; `3.N` before 3.11).
fn other_interpreters() -> Vec<(PathBuf, String)> {
    (installed_versions().into_iter())
        .filter(|(_, _, minor)| {
            hangscan::runtime::python::layout::for_minor(*minor).is_some() || *minor == 13
        })
        // Before 3.11 (no `Py_Version`) the version comes from the file's name: `3.N`.
        .map(|(python, version, minor)| match minor {
            ..11 => (python, format!("3.{minor}")),
            _ => (python, version),
        })
        .collect()
}

#[test]
fn every_other_installed_interpreter_hangscan_reads_finds_the_lock_abba() {
    if !require("gcore") {
        return;
    }
    let others = other_interpreters();
    if others.is_empty() {
        eprintln!("no other CPython 3.8 to 3.13 installed: only Debian's is tested");
    }
    for (python, version) in others {
        assert_lock_abba(&python, &version);
    }
}

#[test]
fn every_other_installed_interpreter_hangscan_reads_proves_an_rlock_abba_joins_and_the_gil() {
    if !require("gcore") {
        return;
    }
    for (python, version) in other_interpreters() {
        assert_rlock_abba(&python, &version);
        assert_join_cycle(&python, &version);
        assert_gil_holder(&python);
    }
}

/// The CPython 3.13s here: trixie's, which CI must have, and pyenv's.
fn pythons_3_13() -> Vec<(PathBuf, String)> {
    (other_interpreters().into_iter())
        .filter(|(_, version)| version.starts_with("3.13."))
        .collect()
}

#[test]
fn on_3_13_a_self_lock_pools_shared_waits_and_churn_read_as_on_the_distribution_s_python() {
    if !require("gcore") {
        return;
    }
    for (python, version) in pythons_3_13() {
        assert_self_lock(&python);
        assert_pools(&python);
        assert_shared_waits(&python, &version);
        assert_churn_is_safe(&python);
    }
}

#[test]
fn every_other_installed_interpreter_that_keeps_its_tasks_reachable_shows_an_asyncio_loop_s_tasks()
{
    if !require("gcore") {
        return;
    }
    // 3.11 on: 3.8 to 3.10 keep their tasks in a form not read.
    let others = other_interpreters().into_iter().filter(|(_, version)| {
        let minor: Option<u8> = version.split('.').nth(1).and_then(|m| m.parse().ok());
        minor.is_some_and(|m| m >= 11)
    });
    for (python, version) in others {
        assert_asyncio_tasks(&python, &version);
    }
}

/// The include directory of the interpreter `python`, as it says.
fn include_dir(python: &Path) -> Option<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.join("internal/pycore_pystate.h")
        .exists()
        .then_some(dir)
}

#[test]
fn each_built_in_layout_and_what_3_13_keeps_beyond_its_debug_offsets_are_what_the_headers_give() {
    if !require("debian-python3.11") {
        return;
    }
    let dir = scratch("python_memory", "layouts");
    let source = programs("python").join("layout_offsets.c");
    let mut interpreters = vec![PathBuf::from(DEBIAN_PYTHON)];
    interpreters.extend(other_interpreters().into_iter().map(|(p, _)| p));
    // The archive's interpreters come with their headers.
    let archived: Vec<PathBuf> = ARCHIVE_MINORS
        .iter()
        .filter_map(|&m| archive_python(m))
        .collect();
    let mut checked = 0;
    for python in interpreters {
        let Some(include) = include_dir(&python) else {
            assert!(
                python != Path::new(DEBIAN_PYTHON) && !archived.contains(&python),
                "{}'s headers",
                python.display()
            );
            continue;
        };
        let exe = dir.join(format!("offsets-{checked}"));
        // Debian's `pyconfig.h` includes its multiarch one from the directory above.
        let built = Command::new("cc")
            .arg(format!("-I{}", include.display()))
            .arg(format!("-I{}", include.parent().unwrap().display()))
            .arg(&source)
            .arg("-o")
            .arg(&exe)
            .status()
            .expect("cc runs");
        assert!(built.success(), "{}", include.display());
        let out = Command::new(&exe).output().expect("offsets run");
        let text = String::from_utf8_lossy(&out.stdout);
        let minor: u8 = (include.file_name().unwrap().to_string_lossy())
            .strip_prefix("python3.")
            .and_then(|m| m.parse().ok())
            .expect("python3.N");
        use hangscan::runtime::python::layout::{beyond, for_minor};
        let mut want: Vec<(String, i64)> = match (for_minor(minor), beyond(minor)) {
            (Some(layout), _) => (layout.fields().into_iter())
                .map(|(k, v)| (k.to_string(), v as i64))
                .collect(),
            (None, Some(more)) => (more.fields().into_iter())
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            (None, None) => panic!("3.{minor}: nothing to compare"),
        };
        want.sort();
        let mut got: Vec<(String, i64)> = (text.lines())
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "3.{minor} from {}", include.display());
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn an_installed_interpreter_without_a_built_in_layout_is_named_with_why_and_its_own_dump() {
    // 3.7 is where `_PyRuntime` begins; 3.13 is read through its debug offsets.
    let unknown: Vec<(PathBuf, u8)> = (installed_versions().into_iter())
        .filter(|(_, _, minor)| (7..13).contains(minor))
        .filter(|(_, _, minor)| hangscan::runtime::python::layout::for_minor(*minor).is_none())
        .map(|(python, _, minor)| (python, minor))
        .collect();
    if unknown.is_empty() {
        eprintln!("no CPython 3.7 installed: none to name");
    }
    for (python, minor) in unknown {
        let hung = run(&python, "lock_abba");
        let pid = hung.pid.to_string();
        let (_, report) = support::report::json(&["attach", &pid]);
        assert_eq!(
            report["runtimes"][0]["name"], "CPython",
            "3.{minor}: {report}"
        );
        let dump_with = report["runtimes"][0]["dump_with"].as_str().unwrap();
        assert!(dump_with.contains("py-spy dump --pid"), "{dump_with}");
        let (_, text, _) = hangscan(&["attach", &pid]);
        assert!(
            text.contains(&format!(
                "whose Python frames were not read: CPython 3.{minor}"
            )) && text.contains("3.13 by its _Py_DebugOffsets, no other version yet"),
            "3.{minor}: {text}"
        );
    }
}
