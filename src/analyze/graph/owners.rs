//! Lock owners read from memory by the library's own rules: the owner field a debugger printed
//! after a frame (gdb's `p *mutex`), or the one a live capture or a core holds at a rule's
//! `owner_offset` from the lock's address; for the kinds of lock that keep their holder in
//! the lock word (a rule's `owner_word`: glibc's robust and PI mutexes), the tid in that word,
//! and whether the owner field says the holder recovered it after its previous owner died.
//! Read once, by the graph, which turns those it can match to a thread into holders and keeps
//! them all (`Graph::owners`) for `analyze::orphans`, which reports those no thread of the
//! process has, and `analyze::died`, which reports the recovered ones.

use super::edge::{Held, Owner};
use crate::analyze::classify::{Activity, Facts};
use crate::knowledge::{KnowledgeBase, Rule};
use crate::model::Snapshot;

/// Every owner read from memory: those a debugger printed, in input order, then those read
/// at the owner offset (or in the lock word) of each wait's lock.
pub fn read(snap: &Snapshot, facts: &[Facts], kb: &KnowledgeBase) -> Vec<Owner> {
    let mut out = printed(snap, kb);
    for w in facts.iter().flat_map(|f| &f.waits) {
        let (Some(a), Some(off)) = (w.address, w.owner_offset) else {
            continue;
        };
        let Some(field) = snap.read_u32(a.wrapping_add(off)).map(u64::from) else {
            continue;
        };
        let rule = kb.rule_by_id(&w.rule);
        let kind = rule
            .and_then(|r| r.shared_flag)
            .and_then(|(at, _)| snap.read_u32(a.wrapping_add(at)))
            .map(u64::from);
        let shared = rule.and_then(|r| r.shared_flag).zip(kind);
        let shared = shared.is_some_and(|((_, mask), k)| k & mask != 0);
        let (tid, recovered, by) = match in_word(rule, kind) {
            Some(ow) => {
                let address = a.wrapping_add(ow.offset);
                let Some(word) = snap.read_u32(address) else {
                    continue;
                };
                let o = ow.owner(u64::from(word), field);
                (o.tid, o.recovered, Held::LockWord { address })
            }
            None => {
                let address = a.wrapping_add(off);
                (field, false, Held::Memory { address })
            }
        };
        if tid != 0 {
            out.push(Owner {
                address: a,
                tid,
                by,
                shared,
                recovered,
            });
        }
    }
    out
}

/// The rule's `owner_word`, when a lock whose flag word is `kind` keeps its holder there.
fn in_word(rule: Option<&Rule>, kind: Option<u64>) -> Option<&crate::knowledge::OwnerWord> {
    let ow = rule?.owner_word.as_ref()?;
    ow.applies(kind?).then_some(ow)
}

/// Lock owners read from the values a debugger printed after a frame (gdb's `p *mutex` after
/// `frame 3`), in input order: a rule's owner field (or lock word) in the value, the lock
/// named by the frame's arguments.
fn printed(snap: &Snapshot, kb: &KnowledgeBase) -> Vec<Owner> {
    let mut found: Vec<(usize, Owner)> = Vec::new();
    for frame in snap.threads.iter().flat_map(|t| &t.frames) {
        for p in &frame.printed {
            let Some((rule, field_value, field)) = kb.match_printed(&p.text) else {
                continue;
            };
            let Some(address) = (rule.address_args.iter())
                .find_map(|n| frame.arg(n))
                .and_then(crate::values::value_address)
            else {
                continue;
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
            let in_word = in_word(Some(rule), kind)
                .and_then(|ow| Some((ow, ow.printed_word(&p.text)?)))
                .map(|(ow, (word, name))| (ow.owner(word, field_value), name));
            let (tid, recovered, field) = match in_word {
                Some((o, name)) => (o.tid, o.recovered, name.unwrap_or(field)),
                None => (field_value, false, field),
            };
            if tid != 0 {
                let by = Held::Printed {
                    field,
                    line: p.line,
                };
                let owner = Owner {
                    address,
                    tid,
                    by,
                    shared,
                    recovered,
                };
                found.push((p.line, owner));
            }
        }
    }
    found.sort_by_key(|(line, _)| *line);
    found.into_iter().map(|(_, o)| o).collect()
}

/// The blocked threads' first waits on locks whose owner (as read) `keep` accepts, by lock
/// address: the owner's index in `owners`, and the waits on that lock (thread, wait). What the
/// detectors of gone and dead owners share.
pub fn waits_on_owned(
    facts: &[Facts],
    owners: &[Owner],
    keep: impl Fn(&Owner) -> bool,
) -> std::collections::BTreeMap<u64, (usize, Vec<(usize, usize)>)> {
    let mut by_lock = std::collections::BTreeMap::new();
    for (t, f) in facts.iter().enumerate() {
        if f.activity != Activity::Blocked {
            continue;
        }
        let hit = f.waits.iter().enumerate().find_map(|(wi, w)| {
            let a = w.address.filter(|_| w.kind.is_lock())?;
            let o = (owners.iter()).position(|o| o.address == a && keep(o))?;
            Some((a, o, wi))
        });
        if let Some((a, o, wi)) = hit {
            by_lock.entry(a).or_insert((o, Vec::new())).1.push((t, wi));
        }
    }
    by_lock
}
