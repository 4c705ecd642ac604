//! Lock owners read from memory by the library's own rules: the owner field a debugger printed
//! after a frame (gdb's `p *mutex`), or the one a live capture or a core holds at a rule's
//! `owner_offset` from the lock's address. Read once, by the graph, which turns those it can
//! match to a thread into holders and keeps them all (`Graph::owners`) for
//! `analyze::orphans`, which reports those no thread of the process has.

use super::edge::{Held, Owner};
use crate::analyze::classify::Facts;
use crate::knowledge::KnowledgeBase;
use crate::model::Snapshot;

/// Every owner read from memory: those a debugger printed, in input order, then those read
/// at the owner offset of each wait's lock.
pub fn read(snap: &Snapshot, facts: &[Facts], kb: &KnowledgeBase) -> Vec<Owner> {
    let mut out = printed(snap, kb);
    for w in facts.iter().flat_map(|f| &f.waits) {
        if let (Some(a), Some(off)) = (w.address, w.owner_offset) {
            if let Some(owner) = snap.read_u32(a + off).filter(|&o| o != 0) {
                let flag = kb.rule_by_id(&w.rule);
                let shared = flag.and_then(|r| r.shared_flag).is_some_and(|(at, mask)| {
                    snap.read_u32(a + at)
                        .is_some_and(|k| u64::from(k) & mask != 0)
                });
                out.push(Owner {
                    address: a,
                    tid: u64::from(owner),
                    by: Held::Memory { address: a + off },
                    shared,
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
                let kind = rule.shared_printed.as_ref().and_then(|re| {
                    let caps = re.captures(p.text.as_bytes())?;
                    std::str::from_utf8(caps.name("kind")?.as_bytes())
                        .ok()?
                        .parse::<u64>()
                        .ok()
                });
                let shared = rule
                    .shared_flag
                    .zip(kind)
                    .is_some_and(|((_, mask), k)| k & mask != 0);
                found.push((
                    p.line,
                    Owner {
                        address,
                        tid: owner,
                        by,
                        shared,
                    },
                ));
            }
        }
    }
    found.sort_by_key(|(line, _)| *line);
    found.into_iter().map(|(_, o)| o).collect()
}
