//! Ownerless locks on small gdb dumps: an ABBA of hand-rolled locks closes a heuristic cycle
//! naming the other thread that could hold each lock; a thread asleep inside the program, which
//! could hold both, leaves no cycle; a lock that records its owner, or one no thread is seen
//! taking, is not derived; a write wait on a reader-writer lock that records no owner is, a
//! read wait is not. Locks on the heap: what the threads' stacks point at narrows the holders.

use crate::analyze::{analyze, Analysis, Because, Detail, FindingKind, Grade, Held};
use crate::dump::parse_dump;
use crate::knowledge::KnowledgeBase;
use crate::model::Evidence;

fn analysis(dump: &str) -> Analysis {
    let snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    analyze(&snap, &KnowledgeBase::builtin())
}

/// Thread `n` waits in a hand-rolled `spin_lock` for the lock at `0x500L`, from `CALLER`.
fn waiter(n: u32, lock: u32, caller: &str) -> String {
    format!(
        "Thread {n} (Thread 0x7f0{n} (LWP 10{n})):
#0  syscall () at syscall.S:38
#1  0x1 in spin_lock (lock=0x500{lock}) at locks.c:20
#2  0x2 in {caller} () at bank.c:3{n}
#3  0x3 in start_thread (arg=0x0) at pthread_create.c:442
#4  0x4 in clone3 () at clone3.S:81

"
    )
}

/// The main thread joins thread 2, from `main`.
const MAIN_JOINS: &str = "Thread 1 (Thread 0x7f01 (LWP 101)):
#0  __futex_abstimed_wait_common64 (private=128, cancel=true, abstime=0x0, op=265, expected=102, futex_word=0x7f02) at futex-internal.c:57
#1  0x5 in __pthread_clockjoin_ex (threadid=139937572652736, thread_return=0x0, clockid=0, abstime=0x0, block=true) at pthread_join_common.c:102
#2  0x6 in main () at bank.c:90

";

/// Thread `n` asleep inside `rebalance`, where the program may hold any lock.
fn sleeper(n: u32) -> String {
    format!(
        "Thread {n} (Thread 0x7f0{n} (LWP 10{n})):
#0  0x4 in __GI___clock_nanosleep (clock_id=0, flags=0, req=0x1, rem=0x0) at clock_nanosleep.c:48
#1  0x5 in __GI___nanosleep (req=0x1, rem=0x0) at nanosleep.c:25
#2  0x6 in rebalance () at bank.c:70
#3  0x7 in start_thread (arg=0x0) at pthread_create.c:442
#4  0x8 in clone3 () at clone3.S:81

"
    )
}

#[test]
fn an_abba_of_ownerless_locks_is_a_heuristic_cycle_naming_the_other_possible_holder() {
    let dump = format!(
        "{MAIN_JOINS}{}{}",
        waiter(2, 1, "transfer_out"),
        waiter(3, 2, "transfer_in")
    );
    let a = analysis(&dump);
    let cycle = (a.findings.iter())
        .find(|f| f.kind == FindingKind::LockCycle)
        .unwrap_or_else(|| panic!("{:?}", a.findings));
    assert_eq!(cycle.threads, [1, 2]);
    assert_eq!(cycle.confidence, Grade::Heuristic);
    // Where the input shows only some threads, one it does not show may hold either lock.
    let mut some = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    some.complete = false;
    assert!(!analyze(&some, &KnowledgeBase::builtin()).deadlocked());
    let derived: Vec<_> = (a.graph.edges.iter())
        .filter_map(|e| match &e.because {
            Because::Holds {
                by: Held::Consistent { alternatives, .. },
                ..
            } => Some((e.from, e.to, alternatives.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(derived.len(), 2, "{derived:?}");
    for (from, to, alternatives) in derived {
        assert_eq!((from, to), if from == 1 { (1, 2) } else { (2, 1) });
        // The main thread could hold either lock too: then it closes the cycle, with its join.
        assert_eq!(alternatives.len(), 1, "{alternatives:?}");
        assert_eq!(alternatives[0].holder, 0);
        assert!(alternatives[0].cycle.contains(&0), "{alternatives:?}");
    }
}

#[test]
fn a_thread_asleep_in_the_program_may_hold_the_locks_so_no_cycle_is_claimed() {
    // Three threads wait on two ownerless locks; the sleeper may hold both, and then no
    // thread waits for another in a cycle.
    let dump = format!(
        "{}{}{}{}",
        waiter(1, 1, "transfer_out"),
        waiter(2, 2, "transfer_in"),
        waiter(3, 1, "audit"),
        sleeper(4)
    );
    let a = analysis(&dump);
    assert!(!a.deadlocked(), "{:?}", a.findings);
    assert!(a.graph.edges.is_empty(), "{:?}", a.graph.edges);
    // The threads that wait close a cycle whoever of them holds what; only the sleeper, whose
    // code a dump does not carry, keeps it open: said, with what decides.
    let f = (a.findings.iter())
        .find(|f| f.kind == FindingKind::HoldersUnknown)
        .unwrap_or_else(|| panic!("{:?}", a.findings));
    assert_eq!(f.confidence, Grade::Heuristic);
    match &f.detail {
        Detail::HoldersUnknown {
            locks,
            unchecked,
            captured,
        } => {
            assert_eq!((locks.len(), unchecked.as_slice()), (2, &[3][..]));
            assert!(!captured);
        }
        other => panic!("{other:?}"),
    }
    assert!(f.suggestion.as_deref().unwrap().contains("hangscan attach"));
    // A sleeper whose argument points at the struct holding a lock could have taken it: the
    // dump shows that much, and leaves nothing to decide.
    let pointing = dump.replace("rebalance ()", "rebalance (bank=0x4ff8)");
    let a = analysis(&pointing);
    assert!(!a.deadlocked(), "{:?}", a.findings);
    assert!(
        (a.findings.iter()).all(|f| f.kind != FindingKind::HoldersUnknown),
        "{:?}",
        a.findings
    );
}

/// The sleeper dump with the locks as static objects and every frame's code checked: the
/// program's frames name `lock 1` and `lock 2` as `names` gives, per thread.
fn checked(dump: &str, names: &[&[u64]]) -> Analysis {
    let mut snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    for lock in [0x5001, 0x5002] {
        snap.evidence.push(Evidence::DataSymbol {
            address: lock,
            size: 4,
            name: format!("lock{lock:x}"),
        });
    }
    for (t, refs) in snap.threads.iter_mut().zip(names) {
        for f in &mut t.frames {
            f.refs = Some(std::sync::Arc::new(refs.to_vec()));
        }
    }
    analyze(&snap, &KnowledgeBase::builtin())
}

#[test]
fn a_sleeper_whose_code_names_neither_lock_cannot_hold_them_and_one_that_names_one_may() {
    let dump = format!(
        "{}{}{}",
        waiter(1, 1, "transfer_out"),
        waiter(2, 2, "transfer_in"),
        sleeper(3)
    );
    let both: &[u64] = &[0x5001, 0x5002];
    let a = checked(&dump, &[both, both, &[]]);
    let cycle = (a.findings.iter())
        .find(|f| f.kind == FindingKind::LockCycle)
        .unwrap_or_else(|| panic!("{:?}", a.findings));
    assert_eq!(
        (cycle.threads.len(), cycle.confidence),
        (2, Grade::Heuristic)
    );
    let by_code = (a.graph.edges.iter()).all(|e| {
        matches!(
            &e.because,
            Because::Holds {
                by: Held::Consistent { by_code: true, alternatives, .. },
                ..
            } if alternatives.is_empty()
        )
    });
    assert!(by_code, "{:?}", a.graph.edges);
    // A sleeper whose code names the first lock may hold it: no cycle, and nothing
    // undecided (the code was read).
    let a = checked(&dump, &[both, both, &[0x5001]]);
    assert!(!a.deadlocked(), "{:?}", a.findings);
    assert!(a
        .findings
        .iter()
        .all(|f| f.kind != FindingKind::HoldersUnknown));
}

#[test]
fn a_thread_in_code_no_symbol_names_may_hold_the_locks_so_no_cycle_is_claimed() {
    // The ABBA, and a thread asleep under code that has no name (a stripped program's, a
    // JIT's): it could hold both locks.
    let unnamed = sleeper(4).replace("0x6 in rebalance () at bank.c:70", "0x7f66 in ?? ()");
    let abba = format!("{MAIN_JOINS}{}{}", waiter(2, 1, "a"), waiter(3, 2, "b"));
    assert!(analysis(&abba).deadlocked());
    let a = analysis(&format!("{abba}{unnamed}"));
    assert!(!a.deadlocked(), "{:?}", a.findings);
    // gdb's end-of-stack marker, `0x0000000000000000 in ?? ()`, is no code.
    let end = sleeper(4).replace(
        "0x6 in rebalance () at bank.c:70",
        "0x0000000000000000 in ?? ()",
    );
    assert!(analysis(&format!("{abba}{end}")).deadlocked());
}

#[test]
fn a_lock_that_records_its_owner_or_that_no_lock_taker_can_hold_is_not_derived() {
    // glibc's mutex records its owner: a dump without it says what decides, it derives nothing.
    let pthread = format!("{MAIN_JOINS}{}{}", waiter(2, 1, "a"), waiter(3, 2, "b"))
        .replace(
            "syscall () at syscall.S:38",
            "__lll_lock_wait (futex=0x5001, private=0) at lowlevellock.c:49",
        )
        .replace("spin_lock (lock=", "___pthread_mutex_lock (mutex=");
    let a = analysis(&pthread);
    // The main thread's join is the only edge.
    assert_eq!(a.graph.edges.len(), 1, "{:?}", a.graph.edges);
    assert!(!a.deadlocked(), "{:?}", a.findings);
    // Both workers wait on one lock: only the main thread could hold it, and nothing shows it
    // takes such locks (a thread that returned holding it is as likely).
    let one = format!("{MAIN_JOINS}{}{}", waiter(2, 1, "a"), waiter(3, 1, "b"));
    let a = analysis(&one);
    assert!(!a.deadlocked(), "{:?}", a.findings);
}

#[test]
fn philosophers_each_waiting_for_the_next_ones_lock_are_a_cycle_however_many() {
    // Six threads, each waiting for its own lock: any of the others may hold it, and whoever
    // does waits too, so every assignment closes a cycle.
    let ring: String = (1..=6).map(|n| waiter(n, n, "dine")).collect();
    let a = analysis(&ring);
    let cycle = (a.findings.iter())
        .find(|f| f.kind == FindingKind::LockCycle)
        .unwrap_or_else(|| panic!("{:?}", a.findings));
    assert_eq!(cycle.confidence, Grade::Heuristic);
    // With one thread asleep in the program, which may hold any of the locks, none is claimed.
    let a = analysis(&format!("{ring}{}", sleeper(7)));
    assert!(!a.deadlocked(), "{:?}", a.findings);
}

#[test]
fn a_gmutex_abba_with_glibs_symbols_in_a_gdb_bt_is_a_heuristic_cycle() {
    // With GLib's debug symbols, gdb names the slow path and its argument: which GMutex each
    // thread waits for. Nothing names a holder.
    let glib = |n: u32, lock: &str, caller: &str| {
        format!(
            "Thread {n} (Thread 0x7f0{n} (LWP 10{n})):
#0  syscall () at syscall.S:38
#1  0x1 in g_mutex_lock_slowpath (mutex={lock}) at gthread-posix.c:1497
#2  0x2 in {caller} () at books.c:3{n}
#3  0x3 in g_thread_proxy (data=0x1) at gthread.c:831
#4  0x4 in start_thread (arg=0x0) at pthread_create.c:442

"
        )
    };
    let dump = format!(
        "{MAIN_JOINS}{}{}",
        glib(2, "0x5010 <journal_lock>", "post_entry"),
        glib(3, "0x5018 <accounts_lock>", "audit_books")
    );
    let a = analysis(&dump);
    let cycle = (a.findings.iter())
        .find(|f| f.kind == FindingKind::LockCycle)
        .unwrap_or_else(|| panic!("{:?}", a.findings));
    assert_eq!(cycle.threads, [1, 2]);
    assert_eq!(cycle.confidence, Grade::Heuristic);
}

#[test]
fn write_waits_on_reader_writer_locks_that_record_no_owner_are_derived_and_read_waits_are_not() {
    let qt = |call: &str| {
        format!(
            "{MAIN_JOINS}{}{}",
            waiter(2, 1, "reindex"),
            waiter(3, 2, "reshelve")
        )
        .replace(
            "spin_lock (lock=",
            &format!("QReadWriteLock::{call} (this="),
        )
    };
    let write = analysis(&qt("lockForWrite"));
    let cycle = (write.findings.iter())
        .find(|f| f.kind == FindingKind::LockCycle)
        .unwrap_or_else(|| panic!("{:?}", write.findings));
    assert_eq!(cycle.threads, [1, 2]);
    assert_eq!(cycle.confidence, Grade::Heuristic);
    // A reader may wait for a writer that only waits itself (Qt prefers writers): no holder.
    assert!(!analysis(&qt("lockForRead")).deadlocked());
}

#[test]
fn a_heap_abba_is_a_cycle_when_only_the_waiters_stacks_point_at_the_locks() {
    let dump = format!(
        "{MAIN_JOINS}{}{}{}",
        waiter(2, 1, "transfer_out"),
        waiter(3, 2, "transfer_in"),
        sleeper(4)
    );
    let mut snap = parse_dump(dump.as_bytes(), "t", Some("gdb")).unwrap();
    let kb = KnowledgeBase::builtin();
    // Nothing read of the stacks: the sleeper could hold either lock.
    assert!(!analyze(&snap, &kb).deadlocked());
    let locks = vec![0x5001, 0x5002];
    let point = |found: &[u64]| Some(found.to_vec());
    for (t, found) in [(0, &[][..]), (1, &locks), (2, &locks), (3, &[])] {
        snap.threads[t].stack_refs = point(found);
    }
    // Read, but not looked for: nothing narrows.
    assert!(!analyze(&snap, &kb).deadlocked());
    snap.evidence.push(Evidence::StackLocks {
        addresses: locks.clone(),
    });
    let a = analyze(&snap, &kb);
    assert!(a.deadlocked(), "{:?}", a.findings);
    let derived: Vec<_> = (a.graph.edges.iter())
        .filter_map(|e| match &e.because {
            Because::Holds {
                by:
                    Held::Consistent {
                        alternatives,
                        by_stack,
                        ..
                    },
                ..
            } => Some((alternatives.len(), *by_stack)),
            _ => None,
        })
        .collect();
    assert_eq!(derived, [(0, true), (0, true)]);
    // The sleeper's stack pointing at one lock keeps it a possible holder: no cycle claimed.
    snap.threads[3].stack_refs = point(&[0x5001]);
    assert!(!analyze(&snap, &kb).deadlocked());
    // Nor when its stack was not read whole.
    snap.threads[3].stack_refs = None;
    assert!(!analyze(&snap, &kb).deadlocked());
    // Nor when only each lock's waiter points at it: its holder reaches it through another
    // object, which the stacks do not show.
    snap.threads[3].stack_refs = point(&[]);
    snap.threads[1].stack_refs = point(&[0x5001]);
    snap.threads[2].stack_refs = point(&[0x5002]);
    assert!(!analyze(&snap, &kb).deadlocked());
}
