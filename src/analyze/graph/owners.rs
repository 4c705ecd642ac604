//! Lock owners read from memory by the library's own rules: the owner field a debugger printed
//! after a frame (gdb's `p *mutex`), or the one a live capture or a core holds at a rule's
//! `owner_offset` from the lock's address. The graph turns those it can match to a thread into
//! holders; `analyze::orphans` reports those no thread of the process has.

use super::edge::Held;
use crate::analyze::classify::Facts;
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;

/// An owner field read from memory.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The lock's address.
    pub address: u64,
    /// The owner's thread id, as the process's memory holds it (never 0: unlocked, or held
    /// by readers, names no one).
    pub tid: u64,
    /// Where it was read.
    pub by: Held,
}

/// Every owner read from memory: those a debugger printed, in input order, then those read
/// at the owner offset of each wait's lock.
pub fn read(snap: &Snapshot, facts: &[Facts], kb: &KnowledgeBase) -> Vec<Owner> {
    let mut out = printed(snap, kb);
    for w in facts.iter().flat_map(|f| &f.waits) {
        if let (Some(a), Some(off)) = (w.address, w.owner_offset) {
            if let Some(owner) = snap.read_u32(a + off).filter(|&o| o != 0) {
                out.push(Owner {
                    address: a,
                    tid: u64::from(owner),
                    by: Held::Memory { address: a + off },
                });
            }
        }
    }
    out
}

/// Lock owners read from the values a debugger printed after a frame (gdb's `p *mutex` after
/// `frame 3`), in input order: a rule's owner field in the value, the lock named by the
/// frame's arguments.
fn printed(snap: &Snapshot, kb: &KnowledgeBase) -> Vec<Owner> {
    let mut found: Vec<(usize, Owner)> = Vec::new();
    for frame in snap.threads.iter().flat_map(|t| &t.frames) {
        for p in &frame.printed {
            let Some((rule, owner, field)) = kb.match_printed(&p.text) else {
                continue;
            };
            let address = rule
                .address_args
                .iter()
                .find_map(|n| frame.arg(n))
                .and_then(crate::values::value_address);
            if let (Some(address), true) = (address, owner != 0) {
                let by = Held::Printed {
                    field,
                    line: p.line,
                };
                found.push((
                    p.line,
                    Owner {
                        address,
                        tid: owner,
                        by,
                    },
                ));
            }
        }
    }
    found.sort_by_key(|(line, _)| *line);
    found.into_iter().map(|(_, o)| o).collect()
}
