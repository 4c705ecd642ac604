//! Fuzz target `dump_message`: see `common.rs` (TARGETS) for what it does with an input.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::run("dump_message", data);
});
