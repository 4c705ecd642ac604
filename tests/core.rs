//! `hangscan core` end to end on a whole `gcore` core of the deadlocked `c_abba`: the report a
//! user reads, the lock cycle proven from the core's memory, exit 1.
//!
//! Core files cut short. A `gcore` core (its notes last) and a kernel core (its notes first) of
//! the deadlocked `c_abba`, truncated inside the notes, just after them, inside a thread's
//! stack and near the end: `hangscan core` names the cut on stderr and in the report with how
//! much is missing, says the snapshot is not complete, keeps every thread whose notes are
//! whole, never panics, and never gives a verdict the whole core contradicts (a cut can only
//! weaken it to "no verdict", exit 2).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{gcore, hangscan, scratch, HungProcess};

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_PRSTATUS: u32 = 1;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Where things are in a core file.
struct Layout {
    /// The notes segment: offset and size.
    notes: (u64, u64),
    /// `PT_LOAD`s with bytes in the file: offset and size.
    loads: Vec<(u64, u64)>,
    /// Each thread note: the file offset its end is at, and its tid.
    prstatus: Vec<(u64, u64)>,
}

fn layout(core: &[u8]) -> Layout {
    let (phoff, phnum) = (u64_at(core, 0x20) as usize, core[0x38] as usize);
    let mut notes = (0, 0);
    let mut loads = Vec::new();
    for i in 0..phnum {
        let ph = &core[phoff + 56 * i..];
        let (kind, offset, size) = (u32_at(ph, 0), u64_at(ph, 8), u64_at(ph, 32));
        match kind {
            PT_NOTE => notes = (offset, size),
            PT_LOAD if size > 0 => loads.push((offset, size)),
            _ => {}
        }
    }
    let mut prstatus = Vec::new();
    let mut at = notes.0 as usize;
    let align = |n: usize| (n + 3) & !3;
    while at + 12 <= (notes.0 + notes.1) as usize {
        let (namesz, descsz, kind) = (
            u32_at(core, at) as usize,
            u32_at(core, at + 4) as usize,
            u32_at(core, at + 8),
        );
        let desc = at + 12 + align(namesz);
        let end = desc + align(descsz);
        if kind == NT_PRSTATUS {
            prstatus.push((end as u64, u64::from(u32_at(core, desc + 32))));
        }
        at = end;
    }
    Layout {
        notes,
        loads,
        prstatus,
    }
}

/// The kernel's own core of the hung fixture `name`, made to dump with SIGABRT in `dir`.
fn kernel_core(name: &str, dir: &Path) -> Option<PathBuf> {
    let exe = support::build_fixture(name);
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -c unlimited && exec \"$0\""])
        .arg(&exe)
        .current_dir(dir);
    let mut p = HungProcess::spawn(name, command);
    let killed = Command::new("kill")
        .args(["-ABRT", &p.pid.to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()), "kill -ABRT");
    p.wait();
    let core = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("core"))
        });
    if core.is_none() {
        let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
        support::skip(&format!(
            "the kernel wrote no core into {} (core_pattern {:?})",
            dir.display(),
            pattern.trim()
        ));
    }
    core
}

/// What `hangscan core` said about a core: exit status, stdout, stderr.
struct Said {
    code: Option<i32>,
    json: Option<Value>,
    stderr: String,
}

fn run_core(path: &Path) -> Said {
    let (code, out, stderr) = hangscan(&["core", path.to_str().unwrap(), "--format", "json"]);
    assert!(
        !stderr.contains("panicked") && matches!(code, Some(0..=2)),
        "{}: exit {code:?}, a crash?\n{stderr}",
        path.display()
    );
    let json = (!out.trim().is_empty()).then(|| {
        let doc: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{stderr}"));
        doc["reports"][0].clone()
    });
    Said { code, json, stderr }
}

fn tids(report: &Value) -> Vec<u64> {
    report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["tid"].as_u64())
        .collect()
}

/// The threads of the report's lock cycle, sorted.
fn cycle(report: &Value) -> Option<Vec<u64>> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "lock-cycle")
        .map(|f| {
            let mut t: Vec<u64> = f["threads"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_u64)
                .collect();
            t.sort();
            t
        })
}

/// Cuts `core` at each of `cuts` (a name and a length) and checks what `hangscan core` says
/// against the whole core's answer. Returns each cut's stderr, by name.
fn check_cuts(core: &Path, cuts: &[(&str, u64)]) -> Vec<(String, Said)> {
    let bytes = std::fs::read(core).unwrap();
    let lay = layout(&bytes);
    let whole = run_core(core);
    assert_eq!(whole.code, Some(1), "the whole core: {}", whole.stderr);
    let whole_json = whole.json.unwrap();
    assert_eq!(whole_json["source"]["complete"], true);
    assert!(!whole.stderr.contains("truncated"), "{}", whole.stderr);
    let whole_cycle = cycle(&whole_json);
    let all_tids = tids(&whole_json);
    let cut_path = core.with_extension("cut");
    let mut said = Vec::new();
    for &(name, len) in cuts {
        std::fs::write(&cut_path, &bytes[..len as usize]).unwrap();
        let s = run_core(&cut_path);
        let why = format!("cut {name} at {len}: exit {:?}\n{}", s.code, s.stderr);
        eprintln!("{why}");
        assert!(
            s.stderr.contains("the core is truncated: cut at ") && s.stderr.contains(" missing"),
            "{why}"
        );
        assert_ne!(
            s.code,
            Some(0),
            "a cut core is never \"no deadlock\": {why}"
        );
        let whole_notes: Vec<u64> = lay
            .prstatus
            .iter()
            .filter(|(end, _)| *end <= len)
            .map(|(_, tid)| *tid)
            .collect();
        match &s.json {
            None => {
                assert!(
                    whole_notes.is_empty(),
                    "threads with whole notes lost: {why}"
                );
                assert_eq!(s.code, Some(2), "{why}");
                assert!(s.stderr.contains("no thread's registers are left"), "{why}");
            }
            Some(r) => {
                assert_eq!(r["source"]["complete"], false, "{why}");
                let read = tids(r);
                for t in &whole_notes {
                    assert!(read.contains(t), "thread {t}'s notes are whole: {why}");
                }
                assert!(read.iter().all(|t| all_tids.contains(t)), "{why}");
                let first = r["diagnostics"][0]["message"].as_str().unwrap_or_default();
                assert!(first.starts_with("the core is truncated"), "{why}\n{first}");
                // A stall needs every thread: never claimed from a part.
                let kinds: Vec<&str> = r["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|f| f["kind"].as_str())
                    .collect();
                assert!(!kinds.contains(&"stall"), "{why}");
                match s.code {
                    // A cycle among what is left is the whole core's cycle.
                    Some(1) => {
                        assert!(whole_cycle.is_some(), "{why}");
                        assert_eq!(cycle(r), whole_cycle, "{why}");
                    }
                    _ => {
                        assert_eq!(r["verdict"], "undecidable", "{why}");
                        assert!(s.stderr.contains("so that is no verdict"), "{why}");
                    }
                }
            }
        }
        said.push((name.to_string(), s));
    }
    let _ = std::fs::remove_file(&cut_path);
    said
}

fn stderr_of<'a>(said: &'a [(String, Said)], name: &str) -> &'a Said {
    &said.iter().find(|(n, _)| n == name).unwrap().1
}

/// The middle of the largest `PT_LOAD` (a thread's 8 MiB stack).
fn inside_a_stack(lay: &Layout) -> u64 {
    let (off, size) = lay.loads.iter().max_by_key(|(_, s)| *s).unwrap();
    off + size / 2
}

#[test]
fn a_gcore_core_of_a_deadlock_is_a_proven_lock_cycle() {
    if !support::require("gcore") {
        return;
    }
    let dir = scratch("core", "whole");
    let p = HungProcess::start("c_abba");
    let workers: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", p.pid))
        .unwrap()
        .map(|t| t.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|t| *t != p.pid.to_string())
        .collect();
    assert_eq!(workers.len(), 2, "c_abba's two workers");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.starts_with(&format!(
            "DEADLOCK: lock cycle: 2 threads wait on each other's locks\n\
             3 thread(s) from {} (core, all threads)\n",
            core.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("lock-cycle (deadlock, evidence: proven)"),
        "{out}"
    );
    for (waiter, holder) in [(&workers[0], &workers[1]), (&workers[1], &workers[0])] {
        assert!(
            // A global lock is named by the program's symbol table, its address beside it.
            (out.contains(&format!("LWP {waiter} waits for mutex orders_lock (0x"))
                || out.contains(&format!("LWP {waiter} waits for mutex inventory_lock (0x")))
                && out.contains(&format!(
                    "held by LWP {holder} (owner field read from memory"
                )),
            "{waiter} waits for {holder}: {out}"
        );
    }
    // The locks by their symbols, from the executable's symbol table, as gdb names them.
    for lock in ["orders_lock", "inventory_lock"] {
        assert!(
            out.contains(&format!("waits for mutex {lock} (0x")),
            "{out}"
        );
    }
    assert!(
        !err.contains("build-id"),
        "the binaries are the core's own: {err}"
    );
    // Every stack is walked to its first frame; each frame says how it was found: the
    // registers for the innermost, then the unwind data.
    let said = run_core(&core);
    for t in said.json.as_ref().unwrap()["threads"].as_array().unwrap() {
        assert_eq!(t["unwind_stop"], "outermost", "{t}");
        let trust: Vec<&str> = t["frames"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["trust"].as_str())
            .collect();
        assert_eq!(trust.first(), Some(&"context"), "{t}");
        assert!(trust[1..].iter().all(|&m| m == "cfi"), "{t}");
    }
    // `-v` lists the same in text, after the report.
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap(), "-v"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let stacks = out
        .split("\nstacks:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        stacks.matches("(walk ended: outermost frame)").count(),
        3,
        "{out}"
    );
    assert!(
        stacks.contains("pthread_mutex_lock") && stacks.contains("[context]"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_gcore_core_says_what_it_lacks() {
    if !support::require("gcore") {
        return;
    }
    let dir = scratch("core", "gcore");
    let p = HungProcess::start("c_abba");
    let core = gcore(p.pid, &dir);
    drop(p);
    let lay = layout(&std::fs::read(&core).unwrap());
    let (notes_at, notes_len) = lay.notes;
    assert!(
        lay.loads.iter().all(|(o, _)| *o < notes_at) && lay.prstatus.len() == 3,
        "gcore writes its notes last, a thread note each"
    );
    let said = check_cuts(
        &core,
        &[
            ("inside a stack", inside_a_stack(&lay)),
            ("after the first thread note", lay.prstatus[0].0 + 16),
            ("after the second thread note", lay.prstatus[1].0 + 16),
            ("at the end of the notes", notes_at + notes_len - 1),
        ],
    );
    // Before the notes: nothing to read, and it says why.
    assert!(stderr_of(&said, "inside a stack")
        .stderr
        .contains("before the first whole thread note"));
    // gcore writes the mapped files after the threads: a cut there loses the frames' names.
    let second = stderr_of(&said, "after the second thread note");
    assert!(
        second.stderr.contains("the notes are cut at"),
        "{}",
        second.stderr
    );
    assert!(second
        .stderr
        .contains("only the 2 thread(s) whose notes are whole"));
    assert!(second.stderr.contains("NT_FILE"), "{}", second.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_kernel_core_says_what_it_lacks() {
    let dir = scratch("core", "kernel");
    let Some(core) = kernel_core("c_abba", &dir) else {
        return;
    };
    let bytes = std::fs::read(&core).unwrap();
    let lay = layout(&bytes);
    let (notes_at, notes_len) = lay.notes;
    assert!(
        lay.loads.iter().all(|(o, _)| *o > notes_at) && lay.prstatus.len() == 3,
        "the kernel writes its notes first, a thread note each"
    );
    let len = bytes.len() as u64;
    drop(bytes);
    let said = check_cuts(
        &core,
        &[
            ("inside the notes", lay.prstatus[0].0 + 16),
            ("just after the notes", notes_at + notes_len),
            ("inside a stack", inside_a_stack(&lay)),
            ("near the end", len - 100),
        ],
    );
    let inside = stderr_of(&said, "inside the notes");
    assert!(inside
        .stderr
        .contains("only the 1 thread(s) whose notes are whole"));
    // Every thread, and no memory: each one's stack is named as unreadable.
    let after = stderr_of(&said, "just after the notes");
    let n = lay.loads.len();
    assert!(
        after
            .stderr
            .contains(&format!("{n} of {n} memory segments missing")),
        "{}",
        after.stderr
    );
    let report = after.json.as_ref().unwrap();
    let stacks = after
        .stderr
        .split("the stacks of threads ")
        .nth(1)
        .unwrap_or_default();
    for t in tids(report) {
        assert!(stacks.contains(&t.to_string()), "{}", after.stderr);
    }
    // Each thread's stack ends at its first frame, and says why.
    for t in report["threads"].as_array().unwrap() {
        let why = t["unwind_error"].as_str().unwrap_or_default();
        assert!(
            why.contains("the core is truncated before this stack"),
            "{t}"
        );
        assert_eq!(t["unwind_stop"], "stack-cut", "{t}");
    }
    assert_eq!(after.code, Some(2), "{}", after.stderr);
    // The objects' build-ids were in the lost memory: said, not silently trusted.
    assert!(
        after
            .stderr
            .contains("used without being checked against the core"),
        "{}",
        after.stderr
    );
    // Near the end every stack is there: the whole core's cycle stands.
    let end = stderr_of(&said, "near the end");
    assert_eq!(end.code, Some(1), "{}", end.stderr);
    assert!(
        end.stderr.contains("memory segments cut short"),
        "{}",
        end.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stall needs every thread to be seen waiting: from a cut core it weakens to no verdict.
#[test]
fn a_stall_is_not_claimed_from_a_truncated_core() {
    let dir = scratch("core", "stall");
    let Some(core) = kernel_core("c_condvar_stall", &dir) else {
        return;
    };
    let bytes = std::fs::read(&core).unwrap();
    let lay = layout(&bytes);
    let len = bytes.len() as u64;
    drop(bytes);
    let whole = run_core(&core);
    let verdict = &whole.json.as_ref().unwrap()["verdict"];
    assert_eq!(verdict, "stall", "{}", whole.stderr);
    let said = check_cuts(
        &core,
        &[
            ("inside the notes", lay.prstatus[1].0 + 16),
            ("near the end", len - 100),
        ],
    );
    for (name, s) in &said {
        assert_eq!(s.code, Some(2), "cut {name}: {}", s.stderr);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
