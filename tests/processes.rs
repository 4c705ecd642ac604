//! Processes that wait for processes: one wait-for graph over a set of processes, from what the
//! kernel says of them (`/proc/PID/fd`, `fdinfo`, `/proc/locks`, the system call each thread is
//! blocked in). Each fixture in `fixtures/programs/processes/` runs in a process group of its
//! own, killed whole when the test ends, and is captured with `attach --tree PARENT` and with
//! `attach PARENT CHILD`, in every output format, and again from the snapshots `--save` wrote.
//!
//! - `pipe_cycle.py`: `Popen(..., stdout=PIPE).wait()` on a child that writes more than a pipe
//!   holds: a pipe cycle naming both processes, the pipe and who holds each end; exit 1.
//! - `lock_held.py flock|fcntl|ofd`: a child waits for a file lock (`flock`, a POSIX `lockf`,
//!   an open file description lock) its parent holds while it sleeps: `/proc/locks` names the
//!   holder (for an OFD lock, which it lists with pid -1, the holder's `fdinfo` does), said with its command line
//!   and what it is doing; attached alone, the waiter still names the holder and the command
//!   that would capture both. A warning: exit 0.
//! - `eof_never.py`: the parent reads its shell's output to the end; the shell left `sleep` in
//!   the background holding the pipe's write end and exited (a zombie now): the end of file
//!   never comes, the sleeper (reparented out of the tree) found by the pipe it holds and named.
//!   The zombie is a note in the report (text, Markdown, JSON; DOT's graph label, SARIF's
//!   tool execution notifications, JUnit's `<system-out>`), not trouble: exit 0.
//! - `socket_cycle.py`: parent and child each send the other, over a socketpair, more than the
//!   sockets hold before reading: a request/response deadlock, the peers found by `sock_diag`.
//! - `c_fork_held_lock`: the parent waits for a child stuck on a lock copied locked by fork:
//!   one finding (waits-for-stuck-child) with the child's own orphaned-lock attached; exit 1.
//! - `c_fork_held_lock shared`: the child waits for a process-shared mutex whose owner field
//!   names the parent's `log-writer` thread: the lock held by another process, that thread
//!   named with what it does, live and from the two processes' gcore cores.
//! - `run` around a suite (a shell) whose test is `pipe_cycle.py`: the cycle reported, exit 124.
//! - A shell loop whose children come and go: `attach --tree` ten times, never trouble, and
//!   only notes (in the report, none on stderr) naming the pids of the tree that exited meanwhile.
//! - `attach --tree` on hangscan's own parent shell: hangscan, in that tree, is left out with a
//!   note in the report, and the shell is captured.
//!
//! Ptys, eventfds and waits for a process group: [`channels`]; the eof, moving-tree and
//! hangscan-itself tests, with the set's notes in every format: [`notes`].

#[path = "processes/channels.rs"]
mod channels;
#[path = "processes/notes.rs"]
mod notes;
mod support;

use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::process::Command;
use support::{gcore, hangscan, require, scratch, skip, HungProcess};

/// A fixture's process tree, its group killed on drop.
struct Tree {
    hung: HungProcess,
}

impl Tree {
    /// Runs `fixtures/programs/processes/NAME` with `args` until it prints READY.
    fn start(name: &str, args: &[&str]) -> Option<Tree> {
        if !require("python3") {
            skip("python3");
            return None;
        }
        let script = support::programs_dir().join("processes").join(name);
        let mut command = Command::new("python3");
        command.arg(script).args(args).process_group(0);
        Some(Tree {
            hung: HungProcess::spawn(name, command),
        })
    }

    fn pid(&self) -> u32 {
        self.hung.pid
    }

    /// The children of `pid` now.
    fn children(pid: u32) -> Vec<u32> {
        let path = format!("/proc/{pid}/task/{pid}/children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals the fixture's own process group.
        unsafe { libc::kill(-(self.hung.pid as i32), libc::SIGKILL) };
    }
}

/// `hangscan ARGS --format json`: the exit code and the whole document.
fn json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = hangscan(&all);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v)
}

/// The one finding of `kind` in the document's `processes`.
fn set_finding<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    let found: Vec<&Value> = (doc["processes"]["findings"].as_array())
        .unwrap_or_else(|| panic!("no processes: {doc}"))
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind}: {doc}");
    found[0]
}

/// Every format of `args` says the finding of `kind` (its title holds `title`; in DOT, one
/// cluster per process and a tie labelled with `tie`) and exits `code`.
fn every_format(args: &[&str], kind: &str, title: &str, tie: &str, code: i32) {
    for format in ["text", "markdown", "dot", "sarif", "junit", "json"] {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        let (got, out, err) = hangscan(&all);
        assert_eq!(got, Some(code), "{format}: {out}\n{err}");
        let named = match format {
            "dot" => out.contains("subgraph cluster_p0") && out.contains(tie),
            _ => out.contains(kind) || out.contains(title),
        };
        assert!(named, "{format} names no {kind}: {out}");
    }
}

#[test]
fn a_parent_waiting_for_a_child_that_fills_its_pipe_is_a_pipe_cycle() {
    let Some(tree) = Tree::start("pipe_cycle.py", &[]) else {
        return;
    };
    let parent = tree.pid();
    let children = Tree::children(parent);
    assert_eq!(children.len(), 1, "{children:?}");
    let child = children[0];
    let (p, c) = (parent.to_string(), child.to_string());
    let dir = scratch("processes", "pipe_cycle");
    let saved = dir.join("set.json");
    let saved = saved.to_str().unwrap();
    for args in [
        vec!["attach", "--tree", &p],
        vec!["attach", &p, &c],
        vec!["attach", "--tree", &p, "--save", saved],
    ] {
        let (code, doc) = json(&args);
        assert_eq!(code, Some(1), "{args:?}: {doc}");
        let f = set_finding(&doc, "pipe-cycle");
        assert_eq!(f["severity"], "deadlock");
        let steps = f["steps"].to_string();
        for said in [
            format!("pid {p}"),
            format!("child pid {c}"),
            "wait4".into(),
            "writes to fd 1".into(),
            "which is full".into(),
            format!("only pid {p}"),
            "holds its read end".into(),
        ] {
            assert!(steps.contains(&said), "{args:?}: no `{said}` in {steps}");
        }
        let graph = &doc["processes"];
        assert_eq!(graph["version"], 1);
        assert_eq!(graph["edges"].as_array().unwrap().len(), 2, "{graph}");
    }
    every_format(
        &["attach", "--tree", &p],
        "pipe-cycle",
        "pipe cycle",
        "pipe:[",
        1,
    );
    // Each process's own report, clean by itself, points at the cycle.
    let (_, text, _) = hangscan(&["attach", "--tree", &p]);
    let pointers = text.matches("but across processes: pipe-cycle").count();
    assert_eq!(pointers, 2, "{text}");
    // The saved snapshots keep the kernel's facts: the same finding, the same exit status.
    let files: Vec<String> = [parent, child]
        .iter()
        .map(|pid| dir.join(format!("set.{pid}.json")).display().to_string())
        .collect();
    let parse: Vec<&str> = std::iter::once("parse")
        .chain(files.iter().map(String::as_str))
        .collect();
    let (code, doc) = json(&parse);
    assert_eq!(code, Some(1), "{doc}");
    let live = json(&["attach", "--tree", &p]).1;
    assert_eq!(
        set_finding(&doc, "pipe-cycle")["steps"],
        set_finding(&live, "pipe-cycle")["steps"]
    );
    every_format(&parse, "pipe-cycle", "pipe cycle", "pipe:[", 1);
}

/// `lock_held.py MODE`: the parent holds the lock, its child waits for it.
fn lock_held_by_another_process(mode: &str, class: &str) {
    let dir = scratch("processes", &format!("lock_{mode}"));
    let file = dir.join("locked");
    let Some(tree) = Tree::start("lock_held.py", &[mode, file.to_str().unwrap()]) else {
        return;
    };
    let parent = tree.pid();
    let child = Tree::children(parent)[0];
    let (p, c) = (parent.to_string(), child.to_string());
    let saved = dir.join("set.json");
    let saved = saved.to_str().unwrap();
    let holder = format!("held by pid {p} (python3 ");
    for (args, captured) in [
        (vec!["attach", "--tree", &p, "--save", saved], true),
        (vec!["attach", &c, &p], true),
        (vec!["attach", &c], false),
    ] {
        let (code, doc) = json(&args);
        assert_eq!(code, Some(0), "{args:?}: {doc}");
        let f = set_finding(&doc, "lock-held-by-process");
        assert_eq!(f["severity"], "warning");
        let steps = f["steps"][0].as_str().unwrap();
        for said in [
            format!("pid {c} "),
            format!("a write {class} on {}", file.display()),
            holder.clone(),
            "which sleeps in clock_nanosleep".into(),
        ] {
            assert!(steps.contains(&said), "{args:?}: no `{said}` in {steps}");
        }
        // A holder outside the capture is named, with the command that would capture it.
        let outside = format!("`hangscan attach {c} {p}` would");
        assert_eq!(steps.contains(&outside), !captured, "{args:?}: {steps}");
    }
    every_format(
        &["attach", "--tree", &p],
        "lock-held-by-process",
        "lock held by another",
        class,
        0,
    );
    let files: Vec<String> = [parent, child]
        .iter()
        .map(|pid| dir.join(format!("set.{pid}.json")).display().to_string())
        .collect();
    let (code, doc) = json(&["parse", &files[0], &files[1]]);
    assert_eq!(code, Some(0), "{doc}");
    set_finding(&doc, "lock-held-by-process");
}

#[test]
fn a_flock_held_by_another_process_names_the_holder() {
    lock_held_by_another_process("flock", "flock");
}

#[test]
fn a_posix_lock_held_by_another_process_names_the_holder() {
    lock_held_by_another_process("fcntl", "fcntl (POSIX) lock");
}

#[test]
fn an_open_file_description_lock_held_by_another_process_names_the_holder() {
    // `/proc/locks` names no process for it (pid -1): the holder is found by its fdinfo.
    lock_held_by_another_process("ofd", "open file description lock");
}

#[test]
fn run_around_a_suite_whose_test_spawns_the_pair_reports_the_cycle_and_exits_124() {
    if !require("python3") {
        return skip("python3");
    }
    let dir = scratch("processes", "run");
    let report = dir.join("hang.json");
    let script = support::programs_dir()
        .join("processes")
        .join("pipe_cycle.py");
    // A suite: a shell that runs the test and waits for it.
    let suite = format!("python3 {} > /dev/null", script.display());
    let (code, _, err) = hangscan(&[
        "run",
        "--timeout",
        "3s",
        "--report",
        report.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &suite,
    ]);
    assert_eq!(code, Some(124), "{err}");
    assert!(err.contains("DEADLOCK: pipe cycle"), "{err}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let f = set_finding(&doc, "pipe-cycle");
    assert!(
        f["steps"][1].as_str().unwrap().contains("which is full"),
        "{f}"
    );
}

#[test]
fn a_parent_waiting_for_a_child_stuck_on_a_lock_copied_by_fork_is_one_finding() {
    let hung = HungProcess::start("c_fork_held_lock");
    let parent = hung.pid;
    let child = Tree::children(parent)[0];
    let (p, c) = (parent.to_string(), child.to_string());
    for args in [vec!["attach", "--tree", &p], vec!["attach", &p, &c]] {
        let (code, doc) = json(&args);
        assert_eq!(code, Some(1), "{args:?}: {doc}");
        let f = set_finding(&doc, "waits-for-stuck-child");
        assert_eq!(f["severity"], "deadlock");
        let steps = f["steps"].to_string();
        assert!(
            steps.contains(&format!("waits for its child pid {c}")),
            "{steps}"
        );
        assert!(
            steps.contains("cannot exit: its own report finds orphaned-lock"),
            "{steps}"
        );
        // The child's own finding, attached by its report's index.
        let at = &f["attached"][0];
        let own = &doc["reports"][at["report"].as_u64().unwrap() as usize];
        assert_eq!(own["source"]["pid"], child);
        assert_eq!(
            own["findings"][at["finding"].as_u64().unwrap() as usize]["kind"],
            "orphaned-lock"
        );
    }
    every_format(
        &["attach", "--tree", &p],
        "waits-for-stuck-child",
        "stuck child",
        "a child's exit",
        1,
    );
}

#[test]
fn a_process_shared_mutex_held_by_another_process_is_found_live_and_from_cores() {
    let mut command = Command::new(support::build_fixture("c_fork_held_lock"));
    command.arg("shared");
    let hung = HungProcess::spawn("c_fork_held_lock shared", command);
    let parent = hung.pid;
    let child = Tree::children(parent)[0];
    let (p, c) = (parent.to_string(), child.to_string());
    let check = |doc: &Value, args: &[&str]| {
        let f = set_finding(doc, "lock-held-by-process");
        let steps = f["steps"][0].as_str().unwrap();
        for said in [
            format!("pid {c}"),
            format!("thread LWP {c}"),
            "waits for process-shared lock at 0x".into(),
            "whose owner field names thread LWP ".into(),
            format!("of pid {p}"),
            "which sleeps in pause".into(),
        ] {
            assert!(steps.contains(&said), "{args:?}: no `{said}` in {steps}");
        }
    };
    for args in [vec!["attach", "--tree", &p], vec!["attach", &c, &p]] {
        // The child's own report is a stall (its one thread waits): exit 1.
        let (code, doc) = json(&args);
        assert_eq!(code, Some(1), "{args:?}: {doc}");
        check(&doc, &args);
    }
    every_format(
        &["attach", "--tree", &p],
        "lock-held-by-process",
        "lock held by another",
        "process-shared lock",
        1,
    );
    // Cores carry no descriptors, but memory proves the owner.
    if !require("gcore") {
        return skip("gcore");
    }
    let dir = scratch("processes", "shared_cores");
    let cores = [gcore(parent, &dir), gcore(child, &dir)];
    let (a, b) = (cores[0].to_str().unwrap(), cores[1].to_str().unwrap());
    let (code, doc) = json(&["core", a, b]);
    assert_eq!(code, Some(1), "{doc}");
    check(&doc, &["core"]);
    // What cores cannot show between the processes is said.
    let unseen = doc["processes"]["unseen"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(unseen.contains("cores carry no descriptors"), "{doc}");
    for format in ["text", "markdown", "dot", "sarif", "junit"] {
        let (_, out, _) = hangscan(&["core", a, b, "--format", format]);
        let said = notes::noted(format, &out, "cores carry no descriptors");
        assert!(said, "{format}: {out}");
    }
}

/// Waits (at most 5 s) until `pid` has one thread: the fixture's READY helper has ended.
fn one_thread(pid: u32) {
    for _ in 0..5000 {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
        if tasks == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn two_processes_each_sending_a_request_the_other_never_reads_deadlock() {
    let Some(tree) = Tree::start("socket_cycle.py", &[]) else {
        return;
    };
    let parent = tree.pid();
    one_thread(parent);
    let child = Tree::children(parent)[0];
    let (p, c) = (parent.to_string(), child.to_string());
    let dir = scratch("processes", "socket_cycle");
    let saved = dir.join("set.json");
    for args in [
        vec!["attach", "--tree", &p, "--save", saved.to_str().unwrap()],
        vec!["attach", &c, &p],
    ] {
        let (code, doc) = json(&args);
        assert_eq!(code, Some(1), "{args:?}: {doc}");
        let f = set_finding(&doc, "request-response");
        let steps = f["steps"].to_string();
        for said in [
            format!("pid {p} "),
            format!("pid {c} "),
            "whose buffers are full".into(),
            "(its peer: socket:[".into(),
            "sleeps in sendto".into(),
        ] {
            assert!(steps.contains(&said), "{args:?}: no `{said}` in {steps}");
        }
    }
    every_format(
        &["attach", "--tree", &p],
        "request-response",
        "request/response",
        "socket:[",
        1,
    );
    let files: Vec<String> = [parent, child]
        .iter()
        .map(|pid| dir.join(format!("set.{pid}.json")).display().to_string())
        .collect();
    let (code, doc) = json(&["parse", &files[0], &files[1]]);
    assert_eq!(code, Some(1), "{doc}");
    set_finding(&doc, "request-response");
}
