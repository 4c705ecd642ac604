//! Python thread names (`threading.current_thread().name`), read from the interpreter: the
//! `threading` module's `_active` dict (found through the globals of any frame running
//! `threading.py` code) maps each thread's ident to its `Thread`, whose `_name` attribute is
//! the name. Dicts, instance attributes and ints are read as each version keeps them, each
//! bounded; what does not look whole (a torn or freed object) reads as nothing. A class's
//! dict is read here too (a method's class, `frames`).

use super::layout::{common::*, DictKeys, InstanceDict, Names};
use super::objects::Objects;
use std::collections::HashMap;

/// Entries of one dict read at most.
const MAX_ENTRIES: u64 = 4096;

/// The largest index table a dict read has (`dk_log2_index_bytes`).
const MAX_LOG2_INDEX_BYTES: u8 = 20;

/// The furthest into an instance its dict pointer is looked for (`tp_dictoffset`).
const MAX_DICTOFFSET: u64 = 1 << 16;

/// Each thread's name by its ident, from the `threading` module whose globals are at
/// `globals`.
pub fn thread_names(o: &Objects<'_, '_>, n: &Names, globals: u64) -> HashMap<u64, String> {
    let Some(active) = get(o, n, globals, "_active") else {
        return HashMap::new();
    };
    (items(o, n, active).into_iter())
        .filter_map(|(key, thread)| {
            let ident = int(o, n, key)?;
            let name = attribute(o, n, thread, "_name").and_then(|s| o.string(s))?;
            Some((ident, name))
        })
        .collect()
}

/// The value of the dict at `dict` under the string `name`.
pub fn get(o: &Objects<'_, '_>, n: &Names, dict: u64, name: &str) -> Option<u64> {
    named(o, items(o, n, dict), name)
}

/// The value under the string `name` among `pairs`.
fn named(o: &Objects<'_, '_>, pairs: Vec<(u64, u64)>, name: &str) -> Option<u64> {
    (pairs.into_iter()).find_map(|(k, v)| (o.string(k).as_deref() == Some(name)).then_some(v))
}

/// The (key, value) pairs of the dict at `dict`.
fn items(o: &Objects<'_, '_>, n: &Names, dict: u64) -> Vec<(u64, u64)> {
    let m = o.mem;
    let keys = o.type_of(dict).and_then(|_| m.u64(dict + DICT_KEYS));
    let values = m.u64(dict + DICT_VALUES).filter(|&v| v != 0);
    keys.map(|k| entries(o, n, k, values)).unwrap_or_default()
}

/// The entries of the keys object at `keys`, their values from `values` when the dict is
/// split (an instance's), else from the entries.
fn entries(o: &Objects<'_, '_>, names: &Names, keys: u64, values: Option<u64>) -> Vec<(u64, u64)> {
    let m = o.mem;
    let read = || -> Option<Vec<(u64, u64)>> {
        // The index table's bytes, whether entries hold a hash, and their count.
        let (index_bytes, general, n) = match names.dict_keys {
            DictKeys::Log2 => {
                let log2_index = m.u8(keys + DK_LOG2_INDEX_BYTES)?;
                (log2_index <= MAX_LOG2_INDEX_BYTES).then_some(())?;
                let general = m.u8(keys + DK_KIND)? == 0;
                (1u64 << log2_index, general, m.u64(keys + DK_NENTRIES)?)
            }
            DictKeys::Sized => {
                let slots = m.u64(keys + SIZED_DK_SIZE)?;
                (slots <= 1 << MAX_LOG2_INDEX_BYTES).then_some(())?;
                let width = match slots {
                    0..=0xff => 1,
                    0x100..=0xffff => 2,
                    _ => 4,
                };
                (slots * width, true, m.u64(keys + SIZED_DK_NENTRIES)?)
            }
        };
        if n > MAX_ENTRIES {
            return None;
        }
        let (size, key_at) = if general { (24, 8) } else { (16, 0) };
        let indices = match names.dict_keys {
            DictKeys::Log2 => DK_INDICES,
            DictKeys::Sized => SIZED_DK_INDICES,
        };
        let first = keys + indices + index_bytes;
        let raw = m.bytes(first, (n * size) as usize)?;
        let word =
            |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
        let mut out = Vec::new();
        for (i, e) in raw.chunks_exact(size as usize).enumerate() {
            let key = word(e, key_at);
            let value = match values {
                Some(v) => m.u64(v + 8 * i as u64)?,
                None => word(e, key_at + 8),
            };
            if key != 0 && value != 0 {
                out.push((key, value));
            }
        }
        Some(out)
    };
    read().unwrap_or_default()
}

/// The attribute `name` of the instance at `obj`, from its managed dict.
pub fn attribute(o: &Objects<'_, '_>, n: &Names, obj: u64, name: &str) -> Option<u64> {
    let m = o.mem;
    let ty = o.type_of(obj)?;
    let (dict, values, type_cached_keys) = match n.instance_dict {
        InstanceDict::Managed {
            type_cached_keys,
            tagged,
        } => {
            if m.u64(ty + TYPE_FLAGS)? & MANAGED_DICT == 0 {
                return None;
            }
            let (dict, values) = if tagged {
                let word = m.u64(obj.checked_sub(24)?)?;
                match word & 1 {
                    1 => (0, word + 1),
                    _ => (word, 0),
                }
            } else {
                (m.u64(obj.checked_sub(24)?)?, m.u64(obj.checked_sub(32)?)?)
            };
            (dict, values, type_cached_keys)
        }
        InstanceDict::Inline {
            type_cached_keys,
            type_basicsize,
            values_valid,
            values_values,
        } => {
            let flags = m.u64(ty + TYPE_FLAGS)?;
            let values = match flags & INLINE_VALUES {
                0 => 0,
                _ => obj.checked_add(
                    m.u64(ty + type_basicsize)
                        .filter(|&b| b <= MAX_DICTOFFSET)?,
                )?,
            };
            if values != 0 && m.u8(values + values_valid)? != 0 {
                let keys = m.u64(ty + type_cached_keys)?;
                let values = values + values_values;
                return named(o, entries(o, n, keys, Some(values)), name);
            }
            if flags & MANAGED_DICT == 0 {
                return None;
            }
            (m.u64(obj.checked_sub(24)?)?, 0, 0)
        }
        InstanceDict::Offset { type_dictoffset } => {
            // A negative offset (from the end of a variable-size object) is not read.
            let at = m.u64(ty + type_dictoffset)?;
            if at == 0 || at > MAX_DICTOFFSET {
                return None;
            }
            (m.u64(obj + at)?, 0, 0)
        }
    };
    if values != 0 {
        let keys = m.u64(ty + type_cached_keys)?;
        return named(o, entries(o, n, keys, Some(values)), name);
    }
    (dict != 0).then(|| get(o, n, dict, name))?
}

/// The non-negative `int` at `obj` (a thread's ident: up to three 30-bit digits; `None` for
/// anything else, `None` the object included).
pub fn int(o: &Objects<'_, '_>, n: &Names, obj: u64) -> Option<u64> {
    let m = o.mem;
    o.type_of(obj)?;
    let size = m.u64(obj + OB_SIZE)? as i64;
    let digits = if n.tagged_long {
        // `lv_tag`: the digit count above three bits of sign (0 positive, 1 zero).
        (size & 3 != 2).then_some(size >> 3)?
    } else {
        size
    };
    if !(0..=3).contains(&digits) {
        return None;
    }
    let mut value = 0u64;
    for i in (0..digits as u64).rev() {
        let digit = u64::from(m.i32(obj + LONG_DIGITS + 4 * i)? as u32);
        value = value.checked_mul(1 << 30)? | digit;
    }
    Some(value)
}
