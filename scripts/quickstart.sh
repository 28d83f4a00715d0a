#!/usr/bin/env bash
# Quick start: install what is missing, build, and snapshot the bundled
# example package into build/SCCMContentLib.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
rm -rf build/SCCMContentLib
./build/cli/cmhash snapshot examples/MSC00001 MSC00001 --lib build/SCCMContentLib
