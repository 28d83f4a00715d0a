#!/bin/bash
# diff: folder vs folder, content vs folder, content vs content; added,
# removed, changed, metadata-only; content-hash verdict; exit 0 / 1.
. "$CMHASH_TESTLIB"
set -e
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
mkdir -p "$SRC/Drivers" "$SRC/Tools"
printf 'readme' >"$SRC/README.txt"
printf 'net driver' >"$SRC/Drivers/net.inf"
printf 'tool v1' >"$SRC/Tools/tool.exe"
printf 'gone' >"$SRC/Tools/old.txt"
touch -d '2022-01-01 00:00:00' "$SRC"/README.txt "$SRC"/Drivers/* "$SRC"/Tools/*
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet

# round trip: snapshot -> extract -> diff reports no change
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/x" --lib "$LIB"
expect_rc 0 "$CMHASH" diff MSC00001.1 "$SCRATCH/x" --lib "$LIB"
echo "$OUT" | grep -q '^No differences' || fail "no-change output: $OUT"
expect_rc 0 "$CMHASH" diff "$SRC" MSC00001 --lib "$LIB"
expect_rc 0 "$CMHASH" diff "$SRC" "$SCRATCH/x"

# changes
cp -a "$SRC" "$SCRATCH/v2"
V2=$SCRATCH/v2
printf 'tool v2, longer' >"$V2/Tools/tool.exe"              # changed
rm "$V2/Tools/old.txt"                                      # removed
mkdir -p "$V2/New/Sub"; printf '12345' >"$V2/New/Sub/a.txt" # added
touch -d '2023-05-05 00:00:00' "$V2/README.txt"             # metadata
chmod a-w "$V2/Drivers/net.inf"                             # attributes
expect_rc 1 "$CMHASH" diff MSC00001.1 "$V2" --lib "$LIB"
echo "$OUT" | grep -qx 'changed   Tools/tool.exe (7 -> 15 bytes)' || fail "changed: $OUT"
echo "$OUT" | grep -qx 'removed   Tools/old.txt (4 bytes)' || fail "removed: $OUT"
echo "$OUT" | grep -qx 'added     New/' || fail "added dir: $OUT"
echo "$OUT" | grep -qx 'added     New/Sub/a.txt (5 bytes)' || fail "added: $OUT"
echo "$OUT" | grep -qx 'metadata  README.txt (time; 6 bytes)' || fail "time: $OUT"
echo "$OUT" | grep -qx 'metadata  Drivers/net.inf (attributes 00000020 -> 00000021; 10 bytes)' || fail "attrs: $OUT"
echo "$OUT" | grep -q 'The content hash would change' || fail "verdict: $OUT"

# metadata-only: listed, but the content hash would not change, so not
# "changed" (exit 0: the definition snapshot --if-changed uses)
cp -a "$SRC" "$SCRATCH/v3"
touch -d '2024-01-01' "$SCRATCH/v3/README.txt"
expect_rc 0 "$CMHASH" diff "$SRC" "$SCRATCH/v3" --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert not d["same"] and not d["hash_changed"] and d["metadata"] == 1, d
assert d["entries"][0]["kind"] == "metadata" and d["entries"][0]["path"] == "README.txt", d
' || fail "metadata-only json: $OUT"

# content vs content, JSON counts
expect_rc 0 "$CMHASH" snapshot "$V2" MSC00001 --lib "$LIB" --no-fsync --quiet
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00002 --lib "$LIB" --no-fsync --quiet
expect_rc 1 "$CMHASH" diff MSC00002.1 MSC00001 --lib "$LIB" --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert (d["added"], d["removed"], d["changed"], d["metadata"], d["unchanged"]) == (1, 1, 1, 2, 0), d
assert d["added_dirs"] == 2 and d["hash_changed"] and d["b_is"] == "MSC00001.2", d
assert d["added_bytes"] == 5 and d["removed_bytes"] == 4 and d["changed_new_bytes"] == 15, d
' || fail "content json: $OUT"

# case-only rename: the content hash cannot see it; matched as the same file
cp -a "$SRC" "$SCRATCH/v4"; mv "$SCRATCH/v4/README.txt" "$SCRATCH/v4/readme.TXT"
expect_rc 0 "$CMHASH" diff "$SRC" "$SCRATCH/v4"

# bad input
expect_rc 3 "$CMHASH" diff "$SCRATCH/nope" "$SRC"
echo "$ERR" | grep -q "$SCRATCH/nope" || fail "msg: $ERR"
expect_rc 4 "$CMHASH" diff MSC00009.1 "$SRC" --lib "$LIB"
expect_rc 4 "$CMHASH" diff MSC00001.1 "$SRC" --lib "$SCRATCH/nolib"
expect_rc 2 "$CMHASH" diff "$SRC"
finish
