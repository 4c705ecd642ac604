//! The wait-for graph as Graphviz DOT: threads as boxes, edges labelled with what is waited
//! for and how it is known; edges of deadlock cycles in red; a set's notes as the graph's
//! label.

use super::narrate::{object, processes};
use super::{Report, Set};
use crate::analyze::cross_process::{Party, SetAnalysis};
use crate::analyze::{wait_object, Severity};
use crate::sanitize::clean;
use std::collections::HashSet;
use std::io::Write;

pub fn render(reports: &[Report], set: Option<Set>, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "digraph hangscan {{")?;
    writeln!(out, "  node [shape=box, fontname=\"monospace\"];")?;
    // Several processes: one cluster each.
    let clusters = set.is_some() || reports.len() > 1;
    for (p, r) in reports.iter().enumerate() {
        let snap = r.snapshot;
        let a = r.analysis;
        if clusters {
            let command = snap.process.as_ref().and_then(|f| f.command.as_deref());
            let name = match (snap.pid, command) {
                (Some(pid), Some(c)) => format!("pid {pid}: {c}"),
                (Some(pid), None) => format!("pid {pid}"),
                _ => snap.origin.clone(),
            };
            writeln!(
                out,
                "  subgraph cluster_p{p} {{\n  label=\"{}\";",
                esc(&name)
            )?;
            if set.is_some() {
                writeln!(out, "  p{p} [label=\"{}\", shape=folder];", esc(&name))?;
            }
        }
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
        // Threads that wait for another process.
        let waiting = set.iter().flat_map(|s| &s.analysis.edges);
        nodes.extend(waiting.filter_map(|e| match e.from {
            Party::Thread { process, thread } => (process == p).then_some(thread),
        }));
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
        if clusters {
            writeln!(out, "  }}")?;
        }
    }
    if let Some(set) = set {
        ties(set, out)?;
        // The set's notes as the graph's label, below it, a line each.
        let notes = super::set::notes(set);
        if !notes.is_empty() {
            let lines: String = notes
                .iter()
                .map(|n| format!("note: {}\\l", esc(n)))
                .collect();
            writeln!(out, "  label=\"{lines}\";\n  labelloc=b;\n  labeljust=l;")?;
        }
    }
    writeln!(out, "}}")
}

/// The waits between processes: from a thread to the process it waits for (its cluster's
/// process node, or a dashed node for a process outside the set); deadlock cycles in red.
fn ties(set: Set, out: &mut dyn Write) -> std::io::Result<()> {
    let a = set.analysis;
    let red: HashSet<usize> = (a.findings.iter())
        .filter(|f| f.severity == Severity::Deadlock)
        .flat_map(|f| f.edges.iter().copied())
        .collect();
    for o in &a.outside {
        let command = o.command.as_deref().unwrap_or("?");
        writeln!(
            out,
            "  o{} [label=\"pid {}: {} (not captured)\", shape=folder, style=dashed];",
            o.pid,
            o.pid,
            esc(command)
        )?;
    }
    for (i, e) in a.edges.iter().enumerate() {
        let Party::Thread { process, thread } = e.from;
        let to = match SetAnalysis::captured(set.snapshots, e.to) {
            Some(q) => format!("p{q}"),
            None => format!("o{}", e.to),
        };
        let style = if red.contains(&i) {
            ", color=red, penwidth=2"
        } else {
            ""
        };
        writeln!(
            out,
            "  p{process}t{thread} -> {to} [label=\"{}\"{style}];",
            esc(&processes::tie_object(&e.tie))
        )?;
    }
    Ok(())
}

fn esc(s: &str) -> String {
    clean(s).replace('\\', "\\\\").replace('"', "\\\"")
}
