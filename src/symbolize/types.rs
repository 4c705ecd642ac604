//! DWARF types, read the one way every user needs them: a type's name as the source spells it
//! (qualified by its namespaces and enclosing classes: `std::lock_guard<std::mutex>`), the
//! offset and type of a member named by a path (`__data.__owner`, through typedefs,
//! `const`/`volatile` and base classes), every pointer or reference stored inside a type (a
//! tuple of references), what a pointer or reference points at, and what kind of scalar a
//! value is. Each unit's scopes are indexed once per object ([`Scopes`]); every
//! walk is bounded, so cyclic or hostile DWARF ends, unnamed.

use super::dwarf::Reader;
use gimli::{constants as dw, AttributeValue, UnitOffset, UnitRef};
use std::collections::HashMap;
use std::sync::Arc;

/// A DIE in the unit at hand.
pub(super) type Off = UnitOffset<usize>;
type Die = gimli::DebuggingInformationEntry<Reader>;

/// How deep names, typedef chains and base classes are followed.
const MAX_DEPTH: usize = 12;
/// DIEs indexed per unit at most, for the scopes (a larger unit's types go unqualified).
const MAX_SCOPE_DIES: usize = 2_000_000;

/// The namespaces and classes around each named type DIE of one unit: offset → `std::` prefix.
pub(super) type Scopes = HashMap<usize, Arc<str>>;

/// What a value of a type is, for printing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Signed(u8),
    Unsigned(u8),
    Bool,
    Char(u8),
    Float(u8),
    Pointer,
    /// A struct, class, union or array: shown by address.
    Aggregate,
}

fn entry(unit: UnitRef<'_, Reader>, off: Off) -> Option<Die> {
    unit.entry(off).ok()
}

/// The DIE an attribute refers to, when it is in the same unit.
pub(super) fn reference(die: &Die, at: gimli::DwAt) -> Option<Off> {
    match die.attr_value(at)? {
        AttributeValue::UnitRef(o) => Some(o),
        _ => None,
    }
}

/// The text of a string attribute.
pub(super) fn string(unit: UnitRef<'_, Reader>, die: &Die, at: gimli::DwAt) -> Option<String> {
    let raw = unit.attr_string(die.attr_value(at)?).ok()?;
    Some(String::from_utf8_lossy(&gimli::Reader::to_slice(&raw).ok()?).into_owned())
}

/// An unsigned constant attribute.
fn constant(die: &Die, at: gimli::DwAt) -> Option<u64> {
    die.attr_value(at)?.udata_value()
}

/// Every named type DIE's enclosing namespaces and classes, by one pass over the unit.
pub(super) fn scopes(unit: UnitRef<'_, Reader>) -> Scopes {
    let mut out = Scopes::new();
    let mut path: Vec<(isize, String)> = Vec::new();
    let mut cursor = unit.entries();
    let mut seen = 0usize;
    while let Ok(Some(die)) = cursor.next_dfs() {
        seen += 1;
        if seen > MAX_SCOPE_DIES {
            break;
        }
        let depth = die.depth();
        path.retain(|(d, _)| *d < depth);
        let tag = die.tag();
        let scope = matches!(
            tag,
            dw::DW_TAG_namespace
                | dw::DW_TAG_structure_type
                | dw::DW_TAG_class_type
                | dw::DW_TAG_union_type
                | dw::DW_TAG_enumeration_type
        );
        let named = scope || matches!(tag, dw::DW_TAG_typedef | dw::DW_TAG_base_type);
        if named && !path.is_empty() {
            let prefix: String = path.iter().map(|(_, n)| format!("{n}::")).collect();
            out.insert(die.offset().0, Arc::from(prefix));
        }
        if scope && die.has_children() {
            let name = string(unit, die, dw::DW_AT_name)
                .unwrap_or_else(|| "(anonymous namespace)".to_string());
            path.push((depth, name));
        }
    }
    out
}

/// `off` with typedefs, `const`, `volatile`, `restrict` and `_Atomic` taken off.
pub(super) fn strip(unit: UnitRef<'_, Reader>, mut off: Off) -> Option<(Off, Die)> {
    for _ in 0..MAX_DEPTH {
        let die = entry(unit, off)?;
        match die.tag() {
            dw::DW_TAG_typedef
            | dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type => off = reference(&die, dw::DW_AT_type)?,
            _ => return Some((off, die)),
        }
    }
    None
}

/// The typedefs `off` goes through before the type under them (`GMutexLocker_autoptr`), outermost
/// first, past `const` and the like.
pub(super) fn typedefs(unit: UnitRef<'_, Reader>, mut off: Off) -> Vec<Off> {
    let mut out = Vec::new();
    for _ in 0..MAX_DEPTH {
        let Some(die) = entry(unit, off) else { break };
        match die.tag() {
            dw::DW_TAG_typedef => out.push(off),
            dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type => {}
            _ => break,
        }
        let Some(next) = reference(&die, dw::DW_AT_type) else {
            break;
        };
        off = next;
    }
    out
}

/// The type's name as the source spells it.
pub(super) fn name(unit: UnitRef<'_, Reader>, scopes: &Scopes, off: Off) -> String {
    name_at(unit, scopes, off, 0).unwrap_or_else(|| "?".to_string())
}

fn name_at(unit: UnitRef<'_, Reader>, scopes: &Scopes, off: Off, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    let die = entry(unit, off)?;
    let own = string(unit, &die, dw::DW_AT_name);
    let target = |suffix: &str| {
        let inner = reference(&die, dw::DW_AT_type)
            .and_then(|t| name_at(unit, scopes, t, depth + 1))
            .unwrap_or_else(|| "void".to_string());
        format!("{inner}{suffix}")
    };
    Some(match die.tag() {
        // Rust names its pointers and references (`&std::sync::Mutex<u32>`).
        dw::DW_TAG_pointer_type if own.is_some() => own?,
        dw::DW_TAG_pointer_type => target(" *"),
        dw::DW_TAG_reference_type => target(" &"),
        dw::DW_TAG_rvalue_reference_type => target(" &&"),
        dw::DW_TAG_array_type => target(" []"),
        // `const T`, but a const pointer is `T * const`.
        dw::DW_TAG_const_type => match target("") {
            t if t.ends_with(['*', '&']) => format!("{t} const"),
            t => format!("const {t}"),
        },
        dw::DW_TAG_volatile_type => format!("volatile {}", target("")),
        dw::DW_TAG_subroutine_type => "function".to_string(),
        _ => {
            let prefix = scopes.get(&off.0).map_or("", |p| p);
            format!("{prefix}{}", own.as_deref().unwrap_or("(anonymous)"))
        }
    })
}

/// What kind of value the type holds.
pub(super) fn shape(unit: UnitRef<'_, Reader>, off: Off) -> Shape {
    let Some((_, die)) = strip(unit, off) else {
        return Shape::Aggregate;
    };
    let bytes = constant(&die, dw::DW_AT_byte_size)
        .and_then(|s| u8::try_from(s).ok())
        .filter(|s| (1..=8).contains(s));
    match (die.tag(), bytes) {
        (
            dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type | dw::DW_TAG_rvalue_reference_type,
            _,
        ) => Shape::Pointer,
        (dw::DW_TAG_enumeration_type, Some(n)) => Shape::Signed(n),
        (dw::DW_TAG_base_type, Some(n)) => match die.attr_value(dw::DW_AT_encoding) {
            Some(AttributeValue::Encoding(e)) => match e {
                dw::DW_ATE_boolean => Shape::Bool,
                dw::DW_ATE_float => Shape::Float(n),
                dw::DW_ATE_signed => Shape::Signed(n),
                dw::DW_ATE_signed_char | dw::DW_ATE_unsigned_char | dw::DW_ATE_UTF => {
                    Shape::Char(n)
                }
                _ => Shape::Unsigned(n),
            },
            _ => Shape::Unsigned(n),
        },
        _ => Shape::Aggregate,
    }
}

/// What a pointer or reference type points at.
pub(super) fn pointee(unit: UnitRef<'_, Reader>, off: Off) -> Option<Off> {
    let (_, die) = strip(unit, off)?;
    match die.tag() {
        dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type | dw::DW_TAG_rvalue_reference_type => {
            reference(&die, dw::DW_AT_type)
        }
        _ => None,
    }
}

/// The offset and type of the member at `path` (`__data.__owner`) inside the type.
pub(super) fn member_path(unit: UnitRef<'_, Reader>, off: Off, path: &str) -> Option<(u64, Off)> {
    let mut at = (0u64, off);
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (o, t) = member(unit, at.1, part, 0)?;
        at = (at.0.checked_add(o)?, t);
    }
    Some(at)
}

/// Pointers and references kept at most by [`pointers_in`].
const MAX_POINTERS: usize = 16;

/// Every pointer or reference stored inside the type (its members, theirs, and its base
/// classes', by value: no pointer is followed), with its offset and type, in DWARF order: the
/// references of a `std::tuple<std::mutex&, std::mutex&>`. At most [`MAX_POINTERS`].
pub(super) fn pointers_in(unit: UnitRef<'_, Reader>, off: Off) -> Vec<(u64, Off)> {
    let mut out = Vec::new();
    collect_pointers(unit, off, 0, 0, &mut out);
    out
}

fn collect_pointers(
    unit: UnitRef<'_, Reader>,
    off: Off,
    at: u64,
    depth: usize,
    out: &mut Vec<(u64, Off)>,
) {
    let Some((off, die)) = strip(unit, off) else {
        return;
    };
    if depth > MAX_DEPTH || out.len() >= MAX_POINTERS {
        return;
    }
    match die.tag() {
        dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type | dw::DW_TAG_rvalue_reference_type => {
            out.push((at, off));
            return;
        }
        dw::DW_TAG_structure_type | dw::DW_TAG_class_type => {}
        _ => return,
    }
    let Ok(mut tree) = unit.entries_tree(Some(off)) else {
        return;
    };
    let Ok(root) = tree.root() else { return };
    let mut children = root.children();
    while let Ok(Some(child)) = children.next() {
        let die = child.entry();
        // A static member (a declaration) is not stored in the object.
        let stored = die.attr_value(dw::DW_AT_declaration).is_none();
        if !matches!(die.tag(), dw::DW_TAG_member | dw::DW_TAG_inheritance) || !stored {
            continue;
        }
        let offset = constant(die, dw::DW_AT_data_member_location).unwrap_or(0);
        if let (Some(t), Some(inner)) = (reference(die, dw::DW_AT_type), at.checked_add(offset)) {
            collect_pointers(unit, t, inner, depth + 1, out);
        }
    }
}

/// A member by name, also one a base class has.
fn member(unit: UnitRef<'_, Reader>, off: Off, name: &str, depth: usize) -> Option<(u64, Off)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (off, _) = strip(unit, off)?;
    let mut tree = unit.entries_tree(Some(off)).ok()?;
    let root = tree.root().ok()?;
    let mut children = root.children();
    let mut bases = Vec::new();
    while let Ok(Some(child)) = children.next() {
        let die = child.entry();
        let offset = constant(die, dw::DW_AT_data_member_location).unwrap_or(0);
        match die.tag() {
            dw::DW_TAG_member if string(unit, die, dw::DW_AT_name).as_deref() == Some(name) => {
                return Some((offset, reference(die, dw::DW_AT_type)?));
            }
            dw::DW_TAG_inheritance => {
                if let Some(t) = reference(die, dw::DW_AT_type) {
                    bases.push((offset, t));
                }
            }
            _ => {}
        }
    }
    bases.into_iter().find_map(|(base_offset, t)| {
        let (o, ty) = member(unit, t, name, depth + 1)?;
        Some((base_offset.checked_add(o)?, ty))
    })
}

#[cfg(test)]
mod tests;
