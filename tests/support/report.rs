//! hangscan's JSON report as the tests read it: a run's report and its lock cycle.

use serde_json::Value;

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
