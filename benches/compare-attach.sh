#!/usr/bin/env bash
# Times `hangscan attach` against `gdb -batch -ex 'thread apply all bt'` and `eu-stack -p` on the
# same process, side by side in one run, with 10, 100 and 1000 threads (or the counts given),
# and measures from inside the target how long each tool froze it.
#
#   benches/compare-attach.sh [THREADS...]
#
# The target is fixtures/programs/c_pulse.c in `idle` mode: one `pulse` thread ticking every
# 200 us records the longest gap between two ticks; the other threads wait on a condition
# variable, like a big server at rest. Before each tool the gap is reset; after it, the longest
# gap is the freeze as the target saw it (it includes the machine's own scheduling jitter,
# shown as the `(none)` row). hangscan runs with --samples 1 so that its /proc sampling
# interval is not counted as work.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10 100 1000)
for tool in gdb eu-stack gcc; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install gdb elfutils gcc)" >&2; exit 2; }
done
cargo build --release --quiet
hangscan=target/release/hangscan
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -g -O0 -pthread -o "$work/c_pulse" fixtures/programs/c_pulse.c

now_ms() { date +%s%3N; }

run_tool() { # name command...
  local name=$1; shift
  echo reset >&"${PULSE[1]}"; read -r _ <&"${PULSE[0]}"
  sleep 0.3
  local t0 t1 status=0
  t0=$(now_ms)
  "$@" >"$work/out.$name" 2>&1 || status=$?
  t1=$(now_ms)
  sleep 0.05
  echo stats >&"${PULSE[1]}"; read -r stats <&"${PULSE[0]}"
  local gap_us=${stats#*maxgap_us=}; gap_us=${gap_us%% *}
  printf '| %7s | %-9s | %8s | %10s | %s\n' "$n" "$name" "$((t1 - t0))" \
    "$(awk -v us="$gap_us" 'BEGIN { printf "%.1f", us / 1000 }')" \
    "$( [ "$status" -le 1 ] && echo ok || echo "exit $status")"
}

echo "| threads | tool      | wall ms  | freeze ms  | result"
echo "|---------|-----------|----------|------------|-------"
for n in "${counts[@]}"; do
  coproc PULSE { "$work/c_pulse" "$n" idle; }
  read -r ready <&"${PULSE[0]}"
  pid=${ready#READY }
  run_tool "(none)" sleep 0
  run_tool hangscan "$hangscan" attach --samples 1 --format json -o "$work/report.json" "$pid"
  run_tool gdb gdb -nx -batch -p "$pid" -ex 'set pagination off' -ex 'thread apply all bt'
  run_tool eu-stack eu-stack -p "$pid"
  kill "$PULSE_PID" 2>/dev/null || true
  wait "$PULSE_PID" 2>/dev/null || true
done
