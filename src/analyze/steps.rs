//! The typed steps of what the graph says: each names the thread, the frame that proves it,
//! and the grade of that proof, so a person can check it against the dump. The words for them
//! are the report's (`report::narrate`).

use super::classify::{Facts, Wait};
use super::finding::{Object, Shows, Step};
use super::graph::{Edge, Grade};
use crate::knowledge::{base_name, KnowledgeBase, WaitKind};
use crate::model::{Frame, Snapshot};

/// What a wait waits for: the joined thread found in the snapshot, the pool, the named
/// resource or the object's address.
pub fn wait_object(snap: &Snapshot, w: &Wait) -> Object {
    match w.kind {
        WaitKind::Join => {
            let unknown = super::graph::memory_tids_unknown(snap);
            let by_tid = w.target_tid.filter(|_| !unknown).and_then(|tid| {
                snap.threads
                    .iter()
                    .position(|t| t.ns_tid.or(t.tid) == Some(tid))
            });
            let who = by_tid.or_else(|| {
                w.target_pthread
                    .and_then(|p| snap.threads.iter().position(|t| t.pthread == Some(p)))
            });
            match (who, w.target_pthread, w.target_tid) {
                (Some(thread), _, _) => Object::ThreadExit { thread },
                (None, _, Some(tid)) if unknown => Object::NamespaceThreadExit { tid },
                (None, _, Some(tid)) => Object::MissingThreadExit { tid },
                (None, Some(pthread), _) => Object::MissingPthreadExit { pthread },
                _ => Object::AnyThreadExit,
            }
        }
        WaitKind::PoolDrain => Object::PoolExit {
            pool: w.pool.as_ref().map(|p| p.class.clone()),
        },
        kind => match &w.named {
            Some(name) => Object::Named { name: name.clone() },
            None => Object::Kind {
                kind,
                address: w.address,
                symbol: w.symbol.clone(),
            },
        },
    }
}

/// The steps of one edge: (handler entry,) the wait, and why the other thread holds it up.
pub fn edge_steps(snap: &Snapshot, facts: &[Facts], e: &Edge, kb: &KnowledgeBase) -> Vec<Step> {
    let from = &snap.threads[e.from];
    let f = &facts[e.from];
    let w = &f.waits[e.wait];
    let mut steps = Vec::new();
    if let Some(sig) = f.signal_frame() {
        let entry = sig.checked_sub(1).filter(|&i| i > w.frame);
        steps.push(Step {
            thread: e.from,
            frame: Some(entry.unwrap_or(sig)),
            shows: Shows::Interrupted {
                signal: sig,
                calls: handler_calls(&from.frames, w.frame, sig, kb),
            },
            grade: None,
        });
    }
    steps.push(Step {
        thread: e.from,
        frame: Some(w.frame),
        shows: Shows::Waits {
            object: wait_object(snap, w),
            at: w.frame,
            blocked_in: (w.first != w.frame).then_some(w.first),
        },
        grade: Some(e.grade),
    });
    let frame = match &e.because {
        super::graph::Because::Holds { frame, .. } => *frame,
        super::graph::Because::IsTarget => Some(0),
        super::graph::Because::Member { frame } => Some(*frame),
        super::graph::Because::Claimed { .. } => None,
    };
    steps.push(Step {
        thread: e.to,
        frame,
        shows: Shows::Holder {
            because: e.because.clone(),
            itself: e.to == e.from,
        },
        grade: Some(e.grade),
    });
    steps
}

/// The handler's own calls from its entry (just above the signal frame) down to the wait,
/// outermost first, without the call plumbing the packs name or repeated names.
fn handler_calls(frames: &[Frame], wait: usize, sig: usize, kb: &KnowledgeBase) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut last: Option<&str> = None;
    for i in (wait..sig).rev() {
        let Some(name) = frames[i].function.as_deref().map(base_name) else {
            continue;
        };
        if kb.match_plumbing(name).is_some() || last == Some(name) {
            continue;
        }
        last = Some(name);
        out.push(i);
    }
    out
}

/// The weakest grade along a set of edges.
pub fn weakest<'a>(edges: impl IntoIterator<Item = &'a Edge>) -> Grade {
    edges
        .into_iter()
        .map(|e| e.grade)
        .min()
        .unwrap_or(Grade::Heuristic)
}
