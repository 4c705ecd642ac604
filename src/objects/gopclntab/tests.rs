//! The pclntab read from tables made here by hand, in both layouts: names, lines, inlined
//! calls, and bytes cut short or garbled (never a panic).

use super::lines::{Image, Place, Table};
use super::{header, scan};
use std::sync::Arc;

/// A pclntab of Go 1.20's layout naming `main.a` (0x100 bytes from the text's start) and
/// `main.b` (0x40 bytes after it), behind `skip` bytes of other data.
fn pclntab(skip: usize) -> Vec<u8> {
    let mut t = vec![0xaa; skip];
    t.extend_from_slice(&0xffff_fff1u32.to_le_bytes());
    t.extend_from_slice(&[0, 0, 1, 8]);
    // Functions, files, text start, then the name table's and function table's offsets.
    let (names, functab) = (72u64, 88u64);
    for w in [2, 0, 0x40_1000, names, 0, 0, 0, functab] {
        t.extend_from_slice(&u64::to_le_bytes(w));
    }
    t.extend_from_slice(b"main.a\0main.b\0\0\0");
    // (entry, _func) pairs, the end; each _func: its entry, its name.
    for w in [0u32, 24, 0x100, 32, 0x140, 0, 0, 0, 0x100, 7] {
        t.extend_from_slice(&w.to_le_bytes());
    }
    t
}

#[test]
fn a_pclntab_names_functions_whether_its_section_or_found_by_its_header() {
    let want = vec![
        (0x40_1000, 0x100, "main.a".to_string()),
        (0x40_1100, 0x40, "main.b".to_string()),
    ];
    assert_eq!(scan(&pclntab(0), None), Some(want.clone()));
    assert_eq!(scan(&pclntab(48), None), Some(want));
    // The header's text start, inside the `.text` section (C code an external linker puts
    // first moves it past the section's start); else the section's.
    assert_eq!(
        scan(&pclntab(0), Some(0x40_0f00..0x40_2000)).unwrap()[1].0,
        0x40_1100
    );
    assert_eq!(
        scan(&pclntab(0), Some(0x1000..0x2000)).unwrap()[1].0,
        0x1100
    );
    // Cut short or garbled: what holds together, or nothing; never a panic.
    let whole = pclntab(0);
    for len in 0..whole.len() {
        let _ = scan(&whole[..len], None);
    }
    let mut bad = pclntab(0);
    bad[6] = 4;
    assert_eq!(scan(&bad, None), None);
}

/// Memory made of pieces, each at its address.
struct Pieces(Vec<(u64, Vec<u8>)>);

impl Image for Pieces {
    fn bytes(&self, svma: u64, len: usize) -> Option<&[u8]> {
        self.0.iter().find_map(|(at, b)| {
            let o = usize::try_from(svma.checked_sub(*at)?).ok()?;
            b.get(o..o.checked_add(len)?)
        })
    }
}

/// Where the table and the functions' data are.
const TABLE: u64 = 0x1000;
const GOFUNC: u64 = 0x8000;

/// A table of `main.outer` (0x20 bytes at the text's start, 0x40_0000) in `/src/a.go`, which
/// inlines `main.inl` (`/src/b.go:20`) at 0x10..0x20, called at line 10 (pc 0x8); Go 1.20's
/// layout or 1.18's. Then the inline tree, at `GOFUNC`.
fn lined(go120: bool) -> (Vec<u8>, Vec<u8>) {
    let mut t = Vec::new();
    t.extend_from_slice(&(if go120 { 0xffff_fff1u32 } else { 0xffff_fff0 }).to_le_bytes());
    t.extend_from_slice(&[0, 0, 1, 8]);
    let names = b"main.outer\0main.inl\0".to_vec();
    let cutab: Vec<u8> = [0u32, 10].iter().flat_map(|w| w.to_le_bytes()).collect();
    let files = b"/src/a.go\0/src/b.go\0".to_vec();
    // Files 0 then 1; lines 10 then 20; no inlined call, then call 0; each from pc 0x10.
    let pctab = vec![
        0, 2, 0x10, 2, 0x10, 0, 22, 0x10, 20, 0x10, 0, 0, 0x10, 2, 0x10, 0,
    ];
    let (pcfile, pcln, inl) = (1u32, 6, 11);
    let names_at = 72;
    let cutab_at = names_at + names.len();
    let files_at = cutab_at + cutab.len();
    let pctab_at = files_at + files.len();
    let functab_at = pctab_at + pctab.len();
    for w in [
        1,
        2,
        0x40_0000,
        names_at as u64,
        cutab_at as u64,
        files_at as u64,
        pctab_at as u64,
        functab_at as u64,
    ] {
        t.extend_from_slice(&w.to_le_bytes());
    }
    for part in [names, cutab, files, pctab] {
        t.extend_from_slice(&part);
    }
    // (entry, _func) and the end, then the _func.
    for w in [0u32, 16, 0x20, 0] {
        t.extend_from_slice(&w.to_le_bytes());
    }
    let mut func = vec![0u32, 0, 0, 0, 0, pcfile, pcln, 3, 0];
    if go120 {
        func.push(9);
    }
    // funcID, flag, pad, nfuncdata; the pcdata; the funcdata (the tree's offset last).
    func.push(u32::from_le_bytes([0, 0, 0, 4]));
    func.extend([0, 0, inl, u32::MAX, u32::MAX, u32::MAX, 0]);
    t.extend(func.iter().flat_map(|w| w.to_le_bytes()));
    let call: Vec<i32> = if go120 {
        vec![0, 11, 8, 18]
    } else {
        vec![0xffff, 1, 20, 11, 8]
    };
    let tree = call.iter().flat_map(|w| w.to_le_bytes()).collect();
    (t, tree)
}

fn table(go120: bool) -> Table {
    let (t, tree) = lined(go120);
    let h = header(&t).unwrap();
    let len = t.len();
    let image = Arc::new(Pieces(vec![(TABLE, t), (GOFUNC, tree)]));
    Table::new(image, TABLE, len, h, 0x40_0000, Some(GOFUNC))
}

fn place(function: &str, file: &str, line: u32) -> Place {
    Place {
        function: function.into(),
        file: Some(file.into()),
        line: Some(line),
    }
}

#[test]
fn a_pc_is_placed_with_its_inlined_calls_in_either_layout() {
    for go120 in [false, true] {
        let t = table(go120);
        assert_eq!(
            t.places(0x40_0004),
            [place("main.outer", "/src/a.go", 10)],
            "{go120}"
        );
        assert_eq!(
            t.places(0x40_0018),
            [
                place("main.inl", "/src/b.go", 20),
                place("main.outer", "/src/a.go", 10)
            ],
            "{go120}"
        );
        // Outside every function: nothing.
        assert_eq!(t.places(0x40_0020), [], "{go120}");
        assert_eq!(t.places(0x3f_ffff), [], "{go120}");
    }
}

#[test]
fn a_table_cut_short_or_garbled_places_what_holds_together_and_never_panics() {
    for go120 in [false, true] {
        let (whole, tree) = lined(go120);
        let h = header(&whole).unwrap();
        for len in 0..whole.len() {
            let image = Arc::new(Pieces(vec![
                (TABLE, whole[..len].to_vec()),
                (GOFUNC, tree.clone()),
            ]));
            let t = Table::new(image, TABLE, len, h, 0x40_0000, Some(GOFUNC));
            let _ = t.places(0x40_0018);
        }
        for i in 0..whole.len() {
            for b in [0u8, 0x7f, 0x80, 0xff] {
                let mut bad = whole.clone();
                bad[i] = b;
                let image = Arc::new(Pieces(vec![(TABLE, bad.clone()), (GOFUNC, tree.clone())]));
                let t = Table::new(image, TABLE, bad.len(), h, 0x40_0000, Some(GOFUNC));
                let _ = t.places(0x40_0018);
            }
        }
        // Without the module data the function is still placed (at the innermost position,
        // as Go places it), without its inlined calls.
        let image = Arc::new(Pieces(vec![(TABLE, whole.clone())]));
        let t = Table::new(image, TABLE, whole.len(), h, 0x40_0000, None);
        assert_eq!(t.places(0x40_0018), [place("main.outer", "/src/b.go", 20)]);
    }
}
