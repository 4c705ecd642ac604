//! CPython 3.13's `_Py_DebugOffsets`: the offsets an out-of-process reader needs, which the
//! interpreter keeps at the start of `_PyRuntime` (its own `.PyRuntime` section, initialised
//! data, so read from the file before anything is stopped), behind the cookie `xdebugpy`. The
//! struct itself is laid out per version: 3.13's is read here (Include/internal/
//! pycore_runtime.h), each field a `uint64_t` at the position below.

use super::layout::{
    common, CurrentFrame, EntryMark, FrameKind, GilHolder, Layout, LineTable, ParkingLot,
};
use super::versions::beyond;

/// The cookie the struct begins with.
const COOKIE: &[u8; 8] = b"xdebugpy";

/// The struct's size in 3.13.
pub const SIZE: usize = 584;

/// Positions of the fields read, in 3.13's struct.
mod at {
    pub const VERSION: usize = 8;
    pub const FREE_THREADED: usize = 16;
    pub const RUNTIME_SIZE: usize = 24;
    pub const INTERPRETERS_HEAD: usize = 40;
    pub const INTERP_NEXT: usize = 64;
    pub const INTERP_THREADS_HEAD: usize = 72;
    pub const GIL_LOCKED: usize = 136;
    pub const GIL_HOLDER: usize = 144;
    pub const TSTATE_NEXT: usize = 168;
    pub const TSTATE_CURRENT_FRAME: usize = 184;
    pub const TSTATE_THREAD_ID: usize = 192;
    pub const TSTATE_NATIVE_THREAD_ID: usize = 200;
    pub const FRAME_PREVIOUS: usize = 232;
    pub const FRAME_EXECUTABLE: usize = 240;
    pub const FRAME_INSTR_PTR: usize = 248;
    pub const FRAME_LOCALSPLUS: usize = 256;
    pub const FRAME_OWNER: usize = 264;
    pub const CODE_FILENAME: usize = 280;
    pub const CODE_NAME: usize = 288;
    pub const CODE_QUALNAME: usize = 296;
    pub const CODE_LINETABLE: usize = 304;
    pub const CODE_FIRSTLINENO: usize = 312;
    pub const CODE_CODE: usize = 344;
    pub const TYPE_NAME: usize = 376;
    pub const BYTES_DATA: usize = 528;
    pub const UNICODE_STATE: usize = 544;
    pub const UNICODE_LENGTH: usize = 552;
    pub const UNICODE_ASCII_SIZE: usize = 560;
}

/// `FRAME_OWNED_BY_CSTACK` in 3.13: the shim frame each eval-loop call pushes.
const OWNED_BY_CSTACK: u8 = 3;

/// The layout `bytes` (the start of `_PyRuntime`) describes, for CPython `3.minor.micro`
/// (the micro version when known); why not, when it cannot be read.
pub fn layout(bytes: &[u8], (minor, micro): (u8, Option<u8>)) -> Result<Layout, String> {
    if bytes.get(..8) != Some(COOKIE.as_slice()) {
        return Err("its _PyRuntime does not begin with _Py_DebugOffsets".into());
    }
    if minor != 13 {
        return Err(format!(
            "its _Py_DebugOffsets are laid out as 3.{minor}'s, which hangscan does not read yet"
        ));
    }
    let word = |i: usize| -> Result<u64, String> {
        let b = bytes
            .get(i..i + 8)
            .ok_or("its _Py_DebugOffsets are cut short")?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "short")?))
    };
    let version = word(at::VERSION)?;
    if (version >> 16) & 0xff != u64::from(minor) {
        return Err(format!("its _Py_DebugOffsets say version {version:#x}"));
    }
    if word(at::FREE_THREADED)? != 0 {
        return Err("a free-threaded build, which hangscan does not read yet".into());
    }
    // What the reader takes as shared by every version must be what this one says.
    let shared = [
        (at::TYPE_NAME, common::TYPE_NAME),
        (at::BYTES_DATA, common::BYTES_DATA),
        (at::UNICODE_STATE, common::UNICODE_STATE),
        (at::UNICODE_LENGTH, common::UNICODE_LENGTH),
    ];
    for (i, want) in shared {
        if word(i)? != want {
            return Err("its objects are laid out unlike every version hangscan reads".into());
        }
    }
    let ascii = word(at::UNICODE_ASCII_SIZE)?;
    // Frames' slots, thread names and locks are not among the debug offsets: read where the
    // version's own headers say, when hangscan knows them.
    let more = beyond(minor);
    let parking_lot = more.map(|b| match micro {
        Some(micro) if micro < b.lock_mutex_since => ParkingLot {
            lock_mutex: None,
            ..b.parking_lot
        },
        _ => b.parking_lot,
    });
    Ok(Layout {
        version: (3, minor),
        runtime_size: word(at::RUNTIME_SIZE)?,
        runtime_interpreters_head: word(at::INTERPRETERS_HEAD)?,
        gil: GilHolder::InterpInline {
            locked: word(at::GIL_LOCKED)?,
            last_holder: word(at::GIL_HOLDER)?,
        },
        interp_next: word(at::INTERP_NEXT)?,
        interp_threads_head: word(at::INTERP_THREADS_HEAD)?,
        tstate_next: word(at::TSTATE_NEXT)?,
        current_frame: CurrentFrame::Direct(word(at::TSTATE_CURRENT_FRAME)?),
        tstate_thread_id: word(at::TSTATE_THREAD_ID)?,
        tstate_native_thread_id: Some(word(at::TSTATE_NATIVE_THREAD_ID)?),
        // 3.13 joins a thread through its handle (`parking_lot`).
        tstate_on_delete_data: None,
        frame_code: word(at::FRAME_EXECUTABLE)?,
        frame_previous: word(at::FRAME_PREVIOUS)?,
        frame: FrameKind::Interpreter {
            prev_instr: word(at::FRAME_INSTR_PTR)?,
            owner: word(at::FRAME_OWNER)?,
            entry: EntryMark::Shim(OWNED_BY_CSTACK),
            code_code: word(at::CODE_CODE)?,
            firsttraceable: more.map(|b| b.code_firsttraceable),
            nlocalsplus: more.map(|b| b.code_nlocalsplus),
        },
        frame_localsplus: word(at::FRAME_LOCALSPLUS)?,
        code_filename: word(at::CODE_FILENAME)?,
        code_name: word(at::CODE_NAME)?,
        code_qualname: Some(word(at::CODE_QUALNAME)?),
        code_linetable: word(at::CODE_LINETABLE)?,
        lines: LineTable::Locations,
        code_firstlineno: word(at::CODE_FIRSTLINENO)?,
        code_stacksize: more.map(|b| b.code_stacksize),
        code_localsplusnames: more.map(|b| b.code_localsplusnames),
        unicode_ascii_data: ascii,
        // `PyCompactUnicodeObject` adds its UTF-8 length and pointer to `PyASCIIObject`.
        unicode_compact_data: ascii + 16,
        names: more.map(|b| b.names),
        methods: None,
        asyncio: more.map(|b| b.asyncio),
        parking_lot,
        source: match more {
            Some(_) => {
                "the layout from its _Py_DebugOffsets and the built-in one for what they lack"
            }
            None => "the layout from its _Py_DebugOffsets",
        },
    })
}
