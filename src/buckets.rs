//! Signature buckets: the same hang in a hundred CI runs is one bucket. Reads saved JSON
//! reports (`hangscan-report/1`, from `--format json` or `run --report`), groups their
//! findings by signature (normalised frames: no addresses, no tids) and counts them.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether `raw` is a saved hangscan report (rather than a dump or a snapshot).
pub fn is_report(raw: &[u8]) -> bool {
    let head = &raw[..raw.len().min(256)];
    head.first() == Some(&b'{')
        && head
            .windows(b"hangscan-report/".len())
            .any(|w| w == b"hangscan-report/")
}

#[derive(Deserialize)]
struct Doc {
    reports: Vec<ReportDoc>,
}

#[derive(Deserialize)]
struct ReportDoc {
    findings: Vec<FindingDoc>,
}

#[derive(Deserialize)]
struct FindingDoc {
    kind: String,
    severity: String,
    title: String,
    signature: String,
}

/// One finding as a report file recorded it.
#[derive(Debug, Clone)]
pub struct Seen {
    kind: String,
    severity: String,
    title: String,
    signature: String,
    file: String,
}

/// Every finding of the report file `file`.
pub fn read(raw: &[u8], file: &str) -> Result<Vec<Seen>> {
    let doc: Doc = serde_json::from_slice(raw).map_err(|e| Error::BadReport {
        path: file.to_string(),
        detail: format!(
            "not a hangscan JSON report ({e}); give `parse` either dumps or reports written \
             by `--format json`, not a mix"
        ),
    })?;
    Ok(doc
        .reports
        .into_iter()
        .flat_map(|r| r.findings)
        .map(|f| Seen {
            kind: f.kind,
            severity: f.severity,
            title: f.title,
            signature: f.signature,
            file: file.to_string(),
        })
        .collect())
}

/// All findings of one signature.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// The signature they share.
    pub signature: String,
    /// Their kind.
    pub kind: String,
    /// Their severity.
    pub severity: String,
    /// The title of the first one seen.
    pub title: String,
    /// How many findings.
    pub count: usize,
    /// The report files they were seen in, each once, in input order.
    pub files: Vec<String>,
}

/// Groups findings by signature: the most frequent first, deadlocks before warnings, then by
/// signature.
pub fn group(seen: Vec<Seen>) -> Vec<Bucket> {
    let mut by: BTreeMap<String, Bucket> = BTreeMap::new();
    for s in seen {
        let b = by.entry(s.signature.clone()).or_insert_with(|| Bucket {
            signature: s.signature.clone(),
            kind: s.kind.clone(),
            severity: s.severity.clone(),
            title: s.title.clone(),
            count: 0,
            files: Vec::new(),
        });
        b.count += 1;
        if !b.files.contains(&s.file) {
            b.files.push(s.file);
        }
    }
    let mut out: Vec<Bucket> = by.into_values().collect();
    let rank = |b: &Bucket| match b.severity.as_str() {
        "deadlock" => 0,
        "warning" => 1,
        _ => 2,
    };
    out.sort_by(|a, b| (b.count, rank(a), &a.signature).cmp(&(a.count, rank(b), &b.signature)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(findings: &[(&str, &str)]) -> String {
        let f: Vec<String> = findings
            .iter()
            .map(|(kind, sig)| {
                format!(
                    r#"{{"kind":"{kind}","severity":"deadlock","title":"t {sig}","signature":"{sig}"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"schema":"hangscan-report/1","reports":[{{"findings":[{}]}}]}}"#,
            f.join(",")
        )
    }

    #[test]
    fn findings_group_by_signature_most_frequent_first() {
        let a = report(&[("self-join", "aaaa"), ("io-wait", "cccc")]);
        let b = report(&[("self-join", "aaaa")]);
        let c = report(&[("lock-cycle", "bbbb"), ("self-join", "aaaa")]);
        assert!(is_report(a.as_bytes()));
        assert!(!is_report(b"Thread 1 (LWP 2):\n#0 f ()"));
        let mut seen = Vec::new();
        for (raw, file) in [(&a, "a.json"), (&b, "b.json"), (&c, "c.json")] {
            seen.extend(read(raw.as_bytes(), file).unwrap());
        }
        let buckets = group(seen);
        assert_eq!(buckets[0].signature, "aaaa");
        assert_eq!(buckets[0].count, 3);
        assert_eq!(buckets[0].files, ["a.json", "b.json", "c.json"]);
        assert_eq!(buckets.len(), 3);
        assert!(read(b"{\"schema\":\"hangscan-report/1\"}", "x").is_err());
    }
}
