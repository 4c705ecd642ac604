//! Per thread: what the rules say its frames mean. The stack is split at signal frames; the
//! innermost part (segment 0) is what the thread is doing now, the parts below are contexts a
//! signal interrupted, whose locks and pool membership the handler inherits.

use super::motion::{self, Motion};
use super::names::FrameNames;
use crate::knowledge::{KnowledgeBase, Meaning, Rule, WaitKind};
use crate::model::{Frame, Snapshot, Thread};
use holds::collect_holds_and_members;
use object::apply_futex;
pub(super) use object::name_object;
use std::ops::Range;
use waits::{collect_waits, new_wait, IDLE_REACH};

/// What a thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activity {
    /// Blocked on something inside the process (a lock, a thread, a pool, a condvar).
    Blocked,
    /// A worker waiting for its next task.
    Idle,
    /// Waiting for something outside the process: I/O, time, a signal.
    External,
    /// Executing code (not in a blocking call).
    Running,
    /// Stopped (a stop signal, a tracer) outside a blocking call: it would be running.
    Stopped,
    /// Nothing readable on the stack.
    Unknown,
}

/// A pool as frames name it: its class and, when an argument shows it, its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRef {
    /// The class (`fbthrift ThreadManager`, `WorkerPool`).
    pub class: String,
    /// The instance address (`this=`), when printed.
    pub instance: Option<u64>,
}

/// One wait: a run of adjacent wait frames, innermost primitive to the outermost meaning.
#[derive(Debug, Clone)]
pub struct Wait {
    /// On what.
    pub kind: WaitKind,
    /// The rule that named the kind.
    pub rule: String,
    /// The packs of the rules its frames matched, outermost (most specific) first: the
    /// library and language it is in, whose advice a finding on it takes.
    pub packs: Vec<String>,
    /// Innermost frame of the run (position in `Thread::frames`).
    pub first: usize,
    /// Outermost frame of the run: the call that explains the wait.
    pub frame: usize,
    /// The waited-on object's address.
    pub address: Option<u64>,
    /// The symbol gdb printed for that address.
    pub symbol: Option<String>,
    /// How specific the frame that gave the address was (see `absorb`).
    address_level: u8,
    /// A library-internal lock named by a rule.
    pub named: Option<String>,
    /// A joined thread's `pthread_t`.
    pub target_pthread: Option<u64>,
    /// A joined thread's tid.
    pub target_tid: Option<u64>,
    /// The pool a pool-join waits for.
    pub pool: Option<PoolRef>,
    /// A mutex released while waiting (a condvar's).
    pub releases: Option<u64>,
    /// Ends by itself.
    pub timed: bool,
    /// A pool's worker blocked here is busy in a task, never waiting for work (a rule's
    /// `busy`: a send into a full queue).
    pub busy: bool,
    /// A scope's join (a rule's `scope`): it waits for the threads running closures of the
    /// function that opened it.
    pub scope: bool,
    /// The runtime gave up on it as fatal: never ends (a rule's `fatal`).
    pub fatal: bool,
    /// In a pool's task, work queued on the pool may end it (a rule's `awaits_work`).
    pub awaits_work: bool,
    /// Where, from the lock's address, its owner's tid is stored (a rule's `owner_offset`).
    pub owner_offset: Option<u64>,
    /// Where, from the lock's address, its waiters may sleep (a rule's `futex_offsets`).
    futex_offsets: Vec<u64>,
    /// The value a waiter sleeps with on each of those words (a rule's `futex_values`).
    futex_values: Vec<u32>,
    /// Its waiters sleep on a word of their own: the futex word names no lock (a rule's
    /// `sleeps_apart`).
    sleeps_apart: bool,
    /// Up to two caller frames below the run: where the wait was called from.
    pub site: Vec<usize>,
    /// What to do about it.
    pub suggestion: Option<String>,
    /// The rule's name for the guard of a static (`guard variable for {}`), for a static's guard.
    pub guard_name: Option<String>,
}

/// A lock a thread holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockId {
    /// By address.
    Addr(u64),
    /// A library-internal lock, by the name a rule gives it.
    Named(String),
}

/// A held lock and the frame that shows it.
#[derive(Debug, Clone)]
pub struct Hold {
    /// Which lock.
    pub lock: LockId,
    /// The frame (position).
    pub frame: usize,
    /// The rule.
    pub rule: String,
    /// Read from a local (`bt full` guard) rather than guessed from a function name.
    pub from_local: bool,
    /// Read from the guard's own bytes in memory (a live capture or a core), not from text.
    pub from_memory: bool,
}

/// Pool membership and the frame that shows it.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Which pool.
    pub pool: PoolRef,
    /// The worker-loop frame (position).
    pub frame: usize,
    /// The rule.
    pub rule: String,
}

/// Everything the rules say about one thread.
#[derive(Debug, Clone)]
pub struct Facts {
    /// What it is doing.
    pub activity: Activity,
    /// Waits in segment 0, innermost first.
    pub waits: Vec<Wait>,
    /// Locks held, in any segment.
    pub holds: Vec<Hold>,
    /// Pools it works for, in any segment.
    pub members: Vec<Membership>,
    /// Frame ranges split at signal frames; `segments[0]` runs now.
    pub segments: Vec<Range<usize>>,
    /// The frame it is blocked or running in.
    pub top: Option<usize>,
    /// The runtime's status word says no more than the activity does (py-spy's `idle`, by
    /// its rule's `redundant`): reports do not repeat it.
    pub status_redundant: bool,
    /// What the second look at a live process says it did, when one was taken.
    pub motion: Option<Motion>,
}

impl Facts {
    /// True when segment 0 runs inside a signal handler.
    pub fn in_handler(&self) -> bool {
        self.segments.len() > 1
    }

    /// The signal frame right below segment 0.
    pub fn signal_frame(&self) -> Option<usize> {
        self.in_handler().then(|| self.segments[0].end)
    }

    /// Whether frame `i` is a signal frame: a producer's marker or a trampoline the rules name.
    pub fn is_signal_frame(&self, i: usize) -> bool {
        let last = self.segments.len() - 1;
        self.segments[..last].iter().any(|s| s.end == i)
    }

    /// Where the segment holding frame `i` ends (its signal frame, or the stack's end): what
    /// lies beyond is code a signal interrupted, not a caller.
    pub fn segment_end(&self, i: usize) -> usize {
        self.segments
            .iter()
            .find(|s| s.end >= i)
            .map_or(i, |s| s.end)
    }
}

/// Classifies one thread.
#[cfg(test)]
pub fn classify(thread: &Thread, kb: &KnowledgeBase) -> Facts {
    let names = super::names::Names::new(std::slice::from_ref(thread), kb);
    classify_named(thread, names.thread(0), kb, &Snapshot::default())
}

/// A frame's rules: its function's, and the wait a note the dump attached to it states (with
/// the object's address and the lock the wait releases).
#[derive(Clone, Copy)]
struct FrameRules<'n, 'a> {
    names: FrameNames<'n, 'a>,
    notes: &'n [Option<NoteWait<'a>>],
}

/// A wait stated by a frame's note.
#[derive(Clone, Copy)]
struct NoteWait<'a> {
    rule: &'a Rule,
    address: Option<u64>,
    releases: Option<u64>,
}

impl<'a> FrameRules<'_, 'a> {
    /// The rule that says what frame `i` means: a note's wait first, then its function's.
    fn rule(&self, i: usize) -> Option<&'a Rule> {
        self.note(i).map(|n| n.rule).or_else(|| self.names.rule(i))
    }

    fn note(&self, i: usize) -> Option<NoteWait<'a>> {
        self.notes.get(i).copied().flatten()
    }
}

/// Per frame, the first of its notes that a wait rule matches.
fn note_waits<'a>(frames: &[Frame], kb: &'a KnowledgeBase) -> Vec<Option<NoteWait<'a>>> {
    if frames.iter().all(|f| f.notes.is_empty()) {
        return Vec::new();
    }
    frames
        .iter()
        .map(|f| {
            f.notes.iter().find_map(|n| {
                let (rule, address, releases) = kb.match_note(n)?;
                (rule.meaning == Meaning::Wait).then_some(NoteWait {
                    rule,
                    address,
                    releases,
                })
            })
        })
        .collect()
}

/// Classifies one thread whose frames' names were looked up already.
pub fn classify_named(
    thread: &Thread,
    names: FrameNames,
    kb: &KnowledgeBase,
    memory: &Snapshot,
) -> Facts {
    let frames = &thread.frames;
    let notes = note_waits(frames, kb);
    let rules = FrameRules {
        names,
        notes: &notes,
    };
    let segments = split_segments(frames, names);
    let active = segments[0].clone();
    // The innermost frame that says anything: a known function, or a note stating the wait
    // even where the function is not known (a runtime's report naming the lock but no stack).
    let top = active.clone().find(|&i| {
        (frames[i].function.is_some() || rules.note(i).is_some())
            && rules.rule(i).is_none_or(|r| r.meaning != Meaning::Skip)
    });
    let mut facts = Facts {
        activity: Activity::Unknown,
        waits: Vec::new(),
        holds: Vec::new(),
        members: Vec::new(),
        segments,
        top,
        status_redundant: false,
        motion: None,
    };
    let mut idle_at = None;
    if let Some(top) = top {
        let blocked = rules
            .rule(top)
            .is_some_and(|r| r.meaning == Meaning::Wait && !r.context);
        if blocked {
            idle_at = collect_waits(frames, rules, top..active.end, &mut facts.waits);
        }
        facts.activity = if blocked {
            Activity::Blocked
        } else {
            Activity::Running
        };
    }
    let status = thread.status.as_deref().and_then(|s| kb.match_status(s));
    if status.is_some_and(|r| r.runs) {
        // The runtime has readied it: the park its frames still show is over.
        facts.waits.clear();
        facts.activity = Activity::Running;
    }
    // Innermost frames no rule knows, in a call the registers show blocked: it waits there.
    if top.is_none_or(|t| rules.rule(t).is_none()) {
        if let Some(w) = syscall::kernel_wait(thread, active.start, kb) {
            facts.top = Some(w.frame);
            facts.waits = vec![w];
            facts.activity = Activity::Blocked;
        }
    }
    if facts.activity != Activity::Blocked {
        if let Some(rule) = status {
            // A bare `idle` (a status that says no more than the meaning) over the program's
            // own frame, py-spy's word for a thread off the CPU inside a C call its frames do
            // not show (a lock, a sleep, a read), says nothing of what it waits for.
            let own = top.is_some_and(|i| names.is_program(frames, i));
            if !(own && rule.meaning == Meaning::Idle && rule.redundant) {
                apply_status(&mut facts, rule, top.unwrap_or(0), frames.len());
            } else {
                facts.activity = Activity::Unknown;
            }
            // A stated wait in a loop an idle rule knows (a worker's, just below) is a wait
            // for work, as when the frames show the wait.
            if let (Some(w), Activity::Blocked) = (facts.waits.first(), facts.activity) {
                let end = active.end.min(w.frame + IDLE_REACH + 1);
                idle_at = (w.frame..end)
                    .find(|&i| rules.rule(i).is_some_and(|r| r.meaning == Meaning::Idle));
            }
        }
    }
    if let Some(futex) = thread.kernel.as_ref().and_then(|k| k.futex) {
        apply_futex(&mut facts.waits, futex, memory);
    }
    facts.waits.iter_mut().for_each(|w| name_object(w, memory));
    collect_holds_and_members(thread, names, kb, memory, &mut facts);
    // An idle loop below a pool's loop (a main loop dispatching a callback that waits) is the
    // loop the task runs in, not the wait for work.
    let dispatches = |i: usize| rules.rule(i).is_some_and(|r| r.meaning == Meaning::Member);
    let idle_at = idle_at
        .filter(|&i| (facts.waits.first()).is_none_or(|w| !(w.frame + 1..i).any(dispatches)));
    facts.activity = refine_activity(&facts, idle_at, |i| names.is_program(frames, i));
    // A stopped thread runs nothing; one stopped inside a wait still waits.
    let stopped = thread
        .kernel
        .as_ref()
        .is_some_and(|k| k.stopped_by.is_some());
    if stopped && facts.activity == Activity::Running {
        facts.activity = Activity::Stopped;
    }
    let on_lock = facts.activity == Activity::Blocked
        && facts.waits.first().is_some_and(|w| w.kind.is_lock());
    facts.motion = motion::of(thread, on_lock);
    facts
}

/// The runtime's word for the thread's state, when its frames did not say it waits: a Go
/// `[chan receive]`, py-spy's `idle`, CPython's fatal error naming the lock the thread could
/// not take. The wait is shown at the innermost frame (a thread the dump gives no frames for
/// waits all the same).
fn apply_status(facts: &mut Facts, rule: &Rule, top: usize, frame_count: usize) {
    match (rule.meaning, rule.kind) {
        (Meaning::Wait, Some(kind)) if top < frame_count || frame_count == 0 => {
            let mut w = new_wait(kind, rule, top);
            w.timed = rule.timed;
            w.named.clone_from(&rule.resource);
            w.suggestion.clone_from(&rule.suggestion);
            facts.waits.push(w);
            facts.activity = Activity::Blocked;
        }
        (Meaning::Idle, _) => {
            facts.activity = Activity::Idle;
            facts.status_redundant = rule.redundant;
        }
        _ => {}
    }
}

/// Splits the stack at signal frames: the producer's marker (gdb's `<signal handler called>`,
/// the unwinder's) or a function a rule names as a signal trampoline (`__restore_rt`).
fn split_segments(frames: &[Frame], names: FrameNames) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, f) in frames.iter().enumerate() {
        let trampoline = || {
            names
                .rule(i)
                .is_some_and(|r| r.meaning == Meaning::SignalFrame)
        };
        if f.signal_frame || trampoline() {
            out.push(start..i);
            start = i + 1;
        }
    }
    out.push(start..frames.len());
    out
}

fn refine_activity(
    facts: &Facts,
    idle_at: Option<usize>,
    is_program: impl Fn(usize) -> bool,
) -> Activity {
    if facts.activity != Activity::Blocked {
        return facts.activity;
    }
    let Some(first) = facts.waits.first() else {
        return Activity::Blocked;
    };
    // A wait a rule says is never a wait for work (a send into a full queue) is not soft.
    let soft = first.kind.meaning().may_be_idle && !first.busy && facts.waits.len() == 1;
    // An event loop's poll for I/O that an idle rule knows (a reactor's `epoll_wait`) waits
    // for work, as a queue's wait does.
    if soft && first.kind.is_external() && idle_at.is_some() {
        return Activity::Idle;
    }
    if first.kind.is_external() || first.timed {
        return Activity::External;
    }
    if soft {
        // A worker whose loop waits directly (or through a queue rule) waits for work; one
        // whose own code lies between runs a task that waits.
        let loop_waits = facts.members.iter().any(|m| {
            m.frame > first.frame
                && m.frame - first.frame <= 3
                && !(first.frame + 1..m.frame).any(&is_program)
        });
        if idle_at.is_some() || loop_waits {
            return Activity::Idle;
        }
    }
    Activity::Blocked
}

mod args;
mod entry;
mod holds;
mod object;
mod syscall;
#[cfg(test)]
mod tests;
mod waits;
