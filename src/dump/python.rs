//! What the two Python dump formats (faulthandler, py-spy) share: naming a Python frame's
//! function by its module, so that rules match `threading.wait` or `queue.get` whichever tool
//! printed the stack and however it shortened the path, and reading a thread's identity.

use crate::dump::skeleton::intern::{derived, share, share_owned};
use crate::model::{Frame, IdKind, Thread};

/// A Python frame: `func` qualified with the module its `file` names (`threading.wait` for
/// `wait` in `/usr/lib/python3.11/threading.py`), the file kept as printed. A frame whose
/// file is not Python source (a native frame) keeps its name as it is.
pub fn frame(func: &str, file: &str, line: Option<u32>) -> Frame {
    let function = derived(&[func, file], || {
        let function = match module_of(file) {
            Some(module) if !func.is_empty() => format!("{module}.{func}"),
            _ => func.to_string(),
        };
        (!function.is_empty() && function != "???").then(|| share_owned(function))
    });
    Frame {
        function,
        file: (!file.is_empty() && file != "???").then(|| share(file)),
        line,
        ..Frame::default()
    }
}

/// The dotted module a Python source path names. Installed code is named from its package
/// root (after `site-packages/`, `dist-packages/` or `lib/pythonX.Y/`); py-spy's shortened
/// relative paths name it already (`multiprocessing/connection.py`); any other absolute path
/// (a script) by its file name. `<frozen runpy>` is `runpy`. `None` for non-Python files.
pub fn module_of(file: &str) -> Option<String> {
    if let Some(frozen) = file
        .strip_prefix("<frozen ")
        .and_then(|f| f.strip_suffix('>'))
    {
        return (!frozen.is_empty()).then(|| frozen.to_string());
    }
    let stem = [".py", ".pyw", ".pyx"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    let absolute = stem.starts_with('/') || stem.starts_with('\\') || stem.get(1..2) == Some(":");
    let relative = if absolute {
        package_relative(stem).unwrap_or_else(|| base(stem))
    } else {
        let s = stem.trim_start_matches("./");
        if s.starts_with("../") {
            base(s)
        } else {
            s
        }
    };
    let mut module: String = relative
        .chars()
        .map(|c| if c == '/' || c == '\\' { '.' } else { c })
        .collect();
    if let Some(pkg) = module.strip_suffix(".__init__") {
        module.truncate(pkg.len());
    }
    (!module.is_empty() && !module.starts_with('.')).then_some(module)
}

/// What follows the last package root in an absolute path, if it has one.
fn package_relative(path: &str) -> Option<&str> {
    let path_bytes = path.as_bytes();
    let mut best = None;
    for marker in [
        "/site-packages/",
        "/dist-packages/",
        "\\site-packages\\",
        "\\Lib\\",
    ] {
        if let Some(p) = path.rfind(marker) {
            best = best.max(Some(p + marker.len()));
        }
    }
    // `/lib/python3.11/`, `/lib64/python2.7/`, `/lib/pypy3.10/`.
    for (p, _) in path.match_indices("/py") {
        let rest = &path_bytes[p + 3..];
        let name = rest.iter().take_while(|&&b| b != b'/').count();
        let word = &rest[..name];
        let version = word
            .strip_prefix(b"thon")
            .or_else(|| word.strip_prefix(b"py"));
        let is_stdlib = version.is_some_and(|v| {
            v.first().is_some_and(u8::is_ascii_digit)
                && v.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        });
        if is_stdlib && rest.get(name) == Some(&b'/') {
            best = best.max(Some(p + 3 + name + 1));
        }
    }
    best.map(|p| &path[p..]).filter(|r| !r.is_empty())
}

fn base(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A thread named by a Python thread ident as printed (`0x00007f3bf2d71640`): the format's
/// own id, not an OS one.
pub fn ident_thread(ident: &str) -> Thread {
    Thread {
        debugger_id: Some(ident.to_string()),
        id_kind: IdKind::Python,
        ..Thread::default()
    }
}

/// `0x` followed by hex digits, case-insensitive; the digits' length.
pub fn hex_len(s: &str) -> Option<usize> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    let n = digits.bytes().take_while(u8::is_ascii_hexdigit).count();
    (n > 0).then_some(n + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_from_paths() {
        for (file, module) in [
            ("/usr/lib/python3.8/threading.py", Some("threading")),
            (
                "/root/.pyenv/versions/3.11.7/lib/python3.11/concurrent/futures/thread.py",
                Some("concurrent.futures.thread"),
            ),
            (
                "/usr/lib/python3.8/site-packages/rkd/api/inputoutput.py",
                Some("rkd.api.inputoutput"),
            ),
            (
                "/venv/lib/python3.12/site-packages/torch/cuda/__init__.py",
                Some("torch.cuda"),
            ),
            (
                "multiprocessing/connection.py",
                Some("multiprocessing.connection"),
            ),
            ("threading.py", Some("threading")),
            ("_base.py", Some("_base")),
            ("/app/worker.py", Some("worker")),
            ("<frozen runpy>", Some("runpy")),
            ("C:\\Python311\\Lib\\queue.py", Some("queue")),
            ("./tools/run.py", Some("tools.run")),
            ("libc.so.6", None),
            ("thread_pthread.h", None),
            ("<string>", None),
            (".py", None),
            ("/.py", None),
        ] {
            assert_eq!(module_of(file).as_deref(), module, "{file}");
        }
    }

    #[test]
    fn frames_are_named_by_module() {
        let f = frame("wait", "/usr/lib/python3.11/threading.py", Some(320));
        assert_eq!(f.function.as_deref(), Some("threading.wait"));
        assert_eq!(f.file.as_deref(), Some("/usr/lib/python3.11/threading.py"));
        assert_eq!(f.line, Some(320));
        let native = frame("PyThread_acquire_lock_timed", "python3.11", None);
        assert_eq!(
            native.function.as_deref(),
            Some("PyThread_acquire_lock_timed")
        );
        assert_eq!(frame("???", "???", None).function, None);
    }

    #[test]
    fn hex_idents() {
        assert_eq!(hex_len("0x7F76 (idle)"), Some(6));
        assert_eq!(hex_len("0x"), None);
        assert_eq!(hex_len("123"), None);
    }
}
