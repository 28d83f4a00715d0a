#!/bin/bash
# ls: per-package counts, distinct FileLib bytes, kept versions, totals and
# dedup ratio; --long file lists; damaged packages; bad input.
. "$CMHASH_TESTLIB"
set -e
LIB=$SCRATCH/lib
mkdir -p "$SCRATCH/a/sub" "$SCRATCH/b/empty"
printf '0123456789' >"$SCRATCH/a/one.txt"                 # 10
printf '0123456789' >"$SCRATCH/a/sub/same.txt"            # 10, same bytes
printf 'abc' >"$SCRATCH/a/sub/abc.txt"                    # 3
touch -d '2020-02-03 04:05:06.5' "$SCRATCH/a/one.txt"
printf '0123456789' >"$SCRATCH/b/copy.txt"                # shared with a
printf 'bbbbb' >"$SCRATCH/b/b.txt"                        # 5
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/a" MSC00001 --lib "$LIB" --no-fsync --quiet
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/b" MSC0000A --lib "$LIB" --no-fsync --quiet
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/b" MSC0000A --lib "$LIB" --no-fsync --quiet --keep 1
HA=$("$CMHASH" hash "$SCRATCH/a" | cut -d' ' -f1)

expect_rc 0 "$CMHASH" ls --lib "$LIB"
echo "$OUT" | grep -Eq "^MSC00001 +1  MSC00001.1 +3 +1 +23 +13  $HA\$" || fail "row a: $OUT"
echo "$OUT" | grep -Eq "^MSC0000A +2  MSC0000A.2 +2 +1 +15 +15  " || fail "row b: $OUT"
echo "$OUT" | grep -Eq "kept: MSC0000A.1\$" || fail "kept: $OUT"
# totals count kept versions too (issue 12 item 5): logical 23 + 15 + 15
# (MSC0000A.1 kept) = 53 in 7 files; stored: 10 + 3 + 5 = 18; ratio 2.94
echo "$OUT" | grep -q '^Total: 2 packages, 7 files, 53 bytes (53 B) logical; 3 distinct files, 18 bytes (18 B) stored; dedup ratio 2.94$' ||
    fail "total: $OUT"

expect_rc 0 "$CMHASH" ls MSC00001 --lib "$LIB" --long --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
p, = d["packages"]
assert (p["package_id"], p["files"], p["folders"], p["bytes"], p["stored_bytes"], p["distinct_files"]) == ("MSC00001", 3, 1, 23, 13, 2), p
paths = [f["path"] for f in p["file_list"]]
assert paths == ["one.txt", "sub/abc.txt", "sub/same.txt"], paths
f = p["file_list"][0]
assert f["size"] == 10 and f["modified"] == "2020-02-03T04:05:06.5000000Z" and f["attributes"] == "00000020", f
assert d["total"]["dedup_ratio"] == round(23 / 13, 3), d["total"]
' || fail "json: $OUT"
expect_rc 0 "$CMHASH" ls MSC00001 --lib "$LIB" --long
echo "$OUT" | grep -q '^ *10  00000020  2020-02-03T04:05:06.5000000Z  84D89877F0D4041EFB6BF91A16F0248F2FD573E6AF05C19F96BEDB9F882F7882  one.txt$' ||
    fail "long: $OUT"

# bad input
expect_rc 2 "$CMHASH" ls MSC0001 --lib "$LIB"
echo "$ERR" | grep -q "'MSC0001' is not a package ID" || fail "msg: $ERR"
expect_rc 4 "$CMHASH" ls MSC00099 --lib "$LIB"
expect_rc 4 "$CMHASH" ls --lib "$SCRATCH/nolib"
# a damaged package is listed with its reason, the others still listed
printf 'junk' >"$LIB/DataLib/MSC00001.1/one.txt.INI"
expect_rc 4 "$CMHASH" ls --lib "$LIB"
echo "$OUT" | grep -q '^MSC00001  damaged: .*one.txt.INI is damaged' || fail "damaged: $OUT"
echo "$OUT" | grep -q '^MSC0000A ' || fail "others: $OUT"
finish
