//! Values in a frame's arguments and locals as debuggers print them: the argument a rule
//! names, a number, every address in a value.

use crate::model::Frame;
use crate::values::after_entry;

/// The value of the first of `names` that `frame` has as an argument.
pub(super) fn arg_value<'f>(frame: &'f Frame, names: &[String]) -> Option<&'f str> {
    names.iter().find_map(|n| frame.arg(n))
}

/// A nonzero number, decimal or `0x` hex, from a value (`t@entry=140…`).
pub(super) fn parse_number(v: &str) -> Option<u64> {
    let v = after_entry(v).trim();
    let v = v.split_whitespace().next()?;
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
    .filter(|&n| n != 0)
}

/// Every nonzero `0x` address in a value (a guard's fields).
pub(super) fn all_addresses(value: &str) -> Vec<u64> {
    value
        .match_indices("0x")
        .filter_map(|(p, _)| {
            let hex: String = value[p + 2..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            u64::from_str_radix(&hex, 16).ok().filter(|&a| a != 0)
        })
        .collect()
}
