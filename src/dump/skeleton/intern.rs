//! Interned text for the model's repeated strings (function names, files, modules, variable
//! names and values): a dump of thousands of alike threads spells the same few thousand names
//! again and again, and each is kept once, shared. Interning is on while a [`super::Builder`]
//! is alive on the thread (one parse); [`share`] outside any parse just copies.

use crate::model::Text;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use std::cell::RefCell;

/// The texts seen by the parse under way on this thread, what was derived from them, and how
/// many builders are open.
struct Table {
    texts: FxHashSet<Text>,
    derived: FxHashMap<Box<str>, Option<Text>>,
    /// The key being looked up, built here so that a lookup allocates nothing.
    key: String,
    /// The empty text (Go's and pstack's unnamed arguments), looked up often.
    empty: Option<Text>,
    open: usize,
}

thread_local! {
    // Built in place (no lazy set-up to check on each of a parse's million look-ups).
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table {
            texts: FxHashSet::with_hasher(FxBuildHasher),
            derived: FxHashMap::with_hasher(FxBuildHasher),
            key: String::new(),
            empty: None,
            open: 0,
        })
    };
}

/// `s` as shared text: the copy already made for an equal string in this parse, or a new one.
pub fn share(s: &str) -> Text {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if t.open == 0 {
            return Text::from(s);
        }
        if s.is_empty() {
            return t.empty.get_or_insert_with(|| Text::from("")).clone();
        }
        if let Some(found) = t.texts.get(s) {
            return found.clone();
        }
        let new = Text::from(s);
        t.texts.insert(new.clone());
        new
    })
}

/// `s` as shared text, taking an owned string (no copy when it is new and outside a parse).
pub fn share_owned(s: String) -> Text {
    TABLE.with(|t| {
        if t.borrow().open == 0 {
            return Text::from(s);
        }
        share(&s)
    })
}

/// [`share`] for a name that may have been rewritten (demangled, decoded).
pub fn share_cow(s: std::borrow::Cow<'_, str>) -> Text {
    match s {
        std::borrow::Cow::Borrowed(s) => share(s),
        std::borrow::Cow::Owned(s) => share_owned(s),
    }
}

/// The text `make` derives from `parts` (a qualified name from a function and its file), made
/// once per parse for equal parts: a dump repeats its frames, and the derivation is costlier
/// than the lookup.
pub fn derived(parts: &[&str], make: impl FnOnce() -> Option<Text>) -> Option<Text> {
    let found = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if t.open == 0 {
            return None;
        }
        let t = &mut *t;
        t.key.clear();
        for p in parts {
            t.key.push_str(p);
            t.key.push('\0');
        }
        Some(t.derived.get(t.key.as_str()).cloned())
    });
    match found {
        // Outside a parse.
        None => make(),
        Some(Some(known)) => known,
        Some(None) => {
            let made = make();
            TABLE.with(|t| {
                let mut t = t.borrow_mut();
                let key = Box::from(t.key.as_str());
                t.derived.insert(key, made.clone());
            });
            made
        }
    }
}

/// Opens the table for a builder.
pub(super) fn open() {
    TABLE.with(|t| t.borrow_mut().open += 1);
}

/// Closes it for a builder; the last one out empties it.
pub(super) fn close() {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.open = t.open.saturating_sub(1);
        if t.open == 0 {
            t.texts = FxHashSet::default();
            t.derived = FxHashMap::default();
        }
    });
}

/// A hash map keyed by what one dump holds (ids, names): the table is filled from one dump, so
/// flooding it only slows down that dump's own parse.
pub type DumpMap<K, V> = rustc_hash::FxHashMap<K, V>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_are_shared_during_a_parse_only() {
        let (a, b) = (share("pthread_mutex_lock"), share("pthread_mutex_lock"));
        assert!(!std::sync::Arc::ptr_eq(&a, &b));
        open();
        let (a, b) = (
            share("pthread_mutex_lock"),
            share_owned("pthread_mutex_lock".to_string()),
        );
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_ne!(share("a"), share("ab"));
        close();
        assert!(TABLE.with(|t| t.borrow().texts.is_empty()));
    }
}
