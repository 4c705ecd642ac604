//! Python's names for code: the dotted module a source path names, so that a frame read from
//! a dump and one read from the interpreter's memory are named alike (`threading.wait`).

/// The dotted module a Python source path names. Installed code is named from its package
/// root (after `site-packages/`, `dist-packages/` or `lib/pythonX.Y/`); py-spy's shortened
/// relative paths name it already (`multiprocessing/connection.py`); any other absolute path
/// (a script) by its file name. `<frozen runpy>` is `runpy`. `None` for non-Python files.
pub fn python_module(file: &str) -> Option<String> {
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
            assert_eq!(python_module(file).as_deref(), module, "{file}");
        }
    }
}
