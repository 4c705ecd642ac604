//! Grouping for the report: threads with the same stack and the same wait collapse to one
//! line ("38 × executor-pri3-*: idle"), so the threads that matter stand out.

use super::classify::Activity;
use super::explain::{frame_ref, stop_cause, wait_object};
use super::Analysis;
use crate::knowledge::base_name;
use crate::model::Snapshot;
use std::collections::{BTreeMap, HashSet};

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

/// One line saying what thread `t` does, who keeps it stopped if it is stopped, and why its
/// stack ends early when the walk stopped before the thread's first frame.
pub fn describe(snap: &Snapshot, a: &Analysis, t: usize) -> String {
    let doing = doing(snap, a, t);
    let by = snap.threads[t]
        .kernel
        .as_ref()
        .and_then(|k| k.stopped_by.as_ref());
    match by {
        Some(by) if a.facts[t].activity != Activity::Stopped => {
            format!("stopped by {}; {doing}", stop_cause(by))
        }
        Some(by) => format!("stopped by {}{doing}", stop_cause(by)),
        None => doing,
    }
}

/// What thread `t` does (or was doing when it stopped), and why its stack ends early.
fn doing(snap: &Snapshot, a: &Analysis, t: usize) -> String {
    let th = &snap.threads[t];
    let doing = activity(snap, a, t);
    match &th.unwind_error {
        Some(why) if !th.frames.is_empty() => format!("{doing}; its stack ends early: {why}"),
        _ => doing,
    }
}

/// What thread `t` does, from its facts.
fn activity(snap: &Snapshot, a: &Analysis, t: usize) -> String {
    let th = &snap.threads[t];
    let f = &a.facts[t];
    let at = |i: usize| frame_ref(th, i);
    match f.activity {
        Activity::Blocked | Activity::External | Activity::Idle => {
            let wi = a.graph.effective[t].unwrap_or(0);
            let Some(w) = f.waits.get(wi) else {
                // Idle by the runtime's word alone (py-spy's `idle`, Go's `[GC worker (idle)]`),
                // with no wait in the frames.
                return match f.activity {
                    Activity::Idle => {
                        let mut s = "idle".to_string();
                        let said = th.status.as_deref().filter(|_| !f.status_redundant);
                        if let Some(status) = said {
                            s.push_str(&format!(" ({status})"));
                        }
                        if let Some(i) = f.top {
                            s.push_str(&format!(" in {}", at(i)));
                        }
                        s
                    }
                    _ => "blocked".into(),
                };
            };
            let what = match f.activity {
                Activity::Idle => "idle, waiting for work".to_string(),
                _ => format!("waits for {}", wait_object(snap, w)),
            };
            if th.frames.is_empty() {
                return format!("{what} {}", at(w.frame));
            }
            format!("{what} at {}", at(w.frame))
        }
        Activity::Running => match f.top {
            Some(i) => format!("running (not in a blocking call) in {}", at(i)),
            None => "running".into(),
        },
        // Follows "stopped by …".
        Activity::Stopped => match f.top {
            Some(i) => format!(", in {}", at(i)),
            None => String::new(),
        },
        Activity::Unknown => match &th.unwind_error {
            Some(why) if th.frames.is_empty() => format!("no readable frames: {why}"),
            _ => "no readable frames".into(),
        },
    }
}

/// Groups the threads not in `keep` (those stay single).
pub fn group_threads(snap: &Snapshot, a: &Analysis, keep: &HashSet<usize>) -> Vec<ThreadGroup> {
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
        } else if threads.iter().all(|&t| snap.threads[t].name.is_none()) {
            // Goroutines and unnamed threads: their first few labels.
            let mut shown: Vec<String> = threads
                .iter()
                .take(3)
                .map(|&t| snap.threads[t].label())
                .collect();
            if threads.len() > 3 {
                shown.push("…".into());
            }
            shown.join(", ")
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
    use crate::knowledge::KnowledgeBase;
    use crate::model::{Frame, IdKind, Snapshot, Thread};

    #[test]
    fn unnamed_alike_threads_show_their_labels_and_a_stated_idle_state() {
        let worker = |id: &str| Thread {
            debugger_id: Some(id.into()),
            id_kind: IdKind::Goroutine,
            status: Some("finalizer wait".into()),
            frames: vec![Frame {
                function: Some("bg.worker".into()),
                ..Frame::default()
            }],
            ..Thread::default()
        };
        let snap = Snapshot {
            threads: ["4", "9", "12", "30"].into_iter().map(worker).collect(),
            ..Snapshot::default()
        };
        let pack = r#"
[[rule]]
id = "t.idle"
summary = "a runtime's idle state"
meaning = "idle"
status = '^(idle|finalizer wait)$'
examples = ["finalizer wait"]
counterexamples = ["running"]
"#;
        let kb = KnowledgeBase::load(&[("t.toml".into(), pack.into())]).unwrap();
        let a = crate::analyze::analyze(&snap, &kb);
        let groups = super::group_threads(&snap, &a, &std::collections::HashSet::new());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].name, "goroutine 4, goroutine 9, goroutine 12, …");
        assert_eq!(groups[0].state, "idle (finalizer wait) in #0 bg.worker");
    }

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
