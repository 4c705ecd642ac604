//! Orchestration: inputs (dump files, live processes, the demo) → snapshots → analyses →
//! report, and the exit status. Messages about trouble go to stderr; the report goes to stdout
//! or `-o FILE`.

use crate::analyze::cross_process::analyze_set;
use crate::analyze::{analyze, Analysis, Verdict};
use crate::buckets;
use crate::config::{AttachConfig, Color, Command, Config, CoreConfig, OutputConfig};
use crate::dump::{parse_dumps_releasing, snapshot_json};
use crate::error::{Error, Result};
use crate::knowledge::KnowledgeBase;
use crate::limits::{map_prefix, read_prefix, Prefix};
use crate::model::Snapshot;
use crate::report::{self, Format, Report, Set, TextLook};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

mod binary;
#[cfg(target_os = "linux")]
mod run;
mod tree_notes;

/// Exit status: no deadlock found.
pub const EXIT_OK: i32 = 0;
/// Exit status: a deadlock (or a stall: nothing can move) was found.
pub const EXIT_DEADLOCK: i32 = 1;
/// Exit status: trouble.
pub const EXIT_TROUBLE: i32 = 2;

/// Runs one invocation and returns the exit status.
pub fn run(config: Config) -> i32 {
    #[cfg(target_os = "linux")]
    if let Command::DemoTarget = config.command {
        crate::demo::target::run();
    }
    // The rules compile (tens of milliseconds) while the inputs are read or captured.
    // The rule files are read first: a capture reads the variables their guard rules name.
    let extra = read_rules(&config.rules);
    let guard_rules = extra.as_ref().map_or_else(|_| Vec::new(), Clone::clone);
    let loading = std::thread::Builder::new()
        .spawn(move || extra.and_then(|extra| KnowledgeBase::load(&extra)));
    let loaded = move || match loading {
        Ok(loading) => loading.join().unwrap_or_else(|_| {
            Err(Error::Rules {
                origin: "rules".into(),
                message: "loading the rules failed unexpectedly".into(),
            })
        }),
        // No memory for a thread: load them now.
        Err(_) => load_rules(&config.rules),
    };
    let mut trouble = false;
    let mut complain = |e: Error| {
        eprintln!("hangscan: {e}");
        trouble = true;
    };
    // A core that is not whole (truncated, or past the thread limit) cannot show that nothing
    // is deadlocked: "no deadlock" from it is no verdict.
    let partial_undecided = matches!(config.command, Command::Core(_));
    // What happened to the set while it was captured, said in the report itself.
    let mut set_notes: Vec<String> = Vec::new();
    // The program files of `parse --binary`, read before any dump.
    let mut programs = None;
    let (mut snapshots, out) = match config.command {
        Command::Rules => {
            return match loaded().and_then(|kb| list_rules(&kb, &mut std::io::stdout().lock())) {
                Ok(()) => EXIT_OK,
                Err(e) => write_error(&e),
            }
        }
        // Linux runs it above; elsewhere there is no demo.
        Command::DemoTarget => {
            eprintln!("hangscan: the demo needs Linux");
            return EXIT_TROUBLE;
        }
        Command::Parse {
            files,
            input_format,
            binaries,
            out,
        } => {
            match binary::open(&binaries) {
                Ok(p) => programs = Some(p),
                Err(e) => return write_error(&e),
            }
            let inputs: Vec<(Prefix, String)> = files
                .iter()
                .filter_map(|path| read_input(path).map_err(&mut complain).ok())
                .collect();
            // Saved JSON reports, all of them: count the hangs they share.
            if !inputs.is_empty() && inputs.iter().all(|(raw, _)| buckets::is_report(&raw.bytes)) {
                return bucket_reports(&inputs, &out);
            }
            let mut snapshots = Vec::new();
            // Each input is let go once parsed: the snapshot holds its own copies of the text,
            // so the input's bytes are not held through the analysis.
            for (raw, origin) in inputs {
                if buckets::is_report(&raw.bytes) {
                    complain(Error::BadReport {
                        path: origin,
                        detail: "a saved report among dumps: reports are bucketed by signature \
                                 only when every input is one; parse them separately"
                            .into(),
                    });
                    continue;
                }
                let release = |part: &[u8]| raw.bytes.release(part);
                match parse_dumps_releasing(&raw.bytes, &origin, input_format.as_deref(), &release)
                {
                    Ok(read) => {
                        for mut s in read {
                            raw.note_in(&mut s);
                            snapshots.push(s);
                        }
                    }
                    Err(e) => complain(e),
                }
            }
            (snapshots, out)
        }
        Command::Attach(a) => {
            let mut snapshots = Vec::new();
            for pid in tree_notes::expand_pids(&a) {
                // hangscan itself, in the tree of an ancestor (`attach --tree $PPID`).
                if pid == std::process::id() && !a.pids.contains(&pid) {
                    set_notes.push(tree_notes::itself(pid, &a.pids));
                    continue;
                }
                match capture(pid, &a, &guard_rules) {
                    Ok(s) => snapshots.push(s),
                    // A process of the tree the user did not name that has exited meanwhile:
                    // the tree moved, which is no trouble.
                    Err(e) if !a.pids.contains(&pid) && tree_notes::moved_on(&e) => {
                        set_notes.push(tree_notes::exited(pid, &a.pids));
                    }
                    Err(e) => complain(e),
                }
            }
            (snapshots, a.out)
        }
        #[cfg(target_os = "linux")]
        Command::Run(r) => return run::run(&r, loaded, &guard_rules),
        #[cfg(not(target_os = "linux"))]
        Command::Run(_) => {
            eprintln!("hangscan: run needs Linux");
            return EXIT_TROUBLE;
        }
        Command::Core(c) => {
            let mut snapshots = Vec::new();
            for path in &c.cores {
                match read_core(path, &c, &guard_rules) {
                    Ok(s) => snapshots.push(s),
                    Err(e) => complain(e),
                }
            }
            (snapshots, c.out)
        }
        Command::Demo(a) => match demo(&a, &guard_rules) {
            Ok(s) => (vec![s], a.out),
            Err(e) => {
                complain(e);
                (Vec::new(), a.out)
            }
        },
    };
    let kb = match loaded() {
        Ok(kb) => kb,
        Err(e) => {
            eprintln!("hangscan: {e}");
            return EXIT_TROUBLE;
        }
    };
    if let Some(programs) = &programs {
        binary::apply(programs, &mut snapshots, &kb);
    }
    let status = report(&snapshots, &set_notes, &kb, &out, partial_undecided);
    // The binary exits next (this is its `main`): the system takes the snapshots back at once,
    // where freeing them a frame at a time costs a big dump's parse a tenth more.
    std::mem::forget(snapshots);
    if trouble {
        EXIT_TROUBLE
    } else {
        status
    }
}

/// Analyses and renders, with `notes` on the set; returns the exit status the findings call for.
/// With `partial_undecided`, an incomplete snapshot without a deadlock is trouble, not "no
/// deadlock".
fn report(
    snapshots: &[Snapshot],
    notes: &[String],
    kb: &KnowledgeBase,
    out: &OutputConfig,
    partial_undecided: bool,
) -> i32 {
    let analyses: Vec<Analysis> = snapshots.iter().map(|s| analyze(s, kb)).collect();
    let reports: Vec<Report> = snapshots
        .iter()
        .zip(&analyses)
        .map(|(snapshot, analysis)| Report { snapshot, analysis })
        .collect();
    if reports.is_empty() {
        for note in notes {
            eprintln!("hangscan: note: {}", crate::sanitize::clean(note));
        }
        return EXIT_TROUBLE;
    }
    let across = analyze_set(snapshots, &analyses, kb);
    let set = Set {
        snapshots,
        analyses: &analyses,
        analysis: &across,
        notes,
    };
    let color = match out.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            out.output.is_none()
                && out.format == Format::Text
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    // Colour only ever goes to a terminal, never into a file.
    let color = color && out.output.is_none();
    let to_terminal = out.output.is_none() && std::io::stdout().is_terminal();
    let look = TextLook {
        color,
        width: match out.width {
            Some(0) => None,
            Some(n) => Some(n),
            None if to_terminal => terminal_width(),
            None => None,
        },
        every_frame: out.frames,
    };
    let written = emit(out.output.as_deref(), |w| {
        report::render_set(&reports, Some(set), out.format, look, w)
    });
    if let Err(e) = written {
        return write_error(&e);
    }
    let undecided: Vec<&Snapshot> = snapshots
        .iter()
        .zip(&analyses)
        .filter(|(_, a)| partial_undecided && a.verdict() == Verdict::Undecidable)
        .map(|(s, _)| s)
        .collect();
    for s in &undecided {
        eprintln!(
            "hangscan: {}: no deadlock among the {} thread(s) read, but the core is not whole \
             (see the warning above), so that is no verdict: the whole core would decide",
            crate::sanitize::clean(&s.origin),
            s.threads.len()
        );
    }
    let deadlock = (analyses.iter().map(Analysis::verdict))
        .any(|v| matches!(v, Verdict::Deadlock | Verdict::Stopped | Verdict::Stall))
        || across.deadlocked();
    // As the snapshots in `run`: the process ends next.
    std::mem::forget(analyses);
    if deadlock {
        EXIT_DEADLOCK
    } else if !undecided.is_empty() {
        EXIT_TROUBLE
    } else {
        EXIT_OK
    }
}

/// The terminal's width in columns: `$COLUMNS` when set to a number, else what the terminal on
/// standard output says (`TIOCGWINSZ`); `None` when neither tells.
fn terminal_width() -> Option<usize> {
    let columns = std::env::var("COLUMNS").ok();
    if let Some(n) = columns.and_then(|c| c.trim().parse::<usize>().ok()) {
        return (n > 0).then_some(n);
    }
    window_columns()
}

#[cfg(unix)]
fn window_columns() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct it is given, which lives for the
    // call; on failure it writes nothing and returns -1.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn window_columns() -> Option<usize> {
    None
}

/// `parse` over saved JSON reports: their findings grouped by signature, with counts.
fn bucket_reports(inputs: &[(Prefix, String)], out: &OutputConfig) -> i32 {
    let mut seen = Vec::new();
    for (raw, origin) in inputs {
        match buckets::read(&raw.bytes, origin) {
            Ok(s) => seen.extend(s),
            Err(e) => {
                eprintln!("hangscan: {e}");
                return EXIT_TROUBLE;
            }
        }
    }
    let grouped = buckets::group(seen);
    let json = out.format == Format::Json;
    let written = emit(out.output.as_deref(), |w| {
        report::render_buckets(&grouped, inputs.len(), json, w)
    });
    match written {
        Ok(()) => EXIT_OK,
        Err(e) => write_error(&e),
    }
}

/// Runs `render` into the file at `path` (`-o FILE`), or into standard output, buffered.
fn emit(
    path: Option<&Path>,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    match path {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|source| Error::WriteFile {
                path: path.display().to_string(),
                source,
            })?;
            let mut w = std::io::BufWriter::new(file);
            render(&mut w)?;
            Ok(w.flush()?)
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            render(&mut w)
                .and_then(|()| w.flush())
                .map_err(Error::Write)
        }
    }
}

fn load_rules(paths: &[PathBuf]) -> Result<KnowledgeBase> {
    KnowledgeBase::load(&read_rules(paths)?)
}

/// The rule files `--rules` names: `(origin, text)` each.
fn read_rules(paths: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut extra = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|source| Error::Read {
            path: p.display().to_string(),
            source,
        })?;
        extra.push((p.display().to_string(), text));
    }
    Ok(extra)
}

/// Reads a dump file (`-`: standard input), at most [`crate::limits::MAX_INPUT_BYTES`] of it.
fn read_input(path: &Path) -> Result<(Prefix, String)> {
    let origin = path.display().to_string();
    let read = if origin == "-" {
        if std::io::stdin().is_terminal() {
            eprintln!(
                "hangscan: reading a dump from standard input (this terminal): paste it, then \
                 press Ctrl-D; or pass its file: hangscan parse FILE"
            );
        }
        read_prefix(std::io::stdin().lock(), None)
    } else {
        std::fs::File::open(path).and_then(|f| match f.metadata().ok().filter(|m| m.is_file()) {
            Some(m) => map_prefix(&f, m.len()),
            None => read_prefix(f, None),
        })
    };
    let prefix = read.map_err(|source| Error::Read {
        path: origin.clone(),
        source,
    })?;
    Ok((prefix, origin))
}

/// Reads one core file and unwinds it, reading the guards `rules` (extra rule files) name
/// besides the built-in ones; files it names that could not be used are said first.
fn read_core(path: &Path, c: &CoreConfig, rules: &[(String, String)]) -> Result<Snapshot> {
    let options = crate::Options {
        rules: rules.to_vec(),
        exe: c.exe.clone(),
        sysroot: c.sysroot.clone(),
        stack_bytes: c.stack_bytes,
        full_symbols: c.full_symbols,
        locals: c.locals,
        ..crate::Options::default()
    };
    crate::api::read_core_warning(path, &options, |diagnostics| {
        // Files that could not be used make the report less than it could be: say it now.
        for d in diagnostics {
            eprintln!("hangscan: warning: {}: {}", path.display(), d.message);
        }
    })
}

/// Captures one process, reading the guards `rules` (extra rule files) name besides the
/// built-in ones, and saves its snapshot with `--save`.
fn capture(pid: u32, a: &AttachConfig, rules: &[(String, String)]) -> Result<Snapshot> {
    let options = crate::Options {
        rules: rules.to_vec(),
        stack_bytes: a.stack_bytes,
        samples: a.samples,
        interval: a.interval,
        full_symbols: a.full_symbols,
        locals: a.locals,
        ..crate::Options::default()
    };
    let snap = crate::attach(pid, &options)?;
    if let Some(path) = &a.save {
        let path = if a.pids.len() > 1 || a.tree {
            path.with_extension(format!("{pid}.json"))
        } else {
            path.clone()
        };
        std::fs::write(&path, snapshot_json::to_json(&snap)).map_err(|source| {
            Error::WriteFile {
                path: path.display().to_string(),
                source,
            }
        })?;
    }
    Ok(snap)
}

#[cfg(not(target_os = "linux"))]
fn demo(_a: &AttachConfig, _rules: &[(String, String)]) -> Result<Snapshot> {
    Err(Error::Capture {
        pid: 0,
        detail: "the demo needs Linux".into(),
    })
}

#[cfg(target_os = "linux")]
fn demo(a: &AttachConfig, rules: &[(String, String)]) -> Result<Snapshot> {
    let target = crate::demo::DemoTarget::start()?;
    eprintln!(
        "hangscan demo: started a server (pid {}) whose SIGTERM handler stops the server and joins its \
         worker pool; SIGTERM was delivered to a worker. It ignores `kill` now. Attaching...",
        target.pid
    );
    let snap = capture(target.pid, a, rules);
    drop(target);
    snap
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
            (m, Some(k)) => format!("{} {}", m.as_str(), k.noun()),
            (m, None) => m.as_str().to_string(),
        };
        writeln!(out, "  {:<32} {:<22} {}", r.id, meaning, r.summary)?;
    }
    Ok(())
}
