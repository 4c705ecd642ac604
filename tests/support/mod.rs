#![allow(dead_code)]
//! Test support: build the deliberately-hanging programs in `fixtures/programs`,
//! run them until they report `READY <pid>`, drive the healthy ones that answer
//! commands on stdin (c_pulse, c_soak), see which threads are stopped, trace a thread from
//! another process ([`Tracer`]), and take
//! real gdb thread dumps of them (the same gdb invocation as
//! `fixtures/record-gdb.sh`), and a runtime's own dump on a signal ([`runtimes`]). A test
//! that needs a tool or root asks [`require`] first: a missing one fails the test under
//! `CI`, and is a loud `SKIPPED` on stderr elsewhere.
//!
//! Programs built against real crates come from their own cargo project
//! ([`build_crate_fixture`]).
//!
//! Use from an integration test with `mod support;`. Built on std, nix (the build lock) and
//! serde_json (`report`: the JSON report as the tests read it).

mod crates;
mod files;
pub mod namespace;
pub mod python;
pub mod report;
mod require;
pub mod runtimes;
mod started;
#[allow(unused_imports)] // only the tests of crates' pools build the crates' fixtures
pub use crates::build_crate_fixture;
#[allow(unused_imports)] // not every test file writes files of its own
pub use files::{parse_text, scratch};
#[allow(unused_imports)] // not every test file skips for a missing setting
pub use require::{require, skip};
#[allow(unused_imports)] // not every test file starts programs itself
pub use started::Started;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

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

/// How long `HungProcess::start` waits for the `READY <pid>` line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// `fixtures/programs` in this repository.
pub fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("programs")
}

/// `fixtures/gdb/owners.gdb` in this repository.
pub fn owners_gdb_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("gdb")
        .join("owners.gdb")
}

fn unique_suffix() -> String {
    format!(
        "{}.{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

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

/// A running fixture program that has reached its hang. Killed (SIGKILL) and
/// reaped on drop.
pub struct HungProcess {
    pub pid: u32,
    child: Child,
}

impl HungProcess {
    /// Build the fixture `name`, start it and wait until it prints
    /// `READY <pid>` (every thread is then in its final state). Panics if the
    /// line does not come within 20 s or the program exits first.
    pub fn start(name: &str) -> HungProcess {
        Self::start_as(name, Build::Debug)
    }

    /// Like [`HungProcess::start`], with the program built the given way.
    pub fn start_as(name: &str, build: Build) -> HungProcess {
        Self::start_in(name, build, None)
    }

    /// Like [`HungProcess::start_as`], running in directory `dir` (where the kernel writes
    /// the program's core file, if it dumps one).
    pub fn start_in(name: &str, build: Build, dir: Option<&Path>) -> HungProcess {
        let mut command = Command::new(build_fixture_as(name, build));
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        Self::spawn(name, command)
    }

    /// Runs `command` (a fixture built some other way, e.g. `java -cp DIR Name`) and waits
    /// for its `READY <pid>` as [`HungProcess::start`] does; `name` is for messages.
    pub fn spawn(name: &str, mut command: Command) -> HungProcess {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start fixture {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        // From here on, a panic drops `process`, which kills the child.
        let mut process = HungProcess {
            pid: child.id(),
            child,
        };

        let (tx, rx) = mpsc::channel();
        // Read stdout until EOF (so the program never writes to a closed pipe),
        // reporting the READY pid, or None if the program exits without it.
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut sent = false;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if !sent {
                            if let Some(pid) = line.trim_end().strip_prefix("READY ") {
                                sent = tx.send(Some(pid.to_string())).is_ok();
                            }
                        }
                    }
                }
            }
            if !sent {
                let _ = tx.send(None);
            }
        });

        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Some(pid)) => assert_eq!(
                pid,
                process.pid.to_string(),
                "fixture {name} printed READY with a pid that is not its own"
            ),
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = process.child.wait().ok();
                panic!(
                    "fixture {name} (pid {}) exited before printing READY: {status:?}",
                    process.pid
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "fixture {name} (pid {}) did not print `READY <pid>` within {} s",
                process.pid,
                READY_TIMEOUT.as_secs()
            ),
        }
        // main prints READY just before its own final blocking call: give it
        // (bounded) time to get there, as the recorder does.
        process.wait_main_asleep(Duration::from_secs(2));
        process
    }

    /// Waits for the program to exit by itself (after a signal the test sent).
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for the fixture")
    }

    fn wait_main_asleep(&self, limit: Duration) {
        let stat_path = format!("/proc/{}/stat", self.pid);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let stat = fs::read_to_string(&stat_path).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].trim_start().chars().next());
            if state == Some('S') {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for HungProcess {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

/// A healthy fixture program (c_pulse, c_soak) driven over its stdin and stdout: one
/// command line in, one answer line out. Killed (SIGKILL) and reaped on drop.
pub struct Driven {
    pub pid: u32,
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Driven {
    /// Builds the fixture `name`, runs it with `args` and waits for its `READY <pid>` line.
    pub fn start(name: &str, args: &[&str]) -> Driven {
        let mut command = Command::new(build_fixture(name));
        command.args(args);
        Self::spawn(name, command)
    }

    /// Runs `command` (a fixture built some other way: a Python script) as [`Driven::start`]
    /// does; `name` is for messages.
    pub fn spawn(name: &str, mut command: Command) -> Driven {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start fixture {name}: {e}"));
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut driven = Driven {
            pid: child.id(),
            child,
            out,
        };
        let ready = driven.line();
        assert_eq!(
            ready.trim_end(),
            format!("READY {}", driven.pid),
            "fixture {name} did not start"
        );
        driven
    }

    /// Sends `command` and returns the answer line.
    pub fn ask(&mut self, command: &str) -> String {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{command}").expect("write to the fixture");
        self.line()
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .out
            .read_line(&mut line)
            .expect("read from the fixture");
        assert!(n > 0, "the fixture (pid {}) exited", self.pid);
        line
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `key=` in an answer line of `key=value` words.
pub fn field(line: &str, key: &str) -> Option<i64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// The state letter of process or thread `id` (`/proc/ID/stat`), `None` when it is gone.
pub fn state_letter(id: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{id}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The threads of `pid` the kernel shows stopped (`t`: ptrace stop, `T`: job control).
pub fn stopped_threads(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            matches!(state, Some('t' | 'T'))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Runs the hangscan binary with `args`: (exit code, stdout, stderr).
pub fn hangscan(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run hangscan");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run `gdb -nx -batch -p PID -ex 'set pagination off' -ex 'set width 0' ARGS...`
/// and return everything gdb printed, stdout and stderr interleaved as gdb
/// wrote them (both go to one file, like `2>&1` in the recorder).
pub fn gdb_batch(pid: u32, args: &[&str]) -> String {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let log = out_dir.join(format!(".gdb-{pid}.{}.log", unique_suffix()));
    let file =
        fs::File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let file2 = file.try_clone().expect("dup gdb log file");
    let pid_arg = pid.to_string();
    let status = Command::new("gdb")
        .args([
            "-nx",
            "-batch",
            "-p",
            &pid_arg,
            "-ex",
            "set pagination off",
            "-ex",
            "set width 0",
        ])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2)
        .status()
        .unwrap_or_else(|e| panic!("cannot run gdb: {e}"));
    let bytes = fs::read(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        status.code().is_some(),
        "gdb was killed by a signal ({status}); output:\n{text}"
    );
    text
}

/// A gdb thread dump of `pid`, exactly like the recorder's `.bt.txt`
/// (`info threads` + `thread apply all bt`) or, with `full`, `.btfull.txt`
/// (`thread apply all bt full`), without the `# ` provenance header.
pub fn gdb_dump(pid: u32, full: bool) -> String {
    let bt = if full {
        "thread apply all bt full"
    } else {
        "thread apply all bt"
    };
    gdb_batch(pid, &["-ex", "info threads", "-ex", bt])
}

/// Like the recorder's `.owners.txt`: `info threads`, `thread apply all bt`,
/// then `hangscan-owners` from fixtures/gdb/owners.gdb.
pub fn gdb_owners_dump(pid: u32) -> String {
    let script = owners_gdb_script();
    let script = script.to_str().expect("utf-8 path");
    gdb_batch(
        pid,
        &[
            "-x",
            script,
            "-ex",
            "info threads",
            "-ex",
            "thread apply all bt",
            "-ex",
            "hangscan-owners",
        ],
    )
}

/// gcore's core of `pid`, written into `dir`.
pub fn gcore(pid: u32, dir: &Path) -> PathBuf {
    let prefix = dir.join("core");
    let status = Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("gcore runs (it comes with gdb)");
    assert!(status.success(), "gcore failed");
    dir.join(format!("core.{pid}"))
}

/// Another process, named `name`, that traces thread `tid` (PTRACE_SEIZE: the thread runs on)
/// until it is dropped; then it exits, and the kernel lets the thread go. (It is told so by a
/// byte, not by the end of the pipe: a process forked meanwhile may hold a copy of its end.)
pub struct Tracer {
    pid: i32,
    release: i32,
}

impl Tracer {
    /// Traces thread `tid` from a new process named `name`.
    pub fn seize(tid: u32, name: &str) -> Tracer {
        Self::try_seize(tid, name)
            .unwrap_or_else(|| panic!("the tracer could not seize thread {tid}"))
    }

    /// Like [`Tracer::seize`]; `None` when the seize failed (the thread ended meanwhile).
    pub fn try_seize(tid: u32, name: &str) -> Option<Tracer> {
        let (mut ready, mut release) = ([0; 2], [0; 2]);
        let name = std::ffi::CString::new(name).unwrap();
        // SAFETY: pipe writes two fds into valid arrays.
        assert!(unsafe {
            libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) == 0
                && libc::pipe2(release.as_mut_ptr(), libc::O_CLOEXEC) == 0
        });
        // SAFETY: the child only makes raw system calls (async-signal-safe) and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: as above; every pointer is valid in the child's copy of memory.
            unsafe {
                libc::prctl(libc::PR_SET_NAME, name.as_ptr());
                let ok: u8 =
                    (libc::ptrace(libc::PTRACE_SEIZE, tid as libc::pid_t, 0, 0) == 0).into();
                libc::write(ready[1], (&ok as *const u8).cast(), 1);
                let mut byte = 0u8;
                libc::read(release[0], (&mut byte as *mut u8).cast(), 1);
                libc::_exit(0);
            }
        }
        let mut ok = 0u8;
        // SAFETY: reads one byte into a valid buffer; closes fds this process owns.
        unsafe {
            libc::read(ready[0], (&mut ok as *mut u8).cast(), 1);
            libc::close(ready[0]);
            libc::close(ready[1]);
            libc::close(release[0]);
        }
        let tracer = Tracer {
            pid,
            release: release[1],
        };
        (ok == 1).then_some(tracer)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // SAFETY: one byte from a valid buffer ends the child's read; waitpid reaps it.
        unsafe {
            libc::write(self.release, [1u8].as_ptr().cast(), 1);
            libc::close(self.release);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}
