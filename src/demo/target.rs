//! The demo's target: a small server that hangs the way the Nebula storage server did.
//!
//! A `WorkerPool` of three `executor-N` threads; SIGTERM's handler stops the server, which
//! joins the pool (waits until every worker has exited). The signal is delivered to a worker
//! that is busy reading a connection, so the handler runs *on a worker* and waits for its own
//! thread to exit: a self-join through a signal handler. Deliberately wrong code, run only as
//! `hangscan demo`'s child.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

/// A pool of worker threads taking tasks from a queue.
pub struct WorkerPool {
    state: Mutex<PoolState>,
    changed: Condvar,
}

struct PoolState {
    tasks: Vec<Box<dyn FnOnce() + Send>>,
    stopping: bool,
    live_workers: usize,
}

impl WorkerPool {
    fn start(n: usize) -> &'static WorkerPool {
        static POOL: OnceLock<WorkerPool> = OnceLock::new();
        let pool = POOL.get_or_init(|| WorkerPool {
            state: Mutex::new(PoolState {
                tasks: Vec::new(),
                stopping: false,
                live_workers: n,
            }),
            changed: Condvar::new(),
        });
        for i in 1..=n {
            std::thread::Builder::new()
                .name(format!("executor-{i}"))
                .spawn(move || pool.worker_loop())
                .expect("spawn worker");
        }
        pool
    }

    fn submit(&self, task: Box<dyn FnOnce() + Send>) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tasks
            .push(task);
        self.changed.notify_one();
    }

    /// Runs tasks until the pool stops.
    #[inline(never)]
    pub fn worker_loop(&self) {
        unblock_sigterm();
        loop {
            let task = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                while s.tasks.is_empty() && !s.stopping {
                    s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                if s.stopping {
                    s.live_workers -= 1;
                    self.changed.notify_all();
                    return;
                }
                s.tasks.remove(0)
            };
            task();
        }
    }

    /// Stops the pool and waits until every worker has exited.
    #[inline(never)]
    pub fn join(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.stopping = true;
        self.changed.notify_all();
        JOINING.store(true, Ordering::SeqCst);
        while s.live_workers > 0 {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn live_workers(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live_workers
    }
}

/// The server: owns the pool.
pub struct Server {
    pool: &'static WorkerPool,
    stopped: AtomicBool,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static JOINING: AtomicBool = AtomicBool::new(false);
static READER_TID: AtomicI32 = AtomicI32::new(0);

impl Server {
    /// Shuts the server down: stops and joins the pool.
    #[inline(never)]
    pub fn stop(&self) {
        self.pool.join();
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// A client connection whose request never arrives.
struct Connection {
    input: std::fs::File,
}

impl Connection {
    #[inline(never)]
    fn read_request(&mut self) -> usize {
        READER_TID.store(gettid(), Ordering::SeqCst);
        let mut buf = [0u8; 512];
        self.input.read(&mut buf).unwrap_or(0)
    }
}

extern "C" fn handle_sigterm(_sig: libc::c_int) {
    if let Some(server) = SERVER.get() {
        server.stop();
    }
}

fn unblock_sigterm() {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGTERM);
    let _ = set.thread_unblock();
}

fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// Runs the hanging server; prints `READY <pid>` once the hang is in place. Never returns.
pub fn run() -> ! {
    // The main thread never takes SIGTERM: the kernel must pick a worker.
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGTERM);
    let _ = set.thread_block();
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(handle_sigterm),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    // SAFETY: the handler is a plain function; installing it has no other precondition.
    unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGTERM, &action) }
        .expect("install SIGTERM handler");
    let pool = WorkerPool::start(3);
    let _ = SERVER.set(Server {
        pool,
        stopped: AtomicBool::new(false),
    });
    let (read_end, _write_end) = nix::unistd::pipe().expect("pipe");
    // SAFETY: a fresh pipe fd that nothing else owns.
    let input =
        unsafe { std::fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(read_end)) };
    pool.submit(Box::new(move || {
        let mut conn = Connection { input };
        conn.read_request();
    }));
    while READER_TID.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    // Deliver SIGTERM to the worker blocked in read(), as the kernel did in production.
    let tid = READER_TID.load(Ordering::SeqCst);
    // SAFETY: tgkill only sends a signal.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGTERM) };
    while !JOINING.load(Ordering::SeqCst) || pool.live_workers() > 1 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    println!("READY {}", std::process::id());
    loop {
        std::thread::park();
    }
}
