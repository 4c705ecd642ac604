//! The `hangscan` binary: parse arguments, run, exit with the status. Running out of memory is
//! a message and exit 2, not an abort: see [`OutOfMemoryExits`].

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, except that an allocation it refuses ends hangscan with a message and
/// exit status 2 instead of Rust's abort (exit 134 and a backtrace). Nothing is allocated on
/// that path, and a target being captured is left as on any exit: the kernel detaches it, and
/// signals it was being given are still delivered (stops are only peeked at).
struct OutOfMemoryExits;

/// Said on standard error when memory runs out.
const OUT_OF_MEMORY: &[u8] = b"hangscan: out of memory: the input or the process is larger \
than the memory hangscan may use here (see `ulimit -v` or the cgroup's memory.max). Raise the \
limit, or ask for less: --stack-bytes for attach and core, or a shorter dump for parse. Any \
process being captured was let go unharmed.\n";

/// Says [`OUT_OF_MEMORY`] and exits 2, allocating nothing.
fn out_of_memory() -> ! {
    // SAFETY: write(2) of a static buffer and _exit(2) allocate nothing and are
    // async-signal-safe; nothing else runs after them.
    unsafe {
        libc::write(2, OUT_OF_MEMORY.as_ptr().cast(), OUT_OF_MEMORY.len());
        libc::_exit(2)
    }
}

impl OutOfMemoryExits {
    fn refused(p: *mut u8) -> *mut u8 {
        if p.is_null() {
            out_of_memory();
        }
        p
    }
}

// SAFETY: every call is passed to `System` unchanged; only a null result is acted on.
unsafe impl GlobalAlloc for OutOfMemoryExits {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::refused(System.alloc(layout))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::refused(System.alloc_zeroed(layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::refused(System.realloc(ptr, layout, new_size))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: OutOfMemoryExits = OutOfMemoryExits;

fn main() {
    // A thread whose signal stack std cannot map (`ulimit -v`) panics as it starts: that is
    // memory running out, said as such, not a panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = (payload.downcast_ref::<String>().map(String::as_str))
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed to allocate an alternative stack") {
            out_of_memory();
        }
        default_hook(info)
    }));
    std::process::exit(hangscan::run_cli(|| {
        // The worker threads' stacks come first: under a tight address-space limit, one
        // thread, else the out-of-memory message (rayon would panic on first use).
        let pool = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global()
        };
        if pool(0).is_err() && pool(1).is_err() {
            out_of_memory();
        }
    }));
}
