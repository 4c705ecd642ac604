//! The fixture programs built from source for the tests: `fixtures/programs/<name>.{c,cpp,rs}`
//! compiled with the fixture flags (debug, optimized, stripped, without frame pointers), those
//! built against a library with its pkg-config flags, each build once per change and safe
//! across parallel tests.

use super::{programs_dir, unique_suffix};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CFLAGS: &[&str] = &["-g", "-O0", "-pthread"];
const CXXFLAGS: &[&str] = &["-g", "-O0", "-pthread", "-std=c++17"];
const RUSTFLAGS: &[&str] = &["-g", "-C", "opt-level=0", "--edition", "2021"];
/// Fixtures built against a library: its pkg-config package, whose `--cflags --libs` follow the
/// source (a test asks [`require`] for the library first).
const PKG_CONFIG: &[(&str, &str)] = &[
    ("c_glib_abba", "glib-2.0"),
    ("c_glib_abba_ticker", "glib-2.0"),
    ("c_glib_heap_abba", "glib-2.0"),
    ("c_glib_heap_held", "glib-2.0"),
    ("c_glib_lock_abba", "glib-2.0"),
    ("c_glib_plain_abba", "glib-2.0"),
    ("c_glib_plain_held", "glib-2.0"),
    ("c_glib_pool_self_free", "glib-2.0"),
    ("c_glib_idle_pool", "glib-2.0"),
    ("c_glib_rec_rw_abba", "glib-2.0"),
    ("c_glib_main_self_wait", "glib-2.0"),
    ("c_glib_waits_idle", "glib-2.0"),
    ("cpp_absl_abba", "absl_synchronization"),
    ("cpp_absl_plain_abba", "absl_synchronization"),
    ("cpp_qt_pool_self_drain", "Qt5Core"),
    ("cpp_qt_pool_starvation", "Qt5Core"),
    ("cpp_qt_idle", "Qt5Core"),
    ("cpp_qt_idle", "Qt5Concurrent"),
    ("cpp_qt_lock_abba", "Qt5Core"),
    ("cpp_qt_concurrent_starvation", "Qt5Core"),
    ("cpp_qt_concurrent_starvation", "Qt5Concurrent"),
    ("cpp_qt_rwlock_abba", "Qt5Core"),
    ("cpp_qt_locks_held", "Qt5Core"),
    ("c_uv_pool_starvation", "libuv"),
    ("c_uv_idle", "libuv"),
    ("cpp_tbb_queue_starvation", "tbb"),
    ("cpp_tbb_idle", "tbb"),
    ("cpp_absl_pool_starvation", "absl_synchronization"),
    ("cpp_grpc_idle", "grpc++"),
    ("c_python_embed", "python-3.11-embed"),
];
/// Further arguments of fixtures built against a library: the linker's for one with no
/// pkg-config file (Boost.Thread), `-fPIC` for Qt, whose headers refuse a program built without
/// position-independent code (a test asks [`require`] for the library first).
const LINK: &[(&str, &[&str])] = &[
    ("cpp_boost_shared_abba", &["-lboost_thread"]),
    ("cpp_qt_pool_self_drain", &["-fPIC"]),
    ("cpp_qt_pool_starvation", &["-fPIC"]),
    ("cpp_qt_idle", &["-fPIC"]),
    ("cpp_qt_lock_abba", &["-fPIC"]),
    ("cpp_qt_concurrent_starvation", &["-fPIC"]),
    ("cpp_qt_rwlock_abba", &["-fPIC"]),
    ("cpp_qt_locks_held", &["-fPIC"]),
];

fn is_newer(src: &Path, out: &Path) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(src), modified(out)) {
        (Some(s), Some(o)) => s > o,
        _ => true,
    }
}

/// Compile `fixtures/programs/<name>.{c,cpp,rs}` with the fixture flags into
/// `$CARGO_TARGET_TMPDIR/fixtures/<name>` (only if missing or older than the
/// source) and return the executable's path. Panics with the compiler's output
/// if the build fails. Safe to call from parallel tests and test processes: one
/// build at a time per fixture (a file lock), each to a unique temporary name
/// that is then renamed into place.
pub fn build_fixture(name: &str) -> PathBuf {
    build_fixture_as(name, Build::Debug)
}

/// How a fixture is built: the way users' programs come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// `-g -O0` (the recorded dumps' build).
    Debug,
    /// `-g -O0`, then `strip`: only the dynamic symbols are left.
    Stripped,
    /// `-g -O2 -fomit-frame-pointer` (C/C++) or `-C opt-level=2 -C force-frame-pointers=no`
    /// (Rust): unwinding must use CFI.
    NoFramePointer,
}

/// Like [`build_fixture`], built the given way (each way has its own output file).
pub fn build_fixture_as(name: &str, build: Build) -> PathBuf {
    let dir = programs_dir();
    let (src_name, compiler, flags) = [
        ("c", "gcc", CFLAGS),
        ("cpp", "g++", CXXFLAGS),
        ("rs", "rustc", RUSTFLAGS),
    ]
    .iter()
    .map(|&(ext, compiler, flags)| (format!("{name}.{ext}"), compiler, flags))
    .find(|(file, _, _)| dir.join(file).is_file())
    .unwrap_or_else(|| {
        panic!(
            "no fixture program {name}.{{c,cpp,rs}} in {}",
            dir.display()
        )
    });
    let src = dir.join(&src_name);

    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let out = out_dir.join(match build {
        Build::Debug => name.to_string(),
        Build::Stripped => format!("{name}.stripped"),
        Build::NoFramePointer => format!("{name}.nofp"),
    });
    // C fixtures include the shared scaffolding, and a twin its program (`#include "x.cpp"`):
    // rebuild when what it includes changes too.
    let included: Vec<PathBuf> = fs::read_to_string(&src)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#include \"")?.split('"').next())
        .map(|f| dir.join(f))
        .collect();
    let stale = || {
        is_newer(&src, &out)
            || is_newer(&dir.join("ready.h"), &out)
            || included.iter().any(|f| is_newer(f, &out))
    };
    if !stale() {
        return out;
    }
    // One build of a fixture at a time, across every test process: a test that finds it being
    // built waits and then uses it. Two builds renamed in turn would replace the file of a
    // process the first test already started, which then shows as "(deleted)" to gdb and to a
    // core's reader.
    let file = out.file_name().and_then(|f| f.to_str()).unwrap_or(name);
    let lock = fs::File::create(out_dir.join(format!(".{file}.lock")))
        .unwrap_or_else(|e| panic!("cannot create the build lock of {name}: {e}"));
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("cannot lock the build of {name}: {e}"));
    if !stale() {
        return out;
    }
    let flags: Vec<&str> = match (build, compiler) {
        (Build::NoFramePointer, "rustc") => vec![
            "-g",
            "-C",
            "opt-level=2",
            "-C",
            "force-frame-pointers=no",
            "--edition",
            "2021",
        ],
        (Build::NoFramePointer, _) => flags
            .iter()
            .map(|f| if *f == "-O0" { "-O2" } else { f })
            .chain(["-fomit-frame-pointer"])
            .collect(),
        _ => flags.to_vec(),
    };

    // Each build gets its own scratch directory (rustc puts intermediate
    // objects named after the crate next to its output, so two parallel builds
    // of one program must not share a directory), then the executable is
    // renamed into place atomically.
    let scratch = out_dir.join(format!(".build-{name}.{}", unique_suffix()));
    fs::create_dir_all(&scratch)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", scratch.display()));
    let tmp = scratch.join(name);
    let libs = PKG_CONFIG
        .iter()
        .filter(|(fixture, _)| *fixture == name)
        .flat_map(|(_, package)| pkg_config(package))
        .chain(
            (LINK.iter().filter(|(fixture, _)| *fixture == name))
                .flat_map(|(_, args)| args.iter().map(|a| a.to_string())),
        );
    // Compile from the programs directory with a relative source name, as the
    // recorder does, so that gdb shows `at c_abba.c:67` like the recorded dumps.
    let output = Command::new(compiler)
        .current_dir(&dir)
        .args(flags)
        .arg("-o")
        .arg(&tmp)
        .arg(&src_name)
        .args(libs)
        .stdin(Stdio::null())
        .output();
    let renamed = match &output {
        Ok(o) if o.status.success() => {
            if build == Build::Stripped {
                let stripped = Command::new("strip").arg(&tmp).status();
                assert!(
                    stripped.is_ok_and(|s| s.success()),
                    "strip {} failed",
                    tmp.display()
                );
            }
            Some(fs::rename(&tmp, &out))
        }
        _ => None,
    };
    let _ = fs::remove_dir_all(&scratch);
    let output =
        output.unwrap_or_else(|e| panic!("cannot run {compiler} to build fixture {name}: {e}"));
    match renamed {
        Some(Ok(())) => {}
        Some(Err(e)) => panic!(
            "cannot move the built fixture {name} to {}: {e}",
            out.display()
        ),
        None => panic!(
            "building fixture {name} with {compiler} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
    out
}

/// `pkg-config --cflags --libs PACKAGE`, split into arguments; panics when the package is not
/// installed.
fn pkg_config(package: &str) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--cflags", "--libs", package])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkg-config for {package}: {e}"));
    assert!(
        out.status.success(),
        "pkg-config cannot find {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).split_whitespace())
        .map(str::to_string)
        .collect()
}
