//! Stopped processes: a process stopped by SIGSTOP is reported as stopped (verdict, finding,
//! what resumes it, exit 1), no thread of it is "running", hangscan's attach leaves it stopped,
//! and it runs again on SIGCONT. A thread a tracer holds is named with its tracer (through a
//! saved capture: live, such a process cannot be attached, see tests/permissions.rs).

mod support;

use serde_json::Value;
use support::{hangscan, Driven};

/// The state letters of `pid`'s threads.
fn states(pid: u32) -> Vec<char> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the target runs");
    dir.flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            stat.rsplit_once(')')?.1.trim_start().chars().next()
        })
        .collect()
}

/// Waits until every thread of `pid` shows state `letter` (the kernel stops or resumes
/// threads one by one); panics after a minute.
fn await_states(pid: u32, letter: char) {
    for _ in 0..6000 {
        let s = states(pid);
        if !s.is_empty() && s.iter().all(|&c| c == letter) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("threads of {pid} never all {letter}: {:?}", states(pid));
}

fn report(out: &str, err: &str) -> Value {
    let doc: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    doc["reports"][0].clone()
}

fn kinds(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect()
}

#[test]
fn a_sigstopped_process_is_reported_stopped_stays_stopped_and_resumes_on_sigcont() {
    // c_pulse with its spinner: a thread that would be "running" (outside any blocking call).
    let mut pulse = Driven::start("c_pulse", &["8"]);
    let pid = pulse.pid;
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    await_states(pid, 'T');

    let (code, out, err) = hangscan(&["attach", &pid.to_string()]);
    assert_eq!(
        code,
        Some(1),
        "a stopped process is hung: exit 1\n{out}\n{err}"
    );
    let verdict = out.lines().next().unwrap_or_default();
    assert!(verdict.starts_with("STOPPED: "), "{out}");
    assert!(out.contains(&format!("kill -CONT {pid}")), "{out}");
    assert_eq!(states(pid).iter().filter(|&&c| c != 'T').count(), 0);

    let (code, out, err) = hangscan(&["attach", "--format", "json", &pid.to_string()]);
    assert_eq!(code, Some(1), "{err}");
    let r = report(&out, &err);
    assert_eq!(r["verdict"], "stopped");
    assert!(kinds(&r).contains(&"process-stopped"), "{:?}", kinds(&r));
    for t in r["threads"].as_array().unwrap() {
        assert_ne!(
            t["state"], "running",
            "a stopped thread is never running: {t}"
        );
        assert_eq!(t["kernel_state"], "stopped", "{t}");
        assert_eq!(t["stopped_by"]["by"], "signal", "{t}");
    }
    // hangscan's seize and detach leave a group stop in place (no thread resumed, none
    // left traced)...
    assert!(states(pid).iter().all(|&c| c == 'T'), "{:?}", states(pid));

    // ...and SIGCONT resumes it as if hangscan never came.
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    let ticks = |p: &mut Driven| support::field(&p.ask("stats"), "ticks").expect("ticks");
    let before = ticks(&mut pulse);
    let mut after = before;
    for _ in 0..6000 {
        after = ticks(&mut pulse);
        if after > before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(after > before, "the target does not tick after SIGCONT");
    assert!(support::stopped_threads(pid).is_empty());
    let (code, out, err) = hangscan(&["attach", "--format", "json", &pid.to_string()]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let r = report(&out, &err);
    assert_eq!(r["verdict"], "no-deadlock");
    assert!(!kinds(&r).iter().any(|k| k.contains("stopped")));
}

#[test]
fn a_thread_held_by_a_tracer_is_named_with_its_tracer_and_is_not_running() {
    let pulse = Driven::start("c_pulse", &["8"]);
    let path = std::env::temp_dir().join(format!("hangscan-stopped-{}.json", std::process::id()));
    let saved = path.to_str().unwrap();
    let (code, _, err) = hangscan(&["attach", "--save", saved, &pulse.pid.to_string()]);
    assert_eq!(code, Some(0), "{err}");
    // What the capture records of a thread a debugger holds (`t`, TracerPid): live, hangscan
    // is refused such a process and names the tracer (tests/permissions.rs).
    let mut snap: Value = serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    let threads = snap["snapshot"]["threads"].as_array_mut().unwrap();
    let spinner = threads
        .iter_mut()
        .find(|t| t["name"] == "spinner")
        .expect("c_pulse's spinner");
    spinner["state"] = "stopped".into();
    spinner["kernel"]["stopped_by"] =
        serde_json::json!({"by": "tracer", "pid": 4645, "name": "gdb"});
    std::fs::write(saved, serde_json::to_string(&snap).unwrap()).unwrap();

    let (code, out, err) = hangscan(&["parse", saved]);
    assert_eq!(
        code,
        Some(0),
        "one stopped thread is a warning\n{out}\n{err}"
    );
    assert!(out.contains("thread-stopped"), "{out}");
    assert!(
        out.contains("\"spinner\": stopped by its tracer, process 4645 (gdb)"),
        "{out}"
    );
    let (_, out, err) = hangscan(&["parse", "--format", "json", saved]);
    let r = report(&out, &err);
    let spinner = r["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "spinner")
        .unwrap();
    assert_eq!(spinner["state"], "stopped");
    assert_eq!(spinner["stopped_by"]["pid"], 4645);
    let _ = std::fs::remove_file(&path);
}
