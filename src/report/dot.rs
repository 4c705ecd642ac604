//! The wait-for graph as Graphviz DOT: threads as boxes, edges labelled with what is waited
//! for and how it is known; edges of deadlock cycles in red.

use super::narrate::object;
use super::Report;
use crate::analyze::{wait_object, Severity};
use crate::sanitize::clean;
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
        // Waits whose holder is unknown point at the object itself, marked unknown.
        let unresolved: Vec<(usize, usize)> = (0..snap.threads.len())
            .filter_map(|t| a.graph.effective[t].map(|w| (t, w)))
            .filter(|&(t, _)| !a.graph.edges.iter().any(|e| e.from == t))
            .collect();
        nodes.extend(unresolved.iter().map(|&(t, _)| t));
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
                esc(&object(snap, &wait_object(snap, w))),
                e.grade
            )?;
        }
        for (t, wi) in unresolved {
            let what = object(snap, &wait_object(snap, &a.facts[t].waits[wi]));
            writeln!(
                out,
                "  p{p}r{t} [label=\"{} (holder unknown)\", shape=ellipse, style=dashed];\n  p{p}t{t} -> p{p}r{t};",
                esc(&what)
            )?;
        }
    }
    writeln!(out, "}}")
}

fn esc(s: &str) -> String {
    clean(s).replace('\\', "\\\\").replace('"', "\\\"")
}
