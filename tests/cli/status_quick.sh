#!/bin/bash
# status --quick is verify's index-only mode (issue 13): everything verify
# checks without reading file data makes a library "not installed", and
# same-size corruption of file bytes does not (only the full check reads).
. "$CMHASH_TESTLIB"
set -e
L=$SCRATCH/dp
SRC=$SCRATCH/src
mkdir -p "$SRC/d"
printf 'one' >"$SRC/a.txt"
head -c 30000 /dev/urandom >"$SRC/d/b.bin"
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$L" --no-fsync --quiet
expect_rc 0 "$CMHASH" status MSC00001 --lib "$L" --quick
CID=$(ls "$L/DataLib" | grep -v INI | head -1)

# 1. the content INI's hash no longer matches its mirror: the quick check
#    sees it (CONTENT_HASH_MISMATCH), as verify's index pass does
cp "$L/DataLib/$CID.INI" "$SCRATCH/cini"
python3 - "$L/DataLib/$CID.INI" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p, "rb").read()
flip = lambda m: m.group(1) + (b"1" if m.group(2) == b"0" else b"0")
open(p, "wb").write(re.sub(rb"(Hash=[0-9A-F]{63})([0-9A-F])", flip, t, 1))
PY
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet
expect_rc 1 "$CMHASH" status MSC00001 --lib "$L" --quick
echo "$OUT" | grep -q "not installed .*CONTENT_HASH_MISMATCH" &&
    ok "quick: content hash over the mirror checked" || fail "quick hash: $OUT"
cp "$SCRATCH/cini" "$L/DataLib/$CID.INI"
expect_rc 0 "$CMHASH" status MSC00001 --lib "$L" --quick

# 2. a FileLib entry's reference INI no longer lists the content
H=$(sha256sum "$SRC/d/b.bin" | cut -d' ' -f1 | tr a-f A-F)
RI=$L/FileLib/${H:0:4}/$H.INI
cp "$RI" "$SCRATCH/rini"
chmod u+w "$RI"
printf '[File]\r\n' >"$RI"
expect_rc 1 "$CMHASH" status MSC00001 --lib "$L" --quick
echo "$OUT" | grep -q "not installed .*REF_MISSING FileLib/${H:0:4}/$H" &&
    ok "quick: reference list checked" || fail "quick refs: $OUT"
cp "$SCRATCH/rini" "$RI"

# 3. a file of the wrong size
D=$L/FileLib/${H:0:4}/$H
cp "$D" "$SCRATCH/data"
chmod u+w "$D"
printf 'x' >>"$D"
expect_rc 1 "$CMHASH" status MSC00001 --lib "$L" --quick
echo "$OUT" | grep -q "not installed .*FILE_SIZE_MISMATCH" &&
    ok "quick: sizes checked" || fail "quick size: $OUT"

# 4. same-size corruption: quick reads no data, the full check finds it
cp "$SCRATCH/data" "$D"
flip_byte "$D" 7
expect_rc 0 "$CMHASH" status MSC00001 --lib "$L" --quick
expect_rc 1 "$CMHASH" status MSC00001 --lib "$L"
echo "$OUT" | grep -q "not installed .*FILE_HASH_MISMATCH" &&
    ok "full: data hashed" || fail "full: $OUT"
finish
