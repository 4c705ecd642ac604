//! The second look: `hangscan attach` with its default flags samples `/proc` again while it
//! unwinds, and tells apart what the stacks alone cannot: a thread spinning on a spinlock whose
//! holder is blocked, two threads in a trylock-and-back-off livelock, and work that advances
//! slowly although every stack waits (slow progress, not a stall), from a true stall. With
//! `--samples 1`, and from a core, there is no second look, and the report says so.

mod support;

use serde_json::Value;
use support::{gcore, hangscan, HungProcess};

fn attach(args: &[&str], pid: u32) -> Value {
    let pid = pid.to_string();
    let mut all = vec!["attach", "--format", "json"];
    all.extend(args);
    all.push(&pid);
    let (code, out, err) = hangscan(&all);
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}: {err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    doc["reports"][0].clone()
}

/// Each finding's kind, with its `busy` kind (`busy/spinning`).
fn kinds(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| match f["detail"]["how"].as_str() {
            Some(how) => format!("{}/{how}", f["kind"].as_str().unwrap()),
            None => f["kind"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The second look's motion of the thread named `name`.
fn motion<'a>(report: &'a Value, name: &str) -> &'a Value {
    let thread = report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no thread {name}: {report}"));
    &thread["second_look"]["motion"]
}

fn notes(report: &Value) -> String {
    report["diagnostics"].to_string()
}

#[test]
fn a_thread_spinning_on_a_spinlock_held_by_a_blocked_thread_is_spinning_not_a_stall() {
    let p = HungProcess::start("c_spin_blocked_holder");
    let r = attach(&[], p.pid);
    let kinds = kinds(&r);
    assert!(kinds.contains(&"busy/spinning".to_string()), "{kinds:?}");
    assert!(!kinds.contains(&"stall".to_string()), "{kinds:?}");
    assert_eq!(motion(&r, "reader"), "spinning", "{r}");
    assert_eq!(motion(&r, "flusher"), "still", "{r}");
    let reader = r["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "reader")
        .unwrap();
    assert!(reader["second_look"]["cpu_us"].as_u64().unwrap() > 0);
    assert!(reader["second_look"]["interval_ms"].as_u64().unwrap() >= 50);
    // Without the second look, the stacks alone: every thread waits.
    let one = attach(&["--samples", "1"], p.pid);
    assert!(self::kinds(&one).contains(&"stall".to_string()), "{one}");
}

#[test]
fn threads_retrying_a_trylock_with_a_back_off_forever_are_a_livelock() {
    let p = HungProcess::start("c_trylock_livelock");
    let r = attach(&[], p.pid);
    let kinds = kinds(&r);
    assert!(
        kinds.contains(&"busy/livelock".to_string()),
        "{kinds:?}: {}",
        r["threads"]
    );
    assert_eq!(r["verdict"], "no-deadlock");
    for name in ["transfer", "audit"] {
        assert_eq!(motion(&r, name), "cycling", "{name}: {r}");
    }
    let (_, text, _) = hangscan(&["attach", &p.pid.to_string()]);
    assert!(
        text.starts_with("no deadlock proven, but: possible livelock"),
        "{text}"
    );
}

#[test]
fn work_that_advances_slowly_where_every_stack_waits_is_slow_progress_not_a_stall() {
    let p = HungProcess::start("c_slow_progress");
    let r = attach(&[], p.pid);
    let kinds = kinds(&r);
    assert!(
        kinds.contains(&"busy/slow-progress".to_string()),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"stall".to_string()), "{kinds:?}");
    assert!(!kinds.contains(&"busy/livelock".to_string()), "{kinds:?}");
    assert_eq!(r["verdict"], "no-deadlock");
    for name in ["copier-1", "copier-2"] {
        assert!(
            ["cycling", "stirred", "ran"].contains(&motion(&r, name).as_str().unwrap()),
            "{name}: {r}"
        );
    }
}

#[test]
fn a_true_stall_stays_a_stall_its_threads_still() {
    let p = HungProcess::start("c_condvar_stall");
    let r = attach(&[], p.pid);
    assert_eq!(kinds(&r), ["stall"], "{r}");
    for name in ["worker-1", "worker-2"] {
        assert_eq!(motion(&r, name), "still", "{name}: {r}");
    }
}

#[test]
fn one_sample_takes_no_second_look_and_says_so() {
    let p = HungProcess::start("c_slow_progress");
    let r = attach(&["--samples", "1"], p.pid);
    assert!(notes(&r).contains("no second look was taken"), "{r}");
    assert!(notes(&r).contains("--samples 1"), "{r}");
    assert!(r["threads"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["second_look"].is_null()));
    // The stacks alone make it a stall.
    assert!(kinds(&r).contains(&"stall".to_string()), "{r}");
    // The default takes one and says nothing of a missing one.
    assert!(!notes(&attach(&[], p.pid)).contains("no second look"));
}

#[test]
fn a_core_has_no_second_look_and_says_so() {
    if !support::require("gcore") {
        return;
    }
    let p = HungProcess::start("c_spin_blocked_holder");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("second-look-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let core = gcore(p.pid, &dir);
    let (_, out, err) = hangscan(&["core", core.to_str().unwrap(), "--format", "json"]);
    let _ = std::fs::remove_dir_all(&dir);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let r = &doc["reports"][0];
    assert!(
        notes(r).contains("no second look was taken: a core file is one instant"),
        "{r}"
    );
    assert!(!kinds(r).iter().any(|k| k.starts_with("busy")), "{r}");
}
