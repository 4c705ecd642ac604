#!/usr/bin/env bash
# Times the whole `hangscan parse` (sniff, normalize, parse, analysis, text report; release build)
# on two big inputs generated from the repository's own recordings, and reports its wall time and
# peak memory (max RSS, from `/usr/bin/time -v`):
#
#   - a ~56 MiB, ~17 000-thread `thread apply all bt full` dump: the real gdb `bt full`
#     recordings in fixtures/dumps/gdb/ (locals, struct values, lock owners, signal frames, rr),
#     every recording once (deadlocks, join cycles, signal frames, rr), then the threads of a
#     server at rest (the idle pool's workers, I/O and busy threads) repeated, ~3.4 KiB a thread; threads
#     renumbered (thread numbers, LWPs, pthread_t values; a lock owner or join target that names
#     an LWP of the same recording is renumbered with it);
#   - 64 MiB of one-line threads: `#0  0x... in f () from libc` lines, each one a new stack (an
#     unidentified thread), about 850 000 of them: the thread cap (src/limits.rs)
#     must hold inside the parser (the skeleton's Builder drops threads past it as it reads).
#
#   benches/parse-big.sh            RUNS=3 runs of each; prints every run
#   KEEP=1 benches/parse-big.sh     keeps the generated files in target/parse-big/
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
out=target/parse-big
mkdir -p "$out"
if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time (/usr/bin/time) for the peak RSS" >&2
  apt-get install -y time >/dev/null
fi
command -v python3 >/dev/null || { echo "needs python3 to generate the dumps" >&2; exit 2; }

python3 - "$out" <<'EOF'
import glob, os, re, sys

out = sys.argv[1]
header = re.compile(r'^Thread (\d+) \(Thread (0x[0-9a-f]+) \(LWP (\d+)\)(.*)$')

# Every thread block of every `bt full` recording: (recording, header fields, body lines).
recordings = []
for path in sorted(glob.glob('fixtures/dumps/gdb/*.btfull.txt')):
    threads, cur = [], None
    for line in open(path, encoding='utf-8', errors='replace'):
        m = header.match(line)
        if m:
            cur = (m.groups(), [])
            threads.append(cur)
        elif line.startswith('(gdb)') or line.startswith('[Inferior'):
            cur = None
        elif cur is not None:
            cur[1].append(line)
    if threads:
        recordings.append((path, threads))

target_bytes, target_threads = 56 << 20, 17_600
parts, size, n, copy = [], 0, 0, 0
lwp_base, ptr_base = 100_000, 0x7f0000000000
# Every recording once (its deadlock, join cycle, signal frames, rr), then the threads of a
# server at rest (the idle pool, the I/O and busy threads) until the size and count are reached:
# ~3.4 KiB a thread.
bulk = [r for r in recordings if 'idle_pool' in r[0]]
bulk += 2 * [r for r in recordings if 'io_and_busy' in r[0]]
while size < target_bytes and n < target_threads:
    copy += 1
    for path, threads in (recordings if copy == 1 else bulk):
        # The bulk without its main thread (thread 1, which joins the others): one main thread.
        if copy > 1:
            threads = [t for t in threads if t[0][0] != '1']
        lwps = {}
        for (num, ptr, lwp, rest), _ in threads:
            lwps[lwp] = str(lwp_base + len(lwps))
        lwp_base += len(lwps)
        subst = re.compile(r'\b(' + '|'.join(map(re.escape, lwps)) + r')\b')
        for (num, ptr, lwp, rest), body in threads:
            n += 1
            ptr_base += 0x801000
            parts.append(f'\nThread {n} (Thread {ptr_base:#x} (LWP {lwps[lwp]}){rest}\n')
            text = ''.join(body).rstrip('\n') + '\n'
            parts.append(subst.sub(lambda m: lwps[m.group(1)], text))
            size += len(parts[-2]) + len(parts[-1])
            if size >= target_bytes or n >= target_threads:
                break
        if size >= target_bytes or n >= target_threads:
            break
# gdb prints the highest thread number first.
blocks = [parts[i:i + 2] for i in range(0, len(parts), 2)]
blocks.reverse()
with open(f'{out}/btfull.txt', 'w', encoding='utf-8') as f:
    f.write('(gdb) thread apply all bt full\n')
    for b in blocks:
        f.writelines(b)
print(f'{out}/btfull.txt: {n} threads, {os.path.getsize(f"{out}/btfull.txt") / (1 << 20):.1f} MiB')

funcs = ['epoll_wait', '__GI___poll', 'syscall', '__futex_abstimed_wait_common', 'read', 'nanosleep']
with open(f'{out}/oneline.txt', 'w', encoding='utf-8') as f:
    size, k = 0, 0
    while size < (64 << 20) - 200:
        line = f'#0  0x00007f{k:010x} in {funcs[k % len(funcs)]} () from /lib/x86_64-linux-gnu/libc.so.6\n'
        f.write(line)
        size += len(line)
        k += 1
print(f'{out}/oneline.txt: {k} one-line threads, {size / (1 << 20):.1f} MiB')
EOF

cargo build --release --quiet
bin=target/release/hangscan
for input in btfull oneline; do
  for run in $(seq "$runs"); do
    log=$(mktemp)
    # Exit 0/1/2 are verdicts; only a crash or the OOM exit is a failure of the run.
    /usr/bin/time -v "$bin" parse "$out/$input.txt" >/dev/null 2>"$log" || true
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    status=$(sed -n 's/.*Exit status: //p' "$log")
    printf '%-8s run %d: wall %s  peak RSS %d MiB  exit %s  (load %s)\n' "$input" "$run" "$wall" \
      $((rss / 1024)) "$status" "$(cut -d' ' -f1 /proc/loadavg)"
    rm -f "$log"
  done
done
[ -n "${KEEP:-}" ] || rm -f "$out/btfull.txt" "$out/oneline.txt"
