//! The lldb transcript on the shapes FORMATS.md section 2 lists.

use super::*;

fn parse(text: &str) -> Snapshot {
    Lldb.parse(text.as_bytes(), "test")
}

#[test]
fn bt_all_with_selection_markers_names_and_queues() {
    let s = parse(
        "(lldb) bt all\n\
         * thread #1, name = 'app', queue = 'com.apple.main-thread', stop reason = signal SIGSTOP\n\
         \x20 * frame #0: 0x00000001000a1b2c libsystem_kernel.dylib`__psynch_mutexwait + 8\n\
         \x20   frame #1: 0x0000000100123456 app`Cache::get(this=0x0000600001) at cache.cpp:41:7\n\
         \x20 thread #2, name = 'it's, odd'\n\
         \x20   frame #0: 0x0000000100123400 app`worker(arg=<unavailable>) at worker.cpp:12 [opt]\n",
    );
    assert!(!s.complete, "nothing after `bt all`: it may be cut");
    assert_eq!(s.producer, "lldb");
    assert_eq!(s.threads.len(), 2);
    let t = &s.threads[0];
    assert!(t.current);
    assert_eq!(
        (t.debugger_id.as_deref(), t.name.as_deref(), t.tid),
        (Some("1"), Some("app"), None)
    );
    assert_eq!(t.frames[1].function.as_deref(), Some("Cache::get"));
    assert_eq!(t.frames[1].arg("this"), Some("0x0000600001"));
    assert_eq!(s.threads[1].name.as_deref(), Some("it's, odd"));
    assert!(!s.threads[1].current);
}

#[test]
fn old_headers_carry_the_tid() {
    let s = parse(
        "  thread #12: tid = 0x1ba0d5, 0x00007fff8c2e1a1a libsystem_kernel.dylib`__psynch_mutexwait + 10, queue = 'q'\n\
         \x20   frame #0: 0x00007fff8c2e1a1a libsystem_kernel.dylib`__psynch_mutexwait + 10\n\
         \x20 thread #13: tid = 4242, name = 'w'\n",
    );
    assert_eq!(s.threads[0].tid, Some(0x1ba0d5));
    assert_eq!(s.threads[1].tid, Some(4242));
    assert_eq!(s.threads[1].name.as_deref(), Some("w"));
    assert!(
        !s.complete,
        "no thread #1 and no `bt all`: maybe not every thread"
    );
}

#[test]
fn hard_wrapped_lines_are_joined_without_a_space() {
    // Wrapped at 60 columns, mid-token; the short lines in between are not wrapped.
    let wrap = |s: &str| -> String {
        let mut out = String::new();
        for line in s.lines() {
            let chars: Vec<char> = line.chars().collect();
            for chunk in chars.chunks(60) {
                out.extend(chunk);
                out.push('\n');
            }
        }
        out
    };
    let text = wrap(
        "* thread #1, name = 'seek', stop reason = signal SIGSTOP\n\
         \x20 * frame #0: 0x0000007f90d1e310 libpthread.so.0`__GI___pthread_timedjoin_ex(threadid=547876274640, abstime=0x0000000000000000, block=false) at pthread_join_common.c:89\n\
         \x20   frame #1: 0x0000007f90c3e128 libstdc++.so.6`std::thread::join() + 32\n\
         \x20   frame #2: 0x0000005564228638 a`std::thread::_State_impl<std::tuple<main(int, char**)::<lambda()> > > >::_M_run(this=0x000000558c276af0) const at thread:186\n\
         Process 1 stopped\n",
    );
    let s = parse(&text);
    let f = &s.threads[0].frames;
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].arg("abstime"), Some("0x0000000000000000"));
    assert_eq!(f[0].line, Some(89));
    assert_eq!(f[1].function.as_deref(), Some("std::thread::join()"));
    assert_eq!(
        f[2].function.as_deref(),
        Some("std::thread::_State_impl<std::tuple<main(int, char**)::<lambda()> > > >::_M_run")
    );
    assert_eq!(f[2].line, Some(186));
}

#[test]
fn frames_without_a_header_and_garbage() {
    let s = parse("    frame #0: 0x1 a.out`main + 4\n    frame #x: nothing\n");
    assert_eq!(s.threads.len(), 1);
    assert_eq!(s.threads[0].frames.len(), 1);
    assert!(!s.complete);
    assert_eq!(s.diagnostics.len(), 1);
}

#[test]
fn sniffs_its_own_lines_only() {
    assert!(Lldb.sniff("* thread #1, stop reason = signal SIGSTOP\n"));
    assert!(Lldb.sniff("    frame #3: 0x1 a`f\n"));
    assert!(!Lldb.sniff("thread 'main' panicked at src/main.rs:1:1\n#3  0x1 in f ()\n"));
    assert!(!Lldb.sniff("[Switching to thread 1 (Thread 0x7f (LWP 4))]\n"));
}

#[test]
fn a_big_dump_read_in_pieces_is_the_dump_read_whole() {
    use crate::dump::skeleton::pieces::check::{assert_same, repeated};
    // Every recording, the hard-wrapped one too.
    let text = repeated("lldb", ".txt", |_, r| format!("{r}\n\n"));
    let cut = super::in_pieces(text.as_bytes(), "big", &|_| {}).expect("read in pieces");
    assert_same(&cut, &super::whole(text.as_bytes(), "big"));
}
