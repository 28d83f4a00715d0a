#!/usr/bin/env bash
# Hostile library (issue 6): a library planted with symbolic links out of
# FileLib and DataLib (to a canary tree), FIFOs named like a FileLib file, a
# mirror INI and a PkgLib INI, 10 MB single-line INIs, folders where files
# are expected, names with control characters and crafted `..` content
# IDs. Every reading command (verify, extract, diff, hash, ls, and gc when
# it exists) must give findings or a clean error: exit code < 128, no hang
# (each run under `timeout 20`), the canary untouched (content, and atimes
# set far in the past so any read would move them), the library unchanged
# (tree digest), and nothing it writes (extract DEST) is a link.
set -euo pipefail
. "$CMHASH_TESTLIB"

LIB=$SCRATCH/lib
CANARY=$SCRATCH/canary
OUTS=$SCRATCH/out
mkdir -p "$OUTS"

# --- library: eight small packages, every file unique -----------------
for p in 1 2 3 4 5 6 7 8; do
    s=$SCRATCH/src$p
    mkdir -p "$s/sub"
    printf 'package %s file a\n' "$p" >"$s/a.txt"
    printf 'package %s file b\n' "$p" >"$s/b.txt"
    printf 'package %s file c\n' "$p" >"$s/sub/c.txt"
    printf 'shared by all\n' >"$s/shared.txt"
    "$CMHASH" snapshot "$s" "HOS0000$p" --lib "$LIB" --no-fsync --quiet \
        >/dev/null
done
hash_of() { sha256sum "$1" | cut -d' ' -f1 | tr a-f A-F; }
fl() { local h; h=$(hash_of "$1"); echo "$LIB/FileLib/${h:0:4}/$h"; }

# --- canary: what a followed link would reach --------------------------
# It holds plausible targets: a copy of a real FileLib entry under its
# own name (so following a link would make a damaged entry look clean),
# mirror INIs, a content INI, a PkgLib INI.
mkdir -p "$CANARY/dir" "$CANARY/mirror/sub"
C1=$(fl "$SCRATCH/src1/sub/c.txt")
cp "$C1" "$CANARY/dir/$(basename "$C1")"
cp "$C1.INI" "$CANARY/dir/$(basename "$C1").INI"
cp "$C1.SIG" "$CANARY/dir/$(basename "$C1").SIG"
cp "$LIB/DataLib/HOS00003.1/sub/c.txt.INI" "$CANARY/mirror/sub/c.txt.INI"
cp "$LIB/DataLib/HOS00003.1/a.txt.INI" "$CANARY/mirror/a.txt.INI"
cp "$LIB/DataLib/HOS00008.1.INI" "$CANARY/content.INI"
printf 'secret\n' >"$CANARY/secret"
printf '[Packages]\r\nHOS00008.1=\r\n' >"$CANARY/pkg.INI"

# --- plant --------------------------------------------------------------
# symlinks in FileLib: an entry, a .SIG, a .INI, and a whole H4 folder
A1=$(fl "$SCRATCH/src1/a.txt")
B1=$(fl "$SCRATCH/src1/b.txt")
rm "$A1" && ln -s "$CANARY/secret" "$A1"
rm "$B1.SIG" && ln -s "$CANARY/secret" "$B1.SIG"
rm "$B1.INI" && ln -s "$CANARY/dir/$(basename "$C1").INI" "$B1.INI"
C1DIR=$(dirname "$C1")
rm -r "$C1DIR" && ln -s "$CANARY/dir" "$C1DIR"
# FIFOs: a FileLib entry, a FileLib .INI, a mirror INI, a PkgLib INI
A2=$(fl "$SCRATCH/src2/a.txt")
B2=$(fl "$SCRATCH/src2/b.txt")
rm "$A2" && mkfifo "$A2"
rm "$B2.INI" && mkfifo "$B2.INI"
rm "$LIB/DataLib/HOS00002.1/sub/c.txt.INI"
mkfifo "$LIB/DataLib/HOS00002.1/sub/c.txt.INI"
rm "$LIB/PkgLib/HOS00004.INI" && mkfifo "$LIB/PkgLib/HOS00004.INI"
# symlinks in a DataLib mirror: a folder and a file INI
rm -r "$LIB/DataLib/HOS00003.1/sub"
ln -s "$CANARY/mirror/sub" "$LIB/DataLib/HOS00003.1/sub"
rm "$LIB/DataLib/HOS00003.1/a.txt.INI"
ln -s "$CANARY/mirror/a.txt.INI" "$LIB/DataLib/HOS00003.1/a.txt.INI"
# folders where files are expected
A5=$(fl "$SCRATCH/src5/a.txt")
rm "$A5" && mkdir "$A5" && printf 'x\n' >"$A5/inner"
rm "$LIB/DataLib/HOS00005.1.INI" && mkdir "$LIB/DataLib/HOS00005.1.INI"
# 10 MB single-line INIs: a PkgLib INI, a FileLib reference list and a
# mirror file INI
A6=$(fl "$SCRATCH/src6/a.txt")
python3 -c "
import sys
for p in sys.argv[1:]:
    open(p, 'wb').write(b'[Packages]\r\nHOS00006.1=' + b'A' * (10 << 20))
" "$LIB/PkgLib/HOS00006.INI" "$A6.INI" \
    "$LIB/DataLib/HOS00002.1/b.txt.INI"
# crafted `..` content IDs
printf '[Packages]\r\n../../canary=\r\nHOS00007.1/../../../canary=\r\n..=\r\n.=\r\nHOS00007.1=\r\n' \
    >"$LIB/PkgLib/HOS00007.INI"
printf '[Packages]\r\n../canary/mirror=\r\n' >"$LIB/PkgLib/HOS0000A.INI"
# the whole content of package 8 is links out of DataLib
rm -r "$LIB/DataLib/HOS00008.1" "$LIB/DataLib/HOS00008.1.INI"
ln -s "$CANARY/mirror" "$LIB/DataLib/HOS00008.1"
ln -s "$CANARY/content.INI" "$LIB/DataLib/HOS00008.1.INI"
ln -s "$CANARY/pkg.INI" "$LIB/PkgLib/HOS00009.INI"
# names with control characters (copies of valid INIs, and strays)
cp "$LIB/DataLib/HOS00001.1/a.txt.INI" \
    "$LIB/DataLib/HOS00001.1/$(printf 'bad\nname\001\033[2J.txt.INI')"
printf 'x' >"$LIB/FileLib/$(printf 'AB\033[31m\r')"
printf '[Packages]\r\n' >"$LIB/PkgLib/$(printf 'HOS\t0000B.INI')"
mkdir "$LIB/DataLib/$(printf 'HOS0000C.1\n')"

# --- fingerprints --------------------------------------------------------
# Library: paths, types, sizes, mtimes, modes, link targets, regular files'
# bytes (FIFOs and links are never opened).
lib_digest() {
    (cd "$1" && find . -printf '%p %y %s %T@ %m %l\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z |
        xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}
CANARY_LIST=$SCRATCH/canary.list
find "$CANARY" -print0 >"$CANARY_LIST"
canary_bytes() {
    (cd "$CANARY" && find . -type f -print0 | LC_ALL=C sort -z |
        xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}
canary_atimes() { xargs -0 stat -c '%n %X' <"$CANARY_LIST"; }
CANARY_SUM=$(canary_bytes)
# atimes far in the past: with relatime, any read or listing moves them
xargs -0 touch -h -a -d '2000-01-01 00:00:00' <"$CANARY_LIST"
canary_atimes >"$SCRATCH/canary.atimes"
LIB_SUM=$(lib_digest "$LIB")

# --- run -----------------------------------------------------------------
# run_hostile NAME ALLOWED_RCS CMD...: under timeout 20; a hang (124), a
# signal (>= 128) or an exit code outside ALLOWED_RCS fails; afterwards the
# library and the canary must be unchanged.
run_hostile() {
    local name=$1 allowed=$2
    shift 2
    TESTS_RUN=$((TESTS_RUN + 1))
    local t0=$SECONDS
    set +e
    timeout -k 5 20 "$@" >"$SCRATCH/.out" 2>"$SCRATCH/.err" </dev/null
    RC=$?
    set -e
    OUT=$(cat "$SCRATCH/.out")
    if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
        fail "$name: hung (killed after 20 s)"
        return 0
    fi
    if [ "$RC" -ge 128 ]; then
        fail "$name: crashed (exit $RC)"
        tail -20 "$SCRATCH/.err" >&2
        return 0
    fi
    case " $allowed " in
    *" $RC "*) ;;
    *)
        fail "$name: exit $RC, expected one of: $allowed"
        tail -5 "$SCRATCH/.err" >&2
        return 0
        ;;
    esac
    if [ "$(lib_digest "$LIB")" != "$LIB_SUM" ]; then
        fail "$name: the library changed"
        LIB_SUM=$(lib_digest "$LIB")
    fi
    if ! canary_atimes | cmp -s - "$SCRATCH/canary.atimes"; then
        fail "$name: read the canary tree (atime moved):"
        canary_atimes | diff "$SCRATCH/canary.atimes" - >&2 || true
        xargs -0 touch -h -a -d '2000-01-01 00:00:00' <"$CANARY_LIST"
        canary_atimes >"$SCRATCH/canary.atimes"
    fi
    ok "$name (exit $RC, $((SECONDS - t0)) s)"
}
# a finding (or error line) must name the planted thing
expect_in_out() {
    TESTS_RUN=$((TESTS_RUN + 1))
    if grep -q -- "$2" "$SCRATCH/.out"; then ok "$1"; else
        fail "$1: no '$2' in the output"
    fi
}
h() { basename "$1"; }

# verify: the whole library, as JSON Lines, then each ID alone
run_hostile "verify (whole library)" "1" "$CMHASH" verify --lib "$LIB" \
    --json --quiet
for x in "$A1" "$A2" "$A5" "$C1"; do
    expect_in_out "verify reports $(h "$x") as an error" \
        "\"severity\":\"error\".*$(h "$x")\|$(h "$x").*\"severity\":\"error\""
done
expect_in_out "verify reports the linked .SIG" "$(h "$B1").SIG"
expect_in_out "verify reports the FIFO reference list" "$(h "$B2").INI"
expect_in_out "verify reports the FIFO mirror INI" "HOS00002.1"
expect_in_out "verify reports the linked mirror" "HOS00003.1"
expect_in_out "verify reports the FIFO PkgLib INI" "HOS00004"
expect_in_out "verify reports the folder content INI" "HOS00005.1"
expect_in_out "verify reports the 10 MB PkgLib INI" "HOS00006"
expect_in_out "verify reports the 10 MB reference list" "$(h "$A6").INI"
expect_in_out "verify reports the crafted content IDs" "HOS00007"
expect_in_out "verify reports the linked content" "HOS00008.1"
expect_in_out "verify reports the linked PkgLib INI" "HOS00009"
run_hostile "verify (text, --deep)" "1" "$CMHASH" verify --lib "$LIB" --deep
run_hostile "verify --fail-on error" "1" "$CMHASH" verify --lib "$LIB" \
    --fail-on error --quiet
ids="HOS00001 HOS00002 HOS00003 HOS00004 HOS00005 HOS00006 HOS00007
     HOS00008 HOS00009 HOS0000A HOS00001.1 HOS00002.1 HOS00003.1 HOS00005.1
     HOS00008.1"
for id in $ids; do
    # a content whose INI is a link is not in the library (exit 4, as
    # every unknown ID, "check the ID"): the link is not followed
    allowed="1 4"
    [ "$id" != HOS00008.1 ] || allowed=4
    run_hostile "verify $id" "$allowed" "$CMHASH" verify --lib "$LIB" \
        --quiet "$id"
done
for id in ../../canary HOS00007.1/../../../canary ..; do
    run_hostile "verify '$id' is refused" "2" "$CMHASH" verify --lib "$LIB" \
        --quiet "$id"
done

# extract: every package and content into a fresh DEST
n=0
for id in $ids ../../canary ..; do
    n=$((n + 1))
    run_hostile "extract $id" "0 2 4" "$CMHASH" extract "$id" \
        "$OUTS/x$n" --lib "$LIB" --quiet
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ -d "$OUTS/x$n" ] &&
        [ -n "$(find "$OUTS/x$n" ! -type f ! -type d)" ]; then
        fail "extract $id wrote something that is not a file or folder"
    elif [ -d "$OUTS/x$n" ] && grep -rqs secret "$OUTS/x$n"; then
        fail "extract $id copied canary bytes"
    else
        ok "extract $id wrote only files and folders"
    fi
done
# the damaged packages are refused, not rebuilt from the canary
for id in HOS00001 HOS00002 HOS00003 HOS00005 HOS00008; do
    run_hostile "extract $id fails cleanly" "4" "$CMHASH" extract "$id" \
        "$OUTS/fail-$id" --lib "$LIB" --quiet
done

# diff: content against content, content against a folder
run_hostile "diff HOS00001 HOS00002" "1 4" "$CMHASH" diff HOS00001 \
    HOS00002 --lib "$LIB"
for id in HOS00003 HOS00004 HOS00005 HOS00006 HOS00007 HOS00008 HOS00009; do
    run_hostile "diff $id folder" "1 3 4" "$CMHASH" diff "$id" \
        "$SCRATCH/src1" --lib "$LIB"
    run_hostile "diff HOS00001.1 $id" "1 3 4" "$CMHASH" diff HOS00001.1 \
        "$id" --lib "$LIB"
done

# hash: the library's folders and planted files as source paths
run_hostile "hash DataLib (links, FIFO)" "0 3 5" "$CMHASH" hash \
    "$LIB/DataLib"
run_hostile "hash FileLib" "0 3 5" "$CMHASH" hash "$LIB/FileLib"
run_hostile "hash a FIFO" "3 5" "$CMHASH" hash "$A2"
run_hostile "hash a FileLib FIFO INI" "3 5" "$CMHASH" hash "$B2.INI"
run_hostile "hash a mirror folder link" "0 3 5" "$CMHASH" hash \
    "$LIB/DataLib/HOS00003.1"
run_hostile "hash --sig of a FIFO" "2 3 5" "$CMHASH" hash --sig "$A2" \
    "$OUTS/fifo.sig"

# ls and gc, if built
if "$CMHASH" help ls >/dev/null 2>&1; then
    run_hostile "ls" "0 4" "$CMHASH" ls --lib "$LIB"
    run_hostile "ls --long --json" "0 4" "$CMHASH" ls --lib "$LIB" --long \
        --json
    for id in HOS00001 HOS00002 HOS00004 HOS00006 HOS00007 HOS00008; do
        run_hostile "ls $id" "0 4" "$CMHASH" ls --lib "$LIB" --long "$id"
    done
fi
if "$CMHASH" help gc >/dev/null 2>&1; then
    run_hostile "gc (dry run)" "0 1 4" "$CMHASH" gc --lib "$LIB"
    # --apply may delete cmhash's own orphans and temps only: every
    # planted thing stays, the canary is untouched
    TESTS_RUN=$((TESTS_RUN + 1))
    set +e
    timeout -k 5 20 "$CMHASH" gc --lib "$LIB" --apply >/dev/null 2>&1
    RC=$?
    set -e
    if [ "$RC" -ge 124 ]; then fail "gc --apply: exit $RC"; else
        ok "gc --apply (exit $RC)"; fi
    TESTS_RUN=$((TESTS_RUN + 1))
    if canary_atimes | cmp -s - "$SCRATCH/canary.atimes"; then
        ok "gc --apply did not read the canary"
    else fail "gc --apply read the canary tree (atime moved)"; fi
    # Contents of packages whose PkgLib INI exists but cannot be read (a
    # FIFO, 10 MB) are not orphans to delete: gc cannot know what the
    # package lists.
    for x in "$A1" "$A2" "$A5" "$C1DIR" "$LIB/DataLib/HOS00008.1" \
        "$LIB/PkgLib/HOS00004.INI" "$LIB/PkgLib/HOS00007.INI" \
        "$LIB/DataLib/HOS00004.1" "$LIB/DataLib/HOS00006.1"; do
        TESTS_RUN=$((TESTS_RUN + 1))
        if [ -e "$x" ] || [ -L "$x" ]; then ok "gc kept $x"; else
            fail "gc --apply removed planted $x"; fi
    done
fi

TESTS_RUN=$((TESTS_RUN + 1))
if [ "$(canary_bytes)" = "$CANARY_SUM" ]; then ok "canary bytes intact"
else fail "the canary tree changed"; fi
finish
