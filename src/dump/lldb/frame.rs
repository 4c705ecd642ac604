//! One lldb frame: `frame #K: ADDR [MODULE[`SYMBOL[(ARGS)][ + OFF][ at FILE:LINE[:COL]]]]`,
//! with `[opt]` / `[artificial]` markers after it and `OUTER [inlined] INNER` for inlined code.
//!
//! lldb prints arguments glued to the name (`main(argc=2, argv=0x7ffd)`), where a C++
//! signature (`wait(std::unique_lock<std::mutex>&)`) looks the same: a final group of
//! `name=value` items is an argument list, anything else part of the name. Names come out the
//! way gdb prints them (what the rules match): Rust legacy escapes decoded (`$LT$` → `<`), no
//! made-up `___lldb_unnamed_symbol` names.

use crate::dump::native::function_name;
use crate::dump::skeleton::frame::{final_group, split_file_line, split_location, split_vars};
use crate::dump::skeleton::intern::{share, share_cow};
use crate::dump::skeleton::text::{find, rfind, trim, trim_end, trim_start};
use crate::model::Frame;

/// `[* ]frame #K: ...` → the frame; `None` when the line is not a frame line.
pub fn parse_frame_line(line: &str) -> Option<Frame> {
    let t = trim_start(line);
    let t = t.strip_prefix("* ").map_or(t, trim_start);
    let t = t.strip_prefix("frame #")?;
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let index = t[..digits].parse().ok()?;
    let rest = t[digits..].strip_prefix(':')?;
    Some(parse_frame_text(index, rest))
}

/// The text after `frame #K:`.
fn parse_frame_text(index: u32, text: &str) -> Frame {
    let mut frame = Frame {
        index: Some(index),
        ..Frame::default()
    };
    let mut rest = trim(text);
    if let Some(hex) = rest.strip_prefix("0x") {
        let digits = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
        frame.address = u64::from_str_radix(&hex[..digits], 16).ok();
        rest = trim_start(&hex[digits..]);
    }
    let Some((module, symbol)) = rest.split_once('`') else {
        // `ADDR module` (no symbol), possibly `+ offset`.
        let module = strip_offset(rest);
        frame.module = (!module.is_empty()).then(|| share(module));
        return frame;
    };
    frame.module = (!module.is_empty()).then(|| share(module));
    let mut symbol = trim_end(symbol);
    while let Some(s) = [" [opt]", " [artificial]"]
        .iter()
        .find_map(|m| symbol.strip_suffix(m))
    {
        symbol = trim_end(s);
    }
    let (head, tail) = split_location(symbol);
    if let Some(loc) = tail.strip_prefix("at ") {
        let loc = trim(loc);
        match split_file_line(loc) {
            Some((file, line)) => {
                frame.file = Some(share(file));
                frame.line = Some(line);
            }
            None => frame.file = Some(share(loc)),
        }
    }
    let mut head = strip_offset(head);
    if let Some(p) = find(head, " [inlined] ") {
        head = trim(&head[p + " [inlined] ".len()..]);
        frame.inlined = true;
    }
    let (name, args) = split_args(head);
    if let Some(args) = args {
        frame.args = split_vars(args).into();
    }
    if !name.is_empty() && !name.starts_with("___lldb_unnamed_symbol") {
        frame.function = Some(share_cow(function_name(name)));
    }
    frame
}

/// `name + 232` → `name`.
fn strip_offset(s: &str) -> &str {
    let s = trim(s);
    match rfind(s, " + ") {
        Some(p) if p + 3 < s.len() && s.as_bytes()[p + 3..].iter().all(u8::is_ascii_digit) => {
            trim_end(&s[..p])
        }
        _ => s,
    }
}

/// `f(a=1, b=2)` → (`f`, `a=1, b=2`); `f(int)`, `f()` and `f` stay names. A `const` after
/// the arguments belongs to the signature gdb would not print with them.
fn split_args(head: &str) -> (&str, Option<&str>) {
    let bare = head.strip_suffix(" const").unwrap_or(head);
    if let Some(open) = final_group(bare).filter(|&p| p > 0) {
        let inner = &bare[open + 1..bare.len() - 1];
        if names_a_value(inner) {
            return (trim_end(&bare[..open]), Some(inner));
        }
    }
    (head, None)
}

/// Whether an argument group starts with `name=` (a value list, not a C++ parameter list).
fn names_a_value(inner: &str) -> bool {
    let inner = trim_start(inner);
    let name = inner
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
        .count();
    let name = if name == 0 && inner.starts_with("(null)") {
        "(null)".len()
    } else {
        name
    };
    name > 0 && inner[name..].starts_with('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Frame {
        parse_frame_line(text).unwrap()
    }

    #[test]
    fn symbol_args_and_location() {
        let f = frame("  * frame #0: 0x0000007f90d1e310 libpthread.so.0`__GI___pthread_timedjoin_ex(threadid=547876274640, thread_return=0x0000000000000000, block=false) at pthread_join_common.c:89");
        assert_eq!(f.index, Some(0));
        assert_eq!(f.address, Some(0x7f90d1e310));
        assert_eq!(f.module.as_deref(), Some("libpthread.so.0"));
        assert_eq!(f.function.as_deref(), Some("__GI___pthread_timedjoin_ex"));
        assert_eq!(f.arg("threadid"), Some("547876274640"));
        assert_eq!(
            (f.file.as_deref(), f.line),
            (Some("pthread_join_common.c"), Some(89))
        );
        let f = frame("    frame #2: 0x0000000100123400 app`worker(arg=<unavailable>) at worker.cpp:12:7 [opt]");
        assert_eq!((f.function.as_deref(), f.line), (Some("worker"), Some(12)));
        assert_eq!(f.arg("arg"), Some("<unavailable>"));
    }

    #[test]
    fn offsets_signatures_and_bare_modules() {
        let f = frame("    frame #1: 0x0000007f90c3e128 libstdc++.so.6`std::thread::join() + 32");
        assert_eq!(f.function.as_deref(), Some("std::thread::join()"));
        assert!(f.args.is_empty());
        let f = frame("    frame #1: 0x1 libLLVM.so`llvm::InstCombiner::visitAllocSite(llvm::Instruction&) + 3484");
        assert_eq!(
            f.function.as_deref(),
            Some("llvm::InstCombiner::visitAllocSite(llvm::Instruction&)")
        );
        let f = frame("    frame #4: 0x0000007f90e1c69c libgstreamer-1.0.so.0");
        assert_eq!(
            (f.function, f.module.as_deref()),
            (None, Some("libgstreamer-1.0.so.0"))
        );
        let f = frame("    frame #3: 0x0000007f8f3a42e8 libgstnv.so`___lldb_unnamed_symbol133$$libgstnv.so + 232");
        assert_eq!(f.function, None);
        let f = frame("    frame #41: 0x1 a`std::thread::_Invoker<std::tuple<F> >::_M_invoke<0>(this=0x0, (null)=_Index_tuple<0> @ 0x7f) const at thread:234");
        assert_eq!(
            f.function.as_deref(),
            Some("std::thread::_Invoker<std::tuple<F> >::_M_invoke<0>")
        );
        assert_eq!(f.arg("this"), Some("0x0"));
    }

    #[test]
    fn inlined_frames_and_signal_trampolines() {
        let f = frame(
            "    frame #1: 0x00007f94a23974c3 libstd.so`park [inlined] wait at condvar.rs:69:16",
        );
        assert!(f.inlined);
        assert_eq!((f.function.as_deref(), f.line), (Some("wait"), Some(69)));
        // The trampoline is named as printed; the rules make it the signal frame.
        let f = frame("    frame #5: 0x00007ffff7842520 libc.so.6`__restore_rt");
        assert_eq!(f.function.as_deref(), Some("__restore_rt"));
    }
}
