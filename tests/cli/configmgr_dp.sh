#!/bin/bash
# A distribution point's library as Configuration Manager writes it (issue
# 10 acceptance), built by tests/fixtures/configmgr/make_cm_dp.py without
# cmhash's writer: numeric site code, an application with two
# Content_<guid> contents, an update package with a GUID content, one
# FileLib entry on a second root, MS-RDC .SIG headers, UTF-16LE reference
# INIs in arrival order.
. "$CMHASH_TESTLIB"
HERE=$(cd "$(dirname "$0")" && pwd)
MK=$HERE/../fixtures/configmgr/make_cm_dp.py
L=$SCRATCH/lib
R2=$SCRATCH/d2/SCCMContentLib
S=$SCRATCH/src
G1=Content_5f1c2a3e-8d4b-4e6a-9c7d-1e2f3a4b5c6d.1
G2=Content_a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d.1
GU=0f3c6a2e-7d1b-4c55-9a8e-2b6f4d9c1e07
expect_rc 0 python3 "$MK" "$L" "$R2" "$S"
ONLY2=$(sha256sum "$S/$G2/x64/only2.bin" | cut -c1-64 | tr a-f A-F)
[ -f "$R2/FileLib/${ONLY2:0:4}/$ONLY2" ] && [ ! -e "$L/FileLib/${ONLY2:0:4}/$ONLY2" ] ||
    fail "fixture: only2.bin is not on the second root only"

# ls: exit 0, every content listed (both of the application's)
if expect_rc 0 "$CMHASH" ls --lib "$L" --filelib "$R2"; then
    for c in 1230000A.3 "$G1" "$G2" "$GU"; do
        printf '%s\n' "$OUT" | grep -q " $c " || fail "ls does not list $c"
    done
    printf '%s\n' "$OUT" | grep -q damaged && fail "ls calls something damaged"
    # stored bytes count the second root (3000 bytes of only2.bin)
    printf '%s\n' "$OUT" | grep -q '14394 bytes (14.4 KB) stored' ||
        fail "ls stored bytes across roots: $(printf '%s\n' "$OUT" | tail -1)"
    ok "ls lists every content, stored bytes across both roots"
fi

# extract by package ID (several contents -> DEST/<ContentID>/) and by
# content ID, byte-identical to the sources, across both roots
expect_rc 0 "$CMHASH" extract 1230000B "$SCRATCH/x1" --lib "$L" --filelib "$R2" &&
    diff -r "$SCRATCH/x1/$G1" "$S/$G1" && diff -r "$SCRATCH/x1/$G2" "$S/$G2" &&
    [ "$(ls "$SCRATCH/x1" | wc -l)" = 2 ] &&
    ok "extract 1230000B: each content in DEST/<ContentID>/, identical" ||
    fail "extract 1230000B: not DEST/<ContentID>/ per content, or differs"
CMHASH_FILELIB=$R2 expect_rc 0 "$CMHASH" extract "$G2" "$SCRATCH/x2" --lib "$L" &&
    diff -r "$SCRATCH/x2" "$S/$G2" && ok "extract $G2 (\$CMHASH_FILELIB)" ||
    fail "extract $G2 differs"
for id in 1230000A "$GU" 1230000C; do
    expect_rc 0 "$CMHASH" extract "$id" "$SCRATCH/x-$id" --lib "$L" || continue
    src=$id
    [ "$id" = 1230000A ] && src=1230000A.3
    [ "$id" = 1230000C ] && src=$GU
    diff -r "$SCRATCH/x-$id" "$S/$src" && ok "extract $id identical" ||
        fail "extract $id differs"
done
# without the second root: one line naming the entry, no partial tree
if expect_rc 4 "$CMHASH" extract 1230000B "$SCRATCH/x3" --lib "$L"; then
    [ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] &&
        printf '%s\n' "$ERR" | grep -q "FileLib/${ONLY2:0:4}/$ONLY2" &&
        ok "missing FileLib entry: one line naming it" || fail "error: $ERR"
    [ ! -e "$SCRATCH/x3" ] && ok "no partial tree" || fail "partial tree left"
fi
# the contents were built in one temp folder beside DEST and renamed in:
# none is left, after the runs that succeeded or failed
left=$(ls -A "$SCRATCH" | grep -c '^\.cmhash-tmp' || true)
[ "$left" = 0 ] && ok "no extract temp folder left beside DEST" ||
    fail "$left temp folders left: $(ls -A "$SCRATCH")"

# verify --filelib: exit 0, one SIG_FOREIGN summary (7 signatures)
if expect_rc 0 "$CMHASH" verify --lib "$L" --filelib "$R2" --json; then
    n=$(printf '%s\n' "$OUT" | grep -c '"type":"finding"')
    f=$(printf '%s\n' "$OUT" | grep -c '"code":"SIG_FOREIGN".*"actual":"7"')
    [ "$n" = 1 ] && [ "$f" = 1 ] && ok "verify: exit 0, one SIG_FOREIGN (7)" ||
        fail "verify findings: $OUT"
fi

# status compares each content by its content hash: distributed
expect_rc 0 "$CMHASH" status 1230000B --lib "$L" --filelib "$R2" &&
    ok "status 1230000B: distributed"

# snapshot: refused without --allow-foreign, nothing written
before=$(content_digest "$L")
if expect_rc 4 "$CMHASH" snapshot "$S/$G2" 1230000D --lib "$L" --filelib "$R2"; then
    printf '%s\n' "$ERR" | grep -q 'allow-foreign' &&
        ok "snapshot refuses a ConfigMgr library: $ERR" || fail "refusal: $ERR"
fi
[ "$(content_digest "$L")" = "$before" ] || fail "refused snapshot wrote"
INI2=$R2/FileLib/${ONLY2:0:4}/$ONLY2.INI
SH=$(sha256sum "$S/1230000A.3/conf/shared.dll" | cut -c1-64 | tr a-f A-F)
INI1=$L/FileLib/${SH:0:4}/$SH.INI
cp "$INI1" "$SCRATCH/ini1.before"
cp "$INI2" "$SCRATCH/ini2.before"
mkdir -p "$SCRATCH/new/lib"
cp -r "$S/$G2/." "$SCRATCH/new/"
cp "$S/1230000A.3/conf/shared.dll" "$SCRATCH/new/lib/"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/new" 1230000D --lib "$L" \
    --filelib "$R2" --allow-foreign --quiet && ok "snapshot --allow-foreign"
[ ! -e "$L/FileLib/${ONLY2:0:4}/$ONLY2" ] &&
    ok "no duplicate of the second root's entry" ||
    fail "the second root's entry was stored again"
python3 - "$SCRATCH/ini1.before" "$INI1" "$SCRATCH/ini2.before" "$INI2" <<'PY' &&
import sys
for old, new in (sys.argv[1:3], sys.argv[3:5]):
    a, b = open(old, "rb").read(), open(new, "rb").read()
    add = "1230000D.1=\r\n".encode("utf-16-le")
    if b != a + add:
        sys.exit("%s: %r is not the old bytes plus %r" % (new, b, add))
PY
    ok "foreign reference INIs: UTF-16LE, order kept, one line appended" ||
    fail "foreign reference INIs rewritten"
expect_rc 0 "$CMHASH" verify --lib "$L" --filelib "$R2" --quiet &&
    ok "library verifies after the snapshot"

# GUID case never makes a live file look orphaned: a reference INI that
# spells the application's GUID in upper case still references it
cp -a "$L" "$SCRATCH/gu"
IC=$(sha256sum "$S/$G1/install.cmd" | cut -c1-64 | tr a-f A-F)
UP=Content_$(echo "${G1#Content_}" | tr a-f A-F)
python3 - "$SCRATCH/gu/FileLib/${IC:0:4}/$IC.INI" "$UP" <<'PY'
import sys
open(sys.argv[1], "wb").write(
    b"\xff\xfe" + ("[Content]\r\n%s=\r\n" % sys.argv[2]).encode("utf-16-le"))
PY
# (spec 2: IDs carry lower-case GUIDs, so the INI is reported, not its
# file called an orphan, and gc --apply refuses rather than delete it)
expect_rc 1 "$CMHASH" verify --lib "$SCRATCH/gu" --filelib "$R2" --json &&
    ! printf '%s\n' "$OUT" | grep -q '"code":"ORPHAN_FILE"' &&
    printf '%s\n' "$OUT" | grep -q '"code":"FILE_INI_BAD"' &&
    ok "upper-case GUID in a reference INI: reported, no ORPHAN_FILE" ||
    fail "upper-case GUID: $OUT"
expect_rc 4 "$CMHASH" gc --lib "$SCRATCH/gu" --filelib "$R2" --apply \
    --allow-foreign
[ -f "$SCRATCH/gu/FileLib/${IC:0:4}/$IC" ] &&
    ok "upper-case GUID: gc --apply refuses, the file stays" ||
    fail "gc removed a live file"

# status compares each content of the application by content hash: a
# second DP whose second deployment type has other bytes is not installed
cp -a "$L" "$SCRATCH/dp2"
python3 - "$SCRATCH/dp2/DataLib/$G2.INI" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p, "rb").read()
flip = lambda m: m.group(1) + (b"1" if m.group(2) == b"0" else b"0")
open(p, "wb").write(re.sub(rb"(Hash=[0-9A-F]{63})([0-9A-F])", flip, t, 1))
PY
if expect_rc 1 "$CMHASH" status 1230000B --lib "$L" --lib "$SCRATCH/dp2" \
    --filelib "$R2" --quick; then
    printf '%s\n' "$OUT" | grep -q "dp2 *not installed  holds $G2 with content hash" &&
        ok "status: the second DP's $G2 differs by content hash" ||
        fail "status: $OUT"
fi

# gc --apply refuses after one INI is damaged
printf 'garbage\x01\n' >"$L/DataLib/$GU.INI"
if expect_rc 4 "$CMHASH" gc --lib "$L" --filelib "$R2" --apply --allow-foreign; then
    printf '%s\n' "$ERR" | grep -q "DataLib/$GU.INI" &&
        ok "gc --apply refuses: $ERR" || fail "gc refusal: $ERR"
fi
finish
