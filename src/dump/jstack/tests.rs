//! The Java thread-dump parser on small invented dumps: identities, notes, owner evidence,
//! the JVM's deadlock report (matched by address when names repeat, or alone), noise.

use super::*;
use crate::model::{Claim, Evidence};

fn parse(text: &str) -> Snapshot {
    Jstack.parse(text.as_bytes(), "test")
}

fn owners(s: &Snapshot) -> Vec<(u64, u64)> {
    s.evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::LockOwner {
                address, owner_tid, ..
            } => Some((*address, *owner_tid)),
            _ => None,
        })
        .collect()
}

const ABBA: &str = "\
4242:
2024-05-01 10:00:00
Full thread dump OpenJDK 64-Bit Server VM (21.0.2+13 mixed mode, sharing):

Threads class SMR info:
_java_thread_list=0x0000600001c7cac0, length=2, elements={
0x000000013e00d800, 0x000000013e033200
}

\"worker\" #21 [4711] prio=5 os_prio=0 cpu=1.50ms elapsed=6.01s tid=0x00007f00c8001000 nid=4711 waiting for monitor entry  [0x00007f00b00fe000]
   java.lang.Thread.State: BLOCKED (on object monitor)
\tat com.example.Ledger.post(Ledger.java:42)
\t- waiting to lock <0x00000000e1234560> (a com.example.Account)
\t- locked <0x00000000e1234570> (a com.example.Account)
\tat java.lang.Thread.run(java.base@21.0.2/Thread.java:1583)

   Locked ownable synchronizers:
\t- <0x00000000e9999990> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)

\"worker\" #22 [4712] prio=5 os_prio=0 cpu=1.50ms elapsed=6.01s tid=0x00007f00c8002000 nid=4712 waiting for monitor entry  [0x00007f00b00ff000]
   java.lang.Thread.State: BLOCKED (on object monitor)
\tat com.example.Ledger.post(Ledger.java:42)
\t- waiting to lock <0x00000000e1234570> (a com.example.Account)
\t- locked <0x00000000e1234560> (a com.example.Account)

   Locked ownable synchronizers:
\t- None

\"VM Thread\" os_prio=0 cpu=1.20ms elapsed=2.49s tid=0x00007f30140afba0 nid=4700 runnable  

JNI global refs: 4, weak refs: 0


Found one Java-level deadlock:
=============================
\"worker\":
  waiting to lock monitor 0x0000600002788ea0 (object 0x00000000e1234570, a com.example.Account),
  which is held by \"worker\"

\"worker\":
  waiting to lock monitor 0x00006000027811e0 (object 0x00000000e1234560, a com.example.Account),
  which is held by \"worker\"

Java stack information for the threads listed above:
===================================================
\"worker\":
\tat com.example.Ledger.post(Ledger.java:42)
\t- waiting to lock <0x00000000e1234570> (a com.example.Account)
\"worker\":
\tat com.example.Ledger.post(Ledger.java:42)

Found 1 deadlock.
";

#[test]
fn threads_get_their_ids_status_frames_and_notes() {
    let s = parse(ABBA);
    assert_eq!(
        (s.producer.as_str(), s.pid, s.complete),
        ("jstack", Some(4242), true)
    );
    assert_eq!(s.threads.len(), 3, "the report's stacks add no threads");
    let w = &s.threads[0];
    assert_eq!((w.tid, w.debugger_id.as_deref()), (Some(4711), Some("21")));
    assert_eq!(w.id_kind, IdKind::Java);
    assert_eq!(w.status.as_deref(), Some("BLOCKED (on object monitor)"));
    assert_eq!(w.frames.len(), 2);
    assert_eq!(
        w.frames[0].notes,
        vec![
            "waiting to lock <0x00000000e1234560> (a com.example.Account)",
            "locked <0x00000000e1234570> (a com.example.Account)"
        ]
    );
    assert_eq!(
        w.notes,
        vec!["<0x00000000e9999990> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)"]
    );
    assert!(s.threads[1].notes.is_empty(), "`- None` is no synchronizer");
    let vm = &s.threads[2];
    assert_eq!((vm.tid, vm.debugger_id.as_deref()), (Some(4700), None));
    assert_eq!(vm.status.as_deref(), Some("runnable"));
}

#[test]
fn locked_monitors_and_synchronizers_are_owner_statements() {
    let s = parse(ABBA);
    assert_eq!(
        owners(&s),
        vec![(0xe1234570, 4711), (0xe9999990, 4711), (0xe1234560, 4712)]
    );
}

#[test]
fn the_report_is_a_claim_naming_threads_by_tid_matched_by_address() {
    let s = parse(ABBA);
    // Both entries are called "worker": the first waits for ...570, which is thread 4712.
    assert_eq!(
        s.claims,
        vec![Claim {
            text: "Found one Java-level deadlock".into(),
            threads: vec!["4712".into(), "4711".into()],
            deadlock: true,
            line: Some(34),
        }]
    );
}

#[test]
fn a_monitor_given_up_in_object_wait_is_not_owned() {
    let text = "\
\"waiter\" #3 prio=5 tid=0x1 nid=0x10 in Object.wait()  [0x0]
   java.lang.Thread.State: WAITING (on object monitor)
\tat java.lang.Object.wait(java.base@17/Native Method)
\t- waiting on <0x0000000000000abc> (a java.util.LinkedList)
\tat Q.take(Q.java:3)
\t- locked <0x0000000000000abc> (a java.util.LinkedList)
\t- locked <0x0000000000000def> (a Q)

\"old\" daemon prio=10 tid=0x08657000 nid=0x39bb in Object.wait() [0xccdad000..0xccdadfb0]
   java.lang.Thread.State: TIMED_WAITING (on object monitor)
\tat java.lang.Object.wait(Native Method)
\tat B.fetch(B.java:341)
\t- locked <0xd5004b78> (a B)
\tat C.run(C.java:1)
\t- locked <0xd5004b80> (a C)
";
    let s = parse(text);
    // JDK 6 printed no `waiting on`: the innermost monitor is the one waited on.
    assert_eq!(owners(&s), vec![(0xdef, 0x10), (0xd5004b80, 0x39bb)]);
    assert_eq!(s.threads[1].tid, Some(0x39bb));
    assert!(!s.complete, "no `Full thread dump` header, no end");
}

#[test]
fn crlf_visualvm_headers_and_identity_hashes() {
    let text = "\r\n2008-11-20 09:28:02\r\nFull thread dump Java HotSpot(TM) 64-Bit Server VM (11.0-b15 mixed mode):\r\n\r\n\"RMI TCP Connection(24)-192.18.126.254\" - Thread t@254\r\n   java.lang.Thread.State: RUNNABLE\r\n\tat java.net.SocketInputStream.socketRead0(Native Method)\r\n\t- locked java.io.BufferedInputStream@5284339c\r\n\r\n   Locked ownable synchronizers:\r\n\t- locked java.util.concurrent.locks.ReentrantLock$NonfairSync@7a29682f\r\n";
    assert!(Jstack.sniff(&String::from_utf8_lossy(text.as_bytes())));
    let s = parse(text);
    let t = &s.threads[0];
    assert_eq!(
        t.name.as_deref(),
        Some("RMI TCP Connection(24)-192.18.126.254")
    );
    assert_eq!((t.tid, t.debugger_id.as_deref()), (None, Some("254")));
    assert_eq!(t.status.as_deref(), Some("RUNNABLE"));
    assert_eq!(
        t.frames[0].notes,
        vec!["locked java.io.BufferedInputStream@5284339c"]
    );
    assert_eq!(
        t.notes,
        vec!["locked java.util.concurrent.locks.ReentrantLock$NonfairSync@7a29682f"]
    );
    assert!(owners(&s).is_empty(), "no tid to name as owner");
}

#[test]
fn a_report_alone_brings_its_threads_waits_and_owners() {
    let text = "
Found one Java-level deadlock:
=============================
\"a (x)\":
  waiting for ownable synchronizer 0x00000000000000a1, (a java.util.concurrent.locks.ReentrantLock$NonfairSync),
  which is held by \"b\"

\"b\":
  waiting to lock monitor 0x0000600002788ea0 (object 0x00000000000000b1, a java.lang.Object),
  which is held by \"a (x)\"

Java stack information for the threads listed above:
===================================================
\"a (x)\":
        at jdk.internal.misc.Unsafe.park(java.base@17.0.11/Native Method)
        - parking to wait for  <0x00000000000000a1> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)
        at java.util.concurrent.locks.LockSupport.park(java.base@17.0.11/LockSupport.java:211)
        at java.util.concurrent.locks.AbstractQueuedSynchronizer.acq";
    assert!(Jstack.sniff(text));
    let s = parse(text);
    assert_eq!(s.threads.len(), 2);
    assert!(!s.complete);
    let (a, b) = (&s.threads[0], &s.threads[1]);
    assert_eq!((a.name.as_deref(), a.tid), (Some("a (x)"), None));
    assert!(a.partial && b.partial);
    assert_eq!(a.frames.len(), 2, "the cut third frame is dropped");
    // Who holds what is the report's claim, never a note the thread would print itself.
    assert!(a.notes.is_empty() && b.notes.is_empty());
    let claimed: Vec<_> = (s.evidence.iter())
        .filter_map(|e| match e {
            Evidence::LockOwner {
                address,
                owner_tid: 0,
                owner_name: Some(name),
                by_claim: true,
                ..
            } => Some((*address, name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(claimed, vec![(0xa1, "b"), (0xb1, "a (x)")]);
    // b has no stack: its wait is the report's, restated on a frame of unknown function.
    assert_eq!(b.frames.len(), 1);
    assert_eq!(b.frames[0].function, None);
    assert_eq!(
        b.frames[0].notes,
        vec!["waiting to lock <0x00000000000000b1> (a java.lang.Object)"]
    );
    assert_eq!(s.claims[0].threads, vec!["a (x)", "b"]);
    assert!(s
        .diagnostics
        .iter()
        .any(|d| d.message.contains("only the JVM's deadlock report")));
}

#[test]
fn the_report_supplies_owners_the_thread_list_does_not_show() {
    // Plain `jstack` (no -l) lists no ownable synchronizers; the report names the owner.
    let text = "\
Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode, sharing):

\"a\" #12 prio=5 os_prio=0 tid=0x1 nid=0x20 waiting on condition  [0x0]
   java.lang.Thread.State: WAITING (parking)
\tat jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)
\t- parking to wait for  <0x00000000000000a1> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)

\"b\" #13 prio=5 os_prio=0 tid=0x2 nid=0x21 waiting on condition  [0x0]
   java.lang.Thread.State: WAITING (parking)
\tat jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)
\t- parking to wait for  <0x00000000000000b1> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)

JNI global refs: 4, weak refs: 0

Found one Java-level deadlock:
=============================
\"a\":
  waiting for ownable synchronizer 0x00000000000000a1, (a java.util.concurrent.locks.ReentrantLock$NonfairSync),
  which is held by \"b\"

\"b\":
  waiting for ownable synchronizer 0x00000000000000b1, (a java.util.concurrent.locks.ReentrantLock$NonfairSync),
  which is held by \"a\"

Found 1 deadlock.
";
    let s = parse(text);
    assert_eq!(owners(&s), vec![(0xa1, 0x21), (0xb1, 0x20)]);
    assert!(
        matches!(&s.evidence[0], Evidence::LockOwner { source, .. } if source.contains("deadlock report") && source.contains("line 19"))
    );
    assert_eq!(s.claims[0].threads, vec!["32", "33"]);
    assert!(s.threads.iter().all(|t| t.frames.len() == 1));
}

#[test]
fn noise_stray_frames_cut_lines_and_a_second_dump() {
    let text = "\
# recorded by a script
Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode, sharing):

\"C2 CompilerThread0\" #7 daemon prio=9 os_prio=0 cpu=5.84ms elapsed=2.39s tid=0x1 nid=0x5ef9 waiting on condition  [0x0000000000000000]
   java.lang.Thread.State: RUNNABLE
   No compile task

\"x\" #8 prio=5 os_prio=0 tid=0x2 nid=0x5efa runnable  [0x0]
   java.lang.Thread.State: RUNNABLE
\tat A.b(A.java:1)
\tat A.c(A.ja

Exception in thread \"y\" java.lang.IllegalStateException
\tat Some.app(Log.java:5)
\"cut header
JNI global references: 873

Heap
 PSYoungGen      total 58176K, used 9357K [0xf13d0000, 0xf4cb0000, 0xf4cb0000)
Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode, sharing):

\"x\" #8 prio=5 os_prio=0 tid=0x2 nid=0x5efa runnable  [0x0]
";
    let s = parse(text);
    assert_eq!(s.threads.len(), 2);
    assert!(s.threads[0].frames.is_empty());
    assert_eq!(s.threads[1].frames.len(), 1);
    assert!(s.threads[1].partial);
    let messages: Vec<&str> = s.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("cut short")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("second thread dump")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("1 frame line(s) outside")),
        "{messages:?}"
    );
}

#[test]
fn sniffs_java_and_nothing_else() {
    assert!(Jstack.sniff("2024-01-01 00:00:00\nFull thread dump OpenJDK 64-Bit Server VM:\n"));
    assert!(Jstack.sniff("\"main\" #1 prio=5 os_prio=0 tid=0x00007f nid=0x1 runnable\n"));
    assert!(Jstack.sniff("   java.lang.Thread.State: RUNNABLE\n"));
    assert!(!Jstack.sniff("Thread 1 (Thread 0x7f (LWP 1) \"main\"):\n#0  main () at m.c:1\n"));
    assert!(!Jstack.sniff("goroutine 1 [running]:\nmain.main()\n"));
}

#[test]
fn text_without_a_java_thread_says_so() {
    // Found by the dump_jstack fuzz target: an empty input gave an empty snapshot, silently.
    for text in [
        "",
        "hello\nworld\n",
        "Full thread dump OpenJDK 64-Bit Server VM:\n",
    ] {
        let s = parse(text);
        assert!(s.threads.is_empty());
        assert!(
            s.diagnostics[0].message.contains("no Java thread"),
            "{text:?}: {:?}",
            s.diagnostics
        );
    }
}
