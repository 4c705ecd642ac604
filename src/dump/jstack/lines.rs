//! One line of a Java thread dump at a time: thread headers (jstack, jcmd, `kill -3`,
//! VisualVM), `at` frames, `- ` lock notes, and the lines of the JVM's deadlock report. Pure
//! functions over borrowed text; they never allocate unless they build a [`Frame`].

use crate::dump::skeleton::intern::share;
use crate::model::Frame;

/// A thread header: `"name" #12 [4711] daemon prio=5 os_prio=0 cpu=1ms elapsed=2s tid=0x…
/// nid=0x1267 waiting on condition  [0x…]`, or VisualVM's `"name" - Thread t@12`.
#[derive(Debug, PartialEq)]
pub struct Header<'a> {
    /// The thread's name, as printed between the quotes (may itself hold quotes).
    pub name: &'a str,
    /// The JVM's own thread number (`#12`, VisualVM's `t@12`).
    pub java_id: Option<&'a str>,
    /// The OS thread id: `nid=` (hex up to JDK 18, decimal later) or JDK 19's `[4711]`.
    pub os_tid: Option<u64>,
    /// The free-text state after `nid=` (`waiting for monitor entry`), if any.
    pub state: Option<&'a str>,
}

/// What may follow the closing quote of a header's name.
const HEADER_FIELDS: &[&str] = &[
    "#",
    "daemon",
    "prio=",
    "os_prio=",
    "tid=",
    "nid=",
    "virtual",
    "- Thread t@",
];

/// Reads a thread header. The name runs to the last `"` that is followed by a header field, so
/// names holding quotes, `#`, spaces or URLs come out whole.
pub fn header(line: &str) -> Option<Header<'_>> {
    let body = line.strip_prefix('"')?;
    let bytes = body.as_bytes();
    let close = (0..bytes.len()).rev().find(|&i| {
        bytes[i] == b'"'
            && bytes.get(i + 1) == Some(&b' ')
            && HEADER_FIELDS.iter().any(|f| body[i + 2..].starts_with(f))
    })?;
    let mut h = Header {
        name: &body[..close],
        java_id: None,
        os_tid: None,
        state: None,
    };
    let tail = &body[close + 1..];
    let mut after_nid = false;
    let mut state: Option<(usize, usize)> = None;
    for token in tail.split_ascii_whitespace() {
        if after_nid {
            if token.starts_with("[0x") {
                break;
            }
            let start = token.as_ptr() as usize - tail.as_ptr() as usize;
            let end = start + token.len();
            state = Some((state.map_or(start, |s| s.0), end));
        } else if let Some(id) = token.strip_prefix('#').or_else(|| token.strip_prefix("t@")) {
            if h.java_id.is_none() && is_digits(id) {
                h.java_id = Some(id);
            }
        } else if let Some(nid) = token.strip_prefix("nid=") {
            h.os_tid = number(nid).or(h.os_tid);
            after_nid = true;
        } else if let Some(t) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            if is_digits(t) {
                h.os_tid = h.os_tid.or_else(|| t.parse().ok());
            }
        }
    }
    h.state = state.map(|(s, e)| &tail[s..e]);
    Some(h)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `0x1f` (hex) or `31` (decimal).
pub fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Reads a frame, `at` already stripped: `java.lang.Object.wait(java.base@17/Native Method)`,
/// `Foo.bar(Foo.java:12)`, `Foo$$Lambda/0x0….run(Unknown Source)`, `Foo.baz(app//Foo.java:3)`.
/// `None` when the line was cut before its closing parenthesis.
pub fn frame(text: &str) -> Option<Frame> {
    let text = text.trim_end();
    let open = text.find('(')?;
    let source = text[open + 1..].strip_suffix(')')?;
    let function = text[..open].trim();
    let (module, file) = match source.rsplit_once('/') {
        Some((m, f)) => (Some(m.trim_end_matches('/')), f),
        None => (None, source),
    };
    let (file, line) = match file.rsplit_once(':') {
        Some((f, l)) if is_digits(l) => (f, l.parse().ok()),
        _ => (file, None),
    };
    let file = (!matches!(file, "Native Method" | "Unknown Source" | "")).then_some(file);
    Some(Frame {
        function: (!function.is_empty()).then(|| share(function)),
        file: file.map(share),
        line,
        module: module.filter(|m| !m.is_empty()).map(share),
        ..Frame::default()
    })
}

/// The address in a lock note: `locked <0x0000000503a018b8> (a java.lang.Object)`,
/// `parking to wait for  <0x…>`, VisualVM's `locked java.io.BufferedInputStream@5284339c`.
pub fn note_address(note: &str) -> Option<u64> {
    let hex = match note.find('<') {
        Some(p) => note[p + 1..].trim_start_matches("0x"),
        None => &note[note.rfind('@')? + 1..],
    };
    let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    u64::from_str_radix(&hex[..n], 16).ok()
}

/// Whether a frame note says the thread waits for the object it names (to enter a monitor,
/// or parked on a synchronizer), as opposed to holding it or waiting on a condition.
pub fn note_waits_for(note: &str) -> bool {
    note.starts_with("waiting to lock") || note.starts_with("parking to wait for")
}

/// What a line of the JVM's deadlock report says.
#[derive(Debug, PartialEq)]
pub enum ReportLine<'a> {
    /// `"name":` opens a thread's entry.
    Entry(&'a str),
    /// `waiting to lock monitor 0x… (object 0x…, a T),` or
    /// `waiting for ownable synchronizer 0x…, (a T),`.
    Waits {
        /// A monitor (as opposed to an ownable synchronizer).
        monitor: bool,
        /// The object's address: what `- locked <…>` and `Locked ownable synchronizers` show.
        address: u64,
        /// Its class.
        class: &'a str,
    },
    /// `which is held by "name"`; `None` for an owner that is no Java thread.
    HeldBy(Option<&'a str>),
}

/// Reads a line of the deadlock report (trimmed).
pub fn report_line(line: &str) -> Option<ReportLine<'_>> {
    if let Some(name) = line.strip_prefix('"').and_then(|l| l.strip_suffix("\":")) {
        return Some(ReportLine::Entry(name));
    }
    if let Some(at) = line.find("which is held by") {
        let rest = line[at + "which is held by".len()..].trim();
        let name = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"'));
        return Some(ReportLine::HeldBy(name));
    }
    let (monitor, rest) = if let Some(r) = line.strip_prefix("waiting to lock ") {
        // `monitor 0x… (object 0x…, a T)`; jhsdb: `Monitor@0x… (Object@0x…, a T)`.
        let obj = r
            .find("(object 0x")
            .map(|p| p + 8)
            .or_else(|| r.find("Object@0x").map(|p| p + 7))?;
        (true, &r[obj..])
    } else {
        let r = line.strip_prefix("waiting for ownable synchronizer ")?;
        (false, r)
    };
    let hex = rest.strip_prefix("0x")?;
    let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    let address = u64::from_str_radix(&hex[..n], 16).ok()?;
    // `(object 0x…, a T)` or `, (a T)`.
    let class = rest
        .find("(a ")
        .map(|p| p + 3)
        .or_else(|| rest.find(", a ").map(|p| p + 4))
        .map_or("", |p| {
            let c = &rest[p..];
            &c[..c.find(')').unwrap_or(c.len())]
        });
    Some(ReportLine::Waits {
        monitor,
        address,
        class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_every_era() {
        let h = header(r#""pool-1-thread-2" #23 [4711] daemon prio=5 os_prio=0 cpu=12.50ms elapsed=60.01s tid=0x00007f00c8001000 nid=4711 waiting for monitor entry  [0x00007f00b00fe000]"#).unwrap();
        assert_eq!(
            h,
            Header {
                name: "pool-1-thread-2",
                java_id: Some("23"),
                os_tid: Some(4711),
                state: Some("waiting for monitor entry"),
            }
        );
        let h = header(r#""ToeThread #73: http://x.com/a b?c=1&d" daemon prio=10 tid=0x08233c00 nid=0x4f53 in Object.wait() [0xce21c000..0xce21d030]"#).unwrap();
        assert_eq!(h.name, "ToeThread #73: http://x.com/a b?c=1&d");
        assert_eq!((h.java_id, h.os_tid), (None, Some(0x4f53)));
        assert_eq!(h.state, Some("in Object.wait()"));
        let h = header(r#""GC Thread#0" os_prio=31 cpu=47.22ms elapsed=27.16s tid=0x000000013e02b000 nid=12803 runnable  "#).unwrap();
        assert_eq!(
            (h.name, h.os_tid, h.state),
            ("GC Thread#0", Some(12803), Some("runnable"))
        );
        let h = header(r#""Timer-180" - Thread t@332"#).unwrap();
        assert_eq!(
            (h.name, h.java_id, h.os_tid),
            ("Timer-180", Some("332"), None)
        );
        let h = header(r#""say "hi"" #5 prio=5 tid=0x1 nid=0x2 runnable"#).unwrap();
        assert_eq!(h.name, r#"say "hi""#);
        assert_eq!(header(r#""DeadlockThread-A":"#), None);
        assert_eq!(header(r#""ToeThread #73: http://www.under"#), None);
        assert_eq!(header("plain text"), None);
    }

    #[test]
    fn frames_with_modules_and_odd_sources() {
        let f = frame("java.lang.Object.wait(java.base@17.0.15/Native Method)").unwrap();
        assert_eq!(f.function.as_deref(), Some("java.lang.Object.wait"));
        assert_eq!((f.file, f.line), (None, None));
        assert_eq!(f.module.as_deref(), Some("java.base@17.0.15"));
        let f = frame("LockAbba.move(LockAbba.java:26)").unwrap();
        assert_eq!(
            (f.file.as_deref(), f.line),
            (Some("LockAbba.java"), Some(26))
        );
        let f = frame("Foo.bar(app//Foo.java:3)").unwrap();
        assert_eq!(f.module.as_deref(), Some("app"));
        let f = frame("java.lang.invoke.LambdaForm$DMH/0x0000380001228000.invokeVirtual(java.base@25/LambdaForm$DMH)").unwrap();
        assert_eq!(f.file.as_deref(), Some("LambdaForm$DMH"));
        assert_eq!(frame("Foo.bar(Foo.ja"), None);
    }

    #[test]
    fn note_addresses_and_classes() {
        let n = "locked <0x0000000503a018b8> (a java.lang.Object)";
        assert_eq!(note_address(n), Some(0x503a018b8));
        assert_eq!(
            note_address("locked java.io.BufferedInputStream@5284339c"),
            Some(0x5284339c)
        );
        assert_eq!(
            note_address("eliminated <owner is scalar replaced> (a X)"),
            None
        );
        assert!(note_waits_for("parking to wait for  <0x1> (a X)"));
        assert!(!note_waits_for("waiting on <0x1> (a X)"));
    }

    #[test]
    fn report_lines() {
        assert_eq!(report_line(r#""a (b)":"#), Some(ReportLine::Entry("a (b)")));
        assert_eq!(
            report_line("waiting to lock monitor 0x0000600002788ea0 (object 0x0000000503a018b0, a java.lang.Object),"),
            Some(ReportLine::Waits { monitor: true, address: 0x503a018b0, class: "java.lang.Object" })
        );
        assert_eq!(
            report_line("waiting for ownable synchronizer 0x000010000d172a88, (a java.util.concurrent.locks.ReentrantLock$NonfairSync),"),
            Some(ReportLine::Waits { monitor: false, address: 0x10000d172a88, class: "java.util.concurrent.locks.ReentrantLock$NonfairSync" })
        );
        assert_eq!(
            report_line(r#"which is held by "stream-reader-1""#),
            Some(ReportLine::HeldBy(Some("stream-reader-1")))
        );
        assert_eq!(
            report_line("which is held by UNKNOWN_owner_addr=0x00007f"),
            Some(ReportLine::HeldBy(None))
        );
        assert_eq!(report_line("waiting to lock monitor 0x06"), None);
    }
}
