//! Process trees from `/proc`: every process's parent and process group, and the processes
//! that descend from some roots (by parentage) or share their process group.

use std::collections::{BTreeSet, HashMap};

/// One process: its parent and its process group.
#[derive(Debug, Clone, Copy)]
struct Entry {
    ppid: u32,
    pgrp: u32,
}

/// Every process now, from `/proc/PID/stat` (the fields after `(comm)`: state, ppid, pgrp).
fn processes() -> HashMap<u32, Entry> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(stat) = super::procinfo::stat_fields(pid) else {
            continue;
        };
        let mut fields = stat
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse::<u32>().ok());
        if let (Some(Some(ppid)), Some(Some(pgrp))) = (fields.next(), fields.next()) {
            out.insert(pid, Entry { ppid, pgrp });
        }
    }
    out
}

/// `roots` (all of them, so that a missing one can be reported) and every process descending
/// from them, plus (when given) every process of process group `pgrp`; roots first, then in
/// pid order.
pub fn descendants(roots: &[u32], pgrp: Option<u32>) -> Vec<u32> {
    let all = processes();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, e) in &all {
        children.entry(e.ppid).or_default().push(pid);
    }
    let mut found: BTreeSet<u32> = BTreeSet::new();
    let mut queue: Vec<u32> = roots.to_vec();
    while let Some(pid) = queue.pop() {
        if found.insert(pid) {
            queue.extend(children.get(&pid).into_iter().flatten());
        }
    }
    if let Some(g) = pgrp {
        found.extend(all.iter().filter(|(_, e)| e.pgrp == g).map(|(&p, _)| p));
    }
    let mut out: Vec<u32> = roots.to_vec();
    out.extend(
        found
            .into_iter()
            .filter(|p| !roots.contains(p) && all.contains_key(p)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_descends_from_its_parent() {
        let me = std::process::id();
        let parent = processes()[&me].ppid;
        let tree = descendants(&[parent], None);
        assert_eq!(tree[0], parent);
        assert!(tree.contains(&me));
        assert_eq!(descendants(&[u32::MAX], None), [u32::MAX]);
    }
}
