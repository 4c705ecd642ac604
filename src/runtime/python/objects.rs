//! Python objects read from memory: strings, bytes, type names, and the `_thread` locks (and
//! 3.13's thread handles) a frame refers to (directly, or through a bound `__enter__`/
//! `__exit__` method a `with` statement keeps on the frame's value stack). Each checks what it reads (reference count,
//! type, lengths): a freed or torn object reads as nothing.

use super::layout::{common::*, Layout, ParkingLot};
use crate::runtime::memory::Mem;
use std::cell::RefCell;
use std::collections::HashMap;

/// The longest `bytes` read (a location table).
const MAX_BYTES: u64 = 1 << 20;

/// A reference count past this is no live object's (a freed block's first word is a pointer).
const MAX_REFCNT: u64 = 1 << 40;

/// What a type is, for the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lock,
    RLock,
    /// A thread's handle (3.13's `_thread._ThreadHandle`).
    Handle,
    /// A C function or bound C method (`builtin_function_or_method`).
    CMethod,
    Other,
}

/// Which `_thread` lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// `_thread.lock` (`threading.Lock`): no owner recorded.
    Lock,
    /// `_thread.RLock` (`threading.RLock`): records its owner.
    RLock,
    /// A thread's handle (`_thread._ThreadHandle`, 3.13), which `Thread.join` waits on: its
    /// "semaphore" is the handle's exit event, its owner the thread's ident.
    ThreadHandle,
}

/// A lock a frame refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockSeen {
    /// The lock object.
    pub object: u64,
    /// What its waiters wait on: its semaphore (`lock_lock`), the futex word they sleep on;
    /// where they park in the parking lot (3.13), the address they park on.
    pub semaphore: u64,
    /// Which kind.
    pub kind: LockKind,
    /// How many of its bound `__exit__` methods the frame holds: `with` blocks over it that
    /// have not ended (or whose `__enter__` is under way).
    pub exits: u32,
    /// It is locked (a `Lock`'s flag; an `RLock` with a count).
    pub locked: bool,
    /// An `RLock`'s owner, as a thread ident (0: none).
    pub owner: u64,
}

/// Reads objects, remembering each type it has named.
pub struct Objects<'m, 'a> {
    pub mem: &'m Mem<'a>,
    pub layout: &'m Layout,
    kinds: RefCell<HashMap<u64, Kind>>,
}

impl<'m, 'a> Objects<'m, 'a> {
    /// A reader over `mem` with `layout`.
    pub fn new(mem: &'m Mem<'a>, layout: &'m Layout) -> Self {
        Objects {
            mem,
            layout,
            kinds: RefCell::new(HashMap::new()),
        }
    }

    /// The type of the live object at `obj`: `None` when it does not look like one.
    pub(super) fn type_of(&self, obj: u64) -> Option<u64> {
        if !obj.is_multiple_of(8) {
            return None;
        }
        let refcnt = self.mem.u64(obj + OB_REFCNT)?;
        if refcnt == 0 || refcnt > MAX_REFCNT {
            return None;
        }
        self.mem.u64(obj + OB_TYPE).filter(|t| t.is_multiple_of(8))
    }

    fn kind(&self, obj: u64) -> Kind {
        let Some(ty) = self.type_of(obj) else {
            return Kind::Other;
        };
        if let Some(&k) = self.kinds.borrow().get(&ty) {
            return k;
        }
        let name = self
            .mem
            .u64(ty + TYPE_NAME)
            .and_then(|p| self.mem.c_string(p));
        let k = match name.as_deref() {
            Some("_thread.lock") => Kind::Lock,
            Some("_thread.RLock") => Kind::RLock,
            Some("_thread._ThreadHandle") => Kind::Handle,
            Some("builtin_function_or_method") => Kind::CMethod,
            _ => Kind::Other,
        };
        self.kinds.borrow_mut().insert(ty, k);
        k
    }

    /// The name of the type of the live object at `obj` (`tp_name`: `set`, `_asyncio.Task`).
    pub fn type_name(&self, obj: u64) -> Option<String> {
        let ty = self.type_of(obj)?;
        self.mem.c_string(self.mem.u64(ty + TYPE_NAME)?)
    }

    /// The `str` at `obj` (compact strings: every name and path CPython makes).
    pub fn string(&self, obj: u64) -> Option<String> {
        self.type_of(obj)?;
        let len = self.mem.u64(obj + UNICODE_LENGTH)?;
        let state = self.mem.u8(obj + UNICODE_STATE)?;
        let (kind, compact, ascii) = ((state >> 2) & 7, state & 0x20 != 0, state & 0x40 != 0);
        if !compact || !(1..=4).contains(&kind) || kind == 3 || len > 4096 {
            return None;
        }
        let data = if ascii {
            self.layout.unicode_ascii_data
        } else {
            self.layout.unicode_compact_data
        };
        let raw = self
            .mem
            .bytes(obj + data, (len * u64::from(kind)) as usize)?;
        let chars = raw.chunks(kind as usize).map(|c| {
            let mut v = [0u8; 4];
            v[..c.len()].copy_from_slice(c);
            char::from_u32(u32::from_le_bytes(v)).unwrap_or(char::REPLACEMENT_CHARACTER)
        });
        Some(chars.collect())
    }

    /// The contents of the `bytes` at `obj`.
    pub fn bytes(&self, obj: u64) -> Option<Vec<u8>> {
        self.type_of(obj)?;
        let len = self.mem.u64(obj + OB_SIZE).filter(|&n| n <= MAX_BYTES)?;
        self.mem.bytes(obj + BYTES_DATA, len as usize)
    }

    /// The lock `slot` (a local or a value-stack entry) refers to: the lock itself, or a C
    /// method bound to it (`__exit__` pending when that method is the lock's `__exit__`).
    pub fn lock(&self, slot: u64) -> Option<LockSeen> {
        let (object, exits) = match self.kind(slot) {
            Kind::Lock | Kind::RLock | Kind::Handle => (slot, 0),
            Kind::CMethod => {
                let bound = self.mem.u64(slot + CFUNCTION_SELF)?;
                let name = (self.mem.u64(slot + CFUNCTION_ML))
                    .and_then(|ml| self.mem.u64(ml))
                    .and_then(|n| self.mem.c_string(n));
                (bound, u32::from(name.as_deref() == Some("__exit__")))
            }
            Kind::Other => return None,
        };
        let kind = match self.kind(object) {
            Kind::Lock => LockKind::Lock,
            Kind::RLock => LockKind::RLock,
            Kind::Handle => LockKind::ThreadHandle,
            _ => return None,
        };
        let parking = self.layout.parking_lot;
        let (semaphore, locked, owner) = match (kind, parking) {
            (
                LockKind::Lock,
                Some(ParkingLot {
                    lock_mutex: Some(at),
                    ..
                }),
            ) => {
                let mutex = object + at;
                (mutex, self.mem.u8(mutex)? & 1 != 0, 0)
            }
            (LockKind::Lock, _) => (
                self.mem.u64(object + LOCK_SEMAPHORE)?,
                self.mem.u8(object + LOCK_LOCKED)? != 0,
                0,
            ),
            (LockKind::RLock, _) => {
                let count = self.mem.u64(object + RLOCK_COUNT)?;
                let owner = self.mem.u64(object + RLOCK_OWNER)?;
                (self.mem.u64(object + LOCK_SEMAPHORE)?, count != 0, owner)
            }
            (LockKind::ThreadHandle, Some(p)) => {
                let handle = self.mem.u64(object + p.handle).filter(|&h| h != 0)?;
                let ident = self.mem.u64(handle + p.handle_ident)?;
                (handle + p.handle_exiting, true, ident)
            }
            (LockKind::ThreadHandle, None) => return None,
        };
        Some(LockSeen {
            object,
            semaphore,
            kind,
            exits,
            locked,
            owner,
        })
    }

    /// The lock object a thread's `_tstate_lock` weak reference points at (what joining the
    /// thread acquires).
    pub fn tstate_lock(&self, weakref: u64) -> Option<LockSeen> {
        let object = self.mem.u64(weakref + WEAKREF_OBJECT)?;
        self.lock(object).filter(|l| l.kind == LockKind::Lock)
    }
}
