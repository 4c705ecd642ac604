//! Fuzz regressions, on stable Rust: every input kept under `tests/fuzz_regressions/<target>/`
//! (what the fuzzers found, fixed since, and a few minimized seeds per target) replayed through
//! the target's own code, `fuzz/fuzz_targets/common.rs`, included here. Also keeps the targets
//! in step: one per dump parser, each with a `[[bin]]` in `fuzz/Cargo.toml` and kept inputs.
//! Binary seeds are not kept: the core-file target gets a `gcore` core of a fixture program
//! built from source here.

#[path = "../fuzz/fuzz_targets/common.rs"]
mod common;
mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// Panics so far, also those the unwinder and the symbolizer catch as a safety net: under the
/// fuzzer every panic aborts, so here every panic fails the input.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

fn kept_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions")
}

/// The inputs replayed for `target`: (name, bytes).
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    if target == "corefile" {
        return generated_core().into_iter().collect();
    }
    let dir = kept_dir().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let name = f.strip_prefix(kept_dir()).unwrap().display().to_string();
            (name, std::fs::read(&f).unwrap())
        })
        .collect()
}

/// A `gcore` core of the hung `c_abba`, built from source; none without gdb.
fn generated_core() -> Option<(String, Vec<u8>)> {
    if !support::require("gcore") {
        return None;
    }
    let p = support::HungProcess::start("c_abba");
    // A directory of its own per call: the tests that call this run in parallel, and one
    // removing a shared directory would cut the other's core as gcore writes it.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("hangscan-fuzzreg-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let core = support::gcore(p.pid, &dir);
    let bytes = std::fs::read(&core).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    Some(("corefile/gcore of c_abba".to_string(), bytes))
}

#[test]
fn every_kept_input_replays_without_a_crash() {
    count_panics();
    let mut replayed = 0;
    for (target, _) in common::TARGETS {
        let inputs = inputs(target);
        assert!(
            // The core-file target has none only without gcore (which fails under CI).
            !inputs.is_empty() || *target == "corefile",
            "{target}: no kept input"
        );
        for (name, data) in inputs {
            let panics = PANICS.load(Ordering::SeqCst);
            let outcome = common::run(target, &data);
            assert_eq!(
                PANICS.load(Ordering::SeqCst),
                panics,
                "{name}: panicked (and the panic was caught)"
            );
            match outcome {
                Ok(summary) => {
                    // Something was read, or it is said why not.
                    assert!(
                        summary.threads + summary.frames + summary.findings > 0
                            || !summary.notes.is_empty(),
                        "{name}: nothing read and nothing said"
                    );
                    eprintln!("{name}: {summary:?}");
                }
                Err(why) => {
                    assert!(!why.trim().is_empty(), "{name}: refused without a reason");
                    eprintln!("{name}: refused: {why}");
                }
            }
            replayed += 1;
        }
    }
    eprintln!("{replayed} kept inputs replayed");
}

/// A core cut anywhere (before the notes, inside a stack, inside the notes every 512 bytes, as
/// a disk that filled up would leave it) goes through the core-file target without a panic, and
/// says that it is cut.
#[test]
fn a_core_cut_anywhere_replays_without_a_crash() {
    count_panics();
    let Some((name, core)) = generated_core() else {
        return;
    };
    let len = core.len();
    let spread = (1..32).map(|i| len * i / 32);
    // gcore writes its notes last, within the last few tens of KiB.
    let tail = (1..64).map(|i| len.saturating_sub(i * 512));
    // Inside the ELF header, the program headers, the first segment.
    let head = [4, 63, 64, 100, 64 + 56 * 3, 4096];
    for cut in head.into_iter().chain(spread).chain(tail) {
        let panics = PANICS.load(Ordering::SeqCst);
        let outcome = common::run("corefile", &core[..cut]);
        assert_eq!(
            PANICS.load(Ordering::SeqCst),
            panics,
            "{name} cut at {cut}: panicked (and the panic was caught)"
        );
        match outcome {
            Ok(summary) => assert!(
                summary.notes.iter().any(|n| n.contains("truncated")),
                "{name} cut at {cut}: the cut is not said: {summary:?}"
            ),
            Err(why) => assert!(why.contains("truncated"), "{name} cut at {cut}: {why}"),
        }
    }
}

#[test]
fn every_dump_parser_has_a_fuzz_target_and_every_target_a_bin() {
    let names: Vec<&str> = common::TARGETS.iter().map(|(n, _)| *n).collect();
    for parser in hangscan::dump::formats() {
        let target = match parser.name() {
            "snapshot" => "snapshot_json".to_string(),
            name => format!("dump_{}", name.replace('-', "_")),
        };
        assert!(
            names.contains(&target.as_str()),
            "the {} parser has no fuzz target `{target}`",
            parser.name()
        );
    }
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .unwrap();
    let manifest: toml::Value = manifest.parse().unwrap();
    let bins: Vec<&str> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        bins, names,
        "fuzz/Cargo.toml's [[bin]]s and common::TARGETS"
    );
    for dir in std::fs::read_dir(kept_dir()).unwrap() {
        let dir = dir.unwrap().file_name();
        let dir = dir.to_string_lossy();
        assert!(
            names.contains(&dir.as_ref()),
            "tests/fuzz_regressions/{dir} is no fuzz target's"
        );
    }
}
