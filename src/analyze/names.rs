//! What each distinct function name in a snapshot means, worked out once per analysis: its
//! base name, the first rule that matches it and the pool class that rule names. A dump
//! repeats a few hundred functions over thousands of threads; with this, classifying a frame
//! and indexing it by base name cost one table lookup instead of a base-name reduction and a
//! rule match each time. Likewise every distinct local value is tested against the guard
//! rules once ([`FrameNames::local`]): equal names and values of a parsed dump are shared texts, so
//! they are told apart by address, tested in parallel.

use crate::knowledge::{base_name, KnowledgeBase, Rule};
use crate::model::{Frame, Thread};
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
    /// Looks up every frame's function of `threads` (each distinct name once), on every core.
    pub fn new(threads: &'a [Thread], kb: &'a KnowledgeBase) -> Self {
        // A parsed dump shares equal names: frames are found by their text's address, and
        // only the distinct texts are compared as strings.
        let texts = distinct(
            threads,
            |t| t.frames.iter().filter_map(|f| f.function.as_deref()),
            text_key,
        );
        let mut by_function: HashMap<&'a str, usize> = HashMap::default();
        let mut functions: Vec<&'a str> = Vec::new();
        let by_text: HashMap<(usize, usize), usize> = texts
            .into_iter()
            .map(|(key, function)| {
                let id = *by_function.entry(function).or_insert_with(|| {
                    functions.push(function);
                    functions.len() - 1
                });
                (key, id)
            })
            .collect();
        let mut out = Names {
            names: Vec::with_capacity(functions.len()),
            ids: Vec::new(),
            starts: Vec::with_capacity(threads.len() + 1),
            bases: HashMap::default(),
            locals: HashMap::default(),
        };
        let meant: Vec<_> = functions.par_iter().map(|f| meaning(f, kb)).collect();
        for (base, rule, pool, plumbing) in meant {
            let next = out.bases.len();
            let base_id = *out.bases.entry(base).or_insert(next);
            out.names.push(Name {
                base,
                base_id,
                rule,
                pool,
                plumbing,
            });
        }
        let id = |f: &Frame| {
            f.function
                .as_deref()
                .map_or(NONE, |n| by_text[&text_key(n)])
        };
        out.ids = threads
            .par_iter()
            .flat_map_iter(|t| t.frames.iter().map(id))
            .collect();
        let mut start = 0;
        for t in threads {
            out.starts.push(start);
            start += t.frames.len();
        }
        out.starts.push(start);
        let values = distinct(
            threads,
            |t| {
                t.frames
                    .iter()
                    .flat_map(|f| &f.locals)
                    .map(|v| (&*v.name, &*v.value))
            },
            |(n, v)| local_key(n, v),
        );
        out.locals = values
            .into_par_iter()
            .map(|(key, (n, v))| (key, kb.match_local(n, v)))
            .collect();
        out
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

    /// Every distinct base name with its id.
    pub fn bases(&self) -> impl Iterator<Item = (&'a str, usize)> + '_ {
        self.bases.iter().map(|(&b, &id)| (b, id))
    }

    /// The id of a base name, if any frame has it.
    pub fn base_id(&self, base: &str) -> Option<usize> {
        self.bases.get(base).copied()
    }
}

/// What a function name means: its base name, its rule, the pool class the rule names, and
/// whether it is plumbing.
fn meaning<'a>(
    function: &'a str,
    kb: &'a KnowledgeBase,
) -> (&'a str, Option<&'a Rule>, Option<String>, bool) {
    let base = base_name(function);
    let rule = kb.match_function(function);
    let pool = rule.and_then(|r| r.pool_class(base));
    (base, rule, pool, kb.match_plumbing(function).is_some())
}

/// The distinct items (told apart by `key`: texts by address) that `each` gives of
/// `threads`, gathered on every core, in the order they first appear (by thread, then by place
/// in what `each` gives): ids follow the input, whatever the number of cores.
fn distinct<'a, T, K, I>(
    threads: &'a [Thread],
    each: impl Fn(&'a Thread) -> I + Sync,
    key: impl Fn(T) -> K + Sync,
) -> Vec<(K, T)>
where
    T: Copy + Send,
    K: std::hash::Hash + Eq + Send,
    I: Iterator<Item = T>,
{
    let seen = threads
        .par_iter()
        .enumerate()
        .fold(HashMap::default, |mut seen: HashMap<_, _>, (t, thread)| {
            for (i, item) in each(thread).enumerate() {
                seen.entry(key(item)).or_insert(((t, i), item));
            }
            seen
        })
        .reduce(HashMap::default, |mut a, b| {
            for (k, (at, item)) in b {
                let first = a.entry(k).or_insert((at, item));
                if at < first.0 {
                    *first = (at, item);
                }
            }
            a
        });
    let mut seen: Vec<_> = seen.into_iter().collect();
    seen.sort_unstable_by_key(|&(_, (at, _))| at);
    seen.into_iter().map(|(k, (_, item))| (k, item)).collect()
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

    /// Whether frame `i` of `frames` (the thread these names are of) is the program's own: a
    /// named function no rule names as a library's (a wait, a hold, plumbing, a thread entry),
    /// not a signal frame, and not known to run in a system library.
    pub fn is_program(&self, frames: &[Frame], i: usize) -> bool {
        let f = &frames[i];
        f.function.is_some() && !f.signal_frame && !self.library(i) && !f.in_system_library()
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
