//! Python frames placed among a thread's native ones, as `py-spy --native` shows them: each
//! `_PyEval_EvalFrameDefault` frame is replaced by the Python frames that call of the eval
//! loop runs (innermost first, up to the frame it began with). A thread blocked on a `_thread`
//! lock's semaphore gets the lock's method as a frame above its innermost Python frame
//! (`_thread.lock.acquire`, `self` = the lock object), so that the rules see what it waits
//! for; the lock a `Thread.join` acquires names the joined thread (`joins`, its tid), and an
//! `RLock`'s owner is evidence of who holds it; a plain lock whose `with` block a frame is
//! inside (its bound `__exit__` still on the frame's value stack, the lock locked) is a local
//! of that frame, `with` = the lock object. The GIL's holder is said by its status; a
//! thread's `threading` name is its name; the asyncio tasks of the loop it runs are its notes
//! (and said in one note of the snapshot).

use super::{LockKind, PyFrame, PyProcess, PyTask, PyThread, TaskState};
use crate::model::{Diagnostic, Evidence, Frame, Language, Thread, Var};

/// The native function whose frames the Python frames replace.
const EVAL_LOOP: &str = "_PyEval_EvalFrameDefault";

/// The local a Python frame gets for each plain lock whose `with` block it is inside.
const WITH_LOCAL: &str = "with";

/// Tasks a loop's note lists, at most (its thread's notes hold them all).
const MAX_TASKS_SAID: usize = 8;

/// The status a thread holding the GIL gets (the rules' word for it, as py-spy's `+gil`).
const GIL_STATUS: &str = "gil";

/// Merges what was read of the interpreter into the native threads; returns the evidence it
/// read (RLock owners) and what it says about the read.
pub fn merge(threads: &mut [Thread], py: &PyProcess) -> (Vec<Evidence>, Vec<Diagnostic>) {
    let mut evidence = Vec::new();
    let mut notes: Vec<String> = py.notes.clone();
    let frames: usize = py.threads.iter().map(|t| t.frames.len()).sum();
    notes.insert(
        0,
        format!(
            "CPython {} read from memory in {} ({}): {} Python threads, {} Python frames, \
             {} pages read in {:.1} ms",
            py.located.version,
            py.located.object,
            py.located.how,
            py.threads.len(),
            frames,
            py.cost.0,
            py.cost.1.as_secs_f64() * 1000.0
        ),
    );
    for pt in &py.threads {
        // `native_thread_id` is the id in the process's PID namespace.
        let Some(thread) = (threads.iter_mut()).find(|t| t.ns_tid.or(t.tid) == Some(pt.tid)) else {
            notes.push(format!(
                "Python thread {} (ident {:#x}) has no OS thread in the capture",
                pt.tid, pt.ident
            ));
            continue;
        };
        if let Some(cut) = &pt.cut {
            notes.push(format!(
                "{}: its Python frames stop early: {cut}",
                thread.label()
            ));
        }
        thread.pthread = thread.pthread.or(Some(pt.ident));
        // The OS names a thread `threading` started after the interpreter (`python3.11`).
        if let Some(name) = &pt.name {
            thread.name = Some(name.clone());
        }
        if pt.gil {
            thread.status = Some(GIL_STATUS.to_string());
        }
        if !pt.tasks.is_empty() {
            let tasks: Vec<String> = pt.tasks.iter().map(task_line).collect();
            let shown = tasks.len().min(MAX_TASKS_SAID);
            notes.push(format!(
                "{} runs an asyncio loop with {} tasks: {}{}",
                thread.label(),
                tasks.len(),
                tasks[..shown].join("; "),
                if shown < tasks.len() { "; …" } else { "" }
            ));
            (thread.notes).extend(tasks.iter().map(|t| format!("asyncio task {t}")));
        }
        let futex = thread
            .kernel
            .as_ref()
            .and_then(|k| k.futex)
            .map(|f| f.address);
        let mut managed: Vec<Frame> = pt.frames.iter().map(python_frame).collect();
        // A thread parked in the parking lot (3.13) sleeps on its own wait entry's semaphore:
        // what it waits for is the address it parks on.
        let words = futex.map(|w| (w, py.parked.get(&w).copied().unwrap_or(w)));
        let before = managed.len();
        let waited =
            words.and_then(|words| waited_lock(py, pt, words, &mut managed, &mut evidence));
        let inserted = managed.len() - before;
        with_blocks(pt, waited, &mut managed[inserted..]);
        thread.frames = interleave(std::mem::take(&mut thread.frames), pt, managed, inserted);
    }
    let diagnostics = notes
        .into_iter()
        .map(|message| Diagnostic {
            line: None,
            message,
        })
        .collect();
    (evidence, diagnostics)
}

/// One asyncio task: `NAME: module.coroutine (file:line), awaiting` (or `running`, or
/// `NAME: coroutine, not started`).
fn task_line(t: &PyTask) -> String {
    let name = t.name.as_deref().unwrap_or("(unnamed)");
    let Some(file) = &t.file else {
        return format!("{name}: {}, not started", t.coroutine);
    };
    let coroutine = match crate::names::python_module(file) {
        Some(module) => format!("{module}.{}", t.coroutine),
        None => t.coroutine.clone(),
    };
    let line = t.line.map(|l| format!(":{l}")).unwrap_or_default();
    let state = match t.state {
        TaskState::Running => "running",
        _ => "awaiting",
    };
    format!("{name}: {coroutine} ({file}{line}), {state}")
}

/// A Python frame as the model has it: `module.qualname`, as the dump parsers name them; a
/// method's `self` as its argument, the object's address (what a `Condition.wait` or a
/// `Queue.get` waits on).
fn python_frame(f: &PyFrame) -> Frame {
    let function = match crate::names::python_module(&f.file) {
        Some(module) => format!("{module}.{}", f.function),
        None => f.function.clone(),
    };
    let args = (f.this.into_iter())
        .map(|this| Var::new("self".into(), format!("{this:#x}").into()))
        .collect();
    Frame {
        function: Some(function.into()),
        file: Some(f.file.as_str().into()),
        line: f.line,
        language: Some(Language::Python),
        args,
        ..Frame::default()
    }
}

/// The `with` blocks over plain locks that each Python frame is inside (the lock's bound
/// `__exit__` on its value stack, the lock locked): a local `with` = the lock object, which
/// the rules read as a hold. The innermost frame's `with` over the lock the thread waits for
/// is the one being entered, unless there are two (a self-lock in one frame).
fn with_blocks(pt: &PyThread, waited: Option<u64>, managed: &mut [Frame]) {
    for (i, (f, frame)) in pt.frames.iter().zip(managed).enumerate() {
        for l in f
            .locks
            .iter()
            .filter(|l| l.kind == LockKind::Lock && l.locked)
        {
            let entering = u32::from(i == 0 && Some(l.object) == waited);
            if l.exits > entering {
                let value = format!("{:#x}", l.object);
                frame.locals.push(Var::new(WITH_LOCAL.into(), value.into()));
            }
        }
    }
}

/// When the thread sleeps on `futex`, the semaphore of a lock its innermost Python frame refers
/// to, or parks on `parked` (3.13: a lock's `PyMutex`, or the exit event of a thread handle it
/// refers to): that lock's method as a frame above
/// it (in `managed`, at 0), the joined thread named on the frame, an `RLock`'s owner as
/// evidence. Returns the lock object.
fn waited_lock(
    py: &PyProcess,
    pt: &PyThread,
    (futex, parked): (u64, u64),
    managed: &mut Vec<Frame>,
    evidence: &mut Vec<Evidence>,
) -> Option<u64> {
    let lock = (pt.frames.first())
        .and_then(|f| (f.locks.iter()).find(|l| l.semaphore == futex || l.semaphore == parked))?;
    let joined = (py.threads.iter()).find(|t| match lock.kind {
        LockKind::ThreadHandle => t.ident == lock.owner,
        _ => (t.join_lock.as_ref()).is_some_and(|j| j.object == lock.object),
    });
    if let (Some(t), Some(caller)) = (joined, managed.first_mut()) {
        caller.push_arg(Var::new("joins".into(), t.tid.to_string().into()));
    }
    let class = match lock.kind {
        LockKind::Lock => "lock",
        LockKind::RLock => "RLock",
        // A join through the thread's handle (3.13) waits on no lock.
        LockKind::ThreadHandle => return None,
    };
    let address = format!("{:#x}", lock.object);
    if lock.kind == LockKind::RLock && lock.locked {
        if let Some(owner) = py.threads.iter().find(|t| t.ident == lock.owner) {
            evidence.push(Evidence::LockOwner {
                address: lock.object,
                owner_tid: owner.tid,
                owner_name: None,
                source: format!("the RLock's owner, read from CPython's memory ({address})"),
                by_claim: false,
            });
        }
    }
    managed.insert(
        0,
        Frame {
            function: Some(format!("_thread.{class}.acquire").into()),
            args: [Var::new("self".into(), address.into())].into(),
            language: Some(Language::Python),
            ..Frame::default()
        },
    );
    Some(lock.object)
}

/// The native frames with each eval-loop frame replaced by the Python frames its call runs:
/// the groups of `managed` that end at an entry frame, in order (the first `extra` frames of
/// `managed` go with the first group). Groups left over (no eval-loop frame found for them)
/// follow the native frames.
fn interleave(native: Vec<Frame>, pt: &PyThread, managed: Vec<Frame>, extra: usize) -> Vec<Frame> {
    let mut groups: Vec<Vec<Frame>> = Vec::new();
    let mut current = Vec::new();
    let mut managed = managed.into_iter();
    current.extend(managed.by_ref().take(extra));
    for (f, frame) in pt.frames.iter().zip(managed) {
        current.push(frame);
        if f.entry {
            groups.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    let mut groups = groups.into_iter();
    let mut out = Vec::with_capacity(native.len() + pt.frames.len() + extra);
    for frame in native {
        if frame.function.as_deref() == Some(EVAL_LOOP) {
            match groups.next() {
                Some(g) => out.extend(g),
                None => out.push(frame),
            }
        } else {
            out.push(frame);
        }
    }
    out.extend(groups.flatten());
    // Numbered again, as a walk numbers its frames, when the native ones were.
    if out.iter().any(|f| f.index.is_some()) {
        for (i, f) in out.iter_mut().enumerate() {
            f.index = u32::try_from(i).ok();
        }
    }
    out
}
