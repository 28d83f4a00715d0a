#!/usr/bin/env bash
# The Windows build's test run (issue 15), for CI (.ci/run) and by hand:
# builds cmhash.exe (scripts/build-windows.sh: toolchain, cached deps, cross
# build) and the Linux cmhash (for the cross checks), then runs end-to-end
# tests with CMHASH = cmhash.exe under Wine (tests/win/cmhash-wine):
#   - tests/cli/*.sh, but those in SKIP below (each with what Wine cannot do);
#   - tests/win/*.sh: Linux/Windows byte-identical libraries and cross
#     verify, \\?\ long paths, unicode names, attrib +h +r.
# flock(1) in the tests is replaced by tests/win/flock, so a lock is held by a
# Windows process (LockFileEx), as on a distribution point.
# Prints one line per test, then the pass count and the skips; exit 1 if a
# test failed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
t0=$SECONDS
# with the test hooks (CMHASH_TEST_CRASH_AT, _PAUSE_AT, _IO_TRACE): the
# crash, race and I/O tests below need them
exe=$(CMHASH_TEST_HOOKS=ON bash "$here/scripts/build-windows.sh" | tail -1)
echo "cmhash.exe: $exe ($(stat -c %s "$exe") bytes), built in $((SECONDS - t0)) s"
x86_64-w64-mingw32-objdump -p "$exe" | grep 'DLL Name' | sed 's/^\s*/  /'
lin=${CMHASH_LINUX_BUILD:-$here/build}
cmake -S "$here" -B "$lin" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$lin" -j2 --target cmhash_cli >/dev/null
out=${CMHASH_WIN_TEST_DIR:-$here/build-win/tests}
rm -rf "$out"
mkdir -p "$out/bin"
x86_64-w64-mingw32-gcc -O2 -municode -static -o "$out/winflock.exe" \
  "$here/tests/win/winflock.c"
cp "$here/tests/win/flock" "$out/bin/flock"
export WINEDEBUG=-all CMHASH_WIN_EXE=$exe CMHASH_WIN_FLOCK=$out/winflock.exe
export CMHASH_LINUX=$lin/cli/cmhash PATH=$out/bin:$PATH
export CMHASH=$here/tests/win/cmhash-wine CMHASH_SHARED=$here/../shared
export CMHASH_TESTLIB=$here/tests/cli/lib.sh CMHASH_TEST_WINDOWS=1
# the known-answer vectors, as tests/CMakeLists.txt gives them to ctest: the
# project's own, plus ../shared's when present
CMHASH_VECTORS=$here/tests/vectors
[ -d "$here/../shared/vectors" ] && CMHASH_VECTORS=$CMHASH_VECTORS:$here/../shared/vectors
export CMHASH_VECTORS
# The Wine prefix: made once with wineboot and waited for (wineserver -w
# flushes its registry). A prefix left half-made (an interrupted first
# start: no PATH, so `cmd /c attrib` is "not recognized") is made anew.
export WINEPREFIX=${WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/cmhash/wineprefix}
wine_ok() {
  [ -f "$WINEPREFIX/.cmhash-ready" ] &&
    wine cmd /c 'echo %PATH%' 2>/dev/null | grep -qi 'system32'
}
if ! wine_ok; then
  echo "wine: making the prefix $WINEPREFIX"
  wineserver -k 2>/dev/null || true
  rm -rf "$WINEPREFIX"
  mkdir -p "$(dirname "$WINEPREFIX")"
  wineboot --init >/dev/null 2>&1 || true
  wineserver -w
  touch "$WINEPREFIX/.cmhash-ready"
  wine_ok || { echo "wine: cannot make a working prefix at $WINEPREFIX (cmd sees no PATH)"; exit 1; }
fi
wineserver -p 60 || true # one server for the run (already up: fine)

declare -A SKIP=(
  [extract_traversal]="needs Unix symlinks and names with '\\' or ':'; Wine 8 shows a symlink as its target (no reparse point) and NTFS cannot hold those names (win32_io.c refuses NTFS symlinks/junctions via O_NOFOLLOW)"
  [hostile_library]="FIFOs, sockets, device files and Unix symlinks planted in a library; Wine 8 shows none of them as what they are"
  [snapshot_badinput]="FIFOs, sockets, device files, symlinks and non-UTF-8 byte names in the source: no Windows equivalent visible through Wine"
  [snapshot_rchar]="reads /proc/PID/io (Linux I/O accounting of one process)"
  [verify_readonly]="asserts access times stay unchanged: Windows has no O_NOATIME and Wine's folder listing updates the Linux atime"
  [verify_subset_resume]="its --nice check reads the Linux nice value and ionice class of the threads"
  [log_cmtrace]="greps 'cmhash ' in the Started: line; on Windows argv[0] is cmhash.exe"
  [fault_sweep]="LD_PRELOAD fault-injection shim (Linux libc)"
  [install_consumers]="installs the Linux library and links programs against it"
  [abi_exports]="checks the exports of the Linux shared library (nm -D) and links a program against it"
  [admin_agreement]="its hash/snapshot agreement cases plant Unix symbolic links in the source; Wine 8 shows a symlink as its target"
  [admin_errors]="runs cmhash as another Unix user (setpriv: Wine refuses a ~/.wine it does not own) and plants Unix symlinks for the advice cases"
  [admin_library_place]="expects the Linux spelling of absolute paths (/work/...); cmhash.exe prints the Windows one (Z:/work/...)"
  [admin_unc]="tests --unc-root, the Linux mapping of \\\\server\\share to a mount; cmhash.exe opens UNC paths directly"
  [snapshot_sigint_sweep]="20 snapshots of a 10,000-file tree take far longer under Wine than CI's budget allows (the Linux run covers the engine's cancellation; Wine turns SIGINT into the console Ctrl-C event win32_proc.c handles)"
  [configmgr_deep_mirror]="nests a mirror 20,000 folders deep: the Windows layer opens every folder by its full \\\\?\\ path, which passes 32,767 UTF-16 units near depth 16,000 and costs O(depth^2) under Wine (the Linux run covers the one depth limit and the descriptor walk)"
  [configmgr_gc_index]="measures gc's reads with /proc/PID/io rchar (Linux I/O accounting of one process)"
  [json_grammar]="expects the Linux spelling of absolute paths (/work/...) in JSON; cmhash.exe gives the Windows one (Z:/work/...)"
)
tests=()
for f in "$here"/tests/cli/*.sh; do
  n=$(basename "$f" .sh)
  [ "$n" = lib ] && continue
  [ -n "${SKIP[$n]:-}" ] && continue
  tests+=("$f")
done
tests+=("$here"/tests/win/win_*.sh)
pass=0 failed=0 checks=0
for f in "${tests[@]}"; do
  n=$(basename "$f" .sh)
  s=$SECONDS
  set +e
  CMHASH_SCRATCH=$out/scratch-$n timeout 1500 bash "$f" >"$out/$n.log" 2>&1
  rc=$?
  set -e
  last=$(tail -1 "$out/$n.log")
  c=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$last")
  checks=$((checks + ${c:-0}))
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1))
    echo "PASS $n ($last, $((SECONDS - s)) s)"
  else
    failed=$((failed + 1))
    echo "FAIL $n (rc $rc: $last); log: $out/$n.log"
    grep '^FAIL' "$out/$n.log" | head -5 | sed 's/^/    /'
  fi
  rm -rf "$out/scratch-$n"
done
echo "wine: $pass of ${#tests[@]} test scripts passed ($checks checks), $failed failed, ${#SKIP[@]} skipped:"
for n in $(printf '%s\n' "${!SKIP[@]}" | sort); do
  echo "  skip $n: ${SKIP[$n]}"
done
echo "wine stage: $((SECONDS - t0)) s"
[ $failed -eq 0 ]
