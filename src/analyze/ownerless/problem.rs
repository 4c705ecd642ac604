//! The search behind `ownerless`: the waiters on locks that record no owner, each lock's
//! possible holders, and the graph's own edges, over the threads that matter; whether every
//! assignment of holders closes a cycle, and the cycle an assignment closes.

use crate::analyze::graph::Edge;
use crate::analyze::scc;

/// A blocked thread's wait on a lock that records no owner, whose holder nothing shows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Waiter {
    pub thread: usize,
    pub wait: usize,
    /// Index into the locks.
    pub lock: usize,
}

/// The derivation's inputs, over the threads that matter (`nodes`: the waiters, the possible
/// holders and every thread the graph's edges lead to from them; a cycle through any of them
/// stays among them): the waiters, per lock its possible holders (likeliest first), and the
/// graph's own edges, all by position in `nodes`.
pub(super) struct Problem {
    pub nodes: Vec<usize>,
    pub waiters: Vec<Waiter>,
    pub holders: Vec<Vec<usize>>,
    base: Vec<Vec<usize>>,
}

/// Holders tried times threads walked, at most, in the search for an assignment that closes no
/// cycle: past it, nothing is claimed.
const MAX_WORK: usize = 1 << 22;

impl Problem {
    /// The problem over the threads that matter.
    pub fn new(n: usize, waiters: Vec<Waiter>, holders: Vec<Vec<usize>>, edges: &[Edge]) -> Self {
        let mut out = vec![Vec::new(); n];
        for e in edges {
            out[e.from].push(e.to);
        }
        let mut at = vec![usize::MAX; n];
        let mut nodes: Vec<usize> = Vec::new();
        let mut stack: Vec<usize> = (waiters.iter().map(|w| w.thread))
            .chain(holders.iter().flatten().copied())
            .collect();
        while let Some(t) = stack.pop() {
            if at[t] == usize::MAX {
                at[t] = nodes.len();
                nodes.push(t);
                stack.extend(&out[t]);
            }
        }
        let base = (nodes.iter())
            .map(|&t| out[t].iter().map(|&o| at[o]).collect())
            .collect();
        let waiters = (waiters.into_iter())
            .map(|w| Waiter {
                thread: at[w.thread],
                ..w
            })
            .collect();
        let holders = (holders.into_iter())
            .map(|h| h.into_iter().map(|o| at[o]).collect())
            .collect();
        Problem {
            nodes,
            waiters,
            holders,
            base,
        }
    }

    /// The adjacency lists of the graph with `assign` (a holder per lock) added.
    fn graph(&self, assign: &[usize]) -> Vec<Vec<usize>> {
        let mut adj = self.base.clone();
        for w in &self.waiters {
            adj[w.thread].push(assign[w.lock]);
        }
        for a in &mut adj {
            a.sort_unstable();
            a.dedup();
        }
        adj
    }

    /// The cycle `assign` closes through one of its own edges, as its component: the first
    /// (by waiter) whose waiter is on a cycle.
    pub fn cycle(&self, assign: &[usize]) -> Option<Vec<usize>> {
        let adj = self.graph(assign);
        let comps = scc::cycles(adj.len(), &adj);
        self.waiters.iter().find_map(|w| {
            let held_by = assign[w.lock];
            comps
                .iter()
                .find(|c| c.contains(&w.thread) && c.contains(&held_by))
                .cloned()
        })
    }

    /// The cycle `assign` closes, in its order: through `holder` when it is on one.
    pub fn cycle_from(&self, assign: &[usize], holder: usize) -> Vec<usize> {
        let adj = self.graph(assign);
        let comps = scc::cycles(adj.len(), &adj);
        match comps.iter().find(|c| c.contains(&holder)) {
            Some(c) => scc::cycle_through(holder, c, &adj),
            None => (self.cycle(assign))
                .map(|c| scc::cycle_through(c[0], &c, &adj))
                .unwrap_or_default(),
        }
    }

    /// Whether every assignment closes a cycle through one of the waits, `waiting` telling
    /// the threads that wait for one of these locks: when every thread that matters does, each
    /// has an edge out whatever the assignment, and edges out of every node close a cycle (no
    /// search needed); else when the search finds no assignment free of one, within budget.
    pub fn closes_always(&self, waiting: &[bool]) -> bool {
        self.nodes.iter().all(|&t| waiting[t]) || self.acyclic() == Some(false)
    }

    /// The likeliest assignment: each lock's first holder.
    pub fn likeliest(&self) -> Vec<usize> {
        self.holders.iter().map(|h| h[0]).collect()
    }

    /// Whether some assignment closes no cycle: searched lock by lock, each possible holder in
    /// turn (the least likely first), a choice that closes a cycle cut off at once (more edges
    /// never open one). `None` past the budget.
    fn acyclic(&self) -> Option<bool> {
        let mut adj = self.base.clone();
        let mut budget = MAX_WORK / self.nodes.len().max(1);
        self.search(0, &mut adj, &mut budget)
    }

    fn search(&self, l: usize, adj: &mut [Vec<usize>], budget: &mut usize) -> Option<bool> {
        let Some(holders) = self.holders.get(l) else {
            return Some(true);
        };
        let waiting: Vec<usize> = (self.waiters.iter())
            .filter(|w| w.lock == l)
            .map(|w| w.thread)
            .collect();
        for &h in holders.iter().rev() {
            *budget = budget.checked_sub(1)?;
            if reaches(adj, h, &waiting) {
                continue;
            }
            waiting.iter().for_each(|&w| adj[w].push(h));
            let found = self.search(l + 1, adj, budget);
            waiting.iter().for_each(|&w| _ = adj[w].pop());
            if found != Some(false) {
                return found;
            }
        }
        Some(false)
    }
}

/// Whether `from` reaches one of `to` along `adj`.
fn reaches(adj: &[Vec<usize>], from: usize, to: &[usize]) -> bool {
    let mut seen = vec![false; adj.len()];
    let mut stack = vec![from];
    while let Some(v) = stack.pop() {
        if to.contains(&v) {
            return true;
        }
        if !std::mem::replace(&mut seen[v], true) {
            stack.extend(&adj[v]);
        }
    }
    false
}
