//! Values as debuggers print them (`0x601040 <global_mutex>`, `m@entry=0x10`,
//! `(pthread_mutex_t *) 0x5000 <m>`, Python's `<Queue at 0x7f00>`): the address and the
//! symbol in them. A leaf: the dump
//! parsers read owners with it and the analysis reads the arguments a frame kept as text.

/// The address in a printed value: `0x601040 <global_mutex>`, `x@entry=0x10`, `@0x7ffd: 0`,
/// and a Python object's default repr as py-spy `--locals` prints it (`<Queue at 0x7f00>`,
/// `<queue.Queue object at 0x7f00>`).
pub fn value_address(value: &str) -> Option<u64> {
    let v = after_entry(value);
    if let Some(inner) = v.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        return inner
            .rsplit_once(" at 0x")
            .and_then(|(_, hex)| u64::from_str_radix(hex, 16).ok())
            .filter(|&a| a != 0);
    }
    let v = v.trim_start_matches(['@', '(']).trim_start();
    // `(pthread_mutex_t *) 0x...`: skip a cast.
    let v = if v.starts_with(|c: char| c.is_alphabetic()) {
        v.find(") 0x").map_or(v, |p| &v[p + 2..])
    } else {
        v
    };
    let hex = v.strip_prefix("0x")?;
    let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    let addr = u64::from_str_radix(&hex[..n], 16).ok()?;
    (addr != 0).then_some(addr)
}

/// What follows the last `@entry=` in a value (`x@entry=0x10` → `0x10`), or all of it. Found
/// from the `@`s, without setting up a substring search for every (short) value.
pub fn after_entry(value: &str) -> &str {
    const ENTRY: &[u8] = b"@entry=";
    let bytes = value.as_bytes();
    let mut end = bytes.len();
    while let Some(at) = bytes[..end].iter().rposition(|&b| b == b'@') {
        if bytes[at..].starts_with(ENTRY) {
            return &value[at + ENTRY.len()..];
        }
        end = at;
    }
    value
}

/// The symbol gdb printed after an address: `0x601040 <global_mutex>` → `global_mutex`.
pub fn value_symbol(value: &str) -> Option<&str> {
    // The first ` <`.
    let start = value
        .match_indices('<')
        .find(|(p, _)| value[..*p].ends_with(' '))?
        .0
        + 1;
    let end = value.rfind('>')?;
    (end > start).then(|| &value[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_values() {
        assert_eq!(value_address("0x601040 <global_mutex>"), Some(0x601040));
        assert_eq!(
            value_address("mutex@entry=0x5555568bb280 <m>"),
            Some(0x5555568bb280)
        );
        assert_eq!(value_address("@0x7ffd: 0"), Some(0x7ffd));
        assert_eq!(value_address("<optimized out>"), None);
        assert_eq!(
            value_address("<Queue at 0x7f912a4f4c40>"),
            Some(0x7f912a4f4c40)
        );
        assert_eq!(
            value_address("<queue.Queue object at 0x7f00>"),
            Some(0x7f00)
        );
        assert_eq!(value_address("<Queue at 0x7f00> extra"), None);
        assert_eq!(
            value_address("(pthread_mutex_t *) 0x5000 <m>"),
            Some(0x5000)
        );
        assert_eq!(value_address("m@entry=x@entry=0x20"), Some(0x20));
        assert_eq!(value_symbol("0x1 <a <b>>"), Some("a <b>"));
        assert_eq!(value_symbol("<x> 0x1"), None);
        assert_eq!(value_address("0x0"), None);
        assert_eq!(
            value_symbol("0x601040 <global_mutex>"),
            Some("global_mutex")
        );
    }
}
