//! The grammar of one line of a Go traceback: the goroutine header, a frame's call line and its
//! location line, elision markers, the signal line. Pure functions on one (trimmed) line that
//! borrow from it, with no regex: the parser calls them on every line.

/// `goroutine 7 [chan receive, 5 minutes, locked to thread]:`, or with Go 1.21+'s
/// `gp=0x… m=3 mp=0x…` (`m=nil`) between the id and the bracket.
#[derive(Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The goroutine id, as printed (digits).
    pub id: &'a str,
    /// `gp=… m=… mp=…`, as printed, when present.
    pub machine: Option<&'a str>,
    /// The wait reason or scheduling state, without ` (scan)`.
    pub status: &'a str,
    /// The GC was scanning the goroutine's stack (` (scan)` after the status).
    pub scan: bool,
    /// `, N minutes`.
    pub minutes: Option<u64>,
    /// The other items of the bracket, as printed (`locked to thread`, `synctest group 5`).
    pub extras: Vec<&'a str>,
}

/// Reads a goroutine header; the line must be trimmed.
pub fn parse_header(line: &str) -> Option<Header<'_>> {
    let rest = line.strip_prefix("goroutine ")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let id = &rest[..digits];
    let rest = rest[digits..].strip_prefix(' ')?;
    let open = rest.find('[')?;
    let machine = rest[..open].trim_end();
    let machine = match machine {
        "" => None,
        m if m.starts_with("gp=") => Some(m),
        _ => return None,
    };
    let inner = rest[open + 1..].strip_suffix("]:")?;
    if inner.is_empty() || inner.contains(']') {
        return None;
    }
    let mut items = inner.split(", ");
    let first = items.next()?;
    let (status, scan) = match first.strip_suffix(" (scan)") {
        Some(s) => (s, true),
        None => (first, false),
    };
    let mut header = Header {
        id,
        machine,
        status,
        scan,
        minutes: None,
        extras: Vec::new(),
    };
    for item in items {
        match item.strip_suffix(" minutes").and_then(|n| n.parse().ok()) {
            Some(m) if header.minutes.is_none() => header.minutes = Some(m),
            _ => header.extras.push(item),
        }
    }
    Some(header)
}

/// Finds a goroutine header anywhere on a line (after a log prefix, mail quoting or
/// indentation): the header and where it starts.
pub fn find_header(line: &str) -> Option<(usize, Header<'_>)> {
    let at = line.find("goroutine ")?;
    parse_header(line[at..].trim_end()).map(|h| (at, h))
}

/// A frame's call line: `sync.(*Mutex).Lock(0xc000010000)`, `main.main()`,
/// `main.Map[...](...)`, `panic({0x4a1e20?, 0xc000014090?})`.
#[derive(Debug, PartialEq, Eq)]
pub struct Call<'a> {
    /// The function, as Go prints it.
    pub function: &'a str,
    /// What is between the parentheses, as printed.
    pub args: &'a str,
}

/// Reads a call line; the line must be trimmed. Rejects prose that merely ends with `)`.
pub fn parse_call(line: &str) -> Option<Call<'_>> {
    let bytes = line.as_bytes();
    if bytes.last() != Some(&b')') {
        return None;
    }
    // The `(` that opens the final argument list (arguments hold no parentheses).
    let open = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'(' || b == b')')?;
    let function = &line[..open];
    if bytes[open] != b'(' || !is_function_name(function) {
        return None;
    }
    Some(Call {
        function,
        args: &line[open + 1..line.len() - 1],
    })
}

/// Whether `name` can be a Go function as tracebacks print it: it starts like an identifier and
/// has no space outside brackets, except before a `{` (`interface {}`, `struct {…}`).
fn is_function_name(name: &str) -> bool {
    let Some(first) = name.chars().next() else {
        return false;
    };
    if !(first.is_alphabetic() || first == '_') {
        return false;
    }
    let bytes = name.as_bytes();
    let mut depth = 0i32;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth -= 1,
            b' ' if depth == 0 && bytes.get(i + 1) != Some(&b'{') => return false,
            b'\t' => return false,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0 && !name.ends_with(['.', ' '])
}

/// The arguments of a call, split at top-level commas: `0x1, {0x2, 0x3}, ...` → `0x1`,
/// `{0x2, 0x3}`, `...`.
pub fn split_args(args: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(args);
    std::iter::from_fn(move || loop {
        let s = rest?;
        let mut depth = 0i32;
        let cut = s.bytes().position(|b| {
            match b {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b',' => return depth <= 0,
                _ => {}
            }
            false
        });
        let item = match cut {
            Some(p) => {
                rest = Some(&s[p + 1..]);
                &s[..p]
            }
            None => {
                rest = None;
                s
            }
        };
        let item = item.trim();
        if !item.is_empty() {
            return Some(item);
        }
    })
}

/// A frame's location line: `/src/x.go:21 +0x6f`, with `fp=… sp=… pc=…` under
/// GOTRACEBACK=system, or none of these for an inlined frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Location<'a> {
    /// The source file, as printed (`<autogenerated>`, `_cgo_gotypes.go`).
    pub file: &'a str,
    /// The line.
    pub line: u32,
    /// The program counter (`pc=`), when printed.
    pub pc: Option<u64>,
    /// The pc's offset in its function (`+0x6f`), when printed (not for an inlined frame).
    pub offset: Option<u64>,
}

/// Reads a location line; the line must be trimmed.
pub fn parse_location(line: &str) -> Option<Location<'_>> {
    // The suffixes (`+0x6f`, `fp=0x…`) hold no colon: the last one ends the file name.
    let colon = line.bytes().rposition(|b| b == b':')?;
    let file = &line[..colon];
    let rest = &line[colon + 1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if file.is_empty() || digits == 0 || !matches!(rest.as_bytes().get(digits), None | Some(b' ')) {
        return None;
    }
    let tail = &rest[digits..];
    let pc = tail
        .split(' ')
        .find_map(|w| w.strip_prefix("pc=0x"))
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    let offset = (tail.split(' '))
        .find_map(|w| w.strip_prefix("+0x"))
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    Some(Location {
        file,
        line: rest[..digits].parse().ok()?,
        pc,
        offset,
    })
}

/// `...additional frames elided...` (the stack is deeper than the print limit) and Go 1.23+'s
/// `...12 frames elided...` in the middle of a deep stack.
pub fn is_elision(line: &str) -> bool {
    line.starts_with("...") && line.ends_with("...") && line.contains("elided")
}

/// The signal line of a SIGQUIT or crash dump: `SIGQUIT: quit`, `SIGSEGV: segmentation
/// violation`.
pub fn is_signal_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("SIG") else {
        return false;
    };
    let name = rest
        .bytes()
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        .count();
    name > 0 && rest[name..].starts_with(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let h = parse_header("goroutine 51 [select, 81 minutes, locked to thread]:").unwrap();
        assert_eq!((h.id, h.status, h.minutes), ("51", "select", Some(81)));
        assert_eq!(h.extras, vec!["locked to thread"]);
        assert_eq!(h.machine, None);
        let h = parse_header("goroutine 0 gp=0x6e6020 m=0 mp=0x6e6ec0 [idle]:").unwrap();
        assert_eq!(h.machine, Some("gp=0x6e6020 m=0 mp=0x6e6ec0"));
        assert_eq!(h.status, "idle");
        let h = parse_header("goroutine 1 gp=0xc0000061c0 m=nil [IO wait]:").unwrap();
        assert_eq!(h.status, "IO wait");
        let h = parse_header("goroutine 9 [chan receive (nil chan) (scan), 1 minutes]:").unwrap();
        assert_eq!(
            (h.status, h.scan, h.minutes),
            ("chan receive (nil chan)", true, Some(1))
        );
        for bad in [
            "goroutine 1 [running]",
            "goroutine [running]:",
            "goroutine 1 running:",
            "goroutine 1 []:",
            "goroutine 1 x [running]:",
            "goroutine profile: total 4",
            "created by main.main in goroutine 1",
        ] {
            assert_eq!(parse_header(bad), None, "{bad}");
        }
        let (at, h) = find_header("app_1  | goroutine 3 [sleep]:").unwrap();
        assert_eq!((at, h.id), (9, "3"));
    }

    #[test]
    fn calls() {
        let c = parse_call("sync.(*Mutex).Lock(0xc000010000)").unwrap();
        assert_eq!((c.function, c.args), ("sync.(*Mutex).Lock", "0xc000010000"));
        let c = parse_call("main.Map[...](...)").unwrap();
        assert_eq!((c.function, c.args), ("main.Map[...]", "..."));
        let c = parse_call("panic({0x4a1e20?, 0xc000014090?})").unwrap();
        assert_eq!(c.function, "panic");
        let c = parse_call("type:.eq.[2]interface {}(0x1, 0x2)").unwrap();
        assert_eq!(c.function, "type:.eq.[2]interface {}");
        assert_eq!(parse_call("main.main()").unwrap().args, "");
        for prose in [
            "## mainSrv.wait()",
            "2024/01/01 12:00:00 listening (port 80)",
            "stack: frame={sp:0xc000047f98, fp:0xc000047fb8} stack=[0xc000046000,0xc000048000)",
            "(gdb) bt()",
            "main.()",
            "f(a))",
        ] {
            assert_eq!(parse_call(prose), None, "{prose}");
        }
        let args: Vec<&str> = split_args("0x1, {0x2, 0x3}, 0x4?, ...").collect();
        assert_eq!(args, vec!["0x1", "{0x2, 0x3}", "0x4?", "..."]);
        assert_eq!(split_args("").count(), 0);
        assert_eq!(split_args("0x1,").collect::<Vec<_>>(), vec!["0x1"]);
    }

    #[test]
    fn locations() {
        let l = parse_location("/src/bank/main.go:21 +0x6f").unwrap();
        assert_eq!((l.file, l.line, l.pc), ("/src/bank/main.go", 21, None));
        assert_eq!(l.offset, Some(0x6f));
        let l = parse_location(
            "/usr/lib/go/src/runtime/proc.go:398 +0xce fp=0xc000059e20 sp=0xc000059e00 pc=0x43e8ae",
        )
        .unwrap();
        assert_eq!((l.line, l.pc, l.offset), (398, Some(0x43e8ae), Some(0xce)));
        let l = parse_location("<autogenerated>:1 +0x25").unwrap();
        assert_eq!(l.file, "<autogenerated>");
        let l = parse_location("C:/Program Files/Go/src/sync/mutex.go:90").unwrap();
        assert_eq!(
            (l.file, l.line),
            ("C:/Program Files/Go/src/sync/mutex.go", 90)
        );
        for bad in [
            "rax    0xca",
            "main.go:12: oops",
            ":12",
            "x.go:",
            "Start crawl ...",
        ] {
            assert_eq!(parse_location(bad), None, "{bad}");
        }
    }

    #[test]
    fn other_lines() {
        assert!(is_elision("...additional frames elided..."));
        assert!(is_elision("...12 frames elided..."));
        assert!(!is_elision("..."));
        assert!(is_signal_line("SIGQUIT: quit"));
        assert!(is_signal_line("SIGSEGV: segmentation violation"));
        assert!(!is_signal_line("SIG: x"));
        assert!(!is_signal_line("SIGQUIT received"));
    }
}
