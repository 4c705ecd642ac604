//! Fuzz target `unwind_symbolize`: see `common.rs` (TARGETS) for what it does with an input.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::run("unwind_symbolize", data);
});
