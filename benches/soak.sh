#!/usr/bin/env bash
# Target safety soak, bigger than the test suite's: the release hangscan attached to
# fixtures/programs/c_soak.c (threads created and joined all the time, signals sent and counted
# by sequence number, restartable calls, a heartbeat) ATTACHES times in a row, killed with
# SIGKILL in half the runs (at a random point, or right inside the stop), then the target's own
# books. Prints the figures the README's "Target safety" section quotes; fails if anything was
# lost, duplicated, interrupted or left stopped. Then as many attaches to
# fixtures/programs/c_reexec.c (a thread replaces the program with execve every few ms): none may
# wedge, leave a thread held, or stop the program's progress. It is tests/soak.rs with more runs.
#
#   benches/soak.sh [ATTACHES]        (default 1000; HANGSCAN_SOAK_SEED=N replays a run's kills)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v gcc >/dev/null || { echo "needs gcc (the target is built from source)" >&2; exit 2; }
HANGSCAN_SOAK_ATTACHES=${1:-1000} HANGSCAN_SOAK_EXEC_ATTACHES=${1:-1000} exec cargo test --release --quiet --test soak -- --nocapture
