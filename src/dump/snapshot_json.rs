//! hangscan's own snapshot format: what `attach --save FILE` writes, read back by `parse` so that
//! a saved capture analyses exactly like the live one.

use super::DumpFormat;
use crate::model::{Diagnostic, Snapshot};
use serde::{Deserialize, Serialize};

/// The schema id of saved snapshots.
pub const SCHEMA: &str = "hangscan-snapshot/1";

#[derive(Serialize, Deserialize)]
struct Saved {
    schema: String,
    snapshot: Snapshot,
}

/// Serialises a snapshot for `--save`.
pub fn to_json(snapshot: &Snapshot) -> String {
    let saved = Saved {
        schema: SCHEMA.to_string(),
        snapshot: snapshot.clone(),
    };
    let mut out = Vec::new();
    crate::sanitize::write_json(&mut out, &saved).expect("a snapshot always serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The saved-snapshot format.
pub struct SnapshotJson;

impl DumpFormat for SnapshotJson {
    fn name(&self) -> &'static str {
        "snapshot"
    }

    fn sniff(&self, text: &str) -> bool {
        text.trim_start().starts_with('{') && text.contains(SCHEMA)
    }

    fn parse(&self, raw: &[u8], origin: &str) -> Snapshot {
        match serde_json::from_slice::<Saved>(raw) {
            Ok(saved) if saved.schema == SCHEMA => saved.snapshot,
            Ok(saved) => broken(
                origin,
                &format!(
                    "unknown schema `{}` (this hangscan reads {SCHEMA})",
                    saved.schema
                ),
            ),
            Err(e) => broken(origin, &format!("not a valid hangscan snapshot: {e}")),
        }
    }
}

fn broken(origin: &str, message: &str) -> Snapshot {
    Snapshot {
        producer: "snapshot".into(),
        origin: origin.into(),
        diagnostics: vec![Diagnostic {
            line: None,
            message: message.into(),
        }],
        ..Snapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::analyze;
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;
    use crate::model::{Evidence, FutexWait, KernelInfo};

    #[test]
    fn a_saved_snapshot_analyses_like_the_original() {
        let dump = "Thread 2 (Thread 0x7f02 (LWP 12) \"a\"):\n#0  0x1 in __lll_lock_wait () from libc.so.6\n\
                    #1  0x2 in pthread_mutex_lock () from libc.so.6\n#2  0x3 in f () at f.c:1\n\n\
                    Thread 1 (Thread 0x7f01 (LWP 11) \"b\"):\n#0  0x1 in __lll_lock_wait () from libc.so.6\n\
                    #1  0x2 in pthread_mutex_lock () from libc.so.6\n#2  0x3 in g () at g.c:1\n";
        let mut snap = parse_dump(dump.as_bytes(), "x", None).unwrap();
        // What a live capture adds: the futex each waits on, and the owner fields around them.
        for (t, (word, owner)) in snap
            .threads
            .iter_mut()
            .zip([(0x1000u64, 11u32), (0x2000, 12)])
        {
            t.kernel = Some(KernelInfo {
                futex: Some(FutexWait {
                    address: word,
                    op: 0,
                    value: 2,
                }),
                ..KernelInfo::default()
            });
            let mut bytes = vec![2, 0, 0, 0, 0, 0, 0, 0];
            bytes.extend(owner.to_le_bytes());
            snap.evidence.push(Evidence::Memory {
                address: word,
                bytes,
            });
        }
        // And the data symbols that hold the words: the first lock is a global of its own, the
        // second a member 8 bytes into one.
        snap.evidence.extend([
            Evidence::DataSymbol {
                address: 0x1000,
                size: 40,
                name: "orders_lock".into(),
            },
            Evidence::DataSymbol {
                address: 0x1ff8,
                size: 48,
                name: "stock".into(),
            },
        ]);
        let kb = KnowledgeBase::builtin();
        let before = analyze(&snap, &kb);
        let saved = to_json(&snap);
        let back = parse_dump(saved.as_bytes(), "saved.json", None).unwrap();
        assert_eq!(back, snap);
        let after = analyze(&back, &kb);
        let kinds = |a: &crate::analyze::Analysis| {
            a.findings
                .iter()
                .map(|f| (f.kind, f.confidence, f.signature.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&before), kinds(&after));
        // The owner fields read from memory prove the cycle.
        assert_eq!(
            after.findings[0].kind,
            crate::analyze::FindingKind::LockCycle
        );
        assert_eq!(after.findings[0].confidence, crate::analyze::Grade::Proven);
        // The locks are named as gdb names them, from the saved snapshot too.
        let symbols: Vec<_> = (after.facts.iter())
            .map(|f| f.waits[0].symbol.as_deref())
            .collect();
        assert_eq!(symbols, [Some("orders_lock"), Some("stock+8")]);
        assert_eq!(back.data_symbol(0x1000 + 40), None, "past its size");
    }

    #[test]
    fn owners_gdb_printed_are_kept_in_a_saved_snapshot() {
        let dump = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/dumps/gdb/c_abba.owners.txt"
        ))
        .unwrap();
        let snap = parse_dump(&dump, "x", Some("gdb")).unwrap();
        let back = parse_dump(to_json(&snap).as_bytes(), "saved.json", None).unwrap();
        assert_eq!(back, snap);
        let kb = KnowledgeBase::builtin();
        let f = &analyze(&back, &kb).findings[0];
        assert_eq!(f.kind, crate::analyze::FindingKind::LockCycle);
        assert_eq!(f.confidence, crate::analyze::Grade::Proven);
        assert_eq!(f.signature, analyze(&snap, &kb).findings[0].signature);
    }

    #[test]
    fn a_broken_snapshot_is_a_diagnostic() {
        let s = parse_dump(
            br#"{"schema": "hangscan-snapshot/1", "snapshot": 3}"#,
            "x",
            None,
        )
        .unwrap();
        assert!(s.threads.is_empty());
        assert!(s.diagnostics[0]
            .message
            .contains("not a valid hangscan snapshot"));
    }
}
