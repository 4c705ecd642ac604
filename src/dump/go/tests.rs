//! The goroutine dump parser on small inputs: headers, frames, preambles, noise, prefixes.

use super::*;

fn parse(text: &str) -> Snapshot {
    Go.parse(text.as_bytes(), "t")
}

const DEADLOCK: &str = "\
$ ./bank
fatal error: all goroutines are asleep - deadlock!

goroutine 1 [semacquire]:
sync.runtime_Semacquire(0xc000012098?)
\t/usr/lib/go/src/runtime/sema.go:62 +0x25
sync.(*WaitGroup).Wait(0xc000012090?)
\t/usr/lib/go/src/sync/waitgroup.go:116 +0x48
main.main()
\t/src/bank/main.go:40 +0x8d

goroutine 6 [sync.Mutex.Lock, 2 minutes]:
sync.runtime_SemacquireMutex(0xc0000120a4?, 0x0?, 0x1?)
\t/usr/lib/go/src/runtime/sema.go:77 +0x25
sync.(*Mutex).lockSlow(0xc0000120a0)
\t/usr/lib/go/src/sync/mutex.go:171 +0x15d
sync.(*Mutex).Lock(...)
\t/usr/lib/go/src/sync/mutex.go:90
main.transfer(0xc000012090, {0xc0000120a0, 0x2, 0x2})
\t/src/bank/main.go:21 +0x6f
created by main.main in goroutine 1
\t/src/bank/main.go:36 +0x7a
exit status 2
";

#[test]
fn goroutines_frames_and_the_runtime_verdict() {
    let s = parse(DEADLOCK);
    assert_eq!(s.producer, "go");
    assert!(s.complete);
    assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    assert_eq!(s.threads.len(), 2);
    let g = &s.threads[1];
    assert_eq!(g.debugger_id.as_deref(), Some("6"));
    assert_eq!(g.id_kind, IdKind::Goroutine);
    assert_eq!(g.tid, None);
    assert_eq!(g.label(), "goroutine 6");
    assert_eq!(g.status.as_deref(), Some("sync.Mutex.Lock"));
    assert_eq!(g.waited_minutes, Some(2));
    assert_eq!(
        g.notes,
        vec!["created by main.main in goroutine 1 at /src/bank/main.go:36"]
    );
    assert_eq!(g.frames.len(), 4);
    let f = &g.frames[1];
    assert_eq!(f.function.as_deref(), Some("sync.(*Mutex).lockSlow"));
    assert_eq!(f.arg("#0"), Some("0xc0000120a0"));
    assert_eq!(
        (f.file.as_deref(), f.line),
        (Some("/usr/lib/go/src/sync/mutex.go"), Some(171))
    );
    assert!(!f.inlined);
    assert!(g.frames[2].inlined);
    assert_eq!(g.frames[3].arg("#1"), Some("{0xc0000120a0, 0x2, 0x2}"));
    assert_eq!(g.frames[0].arg("#2"), Some("0x1?"));
    assert_eq!(s.claims.len(), 1);
    let c = &s.claims[0];
    assert_eq!(c.text, "fatal error: all goroutines are asleep - deadlock!");
    assert!(c.deadlock && c.threads.is_empty());
    assert_eq!(c.line, Some(2));
}

#[test]
fn a_panic_names_its_goroutine_and_alone_is_not_the_whole_process() {
    let s = parse(
        "panic: runtime error: index out of range [5] with length 3\n\n\
         goroutine 1 [running]:\nmain.main()\n\t/tmp/x.go:8 +0x1d\nexit status 2\n",
    );
    assert_eq!(s.claims[0].threads, vec!["1"]);
    assert!(!s.claims[0].deadlock);
    assert!(!s.complete);
    assert!(s.diagnostics[0].message.contains("GOTRACEBACK=all"));
}

#[test]
fn sigquit_dumps_with_registers_and_system_frames() {
    let s = parse(
        "^\\SIGQUIT: quit\nPC=0x47664e m=0 sigcode=128\n\n\
         goroutine 0 gp=0x6e6020 m=0 mp=0x6e6ec0 [idle]:\n\
         runtime.futex(0x1, 0x2)\n\t/go/src/runtime/sys_linux_amd64.s:557 +0x21 fp=0x7ffc1 sp=0x7ffc0 pc=0x46fd81\n\n\
         goroutine 2 [force gc (idle), 81 minutes]:\n\
         runtime.gopark(0x0?, 0x0?)\n\t/go/src/runtime/proc.go:398 +0xce\n\
         runtime.goexit({})\n\t/go/src/runtime/asm_amd64.s:1650 +0x1\n\
         created by runtime.init.6 in goroutine 1\n\t/go/src/runtime/proc.go:310 +0x1a\n\n\
         rax    0xca\nrip    0x45e461\nrflags 0x286\ngs     0x0 \n",
    );
    assert!(s.complete);
    assert_eq!(s.threads.len(), 2);
    assert_eq!(s.threads[0].notes, vec!["gp=0x6e6020 m=0 mp=0x6e6ec0"]);
    assert_eq!(s.threads[0].frames[0].address, Some(0x46fd81));
    assert_eq!(s.threads[1].status.as_deref(), Some("force gc (idle)"));
    assert_eq!(s.threads[1].frames.len(), 2);
    assert_eq!(s.threads[1].frames[1].arg("#0"), Some("{}"));
}

#[test]
fn prefixes_quoting_and_indentation_are_stripped() {
    let body = "goroutine 1 [chan receive]:\nmain.main()\n\t/x/main.go:9 +0x2\n\n\
                goroutine 7 [select]:\nmain.loop(0xc000010000)\n\t/x/main.go:20 +0x3\n";
    for (prefix, indent) in [
        ("app_1    | ", ""),
        ("2024-05-01T10:00:0", ""),
        ("> ", ""),
        ("", "    "),
    ] {
        let text: String = body
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let l = l.replace('\t', "    ");
                let stamp = if prefix.ends_with(':') || prefix.ends_with("0") {
                    format!("{prefix}{i} ")
                } else {
                    prefix.to_string()
                };
                format!("{stamp}{indent}{l}\n")
            })
            .collect();
        let s = parse(&text);
        assert_eq!(s.threads.len(), 2, "{text}");
        assert_eq!(
            s.threads[1].frames[0].function.as_deref(),
            Some("main.loop"),
            "{text}"
        );
        assert_eq!(s.threads[1].frames[0].line, Some(20), "{text}");
    }
}

#[test]
fn elisions_unavailable_stacks_and_excerpts_are_partial() {
    let s = parse(
        "goroutine 5 [running]:\n\tgoroutine running on other thread; stack unavailable\n\
         created by main.main in goroutine 1\n\t/x.go:3 +0x1\n\n\
         goroutine 9 [chan send]:\nmain.f(...)\n\t/x.go:4\n...additional frames elided...\n",
    );
    assert!(s.threads.iter().all(|t| t.partial));
    assert!(!s.complete, "no goroutine 1, no preamble: an excerpt");
    let s = parse("main.worker(0x1)\n\t/x.go:4 +0x1\nmain.main()\n\t/x.go:9 +0x1\n");
    assert_eq!(s.threads.len(), 1);
    assert_eq!(s.threads[0].debugger_id, None);
    assert_eq!(s.threads[0].frames.len(), 2);
    assert!(!s.complete && !s.diagnostics.is_empty());
}

#[test]
fn the_runtime_stack_and_noise_belong_to_no_goroutine() {
    let s = parse(
        "fatal error: concurrent map writes\n\nruntime stack:\nruntime.throw({0x1, 0x2})\n\
         \t/go/src/runtime/panic.go:1077 +0x5d\n\n\
         goroutine 1 [running]:\nmain.main()\n\t/x.go:9 +0x1\n\
         ## annotation main.helper()\nlog: done (ok)\n\ngoroutine 2 [sleep]:\ntime.Sleep(0x3b9aca00)\n\
         \t/go/src/runtime/time.go:195 +0x125\n",
    );
    assert_eq!(s.threads.len(), 2);
    assert_eq!(s.threads[0].frames.len(), 1);
    assert_eq!(s.claims[0].threads, vec!["1"]);
    assert!(!s.claims[0].deadlock);
}

#[test]
fn nothing_readable_is_a_diagnostic() {
    let s = parse("hello\n");
    assert!(s.threads.is_empty() && !s.complete);
    assert_eq!(s.diagnostics.len(), 1);
    let s = parse("goroutine profile: total 3\n2 @ 0x43e8ae 0x4098a5\n");
    assert!(s.diagnostics[0].message.contains("debug=2"));
}

#[test]
fn sniffs_headers_and_not_other_dumps() {
    assert!(Go.sniff("x\ngoroutine 1 [running]:\n"));
    assert!(Go.sniff("svc | goroutine 1 gp=0xc0000061c0 m=nil [IO wait]:\n"));
    assert!(!Go.sniff("Thread 1 (Thread 0x7f (LWP 5)):\n#0  main () at x.c:1\n"));
    assert!(!Go.sniff("created by main.main in goroutine 1\n"));
}

#[test]
fn a_big_dump_read_in_pieces_is_the_dump_read_whole() {
    use crate::dump::skeleton::pieces::check::{assert_same, repeated};
    let text = repeated("go", ".txt", |_, r| format!("{r}\n\n"));
    let cut = in_pieces(text.as_bytes(), "big", &|_| {}).expect("read in pieces");
    assert_same(&cut, &whole(text.as_bytes(), "big"));
    // A prefix on every line is read whole.
    let prefixed: String = text.lines().map(|l| format!("svc_1 | {l}\n")).collect();
    assert!(in_pieces(prefixed.as_bytes(), "big", &|_| {}).is_none());
}
