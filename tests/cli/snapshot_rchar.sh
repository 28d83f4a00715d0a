# Issue 2, acceptance 7 (first half): one read pass. rchar of the cmhash
# process (/proc/PID/io: every byte it read(2)) for a snapshot of a mixed
# ~120 MB tree must not exceed source bytes + 5 % + 1 MiB; the same buffer
# feeds SHA-256, the signature and the FileLib copy.
. "$CMHASH_TESTLIB"
set -e
HERE=$(dirname "$CMHASH_TESTLIB")
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
mkdir -p "$SRC/big" "$SRC/mid" "$SRC/small/a/b" "$SRC/tiny"
head -c $((64 << 20)) /dev/urandom >"$SRC/big/one.bin"
for i in 1 2 3 4 5; do head -c $((8 << 20)) /dev/urandom >"$SRC/mid/m$i.bin"; done
cp "$SRC/mid/m1.bin" "$SRC/mid/copy-of-m1.bin"     # a duplicate is read too
python3 - "$SRC" <<'PY'
import os, random, sys
r = random.Random(2)
src = sys.argv[1]
for i in range(300):
    d = os.path.join(src, "small", "a" if i % 2 else "a/b")
    with open(os.path.join(d, "s%03d.dat" % i), "wb") as f:
        f.write(r.randbytes(r.randint(4096, 65536)))
for i in range(600):
    with open(os.path.join(src, "tiny", "t%03d.txt" % i), "wb") as f:
        f.write(r.randbytes(r.randint(0, 1500)))
PY
BYTES=$(find "$SRC" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
NFILES=$(find "$SRC" -type f | wc -l)
expect_rc 0 python3 "$HERE/runstat.py" "$SCRATCH/stat" "$CMHASH" snapshot "$SRC" \
    MSC00001 --lib "$LIB" && ok "snapshot of $NFILES files, $BYTES bytes"
read -r RC RCHAR RSS <"$SCRATCH/stat"
RCHAR=${RCHAR#rchar=}
LIMIT=$((BYTES + BYTES / 20 + (1 << 20)))
RATIO=$(awk "BEGIN{printf \"%.4f\", $RCHAR / $BYTES}")
TESTS_RUN=$((TESTS_RUN + 1))
[ "$RC" = rc=0 ] && [ "$RCHAR" -le "$LIMIT" ] &&
    ok "rchar $RCHAR <= $LIMIT (source $BYTES bytes; rchar/source = $RATIO)" ||
    fail "$RC: rchar $RCHAR > $LIMIT (source $BYTES; ratio $RATIO)"
# the snapshot really stored everything it read once
expect_rc 0 python3 "$HERE/libcheck.py" "$LIB" --strict && ok "library exact"
# the bound can fail: a second pass over the source would break it
expect_rc 0 python3 "$HERE/runstat.py" "$SCRATCH/stat2" sh -c \
    "cat '$SRC/big/one.bin' >/dev/null; exec '$CMHASH' hash '$SRC' >/dev/null"
read -r RC2 RCHAR2 RSS2 <"$SCRATCH/stat2"
RCHAR2=${RCHAR2#rchar=}
TESTS_RUN=$((TESTS_RUN + 1))
[ "$RCHAR2" -gt "$LIMIT" ] &&
    ok "control: a process reading the big file twice has rchar $RCHAR2 > $LIMIT" ||
    fail "control: rchar $RCHAR2 not above $LIMIT: the measurement proves nothing"
finish
