//! The real-world corpus (`fixtures/corpus/real/MANIFEST.toml`): every dump in a format
//! hangscan reads parses with the manifest's thread count and, where the text carries enough
//! to decide, gets the manifest's verdict. Enumerates the manifest, so a new corpus file is
//! tested without new code; prints the ones it cannot decide, with the reason.

use hangscan::analyze::{analyze, FindingKind, Severity, Verdict};
use hangscan::dump::{formats, parse_dump, sniff};
use hangscan::knowledge::KnowledgeBase;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus/real")
}

/// The parser (its `--input-format` name) that should read a manifest format.
fn parser_for(manifest_format: &str) -> &str {
    match manifest_format {
        "gdb-rr" => "gdb",
        "python-faulthandler" => "faulthandler",
        "rust-backtrace" => "rust",
        other => other,
    }
}

/// Corpus dumps whose manifest verdict rests on what the text does not show (the manifest's
/// own `confidence = "inferred"` with the missing link named), with what hangscan must say
/// instead and why. Each still has to parse with the right thread count, must not be called a
/// deadlock, and must get the finding given here; one that reaches the manifest's verdict fails
/// the test until it is taken off this list.
const BEYOND_THE_TEXT: &[(&str, FindingKind, &str)] = &[];

/// Corpus dumps whose manifest verdict needs threads the text does not show, and says so
/// itself: hangscan must call each "undecidable from this dump" (exit 0), never a deadlock or
/// a stall.
const NOT_EVERY_THREAD: &[(&str, &str)] = &[
    (
        "lldb-gstreamer-nvv4l2-seek-join-chain-wrapped.txt",
        "the manifest's root blocker is thread #3, \"presumed stream-lock holder\": lldb prints \
         no mutex owner and no thread's pthread_t or tid, so neither the join's target nor the \
         lock's holder is in the text; every thread shown waits, but lldb's `bt all` prints \
         thread #1 first and no end, so a stall (which needs every thread) is undecidable",
    ),
    (
        "pstack-nebula-storaged-condvar-terminate-truncated.txt",
        "one thread of a process of many, cut after its frame #2 (the manifest's \
         `truncated`): a thread waiting on a condition variable nobody signals is a hang only \
         if no other thread would signal it, which the excerpt cannot show",
    ),
];

/// Whether a parser of that name is registered.
fn readable(parser: &str) -> bool {
    formats().iter().any(|f| f.name() == parser)
}

#[test]
fn every_readable_corpus_dump_gets_its_thread_count_and_verdict() {
    let manifest = std::fs::read_to_string(corpus_dir().join("MANIFEST.toml"))
        .expect("the corpus lives in fixtures/corpus/real");
    let manifest: toml::Value = manifest.parse().expect("MANIFEST.toml parses");
    let kb = KnowledgeBase::builtin();
    let mut failures = Vec::new();
    let mut undecided = Vec::new();
    let mut checked = 0;
    for dump in manifest["dump"].as_array().expect("[[dump]] entries") {
        let file = dump["file"].as_str().unwrap();
        let format = dump["format"].as_str().unwrap();
        let parser = parser_for(format);
        if !readable(parser) {
            undecided.push(format!("{file}: format `{format}` has no parser yet"));
            continue;
        }
        checked += 1;
        let raw = std::fs::read(corpus_dir().join(file)).unwrap();
        let sniffed = sniff(&raw).map(|f| f.name());
        if sniffed != Some(parser) {
            failures.push(format!("{file}: sniffed as {sniffed:?}, not `{parser}`"));
        }
        let snap = parse_dump(&raw, file, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        let want = dump["thread_count"].as_integer().unwrap() as usize;
        if snap.threads.len() != want {
            failures.push(format!(
                "{file}: {} threads, manifest says {want}",
                snap.threads.len()
            ));
        }
        let a = analyze(&snap, &kb);
        let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
        if let Some((_, why)) = NOT_EVERY_THREAD.iter().find(|(f, _)| *f == file) {
            undecided.push(format!("{file}: not every thread in the text: {why}"));
            if a.verdict() != Verdict::Undecidable {
                failures.push(format!(
                    "{file}: should be undecidable, got {:?}: {kinds:?}",
                    a.verdict()
                ));
            }
            continue;
        }
        let spec = dump["spec_kind"].as_str().unwrap();
        let ok = match spec {
            "undecidable" => {
                let why = dump["explanation"].as_str().unwrap_or("");
                undecided.push(format!("{file}: undecidable from the text ({why})"));
                if a.deadlocked() {
                    failures.push(format!(
                        "{file}: undecidable, yet a deadlock was reported: {kinds:?}"
                    ));
                }
                continue;
            }
            "none" => !a
                .findings
                .iter()
                .any(|f| matches!(f.severity, Severity::Deadlock | Severity::Warning)),
            "busy" => !a.deadlocked() && !kinds.contains(&FindingKind::Stall),
            "self-lock" => kinds.contains(&FindingKind::SelfLock),
            "self-join" => kinds.contains(&FindingKind::SelfJoin),
            "lock-cycle" => kinds.contains(&FindingKind::LockCycle),
            "root-blocker" => kinds.contains(&FindingKind::RootBlocker) && !a.deadlocked(),
            "stall" => kinds.contains(&FindingKind::Stall),
            "io-wait" => kinds.contains(&FindingKind::IoWait) && !a.deadlocked(),
            other => {
                failures.push(format!("{file}: unknown spec_kind {other}"));
                continue;
            }
        };
        match (ok, BEYOND_THE_TEXT.iter().find(|(f, _, _)| *f == file)) {
            (false, None) => failures.push(format!("{file}: expected {spec}, got {kinds:?}")),
            (false, Some((_, instead, why))) => {
                undecided.push(format!("{file}: expected {spec}, beyond the text: {why}"));
                if a.deadlocked() {
                    failures.push(format!("{file}: beyond the text, yet called a deadlock"));
                }
                if !kinds.contains(instead) {
                    failures.push(format!("{file}: should get {instead:?}, got {kinds:?}"));
                }
            }
            (true, Some(_)) => failures.push(format!(
                "{file}: now gets {spec}: take it off BEYOND_THE_TEXT in tests/corpus.rs"
            )),
            (true, None) => {}
        }
    }
    eprintln!("not decided here:\n  {}", undecided.join("\n  "));
    assert!(checked >= 8, "only {checked} corpus dumps were checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The copies in the repository are the dumps as pasted, byte for byte: every file the
/// manifest lists has its size and SHA-256 (no line endings converted, no whitespace trimmed),
/// and every dump in the directory is listed.
#[test]
fn every_corpus_dump_is_the_one_the_manifest_describes() {
    use sha2::{Digest, Sha256};
    let manifest = std::fs::read_to_string(corpus_dir().join("MANIFEST.toml")).unwrap();
    let manifest: toml::Value = manifest.parse().expect("MANIFEST.toml parses");
    let mut listed = Vec::new();
    for dump in manifest["dump"].as_array().expect("[[dump]] entries") {
        let file = dump["file"].as_str().unwrap();
        let raw = std::fs::read(corpus_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let sha: String = Sha256::digest(&raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            raw.len() as i64,
            dump["bytes"].as_integer().unwrap(),
            "{file}: size"
        );
        assert_eq!(sha, dump["sha256"].as_str().unwrap(), "{file}: SHA-256");
        listed.push(file.to_string());
    }
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name == "MANIFEST.toml" || listed.contains(&name),
            "{name} is not in MANIFEST.toml"
        );
    }
}

#[test]
fn every_truncation_of_every_corpus_dump_parses_without_panic() {
    let kb = KnowledgeBase::builtin();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.extend(
        std::fs::read_dir(corpus_dir().join("../seed"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt")),
    );
    files.sort();
    for path in files {
        let raw = std::fs::read(&path).unwrap();
        // Every cut point in small files; a hundred and fifty spread over big ones.
        let step = if raw.len() <= 4096 {
            1
        } else {
            raw.len() / 150
        };
        for (k, cut) in (0..raw.len()).step_by(step).enumerate() {
            // The sniffed parser on every cut; every parser (foreign text) on every 8th.
            let forced = formats()
                .iter()
                .map(|f| Some(f.name()))
                .filter(|_| k % 8 == 0);
            for format in std::iter::once(None).chain(forced) {
                if let Ok(snap) = parse_dump(&raw[..cut], "cut", format) {
                    let _ = analyze(&snap, &kb);
                }
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let kb = KnowledgeBase::builtin();
    // A small xorshift generator: deterministic, no dependency.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet =
        b"#0123456789 x()<>{}[],=@\"'\\\n\t:.Thread LWP in at from signal handler called?*-";
    for _ in 0..3000 {
        let len = (next() % 400) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 4 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                }
            })
            .collect();
        for format in formats() {
            let _ = analyze(&format.parse(&bytes, "random"), &kb);
        }
    }
}
