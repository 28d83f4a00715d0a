#!/usr/bin/env bash
# The test suite under AddressSanitizer+UBSan, then ThreadSanitizer.
# Usage: scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(asan tsan)
for k in "${kinds[@]}"; do
    case $k in
    asan) opt=-DCMHASH_ASAN=ON ;;
    tsan) opt=-DCMHASH_TSAN=ON ;;
    *) echo "unknown sanitizer $k" >&2; exit 2 ;;
    esac
    cmake -S . -B "build-$k" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$opt" >/dev/null
    cmake --build "build-$k" -j"$(nproc)" >/dev/null
    echo "== test suite under $k"
    # Tests labelled "heavy" (multi-GB data, timing-bound) run in the plain
    # build only: under a sanitizer they take many minutes and find nothing
    # the small tests do not. Under ASan, the fault sweep runs with its
    # I/O-only shim (cli_fault_sweep_asan, label "fault"): no error path may
    # leak; it sets its own ASAN_OPTIONS on top of these for preloaded runs.
    (cd "build-$k" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --output-on-failure -j2 -LE 'heavy|bench|nosan')
done
