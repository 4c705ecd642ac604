//! Grouping for the report: threads with the same stack and the same state collapse to one
//! line ("38 × executor-pri3-*: idle"), so the threads that matter stand out. What each thread
//! does is a typed [`ThreadState`], which points at the program's own frame as the steps do;
//! the report says it in words.

use super::classify::{Activity, Facts};
use super::finding::{InProgram, Object};
use super::graph::Graph;
use super::motion::Motion;
use super::names::Names;
use super::program::{top_in_program, wait_in_program};
use super::steps::wait_object;
use super::Analysis;
use crate::knowledge::base_name;
use crate::model::{Snapshot, StoppedBy};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::HashSet;

/// Threads that look alike.
#[derive(Debug, Clone)]
pub struct ThreadGroup {
    /// Members (indices), in input order.
    pub threads: Vec<usize>,
    /// Their names, with `*` where they differ (`executor-pri3-*`).
    pub name: String,
    /// What they do (the first member's state).
    pub state: ThreadState,
}

/// What one thread does, who keeps it stopped if it is stopped, and why its stack ends early
/// when the walk stopped before the thread's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThreadState {
    /// The thread (index).
    pub thread: usize,
    /// Who keeps it stopped.
    pub stopped_by: Option<StoppedBy>,
    /// What it does (or was doing when it stopped).
    pub does: Does,
    /// Why its stack ends before the thread's first frame (the walk's own words).
    pub ends_early: Option<String>,
    /// What the second look says it did, when that is news: it spun, cycled, or ran while its
    /// frames say it waits.
    pub moves: Option<Motion>,
    /// The program's own frame at or behind the frame the state points at, with the library
    /// frames folded behind it (none when no frame of the program's is there).
    pub program: Option<InProgram>,
}

/// What a thread does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Does {
    /// Waits for `object` (inside or outside the process), at frame `at`.
    Waits {
        /// For what.
        object: Object,
        /// The frame.
        at: usize,
    },
    /// A worker waiting for work, at frame `at`.
    IdleForWork {
        /// The frame.
        at: usize,
    },
    /// Idle by the runtime's word, with that word unless it says nothing more, at its top frame.
    IdleStated {
        /// The runtime's status.
        status: Option<String>,
        /// Its top frame.
        at: Option<usize>,
    },
    /// Off the CPU by the runtime's word (py-spy's `idle`), in a call the program's frame `at`
    /// made that the dump does not show (C code under a Python frame): a lock, a sleep or a
    /// read, the dump cannot say.
    Unseen {
        /// The runtime's status.
        status: String,
        /// The program's frame, its innermost.
        at: usize,
    },
    /// Blocked, on nothing the frames show.
    Blocked,
    /// Running (not in a blocking call), at its top frame.
    Running {
        /// Its top frame.
        at: Option<usize>,
    },
    /// Stopped outside a blocking call, at its top frame.
    Stopped {
        /// Its top frame.
        at: Option<usize>,
    },
    /// No readable frames; why, when the walk says.
    Unreadable {
        /// Why.
        why: Option<String>,
    },
}

/// What every thread does (see [`ThreadState`]), in parallel.
pub(super) fn describe_all(
    snap: &Snapshot,
    facts: &[Facts],
    graph: &Graph,
    names: &Names,
) -> Vec<ThreadState> {
    (0..snap.threads.len())
        .into_par_iter()
        .map(|t| describe(snap, facts, graph, names, t))
        .collect()
}

/// What thread `t` does (see [`ThreadState`]).
fn describe(
    snap: &Snapshot,
    facts: &[Facts],
    graph: &Graph,
    names: &Names,
    t: usize,
) -> ThreadState {
    let th = &snap.threads[t];
    let f = &facts[t];
    let mut wait = None;
    let does = match f.activity {
        Activity::Blocked | Activity::External | Activity::Idle => {
            let wi = graph.effective[t].unwrap_or(0);
            wait = f.waits.get(wi);
            match (f.waits.get(wi), f.activity) {
                // Idle by the runtime's word alone (py-spy's `idle`, Go's `[GC worker (idle)]`),
                // with no wait in the frames.
                (None, Activity::Idle) => Does::IdleStated {
                    status: th.status.clone().filter(|_| !f.status_redundant),
                    at: f.top,
                },
                (None, _) => Does::Blocked,
                (Some(w), Activity::Idle) => Does::IdleForWork { at: w.frame },
                (Some(w), _) => Does::Waits {
                    object: wait_object(snap, w),
                    at: w.frame,
                },
            }
        }
        Activity::Running => Does::Running { at: f.top },
        Activity::Stopped => Does::Stopped { at: f.top },
        Activity::Unknown => match (f.top, &th.status) {
            (Some(at), Some(status)) => Does::Unseen {
                status: status.clone(),
                at,
            },
            _ => Does::Unreadable {
                why: th.unwind_error.clone().filter(|_| th.frames.is_empty()),
            },
        },
    };
    let waiting = !matches!(
        does,
        Does::Running { .. } | Does::Stopped { .. } | Does::Unreadable { .. }
    );
    let moves = f.motion.filter(|m| match m {
        Motion::Spinning | Motion::Cycling => true,
        Motion::Ran => waiting,
        Motion::Still | Motion::Stirred => false,
    });
    let mut state = ThreadState {
        thread: t,
        stopped_by: th.kernel.as_ref().and_then(|k| k.stopped_by.clone()),
        does,
        ends_early: th.unwind_error.clone().filter(|_| !th.frames.is_empty()),
        moves,
        program: None,
    };
    state.program = match wait {
        Some(w) if state.frame() == Some(w.frame) => wait_in_program(snap, facts, names, t, w),
        _ => (state.frame()).and_then(|top| top_in_program(snap, facts, names, t, top)),
    };
    state
}

impl ThreadState {
    /// The frame the state points at.
    pub fn frame(&self) -> Option<usize> {
        match &self.does {
            Does::Waits { at, .. } | Does::IdleForWork { at } | Does::Unseen { at, .. } => {
                Some(*at)
            }
            Does::IdleStated { at, .. } | Does::Running { at } | Does::Stopped { at } => *at,
            Does::Blocked | Does::Unreadable { .. } => None,
        }
    }

    /// What alike threads share: the state without its thread, addresses or the words with
    /// addresses in them (two threads waiting for two mutexes of the same call are alike).
    fn alike(&self) -> ThreadState {
        let mut s = self.clone();
        s.thread = 0;
        if let Does::Waits { object, .. } = &mut s.does {
            match object {
                Object::Kind {
                    address, symbol, ..
                } => {
                    *address = None;
                    // Elements of one array (`locks+40`, `locks+80`) are one object's.
                    if let Some(s) = symbol {
                        s.truncate(without_offset(s).len());
                    }
                }
                Object::MissingPthreadExit { pthread } => *pthread = 0,
                _ => {}
            }
        }
        let text = |t: &mut Option<String>| {
            if let Some(t) = t {
                *t = strip_addresses(t);
            }
        };
        text(&mut s.ends_early);
        match &mut s.does {
            Does::IdleStated { status, .. } => text(status),
            Does::Unreadable { why } => text(why),
            _ => {}
        }
        s
    }
}

/// Groups the threads not in `keep` (those stay single).
pub fn group_threads(snap: &Snapshot, a: &Analysis, keep: &HashSet<usize>) -> Vec<ThreadGroup> {
    type Key<'a> = (
        Vec<&'a str>,
        ThreadState,
        Option<(Option<u32>, Option<&'a str>, Option<u32>)>,
    );
    type Groups<'a> = FxHashMap<Key<'a>, Vec<usize>>;
    // Grouped on every core, each distinct name's base name worked out once per part: a
    // parsed dump shares equal names, told apart by where their text is. Each part keeps only
    // its distinct keys, and the parts are put together in input order.
    let (groups, singles) = (0..snap.threads.len())
        .into_par_iter()
        .fold(
            || (Groups::default(), Vec::new(), FxHashMap::default()),
            |(mut groups, mut singles, mut bases), t| {
                if keep.contains(&t) {
                    singles.push(t);
                    return (groups, singles, bases);
                }
                let frames = &snap.threads[t].frames;
                let stack: Vec<&str> = frames
                    .iter()
                    .map(|f| match f.function.as_deref() {
                        Some(name) => *bases
                            .entry((name.as_ptr() as usize, name.len()))
                            .or_insert_with(|| base_name(name)),
                        None => "??",
                    })
                    .collect();
                let state = &a.states[t];
                // The frame the state points at, as it is shown: its number, file and line.
                let at = (state.program.as_ref().map(|p| p.frame))
                    .or(state.frame())
                    .and_then(|i| frames.get(i))
                    .map(|f| (f.index, f.file.as_deref(), f.line));
                let key = (stack, state.alike(), at);
                groups.entry(key).or_default().push(t);
                (groups, singles, bases)
            },
        )
        .map(|(groups, singles, _)| (groups, singles))
        .reduce(
            || (Groups::default(), Vec::new()),
            |(mut groups, mut singles), (more, more_singles)| {
                for (key, threads) in more {
                    groups.entry(key).or_default().extend(threads);
                }
                singles.extend(more_singles);
                (groups, singles)
            },
        );
    let singles = singles.into_iter().map(|t| ThreadGroup {
        threads: vec![t],
        name: snap.threads[t].label(),
        state: a.states[t].clone(),
    });
    let mut out: Vec<ThreadGroup> = singles.collect();
    for threads in groups.into_values() {
        let state = a.states[threads[0]].clone();
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

/// A data symbol without its `+offset` (`locks+40` → `locks`).
fn without_offset(symbol: &str) -> &str {
    match symbol.rsplit_once('+') {
        Some((name, off)) if !off.is_empty() && off.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => symbol,
    }
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
        assert_eq!(
            groups[0].state.does,
            super::Does::IdleStated {
                status: Some("finalizer wait".into()),
                at: Some(0)
            }
        );
    }

    #[test]
    fn threads_waiting_for_elements_of_one_array_are_alike() {
        // Three threads in one call, each on a mutex gdb names by its data symbol: two on
        // elements of `locks`, one on a global of its own.
        let waiter = |tid: u64, mutex: &str| Thread {
            tid: Some(tid),
            frames: vec![
                Frame {
                    function: Some("__lll_lock_wait".into()),
                    ..Frame::default()
                },
                Frame {
                    function: Some("pthread_mutex_lock".into()),
                    args: [crate::model::Var::new("mutex".into(), mutex.into())].into(),
                    ..Frame::default()
                },
                Frame {
                    function: Some("shard_worker".into()),
                    ..Frame::default()
                },
            ],
            ..Thread::default()
        };
        let snap = Snapshot {
            threads: vec![
                waiter(10, "0x5028 <locks+40>"),
                waiter(11, "0x5050 <locks+80>"),
                waiter(12, "0x6000 <journal_lock>"),
            ],
            ..Snapshot::default()
        };
        let a = crate::analyze::analyze(&snap, &KnowledgeBase::builtin());
        let groups = super::group_threads(&snap, &a, &std::collections::HashSet::new());
        let mut sizes: Vec<usize> = groups.iter().map(|g| g.threads.len()).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [1, 2], "{groups:?}");
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
    fn a_thread_idle_by_its_status_says_where_and_over_its_own_frame_that_the_call_is_unseen() {
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
        // py-spy's `idle` over the program's own frame: off the CPU in a call the dump does
        // not show.
        assert_eq!(
            a.states[0].does,
            super::Does::Unseen {
                status: "idle".into(),
                at: 0
            }
        );
        // Over a library's frame (a pool's worker loop waiting in C), it says no more than
        // idle does.
        let mut snap = snap;
        snap.threads[0].frames[0].function = Some("concurrent.futures.thread._worker".into());
        let a = crate::analyze::analyze(&snap, &KnowledgeBase::builtin());
        assert_eq!(
            a.states[0].does,
            super::Does::IdleStated {
                status: None,
                at: Some(0)
            }
        );
    }
}
