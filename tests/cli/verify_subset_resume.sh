# cmhash verify --subset and --max-time/--resume (issue 3, acceptance 3).
# 1. With every FileLib file corrupted, the runs K=1..N of --subset K/N
#    report each file exactly once, for N = 1..4.
# 2. A library verified in several time-limited runs (--max-time with a
#    slow --io-rate, --resume STATE) gives the same findings as one run,
#    each file's finding exactly once, then the cycle starts again.
. "$CMHASH_TESTLIB"
set -e
FIND="python3 $(dirname "$CMHASH_TESTLIB")/../fixtures/verify/findings.py"

S=$SCRATCH/src
mkdir -p "$S/a/d" "$S/b"
for i in $(seq 1 8); do
    head -c $((100000 + i * 1000)) /dev/urandom >"$S/a/d/f$i.bin"
done
for i in $(seq 1 4); do
    head -c $((120000 + i * 1000)) /dev/urandom >"$S/b/g$i.bin"
done
cp "$S/a/d/f1.bin" "$S/b/copy.bin"
CLEAN=$SCRATCH/clean
"$CMHASH" snapshot "$S/a" MSC00001 --lib "$CLEAN" --no-fsync --quiet >/dev/null
"$CMHASH" snapshot "$S/b" MSC00002 --lib "$CLEAN" --no-fsync --quiet >/dev/null
NFILES=$(find "$CLEAN/FileLib" -mindepth 2 -type f ! -name '*.*' | wc -l)
[ "$NFILES" = 12 ] || fail "setup: $NFILES FileLib files, expected 12"

flip() { # flip one byte of each FileLib data file given
    for f in "$@"; do
        python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); \
b[777]^=0x10; open(p,'wb').write(b)" "$f"
    done
}

# --- 1. subsets ---
L=$SCRATCH/all-bad
cp -a "$CLEAN" "$L"
flip $(find "$L/FileLib" -mindepth 2 -type f ! -name '*.*')
all=$(cd "$L" && find FileLib -mindepth 2 -type f ! -name '*.*' |
    LC_ALL=C sort)
for n in 1 2 3 4; do
    got=""
    hashed=0
    for k in $(seq 1 "$n"); do
        set +e
        "$CMHASH" verify --lib "$L" --quiet --subset "$k/$n" \
            --json="$SCRATCH/sub-$k-$n.json" >/dev/null 2>&1
        rc=$?
        set -e
        both=$($FIND "$SCRATCH/sub-$k-$n.json" --both)
        part=$(echo "$both" | sed -n 's/^FILE_HASH_MISMATCH //p')
        got=$(printf '%s\n%s' "$got" "$part")
        read -r _ h _ sub <<<"$(echo "$both" | tail -1)"
        hashed=$((hashed + h))
        # a slice may be empty (random hashes): then nothing is wrong
        [ "$rc" = "$([ "$h" -gt 0 ] && echo 1 || echo 0)" ] ||
            fail "subset $k/$n: exit $rc with $h files hashed"
        [ "$sub" = "$k/$n" ] || fail "subset $k/$n: summary subset $sub"
    done
    got=$(echo "$got" | sed '/^$/d' | LC_ALL=C sort)
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ "$got" = "$all" ] && [ "$hashed" = "$NFILES" ]; then
        ok "--subset K/$n covers every FileLib file exactly once"
    else
        fail "--subset K/$n: covered $(echo "$got" | wc -l) lines, hashed" \
            "$hashed, expected $NFILES"
        diff <(echo "$all") <(echo "$got") >&2 || true
    fi
done
expect_rc 2 "$CMHASH" verify --lib "$L" --subset 5/4 && ok "bad subset"
expect_rc 2 "$CMHASH" verify --lib "$L" --subset 0/4 && ok "bad subset 0"

# --- 2. max-time + resume ---
L=$SCRATCH/some-bad
cp -a "$CLEAN" "$L"
flip "$(find "$L/FileLib" -mindepth 2 -type f ! -name '*.*' | sort | sed -n 3p)" \
    "$(find "$L/FileLib" -mindepth 2 -type f ! -name '*.*' | sort | sed -n 9p)"
rm "$(find "$L/FileLib" -name '*.SIG' | sort | sed -n 5p)"
echo junk >"$L/FileLib/stray.txt"
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet --json="$SCRATCH/one.json" ||
    true
one=$($FIND "$SCRATCH/one.json" | LC_ALL=C sort)
[ "$(echo "$one" | grep -c FILE_HASH_MISMATCH)" = 2 ] ||
    fail "one run: expected 2 FILE_HASH_MISMATCH"

STATE=$SCRATCH/verify.state
runs=0 partial=0 union="" hashed=0
while :; do
    runs=$((runs + 1))
    [ "$runs" -le 40 ] || { fail "resume never completed"; break; }
    set +e
    "$CMHASH" verify --lib "$L" --quiet --threads 2 --max-time 0.8 \
        --io-rate 0.5 --resume "$STATE" --json="$SCRATCH/r$runs.json" \
        >/dev/null 2>&1
    rc=$?
    set -e
    both=$($FIND "$SCRATCH/r$runs.json" --both)
    read -r _ h p _ <<<"$(echo "$both" | tail -1)"
    union=$(printf '%s\n%s' "$union" "$(echo "$both" | sed '$d')")
    hashed=$((hashed + h))
    if [ "$p" = true ]; then
        partial=$((partial + 1))
        [ -s "$STATE" ] || fail "partial run $runs left no state"
        [ "$rc" = 1 ] || [ "$rc" = 3 ] || fail "partial run: exit $rc"
        [ "$rc" = 3 ] && ! grep -q '"severity":"\(error\|warning\)"' \
            "$SCRATCH/r$runs.json" || [ "$rc" = 1 ] ||
            fail "exit 3 with findings"
    else
        [ -e "$STATE" ] && fail "complete run left the state file"
        break
    fi
done
TESTS_RUN=$((TESTS_RUN + 1))
if [ "$partial" -ge 2 ]; then
    ok "cycle took $runs runs ($partial partial)"
else
    fail "expected several partial runs, got $partial of $runs"
fi
TESTS_RUN=$((TESTS_RUN + 1))
u=$(echo "$union" | sed '/^$/d' | LC_ALL=C sort -u)
if [ "$u" = "$one" ] && [ "$hashed" = "$NFILES" ] &&
    [ "$(echo "$union" | grep -c FILE_HASH_MISMATCH)" = 2 ]; then
    ok "resumed runs: same findings as one run, each file hashed once"
else
    fail "resumed runs differ from one run (hashed $hashed)"
    diff <(echo "$one") <(echo "$u") >&2 || true
fi
# a new cycle starts from the beginning
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet --resume "$STATE" \
    --json="$SCRATCH/again.json" || true
[ "$($FIND "$SCRATCH/again.json" --summary files_hashed)" = "$NFILES" ] ||
    fail "after a complete cycle the next run does not start over"
# --nice: every thread of the run at nice 19, main thread in the idle class
"$CMHASH" verify --lib "$L" --quiet --nice --threads 2 --io-rate 0.5 \
    --max-time 3 >/dev/null 2>&1 &
VP=$!
sleep 0.5
nices=$(ps -L -o nice= -p "$VP" 2>/dev/null | tr -d ' ' | sort -u)
cls=$(ionice -p "$VP" 2>/dev/null || echo "?")
wait "$VP" || true
TESTS_RUN=$((TESTS_RUN + 1))
if [ "$nices" = 19 ] && [ "$cls" = idle ]; then
    ok "--nice: nice 19 on every thread, idle I/O class"
else
    fail "--nice: thread nice values '$nices', I/O class '$cls'"
fi
# interrupted (SIGINT): partial, exit 3 on a clean library, state kept
L2=$SCRATCH/clean-copy
cp -a "$CLEAN" "$L2"
rm -f "$SCRATCH/int.state"
"$CMHASH" verify --lib "$L2" --quiet --io-rate 0.3 \
    --resume "$SCRATCH/int.state" --json="$SCRATCH/int.json" >/dev/null 2>&1 &
VP=$!
sleep 1
kill -INT "$VP"
set +e
wait "$VP"
rc=$?
set -e
TESTS_RUN=$((TESTS_RUN + 1))
if [ "$rc" = 3 ] && [ -s "$SCRATCH/int.state" ] &&
    [ "$($FIND "$SCRATCH/int.json" --summary partial stop_reason)" = \
        "true canceled" ]; then
    ok "interrupted: exit 3, resume state written"
else
    fail "interrupted: exit $rc"
fi
# a state from another subset is refused
printf 'cmhash-verify-state 1\nsubset 1/2\ndeep 0\n' >"$STATE"
expect_rc 2 "$CMHASH" verify --lib "$L" --resume "$STATE" &&
    ok "state of another subset refused"
finish
