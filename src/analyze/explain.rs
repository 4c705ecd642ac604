//! Words for what the graph says: each step of a finding names the thread, the frame that
//! proves it, and the grade of that proof, so a person can check it against the dump.

use super::classify::{Facts, Wait};
use super::graph::{Because, Edge, Grade};
use super::Step;
use crate::knowledge::{base_name, KnowledgeBase, WaitKind};
use crate::model::{Frame, Snapshot, StoppedBy, Thread};

/// `#15 PriorityThreadManager::PriorityImpl::join (Foo.cpp:12)`: thread `th`'s frame `pos`.
/// A thread the dump gives no frames for (its state stated by the runtime) has none to show.
pub fn frame_ref(th: &Thread, pos: usize) -> String {
    let Some(f) = th.frames.get(pos) else {
        return "(no frames; the runtime's word)".to_string();
    };
    let idx = f.index.map_or(pos as u32, |i| i);
    let name = f.function.as_deref().map(base_name).unwrap_or("??");
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("#{idx} {name} ({}:{line})", short_path(file)),
        _ => format!("#{idx} {name}"),
    }
}

fn short_path(p: &str) -> &str {
    let mut parts = p.rsplitn(3, '/');
    let last = parts.next().unwrap_or(p);
    match parts.next() {
        Some(dir) => &p[p.len() - last.len() - dir.len() - 1..],
        None => last,
    }
}

/// What a wait waits for, in words.
pub fn wait_object(snap: &Snapshot, w: &Wait) -> String {
    let addr = |a: Option<u64>, sym: &Option<String>| match (a, sym) {
        (Some(a), Some(s)) => format!(" {s} (0x{a:x})"),
        (Some(a), None) => format!(" 0x{a:x}"),
        _ => String::new(),
    };
    match w.kind {
        WaitKind::Join => {
            let unknown = super::graph::memory_tids_unknown(snap);
            let who = w
                .target_tid
                .filter(|_| !unknown)
                .and_then(|tid| {
                    snap.threads
                        .iter()
                        .find(|t| t.ns_tid.or(t.tid) == Some(tid))
                })
                .or_else(|| {
                    w.target_pthread
                        .and_then(|p| snap.threads.iter().find(|t| t.pthread == Some(p)))
                })
                .map(|t| t.label());
            match (who, w.target_pthread, w.target_tid) {
                (Some(who), _, _) => format!("thread {who} to exit"),
                (None, _, Some(tid)) if unknown => format!(
                    "the thread its PID namespace calls {tid} to exit (which thread that is \
                     cannot be told: the namespace's thread ids are not known)"
                ),
                (None, _, Some(tid)) => format!("thread LWP {tid} (not in the dump) to exit"),
                (None, Some(p), _) => format!("thread 0x{p:x} (not in the dump) to exit"),
                _ => "a thread to exit".to_string(),
            }
        }
        WaitKind::PoolDrain => match &w.pool {
            Some(p) => format!("every worker of pool `{}` to exit", p.class),
            None => "a pool's workers to exit".to_string(),
        },
        k => match &w.named {
            Some(n) => n.clone(),
            None => format!("{}{}", k.noun(), addr(w.address, &w.symbol)),
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
        let path = handler_path(&from.frames, w.frame, sig, kb);
        let mut text = format!(
            "{} is running a signal handler: {} interrupted it",
            from.label(),
            frame_ref(from, sig)
        );
        if !path.is_empty() {
            text.push_str(&format!("; the handler calls {}", path.join(" → ")));
        }
        steps.push(Step {
            thread: e.from,
            frame: Some(entry.unwrap_or(sig)),
            text,
            grade: None,
        });
    }
    let mut text = format!(
        "{} waits for {}: {}",
        from.label(),
        wait_object(snap, w),
        frame_ref(from, w.frame)
    );
    if w.first != w.frame {
        text.push_str(&format!(", blocked in {}", frame_ref(from, w.first)));
    }
    steps.push(Step {
        thread: e.from,
        frame: Some(w.frame),
        text,
        grade: Some(e.grade),
    });
    let to = &snap.threads[e.to];
    let who = if e.to == e.from {
        format!("{} itself", to.label())
    } else {
        to.label()
    };
    let (frame, text) = match &e.because {
        Because::Holds(Some(i), what) => (
            Some(*i),
            format!("held by {who}: {} ({what})", frame_ref(to, *i)),
        ),
        Because::Holds(None, what) => (None, format!("held by {who}: {what}")),
        Because::IsTarget => (
            Some(0),
            format!("{who} is that thread, and it is itself blocked"),
        ),
        Because::Member(i) => (
            Some(*i),
            format!("{who} is a worker of that pool: {}", frame_ref(to, *i)),
        ),
        Because::Claimed(what) => (
            None,
            format!("held by {who}, says {what}; nothing else in the dump shows it"),
        ),
    };
    steps.push(Step {
        thread: e.to,
        frame,
        text,
        grade: Some(e.grade),
    });
    steps
}

/// The handler's own calls from its entry (just above the signal frame) down to the wait,
/// outermost first, without the call plumbing the packs name or repeated names.
fn handler_path(frames: &[Frame], wait: usize, sig: usize, kb: &KnowledgeBase) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in (wait..sig).rev() {
        let Some(name) = frames[i].function.as_deref().map(base_name) else {
            continue;
        };
        let plumbing = kb.match_plumbing(name).is_some();
        if plumbing || out.last().is_some_and(|l| l == name) {
            continue;
        }
        out.push(name.to_string());
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

/// Who keeps a thread stopped, in words: `a stop signal` or `its tracer, process 4645 (gdb)`.
pub fn stop_cause(by: &StoppedBy) -> String {
    match by {
        StoppedBy::Signal => "a stop signal".into(),
        StoppedBy::Tracer { pid: 0, .. } => "a tracer".into(),
        StoppedBy::Tracer { pid, name } => match name {
            Some(n) => format!("its tracer, process {pid} ({n})"),
            None => format!("its tracer, process {pid}"),
        },
    }
}
