//! The JSON report, schema `hangscan-report/1` (documented in docs/json-schema.md). Built as
//! plain serde structs so the schema is visible in one place; serde escapes all text.

use super::locate::step_frame;
use super::narrate;
use super::Report;
use crate::analyze::{
    Activity, ClaimVerdict, Detail, Facts, FoundBy, Grade, MemberState, Pool, Severity, Shows,
};
use crate::model::{Frame, Thread};
use serde::Serialize;
use std::io::Write;

/// The schema id written in every report.
pub const SCHEMA: &str = "hangscan-report/1";

#[derive(Serialize)]
struct Doc<'a> {
    schema: &'static str,
    reports: Vec<ReportJson<'a>>,
    /// The set's combined graph and the findings that span its processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    processes: Option<super::json_set::ProcessesJson<'a>>,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    source: Source<'a>,
    verdict: crate::analyze::Verdict,
    threads: Vec<ThreadJson<'a>>,
    findings: Vec<FindingJson<'a>>,
    edges: Vec<EdgeJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    claims: Vec<ClaimJson<'a>>,
    /// The language runtimes the processes run, with the command that dumps their stacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    runtimes: Vec<RuntimeJson<'a>>,
    diagnostics: &'a [crate::model::Diagnostic],
}

/// A language runtime a process runs (a JVM, CPython, Go).
#[derive(Serialize)]
struct RuntimeJson<'a> {
    name: &'a str,
    rule: &'a str,
    pid: Option<u32>,
    /// The first thread whose frames show it.
    thread_index: usize,
    /// The command that dumps its stacks in a form hangscan reads, pid filled in.
    dump_with: String,
}

/// A verdict the dump's runtime printed, and whether the analysis bears it out.
#[derive(Serialize)]
struct ClaimJson<'a> {
    text: &'a str,
    threads: &'a [String],
    deadlock: bool,
    line: Option<usize>,
    thread_indexes: &'a [usize],
    /// Indexes into `findings`.
    confirmed_by: &'a [usize],
    /// What the analysis makes of it, in words.
    verdict: String,
    /// The same as data.
    outcome: &'a ClaimVerdict,
}

#[derive(Serialize)]
struct Source<'a> {
    producer: &'a str,
    origin: &'a str,
    pid: Option<u32>,
    /// Every thread with its whole stack (the analysis's judgement of the input's gaps).
    complete: bool,
    /// Why not, as data.
    #[serde(skip_serializing_if = "<[crate::model::Gap]>::is_empty")]
    gaps: &'a [crate::model::Gap],
    /// Why not, in words, and what to record instead; absent when complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    incomplete: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<String>,
}

#[derive(Serialize)]
struct ThreadJson<'a> {
    index: usize,
    tid: Option<u64>,
    /// The thread's id inside the process's PID namespace, when it differs from `tid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    ns_tid: Option<u64>,
    /// `os` when `tid` is the OS thread id, `none` when the input did not say.
    id_kind: &'static str,
    debugger_id: Option<&'a str>,
    /// What `debugger_id` is: `debugger`, `goroutine`, `java`, `python`.
    debugger_id_kind: crate::model::IdKind,
    /// The runtime's own word for the thread's state, as printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waited_minutes: Option<u64>,
    /// Lines the dump attaches to the thread (Java's ownable synchronizers, Go's `created by`).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
    name: Option<&'a str>,
    state: Activity,
    kernel_state: crate::model::KernelState,
    /// Who keeps the thread stopped, when it is (`{"by": "signal"}`, `{"by": "tracer", ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped_by: Option<&'a crate::model::StoppedBy>,
    summary: String,
    frames: Vec<FrameJson<'a>>,
    /// Why the stack ends before the thread's first frame (live capture and cores).
    #[serde(skip_serializing_if = "Option::is_none")]
    unwind_error: Option<&'a str>,
    /// Why the unwinder's walk ended (live capture and cores).
    #[serde(skip_serializing_if = "Option::is_none")]
    unwind_stop: Option<crate::model::StopReason>,
    /// What the second look at a live process showed of the thread, and what the analysis
    /// makes of it (`motion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    second_look: Option<LookJson<'a>>,
    /// The pool the thread works for, when it is a member of one: the pool's name, how it was
    /// found, its instance and how that is known, the loop frame and whether it is idle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<PoolJson<'a>>,
}

#[derive(Serialize)]
struct PoolJson<'a> {
    name: &'a str,
    found_by: FoundBy,
    instance: Option<u64>,
    grade: Grade,
    #[serde(rename = "loop")]
    loop_frame: usize,
    member: MemberState,
}

#[derive(Serialize)]
struct LookJson<'a> {
    #[serde(flatten)]
    counters: &'a crate::model::ThreadLook,
    motion: Option<crate::analyze::Motion>,
}

#[derive(Serialize)]
struct FrameJson<'a> {
    index: Option<u32>,
    function: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<u32>,
    address: Option<String>,
    module: Option<&'a str>,
    inlined: bool,
    signal_frame: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
    /// Why the symbols are not trusted, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    untrusted: Option<&'a str>,
    /// How the unwinder found the frame (live capture and cores).
    #[serde(skip_serializing_if = "Option::is_none")]
    trust: Option<crate::model::FrameTrust>,
    /// The managed language whose frame it is, read from its runtime's memory (`python`).
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<crate::model::Language>,
    /// Parameters and locals read from memory (live capture and cores).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vars: Vec<VarJson<'a>>,
}

/// A variable read from memory through its DWARF location.
#[derive(Serialize)]
struct VarJson<'a> {
    name: &'a str,
    param: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    ty: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    readable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreadable: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    holds: Option<HoldsJson<'a>>,
}

/// The lock a guard variable holds.
#[derive(Serialize)]
struct HoldsJson<'a> {
    lock: String,
    /// The further locks of a guard of several (a `std::scoped_lock` of two mutexes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also: Vec<String>,
    rule: &'a str,
}

fn var_json(v: &crate::model::Var, param: bool) -> Option<VarJson<'_>> {
    let read = v.read.as_deref()?;
    Some(VarJson {
        name: &v.name,
        param,
        ty: read.ty.as_deref(),
        value: Some(&*v.value).filter(|s| !s.is_empty()),
        address: read.address.map(|a| format!("0x{a:x}")),
        readable: read.unreadable.is_none(),
        unreadable: read.unreadable.as_deref(),
        holds: read.holds.as_ref().map(|h| HoldsJson {
            lock: format!("0x{:x}", h.lock),
            also: h.also.iter().map(|a| format!("0x{a:x}")).collect(),
            rule: &h.rule,
        }),
    })
}

#[derive(Serialize)]
struct FindingJson<'a> {
    kind: &'static str,
    severity: Severity,
    confidence: Grade,
    threads: Vec<Option<u64>>,
    thread_indexes: Vec<usize>,
    title: String,
    explanation: String,
    /// What the finding rests on, as data (`title` and `explanation` say it).
    detail: &'a Detail,
    steps: Vec<StepJson<'a>>,
    suggestion: Option<String>,
    signature: String,
}

#[derive(Serialize)]
struct StepJson<'a> {
    thread: Option<u64>,
    thread_index: usize,
    frame: Option<u32>,
    function: Option<String>,
    text: String,
    /// What the step shows, as data (`text` says it); frames are positions in the thread's
    /// `frames`, threads indexes into `threads`.
    shows: &'a Shows,
    grade: Option<Grade>,
}

#[derive(Serialize)]
struct EdgeJson {
    from: usize,
    to: usize,
    wait: &'static str,
    grade: Grade,
}

pub fn render(
    reports: &[Report],
    set: Option<super::Set>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let doc = Doc {
        schema: SCHEMA,
        reports: reports.iter().map(report).collect(),
        processes: set.map(super::json_set::processes),
    };
    crate::sanitize::write_json(&mut *out, &doc)?;
    writeln!(out)
}

fn report<'a>(r: &Report<'a>) -> ReportJson<'a> {
    let snap = r.snapshot;
    let a = r.analysis;
    let tid = |i: usize| snap.threads[i].tid;
    ReportJson {
        source: Source {
            producer: &snap.producer,
            origin: &snap.origin,
            pid: snap.pid,
            complete: a.coverage.whole,
            gaps: &a.coverage.gaps,
            incomplete: (!a.coverage.whole).then(|| narrate::coverage::gaps(snap, &a.coverage)),
            record: (!a.coverage.whole).then(|| narrate::coverage::record_instead(snap)),
        },
        verdict: a.verdict(),
        threads: snap
            .threads
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let summary = narrate::state(snap, &a.states[i]);
                let mut json = thread(i, t, &a.facts[i], summary);
                json.pool = pool_of(&a.pools, i);
                json
            })
            .collect(),
        findings: a
            .findings
            .iter()
            .map(|f| (f, narrate::finding(snap, f)))
            .map(|(f, told)| FindingJson {
                kind: f.kind.as_str(),
                severity: f.severity,
                confidence: f.confidence,
                threads: f.threads.iter().map(|&t| tid(t)).collect(),
                thread_indexes: f.threads.clone(),
                title: told.title,
                explanation: told.explanation,
                detail: &f.detail,
                steps: (f.steps.iter().zip(told.steps))
                    .map(|(s, text)| {
                        let frame = step_frame(snap, s);
                        StepJson {
                            thread: tid(s.thread),
                            thread_index: s.thread,
                            frame: frame.and_then(|f| f.index),
                            function: frame.and_then(|f| f.function.as_deref().map(str::to_string)),
                            text,
                            shows: &s.shows,
                            grade: s.grade,
                        }
                    })
                    .collect(),
                suggestion: told.suggestion,
                signature: f.signature.clone(),
            })
            .collect(),
        edges: a
            .graph
            .edges
            .iter()
            .map(|e| EdgeJson {
                from: e.from,
                to: e.to,
                wait: a.facts[e.from].waits[e.wait].kind.noun(),
                grade: e.grade,
            })
            .collect(),
        claims: a
            .claims
            .iter()
            .map(|c| {
                let claim = &snap.claims[c.claim];
                ClaimJson {
                    text: &claim.text,
                    threads: &claim.threads,
                    deadlock: claim.deadlock,
                    line: claim.line,
                    thread_indexes: &c.threads,
                    confirmed_by: &c.confirmed_by,
                    verdict: narrate::claim(&c.verdict),
                    outcome: &c.verdict,
                }
            })
            .collect(),
        runtimes: a
            .runtimes
            .iter()
            .map(|rt| RuntimeJson {
                name: &rt.name,
                rule: &rt.rule,
                pid: rt.pid,
                thread_index: rt.thread,
                dump_with: narrate::dump_with(rt),
            })
            .collect(),
        diagnostics: &snap.diagnostics,
    }
}

/// Thread `t`'s pool, as JSON shows it.
fn pool_of(pools: &[Pool], t: usize) -> Option<PoolJson<'_>> {
    pools.iter().find_map(|p| {
        let m = p.member(t)?;
        Some(PoolJson {
            name: &p.name,
            found_by: p.found_by,
            instance: p.instance,
            grade: p.grade,
            loop_frame: m.frame,
            member: m.state,
        })
    })
}

fn thread<'a>(index: usize, t: &'a Thread, facts: &Facts, summary: String) -> ThreadJson<'a> {
    ThreadJson {
        index,
        tid: t.tid,
        ns_tid: t.ns_tid,
        id_kind: if t.tid.is_some() { "os" } else { "none" },
        debugger_id: t.debugger_id.as_deref(),
        debugger_id_kind: t.id_kind,
        status: t.status.as_deref(),
        waited_minutes: t.waited_minutes,
        notes: &t.notes,
        name: t.name.as_deref(),
        state: facts.activity,
        kernel_state: t.state,
        stopped_by: t.kernel.as_ref().and_then(|k| k.stopped_by.as_ref()),
        summary,
        frames: (t.frames.iter().enumerate())
            .map(|(i, f)| frame(f, facts.is_signal_frame(i)))
            .collect(),
        unwind_error: t.unwind_error.as_deref(),
        unwind_stop: t.unwind_stop,
        second_look: (t.kernel.as_ref())
            .and_then(|k| k.second_look.as_ref())
            .map(|counters| LookJson {
                counters,
                motion: facts.motion,
            }),
        pool: None,
    }
}

/// A frame; `signal_frame` as the analysis splits the stack (a producer's marker or a
/// trampoline the rules name).
fn frame(f: &Frame, signal_frame: bool) -> FrameJson<'_> {
    FrameJson {
        index: f.index,
        function: f.function.as_deref(),
        file: f.file.as_deref(),
        line: f.line,
        address: f.address.map(|a| format!("0x{a:x}")),
        module: f.module.as_deref(),
        inlined: f.inlined,
        signal_frame,
        notes: &f.notes,
        untrusted: f.untrusted.as_deref(),
        trust: f.trust,
        language: f.language,
        vars: (f.args.iter().map(|v| var_json(v, true)))
            .chain(f.locals.iter().map(|v| var_json(v, false)))
            .flatten()
            .collect(),
    }
}
