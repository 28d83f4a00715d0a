#!/bin/bash
# A mirror nested 20,000 folders deep (issue 11.14): every command reads the
# mirror through one walk with one depth limit (CMH_MIRROR_MAX_DEPTH,
# 16,000) and no descriptor per level. extract, diff and ls fail with a
# library error naming the path (not "dup: Too many open files"), verify
# reports it, and a snapshot retires the content (its references dropped,
# its mirror deleted) - as does gc for an orphan one.
. "$CMHASH_TESTLIB"
HERE=$(cd "$(dirname "$0")" && pwd)
DEEP=$HERE/../fixtures/configmgr/deep_mirror.py
LIB=$SCRATCH/lib
SRC=$SCRATCH/src
mkdir -p "$SRC"
echo one >"$SRC/a.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00001 --lib "$LIB" --quiet
expect_rc 0 python3 "$DEEP" "$LIB/DataLib/ABC00001.1" 20000

check_err() { # what
    case $ERR in
    *"Too many open files"*) fail "$1: descriptor exhaustion: $ERR" ;;
    *"DataLib/ABC00001.1 is nested deeper than 16000 folders, at d/d/d/"*)
        ok "$1: one-line error naming the path" ;;
    *) fail "$1: unexpected error: $ERR" ;;
    esac
    [ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] || fail "$1: more than one line"
}
expect_rc 4 "$CMHASH" extract ABC00001 "$SCRATCH/out" --lib "$LIB" &&
    check_err extract
[ ! -e "$SCRATCH/out" ] || fail "extract left a partial tree"
expect_rc 4 "$CMHASH" diff ABC00001.1 "$SRC" --lib "$LIB" && check_err diff
if expect_rc 4 "$CMHASH" ls --lib "$LIB"; then
    case $OUT$ERR in
    *"nested deeper than 16000 folders"*) ok "ls names the deep mirror" ;;
    *) fail "ls: $OUT $ERR" ;;
    esac
fi
if expect_rc 1 "$CMHASH" verify --lib "$LIB" --json; then
    printf '%s\n' "$OUT" | grep '"code":"FILE_UNREADABLE"' |
        grep -q 'DataLib/ABC00001.1/d/d/.*mirror deeper than 16000 folders' &&
        ok "verify reports the deep mirror with its path" ||
        fail "verify: $OUT"
fi

# a new version retires the deep one
echo two >"$SRC/b.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00001 --lib "$LIB" --quiet
case $ERR in *warning*) fail "snapshot warned: $ERR" ;; esac
[ ! -e "$LIB/DataLib/ABC00001.1" ] && ok "snapshot retired the deep mirror" ||
    fail "DataLib/ABC00001.1 is still there"
expect_rc 0 "$CMHASH" verify --lib "$LIB" --quiet && ok "library clean"

# an orphan deep content: gc removes it
mkdir -p "$LIB/DataLib/ABC00002.1"
cp "$LIB/DataLib/ABC00001.2.INI" "$LIB/DataLib/ABC00002.1.INI"
expect_rc 0 python3 "$DEEP" "$LIB/DataLib/ABC00002.1" 20000
expect_rc 0 "$CMHASH" gc --lib "$LIB" --apply
[ ! -e "$LIB/DataLib/ABC00002.1" ] && ok "gc removed the deep orphan" ||
    fail "gc left DataLib/ABC00002.1: $ERR"
expect_rc 0 "$CMHASH" verify --lib "$LIB" --quiet && ok "library clean"
finish
