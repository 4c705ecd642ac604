//! A dump cut anywhere never gets a verdict the whole dump contradicts: for every deadlocked
//! dump among the recorded and written fixtures (`fixtures/dumps/*`), every cut at a line
//! boundary (and a few inside a line) gets the whole dump's deadlock (the same kind, among the
//! same threads, at any grade) or "undecidable from this dump" — never a stall, never "no
//! deadlock" with the whole process in view, never another deadlock. Parsed in-process.

use hangscan::analyze::{analyze, Analysis, Severity, Verdict};
use hangscan::dump::{parse_dump, sniff};
use hangscan::knowledge::KnowledgeBase;
use hangscan::model::Snapshot;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Each deadlock finding: its kind and its threads' labels.
fn deadlocks(snap: &Snapshot, a: &Analysis) -> Vec<(String, BTreeSet<String>)> {
    (a.findings.iter())
        .filter(|f| f.severity == Severity::Deadlock)
        .map(|f| {
            let who = f.threads.iter().map(|&t| snap.threads[t].label()).collect();
            (f.kind.as_str().to_string(), who)
        })
        .collect()
}

/// The deadlocked fixtures: (path, bytes, format).
fn deadlocked(kb: &KnowledgeBase) -> Vec<(PathBuf, Vec<u8>, &'static str)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps");
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = (std::fs::read_dir(&root).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<PathBuf> = (std::fs::read_dir(&dir).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        files.sort();
        for path in files {
            let raw = std::fs::read(&path).unwrap();
            let Some(format) = sniff(&raw).map(|f| f.name()) else {
                continue;
            };
            let snap = parse_dump(&raw, "whole", Some(format)).unwrap();
            if analyze(&snap, kb).verdict() == Verdict::Deadlock {
                out.push((path, raw, format));
            }
        }
    }
    out
}

/// Whether a dump cut at `cut` ends where a whole dump of a process with no deadlock ends: a
/// jstack thread list whose JVM deadlock report (which comes after `JNI global refs`) is what
/// was cut off (or all of it but a start of its first line). Nothing can tell such a cut
/// (plain `jstack` shows no owner of a `java.util.concurrent` lock but in that report), so
/// "no deadlock" there is no lie the input could have avoided.
fn ends_as_a_whole_dump(raw: &[u8], cut: usize) -> bool {
    const REPORT: &str = "Found one Java-level deadlock:";
    let kept = String::from_utf8_lossy(&raw[..cut]);
    let Some(at) = kept.rfind("\nJNI global ") else {
        return false;
    };
    let after = kept[at + 1..]
        .split_once('\n')
        .map_or("", |(_, after)| after);
    let whole_rest = String::from_utf8_lossy(&raw[at + 1..]);
    REPORT.starts_with(after.trim()) && whole_rest.contains(REPORT)
}

/// Whether a dump cut at `cut` reads as a whole parking_lot report of a deadlock of fewer
/// threads: cut where a thread's backtrace may end (after its `start_thread`, `clone3` or
/// end marker), before the next `Thread Id` of the same `Deadlock #k`. The report prints no
/// count of a deadlock's threads, and a deadlock of one thread relocking its own mutex is one
/// it reports, so nothing can tell.
fn ends_as_a_smaller_report(raw: &[u8], cut: usize) -> bool {
    let rest = String::from_utf8_lossy(&raw[cut..]);
    let kept = String::from_utf8_lossy(&raw[..cut]);
    let frame = (kept.lines().rev())
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("at "))
        .unwrap_or("");
    let may_end = ["start_thread", "clone", "clone3", "<unknown>"]
        .iter()
        .any(|f| frame.trim_end().ends_with(f));
    kept.contains("Deadlock #") && rest.contains("Thread Id ") && may_end
}

/// Where to cut: after every line, and in the middle of every seventh line.
fn cuts(raw: &[u8]) -> Vec<usize> {
    let mut at = Vec::new();
    let mut start = 0;
    for (n, end) in memchr_lines(raw).enumerate() {
        at.push(end + 1);
        if n % 7 == 3 && end > start + 2 {
            at.push(start + (end - start) / 2);
        }
        start = end + 1;
    }
    at.retain(|&c| c < raw.len());
    at
}

fn memchr_lines(raw: &[u8]) -> impl Iterator<Item = usize> + '_ {
    raw.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
}

#[test]
fn a_cut_dump_keeps_the_whole_dumps_deadlock_or_says_it_cannot_decide() {
    let kb = KnowledgeBase::builtin();
    let fixtures = deadlocked(&kb);
    assert!(
        fixtures.len() >= 30,
        "only {} deadlocked fixtures",
        fixtures.len()
    );
    let mut failures = Vec::new();
    let mut tried = 0;
    for (path, raw, format) in &fixtures {
        let name = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display();
        let whole = parse_dump(raw, "whole", Some(format)).unwrap();
        let want = deadlocks(&whole, &analyze(&whole, &kb));
        for cut in cuts(raw) {
            tried += 1;
            let Ok(snap) = parse_dump(&raw[..cut], "cut", Some(format)) else {
                continue;
            };
            let a = analyze(&snap, &kb);
            let line = raw[..cut].iter().filter(|&&b| b == b'\n').count() + 1;
            let wrong = match a.verdict() {
                Verdict::Undecidable => None,
                Verdict::NoDeadlock if ends_as_a_whole_dump(raw, cut) => None,
                Verdict::Deadlock if ends_as_a_smaller_report(raw, cut) => None,
                Verdict::Deadlock => deadlocks(&snap, &a)
                    .into_iter()
                    .find(|(kind, who)| !want.iter().any(|(k, w)| k == kind && who.is_subset(w)))
                    .map(|d| format!("another deadlock: {d:?}, the whole dump's: {want:?}")),
                v => Some(format!(
                    "{v:?} (whole process in view: {}), the whole dump's: {want:?}",
                    a.coverage.whole
                )),
            };
            if let Some(wrong) = wrong {
                failures.push(format!("{name} cut at byte {cut} (line {line}): {wrong}"));
            }
        }
    }
    eprintln!("{} fixtures, {tried} cuts", fixtures.len());
    // The first few of each fixture's.
    let mut shown: Vec<&String> = Vec::new();
    for f in &failures {
        let file = f.split(' ').next();
        if shown.iter().filter(|s| s.split(' ').next() == file).count() < 3 {
            shown.push(f);
        }
    }
    let shown: Vec<&str> = shown.iter().map(|s| s.as_str()).collect();
    assert!(
        failures.is_empty(),
        "{} of {tried} cuts, the first few of each fixture's:\n{}",
        failures.len(),
        shown.join("\n")
    );
}

/// A dump of `fixtures/dumps/cut/`, parsed and analysed.
fn load_cut(name: &str) -> (Snapshot, Analysis) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps/cut")
        .join(name);
    let raw = std::fs::read(&path).unwrap();
    let snap = parse_dump(&raw, name, None).unwrap();
    let a = analyze(&snap, &KnowledgeBase::builtin());
    (snap, a)
}

/// Each gap's kind, as JSON names it.
fn gap_kinds(a: &Analysis) -> Vec<String> {
    (a.coverage.gaps.iter())
        .map(|g| {
            serde_json::to_value(g).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn each_way_a_dump_falls_short_is_named_with_its_line_and_leaves_the_verdict_undecidable() {
    for (name, gaps, line) in [
        ("gdb-excerpt.txt", &["missing"][..], None),
        (
            "gdb-abba-cut.txt",
            &["no-end", "ends-in-stack"][..],
            Some(33),
        ),
        ("gdb-lone-bt.txt", &["one-stack"][..], Some(2)),
        (
            "gdb-info-cut.txt",
            &["ends-in-list", "no-stack"][..],
            Some(4),
        ),
        ("lldb-no-end.txt", &["unmarked"][..], None),
        ("go-last-cut.txt", &["ends-in-stack"][..], Some(16)),
    ] {
        let (_, a) = load_cut(name);
        assert_eq!(a.verdict(), Verdict::Undecidable, "{name}");
        assert!(!a.coverage.whole, "{name}");
        assert_eq!(gap_kinds(&a), gaps, "{name}");
        let cut_at = a.coverage.gaps.iter().filter_map(|g| g.line()).max();
        assert_eq!(cut_at, line, "{name}");
    }
    // lldb's `bt all` followed by a prompt ended: every thread, and a stall may be said.
    let (_, a) = load_cut("lldb-ended.txt");
    assert!(a.coverage.whole);
    assert_eq!(a.verdict(), Verdict::Stall);
}

#[test]
fn formats_with_no_count_nor_end_never_claim_every_thread() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps");
    for path in ["eu-stack/c_condvar_stall.txt", "py-spy/queue_starved.txt"] {
        let raw = std::fs::read(root.join(path)).unwrap();
        let snap = parse_dump(&raw, path, None).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        assert_eq!(gap_kinds(&a), ["unmarked"], "{path}");
        assert_eq!(a.verdict(), Verdict::Undecidable, "{path}");
    }
}

#[test]
fn a_cycle_among_the_threads_shown_stays_a_cycle_and_a_cut_report_is_no_claim() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps");
    let kb = KnowledgeBase::builtin();
    // gdb's owners printed for both threads, the transcript cut before gdb let go.
    let raw = std::fs::read(root.join("gdb/c_abba.owners.txt")).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let kept: String = text.lines().take(53).map(|l| format!("{l}\n")).collect();
    let snap = parse_dump(kept.as_bytes(), "cut", None).unwrap();
    let a = analyze(&snap, &kb);
    assert_eq!(gap_kinds(&a), ["no-end"]);
    assert_eq!(a.verdict(), Verdict::Deadlock);
    // The JVM's report cut after its first entry: no half-listed cycle is taken from it.
    let raw = std::fs::read(root.join("jstack/LockAbba.jdk17.jstack.txt")).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let at = text.find("which is held by").unwrap();
    let snap = parse_dump(&text.as_bytes()[..at], "cut", None).unwrap();
    let a = analyze(&snap, &kb);
    assert_eq!(gap_kinds(&a), ["no-end"]);
    assert_eq!(a.verdict(), Verdict::Undecidable);
}

#[test]
fn the_binary_says_undecidable_where_it_was_cut_and_exits_zero() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/cut/gdb-abba-cut.txt");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .args(["parse", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &r["reports"][0];
    assert_eq!(r["verdict"], "undecidable");
    assert_eq!(r["source"]["complete"], false);
    assert_eq!(r["source"]["gaps"][1]["kind"], "ends-in-stack");
    assert_eq!(r["source"]["gaps"][1]["line"], 33);
    let record = r["source"]["record"].as_str().unwrap();
    assert!(record.contains("thread apply all bt"), "{record}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hangscan"))
        .arg("parse")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("undecidable from this dump"), "{text}");
    assert!(
        text.contains("it ends at line 33 inside LWP 5101"),
        "{text}"
    );
    assert!(
        text.contains("to decide, record every thread's whole stack"),
        "{text}"
    );
}
