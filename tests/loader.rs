//! A deadlock through the dynamic loader's lock (`c_loader_lock`, with the plugin
//! `lib/c_loader_lock_lib.c` both built here): the loader thread is inside `dlopen`, running the
//! plugin's constructor, which waits for the program's `registry_lock`; the scanner holds that
//! lock and waits in `dlsym` for the loader's lock. It is a loader-lock finding, naming both
//! threads, live (proven: both owner fields read from memory), from a gcore core (proven) and
//! from a gdb `bt full` (the frames alone: the loader is blocked inside the constructor) and
//! from a gdb dump with the owners printed (`fixtures/gdb/owners.gdb`: the proven cycle), never
//! a lock cycle, a stall or anything else.

mod support;

use std::path::Path;
use std::process::Command;
use support::{gcore, gdb_dump, gdb_owners_dump, hangscan, require, scratch, HungProcess};

fn gcc(args: &[&str]) {
    let status = Command::new("gcc")
        .current_dir(support::programs_dir())
        .args(["-g", "-O0", "-pthread"])
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run gcc: {e}"));
    assert!(status.success(), "gcc {args:?}");
}

/// The hung program, built in `dir` with its plugin, and the tids of its loader thread (the
/// first started) and its scanner.
fn start(dir: &Path) -> (HungProcess, String, String) {
    let (exe, lib) = (
        dir.join("c_loader_lock"),
        dir.join("libc_loader_lock_lib.so"),
    );
    let (exe, lib) = (exe.to_str().unwrap(), lib.to_str().unwrap());
    gcc(&["-shared", "-fPIC", "-o", lib, "lib/c_loader_lock_lib.c"]);
    // -rdynamic: the plugin takes the program's registry_lock by name.
    gcc(&["-rdynamic", "-o", exe, "c_loader_lock.c", "-ldl"]);
    let mut command = Command::new(exe);
    command.arg(lib);
    let p = HungProcess::spawn("c_loader_lock", command);
    let mut tids: Vec<u32> = std::fs::read_dir(format!("/proc/{}/task", p.pid))
        .unwrap()
        .map(|t| t.unwrap().file_name().to_string_lossy().parse().unwrap())
        .filter(|&t| t != p.pid)
        .collect();
    tids.sort_unstable();
    assert_eq!(tids.len(), 2, "the loader and the scanner");
    (p, tids[0].to_string(), tids[1].to_string())
}

/// `hangscan parse` of `text`, written to a file in `dir`.
fn parse(dir: &Path, text: &str) -> (Option<i32>, String, String) {
    let file = dir.join("dump.txt");
    std::fs::write(&file, text).unwrap();
    let (code, mut out, err) = hangscan(&["parse", file.to_str().unwrap()]);
    out.push_str(&format!("\n--- the dump:\n{text}"));
    (code, out, err)
}

/// The report: one loader-lock finding, the scanner waiting for the loader's lock in
/// `lookup_hook`, held by the loader, which waits in the plugin's constructor for
/// `registry_lock` (each lock named by its symbol, as gdb names them): held by the scanner when its owner is read (`cycle`), else only blocked;
/// nothing else in its place.
fn assert_loader_lock(out: &str, loader: &str, scanner: &str, cycle: bool) {
    let title = out.lines().next().unwrap_or_default();
    assert!(
        title.starts_with(&format!("DEADLOCK: loader lock: LWP {scanner}"))
            && title.contains("waits for the dynamic loader's lock")
            && title.contains(&format!("held by LWP {loader}")),
        "{out}"
    );
    assert!(out.contains("[1] loader-lock (deadlock"), "{out}");
    let step = |n: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(n))
            .unwrap_or_else(|| panic!("no step {n}: {out}"))
    };
    let (s1, s2, s3) = (step("1. "), step("2. "), step("3. "));
    assert!(
        s1.contains(&format!("LWP {scanner}"))
            && s1.contains("waits for dynamic loader's lock _rtld_global+")
            && s1.contains("lookup_hook (")
            && s1.contains("dlsym"),
        "{out}"
    );
    assert!(
        s2.contains(&format!("held by LWP {loader}")) && s2.contains("load_plugin ("),
        "the loader's lock is taken where the program called dlopen: {out}"
    );
    assert!(
        s3.contains(&format!("LWP {loader}"))
            && s3.contains("waits for mutex registry_lock (0x")
            && s3.contains("plugin_register ("),
        "{out}"
    );
    if cycle {
        assert!(title.ends_with("for a lock it holds"), "{out}");
        assert!(
            step("4. ").contains(&format!("held by LWP {scanner}")),
            "{out}"
        );
    } else {
        assert!(
            title.ends_with("which is blocked inside a library's constructor or destructor"),
            "{out}"
        );
    }
    for other in ["lock-cycle", "stall", "root-blocker", "self-lock", "[2]"] {
        assert!(!out.contains(other), "{other} reported: {out}");
    }
}

#[test]
fn a_constructor_waiting_for_a_dlsym_caller_is_a_loader_lock_live() {
    let dir = scratch("loader", "live");
    let (p, loader, scanner) = start(&dir);
    let (code, out, err) = hangscan(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert_loader_lock(&out, &loader, &scanner, true);
    assert!(
        out.contains("loader-lock (deadlock, evidence: proven)"),
        "{out}"
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_constructor_waiting_for_a_dlsym_caller_is_a_loader_lock_in_a_core() {
    if !require("gcore") {
        return;
    }
    let dir = scratch("loader", "core");
    let (p, loader, scanner) = start(&dir);
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, out, err) = hangscan(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert_loader_lock(&out, &loader, &scanner, true);
    assert!(
        out.contains("loader-lock (deadlock, evidence: proven)"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_constructor_waiting_for_a_dlsym_caller_is_a_loader_lock_in_gdb_bt_full() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("loader", "gdb");
    let (p, loader, scanner) = start(&dir);
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let (code, out, err) = parse(&dir, &dump);
    assert_eq!(code, Some(1), "{out}\n{err}");
    // Without owners, the frames show the loader inside dlopen, not who holds registry_lock.
    assert_loader_lock(&out, &loader, &scanner, false);
    assert!(
        out.contains("loader-lock (deadlock, evidence: heuristic)")
            && out.contains("dynamic loader's lock _rtld_global+"),
        "gdb names the loader's lock: {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_constructor_waiting_for_a_dlsym_caller_is_a_loader_lock_in_gdb_owners() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("loader", "gdb-owners");
    let (p, loader, scanner) = start(&dir);
    let dump = gdb_owners_dump(p.pid);
    drop(p);
    let (code, out, err) = parse(&dir, &dump);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert_loader_lock(&out, &loader, &scanner, true);
    assert!(
        out.contains("loader-lock (deadlock, evidence: proven)")
            && out.contains("`__owner` printed"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
