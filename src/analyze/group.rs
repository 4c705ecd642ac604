//! Grouping for the report: threads with the same stack and the same wait collapse to one
//! line ("38 × executor-pri3-*: idle"), so the threads that matter stand out.

use super::classify::Activity;
use super::explain::{frame_ref, wait_object};
use super::Analysis;
use crate::knowledge::base_name;
use crate::model::Snapshot;
use std::collections::BTreeMap;

/// Threads that look alike.
#[derive(Debug, Clone)]
pub struct ThreadGroup {
    /// Members (indices), in input order.
    pub threads: Vec<usize>,
    /// Their names, with `*` where they differ (`executor-pri3-*`).
    pub name: String,
    /// What they do, in words.
    pub state: String,
}

/// One line saying what thread `t` does.
pub fn describe(snap: &Snapshot, a: &Analysis, t: usize) -> String {
    let th = &snap.threads[t];
    let f = &a.facts[t];
    let at = |i: usize| frame_ref(&th.frames[i], i);
    match f.activity {
        Activity::Blocked | Activity::External | Activity::Idle => {
            let wi = a.graph.effective[t].unwrap_or(0);
            let Some(w) = f.waits.get(wi) else {
                // Idle by the runtime's word (py-spy's `idle`), with no wait in the frames.
                return match (f.activity, f.top) {
                    (Activity::Idle, Some(i)) => format!("idle in {}", at(i)),
                    (Activity::Idle, None) => "idle".into(),
                    _ => "blocked".into(),
                };
            };
            let what = match f.activity {
                Activity::Idle => "idle, waiting for work".to_string(),
                _ => format!("waits for {}", wait_object(snap, w)),
            };
            format!("{what} at {}", at(w.frame))
        }
        Activity::Running => match f.top {
            Some(i) => format!("running (not in a blocking call) in {}", at(i)),
            None => "running".into(),
        },
        Activity::Unknown => "no readable frames".into(),
    }
}

/// Groups the threads not listed in `keep` (those stay single).
pub fn group_threads(snap: &Snapshot, a: &Analysis, keep: &[usize]) -> Vec<ThreadGroup> {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    let mut singles = Vec::new();
    for t in 0..snap.threads.len() {
        let state = describe(snap, a, t);
        if keep.contains(&t) {
            singles.push(ThreadGroup {
                threads: vec![t],
                name: snap.threads[t].label(),
                state,
            });
            continue;
        }
        let stack: Vec<&str> = snap.threads[t]
            .frames
            .iter()
            .map(|f| f.function.as_deref().map(base_name).unwrap_or("??"))
            .collect();
        groups
            .entry((stack.join("\n"), strip_addresses(&state)))
            .or_default()
            .push(t);
    }
    let mut out = singles;
    for ((_, _), threads) in groups {
        let state = describe(snap, a, threads[0]);
        let name = if threads.len() == 1 {
            snap.threads[threads[0]].label()
        } else {
            name_pattern(
                threads
                    .iter()
                    .map(|&t| snap.threads[t].name.as_deref().unwrap_or("")),
            )
        };
        out.push(ThreadGroup {
            threads,
            name,
            state,
        });
    }
    out.sort_by_key(|g| g.threads[0]);
    out
}

fn strip_addresses(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| !w.starts_with("0x") && !w.starts_with("(0x"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `executor-1`, `executor-2` → `executor-*`.
fn name_pattern<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    let first = names.first().copied().unwrap_or("");
    if names.iter().all(|n| *n == first) {
        return if first.is_empty() {
            "(unnamed)".into()
        } else {
            first.to_string()
        };
    }
    let mut prefix = first.len();
    for n in &names {
        prefix = prefix.min(
            first
                .bytes()
                .zip(n.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    while !first.is_char_boundary(prefix) {
        prefix -= 1;
    }
    // `executor-1` and `executor-12` share `executor-1`; the pattern is `executor-*`.
    prefix = first[..prefix]
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .len();
    if prefix == 0 {
        let mut shown: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.is_empty())
            .take(3)
            .collect();
        shown.dedup();
        let more = if names.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        return format!("threads ({}{more})", shown.join(", "));
    }
    format!("{}*", &first[..prefix])
}

#[cfg(test)]
mod tests {
    #[test]
    fn name_patterns() {
        assert_eq!(
            super::name_pattern(["executor-1", "executor-12"].into_iter()),
            "executor-*"
        );
        assert_eq!(super::name_pattern(["io", "io"].into_iter()), "io");
        assert_eq!(super::name_pattern(["", ""].into_iter()), "(unnamed)");
    }

    #[test]
    fn a_thread_idle_by_its_status_says_where() {
        use crate::knowledge::KnowledgeBase;
        use crate::model::{Frame, Snapshot, Thread};
        let frame = Frame {
            function: Some("app.serve".into()),
            ..Frame::default()
        };
        let snap = Snapshot {
            threads: vec![Thread {
                status: Some("idle".into()),
                frames: vec![frame],
                ..Thread::default()
            }],
            ..Snapshot::default()
        };
        let a = crate::analyze::analyze(&snap, &KnowledgeBase::builtin());
        assert_eq!(super::describe(&snap, &a, 0), "idle in #0 app.serve");
    }
}
