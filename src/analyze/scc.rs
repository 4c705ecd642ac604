//! Strongly connected components (Tarjan's algorithm, iterative so that long wait chains in
//! huge dumps cannot overflow the stack) and one shortest cycle through a component.

use std::collections::VecDeque;

/// The components of a graph of `n` nodes given as adjacency lists, each sorted, in order of
/// their smallest node. Single nodes are included only when they have a self-loop.
pub fn cycles(n: usize, adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, position in its adjacency list)
        let mut work = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if let Some(&w) = adj[v].get(*pos) {
                *pos += 1;
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                if comp.len() > 1 || adj[v].contains(&v) {
                    out.push(comp);
                }
            }
        }
    }
    out.sort();
    out
}

/// A shortest cycle through `start` that stays inside `comp`, as the list of its nodes.
pub fn cycle_through(start: usize, comp: &[usize], adj: &[Vec<usize>]) -> Vec<usize> {
    if adj[start].contains(&start) {
        return vec![start];
    }
    let mut prev = std::collections::HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if !comp.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                let mut cur = v;
                while cur != start {
                    cur = prev[&cur];
                    path.push(cur);
                }
                path.reverse();
                return path;
            }
            if w != start && !prev.contains_key(&w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_self_loops_pairs_and_leaves_chains() {
        // 0 -> 0 ; 1 <-> 2 ; 3 -> 1 (a tail) ; 4 -> 5 -> 6 -> 4
        let adj = vec![
            vec![0],
            vec![2],
            vec![1],
            vec![1],
            vec![5],
            vec![6],
            vec![4],
        ];
        let c = cycles(7, &adj);
        assert_eq!(c, vec![vec![0], vec![1, 2], vec![4, 5, 6]]);
        assert_eq!(cycle_through(4, &c[2], &adj), vec![4, 5, 6]);
        assert_eq!(cycle_through(0, &c[0], &adj), vec![0]);
    }

    #[test]
    fn no_cycles_in_a_chain_and_deep_chains_do_not_overflow() {
        let n = 200_000;
        let adj: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        assert!(cycles(n, &adj).is_empty());
    }
}
