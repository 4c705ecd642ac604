//! Language runtimes read from a process's memory, read-only, for a capture or a core: their
//! own frames and what their threads wait on, which the native frames cannot show (CPython's
//! Python frames, Go's goroutines). A producer between `objects` (the files the process maps)
//! and `stackwalk`, which merges what they read into the snapshot's threads; `memory` is the
//! paged, bounded reader they share.

pub mod go;
pub mod memory;
pub mod pointers;
pub mod python;
