//! The `hangscan` binary as a user runs it: exit codes, the three output formats, stdin,
//! messages for bad input, untrusted text, and user rule files.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn hangscan(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hangscan");
    let mut input = child.stdin.take().unwrap();
    // hangscan may exit before reading (a bad option): a closed pipe is fine.
    let _ = input.write_all(stdin.unwrap_or_default());
    drop(input);
    child.wait_with_output().unwrap()
}

fn seed(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corpus/seed")
        .join(name);
    p.to_string_lossy().into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn nebula_self_join_through_the_sigterm_handler() {
    let o = hangscan(&["parse", &seed("rr-nebula-sigterm-selfjoin.txt")], None);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = stdout(&o);
    let verdict = text.lines().next().unwrap();
    assert!(verdict.starts_with("DEADLOCK: self-join"), "{verdict}");
    assert!(verdict.contains("25.43 \"executor-pri3-1\""), "{verdict}");
    // The walk from the signal frame to the thread's own worker loop, in order.
    let mut at = 0;
    for step in [
        "<signal handler called>",
        "StorageServer::stop",
        "~ThriftServer",
        "PriorityThreadManager::PriorityImpl::join",
        "ThreadManager::Impl::Worker::run",
    ] {
        let found = text[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step} missing after byte {at}:\n{text}"));
        at += found;
    }
    assert!(text.contains("signal-unsafe-wait"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn a_bt_that_does_not_say_whose_it_is_is_not_pinned_on_the_selected_thread() {
    let o = hangscan(
        &[
            "parse",
            "--format",
            "json",
            &seed("rr-nebula-sigterm-raw.txt"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &doc["reports"][0];
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "self-join")
        .expect("self-join");
    assert_eq!(
        f["threads"],
        serde_json::json!([null]),
        "the self-join is on an unidentified thread"
    );
    let main = r["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tid"] == 25)
        .unwrap();
    assert_eq!(main["frames"][0]["function"], "__pthread_clockjoin_ex");
    let notes = r["diagnostics"].to_string();
    assert!(notes.contains("does not say whose stack it is"), "{notes}");
}

#[test]
fn nothing_to_decide_exits_zero() {
    let o = hangscan(
        &["parse", &seed("rr-nebula-first-sigterm-threads.txt")],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // An `info threads` table alone shows each thread's innermost frame, not its stack, and
    // it is the input's last line: no deadlock among them, and no more can be told.
    assert!(
        stdout(&o).starts_with("undecidable from this dump"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("to decide, record every thread's whole stack"));
}

/// `-v` lists every thread's frames after the report, then the verdict again; the report
/// itself only gains the frames its findings' stacks elided; a dump's frames say nothing of
/// how they were found (an unwinder's do: tests/core.rs).
#[test]
fn verbose_text_lists_the_frames_after_the_report() {
    let dump = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/gdb/c_abba.bt.txt");
    let dump = dump.to_str().unwrap();
    let plain = hangscan(&["parse", dump], None);
    let verbose = hangscan(&["parse", "-v", dump], None);
    assert_eq!(verbose.status.code(), plain.status.code());
    let (report, stacks) = stdout(&verbose)
        .split_once("\nstacks:\n")
        .map(|(r, s)| (r.to_string(), s.to_string()))
        .unwrap_or_else(|| panic!("{}", stdout(&verbose)));
    let plain = stdout(&plain);
    let verdict = plain.lines().next().unwrap();
    assert_eq!(stdout(&verbose).lines().last(), Some(verdict));
    // Every line of the plain report (but its closing verdict) is there, in order, and no
    // frame is elided.
    let (body, _) = plain.trim_end().rsplit_once("\n\n").unwrap();
    let mut lines = report.lines();
    for line in body.lines().filter(|l| !l.contains("… ")) {
        assert!(lines.any(|l| l == line), "{line:?} missing from\n{report}");
    }
    assert!(!report.contains("… "), "{report}");
    assert!(
        stacks.contains("  LWP 18621 \"restocker\"\n")
            && stacks.contains("    #4   0x5649a9dfc54d restock_item at c_abba.c:79\n"),
        "{stacks}"
    );
    assert!(!stacks.contains('['), "{stacks}");
}

#[test]
fn json_report_has_the_documented_fields() {
    let o = hangscan(
        &[
            "parse",
            "--format",
            "json",
            &seed("rr-nebula-sigterm-selfjoin.txt"),
        ],
        None,
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["schema"], "hangscan-report/1");
    let r = &doc["reports"][0];
    assert_eq!(r["verdict"], "deadlock");
    let worker = r["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "executor-pri3-1")
        .unwrap();
    assert_eq!(worker["tid"], 43, "rr's Thread 25.43 is OS thread 43");
    assert_eq!(worker["state"], "blocked");
    let frame = &worker["frames"][15];
    for key in ["function", "file", "line", "address", "inlined"] {
        assert!(frame.get(key).is_some(), "frame lacks {key}: {frame}");
    }
    assert_eq!(
        frame["function"],
        "apache::thrift::concurrency::PriorityThreadManager::PriorityImpl::join()"
    );
    assert_eq!(worker["frames"][33]["signal_frame"], true);
    let f = &r["findings"][0];
    for key in [
        "kind",
        "severity",
        "confidence",
        "threads",
        "title",
        "explanation",
        "steps",
        "suggestion",
        "signature",
    ] {
        assert!(f.get(key).is_some(), "finding lacks {key}");
    }
    assert_eq!(f["threads"], serde_json::json!([43]));
    assert_eq!(f["signature"].as_str().unwrap().len(), 16);
}

#[test]
fn signatures_do_not_depend_on_tids_or_addresses() {
    let a = std::fs::read_to_string(seed("rr-nebula-sigterm-selfjoin.txt")).unwrap();
    let b = a
        .replace("25.43", "77.99")
        .replace("0x00000000046e09f9", "0x00000000056e09f9");
    let sig = |text: &str| {
        let o = hangscan(&["parse", "--format", "json", "-"], Some(text.as_bytes()));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["reports"][0]["findings"][0]["signature"].clone()
    };
    assert_eq!(sig(&a), sig(&b));
}

#[test]
fn dot_output_highlights_the_cycle() {
    let o = hangscan(
        &[
            "parse",
            "--format",
            "dot",
            &seed("rr-nebula-sigterm-selfjoin.txt"),
        ],
        None,
    );
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph hangscan {"), "{dot}");
    assert!(dot.contains("color=red"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let o = hangscan(
        &["parse", "-"],
        Some(b"just some log output\nnothing here\n"),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a dump") && err.contains("gdb"), "{err}");

    let o = hangscan(&["parse", "/nonexistent/dump.txt"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read /nonexistent/dump.txt"));

    let o = hangscan(
        &[
            "parse",
            "-o",
            "/nonexistent/dir/report.txt",
            &seed("rr-nebula-sigterm-selfjoin.txt"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot write /nonexistent/dir/report.txt") && err.contains("writable"),
        "{err}"
    );

    // One bad file does not lose the others' results.
    let o = hangscan(
        &[
            "parse",
            "/nonexistent/dump.txt",
            &seed("rr-nebula-sigterm-selfjoin.txt"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("self-join"));
}

#[test]
fn terminal_escapes_in_thread_names_never_reach_the_output() {
    let dump = "Thread 2 (Thread 0x7f00 (LWP 12) \"evil\x1b]0;pwned\x07\u{202e}name\"):\n\
                #0  0x1 in __lll_lock_wait () from /lib/libc.so.6\n\
                #1  0x2 in pthread_mutex_lock (mutex=0x10) from /lib/libc.so.6\n\n\
                Thread 1 (Thread 0x7f01 (LWP 11) \"main\"):\n#0  0x3 in main () at m.c:1\n";
    for format in ["text", "dot"] {
        let o = hangscan(
            &["parse", "--format", format, "--color", "never", "-"],
            Some(dump.as_bytes()),
        );
        let out = stdout(&o);
        assert!(out.contains("evil"), "{out}");
        assert!(
            !out.contains('\x1b') && !out.contains('\x07') && !out.contains('\u{202e}'),
            "{format}: {out:?}"
        );
    }
    let o = hangscan(&["parse", "--format", "json", "-"], Some(dump.as_bytes()));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert!(
        doc["reports"][0]["threads"][0]["name"]
            .as_str()
            .unwrap()
            .contains('\x1b'),
        "JSON keeps the name, escaped"
    );
}

#[test]
fn rules_are_listed_and_user_rules_teach_new_pools() {
    let o = hangscan(&["rules"], None);
    assert_eq!(o.status.code(), Some(0));
    let list = stdout(&o);
    for id in [
        "glibc.mutex-lock",
        "libstdcxx.lock-guard-local",
        "rust.join",
        "fbthrift.join",
        "generic.pool-worker",
    ] {
        assert!(list.contains(id), "{id} not listed");
    }
    // A pool nobody's rules know: a crew whose `disband` waits for every `toil`er.
    let dump = "Thread 1 (Thread 0x7f01 (LWP 11) \"crew-1\"):\n\
        #0  0x1 in __pthread_cond_wait_common (cond=0x20, mutex=0x30) at c.c:1\n\
        #1  0x2 in acme::Crew::disband (this=0x40) at crew.cpp:10\n\
        #2  0x3 in on_signal (sig=15) at main.cpp:5\n\
        #3  <signal handler called>\n\
        #4  0x4 in acme::Crew::toil (this=0x40) at crew.cpp:20\n";
    let o = hangscan(&["parse", "-"], Some(dump.as_bytes()));
    assert!(
        !stdout(&o).contains("self-join"),
        "unknown pool: no self-join claimed"
    );
    let rules = std::env::temp_dir().join(format!("hangscan-crew-{}.toml", std::process::id()));
    std::fs::write(
        &rules,
        r#"
[[rule]]
id = "acme.crew-worker"
summary = "a worker of an acme::Crew"
meaning = "member"
pool = "acme crew"
function = '^acme::Crew::toil$'
instance_args = ["this"]
examples = ["acme::Crew::toil"]
counterexamples = ["acme::Crew::disband"]

[[rule]]
id = "acme.crew-disband"
summary = "disbanding a crew waits for every worker"
meaning = "wait"
kind = "pool-drain"
context = true
pool = "acme crew"
function = '^acme::Crew::disband$'
instance_args = ["this"]
examples = ["acme::Crew::disband"]
counterexamples = ["acme::Crew::toil"]
"#,
    )
    .unwrap();
    let o = hangscan(
        &["parse", "--rules", rules.to_str().unwrap(), "-"],
        Some(dump.as_bytes()),
    );
    let _ = std::fs::remove_file(&rules);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("self-join"));
    assert!(
        stdout(&o).contains("[symbolic]"),
        "same this= on both sides: {}",
        stdout(&o)
    );

    let o = hangscan(
        &["parse", "--rules", "/nonexistent.toml", "-"],
        Some(dump.as_bytes()),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_teaches_the_commands() {
    let o = hangscan(&["--help"], None);
    let help = stdout(&o);
    assert!(
        help.contains("parse") && help.contains("rules") && help.contains("Exit status"),
        "{help}"
    );
    let o = hangscan(&["parse", "--help"], None);
    assert!(stdout(&o).contains("thread apply all bt"));
}

#[test]
fn parse_help_names_every_input_format() {
    let help = String::from_utf8_lossy(&hangscan(&["parse", "--help"], None).stdout).into_owned();
    for f in hangscan::dump::formats() {
        assert!(
            help.contains(f.name()),
            "`{}` missing from:\n{help}",
            f.name()
        );
    }
}

#[test]
fn saved_reports_are_bucketed_by_signature_with_counts() {
    let dir = std::env::temp_dir().join(format!("hangscan-buckets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let abba =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/gdb/c_abba.owners.txt");
    let join =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/gdb/c_join_cycle.bt.txt");
    let mut reports = Vec::new();
    // Three runs of the same ABBA hang and one join cycle.
    for (i, dump) in [&abba, &abba, &join, &abba].iter().enumerate() {
        let path = dir.join(format!("run{i}.json"));
        let o = hangscan(
            &[
                "parse",
                "--format",
                "json",
                "-o",
                path.to_str().unwrap(),
                dump.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(1));
        reports.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["parse", "--format", "json"];
    args.extend(reports.iter().map(String::as_str));
    let o = hangscan(&args, None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["schema"], "hangscan-buckets/1");
    let buckets = doc["buckets"].as_array().unwrap();
    assert_eq!(buckets[0]["kind"], "lock-cycle");
    assert_eq!(buckets[0]["count"], 3);
    assert_eq!(buckets[0]["files"].as_array().unwrap().len(), 3);
    assert!(buckets
        .iter()
        .any(|b| b["kind"] == "join-cycle" && b["count"] == 1));
    let text = hangscan(&["parse", &reports[0], &reports[1]], None);
    assert!(String::from_utf8_lossy(&text.stdout).contains("2 × lock-cycle"));
    // A report among dumps is refused with what to do; the dump is still analysed.
    let mixed = hangscan(&["parse", &reports[0], abba.to_str().unwrap()], None);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("parse them separately"));
    assert!(String::from_utf8_lossy(&mixed.stdout).contains("lock-cycle"));
    let _ = std::fs::remove_dir_all(&dir);
}
