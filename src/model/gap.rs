//! Why a snapshot does not show the whole process: each piece of evidence a producer found
//! that threads or parts of stacks are missing, with where the input shows it. Data only.

use serde::{Deserialize, Serialize};

/// One reason a snapshot may not show every thread with its whole stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Gap {
    /// A lone stack (gdb's `bt`, a panic's backtrace): one thread's, not the process's.
    OneStack {
        /// 1-based input line where the stack starts.
        line: Option<usize>,
    },
    /// Threads shown without their whole stack: only the frame gdb's `info threads` lists,
    /// or a stack the input marks as cut short (`(More stack frames follow...)`, `...`).
    NoStack {
        /// How many.
        count: usize,
        /// The first few of them, labelled as the report labels them.
        threads: Vec<String>,
    },
    /// Threads the input's own numbering says exist and it does not show (gdb numbers threads
    /// from 1, and prints thread 1 last).
    Missing {
        /// The missing threads, as the input would number them.
        threads: Vec<String>,
    },
    /// Fewer threads than the input's own header counts (the JVM's `_java_thread_list=…,
    /// length=N` before its threads): the others were cut or filtered out.
    Counted {
        /// How many the header counts.
        said: usize,
        /// How many of those the input shows.
        shown: usize,
    },
    /// The transcript lacks the line its producer ends with (gdb's `[Inferior 1 (process P)
    /// detached]` after an attach, jstack's `JNI global refs`): it was cut after its last line.
    NoEnd {
        /// What the end would have said.
        expected: String,
        /// 1-based line of the input's last line.
        line: Option<usize>,
    },
    /// The input ends inside a thread's stack (its last line is one of that stack's), so the
    /// stack may be cut. Whether it is, the analysis decides: a stack whose outermost frame is
    /// a thread's or the process's first frame is whole.
    EndsInStack {
        /// The thread, an index into `Snapshot::threads`.
        thread: usize,
        /// 1-based line of the input's last line.
        line: usize,
    },
    /// The input ends inside a list of every thread (gdb's `info threads` table, the last thing
    /// in it): rows after it may be cut.
    EndsInList {
        /// 1-based line of the input's last line.
        line: usize,
    },
    /// The format prints neither a thread count nor an end line after its threads, and the
    /// process's first thread comes first (eu-stack, lldb's `bt all` with no prompt after it,
    /// py-spy), so a dump cut between two threads looks whole: what needs every thread is left
    /// undecided.
    Unmarked {
        /// The format.
        format: String,
    },
    /// Nothing in the input says it shows every thread (an excerpt, a stack with no header), or
    /// threads were left out past a limit (see the diagnostics).
    Unsaid,
}

impl Gap {
    /// The input line the gap is seen at, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Gap::OneStack { line } | Gap::NoEnd { line, .. } => *line,
            Gap::EndsInStack { line, .. } | Gap::EndsInList { line } => Some(*line),
            Gap::NoStack { .. }
            | Gap::Missing { .. }
            | Gap::Counted { .. }
            | Gap::Unmarked { .. }
            | Gap::Unsaid => None,
        }
    }

    /// Whether the gap is only a question the analysis answers ([`Gap::EndsInStack`]), not
    /// evidence that something is missing.
    pub fn undecided(&self) -> bool {
        matches!(self, Gap::EndsInStack { .. })
    }
}
