#!/usr/bin/env bash
# Times `hangscan attach` on a Go program of N parked goroutines against what a Go user has
# without it: the runtime's own dump (SIGQUIT with GOTRACEBACK=all, timed from the signal to the
# end of the dump, which ends the process), and delve (`dlv attach`, listing every goroutine's
# stack) when `dlv` is on the PATH (Debian: apt-get install delve). gdb and eu-stack are timed too, though they see only the
# runtime's OS threads, not the goroutines.
#
#   benches/compare-go.sh [GOROUTINES...]     (1000 by default)
#
#   RUNS=5    runs of each tool, interleaved (one of each, then the next round); the table
#             shows the median and the range
#
# The target is fixtures/programs/go/crowd.go: goroutines parked on a channel, a held mutex,
# a WaitGroup and a select, a few frames deep. The SIGQUIT dump kills its process, so each of
# its runs starts a fresh one; the other tools attach to one long-lived process.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000)
runs=${RUNS:-5}
for tool in go gdb eu-stack timeout; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install golang-go gdb elfutils)" >&2; exit 2; }
done
cargo build --release --quiet
hangscan=target/release/hangscan
work=$(mktemp -d)
trap 'kill $(cat "$work"/pids 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
cp fixtures/programs/go/crowd.go "$work/"
(cd "$work" && GO111MODULE=off go build -o crowd crowd.go)

now_ms() { date +%s%3N; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'; }

# Starts the crowd of $1 goroutines with stderr to $2; prints its pid once it is READY.
start() {
  local fifo=$work/ready
  rm -f "$fifo"; mkfifo "$fifo"
  GOTRACEBACK=all "$work/crowd" "$1" >"$fifo" 2>"$2" &
  echo $! >>"$work/pids"
  local line; read -r line <"$fifo"
  echo "${line#READY }"
}

printf '%-11s %-34s %12s %14s\n' goroutines tool 'wall ms' range
for n in "${counts[@]}"; do
  declare -A walls=()
  pid=$(start "$n" /dev/null)
  for _ in $(seq "$runs"); do
    t0=$(now_ms); "$hangscan" attach "$pid" >"$work/out" 2>&1 || true; t1=$(now_ms)
    grep -q "Go go.* read from memory" "$work/out" || { echo "hangscan did not read the goroutines:" >&2; cat "$work/out" >&2; exit 1; }
    walls[hangscan]+="$((t1 - t0)) "
    t0=$(now_ms); timeout 600 gdb -p "$pid" -batch -nx -ex 'thread apply all bt' >/dev/null 2>&1 || true; t1=$(now_ms)
    walls[gdb]+="$((t1 - t0)) "
    t0=$(now_ms); timeout 600 eu-stack -p "$pid" >/dev/null 2>&1 || true; t1=$(now_ms)
    walls[eu-stack]+="$((t1 - t0)) "
    if command -v dlv >/dev/null; then
      t0=$(now_ms)
      printf 'goroutines -t\nexit\nn\n' | timeout 600 dlv attach "$pid" --allow-non-terminal-interactive=true >"$work/dlv" 2>&1 || true
      grep -q 'Goroutine 1 ' "$work/dlv" || { echo "delve listed no goroutines:" >&2; cat "$work/dlv" >&2; exit 1; }
      t1=$(now_ms)
      walls[delve]+="$((t1 - t0)) "
    fi
    # The runtime's own dump: a fresh process, timed from SIGQUIT to its exit.
    quit=$(start "$n" "$work/quit.txt")
    # Until it has exited: gone, or a zombie its (adoptive) parent has not reaped yet.
    t0=$(now_ms); kill -QUIT "$quit"
    while state=$(cut -d')' -f2 "/proc/$quit/stat" 2>/dev/null) && [ "${state:1:1}" != Z ]; do sleep 0.001; done
    t1=$(now_ms)
    grep -q '^goroutine ' "$work/quit.txt" || { echo "no SIGQUIT dump" >&2; exit 1; }
    walls[sigquit]+="$((t1 - t0)) "
  done
  kill "$pid" 2>/dev/null || true
  for tool in hangscan sigquit delve gdb eu-stack; do
    [ -n "${walls[$tool]:-}" ] || continue
    # shellcheck disable=SC2086
    case $tool in
      hangscan) what='hangscan attach (goroutines)' ;;
      sigquit) what='SIGQUIT dump (goroutines)' ;;
      delve) what='dlv goroutines -t (goroutines)' ;;
      *) what="$tool (OS threads only)" ;;
    esac
    # shellcheck disable=SC2086
    printf '%-11s %-34s %12s %14s\n' "$n" "$what" "$(median ${walls[$tool]})" "$(range ${walls[$tool]})"
  done
  unset walls
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
