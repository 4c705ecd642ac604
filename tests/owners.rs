//! Owners read by the library's own rules, and what they prove when the owner is gone: a glibc
//! mutex whose `__owner` is no thread of the process (`c_orphaned_lock`: a thread returned
//! holding it) is an orphaned lock, found live, from a gcore core and from a gdb dump with the
//! owners printed (`fixtures/gdb/owners.gdb`), never a stall or a lock cycle (a plain `bt full`,
//! which shows no owner, is a stall that says the owner field decides); so is a mutex a
//! child got locked from `fork` (`c_fork_held_lock`: its owner is the parent's thread; live,
//! where the parent's threads are read, it says the lock was copied by fork). Two
//! threads each
//! in `__cxa_guard_acquire` inside the other's static's initialiser (`cpp_static_init_cycle`)
//! are a static-initialisation cycle, live, from a core and from a gdb `bt full`, each guard
//! named by its symbol (`guard variable for config()::c`). A thread that
//! holds a `std::shared_mutex` shared and asks for it exclusively (`cpp_rwlock_upgrade`) is an
//! rwlock self-upgrade in a gdb `bt full` (its `std::shared_lock` local proves the read hold);
//! live and in a core, where no local is read yet, it is never a cycle with the other writer.
//! A `pthread_once` routine that reaches its own once again (`c_once_recursion`) is a once
//! recursion, live, from a core and from a gdb `bt full`.

mod support;

use std::path::Path;
use support::{gcore, gdb_dump, gdb_owners_dump, hangscan, require, scratch, HungProcess};

/// The tids of the process's threads other than the main one.
fn other_threads(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| t.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|t| *t != pid.to_string())
        .collect()
}

/// `hangscan parse` of `text`, written to a file in `dir`; the report comes with the dump
/// when it finds no deadlock (what gdb saw says why).
fn parse(dir: &Path, text: &str) -> (Option<i32>, String, String) {
    let file = dir.join("dump.txt");
    std::fs::write(&file, text).unwrap();
    let (code, mut out, err) = hangscan(&["parse", file.to_str().unwrap()]);
    if code != Some(1) {
        out.push_str(&format!("\n--- the dump:\n{text}"));
    }
    (code, out, err)
}

/// The report on `c_orphaned_lock`: an orphaned lock, proven, on the mutex named by its symbol
/// (as gdb prints it; live and from a core, from the executable's symbol table), whose one
/// waiter is the reader, and no other deadlock in its place.
fn assert_orphaned(code: Option<i32>, out: &str, err: &str, reader: &str) {
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.starts_with("DEADLOCK: orphaned lock: 1 thread(s) wait for mutex config_lock (0x"),
        "{out}"
    );
    assert!(
        out.contains("orphaned-lock (deadlock, evidence: proven)"),
        "{out}"
    );
    assert!(
        out.contains("is gone: no thread of the process has that id"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains(&format!("1. LWP {reader}"))
            && l.contains("waits for mutex")
            && l.contains("read_config (")
            && l.contains("c_orphaned_lock.c:")),
        "the reader's step names its program frame: {out}"
    );
    for other in ["stall", "lock-cycle", "self-lock", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

/// The child `c_fork_held_lock` forked, and the parent's thread that holds the lock.
fn forked_child(parent: u32) -> (u32, String) {
    let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"));
    let child = children.unwrap().trim().parse().expect("one child");
    let writer = other_threads(parent).pop().expect("the log writer");
    (child, writer)
}

/// The report on `c_fork_held_lock`'s child: an orphaned lock, proven, owned by the parent's
/// thread, the child's one thread waiting in `run_child`. A live capture reads the parent's
/// threads and says the lock was copied by fork (`parent`); a core or a dump cannot.
fn assert_orphaned_by_fork(
    code: Option<i32>,
    out: &str,
    err: &str,
    child: u32,
    owner: &str,
    parent: Option<u32>,
) {
    assert_eq!(code, Some(1), "{out}\n{err}");
    let first = out.lines().next().unwrap_or_default();
    let why = match parent {
        Some(p) => format!(
            ", copied locked by fork: its owner LWP {owner} is a thread of the parent process {p}"
        ),
        None => format!("whose owner LWP {owner} is gone"),
    };
    assert!(
        first.starts_with("DEADLOCK: orphaned lock: 1 thread(s) wait for mutex private_lock (0x")
            && first.contains(&why),
        "{out}"
    );
    assert!(
        out.contains("orphaned-lock (deadlock, evidence: proven)"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains(&format!("1. LWP {child}"))
            && l.contains("run_child (")
            && l.contains("c_fork_held_lock.c:")),
        "{out}"
    );
    for other in ["stall", "lock-cycle", "self-lock", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

#[test]
fn a_mutex_copied_locked_by_fork_is_an_orphaned_lock_live_in_a_core_and_in_gdb_owners() {
    let p = HungProcess::start("c_fork_held_lock");
    let (child, owner) = forked_child(p.pid);
    let (code, out, err) = hangscan(&["attach", &child.to_string()]);
    assert_orphaned_by_fork(code, &out, &err, child, &owner, Some(p.pid));
    if require("gcore") {
        let dir = scratch("owners", "fork-core");
        let core = gcore(child, &dir);
        let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
        assert_orphaned_by_fork(code, &out, &err, child, &owner, None);
        let _ = std::fs::remove_dir_all(&dir);
    }
    if require("gdb") {
        let dir = scratch("owners", "fork-gdb");
        let (code, out, err) = parse(&dir, &gdb_owners_dump(child));
        assert_orphaned_by_fork(code, &out, &err, child, &owner, None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_process_shared_mutex_held_in_the_parent_is_no_orphaned_lock() {
    let mut command = std::process::Command::new(support::build_fixture("c_fork_held_lock"));
    command.arg("shared");
    let p = HungProcess::spawn("c_fork_held_lock shared", command);
    let (child, _) = forked_child(p.pid);
    let (_, out, _) = hangscan(&["attach", &child.to_string()]);
    assert!(out.contains("waits for mutex"), "{out}");
    for other in ["orphaned", "lock-cycle", "self-lock"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

#[test]
fn a_mutex_whose_owner_exited_is_an_orphaned_lock_live() {
    let p = HungProcess::start("c_orphaned_lock");
    let reader = other_threads(p.pid).pop().expect("the reader");
    let (code, out, err) = hangscan(&["attach", &p.pid.to_string()]);
    assert_orphaned(code, &out, &err, &reader);
    assert!(out.contains("owner field read from memory at 0x"), "{out}");
}

#[test]
fn a_mutex_whose_owner_exited_is_an_orphaned_lock_in_a_core() {
    if !require("gcore") {
        return;
    }
    let dir = scratch("owners", "core");
    let p = HungProcess::start("c_orphaned_lock");
    let reader = other_threads(p.pid).pop().expect("the reader");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
    assert_orphaned(code, &out, &err, &reader);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mutex_whose_owner_exited_is_an_orphaned_lock_in_gdb_owners() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("owners", "gdb");
    let p = HungProcess::start("c_orphaned_lock");
    let reader = other_threads(p.pid).pop().expect("the reader");
    let dump = gdb_owners_dump(p.pid);
    drop(p);
    let (code, out, err) = parse(&dir, &dump);
    assert_orphaned(code, &out, &err, &reader);
    assert!(
        out.contains("`__owner` printed at line"),
        "gdb prints the owner: {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plain gdb `bt full` prints neither the global mutex's owner nor anything holding it: the
/// report cannot tell an orphaned lock from a holder it does not show, and says so, naming
/// what decides (the owner field: attach, a core, the hangscan-owners script) instead of
/// advising to look for a lost wake-up.
#[test]
fn a_mutex_whose_owner_exited_is_undecided_from_a_plain_bt_full_and_says_what_decides() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("owners", "btfull");
    let p = HungProcess::start("c_orphaned_lock");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let (code, out, err) = parse(&dir, &dump);
    assert_eq!(code, Some(1), "every thread waits: {out}\n{err}");
    assert!(
        out.contains("[1] stall (warning, evidence: heuristic)"),
        "{out}"
    );
    assert!(
        !out.contains("orphaned-lock"),
        "nothing shows the owner: {out}"
    );
    assert!(
        out.contains("waits for a lock, and nothing shows who holds it")
            && out.contains("What the lock records of its owner decides"),
        "{out}"
    );
    assert!(
        out.contains("hangscan-owners") && out.contains("hangscan attach PID"),
        "what decides: {out}"
    );
    assert!(!out.contains("lost wake-up"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report on `cpp_static_init_cycle`: a static-initialisation cycle of its two initialising
/// threads, each waiting in the accessor of the static the other initialises, and no other
/// deadlock in its place.
fn assert_init_cycle(code: Option<i32>, out: &str, err: &str, threads: &[String]) {
    assert_eq!(code, Some(1), "{out}\n{err}");
    // Each guard is named by its symbol: its address's symbol live and in a core, the static
    // its holder initialises in a `bt full` that prints no guard (libstdc++ without debug info).
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first
            .starts_with("DEADLOCK: static-initialisation cycle: 2 threads each wait for a static")
            && first.contains("guard variable for registry()::r")
            && first.contains("guard variable for config()::c"),
        "{out}"
    );
    assert!(out.contains("[1] static-init-cycle (deadlock"), "{out}");
    for other in ["stall", "lock-cycle", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
    // Each waits in the accessor of the other's static, which the other is inside.
    let source =
        std::fs::read_to_string(support::programs_dir().join("cpp_static_init_cycle.cpp")).unwrap();
    let line_of = |text: &str| source.lines().position(|l| l.contains(text)).unwrap() + 1;
    for (accessor, text, guard) in [
        (
            "registry",
            "static Registry r;",
            "guard variable for registry()::r",
        ),
        (
            "config",
            "static Config c;",
            "guard variable for config()::c",
        ),
    ] {
        let line = line_of(text);
        let waits = out
            .lines()
            .find(|l| {
                l.contains(&format!("waits for static initialisation {guard}"))
                    && l.contains(&format!("#2 {accessor} ("))
            })
            .unwrap_or_else(|| panic!("no thread waits on {guard} in {accessor}: {out}"));
        assert!(
            waits.contains(&format!("cpp_static_init_cycle.cpp:{line})")),
            "{waits}"
        );
        let held = out
            .lines()
            .find(|l| l.contains("held by") && l.contains(&format!("#4 {accessor} (")))
            .unwrap_or_else(|| panic!("no thread is inside {accessor}'s initialiser: {out}"));
        let waiter = threads
            .iter()
            .find(|t| waits.contains(&format!("LWP {t} ")))
            .expect("a worker waits");
        let holder = threads
            .iter()
            .find(|t| held.contains(&format!("LWP {t} ")))
            .expect("a worker holds");
        assert_ne!(waiter, holder, "{out}");
    }
}

/// Live and from a core each waiter's guard is named by the data symbol at its address (the
/// executable's symbol table), the address beside it; a gdb `bt full` without libstdc++'s debug
/// info prints neither, and [`assert_init_cycle`] finds the guard named from its holder there.
fn assert_guards_at_addresses(out: &str) {
    for guard in ["registry()::r", "config()::c"] {
        let waits = format!("waits for static initialisation guard variable for {guard} (0x");
        assert!(out.lines().any(|l| l.contains(&waits)), "{waits}: {out}");
    }
}

#[test]
fn statics_whose_initialisers_need_each_other_are_a_static_init_cycle_live() {
    let p = HungProcess::start("cpp_static_init_cycle");
    let workers = other_threads(p.pid);
    let (code, out, err) = hangscan(&["attach", &p.pid.to_string()]);
    assert_init_cycle(code, &out, &err, &workers);
    assert_guards_at_addresses(&out);
}

#[test]
fn statics_whose_initialisers_need_each_other_are_a_static_init_cycle_in_a_core() {
    if !require("gcore") {
        return;
    }
    let dir = scratch("owners", "init-core");
    let p = HungProcess::start("cpp_static_init_cycle");
    let workers = other_threads(p.pid);
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
    assert_init_cycle(code, &out, &err, &workers);
    assert_guards_at_addresses(&out);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn statics_whose_initialisers_need_each_other_are_a_static_init_cycle_in_gdb_bt_full() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("owners", "init-gdb");
    let p = HungProcess::start("cpp_static_init_cycle");
    let workers = other_threads(p.pid);
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let (code, out, err) = parse(&dir, &dump);
    assert_init_cycle(code, &out, &err, &workers);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reader_asking_to_write_is_an_rwlock_self_upgrade_in_gdb_bt_full() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("owners", "upgrade-gdb");
    let p = HungProcess::start("cpp_rwlock_upgrade");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let (code, out, err) = parse(&dir, &dump);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.starts_with("DEADLOCK: rwlock self-upgrade: ")
            && out
                .lines()
                .next()
                .unwrap()
                .contains("\"updater\" waits to take rwlock table_lock"),
        "{out}"
    );
    assert!(
        out.contains("[1] rwlock-upgrade (deadlock, evidence: symbolic)"),
        "{out}"
    );
    assert!(
        out.contains("\"updater\" itself (libstdcxx.shared-lock-local): a guard in #")
            && out.contains("refresh_entry (")
            && out.contains("cpp_rwlock_upgrade.cpp:"),
        "the read hold is the shared_lock in refresh_entry: {out}"
    );
    for other in ["lock-cycle", "self-lock", "stall", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The live or core report on `cpp_rwlock_upgrade`: the `std::shared_lock` guard read from
/// memory shows the read hold; never a cycle through the unrelated writer, nor a self-lock.
fn assert_upgrade_from_memory(code: Option<i32>, out: &str) {
    assert_eq!(code, Some(1), "{out}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("DEADLOCK: rwlock self-upgrade: ")
            && first.contains(" waits to take rwlock ")
            && first.contains(" for writing while it holds it for reading"),
        "{out}"
    );
    // The guard's bytes were read: the read hold is proven.
    assert!(
        out.contains("[1] rwlock-upgrade (deadlock, evidence: proven)"),
        "{out}"
    );
    for other in ["lock-cycle", "self-lock", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

#[test]
fn a_reader_asking_to_write_is_an_rwlock_self_upgrade_live_and_in_a_core() {
    let p = HungProcess::start("cpp_rwlock_upgrade");
    let (code, out, _) = hangscan(&["attach", &p.pid.to_string()]);
    assert_upgrade_from_memory(code, &out);
    if !require("gcore") {
        return;
    }
    let dir = scratch("owners", "upgrade-core");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, _) = hangscan(&["core", core.to_str().unwrap()]);
    assert_upgrade_from_memory(code, &out);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report on `c_once_recursion`: the loader waits in the inner `pthread_once`, called from
/// `ensure_config`, and runs the routine in the outer one, also called from `ensure_config`.
fn assert_once_recursion(code: Option<i32>, out: &str, err: &str, loader: &str) {
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.starts_with(&format!("DEADLOCK: once recursion: LWP {loader}")),
        "{out}"
    );
    assert!(out.contains("[1] once-recursion (deadlock"), "{out}");
    let steps: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("1. ") || l.trim_start().starts_with("2. "))
        .collect();
    assert_eq!(steps.len(), 2, "{out}");
    assert!(
        steps[0].contains("waits for one-time initialisation")
            && steps[0].contains("ensure_config ("),
        "{out}"
    );
    assert!(
        steps[1].contains(&format!("held by LWP {loader}"))
            && steps[1].contains("itself")
            && steps[1].contains("ensure_config ("),
        "{out}"
    );
    for other in ["stall", "self-lock", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

#[test]
fn a_once_routine_reaching_its_own_once_is_a_once_recursion_live() {
    let p = HungProcess::start("c_once_recursion");
    let loader = other_threads(p.pid).pop().expect("the loader");
    let (code, out, err) = hangscan(&["attach", &p.pid.to_string()]);
    assert_once_recursion(code, &out, &err, &loader);
}

#[test]
fn a_once_routine_reaching_its_own_once_is_a_once_recursion_in_a_core() {
    if !require("gcore") {
        return;
    }
    let dir = scratch("owners", "once-core");
    let p = HungProcess::start("c_once_recursion");
    let loader = other_threads(p.pid).pop().expect("the loader");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
    assert_once_recursion(code, &out, &err, &loader);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_once_routine_reaching_its_own_once_is_a_once_recursion_in_gdb_bt_full() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("owners", "once-gdb");
    let p = HungProcess::start("c_once_recursion");
    let loader = other_threads(p.pid).pop().expect("the loader");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let (code, out, err) = parse(&dir, &dump);
    assert_once_recursion(code, &out, &err, &loader);
    assert!(
        out.contains("one-time initialisation config_once (0x") && out.contains("[symbolic]"),
        "gdb names the once control in both calls: {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
