//! Locks a thread holds and pools it works for, in any segment: notes and status words that
//! state them, guards read from memory or printed by `bt full`, rules on functions, and the
//! pool a thread's name or start routine names.

use super::args::{all_addresses, arg_value};
use super::waits::fix_join_targets;
use super::{entry, Facts, Hold, LockId, Membership, PoolRef, Wait};
use crate::analyze::names::FrameNames;
use crate::knowledge::{KnowledgeBase, Meaning};
use crate::model::{Snapshot, Thread};
use crate::values::value_address;

pub(super) fn collect_holds_and_members(
    thread: &Thread,
    names: FrameNames,
    kb: &KnowledgeBase,
    memory: &Snapshot,
    facts: &mut Facts,
) {
    let frames = &thread.frames;
    fix_join_targets(&mut facts.waits);
    let in_chain = |i: usize| facts.waits.iter().any(|w| (w.first..=w.frame).contains(&i));
    let mut holds = Vec::new();
    let mut members = Vec::new();
    // Notes that state a lock is held: on a frame (Java's `- locked <0x…>`), or on the thread
    // as a whole (its locked ownable synchronizers), shown at the outermost frame.
    let outermost = frames.len().checked_sub(1);
    let noted = frames
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.notes.iter().map(move |n| (Some(i), n)))
        .chain(thread.notes.iter().map(|n| (outermost, n)));
    for (at, note) in noted {
        let Some(frame) = at else { continue };
        if let Some((rule, Some(address), _)) = kb.match_note(note) {
            if rule.meaning == Meaning::Hold {
                holds.push(Hold {
                    lock: LockId::Addr(address),
                    frame,
                    rule: rule.id.clone(),
                    from_local: true,
                    from_memory: false,
                });
            }
        }
    }
    // The runtime's word for the thread's state can name a lock it holds (py-spy's `+gil`).
    let status_rule = thread.status.as_deref().and_then(|s| kb.match_status(s));
    if let (Some(rule), Some(top)) = (status_rule, facts.top.or(outermost)) {
        if let (Meaning::Hold, Some(name)) = (rule.meaning, &rule.resource) {
            holds.push(Hold {
                lock: LockId::Named(name.clone()),
                frame: top,
                rule: rule.id.clone(),
                from_local: true,
                from_memory: false,
            });
        }
    }
    for (i, frame) in frames.iter().enumerate() {
        // A guard read from memory: the producer followed its pointer to the lock. A lock whose
        // word reads 0 is free: the guard was moved away or released (Rust's `drop(guard)`
        // leaves the variable's bytes as they were).
        let guards = (frame.locals.iter().chain(frame.args.iter()))
            .filter_map(|v| v.read.as_ref()?.holds.as_ref())
            .flat_map(|g| g.locks().map(move |lock| (lock, g)))
            .filter(|&(lock, _)| memory.read_u32(lock) != Some(0));
        holds.extend(guards.map(|(lock, g)| Hold {
            lock: LockId::Addr(lock),
            frame: i,
            rule: g.rule.clone(),
            from_local: true,
            from_memory: true,
        }));
        // A local's printed value (`bt full`); one read from memory was judged by its type above.
        for local in frame.locals.iter().filter(|l| l.read.is_none()) {
            if let Some((rule, addr)) = names.local(&local.name, &local.value) {
                let addrs = match addr {
                    Some(a) => vec![a],
                    None => all_addresses(&local.value),
                };
                // `{_M_device = @0x0}`: a guard not constructed yet.
                let addrs: Vec<u64> = addrs.into_iter().filter(|&a| a != 0).collect();
                holds.extend(addrs.into_iter().map(|a| Hold {
                    lock: LockId::Addr(a),
                    frame: i,
                    rule: rule.id.clone(),
                    from_local: true,
                    from_memory: false,
                }));
            }
        }
        let Some(rule) = names.rule(i) else { continue };
        match rule.meaning {
            Meaning::Hold | Meaning::Wait if !in_chain(i) => {
                if let (Some(name), true) = (
                    &rule.resource,
                    rule.meaning == Meaning::Hold || rule.context,
                ) {
                    holds.push(Hold {
                        lock: LockId::Named(name.clone()),
                        frame: i,
                        rule: rule.id.clone(),
                        from_local: false,
                        from_memory: false,
                    });
                }
            }
            Meaning::Member => {
                if let Some(class) = names.pool(i) {
                    let pool = PoolRef {
                        class: class.to_string(),
                        instance: arg_value(frame, &rule.instance_args).and_then(value_address),
                    };
                    // A loop of the same pool nested in its task (a parallel algorithm in a
                    // task group's wait): the thread is one member, at the innermost loop.
                    if !members.iter().any(|m: &Membership| m.pool == pool) {
                        members.push(Membership {
                            pool,
                            frame: i,
                            rule: rule.id.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    members.extend(named_member(thread, names, kb, &facts.waits, &members));
    members.extend(entry::entry_member(thread, names, kb, &members));
    // A condvar wait has released its mutex, whatever the guard local still says.
    let released: Vec<u64> = facts.waits.iter().filter_map(|w| w.releases).collect();
    holds.retain(|h| !matches!(h.lock, LockId::Addr(a) if released.contains(&a)));
    // A guard whose constructor is still waiting for the lock is listed by `bt full` in the
    // frame that builds it: that frame (the wait's caller) does not hold the lock yet.
    for w in facts.waits.iter().filter(|w| w.kind.is_lock()) {
        let (Some(addr), Some(&caller)) = (w.address, w.site.first()) else {
            continue;
        };
        holds.retain(|h| !(h.from_local && h.frame <= caller && h.lock == LockId::Addr(addr)));
    }
    facts.holds = holds;
    facts.members = members;
}

/// Membership the library's name for the thread states (a `thread` rule), for a pool no frame
/// already names: its worker loop is the frame that calls the program's outermost frame (the
/// task it runs), or, with no program frame, the frame below the thread's last wait.
fn named_member(
    thread: &Thread,
    names: FrameNames,
    kb: &KnowledgeBase,
    waits: &[Wait],
    members: &[Membership],
) -> Option<Membership> {
    let rule = kb.match_thread(thread.name.as_deref()?)?;
    if !rule.thread_in(thread.frames.iter().filter_map(|f| f.module.as_deref())) {
        return None;
    }
    let class = rule
        .pool
        .as_ref()
        .filter(|_| rule.meaning == Meaning::Member)?;
    if members.iter().any(|m| m.pool.class == *class) {
        return None;
    }
    let frames = &thread.frames;
    let task = (0..frames.len())
        .rev()
        .find(|&i| names.is_program(frames, i));
    let below = task.or(waits.last().map(|w| w.frame))?;
    Some(Membership {
        pool: PoolRef {
            class: class.clone(),
            instance: None,
        },
        frame: (below + 1).min(frames.len() - 1),
        rule: rule.id.clone(),
    })
}
