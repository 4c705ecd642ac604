use super::frames::line_of;
use super::layout::LineTable;
use super::{layout, read, Located};
use crate::objects::AddressSpace;

#[test]
fn lines_come_from_the_location_table_by_code_unit() {
    let table = [
        0xE9, 0x02, // no columns, 2 units, line +1
        0xDA, 0x05, 0x06, // one line form, 3 units, line +1, two column bytes
        0xF8, // no location, 1 unit
        0xF0, 0x05, 0x00, 0x01, 0x02, // long form, 1 unit, line -2, end line and columns
    ];
    let lines: Vec<Option<u32>> = (0..8)
        .map(|u| line_of(LineTable::Locations, &table, 10, 2 * u))
        .collect();
    assert_eq!(
        lines,
        [
            Some(11),
            Some(11),
            Some(12),
            Some(12),
            Some(12),
            None,
            Some(10),
            None
        ]
    );
    // Cut short, or not a table: no line, no panic.
    assert_eq!(line_of(LineTable::Locations, &table[..1], 10, 0), None);
    assert_eq!(line_of(LineTable::Locations, &[0x00, 0xff], 10, 0), None);
}

#[test]
fn lines_come_from_3_8_s_and_3_9_s_lnotab_and_3_10_s_ranges_by_byte() {
    // Offsets 0-5 on line 10, 6-11 on 11, 12 on 9 (a negative step), as `co_lnotab` pairs.
    let lnotab = [6, 1, 6, 0xfe];
    let lines: Vec<Option<u32>> = (0..14)
        .step_by(2)
        .map(|b| line_of(LineTable::Lnotab, &lnotab, 10, b))
        .collect();
    let want = [10, 10, 10, 11, 11, 11, 9].map(Some);
    assert_eq!(lines, want);
    // 3.10: bytes 0-5 on line 11, 6-7 on none, 8-11 on 12, after them none.
    let ranges = [6, 1, 2, 0x80, 0, 1, 4, 0];
    let lines: Vec<Option<u32>> = (0..14)
        .step_by(2)
        .map(|b| line_of(LineTable::Ranges, &ranges, 10, b))
        .collect();
    let want = [Some(11), Some(11), Some(11), None, Some(12), Some(12), None];
    assert_eq!(lines, want);
    // Odd lengths and empty tables: no panic.
    assert_eq!(line_of(LineTable::Ranges, &[7], 10, 0), None);
    assert_eq!(line_of(LineTable::Lnotab, &[], 10, 4), Some(10));
}

fn located() -> Located {
    located_as(11)
}

/// An interpreter of `3.minor` with its built-in layout.
fn located_as(minor: u8) -> Located {
    Located {
        object: format!("python3.{minor}"),
        runtime: 0x10_0000,
        version: format!("3.{minor}"),
        layout: layout::for_minor(minor).unwrap().clone(),
        how: String::new(),
    }
}

/// Memory whose every word is `word`: each pointer leads back to itself.
fn every_word(word: u64) -> impl Fn(u64, usize) -> Vec<u8> {
    move |_, n| word.to_le_bytes().iter().copied().cycle().take(n).collect()
}

#[test]
fn structures_that_loop_end_the_read_with_a_note() {
    let memory = every_word(0x10_0000);
    let py = read(&located(), &memory, &AddressSpace::default(), 100, &[]);
    assert!(py.threads.len() <= 1, "{:?}", py.threads);
    assert!(!py.notes.is_empty() || py.threads.iter().any(|t| t.cut.is_some()));
}

/// A xorshift stream per address: pointers into everything, lengths of anything.
fn garbage(addr: u64, n: usize) -> Vec<u8> {
    let mut x = addr | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&(x & 0x0000_7fff_ffff_fff8).to_le_bytes());
    }
    out.truncate(n);
    out
}

#[test]
fn garbage_memory_gives_a_bounded_partial_read_and_no_panic() {
    for minor in 8..=12 {
        let py = read(
            &located_as(minor),
            &garbage,
            &AddressSpace::default(),
            100,
            &[],
        );
        assert!(py.threads.len() <= super::MAX_THREADS);
        let looping = every_word(0x10_0000);
        let py = read(
            &located_as(minor),
            &looping,
            &AddressSpace::default(),
            100,
            &[],
        );
        assert!(py.threads.len() <= 1, "3.{minor}: {:?}", py.threads);
    }
    // Nothing at all: no interpreter, no thread, nothing said but that.
    let nothing = |_: u64, _: usize| Vec::new();
    let py = read(&located(), &nothing, &AddressSpace::default(), 100, &[]);
    assert!(py.threads.is_empty());
}

#[test]
fn thread_names_in_garbage_or_looping_memory_are_bounded_and_never_panic() {
    let space = AddressSpace::default();
    let looping = every_word(0x10_0000);
    let memories: [&dyn Fn(u64, usize) -> Vec<u8>; 2] = [&garbage, &looping];
    for minor in [8, 9, 10, 11, 12] {
        let l = layout::for_minor(minor).unwrap();
        for memory in memories {
            let mem = crate::runtime::memory::Mem::new(memory, &space);
            let objects = super::objects::Objects::new(&mem, l);
            for globals in [0x10_0000, 0x7f00_1234_5678, 8] {
                let names = super::names::thread_names(&objects, &l.names.unwrap(), globals);
                assert!(names.len() <= 4096);
            }
        }
    }
}

/// 3.13's `_Py_DebugOffsets` as its interpreter fills them (the values pyenv's 3.13.0 has).
fn offsets_3_13() -> Vec<u8> {
    let mut b = vec![0u8; super::debug_offsets::SIZE];
    b[..8].copy_from_slice(b"xdebugpy");
    let mut put = |at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(8, 0x030d00f0);
    for (at, v) in [
        (376, 24),
        (528, 32),
        (544, 32),
        (552, 16),
        (560, 40),
        (24, 283320),
    ] {
        put(at, v);
    }
    b
}

#[test]
fn debug_offsets_give_3_13_its_layout_and_refuse_what_they_do_not_describe() {
    let l = super::debug_offsets::layout(&offsets_3_13(), (13, Some(0))).expect("a layout");
    assert_eq!(
        (l.runtime_size, l.unicode_ascii_data, l.unicode_compact_data),
        (283320, 40, 56)
    );
    assert!(l.source.starts_with("the layout from its _Py_DebugOffsets"));
    // 3.13.0's `_thread.lock` is 3.12's; from 3.13.1 on it is a `PyMutex`.
    let lot = |micro| {
        let l = super::debug_offsets::layout(&offsets_3_13(), (13, micro)).expect("a layout");
        l.parking_lot.expect("3.13 parks").lock_mutex
    };
    assert_eq!(
        (lot(Some(0)), lot(Some(5)), lot(None)),
        (None, Some(16), Some(16))
    );
    let mut free_threaded = offsets_3_13();
    free_threaded[16] = 1;
    for (bytes, minor) in [
        (free_threaded, 13),
        (offsets_3_13(), 14),
        (vec![0u8; 584], 13),
        (offsets_3_13()[..100].to_vec(), 13),
    ] {
        assert!(super::debug_offsets::layout(&bytes, (minor, None)).is_err());
    }
}

mod merging {
    use super::located;
    use crate::model::{Evidence, Frame, FutexWait, KernelInfo, Language, Thread};
    use crate::runtime::python::merge::merge;
    use crate::runtime::python::{
        LockKind, LockSeen, PyFrame, PyProcess, PyTask, PyThread, TaskState,
    };

    fn native(names: &[&str]) -> Vec<Frame> {
        (names.iter())
            .enumerate()
            .map(|(i, n)| Frame {
                index: u32::try_from(i).ok(),
                function: Some((*n).into()),
                ..Frame::default()
            })
            .collect()
    }

    fn py(function: &str, line: u32, entry: bool, locks: Vec<LockSeen>) -> PyFrame {
        PyFrame {
            function: function.into(),
            file: "/srv/app/bank.py".into(),
            line: Some(line),
            entry,
            locks,
            this: None,
        }
    }

    fn lock(object: u64, kind: LockKind, exits: u32, owner: u64) -> LockSeen {
        LockSeen {
            object,
            semaphore: object + 0x1000,
            kind,
            exits,
            locked: true,
            owner,
        }
    }

    fn process(threads: Vec<PyThread>) -> PyProcess {
        PyProcess {
            located: located(),
            threads,
            notes: Vec::new(),
            cost: (0, std::time::Duration::ZERO),
            parked: Default::default(),
        }
    }

    /// A Python thread of the read: `tid`, `ident`, its frames and the lock its join waits on.
    fn py_thread(tid: u64, ident: u64, frames: Vec<PyFrame>, join: Option<LockSeen>) -> PyThread {
        PyThread {
            tid,
            ident,
            gil: false,
            frames,
            cut: None,
            join_lock: join,
            name: None,
            tasks: Vec::new(),
        }
    }

    /// An OS thread `tid` asleep on the futex `word` in the native functions `innermost`.
    fn asleep(tid: u64, innermost: &[&str], word: u64) -> Thread {
        Thread {
            tid: Some(tid),
            frames: native(innermost),
            kernel: Some(KernelInfo {
                futex: Some(FutexWait {
                    address: word,
                    ..FutexWait::default()
                }),
                ..KernelInfo::default()
            }),
            ..Thread::default()
        }
    }

    fn names(t: &Thread) -> Vec<String> {
        (t.frames.iter())
            .map(|f| f.function.as_deref().unwrap_or("??").to_string())
            .collect()
    }

    #[test]
    fn python_frames_replace_the_eval_loop_frames_that_run_them_and_name_the_waited_lock() {
        let waited = lock(0x7000, LockKind::Lock, 1, 0);
        let held = lock(0x8000, LockKind::Lock, 1, 0);
        let frames = vec![
            py("Bank.transfer", 33, false, vec![waited.clone(), held]),
            py("Thread.run", 975, true, vec![]),
            py("Thread._bootstrap", 995, true, vec![]),
        ];
        let pt = PyThread {
            tasks: vec![
                PyTask {
                    name: Some("poller".into()),
                    coroutine: "poll".into(),
                    file: Some("/srv/bank.py".into()),
                    line: Some(7),
                    state: TaskState::Awaiting,
                },
                PyTask {
                    name: Some("audit".into()),
                    coroutine: "Bank.audit".into(),
                    file: None,
                    line: None,
                    state: TaskState::NotStarted,
                },
            ],
            ..py_thread(12, 0xabc, frames, None)
        };
        let innermost = [
            "futex_wait",
            "PyThread_acquire_lock_timed",
            "_PyEval_EvalFrameDefault",
            "_PyObject_Call",
            "_PyEval_EvalFrameDefault",
            "start_thread",
        ];
        let mut threads = vec![asleep(12, &innermost, waited.semaphore)];
        let (_, notes) = merge(&mut threads, &process(vec![pt]));
        let t = &threads[0];
        // Its loop's tasks are its notes, and said in the snapshot's.
        assert_eq!(
            t.notes,
            [
                "asyncio task poller: bank.poll (/srv/bank.py:7), awaiting",
                "asyncio task audit: Bank.audit, not started"
            ]
        );
        assert!(notes
            .iter()
            .any(|n| n.message.contains("with 2 tasks: poller")));
        assert_eq!(
            names(t),
            [
                "futex_wait",
                "PyThread_acquire_lock_timed",
                "_thread.lock.acquire",
                "bank.Bank.transfer",
                "bank.Thread.run",
                "_PyObject_Call",
                "bank.Thread._bootstrap",
                "start_thread"
            ]
        );
        let indexes: Vec<Option<u32>> = t.frames.iter().map(|f| f.index).collect();
        assert_eq!(indexes, (0..8).map(Some).collect::<Vec<_>>());
        assert_eq!(t.frames[2].arg("self"), Some("0x7000"));
        assert_eq!(t.frames[3].language, Some(Language::Python));
        // The outer `with` holds the other lock; the inner one is being entered.
        let with: Vec<&str> = t.frames[3].locals.iter().map(|v| &*v.value).collect();
        assert_eq!(with, ["0x8000"]);
        assert_eq!(t.pthread, Some(0xabc));
    }

    #[test]
    fn an_rlock_s_owner_is_evidence_and_a_thread_s_join_lock_names_it() {
        let rlock = lock(0x7000, LockKind::RLock, 1, 0xb);
        let tstate_lock = lock(0x9000, LockKind::Lock, 0, 0);
        let thread =
            |tid: u64, ident: u64, frames: Vec<PyFrame>, join: Option<LockSeen>| PyThread {
                gil: tid == 2,
                ..py_thread(tid, ident, frames, join)
            };
        let waiting = |tid: u64, word: u64| {
            let innermost = ["PyThread_acquire_lock_timed", "_PyEval_EvalFrameDefault"];
            asleep(tid, &innermost, word)
        };
        let mut threads = vec![
            waiting(1, rlock.semaphore),
            waiting(2, tstate_lock.semaphore),
        ];
        let py = process(vec![
            thread(1, 0xa, vec![py("push", 3, true, vec![rlock])], None),
            thread(
                2,
                0xb,
                vec![py(
                    "Thread._wait_for_tstate_lock",
                    9,
                    true,
                    vec![tstate_lock.clone()],
                )],
                None,
            ),
            thread(3, 0xc, vec![], Some(tstate_lock)),
        ]);
        let (evidence, notes) = merge(&mut threads, &py);
        assert_eq!(
            evidence,
            [Evidence::LockOwner {
                address: 0x7000,
                owner_tid: 2,
                owner_name: None,
                source: "the RLock's owner, read from CPython's memory (0x7000)".into(),
                by_claim: false,
            }]
        );
        assert_eq!(
            threads[0].frames[1].function.as_deref(),
            Some("_thread.RLock.acquire")
        );
        assert_eq!(threads[1].frames[2].arg("joins"), Some("3"));
        assert_eq!(threads[1].status.as_deref(), Some("gil"));
        // Thread 3 is not in the capture: said.
        assert!(
            notes.iter().any(|n| n.message.contains("no OS thread")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_thread_parked_in_the_parking_lot_waits_for_the_lock_or_thread_handle_it_parks_on() {
        // 3.13: a Lock's waiters park on its `PyMutex`, a join on the handle's exit event; each
        // sleeps on the semaphore of a wait entry on its own stack. An RLock's waiter still
        // sleeps on the lock's semaphore, whatever the word before it holds.
        let mutex = |object: u64, kind: LockKind, at: u64, owner: u64| LockSeen {
            semaphore: object + at,
            ..lock(object, kind, 0, owner)
        };
        let waited = mutex(0x7000, LockKind::Lock, 16, 0);
        let handle = mutex(0x9000, LockKind::ThreadHandle, 57, 0xc);
        let rlock = lock(0xa000, LockKind::RLock, 0, 0);
        let thread =
            |tid: u64, ident: u64, frames: Vec<PyFrame>| py_thread(tid, ident, frames, None);
        let parked = |tid: u64, word: u64| {
            asleep(
                tid,
                &["_PyParkingLot_Park", "_PyEval_EvalFrameDefault"],
                word,
            )
        };
        let mut threads = vec![
            parked(1, 0x7ffd_1010),
            parked(2, 0x7ffd_2010),
            parked(4, rlock.semaphore),
        ];
        let mut py = process(vec![
            thread(1, 0xa, vec![py("transfer", 33, true, vec![waited])]),
            thread(2, 0xb, vec![py("Thread.join", 9, true, vec![handle])]),
            thread(3, 0xc, vec![]),
            thread(4, 0xd, vec![py("push", 3, true, vec![rlock])]),
        ]);
        py.parked = [(0x7ffd_1010, 0x7010), (0x7ffd_2010, 0x9039), (0xb000, 0x31)].into();
        merge(&mut threads, &py);
        assert_eq!(
            names(&threads[0]),
            [
                "_PyParkingLot_Park",
                "_thread.lock.acquire",
                "bank.transfer"
            ]
        );
        assert_eq!(threads[0].frames[1].arg("self"), Some("0x7000"));
        // A join waits on no lock: its frame names the joined thread.
        assert_eq!(
            names(&threads[1]),
            ["_PyParkingLot_Park", "bank.Thread.join"]
        );
        assert_eq!(threads[1].frames[1].arg("joins"), Some("3"));
        assert_eq!(
            threads[2].frames[1].function.as_deref(),
            Some("_thread.RLock.acquire")
        );
    }
}
