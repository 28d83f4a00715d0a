# Issue 12 item 8: visibility on long and waiting work. The progress line
# fits the terminal; a snapshot waiting for a lock says so; retiring kept
# versions is announced; status --watch lines carry timestamps; verify
# names the contents that failed, --quiet keeps the findings, and an
# interrupted verify reports what it checked.
. "$CMHASH_TESTLIB"
set -e
L=$SCRATCH/lib
S=$SCRATCH/src
mkdir -p "$S"
for i in $(seq 1 40); do head -c 20000 /dev/urandom >"$S/f$i"; done

# progress clipped to the terminal width ($COLUMNS when stderr is no tty);
# verify at 1 MB/s over 0.8 MB draws it several times
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet
COLUMNS=30 "$CMHASH" verify --lib "$L" --progress --io-rate 1 --threads 1 \
    >/dev/null 2>"$SCRATCH/prog.err"
TESTS_RUN=$((TESTS_RUN + 1))
python3 - "$SCRATCH/prog.err" <<'PY' && ok "progress lines fit 30 columns" || fail "progress: $(cat -v "$SCRATCH/prog.err" | head -c 300)"
import sys
t = open(sys.argv[1], "rb").read().replace(b"\x1b[K", b"")
segs = [s for s in t.split(b"\r") if s.strip()]
assert segs, t
assert all(len(s.rstrip(b"\n")) <= 29 for s in segs), segs
PY

# a snapshot waiting for a lock says so
LOCK=$L/.cmhash/MSC00001.lock
[ -e "$LOCK" ] || LOCK=$L/PkgLib/MSC00001.lock
flock "$LOCK" sleep 2 &
HOLD=$!
sleep 0.3
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet
wait $HOLD || true
TESTS_RUN=$((TESTS_RUN + 1))
case $ERR in *"is locked by another snapshot; waiting"*) ok "lock wait announced" ;;
*) fail "no word about the wait: $ERR" ;; esac

# retiring kept versions without --keep is announced
printf 'v3\n' >"$S/v"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet --keep 2
printf 'v4\n' >"$S/v"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet
TESTS_RUN=$((TESTS_RUN + 1))
case $ERR in *"retired 1 previously kept version(s) of MSC00001: MSC00001.2 "*) ok "retired kept versions announced" ;;
*) fail "retirement not announced: $ERR" ;; esac

# status --watch: timestamped lines
"$CMHASH" status MSC00001 --lib "$L" --watch >"$SCRATCH/watch.out" 2>&1 &
W=$!
sleep 1
kill -INT $W 2>/dev/null || true
wait $W || true
TESTS_RUN=$((TESTS_RUN + 1))
grep -Eq '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:]{8}Z Package MSC00001 version 4' \
    "$SCRATCH/watch.out" && ok "status --watch line has a timestamp" ||
    fail "watch: $(cat "$SCRATCH/watch.out")"

# verify: the failed contents by name; --quiet keeps the findings
S2=$SCRATCH/src2
mkdir -p "$S2"
printf 'two\n' >"$S2/t.txt"
expect_rc 0 "$CMHASH" snapshot "$S2" MSC00002 --lib "$L" --quiet
H=$(sha256sum "$S2/t.txt" | cut -d' ' -f1 | tr a-f A-F)
printf 'TWO\n' >"$L/FileLib/${H:0:4}/$H"
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet || true
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s\n' "$OUT" | grep -Eq '^error +FILE_HASH_MISMATCH +FileLib/' &&
    ok "verify --quiet still prints findings" ||
    fail "--quiet hid the findings: $OUT"
TESTS_RUN=$((TESTS_RUN + 1))
case $OUT in *"Not validated: MSC00002.1 (hash_invalid)"*) ok "summary names the failed content" ;;
*) fail "summary: $OUT" ;; esac

# Ctrl-C: the summary of what was checked
printf 'two\n' >"$L/FileLib/${H:0:4}/$H"
for i in $(seq 1 6); do head -c 1000000 /dev/urandom >"$S2/big$i"; done
expect_rc 0 "$CMHASH" snapshot "$S2" MSC00002 --lib "$L" --quiet
"$CMHASH" verify --lib "$L" --io-rate 1 --threads 1 >"$SCRATCH/int.out" 2>&1 &
V=$!
sleep 1.5
kill -INT $V
rc=0
wait $V || rc=$?
TESTS_RUN=$((TESTS_RUN + 1))
[ "$rc" = 3 ] && grep -q '^Verified .*contents' "$SCRATCH/int.out" &&
    grep -q 'Partial run (interrupted)' "$SCRATCH/int.out" &&
    grep -q 'the counts above are what was checked' "$SCRATCH/int.out" &&
    ok "interrupted verify reports what it checked (exit 3)" ||
    fail "interrupted verify: exit $rc: $(cat "$SCRATCH/int.out")"
finish
