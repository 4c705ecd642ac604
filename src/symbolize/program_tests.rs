//! The program file's placement against a dump, on this test binary (a position-independent
//! executable): its bias inferred from frames' pcs, and files that do not fit refused.

use super::{key, majority, Program};
use crate::model::{Frame, Text, Thread};
use std::collections::HashMap;

/// A bias a loader could have chosen for a position-independent executable.
const BIAS: u64 = 0x5555_5555_4000;

/// This test binary, and three of its functions large enough to hold a call: name, start, size.
fn this_binary() -> (Program, Vec<(String, u64, u64)>) {
    let exe = std::env::current_exe().unwrap();
    let program = Program::open(&exe).unwrap();
    assert!(program.movable, "a test binary is position-independent");
    let mut picked: Vec<(String, u64, u64)> = (program.symbols.functions())
        .map(|(start, size, name)| (name, start, size))
        .filter(|(name, _, size)| *size >= 64 && *size < 0x800 && !name.contains('<'))
        .filter(|(name, start, _)| program.by_name.get(&key(name)).map(|a| a.0) == Some(*start))
        .take(3)
        .collect();
    picked.dedup_by(|a, b| key(&a.0) == key(&b.0));
    assert_eq!(picked.len(), 3, "functions to place frames in");
    (program, picked)
}

fn frame(function: &str, address: Option<u64>) -> Frame {
    Frame {
        function: Some(Text::from(function)),
        address,
        ..Frame::default()
    }
}

fn thread(frames: Vec<Frame>) -> Vec<Thread> {
    vec![Thread {
        frames,
        ..Thread::default()
    }]
}

#[test]
fn the_bias_of_a_position_independent_file_is_where_the_frames_pcs_place_its_functions() {
    let (program, f) = this_binary();
    // gdb's frames: the innermost at its pc, callers at return addresses, one without a pc.
    let frames = vec![
        frame(&f[0].0, Some(BIAS + f[0].1 + 8)),
        frame(&f[1].0, Some(BIAS + f[1].1 + f[1].2)),
        frame(&f[2].0, None),
    ];
    assert_eq!(program.place(&thread(frames)), Ok(BIAS));
    // The same functions at pcs in one another's code: another build.
    let frames = vec![
        frame(&f[0].0, Some(BIAS + f[1].1 + 8)),
        frame(&f[1].0, Some(BIAS + f[2].1 + 8)),
        frame(&f[2].0, Some(BIAS + f[0].1 + 8)),
    ];
    let why = program.place(&thread(frames)).unwrap_err();
    assert!(
        why.contains("other functions of it than the dump names"),
        "{why}"
    );
    // No pc anywhere: a position-independent file cannot be placed.
    let why = program
        .place(&thread(vec![frame(&f[0].0, None)]))
        .unwrap_err();
    assert!(why.contains("where it was loaded is not known"), "{why}");
    // Go's offsets: one past its function's end, or a function it does not have.
    let mut past = frame(&f[0].0, Some(BIAS + f[0].1 + 8));
    past.pc_offset = Some(f[0].2 + 1);
    let why = program.place(&thread(vec![past])).unwrap_err();
    assert!(why.contains("lies past that function's end"), "{why}");
    let mut absent = frame("main.nowhere", None);
    absent.pc_offset = Some(4);
    let why = program.place(&thread(vec![absent])).unwrap_err();
    assert!(why.contains("no function main.nowhere"), "{why}");
    // A dump naming none of its functions.
    let why = program.place(&thread(vec![frame("elsewhere", Some(BIAS))]));
    assert!(why.unwrap_err().contains("none of the functions"));
}

#[test]
fn the_bias_is_the_page_most_frames_give() {
    // A pc more than a page into its function votes a page off; the others outvote it.
    let votes = HashMap::from([(BIAS, 3), (BIAS + 0x1000, 1)]);
    assert_eq!(majority(&votes), Some(BIAS));
    assert_eq!(majority(&HashMap::new()), None);
}

#[test]
fn names_compare_without_parameters_or_go_type_arguments() {
    assert_eq!(key("ns::f(int) const"), "ns::f");
    assert_eq!(key("main.Map[go.shape.int_0]"), "main.Map[...]");
    assert_eq!(key("main.Map[...]"), "main.Map[...]");
    assert_eq!(key("sync.(*Mutex).Lock"), "sync.(*Mutex).Lock");
}
