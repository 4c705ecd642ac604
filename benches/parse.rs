//! Parse and analysis throughput on a generated 10 000-thread gdb dump (`thread apply all bt`
//! of a server: idle pool workers, I/O threads, lock waiters, one ABBA pair), on the largest
//! real dump in the corpus, and parse throughput for every format: a dump of each from the
//! fixtures, repeated to about 8 MiB, parsed with that format forced.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hangscan::analyze::analyze;
use hangscan::dump::parse_dump;
use hangscan::knowledge::KnowledgeBase;
use std::fmt::Write;

/// A `thread apply all bt` of `n` threads, shaped like a busy server's.
fn generated_dump(n: usize) -> String {
    let mut s = String::with_capacity(n * 1200);
    for t in (1..=n).rev() {
        let lwp = 10_000 + t;
        let _ = writeln!(
            s,
            "\nThread {t} (Thread 0x7f{t:010x} (LWP {lwp}) \"worker-{}\"):",
            t % 64
        );
        let frames: &[&str] = match t % 4 {
            0 => &[
                "futex_wait (private=0, expected=2, futex_word=0x55555555a040 <cache_lock>) at ../sysdeps/nptl/futex-internal.h:146",
                "__GI___lll_lock_wait (futex=futex@entry=0x55555555a040 <cache_lock>, private=0) at ./nptl/lowlevellock.c:49",
                "0x00007ffff7e3a482 in ___pthread_mutex_lock (mutex=0x55555555a040 <cache_lock>) at ./nptl/pthread_mutex_lock.c:93",
                "0x0000555555555510 in Cache::lookup (this=0x55555555b2c0, key=0x7fffe8000b70 \"user:42\") at cache.cpp:81",
                "0x00005555555555c6 in Server::handle_request (this=0x55555555b000, conn=42) at server.cpp:193",
            ],
            1 => &[
                "0x00007ffff7e8e2ea in __GI___libc_read (fd=7, buf=0x7fffe8001000, nbytes=4096) at ../sysdeps/unix/sysv/linux/read.c:26",
                "0x0000555555555a10 in Connection::read_frame (this=0x7fffe8000d00) at connection.cpp:44",
                "0x00005555555555c6 in Server::handle_connection (this=0x55555555b000, fd=7) at server.cpp:120",
            ],
            _ => &[
                "__futex_abstimed_wait_common64 (private=0, cancel=true, abstime=0x0, op=393, expected=0, futex_word=0x55555555c0a8) at ./nptl/futex-internal.c:57",
                "__futex_abstimed_wait_common (futex_word=futex_word@entry=0x55555555c0a8, expected=expected@entry=0, clockid=clockid@entry=0, abstime=abstime@entry=0x0, private=private@entry=0, cancel=cancel@entry=true) at ./nptl/futex-internal.c:87",
                "0x00007ffff7e36e0b in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x55555555c058, cond=0x55555555c080) at ./nptl/pthread_cond_wait.c:503",
                "___pthread_cond_wait (cond=0x55555555c080, mutex=0x55555555c058) at ./nptl/pthread_cond_wait.c:618",
                "0x00007ffff7ca8ee0 in std::condition_variable::wait(std::unique_lock<std::mutex>&) () from /lib/x86_64-linux-gnu/libstdc++.so.6",
            ],
        };
        let mut k = 0;
        for f in frames {
            let _ = writeln!(s, "#{k:<2} {f}");
            k += 1;
        }
        let tail = [
            "0x0000555555556000 in TaskPool::worker_loop (this=0x55555555c000) at pool.cpp:107",
            "0x0000555555556100 in std::__invoke_impl<void, void (TaskPool::*)(), TaskPool*> (__f=@0x55555556f2c8: (void (TaskPool::*)(TaskPool * const)) 0x555555556000 <TaskPool::worker_loop()>, __t=@0x55555556f2c0: 0x55555555c000) at /usr/include/c++/12/bits/invoke.h:74",
            "0x00007ffff7cd94a3 in ?? () from /lib/x86_64-linux-gnu/libstdc++.so.6",
            "0x00007ffff7e331f5 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442",
            "0x00007ffff7eb38ec in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81",
        ];
        for f in tail {
            let _ = writeln!(s, "#{k:<2} {f}");
            k += 1;
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let kb = KnowledgeBase::builtin();
    let dump = generated_dump(10_000);
    let mut g = c.benchmark_group("gdb");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(dump.len() as u64));
    g.bench_function("parse 10k threads", |b| {
        b.iter(|| parse_dump(dump.as_bytes(), "gen", None).unwrap())
    });
    let snap = parse_dump(dump.as_bytes(), "gen", None).unwrap();
    g.bench_function("analyze 10k threads", |b| b.iter(|| analyze(&snap, &kb)));
    g.bench_function("parse+analyze 10k threads", |b| {
        b.iter(|| analyze(&parse_dump(dump.as_bytes(), "gen", None).unwrap(), &kb))
    });
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/corpus/real/gdb-mysql5-safemalloc-convoy.txt"
    ))
    .expect("the corpus is in the repository");
    g.throughput(Throughput::Bytes(real.len() as u64));
    g.bench_function("parse+analyze mysql5 (362 threads)", |b| {
        b.iter(|| analyze(&parse_dump(&real, "mysql5", None).unwrap(), &kb))
    });
    g.finish();
}

/// One dump per format (recordings where the tool runs here), from the repository's fixtures.
const PER_FORMAT: &[(&str, &str)] = &[
    ("gdb", "fixtures/dumps/gdb/cpp_pool_starvation.btfull.txt"),
    ("lldb", "fixtures/dumps/lldb/c_signal_self_lock.txt"),
    (
        "eu-stack",
        "fixtures/dumps/eu-stack/cpp_pool_starvation.verbose.txt",
    ),
    (
        "pstack",
        "fixtures/dumps/pstack/cpp_pool_starvation.gstack.txt",
    ),
    (
        "jstack",
        "fixtures/dumps/jstack/PoolSelfWait.jdk17.jstack-l.txt",
    ),
    ("go", "fixtures/dumps/go/cache_convoy_pprof.txt"),
    ("rust", "fixtures/dumps/rust/panics.full.txt"),
    (
        "faulthandler",
        "fixtures/dumps/faulthandler/pool_starvation.txt",
    ),
    ("py-spy", "fixtures/dumps/py-spy/pool_starvation.txt"),
];

fn per_format(c: &mut Criterion) {
    const SIZE: usize = 8 << 20;
    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    for (format, path) in PER_FORMAT {
        let one = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        // jstack reads the first of several dumps in a file: repeat its threads, not the dump.
        let again: String = one
            .lines()
            .filter(|l| !l.starts_with("Full thread dump"))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut input = one.clone().into_bytes();
        while input.len() < SIZE {
            input.extend_from_slice(again.as_bytes());
        }
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(*format, |b| {
            b.iter(|| parse_dump(&input, "bench", Some(format)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench, per_format);
criterion_main!(benches);
