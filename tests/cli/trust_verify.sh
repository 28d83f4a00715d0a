#!/bin/bash
# Issue 11: item 4, `verify --resume` trusts no state of another library,
# no edited or damaged state, never hangs on a FIFO and refuses a folder;
# item 15, a PkgLib INI deleted during verify is BUSY, not FILE_UNREADABLE.
. "$CMHASH_TESTLIB"
set -e
A=$SCRATCH/a
S=$SCRATCH/src
mkdir -p "$S"
for i in $(seq 1 12); do head -c 600000 /dev/urandom >"$S/f$i.bin"; done
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$A" --no-fsync --quiet
mkdir -p "$SCRATCH/s2"
printf 'two\n' >"$SCRATCH/s2/two.txt"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/s2" MSC00002 --lib "$A" --no-fsync --quiet
B=$SCRATCH/b
cp -a "$A" "$B"
# corrupt every data file in B: whatever A's state skips, B is damaged
for f in "$B"/FileLib/*/*; do
    case $f in *.INI|*.SIG) ;; *) flip_byte "$f" 2 ;; esac
done

# a partial run on A leaves a state
STATE=$SCRATCH/a.state
for _ in 1 2 3 4 5; do
    set +e
    "$CMHASH" verify --lib "$A" --quiet --threads 1 --max-time 0.4 \
        --io-rate 4 --resume "$STATE" >/dev/null 2>&1
    set -e
    grep -q '^done ' "$STATE" 2>/dev/null && break
done
TESTS_RUN=$((TESTS_RUN + 1))
grep -q '^done \|^cursor ' "$STATE" 2>/dev/null && ok "item 4: a partial run on A left a state" ||
    fail "item 4: no partial state: $(cat "$STATE" 2>/dev/null)"
cp "$STATE" "$SCRATCH/a.saved"

# A's state on B: refused (exit 2, one line), B not called clean
expect_rc 2 "$CMHASH" verify --lib "$B" --quiet --resume "$STATE" &&
    ok "item 4: A's state on library B: exit 2"
echo "$ERR" | grep -q "^cmhash: error: resume state was made for another library (device [0-9]* inode [0-9]*), not $B" &&
    [ "$(echo "$ERR" | wc -l)" = 1 ] && ok "item 4: $ERR" || fail "item 4: message: $ERR"
cmp -s "$STATE" "$SCRATCH/a.saved" || fail "item 4: the refused state was changed"

# a crafted cursor: everything "done"
sed 's/^cursor .*/cursor FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF/' \
    "$SCRATCH/a.saved" >"$SCRATCH/crafted.state"
grep -q '^cursor FFFF' "$SCRATCH/crafted.state" || fail "item 4: state has no cursor line"
expect_rc 2 "$CMHASH" verify --lib "$A" --quiet --resume "$SCRATCH/crafted.state" &&
    ok "item 4: a crafted cursor: exit 2"
echo "$ERR" | grep -q "^cmhash: error: resume state is damaged or was edited" &&
    ok "item 4: $ERR" || fail "item 4: message: $ERR"
# the untouched state still resumes on A
cp "$SCRATCH/a.saved" "$STATE"
set +e
"$CMHASH" verify --lib "$A" --quiet --resume "$STATE" >/dev/null 2>"$SCRATCH/e"
rc=$?
set -e
TESTS_RUN=$((TESTS_RUN + 1))
[ "$rc" = 0 ] || [ "$rc" = 3 ] && ok "item 4: A's own state resumes on A (exit $rc)" ||
    fail "item 4: A's own state: exit $rc: $(cat "$SCRATCH/e")"

# a FIFO must not hang; a folder is a usage error
mkfifo "$SCRATCH/fifo.state"
set +e
timeout 10 "$CMHASH" verify --lib "$A" --quiet --resume "$SCRATCH/fifo.state" \
    >/dev/null 2>"$SCRATCH/e"
rc=$?
set -e
TESTS_RUN=$((TESTS_RUN + 1))
[ "$rc" = 2 ] && ok "item 4: a FIFO as state: exit 2 at once ($(cat "$SCRATCH/e"))" ||
    fail "item 4: a FIFO as state: exit $rc (124 = hung)"
mkdir "$SCRATCH/dir.state"
expect_rc 2 "$CMHASH" verify --lib "$A" --quiet --resume "$SCRATCH/dir.state" &&
    ok "item 4: a folder as state: exit 2 ($ERR)"

# ---- item 15: a PkgLib INI deleted during verify -------------------------
rm -f "$SCRATCH/go"
CMHASH_TEST_PAUSE_AT=verify-pkglib-listed:$SCRATCH/go "$CMHASH" verify \
    --lib "$A" --quiet --json="$SCRATCH/del.json" >/dev/null 2>"$SCRATCH/del.err" &
P=$!
for _ in $(seq 200); do
    grep -q "test pause at verify-pkglib-listed" "$SCRATCH/del.err" && break
    sleep 0.05
done
rm "$A/PkgLib/MSC00002.INI"
touch "$SCRATCH/go"
set +e
wait $P
rc=$?
set -e
TESTS_RUN=$((TESTS_RUN + 1))
if grep -q '"code":"BUSY".*"path":"PkgLib/MSC00002.INI"' "$SCRATCH/del.json" &&
    ! grep -q '"severity":"error"' "$SCRATCH/del.json"; then
    ok "item 15: a PkgLib INI deleted during verify: BUSY, no error (exit $rc)"
else
    fail "item 15: deleted PkgLib INI: exit $rc, $(grep -v '"type":"content"' "$SCRATCH/del.json" | head -3)"
fi
finish
