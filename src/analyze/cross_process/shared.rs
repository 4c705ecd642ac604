//! Process-shared locks across processes: a thread of one process waits for a lock whose
//! owner field (read from memory by the library's rule, glibc's `__owner`) names a thread of
//! another process of the set. Memory proves it, so this holds for cores as for live captures.

use super::{Party, Tie, TieEdge};
use crate::analyze::graph::{memory_tids_unknown, waits_on_owned};
use crate::analyze::Analysis;
use crate::model::Snapshot;

/// The waits for process-shared locks whose owner is a thread of another process of the set.
pub fn edges(snaps: &[Snapshot], analyses: &[Analysis]) -> Vec<TieEdge> {
    let mut out = Vec::new();
    for (p, (snap, a)) in snaps.iter().zip(analyses).enumerate() {
        if memory_tids_unknown(snap) {
            continue;
        }
        let mine = snap.by_memory_tid();
        let foreign = waits_on_owned(&a.facts, &a.graph.owners, |o| {
            o.shared && !mine.contains_key(&o.tid)
        });
        for (address, (o, waiters)) in foreign {
            let owner = a.graph.owners[o].tid;
            let Some((q, thread)) = owner_thread(snaps, p, owner) else {
                continue;
            };
            let Some(pid) = snaps[q].pid else { continue };
            for (t, _) in waiters {
                out.push(TieEdge {
                    from: Party::Thread {
                        process: p,
                        thread: t,
                    },
                    to: pid,
                    tie: Tie::SharedLock {
                        address,
                        symbol: snap.data_symbol(address),
                        owner,
                        owner_thread: thread,
                    },
                });
            }
        }
    }
    out
}

/// The snapshot other than `p` and the thread in it whose id is `tid`.
fn owner_thread(snaps: &[Snapshot], p: usize, tid: u64) -> Option<(usize, usize)> {
    (snaps.iter().enumerate())
        .filter(|&(q, s)| q != p && !memory_tids_unknown(s))
        .find_map(|(q, s)| Some((q, *s.by_memory_tid().get(&tid)?)))
}
