//! Waits read from frames: a run of adjacent wait frames grouped into one [`Wait`], innermost
//! primitive to the outermost meaning, each frame's rule adding what it knows (the object's
//! address, a joined thread, a pool, a timeout, what the wait releases).

use super::args::{arg_value, parse_number};
use super::{FrameRules, PoolRef, Wait};
use crate::knowledge::{Meaning, Rule, WaitKind};
use crate::model::Frame;
use crate::values::{value_address, value_symbol};
use std::ops::Range;

/// How many frames below a wait an idle rule's frame (a worker loop) may be and still show
/// that the wait is for work.
pub(super) const IDLE_REACH: usize = 8;

/// Walks segment 0 from the blocking frame down, grouping adjacent wait frames into waits.
/// Returns the position of an idle-rule frame, if one follows the first wait closely.
pub(super) fn collect_waits(
    frames: &[Frame],
    rules: FrameRules,
    range: Range<usize>,
    waits: &mut Vec<Wait>,
) -> Option<usize> {
    let mut current: Option<Wait> = None;
    let mut idle_at = None;
    for i in range {
        let note = rules.note(i);
        let rule = rules.rule(i);
        let pool = if note.is_some() {
            None
        } else {
            rules.names.pool(i)
        };
        match rule.map(|r| r.meaning) {
            Some(Meaning::Wait) => {
                let rule = rule.expect("matched");
                let kind = rule.kind.expect("wait rules have a kind");
                match &mut current {
                    Some(w) if w.site.is_empty() && (rule.refines || compatible(w.kind, kind)) => {
                        absorb(w, &frames[i], rule, pool, i)
                    }
                    _ => {
                        push_exact(waits, current.take());
                        let mut w = new_wait(kind, rule, i);
                        absorb(&mut w, &frames[i], rule, pool, i);
                        current = Some(w);
                    }
                }
                if let (Some(n), Some(w)) = (note, &mut current) {
                    // A note names the object outright: nothing is more specific.
                    if n.address.is_some() {
                        w.address = n.address;
                        w.address_level = u8::MAX;
                    }
                    w.releases = w.releases.or(n.releases);
                }
            }
            Some(Meaning::Skip) => {}
            Some(Meaning::Idle) => {
                let near =
                    waits.is_empty() && current.as_ref().is_some_and(|w| i - w.frame <= IDLE_REACH);
                if near && idle_at.is_none() {
                    idle_at = Some(i);
                }
            }
            _ => {
                if let Some(w) = &mut current {
                    if frames[i].function.is_some() && w.site.len() < 2 {
                        w.site.push(i);
                    }
                }
            }
        }
    }
    push_exact(waits, current);
    idle_at
}

/// Adds `wait` to `waits` without room to spare: most threads wait once, and a `Wait` is big
/// enough that the usual room for four costs a 17 000-thread dump 19 MB.
fn push_exact(waits: &mut Vec<Wait>, wait: Option<Wait>) {
    if let Some(wait) = wait {
        waits.reserve_exact(1);
        waits.push(wait);
    }
}

/// Whether a frame of `next` kind continues a wait of `prev` kind.
fn compatible(prev: WaitKind, next: WaitKind) -> bool {
    prev == next || prev.is_generic() || next.is_generic() || refines(prev, next)
}

/// Whether a frame of `next` kind names what a wait of `prev` kind is for (the loader's entry
/// below `pthread_mutex_lock`, a pool's join below a thread join).
fn refines(prev: WaitKind, next: WaitKind) -> bool {
    next.names_wait_of(prev)
}

pub(super) fn new_wait(kind: WaitKind, rule: &Rule, i: usize) -> Wait {
    Wait {
        kind,
        rule: rule.id.clone(),
        packs: vec![rule.pack.clone()],
        first: i,
        frame: i,
        address: None,
        symbol: None,
        address_level: 0,
        named: None,
        target_pthread: None,
        target_tid: None,
        pool: None,
        releases: None,
        timed: false,
        busy: rule.busy,
        scope: rule.scope,
        fatal: rule.fatal,
        awaits_work: false,
        owner_offset: None,
        futex_offsets: Vec::new(),
        futex_values: Vec::new(),
        sleeps_apart: false,
        site: Vec::new(),
        suggestion: None,
        guard_name: None,
    }
}

/// Adds what one frame of the run says to the wait (`pool`: the class `rule` names for it).
fn absorb(w: &mut Wait, frame: &Frame, rule: &Rule, pool: Option<&str>, i: usize) {
    let kind = rule.kind.expect("wait rules have a kind");
    if rule.refines && w.rule != rule.id {
        // What the primitive above waited on (a parking event's condition variable, its
        // mutex) is how this wait is built, not what it waits for.
        *w = Wait {
            site: std::mem::take(&mut w.site),
            packs: std::mem::take(&mut w.packs),
            ..new_wait(kind, rule, w.first)
        };
    } else if (w.kind.is_generic() && !kind.is_generic()) || refines(w.kind, kind) {
        w.kind = kind;
        w.rule = rule.id.clone();
    }
    w.frame = i;
    if !w.packs.contains(&rule.pack) {
        w.packs.insert(0, rule.pack.clone());
    }
    w.timed |= rule.timed;
    w.busy |= rule.busy;
    w.scope |= rule.scope;
    w.awaits_work |= rule.awaits_work;
    w.sleeps_apart |= rule.sleeps_apart;
    w.owner_offset = w.owner_offset.or(rule.owner_offset);
    if w.futex_offsets.is_empty() {
        w.futex_offsets.clone_from(&rule.futex_offsets);
        w.futex_values.clone_from(&rule.futex_values);
    }
    // The most specific frame names the object: a context rule (`std::mutex::lock`) over a
    // primitive (`pthread_mutex_lock`) over a bare futex word.
    let level = if rule.context {
        2
    } else if kind.is_generic() {
        0
    } else {
        1
    };
    if let Some(a) = arg_value(frame, &rule.address_args) {
        let address = value_address(a);
        if address.is_some() && (w.address.is_none() || level >= w.address_level) {
            w.address = address;
            w.symbol = value_symbol(a).map(str::to_string);
            w.address_level = level;
        }
    }
    if let Some(name) = &rule.resource {
        w.named = Some(name.clone());
    }
    if let Some(t) = arg_value(frame, &rule.target_args).and_then(parse_number) {
        w.target_pthread = Some(t);
    }
    if let Some(t) = arg_value(frame, &rule.tid_args).and_then(parse_number) {
        w.target_tid = Some(t);
    }
    if let Some(m) = arg_value(frame, &rule.releases_args).and_then(value_address) {
        w.releases = Some(m);
    }
    if let Some(class) = pool {
        w.pool = Some(PoolRef {
            class: class.to_string(),
            instance: arg_value(frame, &rule.instance_args).and_then(value_address),
        });
    }
    if rule.suggestion.is_some() {
        w.suggestion.clone_from(&rule.suggestion);
    }
    if rule.guard_name.is_some() {
        w.guard_name.clone_from(&rule.guard_name);
    }
}

/// A join's futex only names a tid when the run turned out to be a join.
pub(super) fn fix_join_targets(waits: &mut [Wait]) {
    for w in waits {
        if w.kind != WaitKind::Join {
            w.target_tid = None;
        }
    }
}
