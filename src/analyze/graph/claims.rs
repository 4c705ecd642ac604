//! What a runtime's own deadlock report says of the graph (parking_lot's `Deadlock #k`
//! blocks): the threads of each reported deadlock, and the holder it implies for a thread's
//! mutex wait when no frame shows one. A claim, graded by what the dump itself shows, never
//! evidence that confirms it.

use super::{Because, Grade, Held};
use crate::model::Snapshot;

/// The deadlocks the dump's runtime reports by thread (parking_lot's `Deadlock #k` blocks):
/// the member threads of each, with the claim's text and line.
pub(super) fn claimed_cycles(snap: &Snapshot) -> Vec<(Vec<usize>, Held)> {
    snap.claims
        .iter()
        .filter(|c| c.deadlock && !c.threads.is_empty())
        .filter_map(|c| {
            let members: Option<Vec<usize>> = c
                .threads
                .iter()
                .map(|name| snap.threads.iter().position(|t| t.answers_to(name)))
                .collect();
            let report = Held::Report {
                text: c.text.clone(),
                line: c.line,
            };
            Some((members?, report))
        })
        .collect()
}

/// Who holds the mutex thread `t` waits for, when no frame shows it but the runtime's own
/// detector, which tracks every lock's owner, reports `t` in a deadlock of one thread (it
/// holds the lock itself) or of two (the other holds it). Only for a mutex: a detector that
/// tracks a lock, not its readers, reports an rwlock upgrade waiting for readers as a
/// deadlock of the upgrading thread alone. The grade is what the dump itself shows: a thread
/// blocked in a lock call, no owner, so heuristic; the claim is a claim, not evidence.
pub(super) fn claimed_holder(
    claimed: &[(Vec<usize>, Held)],
    t: usize,
) -> Vec<(usize, Grade, Because)> {
    claimed
        .iter()
        .find_map(|(members, what)| {
            let holder = match members.as_slice() {
                [only] if *only == t => t,
                [a, b] if *a == t => *b,
                [a, b] if *b == t => *a,
                _ => return None,
            };
            Some(vec![(
                holder,
                Grade::Heuristic,
                Because::Claimed { by: what.clone() },
            )])
        })
        .unwrap_or_default()
}
