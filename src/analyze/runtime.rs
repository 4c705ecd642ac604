//! Which language runtime each process runs (a JVM, CPython, Go), told by the frames the
//! runtime rules name, and the command that dumps that runtime's own stacks: the next step when
//! native frames cannot show the program's (a JVM's Java frames, CPython's Python frames).

use super::names::Names;
use crate::knowledge::{KnowledgeBase, Rule};
use crate::model::{IdKind, Snapshot};
use rustc_hash::FxHashMap as HashMap;

/// A runtime seen in a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// Its name, as its rule gives it (`HotSpot JVM`, `CPython`, `Go`).
    pub name: String,
    /// The rule that named it.
    pub rule: String,
    /// The process, when the input names it.
    pub pid: Option<u32>,
    /// The command that dumps its stacks in a form hangscan reads, `{pid}` standing for the
    /// process id (the rule's `suggestion`).
    pub dump_with: String,
    /// The first thread (index) whose frames show it.
    pub thread: usize,
}

/// Every runtime the native threads of `snap` show (a live capture's, a core's, a debugger's),
/// once per process, in thread order; not in a process whose goroutines the snapshot holds
/// beside its threads (read from its memory): its runtime was read.
pub fn find(snap: &Snapshot, names: &Names, kb: &KnowledgeBase) -> Vec<Runtime> {
    let hits: HashMap<usize, &Rule> = names
        .bases()
        .filter_map(|(base, id)| Some((id, kb.match_runtime(base)?)))
        .collect();
    let mut out: Vec<Runtime> = Vec::new();
    if hits.is_empty() {
        return out;
    }
    let read: Vec<Option<u32>> = (snap.threads.iter())
        .filter(|t| t.id_kind == IdKind::Goroutine)
        .map(|t| t.process.or(snap.pid))
        .collect();
    for (t, thread) in snap.threads.iter().enumerate() {
        if read.contains(&thread.process.or(snap.pid)) {
            continue;
        }
        // A goroutine, a Java or a Python thread is already seen through its runtime's own
        // dump: it needs no other; so is a thread that shows the runtime's own frames.
        if thread.id_kind != IdKind::Debugger {
            continue;
        }
        let frames = names.thread(t);
        let Some(rule) =
            (0..thread.frames.len()).find_map(|i| hits.get(&frames.get(i)?.base_id).copied())
        else {
            continue;
        };
        if (thread.frames.iter()).any(|f| f.file.as_deref().is_some_and(|n| rule.own_file(n))) {
            continue;
        }
        let pid = thread.process.or(snap.pid);
        if out.iter().any(|r| r.pid == pid && r.rule == rule.id) {
            continue;
        }
        out.push(Runtime {
            name: rule.runtime.clone().unwrap_or_default(),
            rule: rule.id.clone(),
            pid,
            dump_with: rule.suggestion.clone().unwrap_or_default(),
            thread: t,
        });
    }
    out
}
