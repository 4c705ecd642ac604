//! Stacks as text. Under each finding, its threads' frames that matter (the analysis's
//! `key_frames`: the program's own, the waits, signal frames), the others elided; with `-v`,
//! every frame there, and after the report every thread's frames, each with how the unwinder
//! found it (`[context]`, `[cfi]`, `[frame-pointer]`, `[signal]`; frames a dump printed say
//! nothing), and for an unwound stack why its walk ended.

use super::narrate;
use crate::analyze::Finding;
use crate::limits::MAX_STACKS_SHOWN;
use crate::model::{Frame, FrameTrust, Snapshot, StopReason, Thread};
use crate::sanitize::clean;
use std::io::Write;

/// Writes a finding's `stacks:` block, indented by `indent`: each of its threads' frames that
/// matter, or with `every` all its frames, gaps marked. Threads whose shown frames read alike
/// share one stack; past [`MAX_STACKS_SHOWN`] stacks (unless `every`), how many more there are.
pub fn render_key_frames(
    snap: &Snapshot,
    f: &Finding,
    every: bool,
    indent: &str,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if f.key_frames.is_empty() {
        return Ok(());
    }
    // (the threads' labels, their stack's lines), alike stacks together, in order of appearance.
    let mut stacks: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for k in &f.key_frames {
        let th = &snap.threads[k.thread];
        let lines = if every {
            stack_lines(th, &(0..th.frames.len()).collect::<Vec<_>>())
        } else {
            stack_lines(th, &k.frames)
        };
        match stacks.iter_mut().find(|(_, l)| *l == lines) {
            Some((labels, _)) => labels.push(clean(&narrate::heading(th))),
            None => stacks.push((vec![clean(&narrate::heading(th))], lines)),
        }
    }
    writeln!(out, "{indent}stacks:")?;
    let shown = if every {
        stacks.len()
    } else {
        MAX_STACKS_SHOWN
    };
    for (labels, lines) in stacks.iter().take(shown) {
        if lines.is_empty() {
            writeln!(
                out,
                "{indent}  {}: {}",
                labels.join(", "),
                narrate::no_frames()
            )?;
        } else {
            writeln!(out, "{indent}  {}:", labels.join(", "))?;
        }
        for line in lines {
            writeln!(out, "{indent}    {line}")?;
        }
    }
    if stacks.len() > shown {
        let more = stacks[shown..].iter().map(|(l, _)| l.len()).sum();
        writeln!(out, "{indent}  {}", narrate::more_stacks(more))?;
    }
    Ok(())
}

/// Frames `shown` of `th` (positions, innermost first), one line each, with a mark where
/// frames are left out.
fn stack_lines(th: &Thread, shown: &[usize]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut next = 0;
    for &i in shown {
        if i > next {
            lines.push(format!("  {}", narrate::elided(i - next)));
        }
        let doubt = if th.frames[i].untrusted.is_some() {
            " (symbols untrusted: see notes)"
        } else {
            ""
        };
        lines.push(format!("{}{doubt}", clean(&narrate::frame_ref(th, i))));
        next = i + 1;
    }
    if next < th.frames.len() {
        lines.push(format!("  {}", narrate::elided(th.frames.len() - next)));
    }
    lines
}

/// Writes the `stacks:` section of `threads`, each headed by its label and how long it waited.
pub fn render_stacks(threads: &[Thread], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "stacks:")?;
    for t in threads {
        let walk = match (t.unwind_stop, &t.unwind_error) {
            (Some(stop), Some(why)) => {
                format!(" (walk ended: {}: {})", stop_word(stop), clean(why))
            }
            (Some(stop), None) => format!(" (walk ended: {})", stop_word(stop)),
            (None, Some(why)) => format!(" (stack ends early: {})", clean(why)),
            (None, None) => String::new(),
        };
        writeln!(out, "  {}{walk}", clean(&narrate::heading(t)))?;
        for f in &t.frames {
            writeln!(out, "    {}", frame_line(f))?;
        }
    }
    Ok(())
}

/// `#3  0x401136 worker at prog.c:12 in /usr/bin/prog [cfi]`.
fn frame_line(f: &Frame) -> String {
    let mut line = format!("#{:<3}", f.index.map_or("?".into(), |i| i.to_string()));
    if let Some(a) = f.address {
        line.push_str(&format!(" {a:#x}"));
    }
    line.push_str(&format!(
        " {}",
        clean(f.function.as_deref().unwrap_or("??"))
    ));
    if f.inlined {
        line.push_str(" (inlined)");
    }
    if let (Some(file), Some(l)) = (&f.file, f.line) {
        line.push_str(&format!(" at {}:{l}", clean(file)));
    }
    if let Some(m) = &f.module {
        line.push_str(&format!(" in {}", clean(m)));
    }
    if let Some(trust) = f.trust {
        line.push_str(&format!(" [{}]", trust_word(trust)));
    }
    if f.untrusted.is_some() {
        line.push_str(" (symbols untrusted: see notes)");
    }
    line
}

fn trust_word(t: FrameTrust) -> &'static str {
    match t {
        FrameTrust::Context => "context",
        FrameTrust::Cfi => "cfi",
        FrameTrust::FramePointer => "frame-pointer",
        FrameTrust::Pclntab => "pclntab",
        FrameTrust::Signal => "signal",
    }
}

fn stop_word(s: StopReason) -> &'static str {
    match s {
        StopReason::Outermost => "outermost frame",
        StopReason::FrameLimit => "frame limit",
        StopReason::NoRegisters => "no registers",
        StopReason::OutsideObjects => "pc outside every object",
        StopReason::NoCaller => "no caller found",
        StopReason::CfaNotIncreasing => "CFA does not increase",
        StopReason::SignalFrame => "signal frame",
        StopReason::StackCut => "stack cut",
        StopReason::Internal => "internal error",
    }
}
