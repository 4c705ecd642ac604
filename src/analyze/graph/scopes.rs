//! Scopes (`std::thread::scope`) in the wait-for graph: the threads a scope's owner waits
//! for are those spawned in its scope, found by how their closures are named; and a scoped
//! thread's wait that only the owner could end, after its scope, when every thread waits.

use super::{Because, Grade};
use crate::analyze::classify::{Activity, Facts, Wait};
use crate::model::Snapshot;

/// A scope being joined: its owner, the frame that opened it, and the threads spawned in it
/// (each with its frame in the scope's closure).
pub struct Scope {
    owner: usize,
    frame: usize,
    threads: Vec<(usize, usize)>,
}

/// The scopes the threads join (a wait a rule calls a `scope`): the threads spawned in each
/// are those running a closure defined inside the scope's own closure, in the function that
/// opened it. gdb names the scope's closure in the scope's type (`scope<publish::{closure_env#1}>`:
/// its threads run `publish::{closure#1}::{closure#0}`); a capture's names number no closure
/// (`publish::{{closure}}::{{closure}}`), so there a closure nested in a closure of the opener
/// is one of the scope's (a thread spawned straight from the opener runs a closure one deep).
pub fn find(snap: &Snapshot, facts: &[Facts]) -> Vec<Scope> {
    let function = |t: usize, i: usize| snap.threads[t].frames.get(i)?.function.as_deref();
    let mut out = Vec::new();
    for (owner, f) in facts.iter().enumerate() {
        for w in f.waits.iter().filter(|w| w.scope) {
            let Some((&frame, Some(opener))) = w.site.first().map(|i| (i, function(owner, *i)))
            else {
                continue;
            };
            let opener = opener.split('<').next().unwrap_or(opener);
            // `{closure_env#N}` of the opener in the scope's own name: its closure, `{closure#N}`.
            let own = function(owner, w.frame)
                .and_then(|n| n.split_once(&format!("{opener}::{{closure_env#")))
                .and_then(|(_, rest)| rest.split_once('}'))
                .map(|(n, _)| format!("{opener}::{{closure#{n}}}::{{"));
            let spawned = |name: &str| match &own {
                Some(prefix) => name.starts_with(prefix.as_str()),
                None => name
                    .strip_prefix(opener)
                    .and_then(|r| r.strip_prefix("::"))
                    .is_some_and(|r| {
                        let mut segments = r.split("::");
                        (segments.next().is_some_and(|a| a.starts_with('{')))
                            && segments.next().is_some_and(|b| b.starts_with('{'))
                    }),
            };
            let threads = (0..snap.threads.len())
                .filter(|&t| t != owner)
                .filter_map(|t| {
                    let frames = snap.threads[t].frames.len();
                    (0..frames)
                        .rev()
                        .find(|&i| function(t, i).is_some_and(spawned))
                        .map(|i| (t, i))
                })
                .collect();
            out.push(Scope {
                owner,
                frame,
                threads,
            });
        }
    }
    out
}

/// The threads spawned in the scope thread `t` waits for in `w` (its owner's scope wait).
pub fn spawned_in(scopes: &[Scope], t: usize, w: &Wait) -> Vec<(usize, Grade, Because)> {
    (scopes.iter())
        .filter(|s| s.owner == t && w.site.first() == Some(&s.frame))
        .flat_map(|s| &s.threads)
        .map(|&(u, frame)| (u, Grade::Heuristic, Because::InScope { frame }))
        .collect()
}

/// The owner of a scope that joins thread `t`, when every thread waits: only it, after its
/// scope, may still end `t`'s wait (a send on a channel, a notify).
pub fn owner_of(scopes: &[Scope], facts: &[Facts], t: usize) -> Vec<(usize, Grade, Because)> {
    let everyone_waits =
        (facts.iter()).all(|f| matches!(f.activity, Activity::Blocked | Activity::Idle));
    if !everyone_waits {
        return Vec::new();
    }
    (scopes.iter())
        .filter(|s| s.threads.iter().any(|&(u, _)| u == t))
        .map(|s| {
            (
                s.owner,
                Grade::Heuristic,
                Because::ScopeOwner { frame: s.frame },
            )
        })
        .collect()
}
