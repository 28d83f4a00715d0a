#!/bin/bash
# gc reads no file data (issue 10 item 7): its pass over the library is
# index-only (INIs, listings, .SIG headers), measured by rchar against the
# library's size, dry run and --apply alike; the dry run and --apply agree
# on what they remove.
. "$CMHASH_TESTLIB"
HERE=$(cd "$(dirname "$0")" && pwd)
L=$SCRATCH/lib
mkdir -p "$SCRATCH/src"
for i in 1 2 3 4; do
    head -c 8M /dev/urandom >"$SCRATCH/src/f$i.bin"
done
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/src" ABC00001 --lib "$L" --quiet --no-fsync
rm "$SCRATCH/src/f4.bin"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/src" ABC00001 --lib "$L" --quiet --no-fsync
# an orphan content and its own FileLib entry, and an orphan entry
head -c 4M /dev/urandom >"$SCRATCH/orphan.bin"
mkdir -p "$SCRATCH/o"
mv "$SCRATCH/orphan.bin" "$SCRATCH/o/"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/o" ABC00002 --lib "$L" --quiet --no-fsync
rm "$L/PkgLib/ABC00002.INI"
size=$(du -sb "$L" | cut -f1)
for mode in dry apply; do
    args=()
    [ $mode = apply ] && args=(--apply)
    expect_rc 0 python3 "$HERE/runstat.py" "$SCRATCH/stat" "$CMHASH" gc \
        --lib "$L" --json "${args[@]}"
    cp "$SCRATCH/.out" "$SCRATCH/$mode.json"
    rchar=$(sed 's/.*rchar=\([0-9]*\).*/\1/' "$SCRATCH/stat")
    if [ $((rchar * 100)) -lt "$size" ]; then
        ok "gc $mode read $rchar bytes of a $size-byte library (< 1 %)"
    else
        fail "gc $mode read $rchar bytes of a $size-byte library (>= 1 %)"
    fi
done
# the same items, found by the dry run and removed by --apply
d=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["items"], j["bytes"])' "$SCRATCH/dry.json")
a=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["removed"], j["removed_bytes"])' "$SCRATCH/apply.json")
[ "$d" = "$a" ] && ok "dry run and --apply agree: $d" ||
    fail "dry run found '$d', --apply removed '$a'"
[ ! -e "$L/DataLib/ABC00002.1" ] && ok "orphan content removed" ||
    fail "orphan content left"
expect_rc 0 "$CMHASH" verify --lib "$L" --quiet && ok "library clean after gc"
finish
