//! The limits on huge inputs (`src/limits.rs`), through the binary: each gives a partial result
//! and a diagnostic saying what was left out. Big inputs are made here, in temporary files; the
//! deep stack is also a live process (`fixtures/programs/c_deep_recursion.c`).

mod support;

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hangscan::limits::{
    MAX_FRAMES, MAX_INPUT_BYTES, MAX_STACK_BYTES, MAX_STEPS_SHOWN, MAX_THREADS,
};

fn hangscan(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hangscan");
    let mut input = child.stdin.take().unwrap();
    // hangscan stops reading at the limit: a closed pipe is expected.
    let _ = input.write_all(stdin.unwrap_or_default());
    drop(input);
    child.wait_with_output().unwrap()
}

/// A scratch file in the test's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("limits");
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir.join(format!("{}.{name}", std::process::id())))
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn gdb_fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps/gdb")
        .join(name);
    fs::read(p).unwrap()
}

/// The JSON report of `args`, and the exit status.
fn json_report(args: &[&str], stdin: Option<&[u8]>) -> (serde_json::Value, Option<i32>) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let o = hangscan(&all, stdin);
    let report = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&o.stderr));
    });
    (report, o.status.code())
}

fn diagnostics(report: &serde_json::Value) -> Vec<String> {
    report["reports"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap().to_string())
        .collect()
}

fn thread_count(report: &serde_json::Value) -> usize {
    report["reports"][0]["threads"].as_array().unwrap().len()
}

#[test]
fn a_1_gib_dump_is_read_up_to_the_limit() {
    // A real dump, then a sparse hole up to 1 GiB: only the first MAX_INPUT_BYTES are ever read.
    let dump = gdb_fixture("c_abba.owners.txt");
    let file = Scratch::new("huge.txt");
    fs::write(&file.0, &dump).unwrap();
    fs::File::options()
        .write(true)
        .open(&file.0)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let (report, status) = json_report(&["parse", file.path()], None);
    // The deadlock in the prefix is found: the usual exit status for it.
    assert_eq!(status, Some(1));
    assert_eq!(report["reports"][0]["verdict"], "deadlock");
    assert_eq!(thread_count(&report), 3);
    assert_eq!(report["reports"][0]["source"]["complete"], false);
    let lines = dump.iter().filter(|&&b| b == b'\n').count();
    let said = &diagnostics(&report)[0];
    assert!(
        said.contains("larger than the limit of 64 MiB (1 GiB in all)")
            && said.contains(&format!("(up to line {lines}, the last complete one)")),
        "{said}"
    );
    assert_eq!(MAX_INPUT_BYTES, 64 << 20);

    // The text report says it too.
    let o = hangscan(&["parse", file.path()], None);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("notes:") && text.contains("larger than the limit"),
        "{text}"
    );
}

#[test]
fn standard_input_is_read_up_to_the_limit() {
    let mut input = gdb_fixture("c_abba.owners.txt");
    // Then more than may be read: the cut falls after the dump's last complete line.
    input.resize(MAX_INPUT_BYTES as usize + 4096, b' ');
    let (report, status) = json_report(&["parse", "-"], Some(&input));
    assert_eq!(status, Some(1));
    assert_eq!(thread_count(&report), 3);
    let said = &diagnostics(&report)[0];
    assert!(
        said.contains("larger than the limit of 64 MiB: only its first"),
        "{said}"
    );
}

#[test]
fn more_threads_than_the_limit_are_cut_with_a_diagnostic() {
    // The ABBA pair, then idle workers past the thread limit (small ones: the dump stays far
    // below the input limit).
    let mut dump = String::from_utf8(gdb_fixture("c_abba.owners.txt")).unwrap();
    let extra = 1000;
    for n in 4..4 + MAX_THREADS + extra - 3 {
        let _ = write!(
            dump,
            "\nThread {n} (LWP {}):\n\
             #0  0x00007ffff7e36e0b in __pthread_cond_wait_common () from /lib/libc.so.6\n\
             #1  0x0000555555556000 in worker_loop ()\n",
            100_000 + n
        );
    }
    let file = Scratch::new("threads.txt");
    fs::write(&file.0, &dump).unwrap();
    let o = hangscan(&["parse", file.path()], None);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the deadlock among the first threads is found"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("{MAX_THREADS} thread(s) from "))
            && text.contains("(gdb, not all threads shown)")
            && text.contains(&format!(
                "{MAX_THREADS} threads shown, {extra} more not analysed (the limit is \
                 {MAX_THREADS} threads a snapshot)"
            )),
        "{text}"
    );
    // Alike threads are one line: the report stays short.
    assert!(text.contains(&format!("{} × ", MAX_THREADS - 3)), "{text}");
    assert!(text.len() < 8 * 1024, "{text}");
}

/// The c_abba dump with `extra` frames of a recursion in the middle of thread 2's stack,
/// between its lock call and its entry point.
fn abba_with_a_deep_thread(extra: usize) -> String {
    let dump = String::from_utf8(gdb_fixture("c_abba.owners.txt")).unwrap();
    let mut out = String::new();
    let mut in_block = false;
    let mut done = false;
    for line in dump.lines() {
        if !done && line.starts_with("Thread 2 (") {
            in_block = true;
        } else if line.is_empty() && in_block {
            in_block = false;
            done = true;
        }
        let frame = line
            .strip_prefix('#')
            .and_then(|l| l.split_once("  "))
            .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)));
        match frame {
            Some((n, rest)) if in_block && n >= 5 => {
                if n == 5 {
                    for k in 0..extra {
                        let _ = writeln!(
                            out,
                            "#{}  0x00005649a9dfc4{:02x} in descend (depth={k}) at c_abba.c:60",
                            5 + k,
                            k % 256
                        );
                    }
                }
                let _ = writeln!(out, "#{}  {rest}", n + extra);
            }
            _ => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

#[test]
fn a_10000_frame_stack_keeps_its_innermost_and_outermost_frames() {
    let dump = abba_with_a_deep_thread(10_000);
    let file = Scratch::new("deep.txt");
    fs::write(&file.0, &dump).unwrap();
    let (report, status) = json_report(&["parse", file.path()], None);
    // The wait is in the innermost frames: the deadlock is still proven.
    assert_eq!(status, Some(1));
    assert_eq!(report["reports"][0]["verdict"], "deadlock");
    let deep = &report["reports"][0]["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "order-intake")
        .unwrap()["frames"];
    let frames = deep.as_array().unwrap();
    assert_eq!(frames.len(), MAX_FRAMES);
    let named = |i: usize| frames[i]["function"].as_str().unwrap_or("??").to_string();
    assert_eq!(named(3), "___pthread_mutex_lock");
    assert_eq!(named(4), "place_order");
    // The outermost frames keep their role and the numbers the dump gave them.
    assert_eq!(named(MAX_FRAMES - 3), "order_intake_main");
    assert_eq!(named(MAX_FRAMES - 1), "clone3");
    assert_eq!(frames[MAX_FRAMES - 1]["index"], 10_007);
    let said = diagnostics(&report);
    assert!(
        said.iter().any(|d| d.starts_with(&format!(
            "1 thread(s) deeper than {MAX_FRAMES} frames: only the innermost 256 and the \
             outermost 256 frames of each are analysed"
        )) && d.ends_with("LWP 18618 \"order-intake\" (10008 frames)")),
        "{said:?}"
    );
}

#[test]
fn a_finding_of_many_threads_shows_a_bounded_number_of_steps() {
    // A thousand threads blocked on one lock that nobody holds: a stall with a step each.
    let mut dump = String::new();
    for n in (1..=1000).rev() {
        let _ = write!(
            dump,
            "\nThread {n} (Thread 0x7f{n:010x} (LWP {}) \"client-{n}\"):\n\
             #0  futex_wait (private=0, expected=2, futex_word=0x555555558040 <table_lock>) at ../sysdeps/nptl/futex-internal.h:146\n\
             #1  __GI___lll_lock_wait (futex=futex@entry=0x555555558040 <table_lock>, private=0) at ./nptl/lowlevellock.c:49\n\
             #2  0x00007ffff7e3a482 in ___pthread_mutex_lock (mutex=0x555555558040 <table_lock>) at ./nptl/pthread_mutex_lock.c:93\n\
             #3  0x0000555555555510 in update_row (row={n}) at table.c:40\n\
             #4  0x00007ffff7e331f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442\n",
            5000 + n
        );
    }
    let hidden = 1000 - MAX_STEPS_SHOWN;
    let more = format!("… and {hidden} more steps (every step is in the JSON report)");
    for format in ["text", "markdown", "junit"] {
        let o = hangscan(&["parse", "-", "--format", format], Some(dump.as_bytes()));
        assert_eq!(o.status.code(), Some(1), "{format}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(&more), "{format}: {out}");
        assert!(out.len() < 32 * 1024, "{format}: {} bytes", out.len());
    }
    // The threads of the steps shown stand alone, the others are grouped.
    let o = hangscan(&["parse", "-"], Some(dump.as_bytes()));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!(
            "  {hidden} × client-*: waits for mutex table_lock"
        )),
        "{text}"
    );
    // The JSON report keeps every step.
    let (report, _) = json_report(&["parse", "-"], Some(dump.as_bytes()));
    let steps = report["reports"][0]["findings"][0]["steps"]
        .as_array()
        .unwrap();
    assert_eq!(steps.len(), 1000);
}

#[test]
fn a_live_stack_10000_frames_deep_is_walked_to_the_limit_and_its_wait_found() {
    let p = support::HungProcess::start("c_deep_recursion");
    let (report, status) = json_report(&["attach", &p.pid.to_string()], None);
    assert_eq!(status, Some(1));
    assert_eq!(report["reports"][0]["verdict"], "deadlock");
    let walker = report["reports"][0]["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "deep-walker")
        .unwrap();
    let frames = walker["frames"].as_array().unwrap();
    assert_eq!(frames.len(), MAX_FRAMES);
    assert_eq!(walker["unwind_stop"], "frame-limit");
    assert!(frames[..4]
        .iter()
        .any(|f| f["function"] == "pthread_mutex_lock"));
    assert!(frames[4..].iter().all(|f| f["function"] == "descend"));
    let said = diagnostics(&report);
    assert!(
        said.iter().any(|d| d.starts_with(&format!(
            "1 thread(s) deeper than {MAX_FRAMES} frames: only the innermost {MAX_FRAMES} were \
             walked, the outer ones are not known: LWP "
        ))),
        "{said:?}"
    );
}

#[test]
fn endless_unwinding_info_on_a_live_process_ends_each_walk_with_its_reason() {
    let p = support::HungProcess::start("c_bad_cfi");
    let (report, status) = json_report(&["attach", &p.pid.to_string()], None);
    assert_eq!(status, Some(0), "{report}");
    let threads = report["reports"][0]["threads"].as_array().unwrap();
    // (thread, its last frames: from park() to where the bad CFI ends the walk, why it ends,
    // in words and as a kind)
    let cases = [
        (
            "expr-loop",
            &["park", "loop_cfa"][..],
            "CFI expression runs past 1000 operations (a loop?)",
            "no-caller",
        ),
        (
            "cfa-stuck",
            &["park", "stuck_cfa"][..],
            "does not increase",
            "cfa-not-increasing",
        ),
        (
            "fp-loop",
            &["park", "fp_loop", "fp_loop_main"][..],
            "does not increase",
            "cfa-not-increasing",
        ),
    ];
    for (name, frames, reason, stop) in cases {
        let t = threads.iter().find(|t| t["name"] == name).unwrap();
        let found: Vec<&str> = t["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["function"].as_str().unwrap_or("??"))
            .collect();
        // Above park(): libc's pause, however this libc names it.
        assert!(
            found.ends_with(frames) && found.len() <= frames.len() + 2,
            "{name}: {found:?}"
        );
        let why = t["unwind_error"].as_str().unwrap_or_default();
        assert!(why.contains(reason), "{name}: {why}");
        assert_eq!(t["unwind_stop"], stop, "{name}: {why}");
    }
    // fp_loop has no CFI: its callers were found by its frame pointer, and say so.
    let fp = threads.iter().find(|t| t["name"] == "fp-loop").unwrap();
    let trust: Vec<&str> = fp["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["trust"].as_str().unwrap_or("-"))
        .collect();
    assert!(trust.contains(&"frame-pointer"), "{trust:?}");
}

/// An x86-64 ELF core: `threads` `NT_PRSTATUS` notes whose stack pointers all point into one
/// small `PT_LOAD` segment, and nothing else.
fn core_with_threads(threads: usize) -> Vec<u8> {
    const STACK: u64 = 0x7ffd_0000_0000;
    const DESC: usize = 336;
    let mut notes = Vec::with_capacity(threads * (20 + DESC));
    for tid in 0..threads {
        notes.extend(5u32.to_le_bytes());
        notes.extend((DESC as u32).to_le_bytes());
        notes.extend(1u32.to_le_bytes()); // NT_PRSTATUS
        notes.extend(b"CORE\0\0\0\0");
        let mut desc = [0u8; DESC];
        desc[32..36].copy_from_slice(&(1000 + tid as u32).to_le_bytes());
        desc[112 + 16 * 8..112 + 17 * 8].copy_from_slice(&0x1000u64.to_le_bytes()); // rip
        desc[112 + 19 * 8..112 + 20 * 8].copy_from_slice(&(STACK + 0x80).to_le_bytes()); // rsp
        notes.extend(desc);
    }
    let stack = [0u8; 0x100];
    let (notes_at, stack_at) = (64 + 2 * 56, 64 + 2 * 56 + notes.len());
    let mut f = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    f.extend(4u16.to_le_bytes()); // ET_CORE
    f.extend(62u16.to_le_bytes()); // EM_X86_64
    f.extend(1u32.to_le_bytes());
    f.extend([0u64, 64, 0].iter().flat_map(|v| v.to_le_bytes()));
    f.extend(0u32.to_le_bytes());
    f.extend(
        [64u16, 56, 2, 64, 0, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes()),
    );
    let phdr = |kind: u32, flags: u32, off: usize, vaddr: u64, size: usize, align: u64| {
        let mut h = Vec::new();
        h.extend(kind.to_le_bytes());
        h.extend(flags.to_le_bytes());
        h.extend(
            [off as u64, vaddr, vaddr, size as u64, size as u64, align]
                .iter()
                .flat_map(|v| v.to_le_bytes()),
        );
        h
    };
    f.extend(phdr(4, 4, notes_at, 0, notes.len(), 4)); // PT_NOTE
    f.extend(phdr(1, 6, stack_at, STACK, stack.len(), 1)); // PT_LOAD
    f.extend(notes);
    f.extend(stack);
    f
}

#[test]
fn a_core_with_more_thread_notes_than_the_limit_reads_the_first() {
    let file = Scratch::new("core");
    fs::write(&file.0, core_with_threads(MAX_THREADS + 10)).unwrap();
    let opts = hangscan::corefile::CoreOptions {
        stack_bytes: 64 * 1024,
        ..Default::default()
    };
    let image = hangscan::corefile::read_core(&file.0, &opts).unwrap();
    assert_eq!(image.threads.len(), MAX_THREADS);
    assert_eq!(
        image.threads[MAX_THREADS - 1].tid,
        1000 + MAX_THREADS as u64 - 1
    );
    let said: Vec<&str> = image
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        said.contains(
            &format!(
                "{MAX_THREADS} threads shown, 10 more not analysed (the limit is {MAX_THREADS} \
             threads a snapshot)"
            )
            .as_str()
        ),
        "{said:?}"
    );
    // 100 000 threads share the stack bytes copied; each stack here is smaller anyway.
    let share = MAX_STACK_BYTES as usize / MAX_THREADS;
    assert!(
        said.iter().any(|d| d.starts_with(&format!(
            "{MAX_THREADS} threads: 5.2 KiB of stack copied for each instead of 64 KiB (the \
             limit is 512 MiB for all)"
        ))),
        "{said:?}"
    );
    assert!(image
        .threads
        .iter()
        .all(|t| t.stack.as_ref().is_some_and(|s| s.bytes.len() <= share)));
}

/// hangscan `args` with its address space limited to `mib` MiB: (exit code, stderr).
fn hangscan_within(mib: u64, args: &[&str]) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit {
        rlim_cur: mib << 20,
        rlim_max: mib << 20,
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangscan"));
    command.args(args).stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(move || match libc::setrlimit(libc::RLIMIT_AS, &limit) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let o = command.output().expect("run hangscan");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Out of memory is a message and exit 2, never an abort or a panic, at whatever point memory
/// runs out: attaching (the target is then left running, not stopped, not traced) and parsing.
#[test]
fn out_of_memory_is_a_message_and_exit_2_and_the_target_is_untouched() {
    let p = support::HungProcess::start("c_abba");
    let pid = p.pid.to_string();
    let threads = fs::read_dir(format!("/proc/{pid}/task")).unwrap().count();
    // Below some limit the binary cannot even be loaded (the kernel or the loader gives up
    // before hangscan runs): start where `--version` runs.
    let floor = (4..512)
        .step_by(4)
        .find(|&mib| hangscan_within(mib, &["--version"]).0 == Some(0))
        .expect("hangscan runs within 512 MiB");
    let mut ran_out = 0;
    for mib in (floor..floor + 120).step_by(12) {
        let (code, err) = hangscan_within(mib, &["attach", &pid]);
        assert!(
            matches!(code, Some(1 | 2)) && !err.contains("panicked"),
            "{mib} MiB: exit {code:?}\n{err}"
        );
        if code == Some(2) {
            assert!(err.contains("out of memory"), "{mib} MiB: {err}");
            ran_out += 1;
        }
        assert!(support::stopped_threads(p.pid).is_empty(), "{mib} MiB");
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(status.contains("TracerPid:\t0\n"), "{mib} MiB: {status}");
        let now = fs::read_dir(format!("/proc/{pid}/task")).unwrap().count();
        assert_eq!(now, threads, "{mib} MiB");
    }
    assert!(ran_out > 0, "no limit was tight enough to run out");
    let dump = Scratch::new("oom.txt");
    let mut text = String::new();
    for t in 1..=20_000 {
        let _ = write!(text, "\nThread {t} (LWP {t}):\n");
        for i in 0..6 {
            let _ = writeln!(text, "#{i}  0x{i:016x} in work_{i}_{t} (n={t}) at f.c:{i}");
        }
    }
    fs::write(&dump.0, text).unwrap();
    let (code, err) = hangscan_within(floor + 8, &["parse", dump.0.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("hangscan: out of memory") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn a_big_dump_file_is_read_as_its_bytes_piped() {
    // A 10 MiB `bt full` transcript is read in pieces on every core, and a mapped file's
    // pieces leave memory once read; it must say the same as the same bytes piped in (read
    // whole into memory). Thread 1 is selected with a command in the last copy, so a late
    // piece leans on it and the file is read again whole, after its pages were let go.
    let mut dump = Vec::new();
    let one = gdb_fixture("cpp_pool_starvation.btfull.txt");
    for copy in 0.. {
        if dump.len() > 10 << 20 {
            break;
        }
        // Each copy's threads are new threads of the one process: new LWPs and new gdb
        // numbers (a number given to another LWP would start another process's dump).
        // Numbered from 1: the leaning dump's last copy keeps the fixture's own numbers.
        let renumbered =
            String::from_utf8_lossy(&one).replace("(LWP ", &format!("(LWP {}", copy + 1));
        for line in renumbered.lines() {
            let numbered = line.strip_prefix("Thread ").and_then(|rest| {
                let (n, tail) = rest.split_once(' ')?;
                Some(format!(
                    "Thread {} {tail}",
                    (copy + 1) * 1000 + n.parse::<usize>().ok()?
                ))
            });
            dump.extend_from_slice(numbered.as_deref().unwrap_or(line).as_bytes());
            dump.push(b'\n');
        }
        dump.push(b'\n');
    }
    for leaning in [false, true] {
        if leaning {
            dump.extend_from_slice(b"(gdb) thread 1\n");
            dump.extend_from_slice(&one);
        }
        let file = Scratch::new("big.txt");
        fs::write(&file.0, &dump).unwrap();
        let (mapped, status) = json_report(&["parse", file.path()], None);
        let (piped, piped_status) = json_report(&["parse", "-"], Some(&dump));
        assert_eq!(status, piped_status);
        let strip = |mut v: serde_json::Value| {
            for report in v["reports"].as_array_mut().into_iter().flatten() {
                report["source"]["origin"] = serde_json::Value::Null;
            }
            v
        };
        assert!(thread_count(&mapped) > 600, "{leaning}");
        assert_eq!(strip(mapped), strip(piped), "{leaning}");
    }
}
