//! The layers hold: every module of `src/` imports only the modules [`ALLOWED`] gives it
//! (ARCHITECTURE.md, "Rules that keep it clean"). Imports are read from the text: each
//! `crate::name` path (in `use` statements, `use crate::{a, b}` groups and paths in code) and
//! each `super::` path that climbs to the crate root. Comments and string literals are blanked
//! first, and test code (`#[cfg(test)]` items, `tests.rs` files, `tests/` directories) is left
//! out: a test may build its input with a producer.

use std::collections::BTreeSet;
use std::path::Path;

/// The leaves: modules that import nothing from the crate. `"leaves"` in a row of [`ALLOWED`]
/// stands for all of them.
const LEAVES: &[&str] = &["model", "error", "sanitize", "values", "names"];

/// Each module of `src/` and the modules of the crate it may import (`"*"`: any). A module
/// missing here fails the test: a new module takes its place in the layers when it is added.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("error", &[]),
    ("sanitize", &[]),
    ("values", &[]),
    ("names", &[]),
    ("limits", &["model"]),
    // Producers fill the model and import nothing downstream of it: the leaves, `limits`, and
    // the producers they are built on.
    ("objects", &["leaves", "limits"]),
    ("unwind", &["leaves", "limits", "objects"]),
    ("symbolize", &["leaves", "limits", "objects", "unwind"]),
    ("syscalls", &["leaves", "limits", "objects", "unwind"]),
    ("runtime", &["leaves", "limits", "objects"]),
    (
        "stackwalk",
        &[
            "leaves",
            "limits",
            "objects",
            "unwind",
            "symbolize",
            "syscalls",
            "runtime",
        ],
    ),
    (
        "corefile",
        &[
            "leaves",
            "limits",
            "objects",
            "unwind",
            "symbolize",
            "syscalls",
            "runtime",
            "stackwalk",
        ],
    ),
    (
        "capture",
        &[
            "leaves",
            "limits",
            "objects",
            "unwind",
            "symbolize",
            "syscalls",
            "runtime",
            "stackwalk",
        ],
    ),
    ("dump", &["leaves", "limits"]),
    // model ← knowledge ← analyze ← report.
    ("knowledge", &["model", "error", "names"]),
    (
        "analyze",
        &["knowledge", "model", "limits", "values", "names"],
    ),
    ("buckets", &["error", "limits", "sanitize"]),
    (
        "report",
        &["leaves", "limits", "knowledge", "analyze", "buckets"],
    ),
    // The front: arguments, orchestration, the demo.
    ("config", &["leaves", "limits", "report"]),
    ("cli", &["leaves", "limits", "report", "config"]),
    (
        "demo",
        &[
            "leaves",
            "limits",
            "capture",
            "stackwalk",
            "knowledge",
            "analyze",
            "report",
        ],
    ),
    // The library's front door: capture, cores and dumps in, analysis with the built-in
    // rules, a report out.
    (
        "api",
        &[
            "leaves",
            "limits",
            "dump",
            "capture",
            "corefile",
            "stackwalk",
            "knowledge",
            "analyze",
            "report",
        ],
    ),
    ("app", &["*"]),
];

#[test]
fn modules_import_only_across_allowed_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &src, &mut files);
    assert!(files.len() > 50, "read {} files from {src:?}", files.len());
    let mut found = violations(&files);
    found.extend(circles(&files));
    assert!(
        found.is_empty(),
        "imports across the layers (see ARCHITECTURE.md, and ALLOWED in tests/layers.rs):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_planted_import_across_the_layers_fails() {
    let planted = |path: &str, text: &str| violations(&[(path.to_string(), text.to_string())]);
    assert_eq!(
        planted("dump/gdb/mod.rs", "use crate::report::write_json;\n"),
        ["src/dump/gdb/mod.rs:1: dump imports report"]
    );
    // A path in code, a group, and a `super::` that climbs to the crate root.
    assert_eq!(
        planted(
            "analyze/classify.rs",
            "fn f() {\n    let s = crate::dump::parse_dump(b\"\", \"x\", None);\n}\n"
        ),
        ["src/analyze/classify.rs:2: analyze imports dump"]
    );
    assert_eq!(
        planted(
            "capture/access.rs",
            "use crate::{\n    model::Thread,\n    report::{clean, Format},\n};\n"
        ),
        ["src/capture/access.rs:3: capture imports report"]
    );
    assert_eq!(
        planted("model/mod.rs", "use super::analyze::Grade;\n"),
        ["src/model/mod.rs:1: model imports analyze"]
    );
    assert_eq!(
        planted("knowledge/rule.rs", "use super::super::analyze::Grade;\n"),
        ["src/knowledge/rule.rs:1: knowledge imports analyze"]
    );
    // Two submodules of one module that import each other.
    let files = [
        ("analyze/graph.rs", "use super::claims::names;\n"),
        ("analyze/claims.rs", "use super::{graph::Graph, Finding};\n"),
        ("analyze/mod.rs", "mod claims;\nmod graph;\n"),
    ]
    .map(|(p, t)| (p.to_string(), t.to_string()));
    assert_eq!(
        circles(&files),
        ["src/analyze: claims and graph import each other"]
    );
    assert!(circles(&files[1..]).is_empty());
    // A module the table does not place.
    assert_eq!(
        planted("newthing.rs", "use crate::model::Snapshot;\n"),
        ["src/newthing.rs: module newthing is not in ALLOWED"]
    );
}

#[test]
fn comments_strings_tests_and_own_paths_are_not_imports() {
    let text = r##"//! See [`crate::report`].
use super::gdb::parse; // crate::analyze in a comment
/* crate::report /* nested */ crate::app */
const A: &str = "crate::report::clean";
const B: &str = r#"crate::analyze " still inside"#;
const C: char = '"';
fn f<'a>(x: &'a str) -> &'a str { crate::dump::normalize::normalize(x) }
#[cfg(test)]
#[test]
fn t() { crate::analyze::analyze(); }
#[cfg(test)]
mod tests {
    use crate::report::render;
    fn g() { let _ = "}"; }
}
fn after() { crate::model::Snapshot::default(); }
"##;
    let found = violations(&[("dump/x.rs".to_string(), text.to_string())]);
    assert!(found.is_empty(), "{found:?}");
    let found = violations(&[(
        "dump/tests.rs".to_string(),
        "use crate::analyze::analyze;".to_string(),
    )]);
    assert!(found.is_empty(), "{found:?}");
    // What follows the test item is still read.
    let found = violations(&[(
        "dump/x.rs".to_string(),
        format!("{text}fn late() {{ crate::report::render(); }}\n"),
    )]);
    assert_eq!(found, ["src/dump/x.rs:17: dump imports report"]);
}

/// Every `.rs` file under `dir`, as (path relative to `src/`, text). Test files and
/// directories are left out, and so are `lib.rs` (it declares the modules) and `main.rs`
/// (the binary, through the library's public paths).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "tests" {
                collect(root, &path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            let rel = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy();
            if rel != "lib.rs" && rel != "main.rs" {
                let text = std::fs::read_to_string(&path).expect("a source file");
                out.push((rel.replace('\\', "/"), text));
            }
        }
    }
}

/// The imports across the layers in `files` ((path relative to `src/`, text)), one line each.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        let segments = module_path(path);
        let Some(module) = segments.first() else {
            continue;
        };
        if path.ends_with("tests.rs") || path.contains("/tests/") {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| m == module) else {
            out.push(format!("src/{path}: module {module} is not in ALLOWED"));
            continue;
        };
        let code = without_tests(&blank_comments_and_strings(text));
        let mut seen = BTreeSet::new();
        for (line, import) in imports(&code, &segments) {
            let target = &import[0];
            let leaf = LEAVES.contains(&target.as_str()) && allowed.contains(&"leaves");
            if target != module
                && !leaf
                && !allowed.contains(&"*")
                && !allowed.contains(&target.as_str())
                && seen.insert(target.clone())
            {
                out.push(format!("src/{path}:{line}: {module} imports {target}"));
            }
        }
    }
    out
}

/// Submodules that import each other, and why. `capture/ptrace` seizes under the watch of
/// `capture/watch`, which reaps the tracees that exited while a seize was blocked (through
/// ptrace's own peeking wait): two halves of one mechanism.
const CIRCLES_KEPT: &[(&str, &str, &str)] = &[("capture", "ptrace", "watch")];

/// The submodules of one module that import each other, directly or through others of its
/// submodules (`analyze/graph` and `analyze/claims`): inside a module, imports run one way.
fn circles(files: &[(String, String)]) -> Vec<String> {
    use std::collections::BTreeMap;
    // (module, submodule) → the sibling submodules it imports.
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (path, text) in files {
        let file = module_path(path);
        if file.len() < 2 || path.ends_with("tests.rs") || path.contains("/tests/") {
            continue;
        }
        let code = without_tests(&blank_comments_and_strings(text));
        let to = edges.entry((file[0].clone(), file[1].clone())).or_default();
        for (_, import) in imports(&code, &file) {
            if import.len() >= 2 && import[0] == file[0] && import[1] != file[1] {
                to.insert(import[1].clone());
            }
        }
    }
    let reaches = |from: &(String, String), goal: &str| {
        let mut stack = vec![from.1.clone()];
        let mut seen = BTreeSet::new();
        while let Some(at) = stack.pop() {
            for next in edges.get(&(from.0.clone(), at)).into_iter().flatten() {
                if next == goal {
                    return true;
                }
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let mut out = Vec::new();
    for (key, to) in &edges {
        for other in to {
            let back = (key.0.clone(), other.clone());
            let kept = CIRCLES_KEPT.contains(&(key.0.as_str(), key.1.as_str(), other.as_str()));
            if key.1 < *other && !kept && edges.contains_key(&back) && reaches(&back, &key.1) {
                out.push(format!(
                    "src/{}: {} and {} import each other",
                    key.0, key.1, other
                ));
            }
        }
    }
    out
}

/// `analyze/graph.rs` → `[analyze, graph]`; `dump/gdb/mod.rs` → `[dump, gdb]`.
fn module_path(path: &str) -> Vec<String> {
    let path = path.strip_suffix(".rs").unwrap_or(path);
    let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    segments
}

/// The module paths `code` names from `crate::` or through `super::` (resolved from the file's
/// own path `file`), with their line: `crate::x::y`, the members of `crate::{x, y::z}` and of
/// `super::{a, b}`.
fn imports(code: &str, file: &[String]) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b'$';
        let (base, rest) = if boundary && bytes[i..].starts_with(b"crate::") {
            (Some(Vec::new()), i + "crate::".len())
        } else if boundary && bytes[i..].starts_with(b"super::") {
            let mut at = i;
            let mut climbs = 0;
            while code[at..].starts_with("super::") {
                climbs += 1;
                at = skip_space(code, at + "super::".len());
            }
            let base = file.len().checked_sub(climbs).map(|n| file[..n].to_vec());
            (base, at)
        } else {
            i += 1;
            continue;
        };
        for (at, path) in paths_at(code, rest) {
            if let Some(base) = &base {
                let full: Vec<String> = base.iter().cloned().chain(path).collect();
                if full.first().is_some_and(|s| s != "self") {
                    out.push((line_of(at.max(i)), full));
                }
            }
        }
        i = rest;
    }
    out
}

/// The paths that start at `at`: `a::b::c` (its segments), or `a::{b::c, d}` (`a::b`, `a::d`).
fn paths_at(code: &str, mut at: usize) -> Vec<(usize, Vec<String>)> {
    let start = at;
    let mut segments = Vec::new();
    loop {
        at = skip_space(code, at);
        if code[at..].starts_with('{') {
            return group_members(code, at)
                .into_iter()
                .map(|(p, name)| (p, segments.iter().cloned().chain([name]).collect()))
                .collect();
        }
        let name: String = code[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            break;
        }
        at += name.len();
        segments.push(name);
        let next = skip_space(code, at);
        if !code[next..].starts_with("::") {
            break;
        }
        at = next + 2;
    }
    vec![(start, segments)]
}

/// The first segments of the paths in the group that opens at `open` (`{a, b::{c, d}, e}` →
/// `a`, `b`, `e`), with their offsets.
fn group_members(code: &str, open: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect = true;
    for (at, c) in code[open..].char_indices() {
        let at = open + at;
        match c {
            '{' => {
                depth += 1;
                expect = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect = true,
            c if expect && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                let name: String = code[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((at, name));
                expect = false;
            }
            _ => {}
        }
    }
    out
}

fn skip_space(code: &str, mut at: usize) -> usize {
    while code[at..].starts_with(char::is_whitespace) {
        at += code[at..].chars().next().map_or(1, char::len_utf8);
    }
    at
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `text` with comments, string and character literals replaced by spaces (lines kept), so
/// neither a doc comment's link nor a message's text reads as an import.
fn blank_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_at(b, i) {
            // r#"..."#, br"...": up to the quote followed by as many hashes.
            i += b[i..].iter().position(|&c| c == b'"').unwrap_or(0) + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            while i < b.len() && !b[i..].starts_with(close.as_bytes()) {
                i += 1;
            }
            i += close.len();
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else if b[i] == b'\'' && char_literal_len(text, i).is_some() {
            i += char_literal_len(text, i).unwrap_or(1);
        } else {
            i += 1;
            continue;
        }
        blank(&mut out, start, i);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The number of `#`s of a raw string literal starting at `i` (`r"`, `r#"`, `br##"`).
fn raw_string_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_ident(b[i - 1]) {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    (b.get(j + hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of a character literal `'x'` at `i` (not a lifetime `'a`).
fn char_literal_len(text: &str, i: usize) -> Option<usize> {
    let c = text[i + 1..].chars().next()?;
    let end = i + 1 + c.len_utf8();
    text[end..].starts_with('\'').then_some(end + 1 - i)
}

/// `code` without the items marked `#[cfg(test)]` (their other attributes, then up to the
/// `;` or the matching `}`), lines kept.
fn without_tests(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(found) = out[from..].find(MARK) {
        let start = from + found;
        let b = out.as_bytes();
        let mut i = start + MARK.len();
        let mut depth = 0;
        while i < b.len() {
            match b[i] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let blanked: String = out[start..i]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(start..i, &blanked);
        from = start + blanked.len();
    }
    out
}
