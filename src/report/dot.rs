//! The wait-for graph as Graphviz DOT: threads as boxes, edges labelled with what is waited
//! for and how it is known; edges of deadlock cycles in red.

use super::sanitize::clean;
use super::Report;
use crate::analyze::{wait_object, Severity};
use std::collections::HashSet;
use std::io::Write;

pub fn render(reports: &[Report], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "digraph hangscan {{")?;
    writeln!(out, "  node [shape=box, fontname=\"monospace\"];")?;
    for (p, r) in reports.iter().enumerate() {
        let snap = r.snapshot;
        let a = r.analysis;
        let cyclic: HashSet<usize> = a
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Deadlock)
            .flat_map(|f| f.threads.iter().copied())
            .collect();
        let mut nodes: HashSet<usize> = cyclic.clone();
        for e in &a.graph.edges {
            nodes.insert(e.from);
            nodes.insert(e.to);
        }
        let mut nodes: Vec<usize> = nodes.into_iter().collect();
        nodes.sort_unstable();
        for t in nodes {
            let color = if cyclic.contains(&t) {
                ", color=red"
            } else {
                ""
            };
            writeln!(
                out,
                "  p{p}t{t} [label=\"{}\"{color}];",
                esc(&snap.threads[t].label())
            )?;
        }
        for e in &a.graph.edges {
            let w = &a.facts[e.from].waits[e.wait];
            let red = cyclic.contains(&e.from) && cyclic.contains(&e.to);
            let style = if red { ", color=red, penwidth=2" } else { "" };
            writeln!(
                out,
                "  p{p}t{} -> p{p}t{} [label=\"{} ({:?})\"{style}];",
                e.from,
                e.to,
                esc(&wait_object(snap, w)),
                e.grade
            )?;
        }
    }
    writeln!(out, "}}")
}

fn esc(s: &str) -> String {
    clean(s).replace('\\', "\\\\").replace('"', "\\\"")
}
