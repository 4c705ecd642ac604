//! How much of the process a report's input shows, in words: each gap the analysis kept, and
//! the command that records the whole process instead, by the producer that wrote the input.

use crate::analyze::Coverage;
use crate::model::{Gap, Snapshot};

/// One gap in words.
pub fn gap(snap: &Snapshot, g: &Gap) -> String {
    let at = |line: &Option<usize>| line.map(|l| format!(" at line {l}")).unwrap_or_default();
    match g {
        Gap::OneStack { line } => {
            format!(
                "it is one thread's stack (a lone backtrace{}), not every thread's",
                at(line)
            )
        }
        Gap::NoStack { count, threads } => format!(
            "{count} thread(s) have no whole stack ({}{}): only their innermost frame, or a \
             stack cut short",
            threads.join(", "),
            if *count > threads.len() { ", …" } else { "" }
        ),
        Gap::Missing { threads } => format!(
            "thread(s) {} missing: the dump's own numbering says they exist",
            threads.join(", ")
        ),
        Gap::Counted { said, shown } => format!(
            "its header counts {said} thread(s) and it shows {shown}: the others were cut or \
             filtered out"
        ),
        Gap::NoEnd { expected, line } => format!(
            "it ends{} without `{expected}`, the line its producer ends with: it was cut there",
            at(line)
        ),
        Gap::EndsInStack { thread, line } => {
            let t = snap.threads.get(*thread);
            let who = t.map(|t| t.label()).unwrap_or_else(|| "a thread".into());
            let last = t.and_then(|t| t.frames.last());
            let func = last.and_then(|f| f.function.as_deref()).unwrap_or("??");
            format!(
                "it ends at line {line} inside {who}'s stack, whose last frame ({func}) is no \
                 thread's first: it was cut there"
            )
        }
        Gap::EndsInList { line } => {
            format!("it ends at line {line} inside its list of threads: rows after it may be cut")
        }
        Gap::Unmarked { format } => format!(
            "{format} prints no thread count and no end after its threads, so a dump cut between \
             two threads looks whole"
        ),
        Gap::Unsaid => "nothing in it says it shows every thread (see the notes)".into(),
    }
}

/// Every gap, joined.
pub fn gaps(snap: &Snapshot, c: &Coverage) -> String {
    let said: Vec<String> = c.gaps.iter().map(|g| gap(snap, g)).collect();
    said.join("; ")
}

/// The command that records every thread's whole stack, for the producer of `snap`, its
/// process id filled in (`PID` when the input does not name it).
pub fn record_instead(snap: &Snapshot) -> String {
    let pid = snap.pid.map_or("PID".to_string(), |p| p.to_string());
    let gdb = format!(
        "`gdb -p {pid} -batch -ex 'set pagination off' -ex 'info threads' -ex 'thread apply \
         all bt'`"
    );
    let cmd = match snap.producer.as_str() {
        "lldb" => format!("`lldb -p {pid} --batch -o 'bt all'`"),
        "eu-stack" => format!("`eu-stack -p {pid}`"),
        "jstack" => format!("`jstack -l {pid}`"),
        "go" => format!("`GOTRACEBACK=all` in the program's environment, then `kill -QUIT {pid}`"),
        "py-spy" | "faulthandler" => format!("`py-spy dump --pid {pid}`"),
        "rr" => "`thread apply all bt` in the rr replay, at the same point".to_string(),
        "core" => format!("the whole core: `gcore {pid}`, then `hangscan core FILE`"),
        _ => gdb,
    };
    format!("record every thread's whole stack: {cmd}, or `hangscan attach {pid}` on the live process, and give hangscan the whole output")
}

/// The verdict of a report whose input does not show the whole process and finds no deadlock
/// among what it shows.
pub fn undecidable(snap: &Snapshot) -> String {
    format!(
        "undecidable from this dump: no deadlock among the {} thread(s) shown, but not the \
         whole process is",
        snap.threads.len()
    )
}
