//! The target's memory as the interpreter reader sees it: the process's own bytes (a stopped
//! process, or a core), then for what those lack the files the process maps (a core leaves
//! read-only file pages out: type names, `Py_Version`). Every read is bounded, counted
//! against a budget, and returns `None` rather than failing: a torn or bad pointer ends a walk.

use crate::objects::elf::{open_object, ElfFile};
use crate::objects::AddressSpace;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Reads up to the length asked at an address (fewer bytes, or none, where memory ends).
pub type ReadFn<'a> = &'a dyn Fn(u64, usize) -> Vec<u8>;

/// Reads the reader may make in all, whatever the process holds (a few per frame, tens per
/// code object): a corrupt structure that loops ends here.
const READS: usize = 200_000;

/// The longest string read (a function or file name).
const MAX_STRING: usize = 4096;

/// Memory to read, with its budget and the files behind it.
pub struct Mem<'a> {
    read: ReadFn<'a>,
    space: &'a AddressSpace,
    files: RefCell<HashMap<usize, Option<ElfFile>>>,
    left: Cell<usize>,
}

impl<'a> Mem<'a> {
    /// The process's memory through `read`, its files through `space`.
    pub fn new(read: ReadFn<'a>, space: &'a AddressSpace) -> Self {
        Mem {
            read,
            space,
            files: RefCell::new(HashMap::new()),
            left: Cell::new(READS),
        }
    }

    /// Whether the budget ran out (what was read is partial).
    pub fn exhausted(&self) -> bool {
        self.left.get() == 0
    }

    /// `len` bytes at `addr`, all of them or `None`.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 || self.left.get() == 0 {
            return None;
        }
        self.left.set(self.left.get() - 1);
        let got = (self.read)(addr, len);
        if got.len() == len {
            return Some(got);
        }
        self.in_file(addr, len)
    }

    /// The bytes of the file mapped at `addr`, for memory the process's copy lacks.
    fn in_file(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let i = self
            .space
            .objects
            .partition_point(|o| o.start <= addr)
            .checked_sub(1)?;
        let map = self.space.objects.get(i).filter(|m| m.contains(addr))?;
        let mut files = self.files.borrow_mut();
        let file = files
            .entry(i)
            .or_insert_with(|| open_object(self.space, map).ok());
        Some(file.as_ref()?.bytes_at(map, addr, len)?.to_vec())
    }

    /// A little-endian word at `addr`.
    pub fn u64(&self, addr: u64) -> Option<u64> {
        let b = self.bytes(addr, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// A little-endian `int` at `addr`.
    pub fn i32(&self, addr: u64) -> Option<i32> {
        let b = self.bytes(addr, 4)?;
        Some(i32::from_le_bytes(b.try_into().ok()?))
    }

    /// A byte at `addr`.
    pub fn u8(&self, addr: u64) -> Option<u8> {
        self.bytes(addr, 1)?.first().copied()
    }

    /// A NUL-terminated C string at `addr` (at most [`MAX_STRING`] bytes, read in pieces).
    pub fn c_string(&self, addr: u64) -> Option<String> {
        let mut out = Vec::new();
        while out.len() < MAX_STRING {
            let at = addr.checked_add(out.len() as u64)?;
            let piece = self.bytes(at, 64).or_else(|| self.bytes(at, 1))?;
            match piece.iter().position(|&b| b == 0) {
                Some(n) => {
                    out.extend_from_slice(&piece[..n]);
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                None => out.extend_from_slice(&piece),
            }
        }
        None
    }
}
