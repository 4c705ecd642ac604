//! Pools found from structure, not names: `cpp_crew_self_join`'s `Crew` hands jobs to its
//! threads in `Crew::shift()`, and nothing in it says "pool", "worker" or "executor". A job
//! calls `Crew::disband()`, which joins a hand idle in `shift()`: that hand leaves only when
//! the crew's work runs out, and the joining job is part of it. Found as a self-join on the
//! pool `Crew::shift` attached (heuristic: nothing read names the instance; `proven` with
//! `--locals`, whose `this` is read from memory), from a gcore core, and from gdb's `bt` and
//! `bt full` (`symbolic`: the hands' `this=` are equal). The healthy twin, `cpp_crew_idle`
//! (hands idle, main asleep), gets exit 0 and no finding, attached and from gdb.
//! `cpp_crew_starvation`'s two hands each wait for a sub-job queued behind them on the same
//! crew: pool starvation, found attached (the pool named by the loop once `--locals` reads
//! `this`) and from gdb's `bt`.

mod support;

use serde_json::Value;
use support::report::json;
use support::{gcore, gdb_dump, require, scratch, HungProcess};

/// The self-join on the crew: its grade, the joiner's and the idle member's step grades, and
/// the text: the joiner waits in `Crew::disband` for a hand idle in `Crew::shift`.
fn assert_crew_self_join(report: &Value) -> (String, String) {
    let f = (report["findings"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "self-join")
        .unwrap_or_else(|| panic!("no self-join: {report}"));
    assert_eq!(f["detail"]["is"], "pool-self-join", "{f}");
    assert_eq!(f["detail"]["pool"], "Crew::shift", "{f}");
    assert_eq!(f["detail"]["through_signal"], false, "{f}");
    let threads = &report["threads"];
    let thread = |i: &Value| &threads[i.as_u64().unwrap() as usize];
    let who: Vec<&Value> = (f["thread_indexes"].as_array().unwrap().iter())
        .map(thread)
        .collect();
    // Whichever hand took the job joins another hand, idle (a core names no threads).
    let hand = |t: &Value| t["name"].as_str().is_none_or(|n| n.starts_with("hand-"));
    assert!(
        who.len() == 2 && who[0]["index"] != who[1]["index"] && who.iter().all(|t| hand(t)),
        "a hand joins another hand: {f}"
    );
    let steps: Vec<&str> = (f["steps"].as_array().unwrap().iter())
        .filter_map(|s| s["text"].as_str())
        .collect();
    let text = steps.join("\n");
    assert!(
        text.contains("waits for thread") && text.contains("Crew::disband"),
        "{text}"
    );
    assert!(
        text.contains("is idle in `Crew::shift`") && text.contains("it waits for work"),
        "{text}"
    );
    // Each hand's JSON says it is a member of the pool: the joiner busy, the joined idle.
    let member = |t: &Value| (t["pool"]["name"].clone(), t["pool"]["member"].clone());
    assert_eq!(
        member(who[0]),
        ("Crew::shift".into(), "busy".into()),
        "{report}"
    );
    assert_eq!(
        member(who[1]),
        ("Crew::shift".into(), "idle".into()),
        "{report}"
    );
    let idle = (f["steps"].as_array().unwrap().iter())
        .find(|s| s["shows"]["is"] == "idle-member")
        .unwrap_or_else(|| panic!("no idle member step: {f}"));
    (
        f["confidence"].as_str().unwrap().to_string(),
        idle["grade"].as_str().unwrap().to_string(),
    )
}

/// Only the self-join: the stall it explains is not reported beside it.
fn assert_only_the_self_join(report: &Value) {
    let kinds: Vec<&str> = (report["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["self-join"], "{report}");
}

#[test]
fn a_crew_joining_its_idle_hand_is_a_self_join_attached() {
    let p = HungProcess::start("cpp_crew_self_join");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_only_the_self_join(&report);
    let (_, member) = assert_crew_self_join(&report);
    assert_eq!(member, "heuristic", "no instance read: {report}");
    let (code, report) = json(&["attach", "--locals", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    let (_, member) = assert_crew_self_join(&report);
    assert_eq!(member, "proven", "`this` read from memory: {report}");
}

#[test]
fn a_crew_joining_its_idle_hand_is_a_self_join_in_a_core() {
    if !require("gcore") {
        return;
    }
    let dir = scratch("pools", "core");
    let p = HungProcess::start("cpp_crew_self_join");
    let core = gcore(p.pid, &dir);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert_crew_self_join(&report);
}

#[test]
fn a_crew_joining_its_idle_hand_is_a_symbolic_self_join_in_gdb_bt_and_bt_full() {
    if !require("gdb") {
        return;
    }
    let dir = scratch("pools", "gdb");
    let p = HungProcess::start("cpp_crew_self_join");
    for full in [false, true] {
        let dump = gdb_dump(p.pid, full);
        let file = dir.join(format!("dump-{full}.txt"));
        std::fs::write(&file, &dump).unwrap();
        let (code, report) = json(&["parse", file.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{report}\n--- the dump:\n{dump}");
        assert_only_the_self_join(&report);
        let (grade, member) = assert_crew_self_join(&report);
        assert_eq!((grade.as_str(), member.as_str()), ("symbolic", "symbolic"));
    }
}

#[test]
fn an_idle_crew_is_no_finding_attached_and_in_gdb() {
    let p = HungProcess::start("cpp_crew_idle");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["findings"], Value::Array(vec![]), "{report}");
    if !require("gdb") {
        return;
    }
    let dir = scratch("pools", "idle");
    for full in [false, true] {
        let file = dir.join(format!("dump-{full}.txt"));
        std::fs::write(&file, gdb_dump(p.pid, full)).unwrap();
        let (code, report) = json(&["parse", file.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(report["findings"], Value::Array(vec![]), "{report}");
    }
}

/// The starvation of the crew's two hands: its grade and the pool's name.
fn crew_starvation(report: &Value) -> (String, String) {
    let f = (report["findings"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "pool-starvation")
        .unwrap_or_else(|| panic!("no pool starvation: {report}"));
    assert_eq!(f["thread_indexes"].as_array().unwrap().len(), 2, "{f}");
    (
        f["confidence"].as_str().unwrap().to_string(),
        f["detail"]["pool"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_crew_whose_hands_all_wait_for_work_queued_behind_them_starves() {
    let p = HungProcess::start("cpp_crew_starvation");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        crew_starvation(&report).0,
        "heuristic",
        "no instance read: {report}"
    );
    let (code, report) = json(&["attach", "--locals", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    let (grade, pool) = crew_starvation(&report);
    assert_eq!((grade.as_str(), pool.as_str()), ("symbolic", "Crew::shift"));
    if !require("gdb") {
        return;
    }
    let dir = scratch("pools", "starve");
    let file = dir.join("dump.txt");
    std::fs::write(&file, gdb_dump(p.pid, false)).unwrap();
    let (code, report) = json(&["parse", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    let (grade, pool) = crew_starvation(&report);
    assert_eq!((grade.as_str(), pool.as_str()), ("symbolic", "Crew::shift"));
}
