#!/bin/bash
# snapshot -> extract: same content hash, bytes, file mtimes (to FILETIME
# resolution, 100 ns) and read-only bits; empty folders come back.
. "$CMHASH_TESTLIB"
set -e
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
mkdir -p "$SRC/Drivers/x64" "$SRC/empty/deeper" "$SRC/Tools"
printf 'hello\r\n' >"$SRC/README.txt"
printf 'hello\r\n' >"$SRC/Tools/copy.txt"          # same bytes twice
: >"$SRC/zero.bin"
head -c 300000 /dev/urandom >"$SRC/Drivers/x64/net.sys"
printf 'ro' >"$SRC/Drivers/readonly.inf"
printf 'hidden' >"$SRC/.hidden"
printf 'ini' >"$SRC/setup.ini"                     # mirror: setup.ini.INI
printf 'utf8' >"$SRC/Tools/caf$(printf '\xc3\xa9').txt"
i=0
find "$SRC" -type f | LC_ALL=C sort | while read -r f; do
    i=$((i + 1))
    touch -d "2021-03-0$((i % 9 + 1)) 10:20:30.1234567$((i % 10))00" "$f"
done
chmod 0444 "$SRC/Drivers/readonly.inf"

files_fp() { # path, size, mtime (ns, truncated to 100 ns), mode
    (cd "$1" && find . -type f -printf '%P %s %T@ %m\n' |
        awk '{ split($3, t, "."); printf "%s %s %s.%s %s\n", $1, $2, t[1],
                   substr(t[2] "000000000", 1, 7), $4 }' | LC_ALL=C sort)
}
dirs_fp() { (cd "$1" && find . -type d | LC_ALL=C sort); }

expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/out" --lib "$LIB"
echo "$OUT" | grep -q 'Extracted content MSC00001.1' || fail "extract message: $OUT"
want=$("$CMHASH" hash "$SRC" | cut -d' ' -f1)
got=$("$CMHASH" hash "$SCRATCH/out" | cut -d' ' -f1)
[ "$want" = "$got" ] && ok "content hash equal" || fail "hash $want != $got"
diff -r "$SRC" "$SCRATCH/out" >/dev/null && ok "bytes equal" || fail "bytes differ"
[ "$(files_fp "$SRC")" = "$(files_fp "$SCRATCH/out")" ] &&
    ok "sizes, mtimes, modes equal" ||
    { fail "metadata differs"; diff <(files_fp "$SRC") <(files_fp "$SCRATCH/out") >&2 || true; }
[ "$(dirs_fp "$SRC")" = "$(dirs_fp "$SCRATCH/out")" ] &&
    ok "folders incl. empty ones" || fail "folders differ"
[ -z "$(find "$SCRATCH/out" -name '.cmhash-tmp-*')" ] || fail "temp left"

# by package ID (current version), JSON
expect_rc 0 "$CMHASH" extract msc00001 "$SCRATCH/out2" --lib "$LIB" --json
echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["content_id"]=="MSC00001.1" and d["files"]==8 and d["folders"]==5 and d["verified"], d' ||
    fail "json: $OUT"

# non-empty DEST refused, --force overwrites
expect_rc 2 "$CMHASH" extract MSC00001.1 "$SCRATCH/out" --lib "$LIB"
echo "$ERR" | grep -q "$SCRATCH/out is not empty" || fail "msg: $ERR"
printf 'changed' >"$SCRATCH/out/README.txt"
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/out" --lib "$LIB" --force
diff -r "$SRC" "$SCRATCH/out" >/dev/null && ok "--force rewrote" || fail "--force"

# bad input: distinct exit codes, one line naming the path
expect_rc 2 "$CMHASH" extract 'MSC00001.x' "$SCRATCH/o3" --lib "$LIB"
expect_rc 4 "$CMHASH" extract MSC00001.7 "$SCRATCH/o3" --lib "$LIB"
echo "$ERR" | grep -q 'MSC00001.7' || fail "msg: $ERR"
expect_rc 4 "$CMHASH" extract MSC00001.1 "$SCRATCH/o3" --lib "$SCRATCH/nolib"
expect_rc 2 "$CMHASH" extract MSC00001.1 --lib "$LIB"
[ "$(echo "$ERR" | wc -l)" = 1 ] || fail "one line: $ERR"

# a corrupt FileLib file is caught while copying
H=$(sha256sum "$SRC/Drivers/x64/net.sys" | cut -d' ' -f1 | tr a-f A-F)
chmod u+w "$LIB/FileLib/${H:0:4}/$H"
flip_byte "$LIB/FileLib/${H:0:4}/$H" 1000
expect_rc 4 "$CMHASH" extract MSC00001.1 "$SCRATCH/o4" --lib "$LIB"
echo "$ERR" | grep -q "FileLib/${H:0:4}/$H is corrupt" || fail "msg: $ERR"
[ ! -e "$SCRATCH/o4/Drivers/x64/net.sys" ] || fail "corrupt file written"
finish
