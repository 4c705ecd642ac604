//! Orchestration: inputs → snapshots → analyses → report, and the exit status. Messages about
//! trouble go to stderr; the report goes to stdout or `-o FILE`.

use crate::analyze::{analyze, Analysis, Verdict};
use crate::config::{Color, Command, Config, ParseConfig};
use crate::dump::parse_dump;
use crate::error::{Error, Result};
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;
use crate::report::{self, Format, Report};
use std::io::{IsTerminal, Read, Write};

/// Exit status: no deadlock found.
pub const EXIT_OK: i32 = 0;
/// Exit status: a deadlock (or a stall: nothing can move) was found.
pub const EXIT_DEADLOCK: i32 = 1;
/// Exit status: trouble.
pub const EXIT_TROUBLE: i32 = 2;

/// Runs one invocation and returns the exit status.
pub fn run(config: Config) -> i32 {
    let kb = match load_rules(&config.rules) {
        Ok(kb) => kb,
        Err(e) => {
            eprintln!("hangscan: {e}");
            return EXIT_TROUBLE;
        }
    };
    match config.command {
        Command::Rules => match list_rules(&kb, &mut std::io::stdout().lock()) {
            Ok(()) => EXIT_OK,
            Err(e) => write_error(&e),
        },
        Command::Parse(p) => parse(&p, &kb),
    }
}

fn load_rules(paths: &[std::path::PathBuf]) -> Result<KnowledgeBase> {
    let mut extra = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|source| Error::Read {
            path: p.display().to_string(),
            source,
        })?;
        extra.push((p.display().to_string(), text));
    }
    KnowledgeBase::load(&extra)
}

fn parse(p: &ParseConfig, kb: &KnowledgeBase) -> i32 {
    let mut trouble = false;
    let mut snapshots: Vec<Snapshot> = Vec::new();
    for path in &p.files {
        match read_input(path)
            .and_then(|(raw, origin)| parse_dump(&raw, &origin, p.input_format.as_deref()))
        {
            Ok(s) => snapshots.push(s),
            Err(e) => {
                eprintln!("hangscan: {e}");
                trouble = true;
            }
        }
    }
    let analyses: Vec<Analysis> = snapshots.iter().map(|s| analyze(s, kb)).collect();
    let reports: Vec<Report> = snapshots
        .iter()
        .zip(&analyses)
        .map(|(snapshot, analysis)| Report { snapshot, analysis })
        .collect();
    let color = match p.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            p.output.is_none()
                && p.format == Format::Text
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    if !reports.is_empty() {
        let written: Result<()> = match &p.output {
            Some(path) => std::fs::File::create(path)
                .map_err(|source| Error::Read {
                    path: path.display().to_string(),
                    source,
                })
                .and_then(|mut f| Ok(report::render(&reports, p.format, false, &mut f)?)),
            None => report::render(&reports, p.format, color, &mut std::io::stdout().lock())
                .map_err(Error::Write),
        };
        if let Err(e) = written {
            return write_error(&e);
        }
    }
    if trouble {
        EXIT_TROUBLE
    } else if analyses.iter().any(|a| a.verdict() != Verdict::NoDeadlock) {
        EXIT_DEADLOCK
    } else {
        EXIT_OK
    }
}

fn read_input(path: &std::path::Path) -> Result<(Vec<u8>, String)> {
    let origin = path.display().to_string();
    let mut raw = Vec::new();
    let res = if origin == "-" {
        std::io::stdin().lock().read_to_end(&mut raw).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut raw).map(|_| ()))
    };
    res.map_err(|source| Error::Read {
        path: origin.clone(),
        source,
    })?;
    Ok((raw, origin))
}

fn write_error(e: &Error) -> i32 {
    // A closed pipe (`hangscan ... | head`) is not trouble.
    if let Error::Write(io) = e {
        if io.kind() == std::io::ErrorKind::BrokenPipe {
            return EXIT_OK;
        }
    }
    eprintln!("hangscan: {e}");
    EXIT_TROUBLE
}

fn list_rules(kb: &KnowledgeBase, out: &mut dyn Write) -> Result<()> {
    let mut pack = "";
    for r in kb.rules() {
        if r.pack != pack {
            pack = &r.pack;
            writeln!(out, "{pack}:")?;
        }
        let meaning = match (r.meaning, r.kind) {
            (m, Some(k)) => format!("{m:?} {}", k.noun()).to_lowercase(),
            (m, None) => format!("{m:?}").to_lowercase(),
        };
        writeln!(out, "  {:<32} {:<22} {}", r.id, meaning, r.summary)?;
    }
    Ok(())
}
