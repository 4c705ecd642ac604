//! Every thread's frames as text (`-v`), after the report: each frame with how the unwinder
//! found it (`[context]`, `[cfi]`, `[frame-pointer]`, `[signal]`; frames a dump printed say
//! nothing), and for an unwound stack why its walk ended.

use crate::model::{Frame, FrameTrust, StopReason, Thread};
use crate::sanitize::clean;
use std::io::Write;

/// Writes the `stacks:` section of `threads`.
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
        writeln!(out, "  {}{walk}", clean(&t.label()))?;
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
