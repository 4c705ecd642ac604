//! `parse --binary`: the program files a dump was taken from, read for what its text lacks
//! (`symbolize::program`): each snapshot's waits (from a first analysis) named by the files'
//! data symbols, and its frames' code checked for the objects it names. A file that does not
//! fit a snapshot is said there and not used for it.

use crate::error::{Error, Result};
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use std::path::PathBuf;

#[cfg(target_os = "linux")]
pub(super) use linux::{apply, open};

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use crate::model::Diagnostic;
    use crate::symbolize::program::{self, Program};

    /// The program files given, read.
    pub(in crate::app) struct Programs(Vec<Program>);

    /// Reads every file; the first that cannot be used is the error.
    pub(in crate::app) fn open(paths: &[PathBuf]) -> Result<Programs> {
        (paths.iter())
            .map(|p| Program::open(p).map_err(Error::Binary))
            .collect::<Result<Vec<_>>>()
            .map(Programs)
    }

    /// Adds what the files say to each snapshot they fit.
    pub(in crate::app) fn apply(
        programs: &Programs,
        snapshots: &mut [Snapshot],
        kb: &KnowledgeBase,
    ) {
        if programs.0.is_empty() {
            return;
        }
        for snap in snapshots {
            let mut placed = Vec::new();
            for p in &programs.0 {
                match p.place(&snap.threads) {
                    Ok(bias) => placed.push((p, bias)),
                    Err(why) => snap.diagnostics.push(Diagnostic {
                        line: None,
                        message: format!(
                            "--binary {} was not used: {why}; the report is what the dump \
                             alone shows (give the very build that ran)",
                            p.name()
                        ),
                    }),
                }
            }
            if placed.is_empty() {
                continue;
            }
            let waited: Vec<u64> = (crate::analyze::analyze(snap, kb).facts.iter())
                .flat_map(|f| f.waits.iter().filter_map(|w| w.address))
                .collect();
            program::apply(&placed, snap, &waited);
        }
    }
}

/// Program files are read on Linux only.
#[cfg(not(target_os = "linux"))]
pub(super) struct Programs;

/// Elsewhere `--binary` is refused.
#[cfg(not(target_os = "linux"))]
pub(super) fn open(paths: &[PathBuf]) -> Result<Programs> {
    if paths.is_empty() {
        Ok(Programs)
    } else {
        Err(Error::Binary("parse --binary needs Linux".into()))
    }
}

/// Nothing to add without the files.
#[cfg(not(target_os = "linux"))]
pub(super) fn apply(_: &Programs, _: &mut [Snapshot], _: &KnowledgeBase) {}
