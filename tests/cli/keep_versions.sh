#!/bin/bash
# snapshot --keep N: the N previous versions survive, recorded in the PkgLib
# INI as "[cmhash]" "Keep=<newest>,...", and retirement skips them.
. "$CMHASH_TESTLIB"
set -e
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
mkdir -p "$SRC"
snap() { # VERSION-TEXT [opts]
    printf '%s' "$1" >"$SRC/v.txt"; shift
    expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet "$@"
}
fl() { # FileLib entry of some bytes
    local h; h=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1 | tr a-f A-F)
    echo "$LIB/FileLib/${h:0:4}/$h"
}
printf 'common' >"$SRC/common.txt"
snap one
snap two --keep 1
[ "$(cat "$LIB/PkgLib/MSC00001.INI")" = "$(printf '[Packages]\r\nMSC00001.2=\r\n[Info]\r\nVersion=2\r\n[cmhash]\r\nKeep=MSC00001.1\r')" ] ||
    fail "PkgLib INI: $(cat -A "$LIB/PkgLib/MSC00001.INI")"
[ -d "$LIB/DataLib/MSC00001.1" ] && [ -f "$LIB/DataLib/MSC00001.1.INI" ] || fail "v1 retired"
[ -f "$(fl one)" ] && grep -q 'MSC00001.1=' "$(fl one).INI" || fail "v1 bytes retired"
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/x1" --lib "$LIB"
[ "$(cat "$SCRATCH/x1/v.txt")" = one ] || fail "kept v1 extract"

snap three --keep 2
grep -q '^Keep=MSC00001.2,MSC00001.1' "$LIB/PkgLib/MSC00001.INI" || fail "keep 2: $(cat "$LIB/PkgLib/MSC00001.INI")"
snap four --keep 1
grep -q '^Keep=MSC00001.3.$' "$LIB/PkgLib/MSC00001.INI" || fail "keep 1: $(cat "$LIB/PkgLib/MSC00001.INI")"
[ ! -e "$LIB/DataLib/MSC00001.1" ] && [ ! -e "$LIB/DataLib/MSC00001.2.INI" ] || fail "v1/v2 not retired"
[ ! -e "$(fl one)" ] && [ ! -e "$(fl two)" ] && [ -f "$(fl three)" ] || fail "FileLib retirement"
grep -q 'MSC00001.3=' "$(fl common).INI" && grep -q 'MSC00001.4=' "$(fl common).INI" &&
    ! grep -q 'MSC00001.2=' "$(fl common).INI" || fail "shared refs: $(cat "$(fl common).INI")"

# kept versions are referenced: verify checks them and finds no orphan
expect_rc 0 "$CMHASH" verify --lib "$LIB" --json --quiet
n=$(printf '%s\n' "$OUT" | grep -c '"type":"content"' || true)
[ "$n" = 2 ] || fail "verify: $n contents checked, want 2 (current + kept)"
! printf '%s' "$OUT" | grep -q ORPHAN_CONTENT || fail "kept version reported as orphan"
cp "$LIB/PkgLib/MSC00001.INI" "$SCRATCH/pkg.bak"
sed -i 's/^Keep=MSC00001.3/Keep=..\/x.3/' "$LIB/PkgLib/MSC00001.INI"
expect_rc 1 "$CMHASH" verify --lib "$LIB" --quiet
cp "$SCRATCH/pkg.bak" "$LIB/PkgLib/MSC00001.INI"

# a kept version is never retired by a snapshot that keeps it again
snap five --keep 5
grep -q '^Keep=MSC00001.4,MSC00001.3.$' "$LIB/PkgLib/MSC00001.INI" || fail "keep 5"
# default (0): all previous versions go
snap six
[ "$(ls "$LIB/DataLib")" = "$(printf 'MSC00001.6\nMSC00001.6.INI')" ] || fail "keep 0: $(ls "$LIB/DataLib")"
! grep -q cmhash "$LIB/PkgLib/MSC00001.INI" || fail "no [cmhash] without --keep"
[ "$(find "$LIB/FileLib" -type f | wc -l)" = 6 ] || fail "FileLib: $(find "$LIB/FileLib" -type f)"
expect_rc 2 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --keep x
echo "$ERR" | grep -q -- "--keep must be a number" || fail "msg: $ERR"
finish
