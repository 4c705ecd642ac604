//! Fuzz regressions, on stable Rust: every input kept under `tests/fuzz_regressions/<target>/`
//! (what the fuzzers found, fixed since, and a few minimized seeds per target) replayed through
//! the target's own code, `fuzz/fuzz_targets/common.rs`, included here. Also keeps the targets
//! in step: one per dump parser, each with a `[[bin]]` in `fuzz/Cargo.toml` and kept inputs.

#[path = "../fuzz/fuzz_targets/common.rs"]
mod common;

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

fn kept_inputs(target: &str) -> Vec<PathBuf> {
    let dir = kept_dir().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_replays_without_a_crash() {
    count_panics();
    let mut replayed = 0;
    for (target, _) in common::TARGETS {
        let files = kept_inputs(target);
        assert!(!files.is_empty(), "{target}: no kept input");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let name = file.strip_prefix(kept_dir()).unwrap().display().to_string();
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
