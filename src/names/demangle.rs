//! Function names as gdb prints them: demangled, Rust without the `::h<hash>`, C++ without the
//! return type that demanglers print for template functions (gdb shows
//! `std::condition_variable::wait<...>(...)`, not `void std::condition_variable::wait<...>(...)`),
//! which is what the knowledge rules match; and without the traces cpp_demangle leaves of empty
//! parameter packs (`f<int, >(int, &&)` for gdb's `f<int>(int)`). Rust v0 names lose what gdb
//! does not print: `<std::sys::Mutex>::lock` is `std::sys::Mutex::lock`, `f::<T>` is `f<T>`.

use gimli::{DW_LANG_C_plus_plus, DW_LANG_Rust, DwLang};

/// Demangles `raw`, a linkage or symbol name, in `language` when known (else Rust, then C++).
pub(crate) fn demangle(raw: &str, language: Option<DwLang>) -> String {
    if language.is_none_or(|l| l == DW_LANG_Rust) {
        if let Some(s) = addr2line::demangle(raw, DW_LANG_Rust) {
            return rust_like_gdb(s);
        }
    }
    if language != Some(DW_LANG_Rust) && raw.starts_with("_Z") {
        if let Some(s) = addr2line::demangle(raw, DW_LANG_C_plus_plus) {
            return strip_return_type(&drop_empty_packs(s));
        }
    }
    raw.to_string()
}

/// A data symbol's name (a global, a static, a guard variable) as gdb prints it after an
/// address: demangled, a C++ special name's words kept (`guard variable for config()::c`), a
/// function-local static's function without its return type.
pub(crate) fn demangle_data(raw: &str) -> String {
    if let Some(s) = addr2line::demangle(raw, DW_LANG_Rust) {
        return rust_like_gdb(s);
    }
    let Some(s) = raw
        .starts_with("_Z")
        .then(|| addr2line::demangle(raw, DW_LANG_C_plus_plus))
        .flatten()
    else {
        return raw.to_string();
    };
    let s = drop_empty_packs(s);
    // `guard variable for `, `typeinfo name for `: words, then what they are for.
    let words = s.find(" for ").filter(|&at| {
        (s[..at].bytes()).all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'#')
    });
    match words {
        Some(at) => format!("{}{}", &s[..at + 5], strip_return_type(&s[at + 5..])),
        None => strip_return_type(&s),
    }
}

/// Rust v0 demangling as gdb prints the path: no turbofish, and an inherent impl's
/// `<Type>::method` as `Type::method` (trait impls, `<T as Trait>::method`, stay). Also used
/// for the names Rust's own backtraces print.
pub(crate) fn rust_like_gdb(s: String) -> String {
    let s = s.replace("::<", "<");
    if !s.starts_with('<') {
        return s;
    }
    let b = s.as_bytes();
    let mut depth = 0;
    for i in 0..b.len() {
        match b[i] {
            b'<' => depth += 1,
            b'>' if i > 0 && b[i - 1] == b'-' => {} // `Fn() -> T`
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    let inner = &s[1..i];
                    return if s[i + 1..].starts_with("::") && !inner.contains(" as ") {
                        format!("{inner}{}", &s[i + 1..])
                    } else {
                        s
                    };
                }
            }
            _ => {}
        }
    }
    s
}

/// Removes what an empty parameter pack leaves in cpp_demangle's output: a trailing `, ` in a
/// template argument list, a lone `&&` or `&` parameter.
fn drop_empty_packs(mut s: String) -> String {
    for (from, to) in [
        (", >", ">"),
        (", &&)", ")"),
        (", &)", ")"),
        ("(&&)", "()"),
        ("(&)", "()"),
        ("(&&, ", "("),
    ] {
        while s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Bytes of an operator name after `operator` (`()`, `<<=`, `->*`, `[]`, ...).
fn operator_symbol_len(rest: &[u8]) -> usize {
    if rest.starts_with(b"()") {
        return 2;
    }
    rest.iter()
        .take_while(|b| b"<>=!+-*/%^&|~,[]".contains(b))
        .count()
}

/// Drops the return type from a demangled C++ function: the text up to the last space at
/// nesting depth zero before the parameter list (the last top-level `(...)`). Spaces inside
/// `<>`, `()`, `[]`, `{}` and the one after `operator` do not count.
pub(crate) fn strip_return_type(s: &str) -> String {
    let b = s.as_bytes();
    let mut depth = 0i32;
    let mut last_space = None;
    // The depth-zero space before the last depth-zero `(`.
    let mut cut = None;
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"operator")
            && (i == 0 || !is_ident(b[i - 1]))
            && b.get(i + 8).is_none_or(|&c| !is_ident(c))
        {
            i += 8;
            if b.get(i) == Some(&b' ') {
                i += 1; // `operator new`, `operator bool`: not a return type's end
            } else {
                i += operator_symbol_len(&b[i..]);
                if b[i..].starts_with(b" <") {
                    i += 1; // `operator< <int>`: template arguments follow
                }
            }
            continue;
        }
        match b[i] {
            b'(' => {
                if depth == 0 {
                    cut = last_space;
                }
                depth += 1;
            }
            b'<' | b'[' | b'{' => depth += 1,
            b')' | b'>' | b']' | b'}' => depth -= 1,
            b' ' if depth == 0 => last_space = Some(i),
            _ => {}
        }
        i += 1;
    }
    match cut {
        Some(at) if depth == 0 && at + 1 < s.len() => s[at + 1..].to_string(),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{demangle, demangle_data, rust_like_gdb, strip_return_type};

    #[test]
    fn data_symbols_as_gdb_prints_them() {
        for (raw, gdb) in [
            ("stats_lock", "stats_lock"),
            ("_ZZ6configvE1c", "config()::c"),
            ("_ZGVZ6configvE1c", "guard variable for config()::c"),
            ("_ZZ1fIiEvvE1x", "f<int>()::x"),
            ("_ZGVZ1fIiEvvE1x", "guard variable for f<int>()::x"),
            ("_ZN3app5STATE17h0123456789abcdefE", "app::STATE"),
        ] {
            assert_eq!(demangle_data(raw), gdb, "{raw}");
        }
    }

    #[test]
    fn rust_paths_as_gdb_prints_them() {
        for (v0, gdb) in [
            (
                "<std::sys::sync::mutex::futex::Mutex>::lock_contended",
                "std::sys::sync::mutex::futex::Mutex::lock_contended",
            ),
            (
                "<core::cell::RefCell<T>>::borrow",
                "core::cell::RefCell<T>::borrow",
            ),
            (
                "std::panicking::catch_unwind::do_call::<i32>",
                "std::panicking::catch_unwind::do_call<i32>",
            ),
            (
                "<alloc::boxed::Box<dyn FnOnce() -> i32> as FnOnce<()>>::call_once",
                "<alloc::boxed::Box<dyn FnOnce() -> i32> as FnOnce<()>>::call_once",
            ),
            ("rust_abba::Bank::transfer", "rust_abba::Bank::transfer"),
        ] {
            assert_eq!(rust_like_gdb(v0.to_string()), gdb);
        }
    }

    #[test]
    fn return_types_go() {
        for (with, without) in [
            (
                "void std::condition_variable::wait<WorkerPool::join()::{lambda()#1}>(std::unique_lock<std::mutex>&, WorkerPool::join()::{lambda()#1})",
                "std::condition_variable::wait<WorkerPool::join()::{lambda()#1}>(std::unique_lock<std::mutex>&, WorkerPool::join()::{lambda()#1})",
            ),
            ("unsigned long f<int>(int)", "f<int>(int)"),
            (
                "decltype ({parm#1}()) std::__invoke_impl<void, F&>(std::__invoke_other, F&)",
                "std::__invoke_impl<void, F&>(std::__invoke_other, F&)",
            ),
            ("std::vector<int, std::allocator<int> > const& g<int>()", "g<int>()"),
            ("bool operator< <int>(A<int> const&, A<int> const&)", "operator< <int>(A<int> const&, A<int> const&)"),
            ("void (anonymous namespace)::h<int>()", "(anonymous namespace)::h<int>()"),
        ] {
            assert_eq!(strip_return_type(with), without, "{with}");
        }
    }

    #[test]
    fn other_names_stay() {
        for name in [
            "WorkerPool::join()",
            "Server::accept_one()::{lambda()#1}::operator()() const",
            "Foo::operator bool() const",
            "operator new(unsigned long)",
            "Foo::operator<<(int)",
            "(anonymous namespace)::run(int)",
            "Connection::read_request[abi:cxx11]()",
            "f() [clone .cold]",
            "plain_c_function",
        ] {
            assert_eq!(strip_return_type(name), name);
        }
    }

    #[test]
    fn languages() {
        assert_eq!(
            demangle("_ZN10WorkerPool4joinEv", None),
            "WorkerPool::join()"
        );
        assert_eq!(
            demangle("_ZN9rust_abba4Bank8transfer17h0123456789abcdefE", None),
            "rust_abba::Bank::transfer"
        );
        assert_eq!(
            demangle("_ZNSt18condition_variable4waitIZN10WorkerPool4joinEvEUlvE_EEvRSt11unique_lockISt5mutexET_", Some(gimli::DW_LANG_C_plus_plus)),
            "std::condition_variable::wait<WorkerPool::join()::{lambda()#1}>(std::unique_lock<std::mutex>&, WorkerPool::join()::{lambda()#1})"
        );
        assert_eq!(
            demangle("start_thread", Some(gimli::DW_LANG_C11)),
            "start_thread"
        );
        assert_eq!(demangle("_Zgarbage", None), "_Zgarbage");
    }
}
