//! What each distinct function name in a snapshot means, worked out once per analysis: its
//! base name, the first rule that matches it and the pool class that rule names. A dump
//! repeats a few hundred functions over thousands of threads; with this, classifying a frame
//! and indexing it by base name cost one table lookup instead of a base-name reduction and a
//! rule match each time. Likewise every distinct local value is tested against the guard
//! rules once ([`FrameNames::local`]): equal names and values of a parsed dump are shared texts, so
//! they are told apart by address, tested in parallel.

use crate::knowledge::{base_name, KnowledgeBase, Rule};
use crate::model::Thread;
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

/// What [`KnowledgeBase::match_local`] says of a local's value.
type LocalMatch<'a> = Option<(&'a Rule, Option<u64>)>;

/// A text told apart by where it is and how long: one shared text, one key, while the
/// snapshot is alive.
fn text_key(text: &str) -> (usize, usize) {
    (text.as_ptr() as usize, text.len())
}

/// A local's name and value, each by [`text_key`].
type LocalKey = ((usize, usize), (usize, usize));

fn local_key(name: &str, value: &str) -> LocalKey {
    (text_key(name), text_key(value))
}

/// No function (`??`).
const NONE: usize = usize::MAX;

/// What one distinct printed function name means.
pub struct Name<'a> {
    /// Its base name (see [`base_name`]).
    pub base: &'a str,
    /// Which distinct base name that is (an index: equal bases, equal ids).
    pub base_id: usize,
    /// The first rule whose function pattern matches it.
    pub rule: Option<&'a Rule>,
    /// The pool class that rule names for it.
    pub pool: Option<String>,
    /// A plumbing rule names it: a library's call plumbing or a thread's entry.
    pub plumbing: bool,
}

/// The names of every frame of a set of threads.
pub struct Names<'a> {
    names: Vec<Name<'a>>,
    /// Per frame of every thread, in order: its index in `names`, or `NONE`.
    ids: Vec<usize>,
    /// Where each thread's frames start in `ids` (one more entry than threads).
    starts: Vec<usize>,
    /// Distinct base names to their ids.
    bases: HashMap<&'a str, usize>,
    /// Every distinct local, name and value (by the addresses of their texts), to its guard
    /// rule match.
    locals: HashMap<LocalKey, LocalMatch<'a>>,
}

impl<'a> Names<'a> {
    /// Looks up every frame's function of `threads` (each distinct name once).
    pub fn new(threads: &'a [Thread], kb: &'a KnowledgeBase) -> Self {
        let mut by_function: HashMap<&'a str, usize> = HashMap::default();
        // A parsed dump shares equal names: most frames are found by their text's address,
        // without hashing the name.
        let mut by_text: HashMap<(usize, usize), usize> = HashMap::default();
        let mut out = Names {
            names: Vec::new(),
            ids: Vec::with_capacity(threads.iter().map(|t| t.frames.len()).sum()),
            starts: Vec::with_capacity(threads.len() + 1),
            bases: HashMap::default(),
            locals: HashMap::default(),
        };
        for t in threads {
            out.starts.push(out.ids.len());
            for f in &t.frames {
                let Some(function) = f.function.as_deref() else {
                    out.ids.push(NONE);
                    continue;
                };
                let id = match by_text.get(&text_key(function)) {
                    Some(&id) => id,
                    None => {
                        let id = *by_function
                            .entry(function)
                            .or_insert_with(|| out.add(function, kb));
                        by_text.insert(text_key(function), id);
                        id
                    }
                };
                out.ids.push(id);
            }
        }
        out.starts.push(out.ids.len());
        let mut values: Vec<(&'a str, &'a str)> = Vec::new();
        for v in threads
            .iter()
            .flat_map(|t| &t.frames)
            .flat_map(|f| &f.locals)
        {
            if let std::collections::hash_map::Entry::Vacant(e) =
                out.locals.entry(local_key(&v.name, &v.value))
            {
                e.insert(None);
                values.push((&v.name, &v.value));
            }
        }
        let matched: Vec<LocalMatch<'a>> = values
            .par_iter()
            .map(|(n, v)| kb.match_local(n, v))
            .collect();
        for ((n, v), m) in values.iter().zip(matched) {
            out.locals.insert(local_key(n, v), m);
        }
        out
    }

    fn add(&mut self, function: &'a str, kb: &'a KnowledgeBase) -> usize {
        let base = base_name(function);
        let next = self.bases.len();
        let base_id = *self.bases.entry(base).or_insert(next);
        let rule = kb.match_function(function);
        let pool = rule.and_then(|r| r.pool_class(base));
        let plumbing = kb.match_plumbing(function).is_some();
        self.names.push(Name {
            base,
            base_id,
            rule,
            pool,
            plumbing,
        });
        self.names.len() - 1
    }

    /// The frames of thread `t` (its index in the threads given to [`Names::new`]).
    pub fn thread(&self, t: usize) -> FrameNames<'_, 'a> {
        FrameNames {
            names: &self.names,
            ids: &self.ids[self.starts[t]..self.starts[t + 1]],
            locals: &self.locals,
        }
    }

    /// How many distinct base names there are (ids run from 0 to this).
    pub fn base_count(&self) -> usize {
        self.bases.len()
    }

    /// The id of a base name, if any frame has it.
    pub fn base_id(&self, base: &str) -> Option<usize> {
        self.bases.get(base).copied()
    }
}

/// The names of one thread's frames, by position.
#[derive(Clone, Copy)]
pub struct FrameNames<'n, 'a> {
    names: &'n [Name<'a>],
    ids: &'n [usize],
    locals: &'n HashMap<LocalKey, LocalMatch<'a>>,
}

impl<'n, 'a> FrameNames<'n, 'a> {
    /// What frame `i`'s function means; `None` for `??`.
    pub fn get(&self, i: usize) -> Option<&'n Name<'a>> {
        self.names.get(*self.ids.get(i)?)
    }

    /// The rule matching frame `i`.
    pub fn rule(&self, i: usize) -> Option<&'a Rule> {
        self.get(i).and_then(|n| n.rule)
    }

    /// Frame `i`'s base name.
    pub fn base(&self, i: usize) -> Option<&'a str> {
        self.get(i).map(|n| n.base)
    }

    /// The first guard rule matching a local of these frames, by its name and value, with the
    /// captured address ([`KnowledgeBase::match_local`], worked out in [`Names::new`]).
    pub fn local(&self, name: &str, value: &str) -> LocalMatch<'a> {
        self.locals.get(&local_key(name, value)).copied().flatten()
    }

    /// Whether frame `i` is a library's by the rules: a rule says what it means, or it is
    /// plumbing (a thread entry, `std::` shims). A frame of no known function is not.
    pub fn library(&self, i: usize) -> bool {
        self.get(i).is_some_and(|n| n.rule.is_some() || n.plumbing)
    }

    /// Whether frame `i` is plumbing (a thread entry, `std::` shims): never where a lock is
    /// taken.
    pub fn plumbing(&self, i: usize) -> bool {
        self.get(i).is_some_and(|n| n.plumbing)
    }

    /// The pool class frame `i`'s rule names.
    pub fn pool(&self, i: usize) -> Option<&'n str> {
        self.get(i).and_then(|n| n.pool.as_deref())
    }
}
