//! The transcript parser on the shapes FORMATS.md section 1 lists, each in a few lines.

use super::Gdb;
use crate::dump::DumpFormat;
use crate::model::{Printed, Snapshot};

fn parse(text: &str) -> Snapshot {
    Gdb.parse(text.as_bytes(), "test")
}

#[test]
fn thread_apply_all_bt_with_headers_names_and_lwps() {
    let s = parse(
        "(gdb) thread apply all bt\n\n\
         Thread 2 (Thread 0x7f11aa7fc640 (LWP 4243) \"worker-1\"):\n\
         #0  0x00007f11 in __lll_lock_wait () from /lib/libc.so.6\n\
         #1  0x00007f12 in pthread_mutex_lock (mutex=0x601040 <m>) from /lib/libc.so.6\n\n\
         Thread 1 (Thread 0x7f11aa7fd740 (LWP 4242) \"srv\"):\n\
         #0  main () at srv.c:9\n",
    );
    assert_eq!(s.threads.len(), 2);
    assert!(s.complete);
    let t = &s.threads[0];
    assert_eq!(
        (t.tid, t.name.as_deref(), t.debugger_id.as_deref()),
        (Some(4243), Some("worker-1"), Some("2"))
    );
    assert_eq!(t.pthread, Some(0x7f11aa7fc640));
    assert_eq!(t.frames.len(), 2);
    assert_eq!(t.frames[1].arg("mutex"), Some("0x601040 <m>"));
}

#[test]
fn info_threads_merges_with_later_bts_and_marks_the_current_thread() {
    let s = parse(
        "(gdb) info threads\n\
         \x20 Id   Target Id                                   Frame \n\
         * 1    Thread 0x174e3c0 (LWP 576483) \"km\"          0x000000000046a6c0 in __lll_lock_wait ()\n\
         \x20 2    Thread 0x7f55480e4640 (LWP 576487) \"vcpu-0\" 0x00000000004f3cfa in __futex_abstimed_wait_common ()\n\
         (gdb) bt\n\
         #0  0x000000000046a6c0 in __lll_lock_wait ()\n\
         #1  0x000000000046e962 in pthread_mutex_lock ()\n",
    );
    assert_eq!(s.threads.len(), 2);
    assert!(!s.complete, "thread 2 has only its `info threads` row");
    assert_eq!(
        s.threads[0].frames.len(),
        2,
        "the bt belongs to the selected thread 1"
    );
    assert!(!s.threads[0].partial);
    assert!(
        s.threads[1].partial,
        "thread 2 is only known from its info threads row"
    );
}

#[test]
fn a_bt_whose_frame_0_disagrees_with_the_selected_thread_is_not_pinned_on_it() {
    let s = parse(
        "  Id   Target Id                       Frame\n\
         * 1    Thread 25.25 (main)  __pthread_clockjoin_ex (threadid=1) at j.c:145\n\
         \x20 3    Thread 25.43 (w)  0x0000000070000002 in syscall_traced ()\n\
         (rr) bt\n\
         #0  0x0000000070000002 in syscall_traced ()\n\
         #1  0x1 in f () at f.c:1\n",
    );
    assert_eq!(s.threads.len(), 3);
    let stray = &s.threads[2];
    assert_eq!((stray.tid, stray.frames.len()), (None, 2));
    assert_eq!(s.threads[0].frames.len(), 1, "thread 1 keeps its own frame");
    assert!(s.diagnostics[0]
        .message
        .contains("does not say whose stack it is"));
    assert_eq!(s.producer, "rr");
}

#[test]
fn a_thread_switch_then_bt_belongs_to_the_switched_thread() {
    let s = parse(
        "(rr) thread 3\n[Switching to thread 3 (Thread 25.43)]\n#0  0x0000000070000002 in syscall_traced ()\n\
         (rr) bt\n#0  0x0000000070000002 in syscall_traced ()\n#1  0x1 in f () at f.c:1\n",
    );
    assert_eq!(s.threads.len(), 1);
    assert_eq!(
        (s.threads[0].tid, s.threads[0].process),
        (Some(43), Some(25))
    );
    assert_eq!(
        s.threads[0].frames.len(),
        2,
        "the longer bt replaces the switch's frame line"
    );
}

#[test]
fn stop_banner_and_switch_line_name_one_thread() {
    let s = parse(
        "Thread 5 \"qemu\" received signal SIGUSR1, User defined signal 1.\n\nsome prose\n\n\
         [Switching to Thread 0x7fffe6e82700 (LWP 151973)]\n(gdb) bt\n#0  0x1 in __lll_lock_wait ()\n",
    );
    assert_eq!(s.threads.len(), 1);
    let t = &s.threads[0];
    assert_eq!(
        (t.tid, t.name.as_deref(), t.debugger_id.as_deref()),
        (Some(151973), Some("qemu"), Some("5"))
    );
    assert!(!s.complete, "a lone bt does not show every thread");
}

#[test]
fn wrapped_frames_glued_prompts_and_doubled_pastes() {
    let s = parse(
        "(gdb) thread apply all bt\n\nThread 18 (Thread 0x6baf6460 (LWP 1047)):\n\
         #0  0x76e42780 in __lll_lock_wait (futex=futex@entry=0x2b04c18, \n    private=<optimized out>)\n    at lowlevellock.c:46\n\
         #1  0x001f4a92 in Chain::have_block(crypto::hash const&) const\n    ()(gdb) thread apply all bt\n\n\
         Thread 18 (Thread 0x6baf6460 (LWP 1047)):\n#0  0x76e42780 in __lll_lock_wait (futex=0x2b04c18, private=0) at lowlevellock.c:46\n",
    );
    assert_eq!(s.threads.len(), 1);
    let f = &s.threads[0].frames;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].arg("private"), Some("<optimized out>"));
    assert_eq!(f[0].line, Some(46));
    assert_eq!(
        f[1].function.as_deref(),
        Some("Chain::have_block(crypto::hash const&) const")
    );
    assert!(!s.complete, "thread 1 is missing: the dump is cut");
    assert!(s
        .diagnostics
        .iter()
        .any(|d| d.message.contains("looks cut")));
}

#[test]
fn crlf_log_prefixes_pager_residue_and_source_echoes() {
    let text = "[10:00:01] Thread 1 (Thread 0x7f (LWP 7) \"a\"):\r\n\
                [10:00:01] #0  0x1 in poll (fds=0x1, nfds=1, t=--Type <RET> for more, q to quit, c to continue without paging--c\r\n\
                -1) at poll.c:29\r\n\
                [10:00:02] 29\t../sysdeps/poll.c: No such file or directory.\r\n\
                [10:00:02] #1  0x2 in serve (s=0x5) at srv.c:40\r\n";
    let s = parse(text);
    assert_eq!(s.threads.len(), 1);
    let f = &s.threads[0].frames;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].arg("t"), Some("-1"));
    assert_eq!(f[1].file.as_deref(), Some("srv.c"));
}

#[test]
fn bt_full_locals_and_printed_mutex_owners() {
    let s = parse(
        "Thread 1 (Thread 0x7f (LWP 7) \"a\"):\n\
         #0  0x1 in ___pthread_mutex_lock (mutex=0x5555 <lock_b>) at m.c:93\n\
         No locals.\n\
         #1  0x2 in Account::transfer (this=0x10) at a.cpp:20\n\
         \x20       guard = {_M_device = @0x5556}\n\
         \x20       big = {a = 1,\n\
         \x20         b = {c = 2}}\n\
         $1 = {__data = {__lock = 2, __count = 0, __owner = 8, __nusers = 1}}\n",
    );
    let f = &s.threads[0].frames[1];
    assert_eq!(f.locals.len(), 2);
    assert_eq!(&*f.locals[0].value, "{_M_device = @0x5556}");
    assert_eq!(&*f.locals[1].value, "{a = 1, b = {c = 2}}");
    // A printed value is kept, as printed, with the frame shown before it; the rules read it.
    assert_eq!(
        f.printed,
        vec![Printed {
            line: 8,
            text: "$1 = {__data = {__lock = 2, __count = 0, __owner = 8, __nusers = 1}}".into(),
        }]
    );
    assert!(s.evidence.is_empty());
    // One printed before any frame has nothing to belong to.
    let s = parse("$1 = 5\nThread 1 (Thread 0x7f (LWP 7) \"a\"):\n#0  f () at m.c:3\n");
    assert!(s.threads[0].frames[0].printed.is_empty());
}

#[test]
fn a_lone_bt_without_header_is_one_unidentified_thread() {
    let s = parse("#0  0x1 in __lll_lock_wait () at /lib64/libpthread.so.0\n#3  0x2 in f () at /lib64/libc.so.6\n#12 0x3 in g (x=1) at g.c:3\n");
    assert_eq!(s.threads.len(), 1);
    assert_eq!(s.threads[0].frames.len(), 3, "frame numbers may skip");
    assert_eq!(
        s.threads[0].frames[0].module.as_deref(),
        Some("/lib64/libpthread.so.0")
    );
}

#[test]
fn lines_glued_by_a_lost_newline_are_split() {
    let s = parse(
        "Thread 1 (LWP 5):\n#0  0x1 in read () from /lib/libc.so.6#1  0x2 in main () at m.c:3\n",
    );
    assert_eq!(s.threads[0].frames.len(), 2);
    assert_eq!(s.threads[0].frames[1].function.as_deref(), Some("main"));
}

#[test]
fn rr_is_recognised_by_its_syscall_hook_frames() {
    let s = parse("#0  0x70000002 in _syscall_hook_trampoline ()\n#1  0x2 in main ()\n");
    assert_eq!(s.producer, "rr");
    // A `y` after a multi-byte character, and names that only come close.
    let s = parse("#0  0x1 in éy_syscall_hoo ()\n#1  0x2 in syscallhook ()\n");
    assert_eq!(s.producer, "gdb");
}

#[test]
fn a_big_dump_read_in_pieces_is_the_dump_read_whole() {
    use crate::dump::skeleton::pieces::check::{assert_same, repeated};
    // Every `bt full` recording past two pieces' worth: every other copy with its LWPs
    // renumbered (new threads), the others naming the threads of the first again (a later
    // piece's thread is an earlier piece's).
    let text = repeated("gdb", ".btfull.txt", |copy, r| match copy % 2 {
        0 => format!("{}\n", r.replace("(LWP ", &format!("(LWP {copy}"))),
        _ => format!("{r}\n"),
    });
    let cut = super::pieces::parse(text.as_bytes(), "big", &|_| {}).expect("read in pieces");
    assert_same(&cut, &super::whole(text.as_bytes(), "big"));
    // A piece that leans on a thread selected before it is not read alone.
    let leaning = text.replace("\nThread 1 (", "\n(gdb) thread 1\n\nThread 1 (");
    assert!(super::pieces::parse(leaning.as_bytes(), "big", &|_| {}).is_none());
}
