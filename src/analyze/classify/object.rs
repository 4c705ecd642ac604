//! The waited-on object from what memory shows: the lock a futex word belongs to, a join's
//! target from its word, and the data symbol that names an address.

use super::Wait;
use crate::knowledge::WaitKind;
use crate::model::Snapshot;

/// What the kernel says the thread waits on fills what the frames did not show: a lock's
/// address is its futex word (less the word's offset inside the lock, see `lock_of`), unless
/// its waiters sleep apart; glibc's join waits for the joined thread's tid to change.
pub(super) fn apply_futex(waits: &mut [Wait], futex: crate::model::FutexWait, memory: &Snapshot) {
    let Some(w) = waits.first_mut() else { return };
    if w.kind.is_lock() && w.address.is_none() && !w.sleeps_apart {
        w.address = Some(lock_of(&futex, w, memory));
    }
    // A scope's join parks on its owner's own futex, which holds no thread id.
    if w.kind == WaitKind::Join && !w.scope && w.target_tid.is_none() && futex.value != 0 {
        w.target_tid = Some(u64::from(futex.value));
    }
}

/// An object no frame printed a symbol for is named by the data symbol that holds it, when
/// the producer read one (live capture and cores), as gdb names it
/// ([`Snapshot::data_symbol`]: a global, a static's guard variable, `name+offset` inside one).
pub(in crate::analyze) fn name_object(w: &mut Wait, memory: &Snapshot) {
    if w.symbol.is_none() {
        w.symbol = w.address.and_then(|a| memory.data_symbol(a));
    }
}

/// The lock whose futex word is at `word`: the word itself, or for a lock with several words
/// (`futex_offsets`) the candidate the wait's value names (`futex_values`), else the first
/// whose owner field memory shows set, else the last.
fn lock_of(futex: &crate::model::FutexWait, w: &Wait, memory: &Snapshot) -> u64 {
    let word = futex.address;
    let by_value = |i: usize| w.futex_values.get(i).is_none_or(|&v| v == futex.value);
    let mut candidates = (w.futex_offsets.iter().enumerate())
        .filter(|&(i, _)| by_value(i))
        .filter_map(|(_, &off)| word.checked_sub(off));
    let owned = |base: &u64| {
        w.owner_offset
            .and_then(|off| memory.read_u32(base.checked_add(off)?))
            .is_some_and(|owner| owner != 0)
    };
    candidates
        .clone()
        .find(owned)
        .or_else(|| candidates.next_back())
        .unwrap_or(word)
}
