#!/bin/bash
# gc: the dry run lists exactly a fixture's orphans (content, FileLib
# entry, old temporaries) with sizes; --apply removes them and a following
# verify is clean; PkgLib-reachable contents (kept versions, a crafted
# [cmhash] Keep=) and their files are never listed or removed.
. "$CMHASH_TESTLIB"
set -e
LIB=$SCRATCH/lib
mkdir -p "$SCRATCH/a" "$SCRATCH/b"
printf 'shared' >"$SCRATCH/a/shared.txt"
printf 'only a' >"$SCRATCH/a/a.txt"
printf 'shared' >"$SCRATCH/b/shared.txt"
printf 'only b!' >"$SCRATCH/b/b.txt"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/a" MSC00001 --lib "$LIB" --no-fsync --quiet
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/b" MSC00002 --lib "$LIB" --no-fsync --quiet
fl() { local h; h=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1 | tr a-f A-F); echo "FileLib/${h:0:4}/$h"; }

# orphans: MSC00002's package INI gone (content + its own file become
# garbage), a FileLib entry nobody uses, an old and a young temporary
rm "$LIB/PkgLib/MSC00002.INI"
O=$(fl 'orphan bytes'); mkdir -p "$LIB/${O%/*}"
printf 'orphan bytes' >"$LIB/$O"
printf '[File]\r\nMSC00009.1=\r\n' >"$LIB/$O.INI"
printf 'old temp' >"$LIB/FileLib/.cmhash-tmp-1-1"
touch -d '3 days ago' "$LIB/FileLib/.cmhash-tmp-1-1"
printf 'young' >"$LIB/FileLib/.cmhash-tmp-1-2"
cp -a "$LIB" "$SCRATCH/lib-copy"

expect_rc 0 "$CMHASH" gc --lib "$LIB"
list=$(echo "$OUT" | grep '^would remove' | sed 's/  */ /g' | LC_ALL=C sort)
# (and the FileLib entry only MSC00002.1 uses, which its removal frees)
B=$(fl 'only b!')
[ "$(echo "$list" | wc -l)" = 4 ] || fail "dry run lists 4 items: $OUT"
echo "$list" | grep -qx 'would remove orphan-content DataLib/MSC00002.1 (content, [0-9]* bytes)' || fail "content: $list"
echo "$list" | grep -qx "would remove content-file $B (filelib-entry, [0-9]* bytes, freed with MSC00002.1)" || fail "content's file: $list"
echo "$list" | grep -qx "would remove orphan-file $O (filelib-entry, 33 bytes)" || fail "file: $list"
echo "$list" | grep -qx 'would remove temporary FileLib/.cmhash-tmp-1-1 (temp, 8 bytes)' || fail "temp: $list"
echo "$OUT" | grep -q 'young' && fail "young temporary listed"
echo "$OUT" | grep -q '^4 items, [0-9]* bytes would be freed (dry run' || fail "summary: $OUT"
diff -r "$LIB" "$SCRATCH/lib-copy" >/dev/null || fail "dry run changed the library"
expect_rc 0 "$CMHASH" gc --lib "$LIB" --json --min-age 0
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
kinds = sorted(i["kind"] for i in d["list"])
assert kinds == ["content-file", "orphan-content", "orphan-file", "temporary", "temporary"], kinds
assert not d["apply"] and d["removed"] == 0 and d["bytes"] == sum(i["bytes"] for i in d["list"]), d
' || fail "json: $OUT"

expect_rc 0 "$CMHASH" gc --lib "$LIB" --apply
[ "$(echo "$OUT" | grep -c '^removed ')" = 4 ] || fail "apply: $OUT"
[ ! -e "$LIB/DataLib/MSC00002.1" ] && [ ! -e "$LIB/$O" ] && [ ! -e "$LIB/FileLib/.cmhash-tmp-1-1" ] ||
    fail "not removed"
[ ! -e "$LIB/$(fl 'only b!')" ] || fail "MSC00002's own file left"
[ -e "$LIB/$(fl shared)" ] && ! grep -q MSC00002 "$LIB/$(fl shared).INI" || fail "shared entry"
[ -e "$LIB/FileLib/.cmhash-tmp-1-2" ] || fail "young temporary removed"
rm "$LIB/FileLib/.cmhash-tmp-1-2"
expect_rc 0 "$CMHASH" verify --lib "$LIB" --quiet
expect_rc 0 "$CMHASH" extract MSC00001 "$SCRATCH/x" --lib "$LIB"
expect_rc 0 "$CMHASH" gc --lib "$LIB"
echo "$OUT" | grep -q '^0 items' || fail "second gc: $OUT"

# PkgLib-reachable contents are never removed: a kept version (--keep) and
# a crafted INI keeping a content by hand
L2=$SCRATCH/lib2
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/a" MSC00003 --lib "$L2" --no-fsync --quiet
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/b" MSC00003 --lib "$L2" --no-fsync --quiet --keep 1
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/a" MSC00004 --lib "$L2" --no-fsync --quiet
printf 'moved on' >"$SCRATCH/a/a.txt"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/a" MSC00004 --lib "$L2" --no-fsync --quiet --keep 1
printf '[Packages]\r\nMSC00004.2=\r\n[Info]\r\nVersion=2\r\n[CMHASH]\r\nkeep = MSC00004.1\r\n' >"$L2/PkgLib/MSC00004.INI"
expect_rc 0 "$CMHASH" gc --lib "$L2" --apply --min-age 0 --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["items"] == 0 and d["removed"] == 0 and d["protected"] >= 0, d
' || fail "reachable listed: $OUT"
[ -d "$L2/DataLib/MSC00003.1" ] && [ -d "$L2/DataLib/MSC00004.1" ] && [ -e "$L2/$(fl 'only a')" ] ||
    fail "a PkgLib-reachable content or file was removed"
expect_rc 0 "$CMHASH" extract MSC00004.1 "$SCRATCH/k" --lib "$L2"

expect_rc 2 "$CMHASH" gc --lib "$LIB" --min-age soon
expect_rc 2 "$CMHASH" gc extra --lib "$LIB"
expect_rc 4 "$CMHASH" gc --lib "$SCRATCH/nolib"
finish
