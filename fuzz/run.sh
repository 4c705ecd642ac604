#!/usr/bin/env bash
# Runs fuzz targets one after the other, one job each, for SECONDS each (default 240):
#   fuzz/run.sh [SECONDS] [TARGET...]      (no TARGET: all of them)
# Seed first (fuzz/seed.sh). A crash, a timeout (an input taking over 10 s) or more than
# 2 GiB of memory stops that target: its input is in fuzz/artifacts/<target>/. Exits non-zero
# if any target stopped.
set -uo pipefail

cd "$(dirname "$0")/.."
seconds=${1:-240}
shift || true

# The longest input each target is given: about its largest real inputs.
max_len() {
    case $1 in
        corefile) echo 262144 ;;
        unwind_symbolize) echo 262144 ;;
        snapshot_json | report_buckets) echo 65536 ;;
        *) echo 16384 ;;
    esac
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
failed=()
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s"
    if ! cargo +nightly fuzz run --debug-assertions --sanitizer none "$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -max_len="$(max_len "$target")" -print_final_stats=1; then
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "stopped: ${failed[*]} (see fuzz/artifacts/)"
    exit 1
fi
