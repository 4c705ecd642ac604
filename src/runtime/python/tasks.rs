//! asyncio's tasks read from memory (3.11 to 3.13), each under the thread whose loop runs it:
//! `asyncio.tasks` (found through the globals of a frame running `asyncio/base_events.py`,
//! which imports it) keeps every task in a set (weakly: a `WeakSet`'s `data`); a C task
//! (`_asyncio.Task`) names its loop, coroutine and name, and a running loop its thread
//! (`_thread_id`, the ident); a coroutine keeps its frame inside it, whose line is where it
//! awaits. Everything is bounded and checked by type; what does not look whole is left out.

use super::layout::{common::*, Asyncio, Names};
use super::names;
use super::objects::Objects;
use super::{frames::Walker, PyTask, TaskState};
use std::collections::HashMap;

/// Tasks read at most.
const MAX_TASKS: u64 = 4096;

/// A coroutine's `cr_frame_state` while it runs (`FRAME_EXECUTING` in
/// Include/internal/pycore_frame.h, 3.11 to 3.13); the suspended states lie between the
/// version's `FRAME_CREATED` and it.
const FRAME_EXECUTING: i8 = 0;

/// The tasks of every running loop, by the ident of the thread running it, from the
/// `asyncio.base_events` module whose globals are at `globals`.
pub fn running_tasks(
    o: &Objects<'_, '_>,
    walker: &mut Walker<'_, '_, '_>,
    (n, a): (&Names, &Asyncio),
    globals: u64,
) -> HashMap<u64, Vec<PyTask>> {
    let m = o.mem;
    let mut out: HashMap<u64, Vec<PyTask>> = HashMap::new();
    let Some(dict) = names::get(o, n, globals, "tasks")
        .filter(|&t| o.type_name(t).as_deref() == Some("module"))
        .and_then(|t| m.u64(t + MODULE_DICT))
    else {
        return out;
    };
    let mut loops: HashMap<u64, Option<u64>> = HashMap::new();
    let mut read = 0;
    for set_name in a.sets {
        let Some(held) = names::get(o, n, dict, set_name) else {
            continue;
        };
        let (set, weak) = match o.type_name(held).as_deref() {
            Some("set") => (held, false),
            _ => match names::attribute(o, n, held, "data") {
                Some(data) => (data, true),
                None => continue,
            },
        };
        for key in members(o, set) {
            read += 1;
            if read > MAX_TASKS {
                return out;
            }
            let task = if weak {
                m.u64(key + WEAKREF_OBJECT).unwrap_or(0)
            } else {
                key
            };
            if o.type_name(task).as_deref() != Some("_asyncio.Task") {
                continue;
            }
            let Some(lp) = m.u64(task + a.task_loop) else {
                continue;
            };
            let thread = *loops.entry(lp).or_insert_with(|| {
                names::attribute(o, n, lp, "_thread_id").and_then(|i| names::int(o, n, i))
            });
            let Some(thread) = thread else {
                continue;
            };
            if let Some(t) = one_task(o, walker, (n, a), task) {
                out.entry(thread).or_default().push(t);
            }
        }
    }
    out
}

/// The keys of the set at `set`.
fn members(o: &Objects<'_, '_>, set: u64) -> Vec<u64> {
    let m = o.mem;
    let read = || -> Option<Vec<u64>> {
        (o.type_name(set)? == "set").then_some(())?;
        let slots = m.u64(set + SET_MASK)?.checked_add(1)?;
        if slots > MAX_TASKS * 8 {
            return None;
        }
        let table = m.u64(set + SET_TABLE)?;
        let raw = m.bytes(table, (slots * 16) as usize)?;
        let keys = raw
            .chunks_exact(16)
            .map(|e| u64::from_le_bytes(e[..8].try_into().unwrap_or_default()));
        Some(keys.filter(|&k| k != 0).collect())
    };
    read().unwrap_or_default()
}

/// The task at `task`: its name, its coroutine's name, and where it awaits (or runs), once
/// started.
fn one_task(
    o: &Objects<'_, '_>,
    walker: &mut Walker<'_, '_, '_>,
    (n, a): (&Names, &Asyncio),
    task: u64,
) -> Option<PyTask> {
    let m = o.mem;
    let coro = m.u64(task + a.task_coro)?;
    (o.type_name(coro)? == "coroutine").then_some(())?;
    let state = match m.u8(coro + a.coro_frame_state)? as i8 {
        s if s == a.frame_created => TaskState::NotStarted,
        s if (a.frame_created..FRAME_EXECUTING).contains(&s) => TaskState::Awaiting,
        FRAME_EXECUTING => TaskState::Running,
        // Done: nothing to show.
        _ => return None,
    };
    let frame = match state {
        TaskState::NotStarted => None,
        _ => walker.walk(coro + a.coro_iframe, 1).0.into_iter().next(),
    };
    // 3.12 keeps the number of an unnamed task until its name is asked for.
    let name = m
        .u64(task + a.task_name)
        .and_then(|s| (o.string(s)).or_else(|| names::int(o, n, s).map(|i| format!("Task-{i}"))));
    Some(PyTask {
        name,
        coroutine: o.string(m.u64(coro + a.coro_qualname)?)?,
        file: frame.as_ref().map(|f| f.file.clone()),
        line: frame.and_then(|f| f.line),
        state,
    })
}
