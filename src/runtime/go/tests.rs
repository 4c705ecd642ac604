//! Unit tests of the Go reader: goroutines walked in a made-up memory, whole, and torn.

use super::layout::Layout;
use super::{read, Located};
use crate::objects::AddressSpace;
use std::collections::HashMap;

const LAYOUT: Layout = Layout {
    goid: 0x98,
    status: 0x90,
    waitreason: 0xb0,
    waiting: 0xc0,
    m: 0xd0,
    gopc: 0xe0,
    waitsince: Some(WAITSINCE),
    m_procid: 0x48,
    m_p: None,
    sched_sp: 0x38,
    sched_pc: 0x40,
    sched_bp: 0x68,
    stack_hi: Some(8),
    root_treap: 8,
    sudog_g: 0,
    sudog_elem: 0x28,
    sudog_prev: 0x18,
    sudog_next: 0x10,
    sudog_waitlink: 0x50,
    sudog_c: 0x58,
    mutex_sema: Some(4),
    rwmutex: None,
};

const ALLGS: u64 = 0x1000;
const ALLGLEN: u64 = 0x1020;
const REASONS: u64 = 0x1100;
const SEMTABLE: u64 = 0x2000;
const G: u64 = 0x10_000;
const STACK: u64 = 0x20_000;
const SUDOG: u64 = 0x30_000;
/// `g.waitsince` in [`LAYOUT`].
const WAITSINCE: u64 = 0xf0;

/// The goroutines `words` hold (see [`memory`]), read with the clock at `now`.
fn read_words(words: &HashMap<u64, u64>, now: Option<u64>) -> super::GoProcess {
    read(
        &located(),
        &memory(words),
        &AddressSpace::default(),
        100,
        now,
    )
}

/// Words at addresses, and a reader over them (8 bytes each, anything else absent).
fn memory(words: &HashMap<u64, u64>) -> impl Fn(u64, usize) -> Vec<u8> + '_ {
    move |addr, len| {
        let mut out = Vec::with_capacity(len);
        for at in (addr..addr + len as u64).step_by(8) {
            match words.get(&at) {
                Some(w) => out.extend_from_slice(&w.to_le_bytes()),
                None if at < 0x40_000 => out.extend_from_slice(&[0; 8]),
                None => break,
            }
        }
        out
    }
}

fn located() -> Located {
    Located {
        object: "/srv/app".into(),
        allgs: ALLGS,
        allglen: ALLGLEN,
        version: None,
        reasons: Some((REASONS, 16 * 2)),
        semtable: Some((SEMTABLE, 251 * 64)),
        layout: LAYOUT,
    }
}

/// One goroutine (id 7, waiting: reason 1, "semacquire") parked in a three-frame stack, its
/// sudog queued on semaphore 0x5004.
fn one_goroutine() -> HashMap<u64, u64> {
    let mut w = HashMap::new();
    w.insert(ALLGS, 0x1800);
    w.insert(0x1800, G);
    w.insert(ALLGLEN, 1);
    w.insert(REASONS + 16, 0x1200);
    w.insert(REASONS + 24, 10);
    w.insert(0x1200, u64::from_le_bytes(*b"semacqui"));
    w.insert(0x1208, u64::from_le_bytes(*b"re\0\0\0\0\0\0"));
    w.insert(G + LAYOUT.status, 4);
    w.insert(G + LAYOUT.goid, 7);
    w.insert(G + 0xb0, 1);
    w.insert(G + LAYOUT.sched_pc, 0x40_1000);
    w.insert(G + LAYOUT.sched_sp, STACK + 0x10);
    w.insert(G + LAYOUT.sched_bp, STACK + 0x20);
    // gopark's frame → its caller's → the goroutine's first (its saved bp 0).
    w.insert(STACK + 0x20, STACK + 0x40);
    w.insert(STACK + 0x28, 0x40_2000);
    // gopark's first argument's spill slot, above its return address.
    w.insert(STACK + 0x30, 0xc0_ffee);
    w.insert(STACK + 0x40, 0);
    w.insert(STACK + 0x48, 0x40_3000);
    w.insert(SEMTABLE + 5 * 64 + 8, SUDOG);
    w.insert(SUDOG, G);
    w.insert(SUDOG + 0x28, 0x5004);
    w
}

#[test]
fn a_parked_goroutine_is_read_with_its_stack_wait_reason_and_semaphore() {
    let words = one_goroutine();
    let go = read_words(&words, None);
    assert_eq!(go.goroutines.len(), 1, "{:?}", go.notes);
    let g = &go.goroutines[0];
    assert_eq!((g.id, g.status.as_str()), (7, "semacquire"));
    assert_eq!(g.pcs, [0x40_1000, 0x40_2000, 0x40_3000]);
    assert_eq!((g.cut.as_deref(), g.sema), (None, Some(0x5004)));
    // Each frame's first argument word (the test's memory reads unset words as 0); the
    // outermost frame has no frame pointer.
    assert_eq!(g.first_args, [Some(0xc0_ffee), Some(0), None]);
    // Its stack's top unknown (g.stack.hi unset, 0): its words are not read.
    assert_eq!(g.stack_words, None);
}

#[test]
fn a_parked_goroutine_s_stack_words_pointing_near_a_semaphore_are_kept() {
    let mut words = one_goroutine();
    words.insert(G + 8, STACK + 0x80);
    // A pointer to the struct holding the semaphore, and one far from it.
    words.insert(STACK + 0x38, 0x5000);
    words.insert(STACK + 0x58, 0x9000);
    let go = read_words(&words, None);
    assert_eq!(go.goroutines[0].stack_words, Some(vec![0x5000]));
    // A stack deeper than is read: none.
    words.insert(G + 8, STACK + 0x10 + super::MAX_STACK_WORDS + 8);
    let go = read_words(&words, None);
    assert_eq!(go.goroutines[0].stack_words, None);
}

#[test]
fn a_torn_stack_or_goroutine_list_gives_a_partial_result_with_a_note() {
    // A frame pointer that points down the stack (changed while read): the walk stops there.
    let mut words = one_goroutine();
    words.insert(STACK + 0x20, STACK);
    let go = read_words(&words, None);
    let g = &go.goroutines[0];
    assert_eq!(g.pcs, [0x40_1000, 0x40_2000]);
    assert!(g.cut.as_deref().unwrap().contains("below"), "{g:?}");
    // A goroutine list pointing nowhere: no goroutine, said.
    words.insert(ALLGS, 0x9_000_000);
    let go = read_words(&words, None);
    assert!(go.goroutines.is_empty());
    assert!(
        go.notes.iter().any(|n| n.contains("no goroutine")),
        "{:?}",
        go.notes
    );
    // Nothing readable at all.
    let nothing = |_: u64, _: usize| Vec::new();
    let go = read(&located(), &nothing, &AddressSpace::default(), 100, None);
    assert!(go.goroutines.is_empty() && !go.notes.is_empty());
}

#[test]
fn a_wait_is_whole_minutes_from_its_stamp_as_go_prints_it() {
    use super::waited_minutes;
    const MINUTE: u64 = 60_000_000_000;
    let since = 5 * MINUTE + 17;
    assert_eq!(
        waited_minutes(since, since + 2 * MINUTE + MINUTE / 2),
        Some(2)
    );
    assert_eq!(waited_minutes(since, since + MINUTE), Some(1));
    // Under a minute, never stamped, or stamped ahead of the clock: not printed.
    assert_eq!(waited_minutes(since, since + MINUTE - 1), None);
    assert_eq!(waited_minutes(0, 10 * MINUTE), None);
    assert_eq!(waited_minutes(since, since - 1), None);
}

#[test]
fn a_stamped_wait_is_timed_against_the_clock_given_and_untimed_without_one() {
    const MINUTE: u64 = 60_000_000_000;
    let mut words = one_goroutine();
    let since = 1_000 * MINUTE;
    words.insert(G + WAITSINCE, since);
    let now = Some(since + 3 * MINUTE + 5);
    let go = read_words(&words, now);
    assert_eq!(go.goroutines[0].waited_minutes, Some(3));
    assert!(go.notes.is_empty(), "{:?}", go.notes);
    // A core: no clock, said.
    let go = read_words(&words, None);
    assert_eq!(go.goroutines[0].waited_minutes, None);
    assert!(go.notes.iter().any(|n| n.contains("waited is not known")));
    // A fresh wait no collection has stamped: nothing to time, nothing to say.
    words.insert(G + WAITSINCE, 0);
    let go = read_words(&words, None);
    assert_eq!(go.goroutines[0].waited_minutes, None);
    assert!(go.notes.is_empty(), "{:?}", go.notes);
}

#[test]
fn the_runtime_clock_of_this_process_is_its_monotonic_clock() {
    let monotonic = || {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    };
    let before = monotonic();
    let now = super::clock(std::process::id() as i32).unwrap();
    let after = monotonic();
    assert!(before <= now && now <= after, "{before} {now} {after}");
}
