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

mod build;
mod crates;
mod files;
pub mod namespace;
pub mod python;
pub mod report;
mod require;
pub mod runtimes;
mod started;
#[allow(unused_imports)] // not every test file builds fixtures itself
pub use build::{build_fixture, build_fixture_as, Build};
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
