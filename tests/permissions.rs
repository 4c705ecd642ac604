//! Who may attach, and what hangscan says when it may not. Run as an unprivileged user
//! (`nobody`; these tests run as root) against a process of its own (works, with the findings
//! root gets) and against root's (exit 2, says whose it is and what to do); against a process
//! a debugger already traces, wholly (gdb) or in one thread (exit 2, names the tracer). A
//! capture refused partway lets go at once of the threads it had stopped, and the target runs
//! on in every case. Refusals that are no permission problem say their own reason, never a
//! security module: a kernel thread, hangscan itself, another hangscan holding the process,
//! hangscan's own tracer (strace around it: never stopped, or both would hang), hangscan in a
//! user namespace the process is not in; a tracer that lets go during the attach is waited for.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{hangscan, stopped_threads, Driven, HungProcess, Tracer};

const NOBODY: u32 = 65534;

fn yama_scope() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A directory `nobody` can reach (the build tree may sit under a private home), holding
/// copies of the executables it must run; removed on drop.
struct Reachable(PathBuf);

impl Reachable {
    fn new() -> Reachable {
        let dir = std::env::temp_dir().join(format!(
            "hangscan-permissions-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Reachable(dir)
    }

    fn copy(&self, exe: &Path) -> PathBuf {
        let to = self.0.join(exe.file_name().unwrap());
        std::fs::copy(exe, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
        to
    }
}

impl Drop for Reachable {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `hangscan ARGS` run as `nobody` (from a copy it can reach): (exit code, stdout, stderr).
fn hangscan_as_nobody(dir: &Reachable, args: &[&str]) -> (Option<i32>, String, String) {
    let exe = dir.copy(Path::new(env!("CARGO_BIN_EXE_hangscan")));
    let run = || {
        Command::new(&exe)
            .args(args)
            .uid(NOBODY)
            .gid(NOBODY)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
    };
    // A copy just written may be busy for a moment: a test on another thread that forked
    // while the copy's file was open for writing holds it until that child execs.
    let mut tries = 0;
    let o = loop {
        match run() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("run hangscan as nobody"),
        }
    };
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// (kind, confidence) of each finding of a JSON report.
fn findings(json: &str) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    doc["reports"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].to_string(), f["confidence"].to_string()))
        .collect()
}

/// The target's threads are all running (none stopped), and it answers.
fn runs_on(target: &mut Driven) {
    assert_eq!(stopped_threads(target.pid), Vec::<u32>::new());
    assert!(target.ask("stats").starts_with("STATS"));
}

#[test]
fn an_unprivileged_user_attaches_to_its_own_process_like_root() {
    if !support::require("root") {
        return;
    }
    let dir = Reachable::new();
    let exe = dir.copy(&support::build_fixture("c_abba"));
    let mut command = Command::new(exe);
    command.uid(NOBODY).gid(NOBODY).current_dir("/");
    let target = HungProcess::spawn("c_abba", command);
    let pid = target.pid.to_string();

    let (root_code, root_out, root_err) = hangscan(&["attach", "--format", "json", &pid]);
    assert_eq!(root_code, Some(1), "{root_err}");
    let (code, out, err) = hangscan_as_nobody(&dir, &["attach", "--format", "json", &pid]);
    if yama_scope().is_some_and(|s| s >= 1) {
        // Yama lets an unprivileged tracer reach its descendants only.
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("kernel.yama.ptrace_scope"), "{err}");
        return;
    }
    assert_eq!(code, root_code, "{err}");
    assert_eq!(findings(&out), findings(&root_out));
    assert!(findings(&out)
        .iter()
        .any(|(kind, _)| kind == "\"lock-cycle\""));
}

#[test]
fn another_users_process_is_refused_saying_whose_it_is_and_what_to_do() {
    if !support::require("root") {
        return;
    }
    let dir = Reachable::new();
    let mut target = Driven::start("c_pulse", &["4"]);
    let pid = target.pid;
    let (code, _, err) = hangscan_as_nobody(&dir, &["attach", &pid.to_string()]);
    assert_eq!(code, Some(2), "{err}");
    for words in [
        format!("permission denied attaching to process {pid}: it belongs to uid 0 (root)"),
        "hangscan runs as uid 65534 (nobody) without CAP_SYS_PTRACE".to_string(),
        format!("run hangscan as that user or as root (`sudo hangscan attach {pid}`)"),
    ] {
        assert!(err.contains(&words), "{words:?} missing: {err}");
    }
    runs_on(&mut target);
}

/// Every thread of `pid` traced by `tracer`.
fn all_traced_by(pid: u32, tracer: u32) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    dir.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("status"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.strip_prefix("TracerPid:").map(str::trim) == Some(&tracer.to_string()))
    })
}

#[test]
fn a_process_gdb_traces_is_refused_naming_gdb_and_runs_on() {
    if !support::require("gdb") {
        return;
    }
    let mut target = Driven::start("c_pulse", &["4"]);
    let pid = target.pid;
    // gdb attached, waiting in a shell command that reads gdb's stdin: closing it lets gdb
    // detach and exit.
    let mut gdb = Command::new("gdb")
        .args([
            "-nx",
            "-batch",
            "-p",
            &pid.to_string(),
            "-ex",
            "shell read line",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run gdb");
    let limit = Instant::now() + Duration::from_secs(60);
    while !all_traced_by(pid, gdb.id()) {
        assert!(Instant::now() < limit, "gdb did not attach to {pid}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (code, _, err) = hangscan(&["attach", "--samples", "1", &pid.to_string()]);
    drop(gdb.stdin.take());
    let _ = gdb.wait();
    assert_eq!(code, Some(2), "{err}");
    let words = format!(
        "process {pid} is already traced by process {} (gdb)",
        gdb.id()
    );
    assert!(err.contains(&words), "{words:?} missing: {err}");
    assert!(err.contains("quit the debugger"), "{err}");

    runs_on(&mut target);
    let (code, _, err) = hangscan(&["attach", "--samples", "1", &pid.to_string()]);
    assert_eq!(code, Some(0), "once gdb is gone: {err}");
}

#[test]
fn a_capture_refused_partway_lets_go_of_the_threads_it_had_stopped() {
    let mut target = Driven::start("c_pulse", &["8"]);
    let pid = target.pid;
    // Another tracer (a thread of this test) holds the last thread: hangscan seizes the
    // others first, then is refused.
    let traced: u32 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap();
    let (seized_tx, seized) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let tracer = std::thread::spawn(move || {
        let result = nix::sys::ptrace::seize(
            nix::unistd::Pid::from_raw(traced as i32),
            nix::sys::ptrace::Options::empty(),
        );
        seized_tx.send(result).unwrap();
        // Until the test is done; then this thread ends, and the kernel detaches it.
        let _ = released.recv();
    });
    seized.recv().unwrap().expect("seize the last thread");

    // A second process keeps hangscan busy (sampling it for 2 s) after the refusal.
    let other = Driven::start("c_pulse", &["4"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(["attach", "--interval", "2000"])
        .args([pid.to_string(), other.pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut refusal = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut refusal)
        .unwrap();
    // hangscan is still at work on the other process: none of the target's threads may
    // stay stopped meanwhile.
    let mut left = Vec::new();
    for _ in 0..30 {
        left.extend(stopped_threads(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    let code = child.wait().unwrap().code();
    release.send(()).unwrap();
    tracer.join().unwrap();

    let words = format!(
        "thread {traced} of process {pid} is already traced by process {}",
        std::process::id()
    );
    assert!(refusal.contains(&words), "{words:?} missing: {refusal}");
    assert_eq!(code, Some(2));
    left.sort_unstable();
    left.dedup();
    assert!(
        left.is_empty(),
        "threads left stopped after the refusal: {left:?}"
    );
    runs_on(&mut target);
}

/// The words of the security-module advice, which only a refusal nothing explains may give.
fn blames_security(err: &str) -> bool {
    err.contains("security module") || err.contains("audit log")
}

/// A kernel thread's pid (kthreadd's, 2, where there is one).
fn a_kernel_thread() -> Option<u32> {
    let flags = |pid: &str| -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(6)?
            .parse()
            .ok()
    };
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| flags(&pid.to_string()).is_some_and(|f| f & 0x0020_0000 != 0))
}

#[test]
fn a_kernel_thread_is_refused_as_having_no_user_space_stack() {
    let Some(pid) = a_kernel_thread() else {
        return support::skip("no kernel thread visible in /proc (a PID namespace?)");
    };
    let (code, _, err) = hangscan(&["attach", "--samples", "1", &pid.to_string()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "cannot attach to process {pid}: it is a kernel thread"
        )) && err.contains("no user-space stack"),
        "{err}"
    );
    assert!(!blames_security(&err), "{err}");
}

#[test]
fn hangscan_refuses_to_capture_itself() {
    // The shell's pid becomes hangscan's own with exec.
    let o = Command::new("sh")
        .args(["-c", "exec \"$0\" attach --samples 1 $$"])
        .arg(env!("CARGO_BIN_EXE_hangscan"))
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("it is this hangscan itself"), "{err}");
    assert!(!blames_security(&err), "{err}");
}

#[test]
fn hangscan_refuses_to_stop_its_own_tracer() {
    if !support::require("strace") {
        return;
    }
    // strace traces the shell, which becomes hangscan with exec; `$PPID` is strace. Stopped,
    // strace could never let hangscan past its next system call: the test would hang.
    let o = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "sh", "-c"])
        .arg("exec \"$0\" attach --samples 1 $PPID")
        .arg(env!("CARGO_BIN_EXE_hangscan"))
        .stdin(Stdio::null())
        .output()
        .expect("run strace");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("it is hangscan's own tracer"), "{err}");
    assert!(err.contains("(strace)"), "{err}");
    assert!(!blames_security(&err), "{err}");
}

#[test]
fn a_process_outside_hangscans_user_namespace_is_refused_saying_so() {
    if !support::require("unshare-user") {
        return;
    }
    let mut target = Driven::start("c_pulse", &["4"]);
    let o = Command::new("unshare")
        .args(["--user", "--map-root-user", env!("CARGO_BIN_EXE_hangscan")])
        .args(["attach", "--samples", "1", &target.pid.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("hangscan runs in a user namespace of its own")
            && err.contains("the process is outside it"),
        "{err}"
    );
    assert!(!blames_security(&err), "{err}");
    runs_on(&mut target);
}

/// The last thread of `pid`.
fn last_thread(pid: u32) -> u32 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap()
}

#[test]
fn another_hangscan_holding_the_process_is_named_and_waited_for() {
    let mut target = Driven::start("c_pulse", &["4"]);
    let pid = target.pid;
    let other = Tracer::seize(last_thread(pid), "hangscan");
    let (code, _, err) = hangscan(&["attach", "--samples", "1", &pid.to_string()]);
    drop_tracer(other, &mut target);
    assert_eq!(code, Some(2), "{err}");
    let words = format!("another hangscan (process {}", other_pid(&err));
    assert!(err.contains(&words), "{words:?} missing: {err}");
    assert!(err.contains("wait for it to finish"), "{err}");
    assert!(
        !err.contains("quit the debugger") && !blames_security(&err),
        "{err}"
    );
    let (code, _, err) = hangscan(&["attach", "--samples", "1", &pid.to_string()]);
    assert_eq!(code, Some(0), "once the other hangscan is done: {err}");
}

/// Lets the tracer go, then checks the target runs on.
fn drop_tracer(tracer: Tracer, target: &mut Driven) {
    drop(tracer);
    runs_on(target);
}

/// The pid hangscan named as the other hangscan.
fn other_pid(err: &str) -> String {
    err.split("another hangscan (process ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or("?")
        .to_string()
}

#[test]
fn a_tracer_that_lets_go_during_the_attach_is_waited_for_not_blamed() {
    let mut target = Driven::start("c_pulse", &["4"]);
    let pid = target.pid;
    let tracer = Tracer::seize(last_thread(pid), "flaky-tracer");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(["attach", "--samples", "1", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tracer lets go once hangscan has begun (it holds the first thread for a moment
    // before the refusal), or when hangscan has ended.
    let leader_tracer = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .map_or(0, |v| v.trim().parse::<i32>().unwrap_or(0))
    };
    // On a crowded machine the moment the leader is held can pass unseen: the tracer then
    // lets go 150 ms in, well inside hangscan's retries after a refusal (25 ms doubling, five
    // tries), rather than after hangscan has given up.
    let began = std::time::Instant::now();
    while leader_tracer() == 0
        && child.try_wait().unwrap().is_none()
        && began.elapsed() < std::time::Duration::from_millis(150)
    {}
    drop(tracer);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    runs_on(&mut target);
}
