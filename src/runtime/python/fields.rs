//! Each layout's offsets by the names `fixtures/programs/python/layout_offsets.c` prints them
//! under, built against a version's own headers: `tests/python_versions.rs` compares the two
//! for every interpreter installed whose headers are there.

use super::layout::*;

impl Beyond {
    /// What its headers give, by the name `layout_offsets.c` prints it under (`_thread`'s
    /// objects, the parking lot and asyncio's C task are in no header).
    pub fn fields(&self) -> Vec<(&'static str, i64)> {
        let mut out = vec![
            ("code_nlocalsplus", self.code_nlocalsplus),
            ("code_stacksize", self.code_stacksize),
            ("code_firsttraceable", self.code_firsttraceable),
            ("code_localsplusnames", self.code_localsplusnames),
            ("frame_globals", self.names.frame_globals),
            ("coro_qualname", self.asyncio.coro_qualname),
            ("coro_frame_state", self.asyncio.coro_frame_state),
            ("coro_iframe", self.asyncio.coro_iframe),
        ];
        if let InstanceDict::Inline {
            type_cached_keys,
            type_basicsize,
            values_valid,
            values_values,
        } = self.names.instance_dict
        {
            out.extend([
                ("type_cached_keys", type_cached_keys),
                ("type_basicsize", type_basicsize),
                ("values_valid", values_valid),
                ("values_values", values_values),
            ]);
        }
        let mut out: Vec<(&'static str, i64)> = (out.into_iter())
            .map(|(k, v)| (k, i64::try_from(v).unwrap_or(i64::MAX)))
            .collect();
        out.push(("frame_created", i64::from(self.asyncio.frame_created)));
        out
    }
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
            ("frame_code", self.frame_code),
            ("frame_previous", self.frame_previous),
            ("frame_localsplus", self.frame_localsplus),
            ("code_filename", self.code_filename),
            ("code_name", self.code_name),
            ("code_linetable", self.code_linetable),
            ("code_firstlineno", self.code_firstlineno),
            ("unicode_ascii_data", self.unicode_ascii_data),
            ("unicode_compact_data", self.unicode_compact_data),
        ];
        let optional = [
            ("tstate_native_thread_id", self.tstate_native_thread_id),
            ("tstate_on_delete_data", self.tstate_on_delete_data),
            ("code_qualname", self.code_qualname),
            ("code_stacksize", self.code_stacksize),
            ("code_localsplusnames", self.code_localsplusnames),
        ];
        out.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
        match self.frame {
            FrameKind::Interpreter {
                prev_instr,
                owner,
                entry,
                code_code,
                firsttraceable,
                nlocalsplus,
            } => {
                out.extend([
                    ("frame_prev_instr", prev_instr),
                    ("frame_owner", owner),
                    ("code_code", code_code),
                ]);
                let optional = [
                    ("code_firsttraceable", firsttraceable),
                    ("code_nlocalsplus", nlocalsplus),
                ];
                out.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
                if let EntryMark::Flag(at) = entry {
                    out.push(("frame_is_entry", at));
                }
            }
            FrameKind::Object {
                lasti, valuestack, ..
            } => out.extend([("frame_lasti", lasti), ("frame_valuestack", valuestack)]),
        }
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
            out.push(("frame_globals", n.frame_globals));
            out.push(match n.instance_dict {
                InstanceDict::Managed {
                    type_cached_keys, ..
                } => ("type_cached_keys", type_cached_keys),
                InstanceDict::Inline {
                    type_cached_keys, ..
                } => ("type_cached_keys", type_cached_keys),
                InstanceDict::Offset { type_dictoffset } => ("type_dictoffset", type_dictoffset),
            });
        }
        if let Some(a) = self.asyncio {
            out.extend([
                ("coro_qualname", a.coro_qualname),
                ("coro_frame_state", a.coro_frame_state),
                ("coro_iframe", a.coro_iframe),
            ]);
        }
        if let Some(m) = self.methods {
            out.extend([
                ("type_dict", m.type_dict),
                ("type_mro", m.type_mro),
                ("function_code", m.function_code),
            ]);
        }
        out
    }
}
