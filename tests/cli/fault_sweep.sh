#!/usr/bin/env bash
# ctest-labels: heavy
# Fault-injection sweep (issue 6): make each libc call the snapshot makes
# fail in turn (the n-th open, read, write, rename, fsync, malloc, thread
# creation...) through the LD_PRELOAD shim in tests/fault, and assert after
# every injected failure: no crash (exit < 128), a one-line error and a
# documented exit code, no temp left behind, the library still valid (the
# package resolves to v1 or v2, complete - tests/cli/libcheck.py), and a
# clean re-run gives an exact library.
#
# CMHASH_FAULT_IO_ONLY=1 (set by ctest in ASan builds, test
# cli_fault_sweep_asan): the shim has no allocation hooks, the sweep covers
# every I/O call and thread creation, and each injected run must also end
# without an ASan, LSan or UBSan report (a leak on an error path fails).
. "$CMHASH_TESTLIB"
set -e
SHIM=${CMHASH_FAULT_SHIM:?built without the shim}
CHECK="python3 $(dirname "$CMHASH_TESTLIB")/libcheck.py"
IO_ONLY=${CMHASH_FAULT_IO_ONLY:-0}
# every call the shim can fail: a call a run never makes is skipped
IO_CALLS="open openat read write pwrite rename renameat mkdirat linkat fsync
syncfs ftruncate pthread_create"
ALLOC_CALLS="calloc realloc malloc"
[ "$IO_ONLY" = 0 ] || ALLOC_CALLS=""

# run_injected ARGS...: the tool with the shim preloaded. Under ASan, the
# shim (not instrumented) comes ahead of libasan in the library list, which
# ASan refuses unless verify_asan_link_order=0: harmless here, as the shim
# defines no allocator and forwards every call to the next definition
# (ASan's interceptor, then libc). Reports go to files, not to stderr (which
# must hold one error line), with a fixed exit code; asan_reported checks.
SANLOG=$SCRATCH/sanlog
run_injected() {
    if [ "$IO_ONLY" = 0 ]; then
        LD_PRELOAD=$SHIM "$CMHASH" "$@"
        return
    fi
    # later options win: abort_on_error=1 from scripts/sanitize.sh would
    # turn a report into SIGABRT; exit 23 (LSan's code) and the log instead
    local common="abort_on_error=0:exitcode=23:log_path=$SANLOG"
    LD_PRELOAD=$SHIM \
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=1:$common \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1:$common \
        "$CMHASH" "$@"
}

# asan_reported WHAT: true (and fails the test, showing the report) when the
# last run_injected left a sanitizer report, in a log file or on stderr.
asan_reported() {
    [ "$IO_ONLY" != 0 ] || return 1
    local logs
    logs=$(ls "$SANLOG".* 2>/dev/null || true)
    if [ -z "$logs" ] && ! grep -q -E \
        'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
        "$SCRATCH/err"; then
        return 1
    fi
    fail "$1: sanitizer report (leak or memory error)"
    # shellcheck disable=SC2086
    head -40 $logs "$SCRATCH/err" >&2
    rm -f "$SANLOG".*
    return 0
}

A=$SCRATCH/a B=$SCRATCH/b S=$SCRATCH/s
mkdir -p "$A/sub/empty" "$B/sub" "$S"
printf 'one\r\n' >"$A/one.txt"
printf 'shared bytes' >"$A/sub/shared.bin"
head -c 300000 /dev/urandom >"$A/big.bin"
: >"$A/zero"
cp -a "$A/sub/shared.bin" "$S/shared.bin"
printf 'two\r\n' >"$B/two.txt"
cp -a "$A/sub/shared.bin" "$B/sub/shared.bin"
cp -a "$A/big.bin" "$B/big.bin"
head -c 70000 /dev/urandom >"$B/sub/new.bin"

LIB0=$SCRATCH/lib0
"$CMHASH" snapshot "$A" MSC00001 --lib "$LIB0" --quiet >/dev/null
"$CMHASH" snapshot "$S" MSC00002 --lib "$LIB0" --quiet >/dev/null
H1=$("$CMHASH" hash "$A" | cut -d' ' -f1)
H2=$("$CMHASH" hash "$B" | cut -d' ' -f1)
HS=$("$CMHASH" hash "$S" | cut -d' ' -f1)

# how often the v1 -> v2 snapshot makes each call
cp -a "$LIB0" "$SCRATCH/libc"
rm -f "$SCRATCH/counts"
set +e
CMHASH_FAULT_COUNT=$SCRATCH/counts run_injected \
    snapshot "$B" MSC00001 --lib "$SCRATCH/libc" --quiet >/dev/null \
    2>"$SCRATCH/err"
rc=$?
set -e
asan_reported "snapshot counting run" || true
[ "$rc" = 0 ] || { fail "snapshot counting run: exit $rc: $(cat "$SCRATCH/err")"; exit 1; }
$CHECK "$SCRATCH/libc" --strict --expect "MSC00001=2:$H2" \
    --expect "MSC00002=1:$HS" >/dev/null || fail "counting run"

injected=0
for call in $IO_CALLS $ALLOC_CALLS; do
    total=$(awk -v c="$call" '$1 == c { print $2 }' "$SCRATCH/counts")
    [ "${total:-0}" -gt 0 ] || continue
    # every call site for I/O; allocations sampled (~60 points each).
    # Not swept: allocations 7..56 or so, inside libcrypto's own first
    # initialisation (EVP_MD_fetch), where Debian's OpenSSL 3.0 crashes on
    # a NULL lock whatever the caller does (a five-line program calling
    # only EVP_MD_fetch does the same). With ~5,000 allocations the step
    # (~84) from n=1 passes over that window; every other allocation of a
    # snapshot and a verify was swept one by one on 2026-12-01, clean.
    step=1
    case $call in malloc | calloc | realloc) step=$(((total + 59) / 60)) ;; esac
    for ((n = 1; n <= total; n += step)); do
        L=$SCRATCH/lib-$call-$n
        rm -rf "$L"
        cp -a "$LIB0" "$L"
        set +e
        CMHASH_FAULT=$call:$n run_injected \
            snapshot "$B" MSC00001 --lib "$L" --quiet \
            >"$SCRATCH/out" 2>"$SCRATCH/err"
        rc=$?
        set -e
        injected=$((injected + 1))
        TESTS_RUN=$((TESTS_RUN + 1))
        what="$call #$n/$total"
        if asan_reported "snapshot, $what (exit $rc)"; then
            continue
        fi
        case $rc in
        0) want="MSC00001=2:$H2" ;;
        3 | 4 | 5) want="MSC00001=1:$H1" ;;
        *)
            fail "$what: exit $rc (crash or undocumented code)"
            cat "$SCRATCH/err" >&2
            continue
            ;;
        esac
        if [ "$rc" != 0 ]; then
            errs=$(grep -c '^cmhash: error: ' "$SCRATCH/err" || true)
            lines=$(wc -l <"$SCRATCH/err")
            [ "$errs" = 1 ] && [ "$lines" = 1 ] ||
                fail "$what: expected one error line, got: $(cat "$SCRATCH/err")"
            left=$(find "$L" -name '.cmhash-tmp-*' | head -3)
            [ -z "$left" ] || fail "$what: temps left behind: $left"
        fi
        if ! $CHECK "$L" --expect "$want" --expect "MSC00002=1:$HS" \
            >"$SCRATCH/check" 2>&1; then
            fail "$what (exit $rc): library invalid"
            head -5 "$SCRATCH/check" >&2
            continue
        fi
        # a clean re-run completes the update exactly
        if ! "$CMHASH" snapshot "$B" MSC00001 --lib "$L" --quiet \
            --if-changed >/dev/null 2>"$SCRATCH/err2"; then
            fail "$what: clean re-run failed: $(cat "$SCRATCH/err2")"
        elif ! $CHECK "$L" --strict --allow-orphan-files \
            --expect "MSC00001=2:$H2" --expect "MSC00002=1:$HS" \
            >"$SCRATCH/check" 2>&1; then
            fail "$what: library not exact after re-run"
            head -5 "$SCRATCH/check" >&2
        fi
        rm -rf "$L"
    done
done
echo "injected $injected failures into the snapshot$(
    [ "$IO_ONLY" = 0 ] || echo " (I/O only, under ASan)")"
[ "$injected" -ge 50 ] || fail "only $injected injection points reached"

# ---- verify under injection: a library with one corrupted file ----
V=$SCRATCH/libv
cp -a "$LIB0" "$V"
victim=$(find "$V/FileLib" -type f -size +1000c ! -name '*.*' | head -1)
flip_byte "$victim" 100
vdigest() { tree_digest "$V"; }
before=$(vdigest)
rm -f "$SCRATCH/vcounts"
set +e
CMHASH_FAULT_COUNT=$SCRATCH/vcounts run_injected \
    verify --lib "$V" --quiet >/dev/null 2>"$SCRATCH/err"
rc=$?
set -e
asan_reported "verify counting run" || true
[ "$rc" = 1 ] || fail "verify of the corrupted library: exit $rc, want 1"
vinjected=0
for call in $IO_CALLS $ALLOC_CALLS; do
    total=$(awk -v c="$call" '$1 == c { print $2 }' "$SCRATCH/vcounts")
    [ "${total:-0}" -gt 0 ] || continue
    step=1
    case $call in malloc | calloc | realloc) step=$(((total + 59) / 60)) ;; esac
    for ((n = 1; n <= total; n += step)); do
        set +e
        CMHASH_FAULT=$call:$n run_injected \
            verify --lib "$V" --quiet >"$SCRATCH/out" 2>"$SCRATCH/err"
        rc=$?
        set -e
        vinjected=$((vinjected + 1))
        TESTS_RUN=$((TESTS_RUN + 1))
        if asan_reported "verify, $call #$n/$total (exit $rc)"; then
            continue
        fi
        # 1: findings (the corruption, or an unreadable file); 4: could not
        # run. Never 0: the library has a corrupted file. Never a crash.
        case $rc in
        1 | 4) ;;
        *)
            fail "verify, $call #$n/$total: exit $rc"
            head -5 "$SCRATCH/err" >&2
            ;;
        esac
    done
done
[ "$(vdigest)" = "$before" ] || fail "verify under injection changed the library"
echo "injected $vinjected failures into verify$(
    [ "$IO_ONLY" = 0 ] || echo " (I/O only, under ASan)")"
[ "$vinjected" -ge 30 ] || fail "only $vinjected verify injection points"
finish
