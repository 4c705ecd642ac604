//! Deadlocks through the dynamic loader's lock: threads wait for it (a wait of kind `loader`:
//! `dlopen`, `dlsym`, `dlclose`, `dladdr`) while the thread that holds it, inside the loader
//! running a library's constructor or destructor, waits in turn. Its wait ends only when the
//! constructor returns, and the constructor waits for a lock one of the waiters holds (a
//! cycle through the loader), or for anything else that does not come.
//!
//! Who holds the loader's lock: its owner field read from memory or printed (the graph's edge
//! from the waiter, `proven`), else the one other thread whose frames a `hold` rule of kind
//! `loader` shows inside the loader (`heuristic`). A holder waiting for the outside (I/O, a
//! sleep) makes it a warning, not a deadlock.

use super::advice::advice;
use super::classify::{Activity, Facts, Wait};
use super::finding::{Detail, Draft, Finding, HeldAt, Shows, Step};
use super::graph::{Because, Grade, Graph, Held};
use super::names::Names;
use super::program::in_program;
use super::steps::{edge_steps, held_at, wait_object, wait_step};
use super::{FindingKind, Severity};
use crate::knowledge::{KnowledgeBase, Meaning, WaitKind};
use crate::model::Snapshot;
use std::collections::BTreeMap;

/// One finding per thread inside the loader that blocked threads wait for, while it waits.
pub fn find(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
) -> Vec<Finding> {
    // The holder → the waiters behind it: (thread, how it is known, why).
    let mut behind: BTreeMap<usize, Vec<(usize, Grade, Because)>> = BTreeMap::new();
    for (b, f) in facts.iter().enumerate() {
        if loader_wait(f).is_none() {
            continue;
        }
        let edge = g.out(b).find(|e| e.wait == 0 && e.to != b);
        let holder = match edge {
            Some(e) => Some((e.to, e.grade, e.because.clone())),
            None => inside_loader(facts, names, b),
        };
        // A holder that waits for the loader itself is one of its waiters, not inside it.
        let Some((a, grade, because)) = holder.filter(|(a, _, _)| {
            facts[*a].activity == Activity::Blocked && loader_wait(&facts[*a]).is_none()
        }) else {
            continue;
        };
        behind.entry(a).or_default().push((b, grade, because));
    }
    behind
        .into_iter()
        .map(|(a, waiters)| finding(snap, facts, g, names, kb, a, &waiters))
        .collect()
}

/// The thread's wait for the loader's lock, when it is blocked there.
fn loader_wait(f: &Facts) -> Option<&Wait> {
    let w = f.waits.first().filter(|w| w.kind == WaitKind::Loader)?;
    (f.activity == Activity::Blocked).then_some(w)
}

/// The frame of thread `t` a `hold` rule of kind `loader` matches: it is inside the loader.
fn loader_hold(facts: &[Facts], names: &Names, t: usize) -> Option<usize> {
    let frames = names.thread(t);
    facts[t].holds.iter().map(|h| h.frame).find(|&i| {
        frames
            .rule(i)
            .is_some_and(|r| r.meaning == Meaning::Hold && r.kind == Some(WaitKind::Loader))
    })
}

/// The one thread other than `b` whose frames show it inside the loader.
fn inside_loader(facts: &[Facts], names: &Names, b: usize) -> Option<(usize, Grade, Because)> {
    let mut inside = (0..facts.len())
        .filter(|&t| t != b)
        .filter_map(|t| Some((t, loader_hold(facts, names, t)?)));
    let (a, frame) = inside.next()?;
    if inside.next().is_some() {
        return None;
    }
    let rule = names.thread(a).rule(frame).map(|r| r.id.clone())?;
    let by = Held::Rule { rule };
    Some((
        a,
        Grade::Heuristic,
        Because::Holds {
            frame: Some(frame),
            by,
        },
    ))
}

fn finding(
    snap: &Snapshot,
    facts: &[Facts],
    g: &Graph,
    names: &Names,
    kb: &KnowledgeBase,
    a: usize,
    waiters: &[(usize, Grade, Because)],
) -> Finding {
    let (b0, _, because0) = &waiters[0];
    let lock = &facts[*b0].waits[0];
    let mut steps: Vec<Step> = waiters
        .iter()
        .map(|(b, grade, _)| wait_step(snap, facts, names, *b, &facts[*b].waits[0], Some(*grade)))
        .collect();
    // Where the holder took the loader's lock: the program's call into the loader.
    let inside = loader_hold(facts, names, a);
    let at = inside
        .and_then(|i| in_program(&snap.threads[a].frames, names.thread(a), &facts[a], i))
        .map(|p| HeldAt::Call { frame: p.frame })
        .unwrap_or_else(|| held_at(snap, facts, names, a, lock, because0));
    let mut grade = waiters
        .iter()
        .map(|w| w.1)
        .min()
        .unwrap_or(Grade::Heuristic);
    steps.push(Step {
        thread: a,
        frame: inside.or(match because0 {
            Because::Holds { frame, .. } => *frame,
            _ => None,
        }),
        shows: Shows::Holder {
            because: because0.clone(),
            itself: false,
            held_at: Some(at),
        },
        grade: Some(grade),
    });
    // What the holder waits for, inside the loader: a waiter's lock (a cycle), else anything.
    let out: Vec<_> = g.out(a).collect();
    let to_waiter = out
        .iter()
        .find(|e| waiters.iter().any(|(b, _, _)| *b == e.to));
    // The waiters, then the holder (the report's title names them so).
    let mut threads: Vec<usize> = waiters.iter().map(|w| w.0).collect();
    threads.push(a);
    match to_waiter.or(out.first()) {
        Some(e) => {
            if to_waiter.is_some() {
                grade = grade.min(e.grade);
            }
            steps.extend(edge_steps(snap, facts, names, e, kb));
        }
        None => steps.push(wait_step(snap, facts, names, a, &facts[a].waits[0], None)),
    }
    let waits = waiters
        .iter()
        .map(|(b, _, _)| &facts[*b].waits[0])
        .chain(facts[a].waits.first());
    // A constructor waiting for the outside (I/O, a sleep) holds the others up, no more.
    let external =
        to_waiter.is_none() && facts[a].waits.first().is_some_and(|w| w.kind.is_external());
    Draft {
        kind: FindingKind::LoaderLock,
        severity: if external {
            Severity::Warning
        } else {
            Severity::Deadlock
        },
        confidence: grade,
        threads,
        detail: Detail::Loader {
            lock: wait_object(snap, lock),
            holder: a,
            cycle: to_waiter.is_some(),
        },
        steps,
        suggestion: advice(kb, waits, "loader-lock"),
    }
    .sign(snap)
}

#[cfg(test)]
mod tests {
    use crate::analyze::{analyze, Detail, FindingKind};
    use crate::dump::parse_dump;
    use crate::knowledge::KnowledgeBase;

    /// A gdb dump: LWP 100 unloads a plugin whose destructor joins a worker; LWP 101 waits in
    /// dlopen for the loader's lock. No owner is printed.
    const DESTRUCTOR_JOINS: &str = "\
Thread 2 (Thread 0x7f01 (LWP 101)):
#0  futex_wait (futex_word=0x7fa28) at futex-internal.h:146
#1  __GI___lll_lock_wait (futex=0x7fa28 <_rtld_global+2568>, private=0) at lowlevellock.c:49
#2  ___pthread_mutex_lock (mutex=0x7fa28 <_rtld_global+2568>) at pthread_mutex_lock.c:93
#3  0x3 in _dl_open (file=0x9 \"libb.so\", mode=2) at dl-open.c:824
#4  0x4 in dlopen_doit (a=0x8) at dlopen.c:56
#5  0x5 in __GI__dl_catch_exception (exception=0x8) at dl-error-skeleton.c:208
#6  0x6 in _dl_catch_error (objname=0x8) at dl-error-skeleton.c:227
#7  0x7 in _dlerror_run (operate=0x8) at dlerror.c:138
#8  0x8 in ___dlopen (file=0x9, mode=2) at dlopen.c:81
#9  0x9 in load_codec () at app.c:40
#10 0xa in main () at app.c:60
Thread 1 (Thread 0x7f00 (LWP 100)):
#0  futex_wait (futex_word=0x6000, expected=7) at futex-internal.c:57
#1  __pthread_clockjoin_ex (threadid=1, thread_return=0x0) at pthread_join_common.c:102
#2  0x2 in stop_worker () at plugin.c:12
#3  0x3 in _dl_close_worker (map=0x1, force=false) at dl-close.c:293
#4  0x4 in _dl_close (_map=0x1) at dl-close.c:800
#5  0x5 in __GI__dl_catch_exception (exception=0x8) at dl-error-skeleton.c:208
#6  0x6 in _dl_catch_error (objname=0x8) at dl-error-skeleton.c:227
#7  0x7 in _dlerror_run (operate=0x8) at dlerror.c:138
#8  0x8 in __dlclose (handle=0x1) at dlclose.c:31
#9  0x9 in unload () at app.c:20
#10 0xa in worker_main () at app.c:25
";

    #[test]
    fn a_dlopen_behind_a_destructor_that_blocks_is_a_loader_lock_from_frames_alone() {
        let snap = parse_dump(DESTRUCTOR_JOINS.as_bytes(), "t", Some("gdb")).unwrap();
        let a = analyze(&snap, &KnowledgeBase::builtin());
        let f = &a.findings[0];
        assert_eq!(f.kind, FindingKind::LoaderLock, "{:?}", a.findings);
        assert_eq!(f.threads, [0, 1]);
        assert!(matches!(
            f.detail,
            Detail::Loader {
                holder: 1,
                cycle: false,
                ..
            }
        ));
        assert!(!a.findings.iter().any(|f| f.kind == FindingKind::Stall));
    }
}
