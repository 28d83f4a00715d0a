#!/bin/bash
# status over two libraries: Targeted/Installed, --quick vs full checks,
# and --watch reporting a snapshot into a watched library within 1 s.
. "$CMHASH_TESTLIB"
set -e
L1=$SCRATCH/dp1
L2=$SCRATCH/dp2
SRC=$SCRATCH/src
mkdir -p "$SRC"
printf 'v1' >"$SRC/a.txt"
head -c 20000 /dev/urandom >"$SRC/b.bin"
for L in "$L1" "$L2"; do
    expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$L" --no-fsync --quiet
done
expect_rc 0 "$CMHASH" status MSC00001 --lib "$L1" --lib "$L2"
echo "$OUT" | grep -q '^Package MSC00001 version 1: Targeted 2, Installed 2: distributed$' || fail "both: $OUT"

printf 'v2' >"$SRC/a.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$L1" --no-fsync --quiet
expect_rc 1 "$CMHASH" status msc00001 --lib "$L1" --lib "$L2" --quick
echo "$OUT" | grep -q 'Targeted 2, Installed 1: not distributed$' || fail "one: $OUT"
echo "$OUT" | grep -q "$L2 *not installed  holds version 1, not 2" || fail "reason: $OUT"
expect_rc 1 "$CMHASH" status MSC00001 --lib "$L1" --lib "$L2" --lib "$SCRATCH/nolib" --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert (d["targeted"], d["installed"], d["target_version"]) == (3, 1, 2), d
assert [l["installed"] for l in d["libraries"]] == [True, False, False], d
assert "nolib" in d["libraries"][2]["problem"], d
' || fail "json: $OUT"

# full vs quick: same-size corruption is found only by the full check
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$L2" --no-fsync --quiet
H=$(sha256sum "$SRC/b.bin" | cut -d' ' -f1 | tr a-f A-F)
chmod u+w "$L2/FileLib/${H:0:4}/$H"
flip_byte "$L2/FileLib/${H:0:4}/$H" 5
expect_rc 0 "$CMHASH" status MSC00001 --lib "$L1" --lib "$L2" --quick
expect_rc 1 "$CMHASH" status MSC00001 --lib "$L1" --lib "$L2"
echo "$OUT" | grep -q "$L2 *not installed" || fail "full check: $OUT"
expect_rc 2 "$CMHASH" status BAD --lib "$L1"
expect_rc 2 "$CMHASH" status MSC00001 --lib "$L1" --interval 0

# --watch: a snapshot into either library is reported within a second
printf 'v3' >"$SRC/a.txt"
W=$SCRATCH/watch.jsonl
"$CMHASH" status MSC00001 --lib "$L1" --lib "$L2" --quick --watch --json >"$W" 2>"$SCRATCH/watch.err" &
WPID=$!
trap 'kill $WPID 2>/dev/null || true' EXIT
wait_lines() { # N: until W has N lines (5 s at most)
    for _ in $(seq 100); do
        [ "$(wc -l <"$W")" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
wait_lines 1 || fail "no first report"
# snap_and_wait LIB PATTERN [opts]: snapshot into LIB, then a report
# matching PATTERN must appear (among the reports after the snapshot
# started) within 1 s of the snapshot completing
snap_and_wait() {
    local lib=$1 pat=$2 n0
    shift 2
    n0=$(wc -l <"$W")
    "$CMHASH" snapshot "$SRC" MSC00001 --lib "$lib" --no-fsync --quiet "$@"
    local t0 t1
    t0=$(date +%s.%N)
    for _ in $(seq 100); do
        tail -n +$((n0 + 1)) "$W" | grep -q "$pat" && break
        sleep 0.02
    done
    t1=$(date +%s.%N)
    tail -n +$((n0 + 1)) "$W" | grep -q "$pat" || { fail "no report like $pat"; return; }
    python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print('report after %.3f s' % d); sys.exit(d >= 1.0)" "$t0" "$t1" ||
        fail "report took 1 s or more"
}
snap_and_wait "$L1" '"target_version":3,"targeted":2,"installed":1,"distributed":false'
snap_and_wait "$L2" '"target_version":3,"targeted":2,"installed":2,"distributed":true' --version 3
kill "$WPID"
wait "$WPID" || true
ok "watch reports: $(wc -l <"$W")"
finish
