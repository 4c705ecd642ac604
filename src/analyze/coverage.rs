//! How much of the process a snapshot shows: the gaps its producer found, and a stack the
//! input ends inside judged by the rules: whole when its outermost frame is one a whole stack
//! may end at (`outermost`: a thread's or the process's first frame, `main` where gdb stops),
//! cut otherwise. A verdict that needs every thread stands only on a whole view.

use crate::knowledge::KnowledgeBase;
use crate::model::{Gap, Snapshot};
use serde::Serialize;

/// What the snapshot shows of the process.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Every thread, each with its whole stack: verdicts that need the whole process (a
    /// stall, a lock whose owner is no thread shown, every thread stopped) may stand.
    pub whole: bool,
    /// Why not, as the input shows it: the producer's gaps, a stack the input ends inside only
    /// when it is cut; [`Gap::Unsaid`] when the producer said no more.
    pub gaps: Vec<Gap>,
}

/// Judges the snapshot's gaps with the rules.
pub fn judge(snap: &Snapshot, kb: &KnowledgeBase) -> Coverage {
    let mut gaps: Vec<Gap> = (snap.gaps.iter())
        .filter(|g| match g {
            Gap::EndsInStack { thread, .. } => !ends_whole(snap, *thread, kb),
            _ => true,
        })
        .cloned()
        .collect();
    if !snap.complete && gaps.is_empty() {
        gaps.push(Gap::Unsaid);
    }
    Coverage {
        whole: snap.complete && gaps.is_empty(),
        gaps,
    }
}

/// Whether thread `t`'s stack ends at a frame a whole stack may end at (past the zero return
/// address, `0x0 - <unknown>`, Rust's backtraces end every stack with).
fn ends_whole(snap: &Snapshot, t: usize, kb: &KnowledgeBase) -> bool {
    let frames = snap.threads.get(t).map_or(&[][..], |t| &t.frames[..]);
    let end_marker = |f: &&crate::model::Frame| {
        f.address.is_none_or(|a| a == 0) && f.function.as_deref().is_none_or(|n| n == "<unknown>")
    };
    let outermost = frames.iter().rev().find(|f| !end_marker(f));
    let function = outermost.and_then(|f| f.function.as_deref());
    function.is_some_and(|f| kb.match_outermost(f).is_some())
}

/// The snapshot with the threads taken off the runtime's claims that name a thread whose stack
/// the input was cut inside (parking_lot's `Deadlock #k` lists its threads with no count: one
/// cut after its first thread would claim a deadlock of that thread alone); `None` when no
/// claim does.
pub fn without_cut_claims(snap: &Snapshot, c: &Coverage) -> Option<Snapshot> {
    let cut: Vec<&crate::model::Thread> = (c.gaps.iter())
        .filter_map(|g| match g {
            Gap::EndsInStack { thread, .. } => snap.threads.get(*thread),
            _ => None,
        })
        .collect();
    let names = |claim: &crate::model::Claim| {
        (claim.threads.iter()).any(|n| cut.iter().any(|t| t.answers_to(n)))
    };
    if !snap.claims.iter().any(names) {
        return None;
    }
    let mut trimmed = snap.clone();
    for claim in trimmed.claims.iter_mut().filter(|claim| names(claim)) {
        claim.threads.clear();
    }
    Some(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::parse_dump;

    fn coverage(dump: &str) -> Coverage {
        let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
        judge(&snap, &KnowledgeBase::builtin())
    }

    const WHOLE: &str = "\
Thread 2 (Thread 0x7f01 (LWP 101)):
#0  0x1 in compute () at c.c:10
#1  0x3 in start_thread (arg=0x0) at pthread_create.c:442

Thread 1 (Thread 0x7f00 (LWP 100)):
#0  ___pthread_mutex_lock (mutex=0x5000) at pthread_mutex_lock.c:93
#1  0x5 in main () at c.c:30
";

    #[test]
    fn a_dump_ending_at_main_or_a_thread_entry_is_whole_one_ending_elsewhere_is_cut() {
        assert!(coverage(WHOLE).whole);
        let cut = WHOLE.replace("#1  0x5 in main () at c.c:30\n", "");
        let c = coverage(&cut);
        assert!(!c.whole);
        assert_eq!(c.gaps, vec![Gap::EndsInStack { thread: 1, line: 6 }]);
    }
}
