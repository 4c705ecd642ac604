//! What the two Python dump formats (faulthandler, py-spy) share: naming a Python frame's
//! function by its module, so that rules match `threading.wait` or `queue.get` whichever tool
//! printed the stack and however it shortened the path, and reading a thread's identity.

use crate::dump::skeleton::intern::{derived, share, share_owned};
use crate::model::{Frame, IdKind, Thread};
use crate::names::python_module;

/// A Python frame: `func` qualified with the module its `file` names (`threading.wait` for
/// `wait` in `/usr/lib/python3.11/threading.py`), the file kept as printed. A frame whose
/// file is not Python source (a native frame) keeps its name as it is.
pub fn frame(func: &str, file: &str, line: Option<u32>) -> Frame {
    let function = derived(&[func, file], || {
        let function = match python_module(file) {
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
