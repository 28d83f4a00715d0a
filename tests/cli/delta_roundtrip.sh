#!/bin/bash
# snapshot v1, change the tree, snapshot v2 --keep 1 -> delta -> patch
# reproduces v2's bytes and content hash; delta bytes < full bytes;
# crafted manifests cannot write outside OUTDIR.
. "$CMHASH_TESTLIB"
set -e
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
mkdir -p "$SRC/bin" "$SRC/docs" "$SRC/empty"
head -c 400000 /dev/urandom >"$SRC/bin/big.bin"
head -c 50000 /dev/urandom >"$SRC/bin/moved.dat"
printf 'same' >"$SRC/docs/same.txt"
printf 'old only' >"$SRC/docs/old.txt"
touch -d '2021-01-01 12:00:00.5' "$SRC"/bin/* "$SRC"/docs/*
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet

# v2: edit 100 bytes inside big.bin, move moved.dat, drop old.txt, add new
printf '%0100d' 7 | dd of="$SRC/bin/big.bin" bs=1 seek=200000 conv=notrunc 2>/dev/null
mkdir -p "$SRC/lib/sub"; mv "$SRC/bin/moved.dat" "$SRC/lib/sub/moved.dat"
rm "$SRC/docs/old.txt"
head -c 3000 /dev/urandom >"$SRC/lib/new.bin"
chmod a-w "$SRC/lib/new.bin"
touch -d '2022-02-02 02:02:02.25' "$SRC/bin/big.bin"
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet --keep 1
V2HASH=$("$CMHASH" hash "$SRC" | cut -d' ' -f1)

expect_rc 0 "$CMHASH" delta MSC00001.1 MSC00001 "$SCRATCH/d" --lib "$LIB" --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert (d["from"], d["to"]) == ("MSC00001.1", "MSC00001.2"), d
assert (d["unchanged"], d["copied"], d["changed"], d["full"], d["removed"]) == (1, 1, 1, 1, 2), d
assert d["full_bytes"] == 400000 + 50000 + 4 + 3000, d
assert 0 < d["delta_bytes"] < 40000, d          # 100 bytes changed of 400 KB
assert d["send_bytes"] == d["delta_bytes"] + 3000, d
' || fail "delta json: $OUT"
head -3 "$SCRATCH/d/MANIFEST" | grep -q '^cmhash-delta 1$' || fail "manifest header"
grep -q '^dir empty$' "$SCRATCH/d/MANIFEST" || fail "empty folder in manifest"
grep -q '^removed docs/old.txt$' "$SCRATCH/d/MANIFEST" &&
    grep -q '^removed bin/moved.dat$' "$SCRATCH/d/MANIFEST" || fail "removed lines"
grep -q '^file copy [0-9A-F]* 50000 [0-9]* 00000020 - bin/moved.dat lib/sub/moved.dat$' "$SCRATCH/d/MANIFEST" ||
    fail "copy line: $(cat "$SCRATCH/d/MANIFEST")"

# text report: delta bytes vs full bytes
rm -rf "$SCRATCH/d2"
expect_rc 0 "$CMHASH" delta MSC00001.1 MSC00001.2 "$SCRATCH/d2" --lib "$LIB"
echo "$OUT" | grep -Eq '^Delta bytes [0-9]+; to send [0-9]+ bytes of 453004 full bytes' || fail "report: $OUT"

# patch: old tree from extract + delta -> v2, verified
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/base" --lib "$LIB"
expect_rc 0 "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/d" "$SCRATCH/v2"
echo "$OUT" | grep -q "The hash for algorithm 32780 is $V2HASH (verified)" || fail "patch: $OUT"
diff -r "$SRC" "$SCRATCH/v2" >/dev/null && ok "patched bytes equal v2" || fail "bytes differ"
[ "$(stat -c '%Y %a' "$SCRATCH/v2/bin/big.bin" "$SCRATCH/v2/lib/new.bin")" = "$(stat -c '%Y %a' "$SRC/bin/big.bin" "$SRC/lib/new.bin")" ] ||
    fail "times/modes"
[ -d "$SCRATCH/v2/empty" ] || fail "empty folder"
expect_rc 0 "$CMHASH" diff MSC00001.2 "$SCRATCH/v2" --lib "$LIB"

# wrong base -> exit 3 naming the file; OUTDIR not empty -> 2
cp -a "$SCRATCH/base" "$SCRATCH/badbase"
chmod u+w "$SCRATCH/badbase/docs/same.txt"; printf 'SAME' >"$SCRATCH/badbase/docs/same.txt"
expect_rc 3 "$CMHASH" patch "$SCRATCH/badbase" "$SCRATCH/d" "$SCRATCH/v2b"
echo "$ERR" | grep -q 'badbase/docs/same.txt is not the old version' || fail "msg: $ERR"
# a base file whose blocks the delta uses changed: caught by the hash check
rm -rf "$SCRATCH/badbase" "$SCRATCH/v2b"; cp -a "$SCRATCH/base" "$SCRATCH/badbase"
chmod u+w "$SCRATCH/badbase/bin/big.bin"
printf 'XXXX' | dd of="$SCRATCH/badbase/bin/big.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_rc 3 "$CMHASH" patch "$SCRATCH/badbase" "$SCRATCH/d" "$SCRATCH/v2b"
echo "$ERR" | grep -q 'bin/big.bin rebuilt as' || fail "msg: $ERR"
expect_rc 2 "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/d" "$SCRATCH/v2"
expect_rc 2 "$CMHASH" delta MSC00001.1 MSC00001.2 "$SCRATCH/d" --lib "$LIB"
expect_rc 4 "$CMHASH" delta MSC00001.7 MSC00001.2 "$SCRATCH/d3" --lib "$LIB"
expect_rc 3 "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/nope" "$SCRATCH/v3"

# crafted manifests: traversal in target or source paths
mkdir -p "$SCRATCH/outside"
# evil_manifest FIELD VALUE: copy the delta with the unchanged file's
# target (8) or source (7) path replaced
evil_manifest() {
    rm -rf "$SCRATCH/ev" "$SCRATCH/evout"; cp -a "$SCRATCH/d" "$SCRATCH/ev"
    python3 - "$SCRATCH/ev/MANIFEST" "$1" "$2" <<'PY'
import sys
p, field, value = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(p).read().split("\n")
for i, l in enumerate(lines):
    f = l.split(" ")
    if f[:2] == ["file", "unchanged"]:
        f[field] = value
        lines[i] = " ".join(f)
open(p, "w").write("\n".join(lines))
PY
}
for evil in '../../outside/pwned' '/tmp/pwned' 'a/../../pwned' 'a\..\pwned' 'a//b' '..' 'C:\pwned'; do
    evil_manifest 8 "$evil"
    expect_rc 3 "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/ev" "$SCRATCH/evout"
    echo "$ERR" | grep -q 'MANIFEST line .*bad path' || fail "msg: $ERR"
done
evil_manifest 7 '../../../etc/passwd'
expect_rc 3 "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/ev" "$SCRATCH/evout"
evil_manifest 8 '%2E%2E/pwned'
expect_rc 3 "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/ev" "$SCRATCH/evout"
[ -z "$(ls "$SCRATCH/outside")" ] && [ ! -e /tmp/pwned ] && ok "nothing written outside OUTDIR" || fail "escaped"
finish
