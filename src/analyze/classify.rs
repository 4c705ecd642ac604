//! Per thread: what the rules say its frames mean. The stack is split at signal frames; the
//! innermost part (segment 0) is what the thread is doing now, the parts below are contexts a
//! signal interrupted, whose locks and pool membership the handler inherits.

use super::motion::{self, Motion};
use super::names::FrameNames;
use crate::knowledge::{KnowledgeBase, Meaning, Rule, WaitKind};
use crate::model::{Frame, Snapshot, Thread};
use crate::values::{after_entry, value_address, value_symbol};
use std::ops::Range;

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

/// How many frames below a wait an idle rule's frame (a worker loop) may be and still show
/// that the wait is for work.
const IDLE_REACH: usize = 8;

/// Walks segment 0 from the blocking frame down, grouping adjacent wait frames into waits.
/// Returns the position of an idle-rule frame, if one follows the first wait closely.
fn collect_waits(
    frames: &[Frame],
    rules: FrameRules,
    range: Range<usize>,
    waits: &mut Vec<Wait>,
) -> Option<usize> {
    let mut current: Option<Wait> = None;
    let mut idle_at = None;
    for i in range {
        let note = rules.note(i);
        let rule = rules.rule(i);
        let pool = if note.is_some() {
            None
        } else {
            rules.names.pool(i)
        };
        match rule.map(|r| r.meaning) {
            Some(Meaning::Wait) => {
                let rule = rule.expect("matched");
                let kind = rule.kind.expect("wait rules have a kind");
                match &mut current {
                    Some(w) if w.site.is_empty() && (rule.refines || compatible(w.kind, kind)) => {
                        absorb(w, &frames[i], rule, pool, i)
                    }
                    _ => {
                        push_exact(waits, current.take());
                        let mut w = new_wait(kind, rule, i);
                        absorb(&mut w, &frames[i], rule, pool, i);
                        current = Some(w);
                    }
                }
                if let (Some(n), Some(w)) = (note, &mut current) {
                    // A note names the object outright: nothing is more specific.
                    if n.address.is_some() {
                        w.address = n.address;
                        w.address_level = u8::MAX;
                    }
                    w.releases = w.releases.or(n.releases);
                }
            }
            Some(Meaning::Skip) => {}
            Some(Meaning::Idle) => {
                let near =
                    waits.is_empty() && current.as_ref().is_some_and(|w| i - w.frame <= IDLE_REACH);
                if near && idle_at.is_none() {
                    idle_at = Some(i);
                }
            }
            _ => {
                if let Some(w) = &mut current {
                    if frames[i].function.is_some() && w.site.len() < 2 {
                        w.site.push(i);
                    }
                }
            }
        }
    }
    push_exact(waits, current);
    idle_at
}

/// Adds `wait` to `waits` without room to spare: most threads wait once, and a `Wait` is big
/// enough that the usual room for four costs a 17 000-thread dump 19 MB.
fn push_exact(waits: &mut Vec<Wait>, wait: Option<Wait>) {
    if let Some(wait) = wait {
        waits.reserve_exact(1);
        waits.push(wait);
    }
}

/// Whether a frame of `next` kind continues a wait of `prev` kind.
fn compatible(prev: WaitKind, next: WaitKind) -> bool {
    prev == next || prev.is_generic() || next.is_generic() || refines(prev, next)
}

/// Whether a frame of `next` kind names what a wait of `prev` kind is for (the loader's entry
/// below `pthread_mutex_lock`, a pool's join below a thread join).
fn refines(prev: WaitKind, next: WaitKind) -> bool {
    next.names_wait_of(prev)
}

fn new_wait(kind: WaitKind, rule: &Rule, i: usize) -> Wait {
    Wait {
        kind,
        rule: rule.id.clone(),
        packs: vec![rule.pack.clone()],
        first: i,
        frame: i,
        address: None,
        symbol: None,
        address_level: 0,
        named: None,
        target_pthread: None,
        target_tid: None,
        pool: None,
        releases: None,
        timed: false,
        busy: rule.busy,
        scope: rule.scope,
        fatal: rule.fatal,
        awaits_work: false,
        owner_offset: None,
        futex_offsets: Vec::new(),
        futex_values: Vec::new(),
        sleeps_apart: false,
        site: Vec::new(),
        suggestion: None,
        guard_name: None,
    }
}

/// Adds what one frame of the run says to the wait (`pool`: the class `rule` names for it).
fn absorb(w: &mut Wait, frame: &Frame, rule: &Rule, pool: Option<&str>, i: usize) {
    let kind = rule.kind.expect("wait rules have a kind");
    if rule.refines && w.rule != rule.id {
        // What the primitive above waited on (a parking event's condition variable, its
        // mutex) is how this wait is built, not what it waits for.
        *w = Wait {
            site: std::mem::take(&mut w.site),
            packs: std::mem::take(&mut w.packs),
            ..new_wait(kind, rule, w.first)
        };
    } else if (w.kind.is_generic() && !kind.is_generic()) || refines(w.kind, kind) {
        w.kind = kind;
        w.rule = rule.id.clone();
    }
    w.frame = i;
    if !w.packs.contains(&rule.pack) {
        w.packs.insert(0, rule.pack.clone());
    }
    w.timed |= rule.timed;
    w.busy |= rule.busy;
    w.scope |= rule.scope;
    w.awaits_work |= rule.awaits_work;
    w.sleeps_apart |= rule.sleeps_apart;
    w.owner_offset = w.owner_offset.or(rule.owner_offset);
    if w.futex_offsets.is_empty() {
        w.futex_offsets.clone_from(&rule.futex_offsets);
        w.futex_values.clone_from(&rule.futex_values);
    }
    // The most specific frame names the object: a context rule (`std::mutex::lock`) over a
    // primitive (`pthread_mutex_lock`) over a bare futex word.
    let level = if rule.context {
        2
    } else if kind.is_generic() {
        0
    } else {
        1
    };
    if let Some(a) = arg_value(frame, &rule.address_args) {
        let address = value_address(a);
        if address.is_some() && (w.address.is_none() || level >= w.address_level) {
            w.address = address;
            w.symbol = value_symbol(a).map(str::to_string);
            w.address_level = level;
        }
    }
    if let Some(name) = &rule.resource {
        w.named = Some(name.clone());
    }
    if let Some(t) = arg_value(frame, &rule.target_args).and_then(parse_number) {
        w.target_pthread = Some(t);
    }
    if let Some(t) = arg_value(frame, &rule.tid_args).and_then(parse_number) {
        w.target_tid = Some(t);
    }
    if let Some(m) = arg_value(frame, &rule.releases_args).and_then(value_address) {
        w.releases = Some(m);
    }
    if let Some(class) = pool {
        w.pool = Some(PoolRef {
            class: class.to_string(),
            instance: arg_value(frame, &rule.instance_args).and_then(value_address),
        });
    }
    if rule.suggestion.is_some() {
        w.suggestion.clone_from(&rule.suggestion);
    }
    if rule.guard_name.is_some() {
        w.guard_name.clone_from(&rule.guard_name);
    }
}

/// What the kernel says the thread waits on fills what the frames did not show: a lock's
/// address is its futex word (less the word's offset inside the lock, see `lock_of`), unless
/// its waiters sleep apart; glibc's join waits for the joined thread's tid to change.
fn apply_futex(waits: &mut [Wait], futex: crate::model::FutexWait, memory: &Snapshot) {
    let Some(w) = waits.first_mut() else { return };
    if w.kind.is_lock() && w.address.is_none() && !w.sleeps_apart {
        w.address = Some(lock_of(&futex, w, memory));
    }
    // A scope's join parks on its owner's own futex, which holds no thread id.
    if w.kind == WaitKind::Join && !w.scope && w.target_tid.is_none() && futex.value != 0 {
        w.target_tid = Some(u64::from(futex.value));
    }
}

/// An object no frame printed a symbol for is named by the data symbol that holds it, when
/// the producer read one (live capture and cores), as gdb names it
/// ([`Snapshot::data_symbol`]: a global, a static's guard variable, `name+offset` inside one).
pub(super) fn name_object(w: &mut Wait, memory: &Snapshot) {
    if w.symbol.is_none() {
        w.symbol = w.address.and_then(|a| memory.data_symbol(a));
    }
}

/// The lock whose futex word is at `word`: the word itself, or for a lock with several words
/// (`futex_offsets`) the candidate the wait's value names (`futex_values`), else the first
/// whose owner field memory shows set, else the last.
fn lock_of(futex: &crate::model::FutexWait, w: &Wait, memory: &Snapshot) -> u64 {
    let word = futex.address;
    let by_value = |i: usize| w.futex_values.get(i).is_none_or(|&v| v == futex.value);
    let mut candidates = (w.futex_offsets.iter().enumerate())
        .filter(|&(i, _)| by_value(i))
        .filter_map(|(_, &off)| word.checked_sub(off));
    let owned = |base: &u64| {
        w.owner_offset
            .and_then(|off| memory.read_u32(base.checked_add(off)?))
            .is_some_and(|owner| owner != 0)
    };
    candidates
        .clone()
        .find(owned)
        .or_else(|| candidates.next_back())
        .unwrap_or(word)
}

/// A join's futex only names a tid when the run turned out to be a join.
fn fix_join_targets(waits: &mut [Wait]) {
    for w in waits {
        if w.kind != WaitKind::Join {
            w.target_tid = None;
        }
    }
}

fn arg_value<'f>(frame: &'f Frame, names: &[String]) -> Option<&'f str> {
    names.iter().find_map(|n| frame.arg(n))
}

fn parse_number(v: &str) -> Option<u64> {
    let v = after_entry(v).trim();
    let v = v.split_whitespace().next()?;
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
    .filter(|&n| n != 0)
}

fn collect_holds_and_members(
    thread: &Thread,
    names: FrameNames,
    kb: &KnowledgeBase,
    memory: &Snapshot,
    facts: &mut Facts,
) {
    let frames = &thread.frames;
    fix_join_targets(&mut facts.waits);
    let in_chain = |i: usize| facts.waits.iter().any(|w| (w.first..=w.frame).contains(&i));
    let mut holds = Vec::new();
    let mut members = Vec::new();
    // Notes that state a lock is held: on a frame (Java's `- locked <0x…>`), or on the thread
    // as a whole (its locked ownable synchronizers), shown at the outermost frame.
    let outermost = frames.len().checked_sub(1);
    let noted = frames
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.notes.iter().map(move |n| (Some(i), n)))
        .chain(thread.notes.iter().map(|n| (outermost, n)));
    for (at, note) in noted {
        let Some(frame) = at else { continue };
        if let Some((rule, Some(address), _)) = kb.match_note(note) {
            if rule.meaning == Meaning::Hold {
                holds.push(Hold {
                    lock: LockId::Addr(address),
                    frame,
                    rule: rule.id.clone(),
                    from_local: true,
                    from_memory: false,
                });
            }
        }
    }
    // The runtime's word for the thread's state can name a lock it holds (py-spy's `+gil`).
    let status_rule = thread.status.as_deref().and_then(|s| kb.match_status(s));
    if let (Some(rule), Some(top)) = (status_rule, facts.top.or(outermost)) {
        if let (Meaning::Hold, Some(name)) = (rule.meaning, &rule.resource) {
            holds.push(Hold {
                lock: LockId::Named(name.clone()),
                frame: top,
                rule: rule.id.clone(),
                from_local: true,
                from_memory: false,
            });
        }
    }
    for (i, frame) in frames.iter().enumerate() {
        // A guard read from memory: the producer followed its pointer to the lock. A lock whose
        // word reads 0 is free: the guard was moved away or released (Rust's `drop(guard)`
        // leaves the variable's bytes as they were).
        let guards = (frame.locals.iter().chain(frame.args.iter()))
            .filter_map(|v| v.read.as_ref()?.holds.as_ref())
            .flat_map(|g| g.locks().map(move |lock| (lock, g)))
            .filter(|&(lock, _)| memory.read_u32(lock) != Some(0));
        holds.extend(guards.map(|(lock, g)| Hold {
            lock: LockId::Addr(lock),
            frame: i,
            rule: g.rule.clone(),
            from_local: true,
            from_memory: true,
        }));
        // A local's printed value (`bt full`); one read from memory was judged by its type above.
        for local in frame.locals.iter().filter(|l| l.read.is_none()) {
            if let Some((rule, addr)) = names.local(&local.name, &local.value) {
                let addrs = match addr {
                    Some(a) => vec![a],
                    None => all_addresses(&local.value),
                };
                // `{_M_device = @0x0}`: a guard not constructed yet.
                let addrs: Vec<u64> = addrs.into_iter().filter(|&a| a != 0).collect();
                holds.extend(addrs.into_iter().map(|a| Hold {
                    lock: LockId::Addr(a),
                    frame: i,
                    rule: rule.id.clone(),
                    from_local: true,
                    from_memory: false,
                }));
            }
        }
        let Some(rule) = names.rule(i) else { continue };
        match rule.meaning {
            Meaning::Hold | Meaning::Wait if !in_chain(i) => {
                if let (Some(name), true) = (
                    &rule.resource,
                    rule.meaning == Meaning::Hold || rule.context,
                ) {
                    holds.push(Hold {
                        lock: LockId::Named(name.clone()),
                        frame: i,
                        rule: rule.id.clone(),
                        from_local: false,
                        from_memory: false,
                    });
                }
            }
            Meaning::Member => {
                if let Some(class) = names.pool(i) {
                    let pool = PoolRef {
                        class: class.to_string(),
                        instance: arg_value(frame, &rule.instance_args).and_then(value_address),
                    };
                    // A loop of the same pool nested in its task (a parallel algorithm in a
                    // task group's wait): the thread is one member, at the innermost loop.
                    if !members.iter().any(|m: &Membership| m.pool == pool) {
                        members.push(Membership {
                            pool,
                            frame: i,
                            rule: rule.id.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    members.extend(named_member(thread, names, kb, &facts.waits, &members));
    members.extend(entry::entry_member(thread, names, kb, &members));
    // A condvar wait has released its mutex, whatever the guard local still says.
    let released: Vec<u64> = facts.waits.iter().filter_map(|w| w.releases).collect();
    holds.retain(|h| !matches!(h.lock, LockId::Addr(a) if released.contains(&a)));
    // A guard whose constructor is still waiting for the lock is listed by `bt full` in the
    // frame that builds it: that frame (the wait's caller) does not hold the lock yet.
    for w in facts.waits.iter().filter(|w| w.kind.is_lock()) {
        let (Some(addr), Some(&caller)) = (w.address, w.site.first()) else {
            continue;
        };
        holds.retain(|h| !(h.from_local && h.frame <= caller && h.lock == LockId::Addr(addr)));
    }
    facts.holds = holds;
    facts.members = members;
}

/// Membership the library's name for the thread states (a `thread` rule), for a pool no frame
/// already names: its worker loop is the frame that calls the program's outermost frame (the
/// task it runs), or, with no program frame, the frame below the thread's last wait.
fn named_member(
    thread: &Thread,
    names: FrameNames,
    kb: &KnowledgeBase,
    waits: &[Wait],
    members: &[Membership],
) -> Option<Membership> {
    let rule = kb.match_thread(thread.name.as_deref()?)?;
    if !rule.thread_in(thread.frames.iter().filter_map(|f| f.module.as_deref())) {
        return None;
    }
    let class = rule
        .pool
        .as_ref()
        .filter(|_| rule.meaning == Meaning::Member)?;
    if members.iter().any(|m| m.pool.class == *class) {
        return None;
    }
    let frames = &thread.frames;
    let task = (0..frames.len())
        .rev()
        .find(|&i| names.is_program(frames, i));
    let below = task.or(waits.last().map(|w| w.frame))?;
    Some(Membership {
        pool: PoolRef {
            class: class.clone(),
            instance: None,
        },
        frame: (below + 1).min(frames.len() - 1),
        rule: rule.id.clone(),
    })
}

fn all_addresses(value: &str) -> Vec<u64> {
    value
        .match_indices("0x")
        .filter_map(|(p, _)| {
            let hex: String = value[p + 2..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            u64::from_str_radix(&hex, 16).ok().filter(|&a| a != 0)
        })
        .collect()
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

mod entry;
mod syscall;
#[cfg(test)]
mod tests;
