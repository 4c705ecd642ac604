//! A pack's TOML read into rules: the raw rule as written, the checks that its subject and
//! meaning have the shape they need, and its compilation into a [`Rule`].

use super::{GuardMembers, Meaning, Rule, Subject, WaitKind};
use crate::error::{Error, Result};
use crate::knowledge::lockword::{OwnerWord, RawOwnerWord};
use crate::knowledge::pattern::{compile as compile_pattern, Pattern};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    summary: String,
    meaning: Meaning,
    function: Option<String>,
    local: Option<String>,
    note: Option<String>,
    status: Option<String>,
    thread: Option<String>,
    entry: Option<String>,
    printed: Option<String>,
    guard: Option<String>,
    finding: Option<String>,
    pointer: Option<String>,
    within: Option<String>,
    owns: Option<String>,
    local_name: Option<String>,
    thread_module: Option<String>,
    kind: Option<WaitKind>,
    #[serde(default)]
    context: bool,
    #[serde(default)]
    refines: bool,
    runtime: Option<String>,
    own_files: Option<String>,
    #[serde(default)]
    timed: bool,
    #[serde(default)]
    busy: bool,
    #[serde(default)]
    scope: bool,
    #[serde(default)]
    fatal: bool,
    #[serde(default)]
    awaits_work: bool,
    #[serde(default)]
    address_args: Vec<String>,
    #[serde(default)]
    target_args: Vec<String>,
    #[serde(default)]
    tid_args: Vec<String>,
    #[serde(default)]
    releases_args: Vec<String>,
    #[serde(default)]
    instance_args: Vec<String>,
    pool: Option<String>,
    resource: Option<String>,
    suggestion: Option<String>,
    guard_name: Option<String>,
    owner_offset: Option<u64>,
    shared_offset: Option<u64>,
    shared_mask: Option<u64>,
    shared_printed: Option<String>,
    #[serde(default)]
    futex_offsets: Vec<u64>,
    #[serde(default)]
    futex_values: Vec<u32>,
    readers_offset: Option<u64>,
    readers_shift: Option<u32>,
    readers_printed: Option<String>,
    owner_word: Option<RawOwnerWord>,
    #[serde(default)]
    redundant: bool,
    #[serde(default)]
    runs: bool,
    #[serde(default)]
    async_runtime: bool,
    #[serde(default)]
    hosts: bool,
    #[serde(default)]
    outermost: bool,
    #[serde(default)]
    sleeps_apart: bool,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counterexamples: Vec<String>,
}

/// What is wrong with a rule whose subject or meaning needs a particular shape, if anything.
fn shape_problem(r: &RawRule, subject: Subject, pattern: &Pattern) -> Option<&'static str> {
    let has_group = |g: &str| pattern.regex().capture_names().flatten().any(|n| n == g);
    match (subject, r.meaning) {
        (Subject::Finding, Meaning::Advice) if r.suggestion.is_none() => {
            Some("(advice) needs a `suggestion`")
        }
        (Subject::Finding, Meaning::Advice) => None,
        (Subject::Finding, _) | (_, Meaning::Advice) => {
            Some("must be `meaning = \"advice\"` with a `finding` pattern, or neither")
        }
        (Subject::Printed, Meaning::Hold) if !has_group("owner") || r.address_args.is_empty() => {
            Some("(printed) needs an `owner` group and `address_args`")
        }
        (Subject::Printed, Meaning::Hold) => None,
        (Subject::Guard, Meaning::Hold) if r.pointer.is_none() => {
            Some("(guard) needs a `pointer` member")
        }
        (Subject::Guard, Meaning::Hold)
            if r.pointer.as_deref().is_some_and(|p| {
                p.trim_end_matches('*').contains('*') || (p.ends_with('*') && !is_every(p))
            }) =>
        {
            Some("(guard) takes `*` in `pointer` only as its last member (`_M_devices.*`)")
        }
        (Subject::Guard, Meaning::Hold) => None,
        (Subject::Guard, _) => Some("(guard) must be `meaning = \"hold\"`"),
        (Subject::Thread, Meaning::Member) if r.pool.is_none() => {
            Some("(thread) needs a fixed `pool`")
        }
        (Subject::Thread, Meaning::Member) => None,
        (Subject::Thread, _) => Some("(thread) must be `meaning = \"member\"`"),
        (Subject::Entry, Meaning::Member) if r.pool.is_none() => {
            Some("(entry) needs a fixed `pool`")
        }
        (Subject::Entry, Meaning::Member) => None,
        (Subject::Entry, _) => Some("(entry) must be `meaning = \"member\"`"),
        (Subject::Function, Meaning::Runtime) if r.runtime.is_none() || r.suggestion.is_none() => {
            Some(
                "(runtime) needs `runtime` (its name) and `suggestion` (the command that dumps it)",
            )
        }
        (Subject::Function, Meaning::Runtime) => None,
        (_, Meaning::Runtime) => Some("(runtime) needs a `function` pattern"),
        _ if r.runtime.is_some() || r.own_files.is_some() => {
            Some("takes `runtime` and `own_files` only as `meaning = \"runtime\"`")
        }
        _ if (r.refines || r.awaits_work) && r.meaning != Meaning::Wait => {
            Some("takes `refines` and `awaits_work` only as a wait")
        }
        _ if (r.async_runtime || r.hosts) && r.meaning != Meaning::Member => {
            Some("takes `async_runtime` and `hosts` only as a member")
        }
        _ if r.sleeps_apart && (r.meaning != Meaning::Wait || r.address_args.is_empty()) => {
            Some("takes `sleeps_apart` only as a wait with `address_args`")
        }
        _ if r.pointer.is_some() || r.within.is_some() || r.owns.is_some() => {
            Some("takes `pointer`, `within` or `owns` only with a `guard` pattern")
        }
        (s, _) if s != Subject::Local && r.local_name.is_some() => {
            Some("takes `local_name` only with a `local` pattern")
        }
        (s, _) if s != Subject::Thread && r.thread_module.is_some() => {
            Some("takes `thread_module` only with a `thread` pattern")
        }
        (Subject::Printed, _) => Some("(printed) must be `meaning = \"hold\"`"),
        (s, Meaning::Plumbing | Meaning::SignalFrame | Meaning::Outermost)
            if s != Subject::Function =>
        {
            Some("(plumbing, signal-frame, outermost) needs a `function` pattern")
        }
        (s, _) if s != Subject::Function && r.outermost => {
            Some("takes `outermost` only with a `function` pattern")
        }
        _ => None,
    }
}

/// A `pointer` path that names every pointer inside a member: `*` or `a.b.*`.
fn is_every(path: &str) -> bool {
    path == "*" || path.ends_with(".*")
}

/// Where a pack comes from: built in (tested: its patterns are compiled when first matched),
/// or a user's file (compiled as it loads, so that a bad pattern is an error naming its rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Builtin,
    User,
}

/// Parses one pack.
pub fn parse_pack(origin: &str, text: &str, source: Source) -> Result<Vec<Rule>> {
    parse_rules(origin, text, source, |_| true)
}

/// Only the rules a capture reads variables by (`guard` rules, and waits that `sleeps_apart`,
/// whose arguments are read): what a capture needs before the analysis, compiled without the
/// rest.
pub fn parse_capture_rules(origin: &str, text: &str, source: Source) -> Result<Vec<Rule>> {
    parse_rules(origin, text, source, |r| {
        r.guard.is_some() || r.sleeps_apart
    })
}

fn parse_rules(
    origin: &str,
    text: &str,
    source: Source,
    keep: impl Fn(&RawRule) -> bool,
) -> Result<Vec<Rule>> {
    let err = |message: String| Error::Rules {
        origin: origin.to_string(),
        message,
    };
    let file: PackFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::with_capacity(file.rule.len());
    for mut r in file.rule.into_iter().filter(keep) {
        let given: Vec<(Subject, &String)> = [
            (Subject::Function, &r.function),
            (Subject::Local, &r.local),
            (Subject::Note, &r.note),
            (Subject::Status, &r.status),
            (Subject::Thread, &r.thread),
            (Subject::Entry, &r.entry),
            (Subject::Printed, &r.printed),
            (Subject::Guard, &r.guard),
            (Subject::Finding, &r.finding),
        ]
        .into_iter()
        .filter_map(|(s, p)| Some((s, p.as_ref()?)))
        .collect();
        let [(subject, pattern)] = given[..] else {
            return Err(err(format!(
                "rule `{}` needs exactly one of `function`, `local`, `note`, `status`, `thread`, \
                 `entry`, `printed`, `guard` or `finding`",
                r.id
            )));
        };
        let pattern = match source {
            Source::Builtin => Pattern::on_demand(pattern),
            Source::User => {
                Pattern::compiled(pattern).map_err(|e| err(format!("rule `{}`: {e}", r.id)))?
            }
        };
        if matches!(r.meaning, Meaning::Wait | Meaning::Hold) && r.kind.is_none() {
            return Err(err(format!(
                "rule `{}` ({:?}) needs a `kind`",
                r.id, r.meaning
            )));
        }
        let shared_printed = match r.shared_printed.as_deref().map(compile_pattern) {
            Some(Ok(p)) if p.capture_names().flatten().any(|n| n == "kind") => Some(p),
            Some(Ok(_)) => {
                return Err(err(format!(
                    "rule `{}`: `shared_printed` needs a (?P<kind>...) group",
                    r.id
                )))
            }
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let readers_printed = match r.readers_printed.as_deref().map(compile_pattern) {
            Some(Ok(p)) if p.capture_names().flatten().any(|n| n == "readers") => Some(p),
            Some(Ok(_)) => {
                return Err(err(format!(
                    "rule `{}`: `readers_printed` needs a (?P<readers>...) group",
                    r.id
                )))
            }
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let owner_word = match r
            .owner_word
            .take()
            .map(|w| OwnerWord::compile(w, compile_pattern))
        {
            Some(Ok(w)) => Some(w),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let own_files = match r.own_files.as_deref().map(compile_pattern) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let local_name = match r.local_name.as_deref().map(compile_pattern) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        let thread_module = match r.thread_module.as_deref().map(compile_pattern) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return Err(err(format!("rule `{}`: {e}", r.id))),
            None => None,
        };
        if !r.futex_values.is_empty() && r.futex_values.len() != r.futex_offsets.len() {
            return Err(err(format!(
                "rule `{}`: `futex_values` needs one value per `futex_offsets` entry",
                r.id
            )));
        }
        if let Some(problem) = shape_problem(&r, subject, &pattern) {
            return Err(err(format!("rule `{}` {problem}", r.id)));
        }
        if r.meaning == Meaning::Member && r.pool.is_none() {
            let named = r
                .function
                .as_deref()
                .is_some_and(|p| p.contains("?P<pool>"));
            if !named {
                return Err(err(format!(
                    "member rule `{}` needs `pool` or a `(?P<pool>...)` group",
                    r.id
                )));
            }
        }
        out.push(Rule {
            id: r.id,
            pack: origin.to_string(),
            summary: r.summary,
            subject,
            pattern,
            meaning: r.meaning,
            kind: r.kind,
            context: r.context,
            refines: r.refines,
            runtime: r.runtime,
            own_files,
            timed: r.timed,
            busy: r.busy,
            scope: r.scope,
            fatal: r.fatal,
            awaits_work: r.awaits_work,
            address_args: r.address_args,
            target_args: r.target_args,
            tid_args: r.tid_args,
            releases_args: r.releases_args,
            instance_args: r.instance_args,
            pool: r.pool,
            resource: r.resource,
            suggestion: r.suggestion,
            guard_name: r.guard_name,
            owner_offset: r.owner_offset,
            shared_flag: r.shared_mask.map(|m| (r.shared_offset.unwrap_or(0), m)),
            shared_printed,
            futex_offsets: r.futex_offsets,
            futex_values: r.futex_values,
            readers: r.readers_offset.map(|o| (o, r.readers_shift.unwrap_or(0))),
            readers_printed,
            owner_word,
            redundant: r.redundant,
            runs: r.runs,
            async_runtime: r.async_runtime,
            hosts: r.hosts,
            outermost: r.outermost || r.meaning == Meaning::Outermost,
            sleeps_apart: r.sleeps_apart,
            members: r.pointer.map(|pointer| GuardMembers {
                pointer,
                within: r.within.unwrap_or_default(),
                owns: r.owns,
            }),
            local_name,
            thread_module,
            examples: r.examples,
            counterexamples: r.counterexamples,
        });
    }
    Ok(out)
}
