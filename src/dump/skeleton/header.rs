//! gdb's names for a thread: the "Target Id" (`Thread 0x7f.. (LWP 42) "name"`, rr's and
//! gdbserver's `Thread 25.43 (name)`, `LWP 42`, `process 42`) and the lines that carry one
//! (`Thread N (...):` headers, `[Switching to ...]`, `Thread N "name" received signal ...`).

/// What a line says about a thread's identity. Every field is optional: each line tells part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreadRef {
    /// gdb's thread number (`3`, or `1.3` with several inferiors).
    pub gdb_num: Option<String>,
    /// The OS thread id.
    pub tid: Option<u64>,
    /// The process id, when the target id carries it (`Thread PID.TID`).
    pub pid: Option<u32>,
    /// The `pthread_t` value.
    pub pthread: Option<u64>,
    /// The thread name.
    pub name: Option<String>,
}

/// Parses a target id at the start of `s`; returns it and the rest of the text after it.
pub fn parse_target_id(s: &str) -> Option<(ThreadRef, &str)> {
    let mut r = ThreadRef::default();
    let rest;
    if let Some(t) = s.strip_prefix("Thread ") {
        if let Some(h) = t.strip_prefix("0x") {
            let n = h.bytes().take_while(u8::is_ascii_hexdigit).count();
            r.pthread = u64::from_str_radix(&h[..n], 16).ok();
            let after = &h[n..];
            let after = after.strip_prefix(" (LWP ")?;
            let d = after.bytes().take_while(u8::is_ascii_digit).count();
            r.tid = after[..d].parse().ok();
            rest = after[d..].strip_prefix(')')?;
        } else {
            // `Thread PID.TID` (rr, gdbserver, remote targets).
            let n = number_len(t);
            let (pid, tid) = t[..n].split_once('.')?;
            r.pid = pid.parse().ok();
            r.tid = tid.parse().ok();
            rest = &t[n..];
        }
    } else if let Some(t) = s.strip_prefix("LWP ") {
        let d = t.bytes().take_while(u8::is_ascii_digit).count();
        r.tid = Some(t[..d].parse().ok()?);
        rest = &t[d..];
    } else if let Some(t) = s.strip_prefix("process ") {
        let d = t.bytes().take_while(u8::is_ascii_digit).count();
        let pid: u32 = t[..d].parse().ok()?;
        r.pid = Some(pid);
        r.tid = Some(u64::from(pid));
        rest = &t[d..];
    } else {
        return None;
    }
    let (name, rest) = parse_name(rest);
    r.name = name;
    Some((r, rest))
}

/// A name after a target id: ` "name"` (gdb) or ` (name)` (rr). gdb does not escape a quote
/// in a name (a thread names itself anything): when the name is all that is left, it runs to
/// the last quote.
fn parse_name(s: &str) -> (Option<String>, &str) {
    if let Some(q) = s.strip_prefix(" \"") {
        let last = q.strip_suffix('"').map(str::len);
        if let Some(end) = last.or_else(|| q.find('"')) {
            return (Some(q[..end].to_string()), &q[end + 1..]);
        }
    }
    if let Some(p) = s.strip_prefix(" (") {
        if let Some(end) = p.find(')') {
            let name = &p[..end];
            if !name.starts_with("LWP ") && !name.is_empty() {
                return (Some(name.to_string()), &p[end + 1..]);
            }
        }
    }
    (None, s)
}

/// `Thread N (TARGET):` — the header `thread apply all bt` prints before each stack.
pub fn parse_header(line: &str) -> Option<ThreadRef> {
    let t = line.strip_prefix("Thread ")?;
    let (num, inner) = t.split_once(" (")?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let inner = inner.trim_end().strip_suffix("):")?;
    let (mut r, _) = parse_target_id(inner)?;
    r.gdb_num = Some(num.to_string());
    Some(r)
}

/// `[Switching to thread 3 (Thread 25.43)]` or `[Switching to Thread 0x7f.. (LWP 42)]`.
pub fn parse_switch(line: &str) -> Option<ThreadRef> {
    let t = line.strip_prefix("[Switching to ")?.trim_end();
    let t = t.strip_suffix(']').unwrap_or(t);
    if let Some(rest) = t.strip_prefix("thread ") {
        let (num, inner) = rest.split_once(" (")?;
        let inner = inner.strip_suffix(')').unwrap_or(inner);
        let mut r = parse_target_id(inner).map(|(r, _)| r).unwrap_or_default();
        r.gdb_num = Some(num.to_string());
        return Some(r);
    }
    parse_target_id(t).map(|(r, _)| r)
}

/// `Thread 5 "name" received signal SIGUSR1, ...` — the stop banner names the current thread.
pub fn parse_stop_banner(line: &str) -> Option<ThreadRef> {
    let t = line.strip_prefix("Thread ")?;
    if !line.contains(" received signal ") && !line.contains(" hit Breakpoint ") {
        return None;
    }
    let n = number_len(t);
    if n == 0 {
        return None;
    }
    let mut r = ThreadRef {
        gdb_num: Some(t[..n].to_string()),
        ..ThreadRef::default()
    };
    r.name = parse_name(&t[n..]).0;
    Some(r)
}

/// An `info threads` row: `[*] ID  TARGET  FRAME`. Returns (selected, ref, frame text).
pub fn parse_info_row(line: &str) -> Option<(bool, ThreadRef, &str)> {
    let t = line.trim_start();
    let (selected, t) = match t.strip_prefix('*') {
        Some(r) => (true, r.trim_start()),
        None => (false, t),
    };
    let n = number_len(t);
    if n == 0 {
        return None;
    }
    let num = &t[..n];
    let rest = t[n..].trim_start();
    let (mut r, frame) = parse_target_id(rest)?;
    r.gdb_num = Some(num.to_string());
    Some((selected, r, frame.trim()))
}

/// The length of the thread number `t` starts with: gdb's `5`, `1.5` (inferior.thread), rr's
/// and gdbserver's `PID.TID`.
fn number_len(t: &str) -> usize {
    t.bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let r = parse_header(r#"Thread 7 (Thread 0x7f11aa7fc640 (LWP 4242) "worker-3"):"#).unwrap();
        assert_eq!(r.gdb_num.as_deref(), Some("7"));
        assert_eq!(r.tid, Some(4242));
        assert_eq!(r.pthread, Some(0x7f11aa7fc640));
        assert_eq!(r.name.as_deref(), Some("worker-3"));
        let r = parse_header("Thread 3 (Thread 0x7f1 (LWP 7) \"a\") Z \"<x>\"):").unwrap();
        assert_eq!(r.name.as_deref(), Some("a\") Z \"<x>"), "a quote in a name");
        let r = parse_header("Thread 3 (Thread 25.43):").unwrap();
        assert_eq!((r.pid, r.tid), (Some(25), Some(43)));
        let r = parse_header(r#"Thread 2 (LWP 77 "srv"):"#).unwrap();
        assert_eq!(r.tid, Some(77));
        assert!(parse_header("Thread 5 \"x\" received signal SIGUSR1").is_none());
    }

    #[test]
    fn info_rows() {
        let (sel, r, frame) = parse_info_row(
            "* 1    Thread 25.25 (nebula-storaged)  __pthread_clockjoin_ex (threadid=1) at x.c:1",
        )
        .unwrap();
        assert!(sel);
        assert_eq!(r.name.as_deref(), Some("nebula-storaged"));
        assert_eq!(r.tid, Some(25));
        assert!(frame.starts_with("__pthread_clockjoin_ex"));
        let (_, r, frame) = parse_info_row(
            r#"  2    Thread 0x7f55480e4640 (LWP 576487) "vcpu-0" 0x00000000004f3cfa in __futex_abstimed_wait_common ()"#,
        )
        .unwrap();
        assert_eq!(r.tid, Some(576487));
        assert!(frame.starts_with("0x00000000004f3cfa"));
        assert!(parse_info_row("  Id   Target Id   Frame").is_none());
    }

    #[test]
    fn switch_and_banner() {
        let r = parse_switch("[Switching to thread 3 (Thread 25.43)]").unwrap();
        assert_eq!((r.gdb_num.as_deref(), r.tid), (Some("3"), Some(43)));
        let r = parse_switch("[Switching to Thread 0x7fffe6e82700 (LWP 151973)]").unwrap();
        assert_eq!(r.tid, Some(151973));
        let r = parse_stop_banner(
            r#"Thread 5 "qemu-system-x86" received signal SIGUSR1, User defined signal 1."#,
        )
        .unwrap();
        assert_eq!(r.gdb_num.as_deref(), Some("5"));
        assert_eq!(r.name.as_deref(), Some("qemu-system-x86"));
    }
}
