//! The variables in scope at one pc, as DWARF describes them: for each function level there
//! (inlined ones first, as addr2line lists them), its parameters and the locals of every
//! lexical block around the pc, each with its name, type, shape and the location expression
//! that holds at this pc (a location list already narrowed to it), plus the frame base of the
//! function. Computed once per distinct pc, with no registers: [`super::vars`] evaluates them
//! for each frame. Guard variables (the `guard` rules' types) get their layout here too.
//! What is read is the caller's [`VarRequest`]: by default only guards, so most variables
//! cost no name and no type.

use super::dwarf::Reader;
use super::types::{self, Off, Scopes, Shape};
use crate::model::Text;
use gimli::{constants as dw, AttributeValue, Expression, UnitRef};
use std::sync::Arc;

/// Variables kept per function level at most.
const MAX_VARS: usize = 512;
/// Lexical blocks followed inside one another at most.
const MAX_NESTING: usize = 32;

/// Which variables to read.
#[derive(Debug, Clone, Default)]
pub struct VarRequest {
    /// Every parameter and local of every frame (`--locals`), not only guards.
    pub all: bool,
    /// The guard types the rules know.
    pub guards: Vec<GuardSpec>,
    /// The functions whose named parameters are read (a wait's `address_args` where the
    /// futex word names no lock).
    pub args: Vec<ArgSpec>,
}

impl VarRequest {
    /// True when nothing is to be read.
    pub fn is_empty(&self) -> bool {
        !self.all && self.guards.is_empty() && self.args.is_empty()
    }

    /// The parameters to read in a function of this base name (see [`crate::names`]).
    pub(super) fn params_of(&self, base: &str) -> Vec<String> {
        (self.args.iter())
            .filter(|a| a.pattern.is_match(base.as_bytes()))
            .flat_map(|a| a.names.iter().cloned())
            .collect()
    }
}

/// Parameters to read in the frames of some functions, as a rule names them.
#[derive(Debug, Clone)]
pub struct ArgSpec {
    /// Matches the function's base name (`^absl::(\w+::)?MutexLock::MutexLock$`).
    pub pattern: regex::bytes::Regex,
    /// The parameters' names (`mu`).
    pub names: Vec<String>,
}

/// A guard type, as a `guard` rule describes it (see docs/rules.md).
#[derive(Debug, Clone)]
pub struct GuardSpec {
    /// The rule's id.
    pub rule: String,
    /// Matches the guard's qualified type name (`^std::lock_guard<`).
    pub pattern: regex::bytes::Regex,
    /// The member path of the pointer or reference to the lock (`_M_device`); empty: the
    /// guard is a pointer, itself the lock's address; ending in `*` (`_M_devices.*`): every
    /// pointer or reference stored inside that member is a lock the guard holds.
    pub pointer: String,
    /// The member path, inside the lock, of what its waiters wait on (`inner.futex`; empty:
    /// the lock itself).
    pub within: String,
    /// The member path of the flag that says the guard owns the lock (`_M_owns`), if any.
    pub owns: Option<String>,
}

/// Where a variable's value is at this pc.
#[derive(Debug, Clone)]
pub(super) enum Loc {
    Expr(Expression<Reader>),
    Const(u64),
    /// Not available here, and why.
    Gone(&'static str),
}

/// How a guard variable's bytes name its lock.
#[derive(Debug, Clone)]
pub(super) struct GuardLayout {
    pub rule: Arc<str>,
    /// Each lock the guard holds, as (the offset of its pointer or reference in the guard,
    /// the offset inside the lock of what its waiters wait on): one, or every pointer of a
    /// guard of several locks. Never empty.
    pub locks: Vec<(u64, u64)>,
    /// The guard is itself the pointer to the lock: its value, in memory or a register.
    pub by_value: bool,
    /// Offset of the flag that says the guard owns the lock, if it has one.
    pub owns: Option<u64>,
}

/// One variable.
#[derive(Debug, Clone)]
pub(super) struct Desc {
    pub name: Text,
    pub ty: Option<Text>,
    pub param: bool,
    pub loc: Loc,
    pub shape: Shape,
    pub guard: Option<GuardLayout>,
    /// The line it is declared on (`DW_AT_decl_line`).
    pub decl_line: Option<u64>,
}

/// The variables of one function level.
#[derive(Debug, Clone)]
pub(super) struct Level {
    pub vars: Vec<Desc>,
    pub frame_base: Option<Expression<Reader>>,
    pub encoding: gimli::Encoding,
}

/// Every level's variables at one pc, and the object's load bias (runtime - static address).
#[derive(Debug, Clone, Default)]
pub(super) struct PcVars {
    pub levels: Vec<Level>,
    pub bias: u64,
}

/// The variables at `svma` of the levels whose DIEs are `dies` (innermost first) in `unit`,
/// each with the parameters asked for by name in it ([`VarRequest::params_of`]); `scopes`
/// gives the unit's scopes (indexed on first need: most pcs name no type).
pub(super) fn collect(
    unit: UnitRef<'_, Reader>,
    scopes: &dyn Fn() -> Arc<Scopes>,
    dies: &[(Option<Off>, Vec<String>)],
    svma: u64,
    request: &VarRequest,
) -> Vec<Level> {
    let frame_base = dies
        .iter()
        .rev()
        .find_map(|(die, _)| *die)
        .and_then(|o| unit.entry(o).ok())
        .and_then(|die| match die.attr_value(dw::DW_AT_frame_base) {
            Some(AttributeValue::Exprloc(e)) => Some(e),
            _ => None,
        });
    dies.iter()
        .map(|(die, params)| {
            let mut vars = Vec::new();
            if let Some(off) = die {
                let wanted = Wanted { request, params };
                walk(unit, scopes, *off, svma, &wanted, 0, &mut vars);
            }
            Level {
                vars,
                frame_base: frame_base.clone(),
                encoding: unit.encoding(),
            }
        })
        .collect()
}

fn walk(
    unit: UnitRef<'_, Reader>,
    scopes: &dyn Fn() -> Arc<Scopes>,
    off: Off,
    svma: u64,
    wanted: &Wanted<'_>,
    nesting: usize,
    out: &mut Vec<Desc>,
) {
    let Ok(mut tree) = unit.entries_tree(Some(off)) else {
        return;
    };
    let Ok(root) = tree.root() else { return };
    let mut children = root.children();
    let mut blocks = Vec::new();
    while let Ok(Some(child)) = children.next() {
        if out.len() >= MAX_VARS {
            return;
        }
        let die = child.entry();
        match die.tag() {
            dw::DW_TAG_formal_parameter | dw::DW_TAG_variable => {
                if let Some(d) = describe(unit, scopes, die, svma, wanted) {
                    out.push(d);
                }
            }
            dw::DW_TAG_lexical_block if nesting < MAX_NESTING && covers(unit, die, svma) => {
                blocks.push(die.offset());
            }
            _ => {}
        }
    }
    for b in blocks {
        walk(unit, scopes, b, svma, wanted, nesting + 1, out);
    }
}

/// True if the block's ranges hold `svma` (a block with none holds every pc of its parent).
fn covers(
    unit: UnitRef<'_, Reader>,
    die: &gimli::DebuggingInformationEntry<Reader>,
    svma: u64,
) -> bool {
    let Ok(mut ranges) = unit.die_ranges(die) else {
        return false;
    };
    let mut any = false;
    while let Ok(Some(r)) = ranges.next() {
        any = true;
        if (r.begin..r.end).contains(&svma) {
            return true;
        }
    }
    !any
}

/// What to read at one function level: the request, and the parameters it names there.
struct Wanted<'a> {
    request: &'a VarRequest,
    params: &'a [String],
}

/// One variable: its name and type (also through `DW_AT_abstract_origin`, for inlined and
/// out-of-line copies) and where it is at `svma`. None for variables the request leaves out.
fn describe(
    unit: UnitRef<'_, Reader>,
    scopes: &dyn Fn() -> Arc<Scopes>,
    die: &gimli::DebuggingInformationEntry<Reader>,
    svma: u64,
    wanted: &Wanted<'_>,
) -> Option<Desc> {
    let request = wanted.request;
    let origin = types::reference(die, dw::DW_AT_abstract_origin).and_then(|o| unit.entry(o).ok());
    let attr_of =
        |at| types::string(unit, die, at).or_else(|| types::string(unit, origin.as_ref()?, at));
    let ty = types::reference(die, dw::DW_AT_type)
        .or_else(|| types::reference(origin.as_ref()?, dw::DW_AT_type));
    let guard = ty.and_then(|t| guard_layout(unit, scopes, t, &request.guards));
    let name = attr_of(dw::DW_AT_name).unwrap_or_default();
    let param = die.tag() == dw::DW_TAG_formal_parameter;
    if !request.all && guard.is_none() && !(param && wanted.params.contains(&name)) {
        return None;
    }
    let loc = match die.attr_value(dw::DW_AT_location) {
        Some(AttributeValue::Exprloc(e)) => Loc::Expr(e),
        Some(v @ (AttributeValue::LocationListsRef(_) | AttributeValue::SecOffset(_))) => {
            at_pc(unit, v, svma)
        }
        _ => match die.attr_value(dw::DW_AT_const_value) {
            Some(v) => v.udata_value().map_or(Loc::Gone("a constant"), Loc::Const),
            None => Loc::Gone("optimized out"),
        },
    };
    Some(Desc {
        name: Text::from(name.as_str()),
        ty: ty.map(|t| Text::from(types::name(unit, &scopes(), t).as_str())),
        param,
        loc,
        shape: ty.map_or(Shape::Aggregate, |t| types::shape(unit, t)),
        guard,
        decl_line: (die.attr_value(dw::DW_AT_decl_line))
            .or_else(|| origin.as_ref()?.attr_value(dw::DW_AT_decl_line))
            .and_then(|v| v.udata_value()),
    })
}

/// The location list entry that holds at `svma`.
fn at_pc(unit: UnitRef<'_, Reader>, list: AttributeValue<Reader>, svma: u64) -> Loc {
    let Ok(Some(mut entries)) = unit.attr_locations(list) else {
        return Loc::Gone("a location list that cannot be read");
    };
    while let Ok(Some(e)) = entries.next() {
        if (e.range.begin..e.range.end).contains(&svma) {
            return Loc::Expr(e.data);
        }
    }
    Loc::Gone("optimized out")
}

/// The layout of a guard of type `ty`, when a guard rule names the type: a struct or class
/// whose member points at the lock, or a pointer that is itself the lock's address (a rule
/// with an empty `pointer`: GLib's `g_autoptr(GMutexLocker)`), known by the typedef it is
/// declared through. Other variables cost no qualified name.
fn guard_layout(
    unit: UnitRef<'_, Reader>,
    scopes: &dyn Fn() -> Arc<Scopes>,
    ty: Off,
    specs: &[GuardSpec],
) -> Option<GuardLayout> {
    let (off, die) = types::strip(unit, ty)?;
    let by_value = die.tag() == dw::DW_TAG_pointer_type;
    if specs.is_empty()
        || !(by_value || matches!(die.tag(), dw::DW_TAG_structure_type | dw::DW_TAG_class_type))
    {
        return None;
    }
    // The names it goes by: the typedefs it is declared through, then (a struct's) its own. A
    // bare pointer (`char *`) is no guard: it costs no name.
    let typedefs = types::typedefs(unit, ty);
    if by_value && typedefs.is_empty() {
        return None;
    }
    let scopes = scopes();
    let mut names = (typedefs.into_iter())
        .map(|t| types::name(unit, &scopes, t))
        .collect::<Vec<_>>();
    if !by_value {
        names.push(types::name(unit, &scopes, off));
    }
    // The first rule that names the type and whose members the type has.
    specs
        .iter()
        .filter(|s| {
            s.pointer.is_empty() == by_value
                && names.iter().any(|n| s.pattern.is_match(n.as_bytes()))
        })
        .find_map(|spec| layout_of(unit, off, by_value, spec))
}

/// The layout `spec` gives the guard type `off`, when the type has the members it names.
fn layout_of(
    unit: UnitRef<'_, Reader>,
    off: Off,
    by_value: bool,
    spec: &GuardSpec,
) -> Option<GuardLayout> {
    let pointers = match spec.pointer.strip_suffix('*') {
        Some(path) => {
            let (at, ty) = types::member_path(unit, off, path.trim_end_matches('.'))?;
            (types::pointers_in(unit, ty).into_iter())
                .filter_map(|(o, t)| Some((at.checked_add(o)?, t)))
                .collect()
        }
        None => vec![types::member_path(unit, off, &spec.pointer)?],
    };
    let locks: Vec<(u64, u64)> = (pointers.into_iter())
        .filter_map(|(pointer, ty)| {
            let within = match spec.within.as_str() {
                "" => 0,
                path => types::member_path(unit, types::pointee(unit, ty)?, path)?.0,
            };
            Some((pointer, within))
        })
        .collect();
    if locks.is_empty() {
        return None;
    }
    let owns = match &spec.owns {
        Some(path) => Some(types::member_path(unit, off, path)?.0),
        None => None,
    };
    Some(GuardLayout {
        rule: Arc::from(spec.rule.as_str()),
        locks,
        by_value,
        owns,
    })
}
