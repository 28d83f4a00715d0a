#!/usr/bin/env bash
# Build the static Windows cmhash.exe on Debian (issue 15), in one command:
# the mingw-w64 toolchain and Wine if missing (scripts/win-toolchain.sh),
# the dependencies (scripts/win-deps.sh, cached), then the cross build in
# build-win/ (or $CMHASH_WIN_BUILD). The last line printed is the path of
# cmhash.exe. A release build has no test hooks; the Wine test run
# (scripts/test-windows.sh) sets CMHASH_TEST_HOOKS=ON in the environment,
# because its tests drive the crash and pause points. Exit 2 when the
# dependency archives are missing (see win-deps.sh), 1 on any other
# failure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/win-toolchain.sh" >&2
prefix=$(bash "$here/scripts/win-deps.sh" | tail -1)
build=${CMHASH_WIN_BUILD:-$here/build-win}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$here/cmake/mingw-w64.cmake" \
  -DCMHASH_MINGW_PREFIX="$prefix" -DCMHASH_TESTS=OFF \
  -DCMHASH_TEST_HOOKS="${CMHASH_TEST_HOOKS:-OFF}" >&2
cmake --build "$build" -j"${CMHASH_JOBS:-2}" --target cmhash_cli >&2
x86_64-w64-mingw32-strip "$build/cli/cmhash.exe"
echo "$build/cli/cmhash.exe"
