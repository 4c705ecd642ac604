//! A rule's pattern: a regex over bytes with ASCII classes, compiled when first matched. The
//! built-in packs hold hundreds of patterns and an analysis matches few of them one by one
//! (most are asked through the rule sets), so theirs are compiled on demand; a tested pack
//! cannot fail to compile. A user's rule file is compiled whole as it loads, so that a bad
//! pattern is an error that names its rule.

use regex::bytes::{Captures, Regex, RegexBuilder};
use std::sync::OnceLock;

/// A pattern, compiled now or on first use.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    compiled: OnceLock<Regex>,
}

impl Pattern {
    /// Compiled now: an error if it does not compile.
    pub fn compiled(source: &str) -> Result<Self, regex::Error> {
        let compiled = OnceLock::from(compile(source)?);
        Ok(Self {
            source: source.to_string(),
            compiled,
        })
    }

    /// Compiled when first matched: for the built-in packs, whose every pattern a test compiles.
    pub fn on_demand(source: &str) -> Self {
        Self {
            source: source.to_string(),
            compiled: OnceLock::new(),
        }
    }

    /// The compiled regex.
    pub fn regex(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            compile(&self.source).expect("the built-in packs' patterns compile (tested)")
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether it matches somewhere in `text`.
    pub fn is_match(&self, text: &[u8]) -> bool {
        self.regex().is_match(text)
    }

    /// Its groups' matches on the first match in `text`.
    pub fn captures<'t>(&self, text: &'t [u8]) -> Option<Captures<'t>> {
        self.regex().captures(text)
    }
}

/// Compiles a rule pattern. Function names and printed values are matched as bytes with ASCII
/// classes (`\w` is `[0-9A-Za-z_]`): Unicode classes would make compiling the packs cost more
/// than analysing a dump.
pub fn compile(p: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(p).unicode(false).build()
}
