//! `parse --binary`: a recorded dump read with the program it came from. Its code says which
//! functions name each static lock, so a thread asleep in code that never names a lock is not
//! its holder, as when attaching. Go's `mutex_abba` SIGQUIT dump, undecidable alone, is the
//! same heuristic cycle as the live attach (its goroutines, kind and grade); `mutex_sleeper`'s
//! dump stays no deadlock, the sleeping holder's code being the one (beside the waiters') that
//! names the mutex; a gdb `bt` of `c_futex_abba` (a position-independent program: its load
//! address inferred from gdb's pcs) leaves the main thread out of the holders. Another
//! program's file is said not to fit, and changes nothing.

mod support;

use hangscan::model::{Evidence, IdKind, Snapshot};
use hangscan::symbolize::program::{self, Program};
use serde_json::Value;
use std::path::Path;
use support::report::json;
use support::runtimes::{build_go, quit_go, with_stderr_to};
use support::{build_fixture, gdb_dump, require, scratch, HungProcess};

/// The report's lock cycle: kind, severity, grade, and its threads as (id kind, id), sorted.
fn cycle(report: &Value) -> (Value, Value, Value, Vec<(String, String)>) {
    let f = (report["findings"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "lock-cycle")
        .unwrap_or_else(|| panic!("no lock cycle: {report:#}"));
    let mut threads: Vec<(String, String)> = (f["thread_indexes"].as_array().unwrap().iter())
        .map(|i| {
            let t = &report["threads"][i.as_u64().unwrap() as usize];
            let id = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (id("debugger_id_kind"), id("debugger_id"))
        })
        .collect();
    threads.sort();
    let at = |k: &str| f[k].clone();
    (at("kind"), at("severity"), at("confidence"), threads)
}

fn kinds(report: &Value) -> Vec<&str> {
    (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .collect()
}

/// The report's notes that say a `--binary` file was not used.
fn refused(report: &Value) -> Vec<&str> {
    (report["diagnostics"].as_array().unwrap().iter())
        .filter_map(|d| d["message"].as_str())
        .filter(|m| m.starts_with("--binary ") && m.contains(" was not used: "))
        .collect()
}

/// The steps of the report's lock cycle that say who holds a lock.
fn held(report: &Value) -> Vec<String> {
    let f = (report["findings"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "lock-cycle")
        .unwrap_or_else(|| panic!("no lock cycle: {report:#}"));
    (f["steps"].as_array().unwrap().iter())
        .filter_map(|s| s["text"].as_str())
        .filter(|s| s.starts_with("held by"))
        .map(str::to_string)
        .collect()
}

/// Go fixture `name` built into `dir`, run until it hangs and made to print its SIGQUIT dump;
/// with `live`, attached first (the JSON report). The program, the dump's file, the report.
fn go_dump(dir: &Path, name: &str, live: bool) -> (std::path::PathBuf, String, Option<Value>) {
    let exe = build_go(dir, name);
    let err = dir.join(format!("{name}.sigquit.txt"));
    let mut hung = HungProcess::spawn(name, with_stderr_to(&err, &[&exe]));
    let attached = live.then(|| {
        let (code, report) = json(&["attach", &hung.pid.to_string()]);
        assert_eq!(code, Some(1), "{report:#}");
        report
    });
    quit_go(&mut hung, &err);
    (exe, err.to_str().unwrap().to_string(), attached)
}

#[test]
fn a_go_mutex_abba_s_sigquit_dump_with_its_binary_is_the_deadlock_attaching_finds() {
    if !require("go") {
        return;
    }
    let dir = scratch("parse_binary", "mutex_abba");
    let (exe, dump, live) = go_dump(&dir, "mutex_abba", true);
    let live = live.unwrap();
    let exe = exe.to_str().unwrap();
    // Alone, the dump cannot decide; with the program, the same cycle as attaching.
    let (code, alone) = json(&["parse", &dump]);
    assert_eq!(code, Some(0), "{alone:#}");
    assert!(kinds(&alone).contains(&"lock-holders-unknown"), "{alone:#}");
    let (code, read) = json(&["parse", "--binary", exe, &dump]);
    assert_eq!(code, Some(1), "{read:#}");
    let found = cycle(&read);
    assert_eq!(found, cycle(&live));
    assert_eq!(found.2, "heuristic");
    assert!(found.3.iter().all(|(kind, _)| kind == "goroutine"));
    let steps = support::report::cycle(&read).1;
    assert!(
        steps.contains("waits for mutex main.ledgerMu")
            && steps.contains("waits for mutex main.accountsMu"),
        "{steps}"
    );
    assert_eq!(refused(&read), Vec::<&str>::new());
    // Another program's file does not fit the dump: said, and not used.
    let other = build_go(&dir, "mutex_sleeper");
    let (code, wrong) = json(&["parse", "--binary", other.to_str().unwrap(), &dump]);
    assert_eq!(code, Some(0), "{wrong:#}");
    assert_eq!(kinds(&wrong), kinds(&alone));
    let said = refused(&wrong);
    assert!(
        said.len() == 1
            && said[0].contains("mutex_sleeper")
            && said[0].contains("no function main."),
        "{said:?}"
    );
    // A file that is no program: trouble, before anything is read.
    let (code, _, err) = support::hangscan(&["parse", "--binary", &dump, &dump]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("not an ELF object") && err.contains("expected the program"),
        "{err}"
    );
}

/// The start of the `data-symbol` object `name` of `snap`.
fn object(snap: &Snapshot, name: &str) -> u64 {
    (snap.evidence.iter())
        .find_map(|e| match e {
            Evidence::DataSymbol {
                address, name: n, ..
            } if n == name => Some(*address),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {name}: {:#?}", snap.evidence))
}

/// Whether a frame of the goroutine running `function` is that function and names `object`
/// in its code (`None`: its code was not checked).
fn names(snap: &Snapshot, function: &str, object: u64) -> Option<bool> {
    let frame = (snap.threads.iter())
        .filter(|t| t.id_kind == IdKind::Goroutine)
        .flat_map(|t| &t.frames)
        .find(|f| f.function.as_deref() == Some(function))
        .unwrap_or_else(|| panic!("no {function}"));
    frame.refs.as_ref().map(|r| r.contains(&object))
}

#[test]
fn a_go_mutex_whose_holder_sleeps_is_no_deadlock_and_only_the_holder_s_code_names_it() {
    if !require("go") {
        return;
    }
    let dir = scratch("parse_binary", "mutex_sleeper");
    let (exe, dump, _) = go_dump(&dir, "mutex_sleeper", false);
    let (code, report) = json(&["parse", "--binary", exe.to_str().unwrap(), &dump]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(
        !kinds(&report).iter().any(|k| k.contains("cycle")),
        "{report:#}"
    );
    // What the report read from the file: the mutex named, and which code names it.
    let text = std::fs::read_to_string(&dump).unwrap();
    let mut snap = hangscan::parse_dump(&text).unwrap();
    let program = Program::open(&exe).unwrap();
    let bias = program.place(&snap.threads).unwrap();
    assert_eq!(bias, 0, "Go links its programs to run where they are");
    let waited: Vec<u64> = (hangscan::analyze(&snap).facts.iter())
        .flat_map(|f| f.waits.iter().filter_map(|w| w.address))
        .collect();
    program::apply(&[(&program, bias)], &mut snap, &waited);
    let mutex = object(&snap, "main.ledgerMu");
    assert_eq!(names(&snap, "main.holdAndSleep", mutex), Some(true));
    assert_eq!(names(&snap, "main.post", mutex), Some(true));
    assert_eq!(names(&snap, "main.main", mutex), Some(false));
    assert!(!hangscan::analyze(&snap).deadlocked());
}

#[test]
fn a_gdb_bt_of_a_futex_lock_abba_with_its_binary_leaves_out_threads_whose_code_names_no_lock() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("parse_binary", "c_futex_abba");
    let exe = build_fixture("c_futex_abba");
    let other = build_fixture("c_abba");
    let p = HungProcess::start("c_futex_abba");
    let dump = dir.join("bt.txt");
    std::fs::write(&dump, gdb_dump(p.pid, false)).unwrap();
    drop(p);
    let dump = dump.to_str().unwrap();
    // Alone: the main thread, in the program's own code, could hold a lock too.
    let (code, alone) = json(&["parse", dump]);
    assert_eq!(code, Some(1), "{alone:#}");
    assert!(
        held(&alone).iter().all(|h| h.contains("; or LWP")),
        "{alone:#}"
    );
    // With the program (position-independent: placed by gdb's pcs), its code decides.
    let (code, read) = json(&["parse", "--binary", exe.to_str().unwrap(), dump]);
    assert_eq!(code, Some(1), "{read:#}");
    assert_eq!(cycle(&read), cycle(&alone));
    let steps = held(&read);
    assert_eq!(steps.len(), 2, "{read:#}");
    assert!(
        (steps.iter()).all(|h| h.contains("with what its code names") && !h.contains("; or LWP")),
        "{steps:#?}"
    );
    assert_eq!(refused(&read), Vec::<&str>::new());
    // Another C program: its functions are elsewhere than gdb's pcs say.
    let (code, wrong) = json(&["parse", "--binary", other.to_str().unwrap(), dump]);
    assert_eq!(code, Some(1), "{wrong:#}");
    assert_eq!(held(&wrong), held(&alone));
    let said = refused(&wrong);
    assert!(
        said.len() == 1 && said[0].contains("other functions of it than the dump names"),
        "{said:?}"
    );
}
