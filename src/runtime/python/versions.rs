//! The built-in layouts, one a minor version, each as that version's own headers give it
//! (pyenv's 3.8, 3.9, 3.10, 3.11 and 3.12, Debian's 3.9 and 3.11 here;
//! `tests/python_versions.rs` compares them wherever such an interpreter is installed). For
//! 3.8 to 3.10 the copies of their structs Bloomberg's pystack keeps
//! (`src/pystack/_pystack/cpython/`) give the same offsets.

use super::layout::*;

/// Frame objects of 3.8 and 3.9: `f_lasti` a byte offset.
const FRAME_OBJECT_3_8: FrameKind = FrameKind::Object {
    lasti: 104,
    lasti_unit: 1,
    valuestack: 64,
};

/// 3.8 keeps its runtime's GC and eval-loop state before the GIL's holder.
const V3_8: Layout = before_3_11(
    (3, 8),
    1464,
    1368,
    (FRAME_OBJECT_3_8, 360),
    LineTable::Lnotab,
    "the built-in layout for 3.8",
);

const V3_9: Layout = before_3_11(
    (3, 9),
    656,
    568,
    (FRAME_OBJECT_3_8, 360),
    LineTable::Lnotab,
    "the built-in layout for 3.9",
);

/// 3.10's frame object: `f_stackdepth` in place of `f_stacktop`, `f_lasti` an instruction
/// index; its function objects begin with the fields frames share (globals, builtins, name,
/// qualified name) before their code.
const V3_10: Layout = Layout {
    methods: Some(Methods {
        function_code: 48,
        ..METHODS_3_8
    }),
    ..before_3_11(
        (3, 10),
        672,
        568,
        (
            FrameKind::Object {
                lasti: 96,
                lasti_unit: 2,
                valuestack: 64,
            },
            352,
        ),
        LineTable::Ranges,
        "the built-in layout for 3.10",
    )
};

/// Types and functions of 3.8 and 3.9.
const METHODS_3_8: Methods = Methods {
    type_dict: 264,
    type_mro: 344,
    function_code: 16,
};

/// 3.8, 3.9 and 3.10 keep a frame object per call (`PyFrameObject`, `f_localsplus` at the
/// offset given with it), name no thread's OS id and no code object's qualified name; their
/// thread states, code objects, types and dicts are laid out alike.
const fn before_3_11(
    version: (u8, u8),
    runtime_size: u64,
    gil_holder: u64,
    (frame, frame_localsplus): (FrameKind, u64),
    lines: LineTable,
    source: &'static str,
) -> Layout {
    Layout {
        version,
        runtime_size,
        runtime_interpreters_head: 32,
        gil: GilHolder::Runtime(gil_holder),
        interp_next: 0,
        interp_threads_head: 8,
        tstate_next: 8,
        current_frame: CurrentFrame::Direct(24),
        tstate_thread_id: 176,
        tstate_native_thread_id: None,
        tstate_on_delete_data: Some(208),
        frame_code: 32,
        frame_previous: 24,
        frame,
        frame_localsplus,
        code_filename: 104,
        code_name: 112,
        code_qualname: None,
        code_linetable: 120,
        lines,
        code_firstlineno: 40,
        code_stacksize: Some(32),
        code_localsplusnames: Some(72),
        unicode_ascii_data: 48,
        unicode_compact_data: 72,
        names: Some(Names {
            frame_globals: 48,
            instance_dict: InstanceDict::Offset {
                type_dictoffset: 288,
            },
            dict_keys: DictKeys::Sized,
            tagged_long: false,
        }),
        methods: Some(METHODS_3_8),
        asyncio: None,
        parking_lot: None,
        source,
    }
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
    tstate_native_thread_id: Some(160),
    tstate_on_delete_data: Some(192),
    frame_code: 32,
    frame_previous: 48,
    frame: FrameKind::Interpreter {
        prev_instr: 56,
        owner: 69,
        entry: EntryMark::Flag(68),
        code_code: 184,
        firsttraceable: Some(168),
        nlocalsplus: Some(76),
    },
    frame_localsplus: 72,
    code_filename: 112,
    code_name: 120,
    code_qualname: Some(128),
    code_linetable: 136,
    lines: LineTable::Locations,
    code_firstlineno: 72,
    code_stacksize: Some(68),
    code_localsplusnames: Some(96),
    unicode_ascii_data: 48,
    unicode_compact_data: 72,
    names: Some(Names {
        frame_globals: 8,
        instance_dict: InstanceDict::Managed {
            type_cached_keys: 872,
            tagged: false,
        },
        dict_keys: DictKeys::Log2,
        tagged_long: false,
    }),
    methods: None,
    asyncio: Some(Asyncio {
        sets: &["_all_tasks"],
        coro_qualname: 40,
        coro_frame_state: 75,
        coro_iframe: 80,
        ..TASKS
    }),
    parking_lot: None,
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
    tstate_native_thread_id: Some(144),
    tstate_on_delete_data: Some(176),
    frame_code: 0,
    frame_previous: 8,
    frame: FrameKind::Interpreter {
        prev_instr: 56,
        owner: 70,
        entry: EntryMark::Shim(3),
        code_code: 192,
        firsttraceable: Some(176),
        nlocalsplus: Some(72),
    },
    frame_localsplus: 72,
    code_filename: 112,
    code_name: 120,
    code_qualname: Some(128),
    code_linetable: 136,
    lines: LineTable::Locations,
    code_firstlineno: 68,
    code_stacksize: Some(64),
    code_localsplusnames: Some(96),
    unicode_ascii_data: 40,
    unicode_compact_data: 56,
    names: Some(Names {
        frame_globals: 24,
        instance_dict: InstanceDict::Managed {
            type_cached_keys: 880,
            tagged: true,
        },
        dict_keys: DictKeys::Log2,
        tagged_long: true,
    }),
    methods: None,
    asyncio: Some(Asyncio {
        sets: &["_scheduled_tasks", "_eager_tasks"],
        coro_qualname: 32,
        coro_frame_state: 67,
        coro_iframe: 72,
        ..TASKS
    }),
    parking_lot: None,
    source: "the built-in layout for 3.12",
};

/// asyncio's C task in 3.11 and 3.12: a future's fields (its loop first), then the task's
/// awaited future, coroutine and name. The task sets and the coroutine's fields differ: each
/// version gives its own.
const TASKS: Asyncio = Asyncio {
    sets: &[],
    task_loop: 16,
    task_coro: 136,
    task_name: 144,
    coro_qualname: 0,
    coro_frame_state: 0,
    frame_created: -2,
    coro_iframe: 0,
};

/// What 3.13 keeps beyond its `_Py_DebugOffsets`: code objects' slot counts and names
/// (Include/cpython/code.h), frame globals (Include/internal/pycore_frame.h), instances'
/// inline values (Include/internal/pycore_object.h, pycore_dict.h), `_thread`'s lock and
/// thread handle (Modules/_threadmodule.c) and the parking lot's wait entry
/// (Python/parking_lot.c), asyncio's C task (Modules/_asynciomodule.c) and coroutines
/// (Include/cpython/genobject.h). Debian trixie's 3.13.5 and pyenv's 3.13.0 here (`layout_offsets.c`
/// prints the headers' ones; the rest were read from their memory, a lock ABBA's and a
/// join's).
const BEYOND_3_13: Beyond = Beyond {
    code_nlocalsplus: 72,
    code_stacksize: 64,
    code_firsttraceable: 184,
    code_localsplusnames: 96,
    names: Names {
        frame_globals: 24,
        instance_dict: InstanceDict::Inline {
            type_cached_keys: 880,
            type_basicsize: 32,
            values_valid: 3,
            values_values: 8,
        },
        dict_keys: DictKeys::Log2,
        tagged_long: true,
    },
    parking_lot: ParkingLot {
        lock_mutex: Some(16),
        entry_addr: -8,
        handle: 16,
        handle_ident: 32,
        handle_exiting: 57,
    },
    lock_mutex_since: 1,
    // 3.13's C task keeps fewer future fields before its own (read from a running loop).
    asyncio: Asyncio {
        sets: &["_scheduled_tasks", "_eager_tasks"],
        task_loop: 16,
        task_coro: 120,
        task_name: 128,
        coro_qualname: 32,
        coro_frame_state: 67,
        frame_created: -3,
        coro_iframe: 72,
    },
};

/// What a version read through its `_Py_DebugOffsets` keeps beyond them, if known.
pub fn beyond(minor: u8) -> Option<&'static Beyond> {
    (minor == 13).then_some(&BEYOND_3_13)
}

/// Every built-in layout.
pub const LAYOUTS: &[Layout] = &[V3_8, V3_9, V3_10, V3_11, V3_12];
