//! Processes in their own PID namespace (as in a container), seen from the host: the ids their
//! memory holds (mutex owners, joined threads) are the namespace's, and are mapped to host
//! tids through each thread's `NSpid`, live, chrooted, in a saved snapshot and in a `gcore`
//! core (through glibc's thread descriptors). When they cannot be mapped, nothing is proven
//! on them and no thread is said to be missing.

mod support;

use serde_json::Value;
use support::namespace::{Namespaced, Root};
use support::{build_fixture, hangscan};

fn report(args: &[&str]) -> (Option<i32>, Value, String) {
    let (code, out, err) = hangscan(args);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, doc["reports"][0].clone(), err)
}

fn attach(pid: u32, extra: &[&str]) -> (Option<i32>, Value) {
    let pid = pid.to_string();
    let mut args = vec!["attach", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(&pid);
    let (code, r, _) = report(&args);
    (code, r)
}

/// c_abba's lock cycle, proven, its threads known by their namespace ids (1, 2, 3), main's
/// join target found.
fn assert_proven_like_outside(code: Option<i32>, r: &Value) {
    assert_eq!(code, Some(1), "{r}");
    let f = &r["findings"][0];
    assert_eq!(
        (&f["kind"], &f["confidence"]),
        (&Value::from("lock-cycle"), &Value::from("proven")),
        "{r}"
    );
    let mut ns: Vec<u64> = r["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["ns_tid"].as_u64())
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, [1, 2, 3], "{r}");
    assert!(!r.to_string().contains("not in the dump"), "{r}");
    let frames = r["threads"].to_string();
    for function in ["pthread_mutex_lock", "place_order", "restock_item"] {
        assert!(frames.contains(function), "{function}: {frames}");
    }
}

#[test]
fn a_deadlock_in_a_pid_namespace_is_proven_as_outside() {
    if !support::require("unshare") {
        return;
    }
    let p = Namespaced::start(&build_fixture("c_abba"), None);
    let (code, r) = attach(p.pid, &[]);
    assert_proven_like_outside(code, &r);
    assert!(support::stopped_threads(p.pid).is_empty());
}

#[test]
fn a_deadlock_chrooted_in_a_pid_namespace_is_proven_as_outside() {
    if !support::require("unshare") {
        return;
    }
    let root = Root::with(&build_fixture("c_abba"));
    let p = Namespaced::start(&build_fixture("c_abba"), Some(&root));
    let (code, r) = attach(p.pid, &[]);
    assert_proven_like_outside(code, &r);
}

#[test]
fn a_saved_snapshot_of_a_namespaced_process_parses_as_attach_saw_it() {
    if !support::require("unshare") {
        return;
    }
    let p = Namespaced::start(&build_fixture("c_abba"), None);
    let dir = std::env::temp_dir().join(format!("hangscan-ns-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("snap.json");
    let (code, live) = attach(p.pid, &["--save", saved.to_str().unwrap()]);
    assert_proven_like_outside(code, &live);
    let (code2, parsed, _) = report(&["parse", "--format", "json", saved.to_str().unwrap()]);
    assert_eq!(code, code2);
    assert_eq!(live["findings"], parsed["findings"]);
    assert_eq!(live["edges"], parsed["edges"]);

    // The same snapshot whose namespace ids are not known (as from a gcore on the host
    // without glibc's descriptors): nothing rests on an id read from memory, and no thread is
    // said to be missing from the dump.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    for t in doc["snapshot"]["threads"].as_array_mut().unwrap() {
        let t = t.as_object_mut().unwrap();
        t.remove("ns_tid");
        t.insert("ns_tid_unknown".into(), Value::Bool(true));
    }
    std::fs::write(&saved, doc.to_string()).unwrap();
    let (_, unknown, _) = report(&["parse", "--format", "json", saved.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let text = unknown.to_string();
    assert!(!text.contains("not in the dump"), "{text}");
    assert!(text.contains("cannot be told"), "{text}");
    for f in unknown["findings"].as_array().unwrap() {
        assert_ne!(f["confidence"], "proven", "{f}");
    }
    for e in unknown["edges"].as_array().unwrap() {
        assert_ne!(e["grade"], "proven", "{e}");
    }
}

#[test]
fn a_gcore_of_a_namespaced_process_maps_its_ids_through_glibc() {
    if !support::require("unshare") {
        return;
    }
    if !support::require("gcore") {
        return;
    }
    let exe = build_fixture("c_abba");
    let p = Namespaced::start(&exe, None);
    let dir = std::env::temp_dir().join(format!("hangscan-ns-gcore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let core = support::gcore(p.pid, &dir);
    let (code, r, err) = report(&[
        "core",
        "--format",
        "json",
        "--exe",
        exe.to_str().unwrap(),
        core.to_str().unwrap(),
    ]);
    assert_proven_like_outside(code, &r);
    assert!(
        r["diagnostics"].to_string().contains("PID namespace"),
        "{err}"
    );
}
