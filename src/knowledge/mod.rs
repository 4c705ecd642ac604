//! What frames mean, as data. A [`Rule`] matches a frame's function (or a `bt full` local's
//! value) and says what it means: the thread *waits* on something, *holds* a lock, *is a worker
//! of* a pool, is an *idle* worker, or the frame is a tracer's and should be *skipped*.
//!
//! Built-in packs live in `packs/*.toml` and are embedded at build time; `--rules FILE` adds
//! the user's own in the same format. Every rule carries `examples` it must match and
//! `counterexamples` it must not, and the test suite checks both for every rule. No I/O here
//! beyond parsing the text it is given.

mod names;
mod rule;

pub use names::base_name;
pub use rule::{Meaning, Rule, WaitKind};

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
    ("folly", include_str!("packs/folly.toml")),
    ("fbthrift", include_str!("packs/fbthrift.toml")),
    ("generic", include_str!("packs/generic.toml")),
];

/// All rules, compiled for matching.
pub struct KnowledgeBase {
    rules: Vec<Rule>,
    function_rules: Vec<usize>,
    function_set: RegexSet,
    local_rules: Vec<usize>,
    cache: Mutex<HashMap<String, Option<usize>>>,
}

impl KnowledgeBase {
    /// The built-in packs plus extra rule files `(origin, text)`, which take precedence.
    pub fn load(extra: &[(String, String)]) -> Result<Self> {
        let mut rules = Vec::new();
        for (origin, text) in extra {
            rules.extend(rule::parse_pack(origin, text)?);
        }
        for (name, text) in BUILTIN_PACKS {
            rules.extend(rule::parse_pack(name, text)?);
        }
        Self::from_rules(rules)
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
        let function_rules: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i].function.is_some())
            .collect();
        let function_set = RegexSetBuilder::new(
            function_rules
                .iter()
                .map(|&i| rules[i].function.as_ref().map_or("", |r| r.as_str())),
        )
        .unicode(false)
        .build()
        .map_err(|e| Error::Rules {
            origin: "rules".into(),
            message: e.to_string(),
        })?;
        let local_rules = (0..rules.len())
            .filter(|&i| rules[i].local.is_some())
            .collect();
        Ok(Self {
            rules,
            function_rules,
            function_set,
            local_rules,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Every rule, in matching order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule whose function pattern matches `function` (as printed; it is reduced to
    /// its base name first).
    pub fn match_function(&self, function: &str) -> Option<&Rule> {
        let base = base_name(function);
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(base).copied()) {
            return hit.map(|i| &self.rules[i]);
        }
        let hit = self
            .function_set
            .matches(base.as_bytes())
            .iter()
            .next()
            .map(|k| self.function_rules[k]);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(base.to_string(), hit);
        }
        hit.map(|i| &self.rules[i])
    }

    /// Rules whose `local` pattern matches a `bt full` local's value, with the captured
    /// lock address.
    pub fn match_local(&self, value: &str) -> Option<(&Rule, Option<u64>)> {
        self.local_rules.iter().find_map(|&i| {
            let rule = &self.rules[i];
            let caps = rule.local.as_ref()?.captures(value.as_bytes())?;
            let addr = caps
                .name("addr")
                .and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
                .and_then(|m| u64::from_str_radix(m.trim_start_matches("0x"), 16).ok());
            Some((rule, addr))
        })
    }
}

#[cfg(test)]
mod tests;
