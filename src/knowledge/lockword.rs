//! Locks that keep their holder in the lock word, not in their owner field, for some of their
//! kinds (glibc's robust and priority-inheritance mutexes: `__lock & FUTEX_TID_MASK`), and the
//! owner field's value that says a locker recovered the lock after its previous owner died
//! (`PTHREAD_MUTEX_INCONSISTENT`): a rule's `owner_word = {...}` and how it is read.

use regex::bytes::Regex;
use serde::Deserialize;

/// `owner_word` as a pack writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOwnerWord {
    kinds: u64,
    offset: u64,
    tid_mask: u64,
    inconsistent: u64,
    printed: Option<String>,
}

/// Where a lock of some kinds keeps its holder, and what its owner field says then.
#[derive(Debug, Clone)]
pub struct OwnerWord {
    /// The bits of the lock's flag word (the one `shared_flag` and `shared_printed` read) that
    /// say the holder is in the lock word (glibc: robust 16 | PI 32).
    pub kinds: u64,
    /// Where the lock word is, from the lock's address (glibc: `__lock` at 0).
    pub offset: u64,
    /// The bits of the lock word that hold the holder's tid (`FUTEX_TID_MASK`).
    pub tid_mask: u64,
    /// The owner field's value from the moment a locker was told the previous owner died
    /// (`EOWNERDEAD`) until it makes the lock consistent (`PTHREAD_MUTEX_INCONSISTENT`).
    pub inconsistent: u64,
    /// For `printed` owners: the pattern whose `word` group is the lock word in a printed
    /// value (signed, as gdb prints an `int`), and whose `field` group names it.
    pub printed: Option<Regex>,
}

/// Who holds a lock, by its lock word and owner field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordOwner {
    /// The holder's tid (0: none).
    pub tid: u64,
    /// The holder recovered it after its previous owner died, and has not made it consistent.
    pub recovered: bool,
}

impl OwnerWord {
    /// Compiles a pack's `owner_word`, its pattern with `compile` (the packs' own).
    pub fn compile(
        raw: RawOwnerWord,
        compile: impl Fn(&str) -> Result<Regex, regex::Error>,
    ) -> Result<OwnerWord, String> {
        let printed = match raw.printed.as_deref().map(compile) {
            Some(Ok(p)) if p.capture_names().flatten().any(|n| n == "word") => Some(p),
            Some(Ok(_)) => return Err("`owner_word.printed` needs a (?P<word>...) group".into()),
            Some(Err(e)) => return Err(e.to_string()),
            None => None,
        };
        Ok(OwnerWord {
            kinds: raw.kinds,
            offset: raw.offset,
            tid_mask: raw.tid_mask,
            inconsistent: raw.inconsistent,
            printed,
        })
    }

    /// Whether a lock whose flag word is `kind` keeps its holder in the lock word.
    pub fn applies(&self, kind: u64) -> bool {
        kind & self.kinds != 0
    }

    /// The holder the lock word `word` names, and whether the owner field `field` says it
    /// recovered the lock.
    pub fn owner(&self, word: u64, field: u64) -> WordOwner {
        WordOwner {
            tid: word & self.tid_mask,
            recovered: field == self.inconsistent,
        }
    }

    /// The lock word in a printed value and the field's name: a negative value is the word's
    /// two's complement (a C `int`).
    pub fn printed_word(&self, text: &str) -> Option<(u64, Option<String>)> {
        let caps = self.printed.as_ref()?.captures(text.as_bytes())?;
        let word: i64 = std::str::from_utf8(caps.name("word")?.as_bytes())
            .ok()?
            .parse()
            .ok()?;
        let field = caps
            .name("field")
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
        Some((u64::from(word as u32), field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glibc() -> OwnerWord {
        OwnerWord::compile(
            RawOwnerWord {
                kinds: 48,
                offset: 0,
                tid_mask: 0x3fff_ffff,
                inconsistent: 2_147_483_647,
                printed: Some(r"(?P<field>__lock) = (?P<word>-?\d+)".into()),
            },
            Regex::new,
        )
        .unwrap()
    }

    #[test]
    fn a_printed_word_with_futex_waiters_is_read_as_the_holder_s_tid() {
        let w = glibc();
        // FUTEX_WAITERS | 10789, as gdb prints an int.
        let (word, field) = w
            .printed_word("{__lock = -2147472859, __owner = 1}")
            .unwrap();
        assert_eq!((word, field.as_deref()), (0x8000_2a25, Some("__lock")));
        let o = w.owner(word, 2_147_483_647);
        assert_eq!((o.tid, o.recovered), (10789, true));
        assert!(!w.owner(10789, 10789).recovered);
        assert!(w.applies(144) && !w.applies(128) && !w.applies(0));
    }
}
