//! Reducing a printed function to the name rules match: no parameter list, no `const`,
//! no `[clone .constprop.3]`, no `@@GLIBC_2.3.2` or `@GLIBC_2.2.5` symbol version, no Rust
//! `::h<hash>`.

/// The base name of a printed function:
/// `std::condition_variable::wait(std::unique_lock<std::mutex>&)` → `std::condition_variable::wait`.
pub fn base_name(function: &str) -> &str {
    let mut s = function.trim();
    if let Some(p) = find(s, " [clone ") {
        s = &s[..p];
    }
    // A symbol version (`@@GLIBC_2.3.2`, or `@GLIBC_2.2.5` for a non-default one, as eu-stack
    // prints it) or a PLT stub (`@plt`).
    if let Some(p) = symbol_version(s) {
        s = &s[..p];
    }
    s = s.strip_suffix(" const").unwrap_or(s);
    s = strip_params(s);
    strip_rust_hash(s)
}

/// Where a symbol version or `@plt` starts: the first `@` followed by a letter or another `@`.
fn symbol_version(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&i| {
        b[i] == b'@'
            && b.get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'@')
    })
}

/// `s.find(pat)` for an ASCII `pat`: names are short, and a plain scan for the pattern's first
/// byte beats setting up a substring searcher for each.
fn find(s: &str, pat: &str) -> Option<usize> {
    let (b, p) = (s.as_bytes(), pat.as_bytes());
    (0..b.len()).find(|&i| b[i] == p[0] && b[i..].starts_with(p))
}

/// `s.rfind(pat)` for an ASCII `pat`, likewise.
fn rfind(s: &str, pat: &str) -> Option<usize> {
    let (b, p) = (s.as_bytes(), pat.as_bytes());
    (0..b.len())
        .rev()
        .find(|&i| b[i] == p[0] && b[i..].starts_with(p))
}

/// Drops a trailing parameter list glued to the name: `f(int, char*)` → `f`. Keeps
/// `operator()` whole.
fn strip_params(s: &str) -> &str {
    if !s.ends_with(')') {
        return s;
    }
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    for i in (0..bytes.len()).rev() {
        match bytes[i] {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    let head = &s[..i];
                    if head.is_empty() || head.ends_with("operator") {
                        return s;
                    }
                    return head.trim_end();
                }
            }
            _ => {}
        }
    }
    s
}

fn strip_rust_hash(s: &str) -> &str {
    if let Some(p) = rfind(s, "::h") {
        let hash = &s[p + 3..];
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return &s[..p];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::base_name;

    #[test]
    fn reduces_printed_names() {
        assert_eq!(
            base_name("std::condition_variable::wait(std::unique_lock<std::mutex>&)"),
            "std::condition_variable::wait"
        );
        assert_eq!(
            base_name("pthread_cond_wait@@GLIBC_2.3.2"),
            "pthread_cond_wait"
        );
        assert_eq!(base_name("foo [clone .constprop.3]"), "foo");
        assert_eq!(base_name("Foo::bar(int) const"), "Foo::bar");
        assert_eq!(base_name("Foo::operator()(int) const"), "Foo::operator()");
        assert_eq!(base_name("Foo::operator()"), "Foo::operator()");
        assert_eq!(
            base_name("std::thread::JoinInner<T>::join::h0123456789abcdef"),
            "std::thread::JoinInner<T>::join"
        );
        assert_eq!(base_name("main"), "main");
        assert_eq!(base_name("é::f@@G [clone .cold]"), "é::f");
        assert_eq!(base_name("f@plt"), "f");
        assert_eq!(
            base_name("__pthread_mutex_lock@GLIBC_2.2.5"),
            "__pthread_mutex_lock"
        );
        assert_eq!(
            base_name("__libc_start_main@@GLIBC_2.34"),
            "__libc_start_main"
        );
        assert_eq!(
            base_name("a::h0123456789abcdef::hxyz"),
            "a::h0123456789abcdef::hxyz"
        );
    }
}
