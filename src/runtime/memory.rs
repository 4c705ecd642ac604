//! The target's memory as the runtime readers see it: the process's own bytes (a stopped
//! process, or a core), then for what those lack the files the process maps (a core leaves
//! read-only file pages out: type names, `Py_Version`, Go's wait reason strings). Memory is
//! read a page at a time and each page once (few system calls while the process is stopped),
//! within a budget; a read returns `None` rather than failing: a torn or bad pointer ends a
//! walk.

use crate::objects::elf::{open_object, ElfFile};
use crate::objects::AddressSpace;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Reads up to the length asked at an address (fewer bytes, or none, where memory ends).
pub type ReadFn<'a> = &'a dyn Fn(u64, usize) -> Vec<u8>;

/// Pages the reader may read in all (each once: 64 MiB), whatever the process holds: a
/// corrupt structure that loops, or pointers into everything, end here.
const READS: usize = 16_384;

/// What is read at a time, and kept: the process's page size.
const PAGE: u64 = 4096;

/// The longest string read (a function or file name).
const MAX_STRING: usize = 4096;

/// Memory to read, with its budget and the files behind it.
pub struct Mem<'a> {
    read: ReadFn<'a>,
    space: &'a AddressSpace,
    files: RefCell<HashMap<usize, Option<ElfFile>>>,
    pages: RefCell<HashMap<u64, Option<std::rc::Rc<Vec<u8>>>>>,
    left: Cell<usize>,
}

impl<'a> Mem<'a> {
    /// The process's memory through `read`, its files through `space`.
    pub fn new(read: ReadFn<'a>, space: &'a AddressSpace) -> Self {
        Mem {
            read,
            space,
            files: RefCell::new(HashMap::new()),
            pages: RefCell::new(HashMap::new()),
            left: Cell::new(READS),
        }
    }

    /// Whether the budget ran out (what was read is partial).
    pub fn exhausted(&self) -> bool {
        self.left.get() == 0
    }

    /// Pages the budget still allows.
    pub fn left(&self) -> usize {
        self.left.get()
    }

    /// Pages read so far.
    pub fn pages(&self) -> usize {
        READS - self.left.get()
    }

    /// `len` bytes at `addr`, all of them or `None`.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 {
            return None;
        }
        let end = addr.checked_add(len as u64)?;
        let mut out = Vec::with_capacity(len);
        let mut at = addr;
        while at < end {
            let page = at & !(PAGE - 1);
            let bytes = self.page(page)?;
            let from = (at - page) as usize;
            let to = ((end - page).min(PAGE)) as usize;
            out.extend_from_slice(bytes.get(from..to)?);
            at = page + PAGE;
        }
        Some(out)
    }

    /// The page at `page`, read once (the process's bytes, else its file's); `None` when
    /// neither holds all of it, or the budget ran out.
    fn page(&self, page: u64) -> Option<std::rc::Rc<Vec<u8>>> {
        if let Some(p) = self.pages.borrow().get(&page) {
            return p.clone();
        }
        if self.left.get() == 0 {
            return None;
        }
        self.left.set(self.left.get() - 1);
        let got = (self.read)(page, PAGE as usize);
        let got = if got.len() == PAGE as usize {
            Some(got)
        } else {
            self.in_file(page, PAGE as usize)
        };
        let got = got.map(std::rc::Rc::new);
        self.pages.borrow_mut().insert(page, got.clone());
        got
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
