//! Where CPython keeps what hangscan reads, per minor version, as data: what a layout holds
//! (the tables themselves are in `versions`, each offset as that version's own headers give
//! it; `fixtures/programs/python/layout_offsets.c` prints them from an interpreter's headers
//! and `tests/python_versions.rs` compares them with these wherever such an interpreter is
//! installed). x86-64, default (non-debug, GIL) builds.

/// How the interpreter marks the frame a C call of the eval loop began with: the Python
/// frames from one such frame inwards are what one `_PyEval_EvalFrameDefault` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryMark {
    /// A `bool` at this offset in the frame (3.11's `is_entry`).
    Flag(u64),
    /// A shim frame owned by the C stack (3.12's `FRAME_OWNED_BY_CSTACK`): the frames inwards
    /// of it are the call's, the shim itself runs no code.
    Shim(u8),
}

/// Where a thread state keeps its innermost Python frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentFrame {
    /// Behind a C frame: `tstate->cframe->current_frame` (3.11, 3.12).
    CFrame {
        /// `PyThreadState.cframe`.
        cframe: u64,
        /// `_PyCFrame.current_frame`.
        current: u64,
    },
    /// In the thread state: `tstate->current_frame` (3.13).
    Direct(u64),
}

/// Where the thread that holds the GIL is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GilHolder {
    /// A thread-state pointer in `_PyRuntime`, null while nobody holds it (3.11's
    /// `gilstate.tstate_current`).
    Runtime(u64),
    /// The interpreter's GIL (`ceval.gil`, a pointer): its last holder, and whether it is
    /// locked (3.12).
    Interp {
        /// The pointer's offset in the interpreter state.
        gil: u64,
        /// `last_holder` in the GIL's state.
        last_holder: u64,
        /// `locked` in the GIL's state.
        locked: u64,
    },
    /// The interpreter's own GIL state, inside it (3.13): offsets from the interpreter state
    /// of its `locked` and its `last_holder`.
    InterpInline {
        /// `_gil.locked`.
        locked: u64,
        /// `_gil.last_holder`.
        last_holder: u64,
    },
}

/// How a version keeps its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `_PyInterpreterFrame` (3.11 on): frames of several Python calls run by one eval-loop
    /// call, each pointing into its code object's instructions.
    Interpreter {
        /// `_PyInterpreterFrame.prev_instr`: the instruction it runs (or last ran).
        prev_instr: u64,
        /// `_PyInterpreterFrame.owner` (a byte).
        owner: u64,
        /// How a frame an eval-loop call began with is marked.
        entry: EntryMark,
        /// `co_code_adaptive`: the instructions, inside the code object.
        code_code: u64,
        /// `PyCodeObject._co_firsttraceable` (an `int`): a frame before it has not started.
        firsttraceable: Option<u64>,
        /// `PyCodeObject.co_nlocalsplus` (an `int`).
        nlocalsplus: Option<u64>,
    },
    /// `PyFrameObject` (3.8 to 3.10): each frame run by an eval-loop call of its own.
    Object {
        /// `PyFrameObject.f_lasti` (an `int`): the instruction it runs, -1 before the first.
        lasti: u64,
        /// Bytes of code an `f_lasti` step is: 1 (3.8, 3.9: a byte offset), 2 (3.10: an
        /// instruction index).
        lasti_unit: u64,
        /// `PyFrameObject.f_valuestack`: where its value stack begins, after its locals, cells
        /// and free variables.
        valuestack: u64,
    },
}

/// How a code object maps instructions to lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTable {
    /// The location table (PEP 657, 3.11 on), by code unit.
    Locations,
    /// `co_lnotab` (3.8, 3.9): (byte offset increment, signed line increment) pairs.
    Lnotab,
    /// 3.10's `co_linetable`: (byte length, signed line increment, -128 for none) pairs, each
    /// a range of the code.
    Ranges,
}

/// One minor version's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `(3, minor)`.
    pub version: (u8, u8),
    /// `sizeof(_PyRuntimeState)`, which the `_PyRuntime` symbol's size must be.
    pub runtime_size: u64,
    /// `_PyRuntimeState.interpreters.head`: the first interpreter.
    pub runtime_interpreters_head: u64,
    /// Where the GIL's holder is recorded.
    pub gil: GilHolder,
    /// `PyInterpreterState.next`.
    pub interp_next: u64,
    /// `PyInterpreterState.threads.head` (`tstate_head` before 3.11): its first thread state.
    pub interp_threads_head: u64,
    /// `PyThreadState.next`.
    pub tstate_next: u64,
    /// Where the innermost Python frame is.
    pub current_frame: CurrentFrame,
    /// `PyThreadState.thread_id`: the thread's ident (its `pthread_t`).
    pub tstate_thread_id: u64,
    /// `PyThreadState.native_thread_id` (3.11 on): its OS thread id. None before: the id is
    /// read from the thread's `struct pthread` (its ident), where glibc says it keeps it.
    pub tstate_native_thread_id: Option<u64>,
    /// A weak reference to the thread's `_tstate_lock` (what `Thread.join` acquires); none
    /// where joins wait otherwise (3.13: on the thread's handle, [`ParkingLot`]).
    pub tstate_on_delete_data: Option<u64>,
    /// The frame's code object (`f_code`).
    pub frame_code: u64,
    /// The frame's caller (`previous`, `f_back` before 3.11).
    pub frame_previous: u64,
    /// How frames are kept, and what that takes.
    pub frame: FrameKind,
    /// `localsplus` (`f_localsplus` before 3.11): its locals, then its value stack.
    pub frame_localsplus: u64,
    /// `PyCodeObject.co_filename`.
    pub code_filename: u64,
    /// `PyCodeObject.co_name`.
    pub code_name: u64,
    /// `PyCodeObject.co_qualname` (3.11 on). None before: a method's class is found through
    /// its `self` ([`Methods`]).
    pub code_qualname: Option<u64>,
    /// `PyCodeObject.co_linetable` (`co_lnotab` in 3.8 and 3.9).
    pub code_linetable: u64,
    /// What that table holds.
    pub lines: LineTable,
    /// `PyCodeObject.co_firstlineno` (an `int`).
    pub code_firstlineno: u64,
    /// `PyCodeObject.co_stacksize` (an `int`).
    pub code_stacksize: Option<u64>,
    /// `PyCodeObject.co_localsplusnames` (`co_varnames` before 3.11; a tuple): a method's
    /// first is `self`.
    pub code_localsplusnames: Option<u64>,
    /// Where a compact ASCII string's characters start (`sizeof(PyASCIIObject)`).
    pub unicode_ascii_data: u64,
    /// Where another compact string's start (`sizeof(PyCompactUnicodeObject)`).
    pub unicode_compact_data: u64,
    /// Where thread names are read from (`threading._active`); none where not read (3.13
    /// without the built-in facts beyond its debug offsets).
    pub names: Option<Names>,
    /// How a method's class is found, where code objects have no qualified name.
    pub methods: Option<Methods>,
    /// Where asyncio's tasks are read from; none where not read (before 3.11).
    pub asyncio: Option<Asyncio>,
    /// How a `_thread.lock`'s waiters sleep when they park in CPython's parking lot (3.13);
    /// none where they sleep on the lock's semaphore.
    pub parking_lot: Option<ParkingLot>,
    /// Where the layout came from, in words.
    pub source: &'static str,
}

/// CPython's parking lot (3.13, Python/parking_lot.c): a `_thread.lock` that is a `PyMutex`
/// (`lockobject.lock`, Modules/_threadmodule.c, from 3.13.1) has its waiters park there; each
/// waiter's
/// `struct wait_entry` is on its own stack, its semaphore (`_PySemaphore`, a `sem_t` whose
/// first word is the futex word it sleeps on) after the address it parks on. A thread joined
/// through its handle (`_thread._ThreadHandle`) is waited for on the handle's exit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParkingLot {
    /// `lockobject.lock`: the `PyMutex` (a byte, bit 0 locked) the lock's waiters park on;
    /// none where the lock is 3.12's (its semaphore, as `common` has it: 3.13.0).
    pub lock_mutex: Option<u64>,
    /// `wait_entry.addr` (what it parks on) less `wait_entry.sema` (the futex word).
    pub entry_addr: i64,
    /// `PyThreadHandleObject.handle`: its `ThreadHandle`.
    pub handle: u64,
    /// `ThreadHandle.ident`: the thread's ident.
    pub handle_ident: u64,
    /// `ThreadHandle.thread_is_exiting`: the event (a `PyEvent`, one byte) joins park on.
    pub handle_exiting: u64,
}

/// What a version read through its `_Py_DebugOffsets` keeps beyond them (3.13's: locks,
/// frame slots, thread names), from its own headers and, for `_thread`'s objects and the
/// parking lot, its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beyond {
    /// `PyCodeObject.co_nlocalsplus` (an `int`).
    pub code_nlocalsplus: u64,
    /// `PyCodeObject.co_stacksize` (an `int`).
    pub code_stacksize: u64,
    /// `PyCodeObject._co_firsttraceable` (an `int`).
    pub code_firsttraceable: u64,
    /// `PyCodeObject.co_localsplusnames` (a tuple).
    pub code_localsplusnames: u64,
    /// Where thread names are read from.
    pub names: Names,
    /// How `_thread.lock`'s waiters sleep.
    pub parking_lot: ParkingLot,
    /// Where asyncio's tasks are read from.
    pub asyncio: Asyncio,
    /// The first micro version whose `_thread.lock` is a `PyMutex` (3.13.1: gh-117721, backported
    /// by python/cpython#125116); before it, `parking_lot.lock_mutex` does not hold.
    pub lock_mutex_since: u8,
}

/// What reading `threading._active` (ident → `Thread`, whose `_name` is the thread's name)
/// takes beyond the common layout: a frame's globals (a `threading.py` frame's are the
/// module's), how dicts and instances keep their entries, and how an `int` keeps its digit
/// count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    /// The frame's globals (`f_globals`).
    pub frame_globals: u64,
    /// Where an instance keeps its attributes.
    pub instance_dict: InstanceDict,
    /// How a dict's keys object is laid out.
    pub dict_keys: DictKeys,
    /// `PyLongObject` keeps its digit count in `lv_tag >> 3` (3.12), else in `ob_size`.
    pub tagged_long: bool,
}

/// Where an instance keeps its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceDict {
    /// A managed dict before the object (3.11, 3.12), its values' keys shared in its type's
    /// `ht_cached_keys`.
    Managed {
        /// `PyHeapTypeObject.ht_cached_keys`.
        type_cached_keys: u64,
        /// One tagged word before the object, a dict or (low bit set) its values (3.12); else
        /// the values and the dict in two words (3.11).
        tagged: bool,
    },
    /// Its values inline after the object (`Py_TPFLAGS_INLINE_VALUES`, 3.13: at the type's
    /// `tp_basicsize`, a `PyDictValues` whose keys are the type's `ht_cached_keys`), while they
    /// are valid; else a dict pointer before the object (its `PyManagedDictPointer`).
    Inline {
        /// `PyHeapTypeObject.ht_cached_keys`.
        type_cached_keys: u64,
        /// `PyTypeObject.tp_basicsize`.
        type_basicsize: u64,
        /// `PyDictValues.valid` (a byte).
        values_valid: u64,
        /// `PyDictValues.values`.
        values_values: u64,
    },
    /// A dict pointer at the type's `tp_dictoffset` (3.8 to 3.10).
    Offset {
        /// `PyTypeObject.tp_dictoffset`.
        type_dictoffset: u64,
    },
}

/// How a dict's keys object is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DictKeys {
    /// `dk_log2_index_bytes` and `dk_kind` (3.11 on).
    Log2,
    /// `dk_size` and 24-byte entries (3.8 to 3.10).
    Sized,
}

/// What finding a method's class takes (3.8 to 3.10, whose code objects have no qualified
/// name): the class of its `self` whose own dict has, under the code's name, a function of
/// that very code, along the type's method resolution order; named by its `tp_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods {
    /// `PyTypeObject.tp_dict`.
    pub type_dict: u64,
    /// `PyTypeObject.tp_mro` (a tuple of types).
    pub type_mro: u64,
    /// `PyFunctionObject.func_code`.
    pub function_code: u64,
}

/// What reading asyncio's tasks takes (3.11 to 3.13): the sets `asyncio.tasks` keeps them in,
/// the C task's fields (`TaskObj` in Modules/_asynciomodule.c, not a header: the tests read
/// them from a running loop) and the coroutine's (Include/cpython/genobject.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asyncio {
    /// The names in `asyncio.tasks` of the sets of tasks: a `WeakSet` (3.11's `_all_tasks`,
    /// 3.12's `_scheduled_tasks`) or a `set` (3.12's `_eager_tasks`).
    pub sets: &'static [&'static str],
    /// `TaskObj.task_loop` (the future's loop).
    pub task_loop: u64,
    /// `TaskObj.task_coro`.
    pub task_coro: u64,
    /// `TaskObj.task_name` (a `str`; 3.12 keeps a number until the name is asked for).
    pub task_name: u64,
    /// `PyCoroObject.cr_qualname`.
    pub coro_qualname: u64,
    /// `PyCoroObject.cr_frame_state` (a signed byte: 0 running, suspended from
    /// `frame_created` up).
    pub coro_frame_state: u64,
    /// `FRAME_CREATED` (Include/internal/pycore_frame.h): -2 (3.11, 3.12), -3 (3.13, whose
    /// `FRAME_SUSPENDED_YIELD_FROM` is -1).
    pub frame_created: i8,
    /// `PyCoroObject.cr_iframe`: its frame, inside it.
    pub coro_iframe: u64,
}

/// What every version from 3.8 to 3.12 shares: object headers, `bytes`, type names, bound C
/// methods, weak references, `_thread`'s lock objects (Modules/_threadmodule.c), dicts, type
/// flags and `int` digits; and dict keys objects as 3.11 and 3.12 have them, and as 3.8 to
/// 3.10 do (`SIZED_`), what thread names are read through.
pub mod common {
    /// `PyObject.ob_refcnt`.
    pub const OB_REFCNT: u64 = 0;
    /// `PyObject.ob_type`.
    pub const OB_TYPE: u64 = 8;
    /// `PyVarObject.ob_size`.
    pub const OB_SIZE: u64 = 16;
    /// `PyASCIIObject.length`.
    pub const UNICODE_LENGTH: u64 = 16;
    /// `PyASCIIObject.state`: kind in bits 2–4, compact bit 5, ASCII bit 6.
    pub const UNICODE_STATE: u64 = 32;
    /// `PyBytesObject.ob_sval`.
    pub const BYTES_DATA: u64 = 32;
    /// `PyTypeObject.tp_name`.
    pub const TYPE_NAME: u64 = 24;
    /// `PyCFunctionObject.m_ml` (its `PyMethodDef`, whose first field is the name).
    pub const CFUNCTION_ML: u64 = 16;
    /// `PyCFunctionObject.m_self`: the object a bound C method is bound to.
    pub const CFUNCTION_SELF: u64 = 24;
    /// `PyWeakReference.wr_object`.
    pub const WEAKREF_OBJECT: u64 = 16;
    /// `lockobject.lock_lock` and `rlockobject.rlock_lock`: the semaphore waiters sleep on.
    pub const LOCK_SEMAPHORE: u64 = 16;
    /// `lockobject.locked`.
    pub const LOCK_LOCKED: u64 = 32;
    /// `rlockobject.rlock_owner`: the owner's thread ident.
    pub const RLOCK_OWNER: u64 = 24;
    /// `rlockobject.rlock_count`.
    pub const RLOCK_COUNT: u64 = 32;
    /// `PyTupleObject.ob_item`.
    pub const TUPLE_ITEMS: u64 = 24;
    /// `PyModuleObject.md_dict`.
    pub const MODULE_DICT: u64 = 16;
    /// `PySetObject.mask`: the table's slots less one.
    pub const SET_MASK: u64 = 32;
    /// `PySetObject.table`: entries of a key and its hash.
    pub const SET_TABLE: u64 = 40;
    /// `PyDictObject.ma_keys`.
    pub const DICT_KEYS: u64 = 32;
    /// `PyDictObject.ma_values`: a split dict's values (null: combined).
    pub const DICT_VALUES: u64 = 40;
    /// `PyDictKeysObject.dk_log2_index_bytes` (a byte).
    pub const DK_LOG2_INDEX_BYTES: u64 = 9;
    /// `PyDictKeysObject.dk_kind` (a byte): 0 general (hash, key, value), else unicode keys
    /// (key, value).
    pub const DK_KIND: u64 = 10;
    /// `PyDictKeysObject.dk_nentries`.
    pub const DK_NENTRIES: u64 = 24;
    /// `PyDictKeysObject.dk_indices`: the index table, then the entries.
    pub const DK_INDICES: u64 = 32;
    /// `PyDictKeysObject.dk_size` (3.8 to 3.10): the index table's slots, each of 1, 2, 4 or
    /// 8 bytes as the size needs.
    pub const SIZED_DK_SIZE: u64 = 8;
    /// `PyDictKeysObject.dk_nentries` (3.8 to 3.10).
    pub const SIZED_DK_NENTRIES: u64 = 32;
    /// `PyDictKeysObject.dk_indices` (3.8 to 3.10).
    pub const SIZED_DK_INDICES: u64 = 40;
    /// `PyTypeObject.tp_flags`.
    pub const TYPE_FLAGS: u64 = 168;
    /// `Py_TPFLAGS_MANAGED_DICT`: instances keep their dict before the object.
    pub const MANAGED_DICT: u64 = 1 << 4;
    /// `Py_TPFLAGS_INLINE_VALUES` (3.13): instances keep their values after the object.
    pub const INLINE_VALUES: u64 = 1 << 2;
    /// `PyLongObject`'s digits (30 bits each, in 32).
    pub const LONG_DIGITS: u64 = 24;
    /// `_PyInterpreterFrame.owner`: a generator's frame (never incomplete).
    pub const OWNED_BY_GENERATOR: u8 = 1;
}

/// The built-in layout of CPython `3.minor`, if there is one.
pub fn for_minor(minor: u8) -> Option<&'static Layout> {
    super::versions::LAYOUTS
        .iter()
        .find(|l| l.version == (3, minor))
}

/// What CPython `3.minor`, read through its `_Py_DebugOffsets`, keeps beyond them, if
/// hangscan knows it.
pub fn beyond(minor: u8) -> Option<&'static Beyond> {
    super::versions::beyond(minor)
}
