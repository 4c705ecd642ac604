//! Which waited-on locks a thread's live stack points at: the evidence of which threads can
//! hold a lock that records no owner when the lock lies on the heap (a field of a struct
//! allocated at run time, passed by pointer), where no code names it (`symbolize::refs` finds
//! only static objects). Code that took such a lock and will unlock it must reach it again: by
//! a pointer kept in its frame, in a callee-saved register (a callee that uses the register
//! saves it in its own frame), or in a caller's frame. So every word of the thread's stack
//! from its stack pointer up, and its registers at the stop, are looked at: a word at a lock's
//! address or shortly before it ([`REACH`]: a pointer to the struct holding it) points at it,
//! and a lock inside the stack itself counts for that thread.
//!
//! What this cannot see: a lock reached only through another object (a pointer to a struct
//! holding a pointer to the lock's struct, a closure's captured variable, a global pointer, a
//! `QReadWriteLock`'s private part: when no stack but its waiters' points at a lock, the
//! analysis leaves the stacks out for it), a
//! lock more than [`REACH`] bytes into the struct a word points at, and a holder whose code no
//! longer needs the lock (it never unlocks it: the pointer may be gone from its frame). A stale
//! word (a dead slot of a live frame) keeps a thread among the holders: the cautious side. The
//! analysis grades what it derives from these words `heuristic` and says so.
//!
//! Measured on the fixtures `go/heap_abba.go` and `go/heap_sleeper.go` (Go 1.19) and their C
//! twins `c_glib_heap_abba.c` and `c_glib_heap_held.c` (GLib GMutex, `-O0` and `-O2
//! -fomit-frame-pointer`), five live attaches each. Go: the two transfers and the keeper
//! pointed at the mutex each held every time (15 of 15, in the goroutine's stack words: Go
//! keeps what a call must survive in its frame). C `-O0`: every holder (two movers, the keeper,
//! the poster) every time, in its frames (20 of 20). C `-O2`: 20 of 20 with the registers, but
//! only 15 of 20 from the stack alone: in every run, one ABBA mover kept the pointer to the
//! mutex it held only in a callee-saved register. No thread that held nothing (the tickers,
//! main, Go's M threads) pointed at a waited mutex, once a stack inside a larger mapping (a Go
//! M's system stack, allocated on the heap) is read only up to its first frame's CFA, not to
//! the mapping's end. But two structs allocated one after the other lie within [`REACH`] of
//! each other, so a pointer to one also points at the other's lock (the keeper of
//! `heap_sleeper.go` at the journal's as well as the ledger's): such a thread stays a possible
//! holder of both, the cautious side.

/// How far before a lock a word may point and still point at it: a pointer to the struct that
/// holds the lock, the lock at most this far in.
pub const REACH: u64 = 256;

/// Whether `word` lies at one of `sorted` or up to `reach` bytes before it.
pub fn before_any(word: u64, sorted: &[u64], reach: u64) -> bool {
    let i = sorted.partition_point(|&l| l < word);
    sorted.get(i).is_some_and(|&l| l - word < reach)
}

/// The locks among `looked_for` (sorted) that a stack whose words are `words` (any order) and
/// whose memory spans `stack` points at, sorted.
pub fn pointed_at(mut words: Vec<u64>, stack: (u64, u64), looked_for: &[u64]) -> Vec<u64> {
    words.sort_unstable();
    words.dedup();
    (looked_for.iter().copied())
        .filter(|&l| {
            let below = words.partition_point(|&w| w <= l);
            let pointed = below > 0 && l - words[below - 1] < REACH;
            pointed || (stack.0..stack.1).contains(&l)
        })
        .collect()
}

/// The little-endian words of `bytes` (its tail shorter than a word left out).
pub fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    (bytes.chunks_exact(8))
        .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_at_or_shortly_before_a_lock_points_at_it() {
        let locks = [0x1000, 0x2000, 0x3000];
        let words = vec![0x1000, 0x2000 - REACH + 8, 0x2fff - REACH, 7];
        assert_eq!(pointed_at(words, (0, 0), &locks), [0x1000, 0x2000]);
        // A lock on the stack itself.
        assert_eq!(pointed_at(Vec::new(), (0x2ff0, 0x4000), &locks), [0x3000]);
        assert!(before_any(0x2f80, &locks, REACH));
        assert!(!before_any(0x3001, &locks, REACH));
    }
}
