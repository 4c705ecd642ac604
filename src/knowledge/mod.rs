//! What frames mean, as data. A [`Rule`] matches a frame's function (or a `bt full` local's
//! value, a note the dump attaches to a frame, a runtime's word for a thread's state) and says
//! what it means: the thread *waits* on something, *holds* a lock, *is a worker
//! of* a pool, is an *idle* worker, or the frame is a tracer's and should be *skipped*.
//!
//! Built-in packs live in `packs/*.toml` and are embedded at build time; `--rules FILE` adds
//! the user's own in the same format. Every rule carries `examples` it must match and
//! `counterexamples` it must not, and the test suite checks both for every rule. No I/O here
//! beyond parsing the text it is given.

mod lockword;
mod pattern;
mod prefix;
mod rule;

pub use crate::names::base_name;
pub use lockword::{OwnerWord, WordOwner};
pub use pattern::Pattern;
use rule::Source;
pub use rule::{KindMeaning, Meaning, Release, Rule, Subject, WaitKind};

use crate::error::{Error, Result};
use regex::bytes::{RegexSet, RegexSetBuilder};
use std::collections::HashMap;
use std::sync::Mutex;

/// The built-in packs, in matching order: specific libraries first, generic shapes last.
pub const BUILTIN_PACKS: &[(&str, &str)] = &[
    ("tracers", include_str!("packs/tracers.toml")),
    ("glibc", include_str!("packs/glibc.toml")),
    ("libstdcxx", include_str!("packs/libstdcxx.toml")),
    ("rust", include_str!("packs/rust.toml")),
    ("go", include_str!("packs/go.toml")),
    ("python", include_str!("packs/python.toml")),
    ("folly", include_str!("packs/folly.toml")),
    ("abseil", include_str!("packs/abseil.toml")),
    ("glib", include_str!("packs/glib.toml")),
    ("boost", include_str!("packs/boost.toml")),
    ("asio", include_str!("packs/asio.toml")),
    ("qt", include_str!("packs/qt.toml")),
    ("libuv", include_str!("packs/libuv.toml")),
    ("tbb", include_str!("packs/tbb.toml")),
    ("grpc", include_str!("packs/grpc.toml")),
    ("fbthrift", include_str!("packs/fbthrift.toml")),
    ("java", include_str!("packs/java.toml")),
    ("generic", include_str!("packs/generic.toml")),
];

/// All rules, compiled for matching.
pub struct KnowledgeBase {
    rules: Vec<Rule>,
    function_rules: Vec<usize>,
    /// For each of `function_rules`, the literals a name must start with to match it.
    function_prefixes: Vec<Option<Vec<Box<[u8]>>>>,
    local_rules: Vec<usize>,
    /// The local rules' patterns as one set: most locals match none, which one pass tells.
    local_set: RegexSet,
    note_rules: Vec<usize>,
    status_rules: Vec<usize>,
    thread_rules: Vec<usize>,
    entry_rules: Vec<usize>,
    printed_rules: Vec<usize>,
    guard_rules: Vec<usize>,
    plumbing_rules: Vec<usize>,
    runtime_rules: Vec<usize>,
    advice_rules: Vec<usize>,
    cache: Mutex<HashMap<String, Option<usize>>>,
}

impl KnowledgeBase {
    /// The built-in packs plus extra rule files `(origin, text)`, which take precedence.
    pub fn load(extra: &[(String, String)]) -> Result<Self> {
        let mut rules = Vec::new();
        for (origin, text) in extra {
            rules.extend(rule::parse_pack(origin, text, Source::User)?);
        }
        for (name, text) in BUILTIN_PACKS {
            rules.extend(rule::parse_pack(name, text, Source::Builtin)?);
        }
        Self::from_rules(rules)
    }

    /// The rules a capture reads variables by, alone: the `guard` rules (the guards' types)
    /// and the waits that `sleeps_apart` (the frames whose `address_args` are read), those of
    /// the extra rule files `(origin, text)` first, as [`KnowledgeBase::load`] orders them,
    /// then the built-in packs'. Quicker than compiling every rule. A file whose rules do not
    /// parse gives none here (loading it for the analysis says why).
    pub fn capture_rules(extra: &[(String, String)]) -> Vec<Rule> {
        let user = extra
            .iter()
            .map(|(o, t)| (o.as_str(), t.as_str(), Source::User));
        let builtin = BUILTIN_PACKS.iter().map(|&(n, t)| (n, t, Source::Builtin));
        user.chain(builtin)
            .filter_map(|(name, text, source)| rule::parse_capture_rules(name, text, source).ok())
            .flatten()
            .collect()
    }

    /// Only the built-in packs.
    pub fn builtin() -> Self {
        Self::load(&[]).expect("built-in rule packs are valid")
    }

    fn from_rules(rules: Vec<Rule>) -> Result<Self> {
        let mut seen = std::collections::HashSet::new();
        for r in &rules {
            if !seen.insert(r.id.clone()) {
                return Err(Error::Rules {
                    origin: r.pack.clone(),
                    message: format!("rule id `{}` is defined twice", r.id),
                });
            }
        }
        let of = |subject: Subject| -> Vec<usize> {
            (0..rules.len())
                .filter(|&i| rules[i].subject == subject)
                .collect()
        };
        // Plumbing and runtimes are asked about apart: they must never hide what a frame means.
        let (apart, function_rules): (Vec<usize>, Vec<usize>) =
            of(Subject::Function).into_iter().partition(|&i| {
                matches!(
                    rules[i].meaning,
                    Meaning::Plumbing | Meaning::Runtime | Meaning::Outermost
                )
            });
        let (plumbing_rules, runtime_rules): (Vec<usize>, Vec<usize>) = (apart.into_iter())
            .filter(|&i| rules[i].meaning != Meaning::Outermost)
            .partition(|&i| rules[i].meaning == Meaning::Plumbing);
        let local_rules = of(Subject::Local);
        let note_rules = of(Subject::Note);
        let status_rules = of(Subject::Status);
        let thread_rules = of(Subject::Thread);
        let entry_rules = of(Subject::Entry);
        let printed_rules = of(Subject::Printed);
        let guard_rules = of(Subject::Guard);
        let advice_rules = of(Subject::Finding);
        let set_of = |among: &[usize]| {
            RegexSetBuilder::new(among.iter().map(|&i| rules[i].pattern.as_str()))
                .unicode(false)
                .build()
                .map_err(|e| Error::Rules {
                    origin: "rules".into(),
                    message: e.to_string(),
                })
        };
        let function_prefixes = (function_rules.iter())
            .map(|&i| prefix::required_prefixes(rules[i].pattern.as_str()))
            .collect();
        let local_set = set_of(&local_rules)?;
        Ok(Self {
            rules,
            function_rules,
            function_prefixes,
            local_rules,
            local_set,
            note_rules,
            status_rules,
            thread_rules,
            entry_rules,
            printed_rules,
            guard_rules,
            plumbing_rules,
            runtime_rules,
            advice_rules,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Every rule, in matching order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with id `id` (a wait's `rule`).
    pub fn rule_by_id(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The first rule whose function pattern matches `function` (as printed; it is reduced to
    /// its base name first).
    pub fn match_function(&self, function: &str) -> Option<&Rule> {
        let base = base_name(function);
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(base).copied()) {
            return hit.map(|i| &self.rules[i]);
        }
        let name = base.as_bytes();
        let hit = (self.function_rules.iter().zip(&self.function_prefixes))
            .find(|&(&i, pre)| {
                prefix::admits(pre.as_deref(), name) && self.rules[i].pattern.is_match(name)
            })
            .map(|(&i, _)| i);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(base.to_string(), hit);
        }
        hit.map(|i| &self.rules[i])
    }

    /// The first rule whose `local` pattern matches a `bt full` local's value (and whose
    /// `local_name`, if it has one, its name), with the captured lock address.
    pub fn match_local(&self, name: &str, value: &str) -> Option<(&Rule, Option<u64>)> {
        let first = self
            .local_set
            .matches(value.as_bytes())
            .into_iter()
            .next()?;
        self.local_rules[first..].iter().find_map(|&i| {
            let rule = &self.rules[i];
            let named = (rule.local_name.as_ref()).is_none_or(|n| n.is_match(name.as_bytes()));
            let caps = rule.pattern.captures(value.as_bytes()).filter(|_| named)?;
            Some((rule, hex_group(&caps, "addr")))
        })
    }

    /// The first rule whose `note` pattern matches a note of a frame or thread, with the
    /// captured object address (group `addr`) and the address of a lock the wait releases
    /// (group `releases`: Java's `Object.wait` gives up the monitor it waits on).
    pub fn match_note(&self, note: &str) -> Option<(&Rule, Option<u64>, Option<u64>)> {
        self.note_rules.iter().find_map(|&i| {
            let rule = &self.rules[i];
            let caps = rule.pattern.captures(note.as_bytes())?;
            Some((rule, hex_group(&caps, "addr"), hex_group(&caps, "releases")))
        })
    }

    /// The first rule whose `status` pattern matches a thread's runtime state.
    pub fn match_status(&self, status: &str) -> Option<&Rule> {
        self.status_rules
            .iter()
            .map(|&i| &self.rules[i])
            .find(|r| r.pattern.is_match(status.as_bytes()))
    }

    /// The first rule whose `thread` pattern matches a thread's name.
    pub fn match_thread(&self, name: &str) -> Option<&Rule> {
        self.thread_rules
            .iter()
            .map(|&i| &self.rules[i])
            .find(|r| r.pattern.is_match(name.as_bytes()))
    }

    /// The first rule whose `entry` pattern matches the path of the object a thread's start
    /// routine is in.
    pub fn match_entry(&self, path: &str) -> Option<&Rule> {
        self.entry_rules
            .iter()
            .map(|&i| &self.rules[i])
            .find(|r| r.pattern.is_match(path.as_bytes()))
    }

    /// The first plumbing rule matching `function` (reduced to its base name): a library's
    /// call plumbing, left out when naming a path of calls.
    pub fn match_plumbing(&self, function: &str) -> Option<&Rule> {
        let base = base_name(function);
        self.plumbing_rules
            .iter()
            .map(|&i| &self.rules[i])
            .find(|r| r.pattern.is_match(base.as_bytes()))
    }

    /// The first rule saying a whole stack may end at `function` (reduced to its base name):
    /// a thread's or the process's first frame as dumps print it (`outermost`).
    pub fn match_outermost(&self, function: &str) -> Option<&Rule> {
        let base = base_name(function);
        (self.rules.iter())
            .filter(|r| r.outermost && r.subject == Subject::Function)
            .find(|r| r.pattern.is_match(base.as_bytes()))
    }

    /// The first runtime rule matching `function` (reduced to its base name): the frame shows
    /// which language runtime the process runs.
    pub fn match_runtime(&self, function: &str) -> Option<&Rule> {
        let base = base_name(function);
        self.runtime_rules
            .iter()
            .map(|&i| &self.rules[i])
            .find(|r| r.pattern.is_match(base.as_bytes()))
    }

    /// The first rule reading a lock's owner from a value a debugger printed, with the owner's
    /// tid (group `owner`) and the field's name (group `field`, else the rule's id).
    pub fn match_printed(&self, value: &str) -> Option<(&Rule, u64, String)> {
        self.printed_rules.iter().find_map(|&i| {
            let rule = &self.rules[i];
            let caps = rule.pattern.captures(value.as_bytes())?;
            let owner = std::str::from_utf8(caps.name("owner")?.as_bytes())
                .ok()?
                .parse()
                .ok()?;
            let field = caps.name("field").map_or_else(
                || rule.id.clone(),
                |m| String::from_utf8_lossy(m.as_bytes()).into_owned(),
            );
            Some((rule, owner, field))
        })
    }

    /// The guard rules, in matching order: the producers read the variables of these types
    /// (see [`Subject::Guard`]).
    pub fn guard_rules(&self) -> impl Iterator<Item = &Rule> {
        self.guard_rules.iter().map(|&i| &self.rules[i])
    }

    /// The first guard rule whose pattern matches a type name.
    pub fn match_guard(&self, type_name: &str) -> Option<&Rule> {
        self.guard_rules()
            .find(|r| r.pattern.is_match(type_name.as_bytes()))
    }

    /// What to do about a finding in `situation` (see [`Subject::Finding`]): the first advice
    /// rule of the first of `packs` (those of the rules that named the finding's waits, most
    /// specific first) that has one, else of the `generic` pack.
    pub fn advice<'p>(
        &self,
        packs: impl IntoIterator<Item = &'p str>,
        situation: &str,
    ) -> Option<&str> {
        packs
            .into_iter()
            .chain(["generic"])
            .find_map(|pack| self.pack_advice(pack, situation))
            .and_then(|r| r.suggestion.as_deref())
    }

    fn pack_advice(&self, pack: &str, situation: &str) -> Option<&Rule> {
        self.advice_rules
            .iter()
            .map(|&i| &self.rules[i])
            .find(|r| r.pack == pack && r.pattern.is_match(situation.as_bytes()))
    }

    /// Any subject rule: the rule that would classify `subject` of this kind.
    pub fn match_subject(&self, subject: Subject, text: &str) -> Option<&Rule> {
        match subject {
            Subject::Function => self.match_function(text),
            Subject::Local => {
                // Written as gdb prints a local, `name = value`, or as the value alone.
                let named = text.split_once(" = ").filter(|(n, _)| {
                    n.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric())
                        && !n.starts_with(|c: char| c.is_ascii_digit())
                });
                let (name, value) = named.unwrap_or(("", text));
                self.match_local(name, value).map(|(r, _)| r)
            }
            Subject::Note => self.match_note(text).map(|(r, _, _)| r),
            Subject::Status => self.match_status(text),
            Subject::Thread => self.match_thread(text),
            Subject::Entry => self.match_entry(text),
            Subject::Printed => self.match_printed(text).map(|(r, _, _)| r),
            Subject::Guard => self.match_guard(text),
            Subject::Finding => self
                .advice_rules
                .iter()
                .map(|&i| &self.rules[i])
                .find(|r| r.pattern.is_match(text.as_bytes())),
        }
    }

    /// The rule that `text` gets where `rule` competes: plumbing among plumbing rules, runtimes
    /// among runtime rules, advice within its own pack, every other rule among the rules of its
    /// subject. A rule's examples must give it, its counterexamples must not.
    pub fn match_as(&self, rule: &Rule, text: &str) -> Option<&Rule> {
        match rule.meaning {
            Meaning::Plumbing => self.match_plumbing(text),
            Meaning::Runtime => self.match_runtime(text),
            Meaning::Outermost => self.match_outermost(text),
            Meaning::Advice => self.pack_advice(&rule.pack, text),
            _ => self.match_subject(rule.subject, text),
        }
    }
}

/// A hex number (`0x` optional) captured by the group `name`.
fn hex_group(caps: &regex::bytes::Captures, name: &str) -> Option<u64> {
    let m = std::str::from_utf8(caps.name(name)?.as_bytes()).ok()?;
    u64::from_str_radix(m.trim_start_matches("0x"), 16).ok()
}

#[cfg(test)]
mod tests;
