//! Data addresses named by their objects' symbol tables, as gdb prints `0x4040a0 <stats_lock>`:
//! the global, static or C++ guard variable whose bytes hold an address, with its start and
//! size (so that an address inside it is `name+offset`). Only the few addresses asked about (the
//! words threads wait on, the locks guards hold) are looked up; each object's data symbols are
//! read once, on its first address, from the same loaded objects (and debug files) frames are
//! symbolized with.

use super::Symbolizer;
use crate::model::Evidence;
use crate::unwind::{AddressSpace, MappedObject};
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Mappings without a file walked back over, at most, to the object an address belongs to: a
/// `.bss` larger than the file's last page is an anonymous mapping right after it.
const BSS_REACH: usize = 2;

impl Symbolizer {
    /// The data objects holding `addresses` (each at most once), as evidence for the analysis:
    /// an address in no object's data, or in none of its symbols, is left out.
    pub fn data_symbols(
        &self,
        space: &AddressSpace,
        addresses: impl IntoIterator<Item = u64>,
    ) -> Vec<Evidence> {
        let mut named: Vec<Evidence> = Vec::new();
        for address in addresses.into_iter().collect::<BTreeSet<u64>>() {
            if named_in(&named, address) {
                continue;
            }
            let found = catch_unwind(AssertUnwindSafe(|| self.data_symbol(space, address)));
            named.extend(found.ok().flatten());
        }
        named
    }

    /// Whether `address` lies in no object's image (its loaded segments, `.bss` included): on
    /// the heap, in anonymous memory or on a stack. An address near an object whose file
    /// cannot be read, or may not be the one mapped, may be in its image: not outside.
    pub fn outside_images(&self, space: &AddressSpace, address: u64) -> bool {
        let Some(owner) = owner_mapping(space, address) else {
            return true;
        };
        let inside = || {
            let map = code_mapping(space, owner)?;
            let loaded = self.object(space, map).filter(|l| l.doubt.is_none())?;
            let bias = loaded.symbols.file().bias(map)?;
            Some(loaded.symbols.file().loads(address.wrapping_sub(bias)))
        };
        let inside = catch_unwind(AssertUnwindSafe(inside)).ok().flatten();
        inside == Some(false) && !owner.contains(address)
    }

    fn data_symbol(&self, space: &AddressSpace, address: u64) -> Option<Evidence> {
        let map = code_mapping(space, owner_mapping(space, address)?)?;
        // Not named from a file that may not be the one mapped (its frames say so).
        let loaded = self.object(space, map).filter(|l| l.doubt.is_none())?;
        let bias = loaded.symbols.file().bias(map)?;
        let svma = address.wrapping_sub(bias);
        if !loaded.symbols.file().loads(svma) {
            return None;
        }
        let (name, start, size) = loaded.symbols.data_symbol(svma)?;
        Some(Evidence::DataSymbol {
            address: start.wrapping_add(bias),
            size,
            name,
        })
    }
}

/// Whether a `data-symbol` object of `evidence` holds `address` (it is named already).
pub(super) fn named_in(evidence: &[Evidence], address: u64) -> bool {
    evidence.iter().any(|e| match e {
        Evidence::DataSymbol {
            address: start,
            size,
            ..
        } => address >= *start && address - start < *size,
        _ => false,
    })
}

/// The file mapping `address` belongs to: the one holding it, or for an address in a mapping
/// without a file, the file mapping just before it (its object's `.bss`).
fn owner_mapping(space: &AddressSpace, address: u64) -> Option<&MappedObject> {
    let at = space.objects.partition_point(|o| o.start <= address);
    let mut candidates = space.objects[..at].iter().rev().take(BSS_REACH + 1);
    candidates.find(|o| o.path.is_some())
}

/// The executable mapping of `map`'s object (the one its frames were symbolized through, so
/// that its symbols are loaded once).
fn code_mapping<'s>(space: &'s AddressSpace, map: &MappedObject) -> Option<&'s MappedObject> {
    (space.objects.iter()).find(|o| o.executable && o.path.is_some() && o.name == map.name)
}
