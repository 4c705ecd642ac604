//! Lines read once: a dump of many alike threads repeats its frame and variable lines word
//! for word (a pool's workers, a server at rest), and a line seen before in the same read is
//! taken from here, its shared texts and all, instead of being parsed again. Bounded: past
//! [`MAX_KEPT`] distinct lines, or for long lines, new ones are parsed and not kept, so a dump
//! of unlike lines pays only the look-up.

use rustc_hash::FxHashMap;

/// How many distinct lines one memo keeps.
const MAX_KEPT: usize = 1 << 14;
/// Lines longer than this are parsed each time (rarely repeated, costly to keep).
const MAX_LINE: usize = 512;
/// Slots past this are parsed each time (frames deeper than #63).
const MAX_SLOTS: usize = 64;

/// What a parse gave for each line seen, by slot: a line whose meaning depends on a small
/// number besides its text (a frame line's text after its `#N`) is kept under that number.
pub struct Memo<T> {
    slots: Vec<FxHashMap<Box<str>, T>>,
    kept: usize,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            kept: 0,
        }
    }
}

impl<T: Clone> Memo<T> {
    /// What `parse` gives for `line` in `slot`: kept from an equal line before, or parsed now.
    pub fn get(&mut self, slot: usize, line: &str, parse: impl FnOnce(&str) -> T) -> T {
        if line.len() > MAX_LINE || slot >= MAX_SLOTS {
            return parse(line);
        }
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, FxHashMap::default);
        }
        if let Some(v) = self.slots[slot].get(line) {
            return v.clone();
        }
        let v = parse(line);
        if self.kept < MAX_KEPT {
            self.slots[slot].insert(line.into(), v.clone());
            self.kept += 1;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_equal_line_in_the_same_slot_is_not_parsed_again() {
        let mut memo = Memo::default();
        let parsed = std::cell::Cell::new(0);
        let parse = |l: &str| {
            parsed.set(parsed.get() + 1);
            l.len()
        };
        assert_eq!(memo.get(1, "f ()", parse), 4);
        assert_eq!(memo.get(1, "f ()", parse), 4);
        assert_eq!(memo.get(2, "f ()", parse), 4);
        assert_eq!(parsed.get(), 2, "a line is kept per slot");
        let long = "x".repeat(MAX_LINE + 1);
        memo.get(1, &long, parse);
        memo.get(1, &long, parse);
        memo.get(MAX_SLOTS, "f ()", parse);
        memo.get(MAX_SLOTS, "f ()", parse);
        assert_eq!(
            parsed.get(),
            6,
            "long lines and deep slots are parsed each time"
        );
    }

    #[test]
    fn past_the_bound_new_lines_are_parsed_and_not_kept() {
        let mut memo = Memo::default();
        for i in 0..MAX_KEPT {
            memo.get(0, &i.to_string(), |l| l.to_string());
        }
        let mut parsed = 0;
        for _ in 0..2 {
            memo.get(0, "new", |l| {
                parsed += 1;
                l.to_string()
            });
        }
        assert_eq!(parsed, 2);
        assert_eq!(memo.kept, MAX_KEPT);
    }
}
