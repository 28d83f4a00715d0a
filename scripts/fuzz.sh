#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan+UBSan) and run each for a
# bounded time; fails on any crash. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
# clang and its libFuzzer/sanitizer runtimes, through deps.sh (which runs
# apt-get update first when anything is missing)
bash scripts/deps.sh clang libclang-rt-14-dev
secs=${1:-30}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMHASH_FUZZ=ON \
    -DCMHASH_ASAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
status=0
for bin in build-fuzz/tests/fuzz/fuzz_*; do
    t=${bin##*/fuzz_}
    work=build-fuzz/corpus-$t
    mkdir -p "$work"
    echo "fuzz $t for ${secs}s"
    if ! "$bin" -max_total_time="$secs" -print_final_stats=0 "$work" \
        "tests/fuzz/corpus/$t" >"build-fuzz/fuzz-$t.log" 2>&1; then
        echo "FAIL: fuzz $t crashed; see build-fuzz/fuzz-$t.log:"
        tail -40 "build-fuzz/fuzz-$t.log"
        status=1
    fi
done
exit $status
