#!/bin/bash
# The up-front look at a library's signatures (issue 10; spec 8, 11): a
# library whose .SIG files are MS-RDC is ConfigMgr-written even when its
# content INIs carry [cmhash]. snapshot and gc --apply refuse it without
# --allow-foreign, naming the .SIG; delta says once that the signatures
# are MS-RDC and sends the changed files whole (counted), never handing
# such a .SIG to librsync; verify gives one SIG_FOREIGN summary.
. "$CMHASH_TESTLIB"
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$SCRATCH/lib
SRC=$SCRATCH/src
mkdir -p "$SRC/d"
head -c 20000 /dev/zero | tr '\0' 'a' >"$SRC/d/big.txt"
printf 'same\n' >"$SRC/same.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00001 --lib "$LIB" --quiet --keep 1
printf 'changed\n' >>"$SRC/d/big.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00001 --lib "$LIB" --quiet --keep 1
# every .SIG becomes an MS-RDC signature (the 24-byte header ConfigMgr's
# start with, then some bytes), as on a distribution point
python3 - "$LIB/FileLib" <<'PY'
import glob, sys
RDC = bytes([0x18, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0,
             1, 0, 0, 0, 0, 0, 0, 0])
for p in glob.glob(sys.argv[1] + "/*/*.SIG"):
    open(p, "wb").write(RDC + b"\x00" * 40)
PY
cp -a "$LIB" "$SCRATCH/before"

# snapshot: refused without --allow-foreign, naming an MS-RDC .SIG
if expect_rc 4 "$CMHASH" snapshot "$SRC" ABC00002 --lib "$LIB" --quiet; then
    [ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] &&
        printf '%s\n' "$ERR" | grep -q 'FileLib/[0-9A-F]\{4\}/[0-9A-F]\{64\}\.SIG is an MS-RDC signature' &&
        printf '%s\n' "$ERR" | grep -q -- '--allow-foreign' &&
        ok "snapshot refuses: one line naming the MS-RDC .SIG" ||
        fail "snapshot error: $ERR"
fi
diff -r "$LIB" "$SCRATCH/before" >/dev/null && ok "refused snapshot changed nothing" ||
    fail "refused snapshot changed the library"
# gc --apply: refused the same way; the dry run is fine
expect_rc 0 "$CMHASH" gc --lib "$LIB" >/dev/null
if expect_rc 4 "$CMHASH" gc --lib "$LIB" --apply; then
    printf '%s\n' "$ERR" | grep -q 'MS-RDC signature.*gc --apply writes to it only with --allow-foreign' &&
        ok "gc --apply refuses" || fail "gc error: $ERR"
fi

# delta: one statement about the library's signatures, the changed file
# sent whole and counted
if expect_rc 0 "$CMHASH" delta ABC00001.1 ABC00001.2 "$SCRATCH/dl" --lib "$LIB" --json; then
    printf '%s\n' "$OUT" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["signatures"] == "ms-rdc", d
assert d["foreign_signatures"] == 1 and d["changed"] == 0, d
assert d["unchanged"] == 1 and d["delta_bytes"] == 0, d
' && ok "delta --json: signatures ms-rdc, 1 changed file sent whole" ||
        fail "delta json: $OUT"
fi
if expect_rc 0 "$CMHASH" delta ABC00001.1 ABC00001.2 "$SCRATCH/dl2" --lib "$LIB"; then
    printf '%s\n' "$OUT" | grep -q "^Signatures: MS-RDC (Configuration Manager's), which librsync cannot use: 1 changed files sent whole$" &&
        ok "delta text says so once" || fail "delta text: $OUT"
fi
mkdir -p "$SCRATCH/base" && expect_rc 0 "$CMHASH" extract ABC00001.1 "$SCRATCH/base/t" --lib "$LIB" &&
    expect_rc 0 "$CMHASH" patch "$SCRATCH/base/t" "$SCRATCH/dl" "$SCRATCH/new" &&
    diff -r "$SCRATCH/new" "$SRC" >/dev/null && ok "the delta patches to the new tree" ||
    fail "patch result differs"

# verify: one SIG_FOREIGN finding with the count
if expect_rc 0 "$CMHASH" verify --lib "$LIB" --json; then
    n=$(printf '%s\n' "$OUT" | grep -c '"code":"SIG_FOREIGN"')
    [ "$n" = 1 ] && ok "verify: one SIG_FOREIGN summary" ||
        fail "verify: $n SIG_FOREIGN findings: $OUT"
fi
# a library of cmhash's own signatures: delta says librsync
expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00009 --lib "$SCRATCH/own" --quiet &&
    printf "more\n" >>"$SRC/d/big.txt" &&
    expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00009 --lib "$SCRATCH/own" --quiet --version 5 --keep 1 &&
    expect_rc 0 "$CMHASH" delta ABC00009.1 ABC00009.5 "$SCRATCH/dl4" --lib "$SCRATCH/own" --json &&
    printf '%s\n' "$OUT" | grep -q '"signatures":"librsync","foreign_signatures":0' &&
    ok "cmhash's own library: signatures librsync" || fail "own library: $OUT"
finish
