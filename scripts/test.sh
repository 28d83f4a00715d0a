#!/usr/bin/env bash
# Build and run the whole test suite; ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
cd build && ctest --output-on-failure -j2
