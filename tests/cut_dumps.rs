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
/// was cut off (or all of it but a start of its first line). Nothing can tell such a cut (plain `jstack` shows no owner of a
/// `java.util.concurrent` lock but in that report), so "no deadlock" there is no lie the
/// input could have avoided.
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
