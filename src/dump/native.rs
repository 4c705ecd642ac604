//! Names in the native-stack formats other than gdb (lldb, eu-stack, pstack): raw mangled
//! names printed as gdb prints them.

use std::borrow::Cow;

/// A printed function name as gdb prints it, the shape the rules match: raw symbols (`_Z...`,
/// `_R...`) demangled, Rust's legacy escapes decoded (`JoinHandle$LT$T$GT$` →
/// `JoinHandle<T>`), a C++ return type dropped (`void f<int>(int)` → `f<int>(int)`). Borrowed
/// when nothing changes.
pub fn function_name(name: &str) -> Cow<'_, str> {
    if name.starts_with("_Z") || name.starts_with("_R") {
        return Cow::Owned(crate::names::demangle(name, None));
    }
    let name = decode_rust_legacy(name);
    // A return type ends with a space before the parameter list (`f(int, char)` has none).
    let typed = match (name.find(' '), name.find('(')) {
        (Some(space), Some(paren)) => space < paren,
        _ => false,
    };
    if typed {
        Cow::Owned(crate::names::strip_return_type(&name))
    } else {
        name
    }
}

/// Rust's legacy mangling left in a name (`JoinHandle$LT$T$GT$::join`, `_$LT$impl$u20$..`)
/// decoded as gdb prints it; other names unchanged.
fn decode_rust_legacy(name: &str) -> Cow<'_, str> {
    if !name.contains('$') {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    let bytes = name.as_bytes();
    // `name[copied..i]` is plain text not yet copied to `out`; every byte looked at is ASCII,
    // so each cut falls between characters.
    let (mut copied, mut i) = (0, 0);
    let mut decoded = false;
    while i < bytes.len() {
        let mut buf = [0; 4];
        let (skip, text): (usize, &str) = match bytes[i] {
            // A segment that starts with an escape gets an `_` in front of it.
            b'_' if bytes.get(i + 1) == Some(&b'$')
                && (i == 0 || bytes[..i].ends_with(b"::") || bytes[..i].ends_with(b"..")) =>
            {
                (1, "")
            }
            b'$' => match escape(&name[i..]) {
                Some((c, len)) => {
                    decoded = true;
                    (len, &*c.encode_utf8(&mut buf))
                }
                None => {
                    i += 1;
                    continue;
                }
            },
            b'.' if bytes.get(i + 1) == Some(&b'.') => (2, "::"),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&name[copied..i]);
        out.push_str(text);
        i += skip;
        copied = i;
    }
    out.push_str(&name[copied..]);
    if decoded {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(name)
    }
}

/// The escape at the start of `s` (`$LT$`, `$u7b$`, ...): the character and the length.
fn escape(s: &str) -> Option<(char, usize)> {
    // The longest escape is `$u10ffff$`.
    let end = s
        .as_bytes()
        .iter()
        .skip(1)
        .take(8)
        .position(|&b| b == b'$')?
        + 1;
    let c = match &s[1..end] {
        "LT" => '<',
        "GT" => '>',
        "C" => ',',
        "RF" => '&',
        "BP" => '*',
        "SP" => '@',
        "LP" => '(',
        "RP" => ')',
        code => char::from_u32(u32::from_str_radix(code.strip_prefix('u')?, 16).ok()?)?,
    };
    Some((c, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_as_gdb_prints_them() {
        assert_eq!(
            function_name("_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE"),
            "std::condition_variable::wait(std::unique_lock<std::mutex>&)"
        );
        assert_eq!(function_name("pthread_join"), "pthread_join");
        assert_eq!(
            function_name(
                "void std::condition_variable::wait<F>(std::unique_lock<std::mutex>&, F)"
            ),
            "std::condition_variable::wait<F>(std::unique_lock<std::mutex>&, F)"
        );
        assert_eq!(
            function_name("_RNvMs_NtNtCsjrHSEGnQ3l9_3std6thread6threadNtB4_6Thread4park"),
            "std::thread::thread::Thread::park"
        );
        assert_eq!(function_name("Foo::bar(int) const"), "Foo::bar(int) const");
    }

    #[test]
    fn rust_legacy_names() {
        assert_eq!(
            decode_rust_legacy("std::thread::JoinHandle$LT$T$GT$::join::h8bf99f6b6378f358"),
            "std::thread::JoinHandle<T>::join::h8bf99f6b6378f358"
        );
        assert_eq!(
            decode_rust_legacy("_$LT$std..panic..AssertUnwindSafe$LT$F$GT$$u20$as$u20$core..ops..function..FnOnce$LT$$LP$$RP$$GT$$GT$::call_once::hdf6334407d6a84a5"),
            "<std::panic::AssertUnwindSafe<F> as core::ops::function::FnOnce<()>>::call_once::hdf6334407d6a84a5"
        );
        assert_eq!(
            decode_rust_legacy(
                "std::rt::lang_start::_$u7b$$u7b$closure$u7d$$u7d$::h80c826ec4a9681b0"
            ),
            "std::rt::lang_start::{{closure}}::h80c826ec4a9681b0"
        );
        assert_eq!(decode_rust_legacy("a$$b..c"), "a$$b..c");
        assert_eq!(decode_rust_legacy("$u110000$x$uZ$"), "$u110000$x$uZ$");
    }
}
