# cmhash verify reads a mismatching or failing file a second time before it
# reports it (issue 3): a read error followed by a good read is an I/O
# finding (FILE_UNREADABLE, "unreliable"), not corruption; corruption seen
# twice is FILE_HASH_MISMATCH "confirmed by a second read". Uses the
# LD_PRELOAD fault shim (tests/fault) to fail one read() call.
. "$CMHASH_TESTLIB"
set -e
FIND="python3 $(dirname "$CMHASH_TESTLIB")/../fixtures/verify/findings.py"

mkdir -p "$SCRATCH/src"
head -c 1000 /dev/urandom >"$SCRATCH/src/only.bin"
L=$SCRATCH/lib
"$CMHASH" snapshot "$SCRATCH/src" MSC00001 --lib "$L" --no-fsync --quiet \
    >/dev/null
H=$(sha256sum "$SCRATCH/src/only.bin" | cut -d' ' -f1 | tr a-f A-F)
F=FileLib/${H:0:4}/$H

reads() { # number of read() calls of a verify run
    rm -f "$SCRATCH/count"
    CMHASH_FAULT_COUNT=$SCRATCH/count LD_PRELOAD=$CMHASH_FAULT_SHIM \
        "$CMHASH" verify --lib "$L" --threads 1 --quiet "$@" >/dev/null ||
        true
    awk '$1 == "read" { print $2 }' "$SCRATCH/count"
}

# corruption: found twice, and the file is read twice
"$CMHASH" verify --lib "$L" --quiet --json="$SCRATCH/clean.json" >/dev/null ||
    fail "clean library not clean"
if [ -n "${CMHASH_FAULT_SHIM:-}" ]; then
    K=$(reads)
fi
cp "$L/$F" "$SCRATCH/good"
flip_byte "$L/$F" 9
expect_rc 1 "$CMHASH" verify --lib "$L" --json="$SCRATCH/bad.json" || true
[ "$($FIND "$SCRATCH/bad.json")" = "FILE_HASH_MISMATCH $F" ] ||
    fail "corruption not reported"
grep -q 'confirmed by a second read' "$SCRATCH/bad.json" &&
    ok "corruption confirmed by a second read" ||
    fail "no 'confirmed by a second read'"

if [ -z "${CMHASH_FAULT_SHIM:-}" ]; then
    ok "fault shim not built: flaky-read cases skipped"
    finish
    exit $?
fi
K2=$(reads)
# a small clean data file is read with 1 call (a library file's read ends
# at its size; the fstat after it catches a change); a mismatch adds a
# second pass of 1
[ "$((K2 - K))" = 1 ] && ok "the mismatching file was read again" ||
    fail "reads: clean $K, corrupted $K2"
cp "$SCRATCH/good" "$L/$F"

# the first read of the data file (read call K, the last) fails with EIO
# once
TESTS_RUN=$((TESTS_RUN + 1))
set +e
CMHASH_FAULT=read:$K:EIO LD_PRELOAD=$CMHASH_FAULT_SHIM \
    "$CMHASH" verify --lib "$L" --threads 1 --fail-on error \
    --json="$SCRATCH/flaky.json" >/dev/null 2>&1
rc=$?
set -e
got=$($FIND "$SCRATCH/flaky.json" --content)
if [ "$rc" = 1 ] && [ "$got" = "FILE_UNREADABLE $F MSC00001.1" ] &&
    grep -q 'second read was correct: unreliable I/O' "$SCRATCH/flaky.json"
then
    ok "a failed read then a good one: FILE_UNREADABLE (unreliable I/O)"
else
    fail "flaky read: exit $rc, findings: $got"
fi
[ "$($FIND "$SCRATCH/flaky.json" --status)" = "MSC00001.1 failed 2383" ] ||
    fail "flaky read: content status"
finish
