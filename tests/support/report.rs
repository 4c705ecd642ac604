//! hangscan's JSON report as the tests read it: a run's report (of a process, or of its gdb
//! dump), a hung fixture's reports in every view, its lock cycle, a frame's function, a clean
//! report.

use serde_json::Value;
use std::path::Path;

/// `hangscan ARGS --format json` → (exit code, the first report).
pub fn json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = super::hangscan(&all);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v["reports"][0].clone())
}

/// The lock-cycle finding of the report: its grade, and its steps' text, a line each.
pub fn cycle(report: &Value) -> (String, String) {
    let f = (report["findings"].as_array().unwrap().iter())
        .find(|f| f["kind"] == "lock-cycle")
        .unwrap_or_else(|| panic!("no lock cycle: {report}"));
    let steps: Vec<&str> = (f["steps"].as_array().unwrap().iter())
        .filter_map(|s| s["text"].as_str())
        .collect();
    (
        f["confidence"].as_str().unwrap().to_string(),
        steps.join("\n"),
    )
}

/// `pid` attached as a user runs it, saving its snapshot in `dir`: exit 1, a lock cycle, and
/// the saved snapshot parsed back gives the same cycle; that cycle's grade and steps.
pub fn saved_cycle(pid: u32, dir: &Path) -> (String, String) {
    let saved = dir.join("snapshot.json");
    let saved = saved.to_str().unwrap();
    let (code, report) = json(&["attach", &pid.to_string(), "--save", saved]);
    assert_eq!(code, Some(1), "{report}");
    let found = cycle(&report);
    let (code, again) = json(&["parse", saved]);
    assert_eq!(code, Some(1), "{again}");
    assert_eq!(cycle(&again), found);
    found
}

/// `hangscan parse` of a gdb dump (`bt` or `bt full`) of `pid`, saved in `dir`.
pub fn parse_gdb(pid: u32, full: bool, dir: &Path) -> (Option<i32>, Value) {
    let file = dir.join(if full { "btfull.txt" } else { "bt.txt" });
    std::fs::write(&file, super::gdb_dump(pid, full)).unwrap();
    json(&["parse", file.to_str().unwrap()])
}

/// `program` attached live, from gdb's `bt` and `bt full` of it, and from gcore's core of it:
/// (view, exit code, report), the dumps and the core in a scratch directory of `suite`'s.
pub fn views(suite: &str, program: &str) -> Vec<(&'static str, Option<i32>, Value)> {
    views_of(suite, program, super::HungProcess::start(program))
}

/// [`views`] of a process started otherwise (`p`, named `name`): a crate's fixture, say.
pub fn views_of(
    suite: &str,
    name: &str,
    p: super::HungProcess,
) -> Vec<(&'static str, Option<i32>, Value)> {
    let dir = super::scratch(suite, name);
    let mut out = vec![("attached", json(&["attach", &p.pid.to_string()]))];
    for (how, full) in [("gdb bt", false), ("gdb bt full", true)] {
        out.push((how, parse_gdb(p.pid, full, &dir)));
    }
    let core = super::gcore(p.pid, &dir);
    drop(p);
    out.push(("core", json(&["core", core.to_str().unwrap()])));
    (out.into_iter())
        .map(|(how, (code, report))| (how, code, report))
        .collect()
}

/// A JSON frame's function, `""` when it has none.
pub fn function(v: &Value) -> &str {
    v["function"].as_str().unwrap_or_default()
}

/// No finding, exit 0.
pub fn assert_healthy(code: Option<i32>, report: &Value) {
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
}
