//! Function names in the one shape the rules match, gdb's: demangled (`demangle`) and reduced
//! to a base name ([`base_name`]). A leaf: the symbolizer, the dump parsers and the knowledge
//! base share it, so a function is named alike whether it was unwound live or read from a dump.

mod base;
mod demangle;
mod python;

pub use base::base_name;
pub(crate) use demangle::{demangle, demangle_data, rust_like_gdb, strip_return_type};
pub use python::python_module;
