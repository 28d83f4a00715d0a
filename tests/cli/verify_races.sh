#!/usr/bin/env bash
# verify beside a snapshot that starts after verify probed the package
# locks (issue 3 "concurrency with a running snapshot", issue 6 soak): the
# snapshot commits a new version and retires the one verify is checking,
# deleting its mirror and the FileLib files only it used. Deterministic:
# verify stops at a test pause point ($CMHASH_TEST_PAUSE_AT, see
# engine/internal.h) after reading PkgLib (DataLib not yet listed), after
# all listings, after the mirror walks, or after the FileLib reads; the
# snapshot runs to completion; then verify goes on.
# Each time: no error about the retired content (a BUSY finding instead),
# and a real problem of another package (a FileLib file deleted by hand)
# is still reported, exactly once; afterwards the library verifies clean
# but for that one file.
set -euo pipefail
. "$CMHASH_TESTLIB"
FIND="python3 $(dirname "$CMHASH_TESTLIB")/../fixtures/verify/findings.py"

mk() { # DIR TAG: 30 shared files, 10 of its own, one of 200 kB
    mkdir -p "$1/shared" "$1/own/deep"
    for i in $(seq 1 30); do printf 'shared %d\n' "$i" >"$1/shared/s$i.txt"; done
    for i in $(seq 1 10); do printf '%s own %d\n' "$2" "$i" >"$1/own/o$i.txt"; done
    head -c 200000 /dev/zero | tr '\0' "$3" >"$1/own/deep/big.bin"
}

for point in verify-pkglib verify-listed verify-mirrors verify-entries; do
    W=$SCRATCH/$point
    L=$W/lib
    mk "$W/A1" A1 a
    mk "$W/A2" A2 b
    mk "$W/B" B c
    printf 'only in B\n' >"$W/B/lone.txt"
    "$CMHASH" snapshot "$W/A1" RAC00001 --lib "$L" --no-fsync --quiet >/dev/null
    "$CMHASH" snapshot "$W/B" RAC00002 --lib "$L" --no-fsync --quiet >/dev/null
    # the real problem: B's own file gone from FileLib
    H=$(sha256sum "$W/B/lone.txt" | cut -d' ' -f1 | tr a-f A-F)
    rm "$L/FileLib/${H:0:4}/$H"

    GO=$W/go
    set +e
    CMHASH_TEST_PAUSE_AT=$point:$GO "$CMHASH" verify --lib "$L" --threads 2 \
        --quiet --json="$W/v.jsonl" >"$W/v.out" 2>"$W/v.err" &
    vpid=$!
    set -e
    for _ in $(seq 1 3000); do
        grep -q "test pause at $point" "$W/v.err" 2>/dev/null && break
        sleep 0.01
    done
    TESTS_RUN=$((TESTS_RUN + 1))
    if grep -q "test pause at $point" "$W/v.err"; then
        ok "$point: verify paused"
    else
        fail "$point: verify never reached the pause point"
        touch "$GO"
    fi
    # version 2 of RAC00001 commits and retires version 1 meanwhile
    "$CMHASH" snapshot "$W/A2" RAC00001 --lib "$L" --no-fsync --quiet >/dev/null
    [ ! -e "$L/DataLib/RAC00001.1.INI" ] || fail "$point: RAC00001.1 not retired"
    touch "$GO"
    set +e
    wait "$vpid"
    rc=$?
    set -e

    TESTS_RUN=$((TESTS_RUN + 1))
    [ "$rc" = 1 ] && ok "$point: verify exit 1 (the missing file)" ||
        fail "$point: verify exit $rc: $(cat "$W/v.err")"
    TESTS_RUN=$((TESTS_RUN + 1))
    got=$(python3 - "$W/v.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("type") == "finding" and o["severity"] == "error":
        print(o["code"], o["content_id"], o["path"])
PY
)
    want="FILE_MISSING RAC00002.1 FileLib/${H:0:4}/$H"
    [ "$got" = "$want" ] && ok "$point: the only error is B's missing file" ||
        fail "$point: errors were: $got"
    TESTS_RUN=$((TESTS_RUN + 1))
    if grep -q '"code":"BUSY".*RAC00001' "$W/v.jsonl" ||
        grep -q '"code": "BUSY".*RAC00001' "$W/v.jsonl"; then
        ok "$point: the retirement is reported BUSY"
    else
        fail "$point: no BUSY finding for RAC00001: $(cat "$W/v.jsonl")"
    fi
    # and afterwards: only the missing file
    expect_rc 1 "$CMHASH" verify --lib "$L" --json="$W/after.jsonl" || true
    TESTS_RUN=$((TESTS_RUN + 1))
    after=$($FIND "$W/after.jsonl")
    [ "$after" = "FILE_MISSING FileLib/${H:0:4}/$H" ] &&
        ok "$point: afterwards only the missing file" ||
        fail "$point: afterwards: $after"
done
finish
