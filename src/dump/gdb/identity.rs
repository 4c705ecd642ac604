//! Which thread a thread header, a switch line or an `info threads` row names: threads are
//! found again by their LWP, their `pthread_t` or gdb's own number (any one of them, when the
//! others agree), and what a new mention says (a name, an id) is added to the thread.

use super::Parser;
use crate::dump::skeleton::header::ThreadRef;
use crate::model::Thread;

impl Parser {
    /// Finds the thread a reference names, or adds it; fills in what the reference adds.
    /// `None` when it is a new thread past the thread cap.
    pub(super) fn identify(&mut self, r: &ThreadRef) -> Option<usize> {
        let found = self.find(r);
        if let Some(pid) = r.pid {
            self.b.pid.get_or_insert(pid);
        }
        let idx = match found {
            Some(idx) => idx,
            None => self.b.thread(Thread::default())?,
        };
        self.merge(idx, r);
        Some(idx)
    }

    /// The thread found so far that a reference names.
    pub(super) fn find(&self, r: &ThreadRef) -> Option<usize> {
        r.tid
            .and_then(|t| self.by_tid.get(&t))
            .or_else(|| r.pthread.and_then(|p| self.by_pthread.get(&p)))
            .or_else(|| r.gdb_num.as_ref().and_then(|n| self.by_num.get(n)))
            .copied()
            .filter(|&i| compatible(&self.b.threads[i], r))
    }

    /// Room in the lookup maps for `threads` more threads.
    pub(super) fn reserve(&mut self, threads: usize) {
        self.by_tid.reserve(threads);
        self.by_pthread.reserve(threads);
        self.by_num.reserve(threads);
    }

    /// Adds what `r` says to thread `idx`, keeping the lookup maps in step.
    pub(super) fn merge(&mut self, idx: usize, r: &ThreadRef) {
        let t = &mut self.b.threads[idx];
        merge_into(t, r);
        if let Some(tid) = t.tid {
            self.by_tid.entry(tid).or_insert(idx);
        }
        if let Some(p) = t.pthread {
            self.by_pthread.entry(p).or_insert(idx);
        }
        if let Some(n) = &t.debugger_id {
            if !self.by_num.contains_key(n) {
                self.by_num.insert(n.clone(), idx);
            }
        }
    }
}

pub(super) fn compatible(t: &Thread, r: &ThreadRef) -> bool {
    let ok = |a: Option<u64>, b: Option<u64>| a.is_none() || b.is_none() || a == b;
    ok(t.tid, r.tid)
        && ok(t.pthread, r.pthread)
        && (t.debugger_id.is_none() || r.gdb_num.is_none() || t.debugger_id == r.gdb_num)
}

fn merge_into(t: &mut Thread, r: &ThreadRef) {
    if t.tid.is_none() {
        t.tid = r.tid;
    }
    if t.pthread.is_none() {
        t.pthread = r.pthread;
    }
    if t.debugger_id.is_none() {
        t.debugger_id.clone_from(&r.gdb_num);
    }
    if t.process.is_none() && r.tid.is_some() && r.pthread.is_none() {
        t.process = r.pid;
    }
    if let Some(n) = &r.name {
        if t.name.as_ref().is_none_or(|old| n.len() > old.len()) {
            t.name = Some(n.clone());
        }
    }
}
