//! Where CPython keeps what hangscan reads, per minor version, as data: one table a version,
//! each offset as that version's own headers give it (`fixtures/programs/python/
//! layout_offsets.c` prints them from an interpreter's headers; `tests/python_memory.rs`
//! compares them with these wherever such an interpreter is installed). x86-64, default
//! (non-debug, GIL) builds.

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
    /// `PyInterpreterState.threads.head`: its first thread state.
    pub interp_threads_head: u64,
    /// `PyThreadState.next`.
    pub tstate_next: u64,
    /// Where the innermost Python frame is.
    pub current_frame: CurrentFrame,
    /// `PyThreadState.thread_id`: the thread's ident (its `pthread_t`).
    pub tstate_thread_id: u64,
    /// `PyThreadState.native_thread_id`: its OS thread id.
    pub tstate_native_thread_id: u64,
    /// A weak reference to the thread's `_tstate_lock` (what `Thread.join` acquires); none
    /// where joins wait otherwise (3.13).
    pub tstate_on_delete_data: Option<u64>,
    /// `_PyInterpreterFrame.f_code`.
    pub frame_code: u64,
    /// `_PyInterpreterFrame.previous`: its caller.
    pub frame_previous: u64,
    /// `_PyInterpreterFrame.prev_instr`: the instruction it runs (or last ran).
    pub frame_prev_instr: u64,
    /// `_PyInterpreterFrame.owner` (a byte).
    pub frame_owner: u64,
    /// How a frame an eval-loop call began with is marked.
    pub frame_entry: EntryMark,
    /// `_PyInterpreterFrame.localsplus`: its locals, then its value stack.
    pub frame_localsplus: u64,
    /// `PyCodeObject.co_filename`.
    pub code_filename: u64,
    /// `PyCodeObject.co_name`.
    pub code_name: u64,
    /// `PyCodeObject.co_qualname`.
    pub code_qualname: u64,
    /// `PyCodeObject.co_linetable` (the location table, PEP 657).
    pub code_linetable: u64,
    /// `PyCodeObject.co_firstlineno` (an `int`).
    pub code_firstlineno: u64,
    /// `PyCodeObject.co_nlocalsplus` (an `int`).
    pub code_nlocalsplus: Option<u64>,
    /// `PyCodeObject.co_stacksize` (an `int`).
    pub code_stacksize: Option<u64>,
    /// `PyCodeObject._co_firsttraceable` (an `int`): a frame before it has not started.
    pub code_firsttraceable: Option<u64>,
    /// `PyCodeObject.co_localsplusnames` (a tuple): a method's first is `self`.
    pub code_localsplusnames: Option<u64>,
    /// `co_code_adaptive`: the instructions, inside the code object.
    pub code_code: u64,
    /// Where a compact ASCII string's characters start (`sizeof(PyASCIIObject)`).
    pub unicode_ascii_data: u64,
    /// Where another compact string's start (`sizeof(PyCompactUnicodeObject)`).
    pub unicode_compact_data: u64,
    /// Where thread names are read from (`threading._active`); none where not read (3.13).
    pub names: Option<Names>,
    /// Where the layout came from, in words.
    pub source: &'static str,
}

/// What reading `threading._active` (ident → `Thread`, whose `_name` is the thread's name)
/// takes beyond the common layout: a frame's globals (a `threading.py` frame's are the
/// module's), a class's shared attribute keys, and how an `int` keeps its digit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    /// `_PyInterpreterFrame.f_globals`.
    pub frame_globals: u64,
    /// `PyHeapTypeObject.ht_cached_keys`: the keys its instances' split dicts share.
    pub type_cached_keys: u64,
    /// An instance's managed dict (3.12): one tagged word before the object, a dict or (low
    /// bit set) its values; else (3.11) the values and the dict in two words.
    pub tagged_dict: bool,
    /// `PyLongObject` keeps its digit count in `lv_tag >> 3` (3.12), else in `ob_size`.
    pub tagged_long: bool,
}

/// What every version from 3.8 to 3.12 shares: object headers, `bytes`, type names, bound C
/// methods, weak references and `_thread`'s lock objects (Modules/_threadmodule.c); and dicts,
/// type flags and `int` digits as 3.11 and 3.12 have them (what thread names are read through).
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
    /// `PyTypeObject.tp_flags`.
    pub const TYPE_FLAGS: u64 = 168;
    /// `Py_TPFLAGS_MANAGED_DICT`: instances keep their dict before the object.
    pub const MANAGED_DICT: u64 = 1 << 4;
    /// `PyLongObject`'s digits (30 bits each, in 32).
    pub const LONG_DIGITS: u64 = 24;
    /// `_PyInterpreterFrame.owner`: a generator's frame (never incomplete).
    pub const OWNED_BY_GENERATOR: u8 = 1;
}

const V3_11: Layout = Layout {
    version: (3, 11),
    runtime_size: 166688,
    runtime_interpreters_head: 40,
    gil: GilHolder::Runtime(576),
    interp_next: 0,
    interp_threads_head: 16,
    tstate_next: 8,
    current_frame: CurrentFrame::CFrame {
        cframe: 56,
        current: 8,
    },
    tstate_thread_id: 152,
    tstate_native_thread_id: 160,
    tstate_on_delete_data: Some(192),
    frame_code: 32,
    frame_previous: 48,
    frame_prev_instr: 56,
    frame_owner: 69,
    frame_entry: EntryMark::Flag(68),
    frame_localsplus: 72,
    code_filename: 112,
    code_name: 120,
    code_qualname: 128,
    code_linetable: 136,
    code_firstlineno: 72,
    code_nlocalsplus: Some(76),
    code_stacksize: Some(68),
    code_firsttraceable: Some(168),
    code_localsplusnames: Some(96),
    code_code: 184,
    unicode_ascii_data: 48,
    unicode_compact_data: 72,
    names: Some(Names {
        frame_globals: 8,
        type_cached_keys: 872,
        tagged_dict: false,
        tagged_long: false,
    }),
    source: "the built-in layout for 3.11",
};

const V3_12: Layout = Layout {
    version: (3, 12),
    runtime_size: 459944,
    runtime_interpreters_head: 40,
    gil: GilHolder::Interp {
        gil: 384,
        last_holder: 8,
        locked: 16,
    },
    interp_next: 0,
    interp_threads_head: 72,
    tstate_next: 8,
    current_frame: CurrentFrame::CFrame {
        cframe: 56,
        current: 0,
    },
    tstate_thread_id: 136,
    tstate_native_thread_id: 144,
    tstate_on_delete_data: Some(176),
    frame_code: 0,
    frame_previous: 8,
    frame_prev_instr: 56,
    frame_owner: 70,
    frame_entry: EntryMark::Shim(3),
    frame_localsplus: 72,
    code_filename: 112,
    code_name: 120,
    code_qualname: 128,
    code_linetable: 136,
    code_firstlineno: 68,
    code_nlocalsplus: Some(72),
    code_stacksize: Some(64),
    code_firsttraceable: Some(176),
    code_localsplusnames: Some(96),
    code_code: 192,
    unicode_ascii_data: 40,
    unicode_compact_data: 56,
    names: Some(Names {
        frame_globals: 24,
        type_cached_keys: 880,
        tagged_dict: true,
        tagged_long: true,
    }),
    source: "the built-in layout for 3.12",
};

/// Every built-in layout.
const LAYOUTS: &[Layout] = &[V3_11, V3_12];

/// The built-in layout of CPython `3.minor`, if there is one.
pub fn for_minor(minor: u8) -> Option<&'static Layout> {
    LAYOUTS.iter().find(|l| l.version == (3, minor))
}

impl Layout {
    /// Every offset by the name `layout_offsets.c` prints it under.
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        let mut out = vec![
            ("runtime_size", self.runtime_size),
            ("runtime_interpreters_head", self.runtime_interpreters_head),
            ("interp_next", self.interp_next),
            ("interp_threads_head", self.interp_threads_head),
            ("tstate_next", self.tstate_next),
            ("tstate_thread_id", self.tstate_thread_id),
            ("tstate_native_thread_id", self.tstate_native_thread_id),
            ("frame_code", self.frame_code),
            ("frame_previous", self.frame_previous),
            ("frame_prev_instr", self.frame_prev_instr),
            ("frame_owner", self.frame_owner),
            ("frame_localsplus", self.frame_localsplus),
            ("code_filename", self.code_filename),
            ("code_name", self.code_name),
            ("code_qualname", self.code_qualname),
            ("code_linetable", self.code_linetable),
            ("code_firstlineno", self.code_firstlineno),
            ("code_code", self.code_code),
            ("unicode_ascii_data", self.unicode_ascii_data),
            ("unicode_compact_data", self.unicode_compact_data),
        ];
        let optional = [
            ("tstate_on_delete_data", self.tstate_on_delete_data),
            ("code_nlocalsplus", self.code_nlocalsplus),
            ("code_stacksize", self.code_stacksize),
            ("code_firsttraceable", self.code_firsttraceable),
            ("code_localsplusnames", self.code_localsplusnames),
        ];
        out.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
        match self.current_frame {
            CurrentFrame::CFrame { cframe, current } => {
                out.extend([("tstate_cframe", cframe), ("cframe_current_frame", current)])
            }
            CurrentFrame::Direct(at) => out.push(("tstate_current_frame", at)),
        }
        match self.gil {
            GilHolder::Runtime(at) => out.push(("runtime_gil_holder", at)),
            GilHolder::Interp {
                gil,
                last_holder,
                locked,
            } => out.extend([
                ("interp_gil", gil),
                ("gil_last_holder", last_holder),
                ("gil_locked", locked),
            ]),
            GilHolder::InterpInline {
                locked,
                last_holder,
            } => out.extend([
                ("interp_gil_locked", locked),
                ("interp_gil_holder", last_holder),
            ]),
        }
        if let Some(n) = self.names {
            out.extend([
                ("frame_globals", n.frame_globals),
                ("type_cached_keys", n.type_cached_keys),
            ]);
        }
        if let EntryMark::Flag(at) = self.frame_entry {
            out.push(("frame_is_entry", at));
        }
        out
    }
}
