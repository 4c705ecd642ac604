//! Debug information that must prove it belongs to the code the process runs, on real programs
//! built here: a `.gnu_debuglink` file from another build is refused (its CRC, or its
//! build-id, says so, naming both files) and the right one is used; a shared library
//! overwritten in place after the process started has its frames marked untrusted, in the
//! saved snapshot, the JSON report and the text; a chrooted process's debug file is looked up
//! inside its root, never as a host file of the same name; a split-DWARF build's variables are
//! read from its `.dwo` files, or from its DWARF package (`.dwp`).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{scratch, Started};

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .current_dir(support::programs_dir())
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(status.success(), "{program} {args:?}");
}

/// Compiles `fixtures/programs/SRC` with `flags` into `out`.
fn gcc(src: &str, flags: &[&str], out: &Path) {
    let mut args = vec!["-g", "-O0"];
    args.extend(flags);
    args.extend(["-o", out.to_str().unwrap(), src]);
    run("gcc", &args);
}

/// Moves `exe`'s DWARF and symbols to `debug`, strips it and links it to `debug` by
/// `.gnu_debuglink` (with `debug`'s CRC).
fn split(exe: &Path, debug: &Path) {
    std::fs::create_dir_all(debug.parent().unwrap()).unwrap();
    let (exe, debug) = (exe.to_str().unwrap(), debug.to_str().unwrap());
    run("objcopy", &["--only-keep-debug", exe, debug]);
    run("objcopy", &["--strip-all", exe]);
    run("objcopy", &[&format!("--add-gnu-debuglink={debug}"), exe]);
}

/// Only `exe`'s DWARF and symbols, in `debug` (another build's debug file).
fn only_debug(exe: &Path, debug: &Path) {
    run(
        "objcopy",
        &[
            "--only-keep-debug",
            exe.to_str().unwrap(),
            debug.to_str().unwrap(),
        ],
    );
}

/// One attach: the text report, and the saved snapshot.
struct Attached {
    text: String,
    snapshot: Value,
    saved: PathBuf,
}

impl Attached {
    fn new(pid: u32, dir: &Path) -> Attached {
        let saved = dir.join(format!("snapshot-{}.json", unique()));
        let (code, text, err) = support::hangscan(&[
            "attach",
            "--samples",
            "1",
            "--color",
            "never",
            "--save",
            saved.to_str().unwrap(),
            &pid.to_string(),
        ]);
        assert!(matches!(code, Some(0 | 1)), "exit {code:?}: {err}\n{text}");
        let file: Value = serde_json::from_slice(&std::fs::read(&saved).expect("saved snapshot"))
            .expect("the snapshot is JSON");
        let snapshot = file["snapshot"].clone();
        Attached {
            text,
            snapshot,
            saved,
        }
    }

    /// Every frame of every thread.
    fn frames(&self) -> Vec<&Value> {
        self.snapshot["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .flat_map(|t| t["frames"].as_array().expect("frames"))
            .collect()
    }

    /// The frames whose object is named `module` (the path inside the target).
    fn frames_in(&self, module: &str) -> Vec<&Value> {
        self.frames()
            .into_iter()
            .filter(|f| f["module"].as_str() == Some(module))
            .collect()
    }

    fn names_in(&self, module: &str) -> Vec<String> {
        self.frames_in(module)
            .iter()
            .filter_map(|f| f["function"].as_str().map(str::to_string))
            .collect()
    }

    fn diagnostics(&self) -> Vec<String> {
        self.snapshot["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .filter_map(|d| d["message"].as_str().map(str::to_string))
            .collect()
    }
}

fn unique() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The stripped program, a right debug file, then another build's: with no build-ids, the CRC
/// tells them apart; with build-ids, the build-id does. A refused file is said, naming both
/// files, and none of its names are used.
#[test]
fn a_debuglink_file_from_another_build_is_refused_and_the_right_one_used() {
    let dir = scratch("debug-files", "debuglink");
    for (tag, ids, why) in [
        ("no-build-id", "-Wl,--build-id=none", "CRC mismatch"),
        ("build-id", "-Wl,--build-id", "build-id"),
    ] {
        let exe = dir.join(tag).join("c_plugin");
        let debug = dir.join(tag).join(".debug").join("c_plugin.debug");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        gcc("c_plugin.c", &[ids], &exe);
        split(&exe, &debug);
        let other = dir.join(tag).join("other");
        gcc("c_plugin.c", &[ids, "-DOTHER_BUILD"], &other);
        only_debug(&other, &dir.join(tag).join("other.debug"));

        let process = Started::start(&exe, &[]);
        let module = exe.to_str().unwrap();
        let right = Attached::new(process.pid(), &dir);
        assert!(
            right
                .names_in(module)
                .iter()
                .any(|n| n == "waits_in_the_program"),
            "{tag}: the right debug file names the program's frames: {:?}\n{}",
            right.names_in(module),
            right.text
        );
        assert!(
            !right.text.contains("does not match"),
            "{tag}: {}",
            right.text
        );

        std::fs::copy(dir.join(tag).join("other.debug"), &debug).unwrap();
        let wrong = Attached::new(process.pid(), &dir);
        assert!(!wrong.frames_in(module).is_empty(), "{tag}: {}", wrong.text);
        assert!(
            wrong.names_in(module).is_empty(),
            "{tag}: another build's names were used: {:?}",
            wrong.names_in(module)
        );
        let said: Vec<String> = wrong
            .diagnostics()
            .into_iter()
            .filter(|d| d.contains("does not match"))
            .collect();
        assert!(
            said.iter().any(|d| d.contains(why)
                && d.contains(module)
                && d.contains(debug.to_str().unwrap())),
            "{tag}: {said:?}"
        );
        assert!(
            wrong.text.contains(why) && wrong.text.contains("c_plugin.debug"),
            "{tag}: the text says it too:\n{}",
            wrong.text
        );
        gdb_refuses_it_too(&exe);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// gdb, given the same stripped program and debug file, refuses the file as well.
fn gdb_refuses_it_too(exe: &Path) {
    if !support::require("gdb") {
        return;
    }
    let out = Command::new("gdb")
        .args([
            "-nx",
            "-batch",
            "-ex",
            "info functions waits_in_the_program",
        ])
        .arg(exe)
        .output()
        .expect("run gdb");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("does not match"), "gdb: {said}");
}

/// A shared library the process loaded, overwritten in place (same inode) with another build:
/// its frames are marked untrusted in the snapshot and the JSON report, the text says so on
/// the thread and names the file in a note. Before the change, nothing is said (a library
/// built just before the process started is not suspect), nor for a library the program
/// wrote itself once started and then loaded.
#[test]
fn a_library_overwritten_in_place_after_the_start_is_untrusted() {
    let dir = scratch("debug-files", "overwritten");
    let (exe, lib, other) = (
        dir.join("c_plugin"),
        dir.join("libplugin.so"),
        dir.join("other.so"),
    );
    gcc("c_plugin.c", &[], &exe);
    gcc("lib/c_plugin_lib.c", &["-shared", "-fPIC"], &lib);
    gcc(
        "lib/c_plugin_lib.c",
        &["-shared", "-fPIC", "-DOTHER_BUILD"],
        &other,
    );
    let process = Started::start(&exe, &[lib.to_str().unwrap()]);
    let module = lib.to_str().unwrap();

    let before = Attached::new(process.pid(), &dir);
    assert_eq!(before.names_in(module), ["plugin_wait"], "{}", before.text);
    assert!(
        before.frames().iter().all(|f| f.get("untrusted").is_none()),
        "{}",
        before.text
    );
    assert!(!before.text.contains("untrusted"), "{}", before.text);

    // The start is known to a clock tick (10 ms): change the file clearly after it.
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::write(&lib, std::fs::read(&other).unwrap()).expect("overwrite in place");

    let after = Attached::new(process.pid(), &dir);
    let frames = after.frames_in(module);
    assert!(!frames.is_empty(), "{}", after.text);
    for f in &frames {
        let why = f["untrusted"].as_str().unwrap_or_else(|| panic!("{f}"));
        assert!(why.contains(module) && why.contains("changed"), "{why}");
    }
    assert!(
        after
            .frames()
            .iter()
            .filter(|f| f.get("untrusted").is_some())
            .all(|f| f["module"].as_str() == Some(module)),
        "only the library's frames are untrusted"
    );
    assert!(
        after
            .diagnostics()
            .iter()
            .any(|d| d.contains(module) && d.contains("after the process started")),
        "{:?}",
        after.diagnostics()
    );
    assert!(
        after.text.contains("symbols untrusted") && after.text.contains(module),
        "{}",
        after.text
    );
    // The JSON report of the saved snapshot carries the flag too.
    let (_, json, err) =
        support::hangscan(&["parse", "--format", "json", after.saved.to_str().unwrap()]);
    let report: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {err}"));
    let flagged = report.to_string().matches("\"untrusted\"").count();
    assert_eq!(flagged, frames.len(), "{json}");
    drop(process);

    // A library the program writes itself after it started, then loads (as JNI libraries are
    // extracted): made after the start, not changed since, so not suspect.
    let extracted = dir.join("extracted.so");
    let process = Started::start(
        &exe,
        &[
            "--extract",
            other.to_str().unwrap(),
            extracted.to_str().unwrap(),
        ],
    );
    let fresh = Attached::new(process.pid(), &dir);
    assert_eq!(
        fresh.names_in(extracted.to_str().unwrap()),
        ["plugin_wait"],
        "{}",
        fresh.text
    );
    assert!(!fresh.text.contains("untrusted"), "{}", fresh.text);
    drop(process);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A static program chrooted into a directory, its debug file named by `.gnu_debuglink`. A
/// right debug file at the same path on the host is not used (it is another system's file);
/// the same file inside the root is. A program that changes its root once loaded is a host
/// file: its debug file is the host's.
#[test]
fn a_chrooted_process_has_its_debug_file_looked_up_inside_its_root() {
    if !support::require("root") {
        return;
    }
    let dir = scratch("debug-files", "chroot");
    let root = dir.join("root");
    // The program's path inside the root is also a path on the host: `<dir>/app/c_plugin`.
    let inside = dir.join("app").join("c_plugin");
    let in_root = |p: &Path| root.join(p.strip_prefix("/").unwrap());
    let exe = in_root(&inside);
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    gcc("c_plugin.c", &["-static", "-DNO_PLUGIN"], &exe);
    let host_debug = dir.join("app").join(".debug").join("c_plugin.debug");
    split(&exe, &host_debug);

    let mut command = Command::new(&inside);
    let root_c = std::ffi::CString::new(root.to_str().unwrap()).unwrap();
    // SAFETY: between fork and exec the child only makes system calls.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::chroot(root_c.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let process = Started::start_command(command);
    let module = inside.to_str().unwrap();

    let host_only = Attached::new(process.pid(), &dir);
    assert!(
        !host_only.frames_in(module).is_empty(),
        "the module is named by its path inside the root: {}",
        host_only.text
    );
    assert!(
        host_only.names_in(module).is_empty(),
        "a host file was used: {:?}",
        host_only.names_in(module)
    );

    let debug_in_root = in_root(&host_debug);
    std::fs::create_dir_all(debug_in_root.parent().unwrap()).unwrap();
    std::fs::rename(&host_debug, &debug_in_root).unwrap();
    let inside_root = Attached::new(process.pid(), &dir);
    assert!(
        inside_root
            .names_in(module)
            .iter()
            .any(|n| n == "waits_in_the_program"),
        "{:?}\n{}",
        inside_root.names_in(module),
        inside_root.text
    );
    drop(process);

    // A process that changed its root once loaded: its program is a host file, whose debug
    // file is the host's.
    let host_exe = dir.join("host").join("c_plugin");
    std::fs::create_dir_all(host_exe.parent().unwrap()).unwrap();
    gcc("c_plugin.c", &[], &host_exe);
    split(
        &host_exe,
        &dir.join("host").join(".debug").join("c_plugin.debug"),
    );
    let process = Started::start(&host_exe, &["--chroot", root.to_str().unwrap()]);
    let chrooted_later = Attached::new(process.pid(), &dir);
    assert!(
        chrooted_later
            .names_in(host_exe.to_str().unwrap())
            .iter()
            .any(|n| n == "waits_in_the_program"),
        "{}",
        chrooted_later.text
    );
    drop(process);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A lock cycle proven from memory (gdb's `p *mutex` owners) rests on the frames that show the
/// waits: when those frames' symbols are untrusted, the cycle is no longer proven.
#[test]
fn grades_that_rest_on_untrusted_symbols_are_not_proven() {
    use hangscan::analyze::{analyze, Grade, Severity};
    use hangscan::knowledge::KnowledgeBase;
    let path = support::programs_dir().join("../dumps/gdb/c_abba.owners.txt");
    let raw = std::fs::read(path).unwrap();
    let mut snapshot = hangscan::dump::parse_dump(&raw, "c_abba.owners.txt", None).unwrap();
    let kb = KnowledgeBase::builtin();
    let cycle = |s: &hangscan::model::Snapshot| {
        analyze(s, &kb)
            .findings
            .into_iter()
            .find(|f| f.severity == Severity::Deadlock)
            .expect("the lock cycle")
            .confidence
    };
    assert_eq!(cycle(&snapshot), Grade::Proven);
    for f in snapshot.threads.iter_mut().flat_map(|t| &mut t.frames) {
        f.untrusted = Some("libc.so.6 changed after the process started".into());
    }
    assert_eq!(cycle(&snapshot), Grade::Heuristic);
}

#[test]
fn a_split_dwarf_build_has_its_variables_read_from_its_dwo_files_or_its_package() {
    // `-gsplit-dwarf`: the executable keeps a skeleton unit and its line table; the functions,
    // their parameters and types are in the `.dwo` file the compiler wrote where the skeleton
    // says. `main`'s `argc` can only be named from it.
    let dir = scratch("debug-files", "split-dwarf");
    let exe = dir.join("c_plugin");
    gcc("c_plugin.c", &["-gsplit-dwarf"], &exe);
    let process = Started::start(&exe, &[]);
    let report = |what: &str| {
        let (code, out, err) = support::hangscan(&[
            "attach",
            "--samples",
            "1",
            "--locals",
            "--format",
            "json",
            &process.pid().to_string(),
        ]);
        assert!(matches!(code, Some(0 | 1)), "{what}: exit {code:?}: {err}");
        let v: Value = serde_json::from_str(&out).expect("JSON");
        let main = v["reports"][0]["threads"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["frames"].as_array().unwrap())
            .find(|f| f["function"] == "main")
            .cloned()
            .unwrap_or_else(|| panic!("{what}: no main frame: {out}"));
        let names: Vec<String> = main["vars"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| v["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names
    };
    let names = report("with its .dwo");
    assert!(names.iter().any(|n| n == "argc"), "{names:?}");
    // Without the .dwo file, the skeleton alone: no variables, and no failure.
    // gcc writes it beside the executable (`c_plugin-c_plugin.dwo`).
    let dwo: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dwo"))
        .collect();
    assert!(!dwo.is_empty(), "gcc wrote no .dwo file");
    // Packed into a DWARF package beside the executable, the `.dwo` files gone: read from the
    // package (LLVM's `llvm-dwp`; binutils' `dwp` crashes on gcc 12's DWARF 5).
    let packed = support::require("llvm-dwp");
    let package = dir.join("c_plugin.dwp");
    if packed {
        run(
            "llvm-dwp",
            &["-e", exe.to_str().unwrap(), "-o", package.to_str().unwrap()],
        );
    }
    for f in &dwo {
        std::fs::remove_file(f).unwrap();
    }
    if packed {
        let names = report("from its .dwp");
        assert!(names.iter().any(|n| n == "argc"), "{names:?}");
        std::fs::remove_file(&package).unwrap();
    }
    assert!(report("without either").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The build-id of the ELF file at `path`, in hex.
fn build_id(path: &Path) -> String {
    use object::Object;
    let bytes = std::fs::read(path).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let id = file
        .build_id()
        .unwrap()
        .expect("gcc gives programs a build-id");
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The findings' kinds and the notes of a JSON report.
fn kinds_and_notes(out: &str, err: &str) -> (Vec<String>, String) {
    let doc: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let r = &doc["reports"][0];
    let kinds = (r["findings"].as_array().unwrap().iter())
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect();
    (kinds, r["diagnostics"].to_string())
}

#[test]
fn a_stripped_program_names_its_missing_debug_file_and_its_signal_handler_still_gets_a_finding() {
    if !support::require("gcore") {
        return support::skip("gcore");
    }
    let exe = support::build_fixture_as("cpp_signal_self_join", support::Build::Stripped);
    let id = build_id(&exe);
    let p = support::HungProcess::start_as("cpp_signal_self_join", support::Build::Stripped);
    let dir = scratch("debug-files", "stripped");
    let core = support::gcore(p.pid, &dir);
    let live = support::hangscan(&["attach", "--format", "json", &p.pid.to_string()]);
    let cored = support::hangscan(&[
        "core",
        "--format",
        "json",
        core.to_str().unwrap(),
        "--exe",
        exe.to_str().unwrap(),
    ]);
    for (view, (code, out, err)) in [("attach", live), ("core", cored)] {
        let (kinds, notes) = kinds_and_notes(&out, &err);
        // The handler's wait on the pool's condition variable is still seen through libc.
        assert_eq!(code, Some(1), "{view}: {kinds:?}\n{err}");
        assert!(
            kinds.iter().any(|k| k == "signal-unsafe-wait"),
            "{view}: {kinds:?}"
        );
        assert!(
            notes.contains(&format!("build-id {id}"))
                && notes.contains(".build-id/")
                && notes.contains("would add its function names, file:line"),
            "{view}: {notes}"
        );
    }
    // A program with its DWARF says nothing of the kind.
    let q = support::HungProcess::start("cpp_signal_self_join");
    let (_, out, err) = support::hangscan(&["attach", "--format", "json", &q.pid.to_string()]);
    let (_, notes) = kinds_and_notes(&out, &err);
    assert!(!notes.contains("has no debug information"), "{notes}");
}
