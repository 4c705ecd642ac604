//! Variables read from memory, live and from cores: each frame's parameters and locals
//! evaluated from their DWARF locations against the copied stack (`vars` in the JSON), by
//! default only the lock guards the rules know, every one with `--locals`; and guards as
//! proof of who holds a lock: a Rust std ABBA (`MutexGuard`s), which no owner field shows,
//! becomes a proven lock cycle, attached, from a `gcore` core and from a saved snapshot; a
//! C++ ABBA's `std::lock_guard` names the very mutex the other thread waits for; an optimized
//! C build's parameters are read from the registers the unwind recovered.

mod support;

use serde_json::Value;
use support::{gcore, hangscan, scratch, HungProcess};

/// `hangscan ARGS --format json` → (exit code, the report).
fn json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = hangscan(&all);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v["reports"][0].clone())
}

/// Every frame of thread `name` whose function starts with `function`.
fn frames<'a>(report: &'a Value, name: &str, function: &str) -> Vec<&'a Value> {
    report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == name)
        .flat_map(|t| t["frames"].as_array().unwrap())
        .filter(|f| {
            f["function"]
                .as_str()
                .is_some_and(|s| s.starts_with(function))
        })
        .collect()
}

/// The variable `name` of a frame.
fn var<'a>(frame: &'a Value, name: &str) -> Option<&'a Value> {
    frame["vars"].as_array()?.iter().find(|v| v["name"] == name)
}

/// The lock-cycle finding, its grade, and its steps' text.
fn cycle(report: &Value) -> (String, String) {
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "lock-cycle")
        .unwrap_or_else(|| panic!("no lock cycle: {report}"));
    let steps: Vec<&str> = f["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["text"].as_str())
        .collect();
    (
        f["confidence"].as_str().unwrap().to_string(),
        steps.join("\n"),
    )
}

/// The `Bank::transfer` frames of each thread that has one (a core does not name threads).
fn transfers(report: &Value) -> Vec<Vec<&Value>> {
    report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["frames"].as_array().unwrap().iter())
                .filter(|f| f["function"] == "rust_abba::Bank::transfer")
                .collect::<Vec<_>>()
        })
        .filter(|f| !f.is_empty())
        .collect()
}

/// Each settler's `Bank::transfer` holds its `source` guard on the lock the other waits for.
fn assert_rust_guards_prove_the_cycle(report: &Value) {
    let (grade, steps) = cycle(report);
    assert_eq!(grade, "proven", "{steps}");
    let settlers = transfers(report);
    assert_eq!(settlers.len(), 2, "{report}");
    for (name, transfer) in ["settle-1", "settle-2"].into_iter().zip(settlers) {
        let source = transfer
            .iter()
            .find_map(|f| var(f, "source"))
            .unwrap_or_else(|| panic!("{name}: no `source` guard in {transfer:?}"));
        assert!(
            source["type"]
                .as_str()
                .unwrap()
                .contains("MutexGuard<rust_abba::Account>"),
            "{source}"
        );
        assert_eq!(source["holds"]["rule"], "rust.mutex-guard", "{source}");
        let lock = source["holds"]["lock"].as_str().unwrap();
        assert!(
            steps.contains(&format!("waits for mutex {lock}")),
            "{name} holds {lock}, which the other settler waits for: {steps}"
        );
        // `dest` is not bound yet where the thread waits: not in scope, not read.
        assert!(
            transfer.iter().all(|f| var(f, "dest").is_none()),
            "{transfer:?}"
        );
    }
}

#[test]
fn a_rust_abba_attached_is_proven_by_its_mutex_guards() {
    let p = HungProcess::start("rust_abba");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    assert_rust_guards_prove_the_cycle(&report);
    // By default only guards are read: no other variable of the frame.
    let transfer = frames(&report, "settle-1", "rust_abba::Bank::transfer");
    assert!(
        transfer.iter().all(|f| var(f, "self").is_none()),
        "{transfer:?}"
    );
}

#[test]
fn a_cpp_lock_guard_names_the_mutex_the_other_thread_waits_for() {
    let p = HungProcess::start("cpp_abba");
    let (code, report) = json(&["attach", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    let (grade, steps) = cycle(&report);
    assert_eq!(grade, "proven", "{steps}");
    for name in ["payments-1", "payments-2"] {
        let transfer = frames(&report, name, "Account::transfer");
        let guard = transfer
            .iter()
            .find_map(|f| var(f, "from_guard"))
            .unwrap_or_else(|| panic!("{name}: {transfer:?}"));
        assert_eq!(guard["type"], "std::lock_guard<std::mutex>", "{guard}");
        let lock = guard["holds"]["lock"].as_str().unwrap();
        // The other thread waits for it, named as gdb names a member of a global:
        // `checking+40`, the account's `mu_`.
        let account = if name == "payments-1" {
            "checking"
        } else {
            "savings"
        };
        assert!(
            steps.lines().any(|l| l.contains("waits for mutex ")
                && l.contains(&format!(" {account}+"))
                && l.contains(&format!("({lock})"))),
            "{steps}"
        );
        // The unique_lock still being built does not own its mutex yet.
        let to_guard = transfer.iter().find_map(|f| var(f, "to_guard")).unwrap();
        assert!(to_guard.get("holds").is_none(), "{to_guard}");
    }
}

#[test]
fn locals_reads_every_parameter_and_local_like_bt_full() {
    let p = HungProcess::start("cpp_abba");
    let (_, report) = json(&["attach", "--locals", &p.pid.to_string()]);
    for (name, amount) in [("payments-1", "250"), ("payments-2", "900")] {
        let transfer = frames(&report, name, "Account::transfer")[0];
        let v = var(transfer, "amount").unwrap_or_else(|| panic!("{transfer}"));
        assert_eq!(v["param"], true, "{v}");
        assert_eq!(v["type"], "long int", "{v}");
        assert_eq!(v["value"], amount, "{v}");
        assert_eq!(v["readable"], true, "{v}");
        let this = var(transfer, "this").unwrap();
        assert_eq!(this["type"], "Account * const", "{this}");
        assert!(this["value"].as_str().unwrap().starts_with("0x"), "{this}");
    }
}

#[test]
fn a_rust_abba_core_is_proven_by_its_mutex_guards_and_a_saved_snapshot_keeps_them() {
    if !support::require("gcore") {
        return;
    }
    let dir = scratch("vars", "core");
    let p = HungProcess::start("rust_abba");
    let core = gcore(p.pid, &dir);
    let saved = dir.join("snapshot.json");
    let (_, live) = json(&[
        "attach",
        "--save",
        saved.to_str().unwrap(),
        &p.pid.to_string(),
    ]);
    drop(p);
    let (code, report) = json(&["core", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    assert_rust_guards_prove_the_cycle(&report);
    let (code, locals) = json(&["core", "--locals", core.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{locals}");
    let mut from: Vec<&str> = transfers(&locals)
        .iter()
        .map(|t| {
            let from = var(t[0], "from").unwrap_or_else(|| panic!("{t:?}"));
            assert_eq!(from["type"], "usize", "{from}");
            from["value"].as_str().unwrap()
        })
        .collect();
    from.sort_unstable();
    assert_eq!(
        from,
        ["0", "1"],
        "the settlers transfer from accounts 0 and 1"
    );
    // The saved snapshot re-reads with its variables and the same proof.
    let (code, parsed) = json(&["parse", saved.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{parsed}");
    assert_rust_guards_prove_the_cycle(&parsed);
    assert_eq!(parsed["findings"], live["findings"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_optimized_build_reads_parameters_kept_in_registers_a_call_preserves() {
    // -O2 without frame pointers: `item` and `qty` live in callee-saved registers (or are
    // recovered as entry values), which the unwind restores from the callees' CFI.
    let p = HungProcess::start_as("c_abba", support::Build::NoFramePointer);
    let (code, report) = json(&["attach", "--locals", &p.pid.to_string()]);
    assert_eq!(code, Some(1), "{report}");
    for (thread, function, item, qty) in [
        ("order-intake", "place_order", "3", "2"),
        ("restocker", "restock_item", "3", "10"),
    ] {
        let frame = frames(&report, thread, function)[0];
        for (name, value) in [("item", item), ("qty", qty)] {
            let v = var(frame, name).unwrap_or_else(|| panic!("{frame}"));
            assert_eq!(
                (&v["value"], &v["type"]),
                (&Value::from(value), &Value::from("int")),
                "{v}"
            );
        }
    }
    // What cannot be read says why (the threads' `arg`, gone from every register by now).
    let all = report["threads"].as_array().unwrap().iter();
    let vars: Vec<&Value> = all
        .flat_map(|t| t["frames"].as_array().unwrap())
        .flat_map(|f| f["vars"].as_array().into_iter().flatten())
        .collect();
    assert!(
        vars.iter()
            .all(|v| v["readable"] == v["unreadable"].is_null()),
        "{vars:?}"
    );
    assert!(vars.iter().any(|v| v["unreadable"].is_string()), "{vars:?}");
}
