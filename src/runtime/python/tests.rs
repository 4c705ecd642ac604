use super::frames::line_of;
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
    let lines: Vec<Option<u32>> = (0..8).map(|u| line_of(&table, 10, u)).collect();
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
    assert_eq!(line_of(&table[..1], 10, 0), None);
    assert_eq!(line_of(&[0x00, 0xff], 10, 0), None);
}

fn located() -> Located {
    Located {
        object: "python3.11".into(),
        runtime: 0x10_0000,
        version: "3.11".into(),
        layout: layout::for_minor(11).unwrap().clone(),
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
    let py = read(&located(), &memory, &AddressSpace::default(), 100);
    assert!(py.threads.len() <= 1, "{:?}", py.threads);
    assert!(!py.notes.is_empty() || py.threads.iter().any(|t| t.cut.is_some()));
}

#[test]
fn garbage_memory_gives_a_bounded_partial_read_and_no_panic() {
    // A xorshift stream per address: pointers into everything, lengths of anything.
    let memory = |addr: u64, n: usize| -> Vec<u8> {
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
    };
    let py = read(&located(), &memory, &AddressSpace::default(), 100);
    assert!(py.threads.len() <= super::MAX_THREADS);
    // Nothing at all: no interpreter, no thread, nothing said but that.
    let nothing = |_: u64, _: usize| Vec::new();
    let py = read(&located(), &nothing, &AddressSpace::default(), 100);
    assert!(py.threads.is_empty());
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
    let l = super::debug_offsets::layout(&offsets_3_13(), 13).expect("a layout");
    assert_eq!(
        (l.runtime_size, l.unicode_ascii_data, l.unicode_compact_data),
        (283320, 40, 56)
    );
    assert_eq!(l.source, "the layout from its _Py_DebugOffsets");
    let mut free_threaded = offsets_3_13();
    free_threaded[16] = 1;
    for (bytes, minor) in [
        (free_threaded, 13),
        (offsets_3_13(), 14),
        (vec![0u8; 584], 13),
        (offsets_3_13()[..100].to_vec(), 13),
    ] {
        assert!(super::debug_offsets::layout(&bytes, minor).is_err());
    }
}
