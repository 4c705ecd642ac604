//! Processes that wait for each other through a pty, eventfds, or a wait for a process
//! group's children (`fixtures/programs/processes/`), found live (`attach --tree`, `attach P
//! C`, `run`), in every format, and from the snapshots `--save` wrote.
//!
//! - `pty_cycle.py`: the parent reads the master of its child's pty, the child reads a line
//!   from the slave the parent never sends: a process cycle through a pty (`fdinfo`
//!   `tty-index` pairs `/dev/ptmx` with `/dev/pts/N`); exit 1. `tty`: the child reads
//!   `/dev/tty`, its controlling terminal, as a password prompt does: the same cycle.
//!   `flood`: the parent waits for its child to exit, the child writes into the pty more than
//!   it holds: the pty's pipe cycle, a process cycle through a pty. `prompt`: the child reads
//!   its terminal while the parent sleeps, as a shell waits for its user: a tie, no finding. `sleep`: the child sleeps, and
//!   the parent's read waits for an end of file that never comes; exit 0.
//! - `eventfd_cycle.py`: parent and child each read an eventfd (count 0) that only the other
//!   could write: a process cycle through eventfds (`fdinfo` `eventfd-id`); exit 1. `sleep`:
//!   the read is a tie to the sleeper in the graph, and no finding (an eventfd has no end of
//!   file); exit 0.
//! - `group_wait.py wait4|waitid|own`: the parent waits for one process group's children
//!   (`waitpid(-pgid)`, `waitid(P_PGID)`, `waitpid(0)`: its own group's), whose writer fills a
//!   pipe only the parent reads, while a sleeping child of another group is no part of that
//!   wait: a pipe cycle; exit 1.

use super::{every_format, json, one_thread, set_finding, Tree};
use crate::support::{hangscan, require, scratch, skip};
use serde_json::Value;

/// A two-process fixture `name` with `args`: the tree, the parent and its first child.
fn pair(name: &str, args: &[&str]) -> Option<(Tree, String, String)> {
    let tree = Tree::start(name, args)?;
    let parent = tree.pid();
    // The READY helper thread ends: the parent's one thread waits.
    one_thread(parent);
    let child = Tree::children(parent)[0];
    Some((tree, parent.to_string(), child.to_string()))
}

/// Live (`--tree` with `--save`, `P C`) and from the saved snapshots: the finding of `kind`
/// whose steps say each of `said`, exit `code`; every format too.
fn everywhere(name: &str, p: &str, c: &str, kind: &str, said: &[String], code: i32) -> Value {
    let dir = scratch("processes", name);
    let saved = dir.join("set.json");
    let mut steps = Value::Null;
    for args in [
        vec!["attach", "--tree", p, "--save", saved.to_str().unwrap()],
        vec!["attach", p, c],
    ] {
        let (got, doc) = json(&args);
        assert_eq!(got, Some(code), "{args:?}: {doc}");
        let f = set_finding(&doc, kind);
        let text = f["steps"].to_string();
        for s in said {
            assert!(text.contains(s.as_str()), "{args:?}: no `{s}` in {text}");
        }
        steps = f["steps"].clone();
    }
    let files: Vec<String> = [p, c]
        .iter()
        .map(|pid| dir.join(format!("set.{pid}.json")).display().to_string())
        .collect();
    let (got, doc) = json(&["parse", &files[0], &files[1]]);
    assert_eq!(got, Some(code), "{doc}");
    let live = steps;
    let parsed = &set_finding(&doc, kind)["steps"];
    // The saved facts give the same steps, but for what the processes did at each look.
    assert_eq!(
        parsed.as_array().map(Vec::len),
        live.as_array().map(Vec::len),
        "{parsed} vs {live}"
    );
    let title = kind.replace('-', " ");
    let parse: Vec<&str> = ["parse", &files[0], &files[1]].to_vec();
    let tie = match kind {
        "pipe-cycle" => "pipe:[",
        _ if name.starts_with("pty") => "pty /dev/pts/",
        _ => "eventfd ",
    };
    every_format(&["attach", "--tree", p], kind, &title, tie, code);
    every_format(&parse, kind, &title, tie, code);
    doc
}

/// `hangscan run` around `python3 SCRIPT ARGS`: the finding of `kind` reported, exit 124.
fn run_finds(script: &str, args: &[&str], kind: &str) {
    if !require("python3") {
        return skip("python3");
    }
    let dir = scratch("processes", &format!("run_{script}_{}", args.join("_")));
    let report = dir.join("hang.json");
    let path = crate::support::programs_dir()
        .join("processes")
        .join(script);
    let mut all = vec![
        "run",
        "--timeout",
        "3s",
        "--report",
        report.to_str().unwrap(),
        "--",
        "python3",
        path.to_str().unwrap(),
    ];
    all.extend(args);
    let (code, _, err) = hangscan(&all);
    assert_eq!(code, Some(124), "{err}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    set_finding(&doc, kind);
}

/// `pty_cycle.py MODE`: the child reads `child_reads` (its standard input, or `/dev/tty`).
fn a_pty_cycle(mode: &str, child_reads: &str) {
    let Some((_tree, p, c)) = pair("pty_cycle.py", &[mode]) else {
        return;
    };
    let said = [
        format!("pid {p} "),
        "reads fd 3, the master of pty /dev/pts/".into(),
        format!("pid {c} (python3 "),
        "holds its other side (fd 0, fd 1, fd 2".into(),
        format!("reads {child_reads}, pty /dev/pts/"),
        "holds its other side (fd 3)".into(),
        "sleeps in read".into(),
    ];
    let doc = everywhere(&format!("pty_{mode}"), &p, &c, "process-cycle", &said, 1);
    let f = set_finding(&doc, "process-cycle");
    assert!(f["title"].to_string().contains("through a pty"), "{f}");
    assert_eq!(f["severity"], "deadlock");
    run_finds("pty_cycle.py", &[mode], "process-cycle");
}

#[test]
fn a_parent_reading_its_child_s_pty_while_the_child_reads_its_input_is_a_cycle() {
    a_pty_cycle("cycle", "fd 0");
}

#[test]
fn a_child_prompting_on_its_controlling_terminal_its_parent_reads_is_a_cycle() {
    // `/dev/tty` names no pty: the child's controlling terminal does (`stat`'s tty_nr).
    a_pty_cycle("tty", "fd 3");
}

#[test]
fn a_parent_waiting_for_a_child_that_fills_its_pty_is_a_cycle() {
    let Some((_tree, p, c)) = pair("pty_cycle.py", &["flood"]) else {
        return;
    };
    let said = [
        format!("pid {p} "),
        format!("waits for its child pid {c} "),
        "writes to fd 1, pty /dev/pts/".into(),
        format!("which is full: only pid {p} (python3 "),
        "holds its other side (fd 3), and it sleeps in wait4".into(),
    ];
    let doc = everywhere("pty_flood", &p, &c, "process-cycle", &said, 1);
    let f = set_finding(&doc, "process-cycle");
    assert!(f["title"].to_string().contains("through a pty"), "{f}");
    run_finds("pty_cycle.py", &["flood"], "process-cycle");
}

#[test]
fn a_read_of_a_pty_whose_other_side_only_a_sleeper_holds_waits_for_an_eof_that_never_comes() {
    let Some((_tree, p, c)) = pair("pty_cycle.py", &["sleep"]) else {
        return;
    };
    let said = [
        format!("pid {p} "),
        "reads fd 3, the master of pty /dev/pts/".into(),
        format!("pid {c} (python3 "),
        "holds its other side (fd 0, fd 1, fd 2) and sleeps in clock_nanosleep".into(),
    ];
    everywhere("pty_sleep", &p, &c, "eof-never-comes", &said, 0);
    // Attached alone, the sleeper outside is named with the command that would capture it.
    let (code, doc) = json(&["attach", &p]);
    assert_eq!(code, Some(0), "{doc}");
    let steps = set_finding(&doc, "eof-never-comes")["steps"].to_string();
    let outside = format!("`hangscan attach {p} {c}` would");
    assert!(steps.contains(&outside), "{steps}");
}

/// `attach --tree P`'s one edge between processes, which must be a tie and no finding (exit 0).
fn lone_tie(p: &str) -> Value {
    let (code, doc) = json(&["attach", "--tree", p]);
    assert_eq!(code, Some(0), "{doc}");
    let graph = &doc["processes"];
    assert_eq!(
        graph["findings"].as_array().map_or(0, Vec::len),
        0,
        "{graph}"
    );
    let edges = graph["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{graph}");
    edges[0].clone()
}

#[test]
fn a_child_reading_its_terminal_while_the_master_s_holder_sleeps_is_no_finding() {
    // A shell waiting for its user: the terminal's side (sshd, a terminal emulator) sleeps in
    // poll until a key is typed. The read is a tie in the graph, and nothing more.
    let Some((_tree, p, c)) = pair("pty_cycle.py", &["prompt"]) else {
        return;
    };
    let edge = lone_tie(&p);
    assert_eq!(edge["from"], format!("{c}.{c}"));
    assert_eq!(edge["tie"]["channel"]["is"], "pty-slave");
}

#[test]
fn two_processes_each_reading_an_eventfd_only_the_other_writes_deadlock() {
    let Some((_tree, p, c)) = pair("eventfd_cycle.py", &["cycle"]) else {
        return;
    };
    let said = [
        format!("pid {p} "),
        format!("pid {c} "),
        "reads fd 4, eventfd ".into(),
        "reads fd 3, eventfd ".into(),
        "whose count is 0".into(),
        "holds it too (fd 3)".into(),
        "holds it too (fd 4)".into(),
    ];
    let doc = everywhere("eventfd_cycle", &p, &c, "process-cycle", &said, 1);
    let f = set_finding(&doc, "process-cycle");
    assert!(f["title"].to_string().contains("through eventfds"), "{f}");
    run_finds("eventfd_cycle.py", &["cycle"], "process-cycle");
}

#[test]
fn a_read_of_an_eventfd_a_sleeper_holds_is_a_tie_and_no_finding() {
    let Some((_tree, p, c)) = pair("eventfd_cycle.py", &["sleep"]) else {
        return;
    };
    let edge = lone_tie(&p);
    assert_eq!(edge["to_pid"].to_string(), c);
    assert_eq!(edge["tie"]["is"], "channel-empty");
    assert_eq!(edge["tie"]["channel"]["is"], "eventfd");
}

/// `group_wait.py CALL`: the wait for the writer's group is on the cycle, the sleeper of the
/// parent's own group is no part of it.
fn a_wait_for_a_process_group_links_only_its_children(call: &str) {
    let Some(tree) = Tree::start("group_wait.py", &[call]) else {
        return;
    };
    let parent = tree.pid();
    one_thread(parent);
    let children = Tree::children(parent);
    assert_eq!(children.len(), 2, "{children:?}");
    let leads = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        after.split_whitespace().nth(2) == Some(pid.to_string().as_str())
    };
    // The writer leads a group of its own, or (`own`) the sleeper does.
    let (writer, sleeper) = match leads(children[0]) == (call != "own") {
        true => (children[0].to_string(), children[1].to_string()),
        false => (children[1].to_string(), children[0].to_string()),
    };
    let p = parent.to_string();
    let group = if call == "own" { &p } else { &writer };
    let said = [
        format!("pid {p} "),
        format!("waits for any child in process group {group} to exit, among them pid {writer}"),
        "which is full".into(),
        format!("only pid {p} "),
    ];
    let doc = everywhere(
        &format!("group_{call}"),
        &p,
        &writer,
        "pipe-cycle",
        &said,
        1,
    );
    // The whole tree: the sleeper is captured, and nobody waits for it.
    let (code, doc_tree) = json(&["attach", "--tree", &p]);
    assert_eq!(code, Some(1), "{doc_tree}");
    for d in [&doc, &doc_tree] {
        for e in d["processes"]["edges"].as_array().unwrap() {
            assert_ne!(e["to_pid"].to_string(), sleeper, "{e}");
            assert_ne!(e["tie"]["is"], "any-child", "{e}");
        }
    }
    let reports = doc_tree["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 3, "{doc_tree}");
    run_finds("group_wait.py", &[call], "pipe-cycle");
}

#[test]
fn waitpid_of_a_process_group_waits_only_for_its_children() {
    a_wait_for_a_process_group_links_only_its_children("wait4");
}

#[test]
fn waitid_of_a_process_group_waits_only_for_its_children() {
    a_wait_for_a_process_group_links_only_its_children("waitid");
}

#[test]
fn waitpid_0_waits_only_for_the_children_of_the_waiter_s_own_group() {
    a_wait_for_a_process_group_links_only_its_children("own");
}
