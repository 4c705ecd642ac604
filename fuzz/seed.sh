#!/usr/bin/env bash
# Adds the seeds to the corpora of the fuzz targets in fuzz/corpus/<target>/ (never committed;
# what the fuzzers added stays):
#   - text dumps from fixtures/dumps/** and fixtures/corpus/**, each to its format's target,
#     all of them to dump_sniffed;
#   - saved snapshots (`attach --save`) and JSON reports (`parse --format json`) made by
#     hangscan itself;
#   - two fixture programs (C at -O0, C++ at -O2 without frame pointers) built, run until they
#     hang and dumped with gcore; the cores, shrunk to what hangscan reads (seed/shrink_core.py),
#     seed `corefile`; each thread's frames in the executable, as registers + stack + the
#     executable (seed/unwind_seeds.py, run by gdb on the core), seed `unwind_symbolize`.
# Needs gcc, g++, gdb (with Python) and gcore, and ptrace rights over its own children.
# Generated binaries and cores stay under fuzz/target/seed-build/ (the core seeds name them).
set -euo pipefail

fuzz=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$fuzz")
corpus=$fuzz/corpus
build=$fuzz/target/seed-build

rm -rf "$build"
mkdir -p "$corpus" "$build"

add() { # add TARGET FILE [NAME]: copies FILE into TARGET's corpus
    mkdir -p "$corpus/$1"
    cp "$2" "$corpus/$1/${3:-$(basename "$2")}"
}

# The target that reads a text dump, from its fixture directory or its corpus file name.
target_of() {
    case $1 in
        eu-stack* | eustack*) echo dump_eu_stack ;;
        lldb*) echo dump_lldb ;;
        pstack*) echo dump_pstack ;;
        jstack*) echo dump_jstack ;;
        go*) echo dump_go ;;
        rust*) echo dump_rust ;;
        faulthandler*) echo dump_faulthandler ;;
        py-spy* | pyspy*) echo dump_py_spy ;;
        gdb* | rr*) echo dump_gdb ;;
        *) return 1 ;;
    esac
}

texts=0
for dir in "$repo"/fixtures/dumps/*/; do
    format=$(basename "$dir")
    target=$(target_of "$format")
    while IFS= read -r -d '' file; do
        name=$format-$(basename "$file")
        add "$target" "$file" "$name"
        add dump_sniffed "$file" "$name"
        texts=$((texts + 1))
    done < <(find "$dir" -type f -name '*.txt' -print0)
done
for file in "$repo"/fixtures/corpus/real/*.txt "$repo"/fixtures/corpus/seed/*.txt; do
    [ -f "$file" ] || continue
    if target=$(target_of "$(basename "$file")"); then
        add "$target" "$file"
    fi
    add dump_sniffed "$file"
    texts=$((texts + 1))
done
echo "seed: $texts text dumps"

# hangscan itself writes the JSON seeds.
cargo build --quiet --manifest-path "$repo/Cargo.toml" --bin hangscan
hangscan=$repo/target/debug/hangscan
mkdir -p "$corpus/report_buckets"
for file in "$corpus"/dump_sniffed/*; do
    case $(basename "$file") in gdb-c_*.bt.txt | go-* | jstack-*.jdk17.jstack.txt | jstack-*-*-* | rust-*) ;; *) continue ;; esac
    "$hangscan" parse --format json "$file" >"$corpus/report_buckets/$(basename "$file").json" || true
done

# The fixture programs: built, run until READY, saved by attach, dumped by gcore.
mkdir -p "$corpus/snapshot_json" "$corpus/corefile" "$corpus/unwind_symbolize"
programs=(c_abba:gcc:-O0 "cpp_abba:g++:-O2 -fomit-frame-pointer -std=c++17")
for spec in "${programs[@]}"; do
    IFS=: read -r name compiler opt <<<"$spec"
    src=$(ls "$repo/fixtures/programs/$name".c* | head -n1)
    tag=$name${opt%% *}
    exe=$build/$tag
    # shellcheck disable=SC2086 # $opt is several flags
    (cd "$repo/fixtures/programs" && $compiler -g $opt -pthread -o "$exe" "$(basename "$src")")
    # A bare environment: the cores and stacks become seeds and regression inputs.
    env -i PATH=/usr/bin:/bin "$exe" >"$build/$name.out" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        grep -q '^READY' "$build/$name.out" && break
        sleep 0.1
    done
    grep -q '^READY' "$build/$name.out" || { echo "seed: $name never got READY" >&2; kill -9 $pid; exit 1; }
    "$hangscan" attach --save "$corpus/snapshot_json/$tag.json" "$pid" >/dev/null || true
    gcore -o "$build/core" "$pid" >/dev/null 2>&1
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    core=$build/core.$pid
    python3 "$fuzz/seed/shrink_core.py" "$core" "$corpus/corefile/$tag.core"
    SEED_OUT=$corpus/unwind_symbolize SEED_NAME=$tag \
        gdb -nx -batch -x "$fuzz/seed/unwind_seeds.py" "$exe" "$core" 2>/dev/null |
        grep 'unwind seeds' 
    rm -f "$core"
done

for dir in "$corpus"/*/; do
    echo "seed: $(basename "$dir"): $(find "$dir" -type f | wc -l) files"
done
