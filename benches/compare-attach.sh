#!/usr/bin/env bash
# Times `hangscan attach` against `gdb -batch -ex 'thread apply all bt'` and `eu-stack -p` on the
# same process, side by side in one run, with 10, 100, 1000, 10 000 and 30 000 threads (or the
# counts given), and measures from inside the target how long each tool froze it.
#
#   benches/compare-attach.sh [THREADS...]
#
#   RUNS=3          runs of each tool at each count, interleaved (one run of every tool, then
#                   the next round), so that a load that comes and goes on a shared machine
#                   falls on every tool alike; the table shows the median and the range
#   PEERS_MAX=10000 gdb and eu-stack only up to this many threads (at 30 000 they take minutes)
#   TIMEOUT=600     seconds a tool may take before it is killed (`timeout` in the result)
#   BASE=PATH       another hangscan binary (an older build) run alongside, with its default
#                   flags, as the `base` row
#
# The target is fixtures/programs/c_pulse.c in `idle` mode: one `pulse` thread ticking every
# 200 us records the longest gap between two ticks; the other threads wait on a condition
# variable, like a big server at rest. Before each run the gap is reset; after it, the longest
# gap is the freeze as the target saw it (it includes the machine's own scheduling jitter,
# shown as the `(none)` row). `hangscan` runs as a user runs it, with its default flags (a
# /proc sample, the stop, and the second look at /proc at least 100 ms after the first, taken
# while the stacks are unwound): its wall time is the end to end figure; `hangscan -s1` takes
# one sample and no second look. `own stop` is what hangscan
# reports of its own stop (`the process was stopped for`). The load average is printed with
# each row: on a shared machine, compare rows of one run.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10 100 1000 10000 30000)
runs=${RUNS:-3}
peers_max=${PEERS_MAX:-10000}
limit=${TIMEOUT:-600}
base=${BASE:-}
for tool in gdb eu-stack gcc timeout; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install gdb elfutils gcc)" >&2; exit 2; }
done
cargo build --release --quiet
hangscan=target/release/hangscan
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -g -O0 -pthread -o "$work/c_pulse" fixtures/programs/c_pulse.c

now_ms() { date +%s%3N; }

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'; }

declare -A walls gaps owns results

# One run of a tool: its wall time, the target's longest gap, hangscan's own stop.
run_once() { # name command...
  local name=$1; shift
  echo reset >&"${PULSE[1]}"; read -r _ <&"${PULSE[0]}"
  sleep 0.3
  local t0 t1 status=0
  t0=$(now_ms)
  timeout "$limit" "$@" >"$work/out" 2>&1 || status=$?
  t1=$(now_ms)
  sleep 0.05
  echo stats >&"${PULSE[1]}"; read -r stats <&"${PULSE[0]}"
  local gap_us=${stats#*maxgap_us=}; gap_us=${gap_us%% *}
  walls[$name]+="$((t1 - t0)) "
  gaps[$name]+="$(awk -v us="$gap_us" 'BEGIN { printf "%.1f", us / 1000 }') "
  if [ -s "$work/report.json" ]; then
    own=$(grep -o 'stopped for [0-9.]* ms' "$work/report.json" | head -1 | tr -dc '0-9.')
    [ -z "$own" ] || owns[$name]+="$own "
    rm -f "$work/report.json"
  fi
  case $status in
    0|1) ;;
    124) results[$name]=timeout ;;
    *) results[$name]="exit $status" ;;
  esac
}

# The row of a tool, from its runs.
row() { # name
  local name=$1
  # shellcheck disable=SC2086
  printf '| %7s | %-12s | %8s | %11s | %10s | %9s | %8s | %4s | %s\n' "$n" "$name" \
    "$(median ${walls[$name]})" "$(range ${walls[$name]})" "$(median ${gaps[$name]})" \
    "$(range ${gaps[$name]})" "$( [ -n "${owns[$name]:-}" ] && median ${owns[$name]} || echo -)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "${results[$name]:-ok}"
}

echo "$runs run(s) each; $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| threads | tool         | wall ms  | wall range  | frozen ms  | frz range | own stop | load | result"
echo "|---------|--------------|----------|-------------|------------|-----------|----------|------|-------"
for n in "${counts[@]}"; do
  coproc PULSE { "$work/c_pulse" "$n" idle; }
  read -r ready <&"${PULSE[0]}"
  pid=${ready#READY }
  report=(--format json -o "$work/report.json" "$pid")
  tools=("(none)" hangscan "hangscan -s1")
  [ -z "$base" ] || tools+=(base)
  [ "$n" -le "$peers_max" ] && tools+=(gdb eu-stack)
  walls=(); gaps=(); owns=(); results=()
  for _ in $(seq "$runs"); do
    run_once "(none)" sleep 0
    run_once hangscan "$hangscan" attach "${report[@]}"
    run_once "hangscan -s1" "$hangscan" attach --samples 1 "${report[@]}"
    [ -z "$base" ] || run_once base "$base" attach "${report[@]}"
    if [ "$n" -le "$peers_max" ]; then
      run_once gdb gdb -nx -batch -p "$pid" -ex 'set pagination off' -ex 'thread apply all bt'
      run_once eu-stack eu-stack -p "$pid"
    fi
  done
  for tool in "${tools[@]}"; do row "$tool"; done
  kill "$PULSE_PID" 2>/dev/null || true
  wait "$PULSE_PID" 2>/dev/null || true
done
