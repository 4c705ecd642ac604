//! Steps point at the program: on the C ABBA (`c_abba`), attached live and from a gdb `bt full`
//! of the same process, each wait names the program's own frame with its file and line, the
//! library frames folded behind it, and the lock by its symbol as gdb names it; a holder's step
//! names where the lock is held or says it is somewhere below a program frame, never a thread
//! entry such as `start_thread`; so does each line of the `threads:` list. The text
//! report shows the threads' frames that matter under each finding, ends with the verdict it
//! starts with, and fits a width when asked (or when writing to a terminal).

mod support;

use std::path::Path;
use support::{gdb_dump, hangscan, require, HungProcess};

/// The line of `fixtures/programs/c_abba.c` that holds `text`.
fn abba_line(text: &str) -> u32 {
    let source = std::fs::read_to_string(support::programs_dir().join("c_abba.c")).unwrap();
    let at = source.lines().position(|l| l.contains(text));
    at.map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("{text:?} is not in c_abba.c"))
}

/// (function, line, lock) where each worker of `c_abba` blocks on its second lock.
fn abba_waits() -> [(&'static str, u32, &'static str); 2] {
    [
        (
            "place_order",
            abba_line("pthread_mutex_lock(&inventory_lock); /* reserve"),
            "inventory_lock",
        ),
        (
            "restock_item",
            abba_line("pthread_mutex_lock(&orders_lock); /* fulfil"),
            "orders_lock",
        ),
    ]
}

/// The numbered step lines of a text report.
fn step_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            t.split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

/// Thread entries are plumbing: never the program's frame, never where a lock is taken.
fn assert_no_entry_frames(steps: &[&str], report: &str) {
    for s in steps {
        for entry in ["start_thread", "clone3", "__libc_start"] {
            assert!(!s.contains(entry), "a step names {entry}: {s}\n{report}");
        }
    }
}

/// The `threads:` list names the program's frame each thread waits in, with its file and
/// line, the library frames folded behind it, and the lock by its symbol, as the steps do;
/// never a library frame alone.
fn assert_thread_lines_name_program_frames(text: &str) {
    let threads = text
        .split("\nthreads:\n")
        .nth(1)
        .and_then(|t| t.split("\n\n").next())
        .unwrap_or_else(|| panic!("no thread list: {text}"));
    for (function, line, lock) in abba_waits() {
        let waits = threads
            .lines()
            .find(|l| l.contains(&format!(" {function} (")))
            .unwrap_or_else(|| panic!("no thread line names {function}: {text}"));
        assert!(
            waits.contains(&format!("waits for mutex {lock} (0x"))
                && waits.contains(&format!("c_abba.c:{line}), in "))
                && waits.contains("pthread_mutex_lock ← "),
            "{waits}\n{text}"
        );
    }
    // The main thread joins from `main`.
    assert!(
        threads
            .lines()
            .any(|l| l.contains(" to exit at #") && l.contains(" main (") && l.contains(", in ")),
        "{text}"
    );
    for l in threads.lines() {
        let place = l.split_once(" at #").map_or("", |(_, at)| {
            at.trim_start_matches(|c: char| c.is_ascii_digit())
        });
        assert!(
            !place.contains("pthread_mutex_lock (") && !place.contains("__lll_lock_wait ("),
            "a thread line names a library frame: {l}"
        );
    }
}

#[test]
fn a_live_abba_names_the_program_frames_that_wait_and_hold() {
    let p = HungProcess::start("c_abba");
    let pid = p.pid.to_string();
    let (code, text, err) = hangscan(&["attach", &pid]);
    assert_eq!(code, Some(1), "{text}\n{err}");
    let steps = step_lines(&text);
    assert_eq!(steps.len(), 4, "{text}");
    for (function, line, lock) in abba_waits() {
        let wait = steps
            .iter()
            .find(|s| s.contains(&format!("{function} (")) && s.contains("waits for mutex"))
            .unwrap_or_else(|| panic!("no wait step names {function}:\n{text}"));
        assert!(
            wait.contains(&format!("c_abba.c:{line})")),
            "{wait}\n{text}"
        );
        // The lock by its symbol, as gdb names it.
        assert!(
            wait.contains(&format!("waits for mutex {lock} (0x")),
            "{wait}\n{text}"
        );
        // The library frames fold behind it.
        assert!(wait.contains("pthread_mutex_lock ← "), "{wait}");
    }
    for holder in steps.iter().filter(|s| s.contains("held by")) {
        assert!(
            holder.contains("place_order (") || holder.contains("restock_item ("),
            "a holder's step names where it holds the lock, or the program frame below which: \
             {holder}\n{text}"
        );
    }
    assert_no_entry_frames(&steps, &text);
    assert_thread_lines_name_program_frames(&text);
    // Under the finding, each thread's frames that matter.
    let stacks = text.split("    stacks:\n").nth(1).expect("a stacks block");
    for (function, line, _) in abba_waits() {
        assert!(
            stacks.contains(&format!("{function} (")) && stacks.contains(&format!(":{line})")),
            "{text}"
        );
    }
    assert!(stacks.contains("… "), "library frames elided: {text}");

    // The JSON says the same as data: the program frame and the frames folded behind it.
    let (_, json, _) = hangscan(&["attach", "--format", "json", &pid]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let report = &doc["reports"][0];
    let finding = &report["findings"][0];
    let mut named = Vec::new();
    for step in finding["steps"].as_array().unwrap() {
        let thread = &report["threads"][step["thread_index"].as_u64().unwrap() as usize];
        let shows = &step["shows"];
        if shows["is"] == "waits" {
            let frame = &thread["frames"][shows["program"]["frame"].as_u64().unwrap() as usize];
            let folded = shows["program"]["folded"].as_array().unwrap();
            assert!(!folded.is_empty(), "{step}");
            named.push((
                frame["function"].as_str().unwrap().to_string(),
                frame["line"].as_u64().unwrap() as u32,
                shows["object"]["symbol"].as_str().unwrap_or("").to_string(),
            ));
        } else {
            assert_eq!(shows["is"], "holder", "{step}");
            let at = &shows["held_at"];
            let frame = &thread["frames"][at["frame"].as_u64().unwrap() as usize];
            let f = frame["function"].as_str().unwrap();
            assert!(f == "place_order" || f == "restock_item", "{step}");
        }
    }
    named.sort();
    let mut want: Vec<(String, u32, String)> = abba_waits()
        .iter()
        .map(|(f, l, lock)| (f.to_string(), *l, lock.to_string()))
        .collect();
    want.sort();
    assert_eq!(named, want, "{json}");
}

#[test]
fn a_gdb_bt_full_of_the_abba_names_the_program_frames() {
    if !require("gdb") {
        return;
    }
    let p = HungProcess::start("c_abba");
    let dump = gdb_dump(p.pid, true);
    drop(p);
    let snapshot = hangscan::parse_dump(&dump).unwrap();
    let analysis = hangscan::analyze(&snapshot);
    let mut out = Vec::new();
    hangscan::render(&snapshot, &analysis, hangscan::Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let steps = step_lines(&text);
    for (function, line, lock) in abba_waits() {
        // `: #N place_order (`: the step's frame is the program's, whatever gdb numbers it.
        let wait = steps
            .iter()
            .find(|s| {
                s.split_once("): #").is_some_and(|(_, at)| {
                    at.trim_start_matches(|c: char| c.is_ascii_digit())
                        .starts_with(&format!(" {function} ("))
                })
            })
            .unwrap_or_else(|| panic!("no step names {function}:\n{text}"));
        assert!(
            wait.contains(&format!("c_abba.c:{line})")),
            "{wait}\n{text}"
        );
        assert!(wait.contains("pthread_mutex_lock ← "), "{wait}");
        assert!(
            wait.contains(&format!("waits for mutex {lock} (0x")),
            "gdb names the lock: {wait}\n{text}"
        );
    }
    assert_no_entry_frames(&steps, &text);
    assert_thread_lines_name_program_frames(&text);
}

/// Two threads wait for a mutex from `t1`, called straight from `start_thread`; a third
/// computes in `crunch`, also started by `start_thread`; the other threads run elsewhere, so
/// `start_thread` is no frame most threads run. Being inside `start_thread` shows nothing
/// about a lock: that third thread is no holder.
const ENTRY_ONLY: &str = "\
Thread 6 (Thread 0x7f05 (LWP 105)):
#0  __lll_lock_wait (futex=0x5000, private=0) at lowlevellock.c:49
#1  0x5 in ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
#2  0x6 in t1 (arg=0x0) at srv.c:70
#3  0x7 in start_thread (arg=0x0) at pthread_create.c:442
#4  0x8 in clone3 () at clone3.S:81

Thread 5 (Thread 0x7f04 (LWP 104)):
#0  0x1 in poll () from /lib/x86_64-linux-gnu/libc.so.6
#1  0x2 in event_loop () at srv.c:10
#2  0x3 in main () at srv.c:20

Thread 4 (Thread 0x7f03 (LWP 103)):
#0  0x1 in epoll_wait () from /lib/x86_64-linux-gnu/libc.so.6
#1  0x2 in io_loop () at srv.c:30

Thread 3 (Thread 0x7f02 (LWP 102)):
#0  0x1 in nanosleep () from /lib/x86_64-linux-gnu/libc.so.6
#1  0x2 in timer_loop () at srv.c:40

Thread 2 (Thread 0x7f01 (LWP 101)):
#0  0x1 in compute () at srv.c:50
#1  0x2 in crunch (n=3) at srv.c:60
#2  0x3 in start_thread (arg=0x0) at pthread_create.c:442
#3  0x4 in clone3 () at clone3.S:81

Thread 1 (Thread 0x7f00 (LWP 100)):
#0  __lll_lock_wait (futex=0x5000, private=0) at lowlevellock.c:49
#1  0x5 in ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
#2  0x6 in t1 (arg=0x0) at srv.c:70
#3  0x7 in start_thread (arg=0x0) at pthread_create.c:442
#4  0x8 in clone3 () at clone3.S:81
";

#[test]
fn a_thread_entry_is_never_where_a_lock_is_taken() {
    let snapshot = hangscan::parse_dump(ENTRY_ONLY).unwrap();
    let analysis = hangscan::analyze(&snapshot);
    assert!(
        analysis.graph.edges.is_empty(),
        "nothing shows who holds 0x5000: {:?}",
        analysis.graph.edges
    );
    let mut out = Vec::new();
    hangscan::render(&snapshot, &analysis, hangscan::Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("held by"), "{text}");
    assert_no_entry_frames(&step_lines(&text), &text);
}

const OWNERS: &str = "fixtures/dumps/gdb/c_abba.owners.txt";

/// `hangscan parse ARGS OWNERS`, run in the repository.
fn parse_owners(args: &[&str], columns: Option<&str>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hangscan"));
    command
        .arg("parse")
        .args(args)
        .arg(OWNERS)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env_remove("COLUMNS");
    if let Some(c) = columns {
        command.env("COLUMNS", c);
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_verdict_is_the_first_and_the_last_line() {
    let text = parse_owners(&[], None);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("DEADLOCK: lock cycle"), "{text}");
    assert_eq!(lines.last(), lines.first(), "{text}");
    // With -v, after every thread's frames.
    let verbose = parse_owners(&["-v"], None);
    let stacks = verbose.find("\nstacks:\n").expect("-v shows the stacks");
    let last = verbose.trim_end().rsplit('\n').next().unwrap();
    assert_eq!(last, lines[0], "{verbose}");
    assert!(verbose.rfind(lines[0]).unwrap() > stacks, "{verbose}");
}

#[test]
fn lines_fit_the_width_asked_for_and_pipes_are_left_alone() {
    let plain = parse_owners(&[], None);
    assert!(plain.lines().any(|l| l.chars().count() > 60), "{plain}");
    let narrow = parse_owners(&["--width", "60"], None);
    for line in narrow.lines() {
        assert!(line.chars().count() <= 60, "{line:?} in\n{narrow}");
    }
    // Only the line breaks differ: every word is there, in order.
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(words(&narrow), words(&plain));
    // A pipe is no terminal: its width is not the terminal's, whatever COLUMNS says.
    assert_eq!(parse_owners(&[], Some("40")), plain);
    assert_eq!(parse_owners(&["--width", "0"], None), plain);
}

#[test]
fn on_a_terminal_lines_fit_its_width() {
    // `script` gives hangscan a terminal (a pseudo-terminal) as its standard output.
    let script = std::process::Command::new("script")
        .arg("--version")
        .output();
    if !script.is_ok_and(|o| o.status.success()) {
        support::skip("no `script` to run hangscan on a terminal");
        return;
    }
    let command = format!(
        "{} parse --color never {OWNERS}",
        env!("CARGO_BIN_EXE_hangscan")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("COLUMNS", "50")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.starts_with("DEADLOCK: "), "{text}");
    assert!(text.lines().count() > 10, "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 50, "{line:?} in\n{text}");
    }
}

/// Under a finding of many threads, alike stacks are shown once for all their threads, and
/// past a few stacks a line says how many threads' stacks are left for `-v`.
#[test]
fn many_threads_stacks_are_grouped_and_bounded() {
    // Twelve threads reading, each in its own function, and three alike.
    let mut dump = String::new();
    for t in 1..=15u32 {
        let function = if t > 12 {
            "poller".to_string()
        } else {
            format!("reader_{t}")
        };
        dump.push_str(&format!(
            "Thread {t} (Thread 0x7f{t:02x} (LWP {})):\n\
             #0  0x1 in read () from /lib/x86_64-linux-gnu/libc.so.6\n\
             #1  0x2 in {function} () at io.c:7\n\
             #2  0x3 in start_thread (arg=0x0) at pthread_create.c:442\n\n",
            100 + t
        ));
    }
    let snapshot = hangscan::parse_dump(&dump).unwrap();
    let analysis = hangscan::analyze(&snapshot);
    let mut out = Vec::new();
    hangscan::render(&snapshot, &analysis, hangscan::Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let stacks = text.split("    stacks:\n").nth(1).expect("a stacks block");
    let stacks = stacks.split("\n\n").next().unwrap();
    let headers: Vec<&str> = stacks
        .lines()
        .filter(|l| l.starts_with("      L"))
        .collect();
    assert_eq!(headers.len(), 8, "{stacks}");
    assert!(
        stacks.contains("… and the stacks of 7 more thread(s) (`-v` shows them all)"),
        "{stacks}"
    );
    // `-v` shows every stack; the three alike ones share one.
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("steps-many-readers.txt");
    std::fs::write(&file, &dump).unwrap();
    let (_, verbose, _) = hangscan(&["parse", "-v", file.to_str().unwrap()]);
    let stacks = verbose.split("    stacks:\n").nth(1).unwrap();
    let stacks = stacks.split("\n\n").next().unwrap();
    let headers: Vec<&str> = stacks
        .lines()
        .filter(|l| l.starts_with("      L"))
        .collect();
    assert_eq!(headers.len(), 13, "{stacks}");
    assert!(
        headers.contains(&"      LWP 113, LWP 114, LWP 115:"),
        "{stacks}"
    );
    assert!(!stacks.contains("… "), "{stacks}");
}

/// A frame of a system library no rule knows (`g_mutex_lock_wrapper` in a `/usr/lib` object) is
/// no program frame: the step names the program's caller beyond it, and folds it.
const THROUGH_A_SYSTEM_LIBRARY: &str = "\
Thread 2 (Thread 0x7f01 (LWP 101)):
#0  __lll_lock_wait (futex=0x5000, private=0) at lowlevellock.c:49
#1  0x5 in ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
#2  0x6 in wrapped_lock () from /usr/lib/x86_64-linux-gnu/libwrap.so.1
#3  0x7 in save_record (id=4) at store.c:31
#4  0x8 in start_thread (arg=0x0) at pthread_create.c:442

Thread 1 (Thread 0x7f00 (LWP 100)):
#0  __lll_lock_wait (futex=0x6000, private=0) at lowlevellock.c:49
#1  0x5 in ___pthread_mutex_lock (mutex=0x6000) at pthread_mutex_lock.c:93
#2  0x9 in load_record (id=4) at store.c:52
#3  0xa in main () at store.c:80
";

#[test]
fn frames_of_system_libraries_fold_behind_the_program_frame() {
    let snapshot = hangscan::parse_dump(THROUGH_A_SYSTEM_LIBRARY).unwrap();
    let analysis = hangscan::analyze(&snapshot);
    let mut out = Vec::new();
    hangscan::render(&snapshot, &analysis, hangscan::Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let steps = step_lines(&text);
    assert!(
        steps.iter().any(|s| s.contains(
            "LWP 101 waits for mutex 0x5000: #3 save_record (store.c:31), in wrapped_lock ← \
             __lll_lock_wait"
        )),
        "{text}"
    );
    assert!(
        steps.iter().any(|s| s.contains(
            "LWP 100 waits for mutex 0x6000: #2 load_record (store.c:52), in \
             ___pthread_mutex_lock ← __lll_lock_wait"
        )),
        "{text}"
    );
}
