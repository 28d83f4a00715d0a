#!/bin/bash
# Crafted libraries must make extract fail cleanly (exit 2 or 4, one line
# naming the path) and write nothing outside DEST (nor into it, when the
# mirror itself is bad: it is checked before anything is written).
. "$CMHASH_TESTLIB"
set -e
SRC=$SCRATCH/src
LIB0=$SCRATCH/lib0
OUTSIDE=$SCRATCH/outside
mkdir -p "$SRC/Drivers" "$OUTSIDE/Drivers"
printf 'payload' >"$SRC/Drivers/net.inf"
printf 'readme' >"$SRC/README.txt"
printf 'victim' >"$OUTSIDE/victim.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB0" --no-fsync --quiet
M=MSC00001.1
fp_outside() { (cd "$OUTSIDE" && find . -printf '%p %y %s %T@\n' | LC_ALL=C sort && cat victim.txt); }
before=$(fp_outside)

fresh() { rm -rf "$SCRATCH/lib" "$SCRATCH/dest"; cp -a "$LIB0" "$SCRATCH/lib"; L=$SCRATCH/lib; }
# check RC NAME: extract into a fresh DEST fails with RC; nothing escaped
check() {
    local rc=$1 what=$2
    shift 2
    if expect_rc "$rc" "$CMHASH" extract "${ID:-$M}" "$SCRATCH/dest" --lib "$L" "$@"; then
        [ "$(echo "$ERR" | wc -l)" = 1 ] || fail "$what: not one line: $ERR"
        [ "$(fp_outside)" = "$before" ] || fail "$what: wrote outside DEST"
        [ -z "$(find "$SCRATCH/dest" -mindepth 1 -not -name '.cmhash-tmp-*' 2>/dev/null | grep -v '^$' | head -1)" ] ||
            [ "${KEEPDEST:-}" ] || fail "$what: wrote into DEST: $(find "$SCRATCH/dest")"
        [ -z "$(find "$SCRATCH" -name '.cmhash-tmp-*' -not -path "$L/*")" ] || fail "$what: temp left"
        ok "$what: exit $rc: $ERR"
    fi
}

# 1. a mirror file INI that is a symlink to an INI outside
fresh
cp "$L/DataLib/$M/README.txt.INI" "$OUTSIDE/evil.INI"; before=$(fp_outside)
ln -s "$OUTSIDE/evil.INI" "$L/DataLib/$M/evil.txt.INI"
check 4 "symlinked file INI"
echo "$ERR" | grep -q "DataLib/$M/evil.txt.INI is a symbolic link" || fail "msg: $ERR"

# 2. a mirror folder that is a symlink to a folder outside
fresh
ln -s "$OUTSIDE/Drivers" "$L/DataLib/$M/Evil"
check 4 "symlinked mirror folder"

# 3. the whole mirror is a symlink
fresh
rm -rf "$L/DataLib/$M"; ln -s "$OUTSIDE" "$L/DataLib/$M"
check 4 "symlinked mirror root"

# 4. a mirror entry naming '..' (file '...INI') and '.' ('..INI')
fresh
cp "$L/DataLib/$M/README.txt.INI" "$L/DataLib/$M/Drivers/...INI"
check 4 "'..' file name"
echo "$ERR" | grep -q "Drivers/...INI" || fail "msg: $ERR"
fresh
cp "$L/DataLib/$M/README.txt.INI" "$L/DataLib/$M/..INI"
check 4 "'.' file name"

# 5. Windows-style traversal and absolute names in a mirror name
fresh
cp "$L/DataLib/$M/README.txt.INI" "$L/DataLib/$M/..\\..\\victim.txt.INI"
check 4 "backslash traversal name"
fresh
cp "$L/DataLib/$M/README.txt.INI" "$L/DataLib/$M/C:\\Windows\\evil.INI"
check 4 "absolute Windows name"

# 6. IDs that are paths
fresh
ID="../../outside" check 2 "relative path as ID"
ID="$OUTSIDE" check 2 "absolute path as ID"
ID="MSC00001.1/../../x" check 2 "ID with separators"

# 7. a crafted PkgLib INI pointing outside
fresh
printf '[Packages]\r\n../../outside=\r\n[Info]\r\nVersion=1\r\n' >"$L/PkgLib/MSC00001.INI"
ID=MSC00001 check 4 "PkgLib INI with a path"

# 8. a file INI with a bad Hash (cannot name a FileLib path outside)
fresh
sed -i 's/^Hash=.*/Hash=..\/..\/..\/outside\/victim.txt/' "$L/DataLib/$M/README.txt.INI"
check 4 "Hash= with a path"

# 9. DEST holding a symlink where the content has a folder (--force)
fresh
mkdir -p "$SCRATCH/dest"; ln -s "$OUTSIDE/Drivers" "$SCRATCH/dest/Drivers"
KEEPDEST=1 check 5 "symlink planted in DEST" --force
echo "$ERR" | grep -q "dest/Drivers exists and is not a folder" || fail "msg: $ERR"
[ -z "$(ls "$OUTSIDE/Drivers")" ] || fail "wrote through the DEST symlink"

# 10. DEST holding a symlink where the content has a file (--force): the
# link is replaced, its target untouched
fresh
mkdir -p "$SCRATCH/dest"; ln -s "$OUTSIDE/victim.txt" "$SCRATCH/dest/README.txt"
expect_rc 0 "$CMHASH" extract $M "$SCRATCH/dest" --lib "$L" --force
[ ! -L "$SCRATCH/dest/README.txt" ] && [ "$(cat "$SCRATCH/dest/README.txt")" = readme ] ||
    fail "file symlink in DEST not replaced"
[ "$(fp_outside)" = "$before" ] && ok "file symlink in DEST replaced, target untouched" ||
    fail "wrote through a file symlink"
finish
