//! Unwinding and symbolizing real programs from a copy of their registers and stacks (the way
//! live capture hands them over), checked against real gdb on the same hung process: the same
//! return addresses, the same functions from the program's own source, the signal frame in the
//! same place; also with the program stripped and built without frame pointers.

mod support;

use hangscan::analyze::{analyze, FindingKind};
use hangscan::dump::parse_dump;
use hangscan::knowledge::{base_name, KnowledgeBase};
use hangscan::model::StopReason;
use hangscan::model::{Frame, Snapshot, Thread};
use hangscan::symbolize::{Symbolizer, SIGNAL_FRAME};
use hangscan::unwind::{AddressSpace, MemoryRegion, Regs, Unwinder};
use std::path::{Path, PathBuf};
use std::time::Instant;
use support::{Build, HungProcess, Started};

const MAX_FRAMES: usize = 256;

/// hangscan's own capture, reduced to what these tests compare: registers and stack per thread.
mod capture {
    use hangscan::capture::{address_space, capture as capture_process, CaptureOptions};
    use hangscan::unwind::{AddressSpace, MemoryRegion, Regs};

    /// One stopped thread.
    pub struct Stopped {
        pub tid: u64,
        pub regs: Regs,
        pub stack: MemoryRegion,
    }

    /// Every thread of `pid`, and its address space.
    pub fn capture(pid: u32) -> (AddressSpace, Vec<Stopped>) {
        let opts = CaptureOptions {
            samples: 1,
            ..CaptureOptions::default()
        };
        let image = capture_process(pid, &opts, address_space(pid))
            .expect("capture")
            .image;
        let threads = image
            .threads
            .into_iter()
            .map(|t| Stopped {
                tid: t.tid,
                regs: t.regs.expect("registers"),
                stack: t.stack.expect("stack"),
            })
            .collect();
        (image.space, threads)
    }
}

/// One thread as unwound and symbolized here.
struct Ours {
    tid: u64,
    pcs: Vec<u64>,
    frames: Vec<Frame>,
    reason: Option<String>,
}

fn unwind_all(pid: u32) -> Vec<Ours> {
    let (space, threads) = capture::capture(pid);
    let unwinder = Unwinder::new();
    let symbolizer = Symbolizer::new();
    let raw: Vec<_> = threads
        .iter()
        .map(|t| unwinder.unwind(&t.regs, &t.stack, &space, MAX_FRAMES))
        .collect();
    let stacks: Vec<_> = raw.iter().map(|(frames, _)| frames.clone()).collect();
    let symbolized = symbolizer.symbolize_many(&space, &stacks);
    threads
        .iter()
        .zip(raw)
        .zip(symbolized)
        .map(|((t, (frames, reason)), symbolized)| Ours {
            tid: t.tid,
            pcs: frames.iter().map(|f| f.pc).collect(),
            frames: symbolized,
            reason: reason.map(|e| e.detail),
        })
        .collect()
}

fn render(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| {
            format!(
                "#{:<3} {:#x} {}{} at {}:{} [{}]\n",
                f.index.unwrap_or(0),
                f.address.unwrap_or(0),
                f.function.as_deref().unwrap_or("??"),
                if f.inlined { " (inlined)" } else { "" },
                f.file.as_deref().unwrap_or("?"),
                f.line.unwrap_or(0),
                f.module.as_deref().unwrap_or("?")
            )
        })
        .collect()
}

/// gdb and hangscan name Rust closures differently (`{closure#0}`, `{{closure}}`).
fn normalize(function: &str) -> String {
    let mut s = base_name(function).replace("{{closure}}", "{closure}");
    while let Some(at) = s.find("{closure#") {
        let Some(len) = s[at..].find('}') else { break };
        s.replace_range(at..at + len + 1, "{closure}");
    }
    s
}

/// The frames from the fixture's own source file, and signal markers, as names.
fn own_frames(frames: &[Frame], source: &str) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| {
            if f.signal_frame {
                return Some(SIGNAL_FRAME.to_string());
            }
            let file = Path::new(f.file.as_deref()?).file_name()?;
            (file == source).then(|| normalize(f.function.as_deref().unwrap_or("??")))
        })
        .collect()
}

fn source_of(program: &str) -> String {
    ["c", "cpp", "rs"]
        .iter()
        .map(|ext| format!("{program}.{ext}"))
        .find(|f| support::programs_dir().join(f).is_file())
        .expect("fixture source")
}

fn gdb_threads(pid: u32) -> Vec<Thread> {
    let text = support::gdb_dump(pid, false);
    let snapshot = parse_dump(text.as_bytes(), "gdb", None).expect("gdb output parses");
    assert!(
        !snapshot.threads.is_empty(),
        "no threads in gdb output:\n{text}"
    );
    snapshot.threads
}

fn function_names(frames: &[Frame]) -> Vec<&str> {
    frames
        .iter()
        .filter_map(|f| f.function.as_deref())
        .collect()
}

/// Unwinds every thread of `program` built `build` and checks it against gdb: the return
/// addresses gdb prints are ours (ours may go on past `main`), the functions of the program's
/// own source are the same (when it has debug info), threads end in `start_thread`/`clone3`.
fn check_against_gdb(program: &str, build: Build) -> Vec<Ours> {
    if !support::require("gdb") {
        return vec![];
    }
    let process = HungProcess::start_as(program, build);
    check_process(
        process.pid,
        program,
        build != Build::Stripped,
        &format!("{build:?}"),
    )
}

/// [`check_against_gdb`] on a running process of `program`; names are compared when `named`.
fn check_process(pid: u32, program: &str, named: bool, label: &str) -> Vec<Ours> {
    let ours = unwind_all(pid);
    let gdb = gdb_threads(pid);
    let source = source_of(program);
    assert_eq!(ours.len(), gdb.len(), "thread count");
    for thread in &gdb {
        let mine = ours
            .iter()
            .find(|o| Some(o.tid) == thread.tid)
            .unwrap_or_else(|| panic!("gdb's thread {:?} was not captured", thread.tid));
        let context = format!(
            "{program} ({label}) thread {}: stopped because {:?}\nours:\n{}",
            mine.tid,
            mine.reason,
            render(&mine.frames)
        );
        // gdb prints the pc of every frame but (sometimes) the innermost, and stops at main.
        // It also shows tail callers that left no frame (from DWARF call-site information, at
        // the address after their `jmp`): those are the only pcs gdb may have and we not.
        let gdb_pcs: Vec<u64> = thread.frames.iter().filter_map(|f| f.address).collect();
        let ours_pcs = if gdb_pcs.first() == mine.pcs.first() {
            &mine.pcs[..]
        } else {
            &mine.pcs[1..]
        };
        let shared: Vec<u64> = gdb_pcs
            .iter()
            .copied()
            .filter(|pc| ours_pcs.contains(pc))
            .collect();
        let tail_calls = gdb_pcs.len() - shared.len();
        assert!(
            ours_pcs.len() >= shared.len()
                && ours_pcs[..shared.len()] == shared[..]
                && tail_calls <= 2,
            "{context}\nreturn addresses differ from gdb's: {gdb_pcs:x?}"
        );
        if named {
            assert_eq!(
                own_frames(&mine.frames, &source),
                own_frames(&thread.frames, &source),
                "{context}"
            );
        }
        assert_eq!(mine.reason, None, "{context}");
        if mine.tid == u64::from(pid) {
            continue; // the main thread ends in __libc_start_main and _start
        }
        let names = function_names(&mine.frames);
        // `clone3` in DWARF, `__clone3` in the symbol table.
        let last = names
            .iter()
            .rev()
            .take(2)
            .map(|n| n.trim_start_matches('_'))
            .collect::<Vec<_>>();
        assert_eq!(last, ["clone3", "start_thread"], "{context}");
    }
    ours
}

#[test]
fn c_abba_matches_gdb() {
    check_against_gdb("c_abba", Build::Debug);
}

#[test]
fn cpp_abba_matches_gdb() {
    check_against_gdb("cpp_abba", Build::Debug);
}

#[test]
fn rust_abba_matches_gdb() {
    check_against_gdb("rust_abba", Build::Debug);
}

#[test]
fn signal_frame_matches_gdb() {
    let ours = check_against_gdb("cpp_signal_self_join", Build::Debug);
    if ours.is_empty() {
        return;
    }
    let source = source_of("cpp_signal_self_join");
    let signalled = ours
        .iter()
        .map(|o| own_frames(&o.frames, &source))
        .find(|f| f.iter().any(|n| n == SIGNAL_FRAME))
        .expect("a thread with a signal frame");
    let at = signalled.iter().position(|n| n == SIGNAL_FRAME).unwrap();
    assert!(
        signalled[..at].contains(&"handle_sigterm".to_string()),
        "{signalled:?}"
    );
    assert_eq!(
        signalled[at + 1..].first().map(String::as_str),
        Some("Connection::read_request[abi:cxx11]"),
        "{signalled:?}"
    );
    assert!(
        signalled[at + 1..].contains(&"WorkerPool::worker_loop".to_string()),
        "{signalled:?}"
    );

    // The analysis reads these stacks like gdb's: the self-join through the signal handler.
    let snapshot = Snapshot {
        producer: "test".into(),
        complete: true,
        threads: ours
            .iter()
            .map(|o| Thread {
                tid: Some(o.tid),
                frames: o.frames.clone(),
                ..Thread::default()
            })
            .collect(),
        ..Snapshot::default()
    };
    let analysis = analyze(&snapshot, &KnowledgeBase::builtin());
    assert!(
        analysis
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::SelfJoin),
        "{:?}",
        analysis.findings
    );
}

#[test]
fn stripped_program_unwinds_through_libc() {
    let ours = check_against_gdb("c_abba", Build::Stripped);
    // The program's own frames have no names left (a PIE exports none) but are still there.
    for o in &ours {
        assert!(o
            .frames
            .iter()
            .any(|f| f.function.is_none() && f.address.is_some()));
    }
}

#[test]
fn no_frame_pointers_c() {
    check_against_gdb("c_abba", Build::NoFramePointer);
}

#[test]
fn no_frame_pointers_cpp() {
    check_against_gdb("cpp_signal_self_join", Build::NoFramePointer);
}

#[test]
fn no_frame_pointers_rust() {
    check_against_gdb("rust_abba", Build::NoFramePointer);
}

/// Times unwinding and symbolizing every thread of a 1000-thread process from one copy, cold
/// (nothing loaded) and warm. Run with `--ignored --nocapture`, best in release.
#[test]
#[ignore]
fn timing_1000_threads() {
    let pulse = support::Driven::start("c_pulse", &["1000", "idle"]);
    let t = Instant::now();
    let (space, threads) = capture::capture(pulse.pid);
    let captured = t.elapsed();
    let run = |label: &str, unwinder: &Unwinder, symbolizer: &Symbolizer| {
        let t = Instant::now();
        let stacks: Vec<_> = {
            use rayon::prelude::*;
            threads
                .par_iter()
                .map(|t| unwinder.unwind(&t.regs, &t.stack, &space, MAX_FRAMES))
                .collect()
        };
        let mut reasons: Vec<&str> = stacks
            .iter()
            .filter_map(|s| s.1.as_ref().map(|e| e.detail.as_str()))
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        eprintln!("{label}: stopped early: {reasons:?}");
        let stacks: Vec<Vec<_>> = stacks.into_iter().map(|s| s.0).collect();
        let unwound = t.elapsed();
        let symbolized = symbolizer.symbolize_many(&space, &stacks);
        let frames: usize = symbolized.iter().map(Vec::len).sum();
        eprintln!(
            "{label}: {} threads, {frames} frames: unwind {unwound:?}, unwind+symbolize {:?}",
            threads.len(),
            t.elapsed()
        );
    };
    eprintln!("capture (test helper, serial): {captured:?}");
    let (unwinder, symbolizer) = (Unwinder::new(), Symbolizer::new());
    run("cold", &unwinder, &symbolizer);
    run("warm", &unwinder, &symbolizer);
}

/// Builds `fixtures/programs/NAME.c` with `flags` in a scratch directory of its own. With `split`,
/// its DWARF (CFI in `.debug_frame` included) and symbols move to `.debug/NAME.debug`, named by
/// `.gnu_debuglink` from the stripped program. Returns the directory and the program.
fn build_c(name: &str, flags: &[&str], split: bool, tag: &str) -> (PathBuf, PathBuf) {
    use std::process::Command;
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".debug")).expect("scratch directory");
    let exe = dir.join(name);
    let status = Command::new("gcc")
        .current_dir(support::programs_dir())
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(format!("{name}.c"))
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc {flags:?} {name}.c");
    if split {
        let debug = dir.join(".debug").join(format!("{name}.debug"));
        let link = format!("--add-gnu-debuglink={}", debug.display());
        let (exe_s, debug_s) = (exe.to_str().unwrap(), debug.to_str().unwrap());
        for args in [
            vec!["--only-keep-debug", exe_s, debug_s],
            vec!["--strip-all", exe_s],
            vec![link.as_str(), exe_s],
        ] {
            let status = Command::new("objcopy")
                .args(&args)
                .status()
                .expect("run objcopy");
            assert!(status.success(), "objcopy {args:?}");
        }
    }
    (dir, exe)
}

/// Runs c_abba built by [`build_c`] and checks it against gdb, names included.
fn check_c_abba_built(flags: &[&str], split: bool, tag: &str) {
    if !support::require("gdb") {
        return;
    }
    let (dir, exe) = build_c("c_abba", flags, split, tag);
    let process = Started::start(&exe, &[]);
    let ours = check_process(process.pid(), "c_abba", true, tag);
    drop(process);
    let _ = std::fs::remove_dir_all(&dir);
    let names: Vec<&str> = ours
        .iter()
        .flat_map(|o| function_names(&o.frames))
        .collect();
    assert!(names.contains(&"order_intake_main"), "{names:?}");
}

/// CFI only in `.debug_frame` for the program's own code (no `.eh_frame` entries for it, no
/// frame pointers).
const DEBUG_FRAME_FLAGS: &[&str] = &[
    "-g",
    "-O2",
    "-fomit-frame-pointer",
    "-fno-asynchronous-unwind-tables",
    "-pthread",
];

/// A stripped program whose DWARF and symbols are in a separate file named by
/// `.gnu_debuglink`, in the `.debug/` directory beside it.
#[test]
fn debuglink_restores_names() {
    check_c_abba_built(&["-g", "-O0", "-pthread"], true, "debuglink");
}

#[test]
fn debug_frame_in_the_program() {
    check_c_abba_built(DEBUG_FRAME_FLAGS, false, "debug_frame");
}

/// The program's CFI is only in its separate debug file.
#[test]
fn debug_frame_in_a_separate_debug_file() {
    check_c_abba_built(DEBUG_FRAME_FLAGS, true, "debug_frame-split");
}

/// The vdso's CFI and symbols come from its copied bytes: a thread just entering
/// `clock_gettime` in the vdso unwinds to its caller by CFI.
#[test]
fn unwinds_out_of_the_vdso() {
    use object::{Object, ObjectSegment, ObjectSymbol};
    let process = HungProcess::start("c_abba");
    let (space, threads) = capture::capture(process.pid);
    let Some(vdso) = space.vdso.clone() else {
        return support::skip("no vdso mapped in the target");
    };
    let file = object::File::parse(&*vdso.bytes).expect("the vdso is an ELF object");
    let linked_at = file.segments().next().map_or(0, |s| s.address());
    let entry = file
        .dynamic_symbols()
        .find(|s| s.name().is_ok_and(|n| n.contains("clock_gettime")) && s.address() != 0)
        .expect("clock_gettime in the vdso")
        .address();
    // On entry the return address is at rsp: make it the pc of a real frame in libc.
    let thread = &threads[0];
    let caller = thread.regs.rip;
    let mut stack = thread.stack.clone();
    let at = (thread.regs.rsp - stack.start) as usize;
    stack.bytes[at..at + 8].copy_from_slice(&caller.to_le_bytes());
    let regs = Regs {
        rip: vdso.start + entry - linked_at,
        ..thread.regs
    };
    let (frames, _) = Unwinder::new().unwind(&regs, &stack, &space, 8);
    assert!(frames.len() >= 2, "{frames:x?}");
    assert_eq!(frames[1].pc, caller);
    assert_eq!(frames[1].method, hangscan::model::FrameTrust::Cfi);
    let symbolized = Symbolizer::new().symbolize(&space, &frames[..1]);
    assert_eq!(symbolized[0].module.as_deref(), Some("[vdso]"));
    assert!(
        symbolized[0]
            .function
            .as_deref()
            .is_some_and(|f| f.contains("clock_gettime")),
        "{}",
        render(&symbolized)
    );
}

/// A copy that does not match the objects at all: garbage everywhere, a short stack and a reason.
#[test]
fn garbage_registers_against_a_real_address_space() {
    let process = HungProcess::start("c_abba");
    let (space, threads) = capture::capture(process.pid);
    let unwinder = Unwinder::new();
    let symbolizer = Symbolizer::new();
    let stack = &threads[0].stack;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let object = &space.objects[(seed >> 33) as usize % space.objects.len()];
        let regs = Regs {
            rip: object.start + (seed >> 20) % (object.end - object.start).max(1),
            rsp: stack.start + (seed >> 40) % 4096,
            rbp: stack.start + (seed >> 12) % 8192,
            ..Regs::default()
        };
        let mut bytes = stack.bytes.clone();
        for (i, b) in bytes.iter_mut().enumerate().take(4096) {
            *b ^= (seed >> (i % 57)) as u8;
        }
        let mem = MemoryRegion {
            start: stack.start,
            bytes,
        };
        let (frames, reason) = unwinder.unwind(&regs, &mem, &space, 64);
        assert!(frames.len() <= 64);
        assert!(!reason.is_some_and(|r| r.reason == StopReason::Internal));
        let symbolized = symbolizer.symbolize(&space, &frames);
        assert!(symbolized.len() >= frames.len());
    }
    let empty = AddressSpace::default();
    let (frames, reason) = unwinder.unwind(&threads[0].regs, &threads[0].stack, &empty, 64);
    assert_eq!(frames.len(), 1);
    assert!(reason
        .unwrap()
        .detail
        .contains("outside every mapped object"));
}
