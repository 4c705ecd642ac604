//! What every fuzz target runs, by name ([`TARGETS`], [`run`]). The file is also included by
//! `tests/fuzz_regressions.rs`, so a kept crasher replays through exactly the target's code.
//!
//! An input is parsed (a dump, a saved snapshot or report, a core file, an object file with
//! registers and a stack) and analysed; except for the targets of single parsers (whose time
//! goes to their parser), it then goes the rest of the offline way in [`pipeline`]: rendered in
//! every report format and saved as a snapshot. Besides "no panic, no hang", the checks are the
//! ones the project promises: a dump read as nothing says why, JSON and SARIF output is JSON,
//! JUnit output is XML, a JSON report reads back as a bucketable report, and a snapshot saved
//! and read back is the same snapshot.

use hangscan::analyze::{analyze, Analysis};
use hangscan::corefile::{read_core_bytes, CoreOptions};
use hangscan::dump::{parse_dump, snapshot_json, sniff, DumpFormat};
use hangscan::knowledge::KnowledgeBase;
use hangscan::model::{KernelInfo, KernelState, Snapshot};
use hangscan::report::{self, Format, Report};
use hangscan::stackwalk::{ImageThread, ProcessImage, Stackwalker, VarRequest};
use hangscan::unwind::{AddressSpace, MappedObject, MemoryRegion, Regs};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// What an input came to: what was read, analysed and rendered, or why it was refused (not a
/// dump of a known format, not a core, ...).
pub type Outcome = Result<Summary, String>;

/// What was read from an input (read by the regression test, not by the fuzz targets).
#[allow(dead_code)]
#[derive(Debug, Default)]
pub struct Summary {
    /// Threads read (buckets: none).
    pub threads: usize,
    /// Frames read, in all threads.
    pub frames: usize,
    /// Findings of the analysis (buckets: the buckets).
    pub findings: usize,
    /// The snapshot's diagnostics, and each thread's reason its stack ends early.
    pub notes: Vec<String>,
}

/// What a target does with an input.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target: its name (the `[[bin]]` in `fuzz/Cargo.toml`, the directory of its kept
/// inputs under `tests/fuzz_regressions/`) and what it does with an input.
pub const TARGETS: &[(&str, Target)] = &[
    ("dump_gdb", |d| parsed(d, "gdb")),
    ("dump_lldb", |d| parsed(d, "lldb")),
    ("dump_eu_stack", |d| parsed(d, "eu-stack")),
    ("dump_pstack", |d| parsed(d, "pstack")),
    ("dump_jstack", |d| parsed(d, "jstack")),
    ("dump_go", |d| parsed(d, "go")),
    ("dump_rust", |d| parsed(d, "rust")),
    ("dump_message", |d| parsed(d, "message")),
    ("dump_faulthandler", |d| parsed(d, "faulthandler")),
    ("dump_py_spy", |d| parsed(d, "py-spy")),
    ("snapshot_json", |d| {
        dump(d, Some("snapshot")).map(|s| pipeline(&s))
    }),
    ("dump_sniffed", |d| dump(d, None).map(|s| pipeline(&s))),
    ("report_buckets", buckets),
    ("unwind_symbolize", unwind_symbolize),
    ("corefile", corefile),
];

/// Runs the target called `name` on `data`.
pub fn run(name: &str, data: &[u8]) -> Outcome {
    let (_, target) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target `{name}`"));
    target(data)
}

fn rules() -> &'static KnowledgeBase {
    static RULES: OnceLock<KnowledgeBase> = OnceLock::new();
    RULES.get_or_init(KnowledgeBase::builtin)
}

/// A dump read as `format` (a `--input-format` name), or sniffed when `None`.
fn dump(data: &[u8], format: Option<&str>) -> Result<Snapshot, String> {
    let snapshot = parse_dump(data, "fuzz-input", format).map_err(|e| e.to_string())?;
    // A text dump read as nothing says why (a saved snapshot may hold no thread).
    let saved = format.or_else(|| sniff(data).map(|f| f.name())) == Some("snapshot");
    if !saved && snapshot.threads.is_empty() {
        assert!(
            !snapshot.diagnostics.is_empty() || !snapshot.claims.is_empty(),
            "no thread read, and no diagnostic saying why"
        );
    }
    Ok(snapshot)
}

/// A dump read by the parser called `format`, and analysed: the targets of single parsers stop
/// there (rendering would take most of their time).
fn parsed(data: &[u8], format: &str) -> Outcome {
    let snapshot = dump(data, Some(format))?;
    Ok(summarize(&snapshot, &analyze(&snapshot, rules())))
}

/// Saved JSON reports (`parse` over reports buckets them): read, grouped, rendered.
fn buckets(data: &[u8]) -> Outcome {
    let seen = hangscan::buckets::read(data, "fuzz-input").map_err(|e| e.to_string())?;
    let grouped = hangscan::buckets::group(seen);
    for json in [false, true] {
        let mut out = Vec::new();
        report::render_buckets(&grouped, 1, json, &mut out).expect("rendering to memory");
        if json {
            assert_json(&out, "buckets");
        }
    }
    Ok(Summary {
        findings: grouped.len(),
        ..Summary::default()
    })
}

/// Analysis and every renderer over `snapshot`, with the checks of the module comment.
fn pipeline(snapshot: &Snapshot) -> Summary {
    let analysis = analyze(snapshot, rules());
    let reports = [Report {
        snapshot,
        analysis: &analysis,
    }];
    let formats = [
        Format::Text,
        Format::Json,
        Format::Dot,
        Format::Markdown,
        Format::Sarif,
        Format::Junit,
    ];
    for format in formats {
        let mut out = Vec::new();
        report::render(&reports, format, false, &mut out).expect("rendering to memory");
        match format {
            Format::Json => {
                assert_json(&out, "the JSON report");
                let seen = hangscan::buckets::read(&out, "report.json")
                    .expect("a JSON report reads back as one");
                assert_eq!(seen.len(), analysis.findings.len());
            }
            Format::Sarif => assert_json(&out, "the SARIF report"),
            Format::Junit => {
                let text = std::str::from_utf8(&out).expect("JUnit output is UTF-8");
                if let Err(e) = roxmltree::Document::parse(text) {
                    panic!("the JUnit report is not XML: {e}\n{text}");
                }
            }
            Format::Text | Format::Dot | Format::Markdown => {}
        }
    }
    let mut colored = Vec::new();
    report::render(&reports, Format::Text, true, &mut colored).expect("rendering to memory");
    let saved = snapshot_json::to_json(snapshot);
    let back = snapshot_json::SnapshotJson.parse(saved.as_bytes(), &snapshot.origin);
    assert_eq!(&back, snapshot, "a saved snapshot reads back unchanged");
    summarize(snapshot, &analysis)
}

/// What was read and found.
fn summarize(snapshot: &Snapshot, analysis: &Analysis) -> Summary {
    let unwind_errors = snapshot
        .threads
        .iter()
        .filter_map(|t| t.unwind_error.clone());
    Summary {
        threads: snapshot.threads.len(),
        frames: snapshot.threads.iter().map(|t| t.frames.len()).sum(),
        findings: analysis.findings.len(),
        notes: (snapshot.diagnostics.iter().map(|d| d.message.clone()))
            .chain(unwind_errors)
            .collect(),
    }
}

fn assert_json(out: &[u8], what: &str) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(out) {
        panic!("{what} is not JSON: {e}\n{}", String::from_utf8_lossy(out));
    }
}

/// The fixed-size head of an `unwind_symbolize` input; object bytes and then the stack's
/// follow it. All numbers little-endian:
///
/// | offset | size | what |
/// |---|---|---|
/// | 0 | 17 × 8 | the registers, in the order of `unwind::Regs`' fields (rax ... r15, rip) |
/// | 136 | 8 | where the object is mapped (`MappedObject::start`) |
/// | 144 | 8 | the file offset mapped there (`MappedObject::offset`) |
/// | 152 | 8 | the address of the stack's first byte |
/// | 160 | 4 | the object's length (what is left if less) |
/// | 164 | 1 | bit 0: the object is a file (its DWARF read by addr2line), else copied bytes
///   (read as the vdso is: CFI and the symbol table) |
pub const UNWIND_HEAD: usize = 165;

/// Registers + one object + a stack: unwound, symbolized, then the pipeline.
fn unwind_symbolize(data: &[u8]) -> Outcome {
    let head = data
        .get(..UNWIND_HEAD)
        .ok_or("shorter than the fixed head")?;
    let word = |i: usize| u64::from_le_bytes(head[i * 8..i * 8 + 8].try_into().unwrap());
    let r: [u64; 17] = std::array::from_fn(word);
    let regs = Regs {
        rax: r[0],
        rbx: r[1],
        rcx: r[2],
        rdx: r[3],
        rsi: r[4],
        rdi: r[5],
        rbp: r[6],
        rsp: r[7],
        r8: r[8],
        r9: r[9],
        r10: r[10],
        r11: r[11],
        r12: r[12],
        r13: r[13],
        r14: r[14],
        r15: r[15],
        rip: r[16],
    };
    let (start, offset, stack_start) = (word(17), word(18), word(19));
    let len = u32::from_le_bytes(head[160..164].try_into().unwrap()) as usize;
    let is_file = head[164] & 1 != 0;
    let rest = &data[UNWIND_HEAD..];
    let (object, stack) = rest.split_at(len.min(rest.len()));
    let file = is_file.then(|| ScratchFile::write(object));
    let space = AddressSpace {
        objects: vec![MappedObject {
            start,
            end: start.saturating_add(object.len() as u64),
            offset,
            name: match &file {
                Some(f) => f.0.display().to_string(),
                None => "[vdso]".to_string(),
            },
            path: file.as_ref().map(|f| f.0.clone()),
            executable: true,
            inode: None,
        }],
        vdso: (!is_file).then(|| MemoryRegion {
            start,
            bytes: object.to_vec(),
        }),
        started: None,
    };
    let image = ProcessImage {
        pid: None,
        threads: vec![ImageThread {
            tid: 1,
            name: None,
            state: KernelState::Unknown,
            regs: Some(regs),
            no_regs: None,
            stack: Some(MemoryRegion {
                start: stack_start,
                bytes: stack.to_vec(),
            }),
            stack_cut: None,
            kernel: KernelInfo::default(),
        }],
        space,
        evidence: Vec::new(),
        frozen: None,
        all_threads: true,
        captured_in: Duration::ZERO,
        vanished: Vec::new(),
        diagnostics: Vec::new(),
        ns_tids: Default::default(),
        python: None,
        go: None,
    };
    // A new walker each time: its caches are keyed by path, and the scratch file's path is
    // the same for every input. Every variable is read too: the DWARF reader meets the input.
    let every_variable = VarRequest {
        all: true,
        ..VarRequest::default()
    };
    let snapshot = Stackwalker::new(false)
        .with_vars(every_variable)
        .to_snapshot(image, "fuzz", "fuzz-input".into());
    drop(file);
    Ok(pipeline(&snapshot))
}

/// A file holding an object for as long as it is walked, in a directory of its own per
/// process; both removed on drop.
struct ScratchFile(PathBuf);

impl ScratchFile {
    fn write(bytes: &[u8]) -> ScratchFile {
        let dir = std::env::temp_dir().join(format!("hangscan-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let path = dir.join("object");
        std::fs::write(&path, bytes).expect("a scratch file");
        ScratchFile(path)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A core file (its objects opened from disk, as `hangscan core` does without `--sysroot`):
/// read, unwound, symbolized, then the pipeline.
fn corefile(data: &[u8]) -> Outcome {
    // Objects on disk do not change between inputs: one walker keeps them loaded.
    static WALKER: OnceLock<Stackwalker> = OnceLock::new();
    let opts = CoreOptions {
        exe: None,
        sysroot: None,
        stack_bytes: 64 * 1024,
    };
    let image = read_core_bytes(data.to_vec(), "fuzz-input", &opts).map_err(|e| e.to_string())?;
    let walker = WALKER.get_or_init(|| Stackwalker::new(false));
    let snapshot = walker.to_snapshot(image, "core", "fuzz-input".into());
    Ok(pipeline(&snapshot))
}
