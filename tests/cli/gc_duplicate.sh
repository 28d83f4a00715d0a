#!/bin/bash
# gc and a FileLib entry on two roots of a spanned library (contentlib.md
# 10): the copy commands do not use (verify's STRAY duplicate) is a gc item
# (kind duplicate). The dry run lists it; --apply removes it only when each
# of its files has the same name and size on the used root, the reference
# INIs are the same bytes and the used copy's data hashes to its name;
# otherwise the copy stays and the item says why (dry run and --apply
# alike: the dry run exits 0).
. "$CMHASH_TESTLIB"
set -e
LIB=$SCRATCH/lib
SPAN=$SCRATCH/drive
mkdir -p "$SCRATCH/src"
printf 'alpha file\n' >"$SCRATCH/src/a.txt"
head -c 5000 /dev/urandom >"$SCRATCH/src/b.bin"
head -c 7000 /dev/urandom >"$SCRATCH/src/c.bin"
head -c 9000 /dev/urandom >"$SCRATCH/src/d.bin"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/src" MSC00001 --lib "$LIB" \
    --no-fsync --quiet
hx() { sha256sum "$1" | cut -d' ' -f1 | tr a-f A-F; }
A=$(hx "$SCRATCH/src/a.txt") B=$(hx "$SCRATCH/src/b.bin")
C=$(hx "$SCRATCH/src/c.bin") D=$(hx "$SCRATCH/src/d.bin")
cpy() { # cpy HASH: the entry's three files also on the second root
    mkdir -p "$SPAN/FileLib/${1:0:4}"
    cp "$LIB/FileLib/${1:0:4}/$1" "$LIB/FileLib/${1:0:4}/$1.INI" \
        "$LIB/FileLib/${1:0:4}/$1.SIG" "$SPAN/FileLib/${1:0:4}/"
}
cpy "$A"   # identical: may go
cpy "$B"   # the copy's data shorter: stays
head -c 100 "$SCRATCH/src/b.bin" >"$SPAN/FileLib/${B:0:4}/$B"
cpy "$C"   # the copy's reference INI differs: stays
printf 'MSC00009.1=\r\n' >>"$SPAN/FileLib/${C:0:4}/$C.INI"
cpy "$D"   # the used copy (primary) damaged, same size: stays
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); \
b[10]^=1; open(p,'wb').write(b)" "$LIB/FileLib/${D:0:4}/$D"
export CMHASH_FILELIB=$SPAN
run_gc() { # run_gc NAME RC [--apply]
    expect_rc "$2" "$CMHASH" gc --lib "$LIB" --json ${3:-}
    printf '%s\n' "$OUT" >"$SCRATCH/$1.json"
}
check() { # check NAME APPLY
    TESTS_RUN=$((TESTS_RUN + 1))
    if python3 - "$SCRATCH/$1.json" "$2" "$SPAN" "$A" "$B" "$C" "$D" <<'PY'
import json, sys
j, apply, span, a, b, c, d = sys.argv[1:]
apply = apply == "1"
items = [i for i in json.load(open(j))["list"] if i["kind"] == "duplicate"]
got = {i["hash"]: i for i in items}
assert sorted(got) == sorted([a, b, c, d]), items
for h, i in got.items():
    assert i["path"] == "%s/FileLib/%s/%s" % (span, h[:4], h), i
    assert i["what"] == "filelib-entry", i
assert got[a]["bytes"] > 11 and "skipped" not in got[a], got[a]
assert got[a]["removed"] == apply, got[a]
assert "differ in size (one is damaged)" in got[b]["skipped"], got[b]
assert "reference INI differs" in got[c]["skipped"], got[c]
assert "used copy is damaged" in got[d]["skipped"], got[d]
for h in (b, c, d):
    assert got[h]["removed"] is False, got[h]
PY
    then
        ok "$1: the duplicates listed, with why three stay"
    else
        fail "$1: duplicate items"
    fi
}
run_gc dry 0
check dry 0
TESTS_RUN=$((TESTS_RUN + 1))
[ -f "$SPAN/FileLib/${A:0:4}/$A" ] && ok "dry run removed nothing" ||
    fail "dry run removed the copy"
run_gc apply 1 --apply
check apply 1
TESTS_RUN=$((TESTS_RUN + 1))
if [ ! -e "$SPAN/FileLib/${A:0:4}/$A" ] &&
    [ ! -e "$SPAN/FileLib/${A:0:4}/$A.INI" ] &&
    [ ! -e "$SPAN/FileLib/${A:0:4}/$A.SIG" ] &&
    cmp -s "$SCRATCH/src/a.txt" "$LIB/FileLib/${A:0:4}/$A" &&
    [ -f "$LIB/FileLib/${A:0:4}/$A.INI" ] &&
    [ -f "$SPAN/FileLib/${B:0:4}/$B" ] && [ -f "$SPAN/FileLib/${C:0:4}/$C" ] &&
    [ -f "$SPAN/FileLib/${D:0:4}/$D" ]; then
    ok "--apply removed the identical copy only; the used copy intact"
else
    fail "--apply: wrong files removed"
fi
# the library without the duplicate of A: verify no longer reports it
expect_rc 1 "$CMHASH" verify --lib "$LIB" --quiet --json
TESTS_RUN=$((TESTS_RUN + 1))
n=$(grep -c "\"code\":\"STRAY\".*$A" <<<"$OUT" || true)
[ "$n" = 0 ] && ok "verify: no STRAY for the removed copy" ||
    fail "verify still reports $n STRAY for $A"
finish
