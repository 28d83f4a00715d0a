# Issue 2, acceptance 4: version n+1 retires version n (spec 7 step 6):
# its DataLib entries go, its references are dropped, FileLib entries it
# shared survive, the ones only it used are deleted. Plus --version N and
# --if-changed.
. "$CMHASH_TESTLIB"
set -e
HERE=$(dirname "$CMHASH_TESTLIB")
LIB=$SCRATCH/lib
check() { # what, then libcheck args
    local what=$1
    shift
    TESTS_RUN=$((TESTS_RUN + 1))
    if python3 "$HERE/libcheck.py" "$LIB" --strict "$@" >"$SCRATCH/lc.out"; then
        ok "$what: libcheck --strict"
    else
        fail "$what: libcheck --strict"
        cat "$SCRATCH/lc.out" >&2
    fi
}
sha() { sha256sum "$1" | cut -c1-64 | tr a-f A-F; }
fl() { echo "$LIB/FileLib/${1:0:4}/$1"; }
# refs HASH : the reference list of HASH as "A.1 B.1"
refs() { tr -d '\r' <"$(fl "$1").INI" | sed -n 's/=$//p' | tr '\n' ' ' | sed 's/ $//'; }
is() { # what got want
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}

A=$SCRATCH/a
B=$SCRATCH/b
mkdir -p "$A/d" "$B"
printf 'shared with B\n' >"$A/shared.txt"
cp "$A/shared.txt" "$B/shared.txt"
printf 'only in A.1\n' >"$A/d/old.txt"
printf 'kept by A.2\n' >"$A/keep.txt"
printf 'only in B\n' >"$B/b.txt"
head -c 300000 /dev/urandom >"$A/big.bin"   # only in A.1, several blocks
SHARED=$(sha "$A/shared.txt")
OLD=$(sha "$A/d/old.txt")
KEEP=$(sha "$A/keep.txt")
BIG=$(sha "$A/big.bin")

expect_rc 0 "$CMHASH" snapshot "$B" MSC0000B --lib "$LIB"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB"
H1=$("$CMHASH" hash "$A" | cut -c1-64)
is "shared file lists both packages" "$(refs "$SHARED")" "MSC0000A.1 MSC0000B.1"
check "v1"

# ---- v2 retires v1 -----------------------------------------------------
rm "$A/d/old.txt" "$A/big.bin"
printf 'new in A.2\n' >"$A/d/new.txt"
NEW=$(sha "$A/d/new.txt")
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" && ok "v2 written"
echo "$OUT" | grep -q "MSC0000A.2: .* 2 retired" || fail "summary: $OUT"
H2=$("$CMHASH" hash "$A" | cut -c1-64)
is "PkgLib names version 2" "$(tr -d '\r' <"$LIB/PkgLib/MSC0000A.INI" | tr '\n' ' ')" \
    "[Packages] MSC0000A.2= [Info] Version=2 "
for e in DataLib/MSC0000A.1 DataLib/MSC0000A.1.INI; do
    TESTS_RUN=$((TESTS_RUN + 1))
    [ ! -e "$LIB/$e" ] && ok "$e retired" || fail "$e still there"
done
is "shared file: A.1 dropped, A.2 and B.1 listed" "$(refs "$SHARED")" "MSC0000A.2 MSC0000B.1"
is "file kept by v2: reference moved" "$(refs "$KEEP")" "MSC0000A.2"
is "new file referenced" "$(refs "$NEW")" "MSC0000A.2"
for h in $OLD $BIG; do
    TESTS_RUN=$((TESTS_RUN + 1))
    f=$(fl $h)
    [ ! -e "$f" ] && [ ! -e "$f.INI" ] && [ ! -e "$f.SIG" ] &&
        ok "unshared ${h:0:8} deleted with .INI and .SIG" ||
        fail "unshared $h not deleted: $(ls "$f"* 2>&1)"
done
TESTS_RUN=$((TESTS_RUN + 1))
[ -f "$(fl $SHARED)" ] && [ -f "$(fl $SHARED).SIG" ] && [ -f "$(fl $KEEP)" ] &&
    ok "shared files survive" || fail "a shared FileLib file was deleted"
check "v2" --expect "MSC0000A=2:$H2" --expect MSC0000B=1

# ---- --version N ------------------------------------------------------
before=$(tree_digest "$LIB")
for v in 1 2; do
    expect_rc 2 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --version $v &&
        ok "--version $v (current 2) refused with exit 2"
    echo "$ERR" | grep -q "version $v is not above the current version 2 of MSC0000A" ||
        fail "--version $v message: $ERR"
    [ "$(echo "$ERR" | wc -l)" = 1 ] || fail "more than one line: $ERR"
done
is "library untouched by a refused --version" "$(tree_digest "$LIB")" "$before"
expect_rc 2 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --version 0 &&
    ok "--version 0 refused"
expect_rc 2 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --version x7 &&
    ok "--version x7 refused"
is "library untouched by bad --version values" "$(tree_digest "$LIB")" "$before"
printf 'v5\n' >"$A/v5.txt"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --version 5 &&
    ok "--version 5 above current 2"
echo "$OUT" | grep -qx "The size of package MSC0000A, version 5 is 1 KBytes" ||
    fail "v5 size line: $OUT"
H5=$("$CMHASH" hash "$A" | cut -c1-64)
TESTS_RUN=$((TESTS_RUN + 1))
[ -f "$LIB/DataLib/MSC0000A.5.INI" ] && [ ! -e "$LIB/DataLib/MSC0000A.2" ] &&
    [ ! -e "$LIB/DataLib/MSC0000A.2.INI" ] && ok "A.5 written, A.2 retired" ||
    fail "A.5/A.2: $(ls "$LIB/DataLib")"
is "shared file after v5" "$(refs "$SHARED")" "MSC0000A.5 MSC0000B.1"
check "v5" --expect "MSC0000A=5:$H5"
printf 'v6\n' >"$A/v6.txt"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" &&
    echo "$OUT" | grep -q "package MSC0000A version 6" &&
    ok "next version after 5 is 6" || fail "after v5: $OUT"
H6=$("$CMHASH" hash "$A" | cut -c1-64)

# ---- --if-changed -----------------------------------------------------
before=$(content_digest "$LIB")
before_full=$(tree_digest "$LIB/PkgLib")
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --if-changed &&
    ok "--if-changed on an unchanged source exits 0"
echo "$OUT" | grep -q "MSC0000A is unchanged since version 6; no new version written" ||
    fail "--if-changed message: $OUT"
echo "$OUT" | grep -q "The hash for algorithm 32780 is $H6" || fail "hash line: $OUT"
is "--if-changed wrote nothing (no file created, changed or removed)" \
    "$(content_digest "$LIB")" "$before"
is "--if-changed left PkgLib untouched, timestamps included" \
    "$(tree_digest "$LIB/PkgLib")" "$before_full"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --if-changed --json
echo "$OUT" | grep -q '"unchanged":true' && echo "$OUT" | grep -q '"version":6' &&
    ok "--if-changed --json says unchanged, version 6" || fail "json: $OUT"
# attributes and times do not enter the content hash: still unchanged
touch -d '2001-01-01' "$A/keep.txt"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --if-changed &&
    echo "$OUT" | grep -q "unchanged since version 6" &&
    ok "--if-changed ignores a new mtime (not part of the content hash)" ||
    fail "mtime change: $OUT"
printf 'changed\n' >>"$A/keep.txt"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --if-changed &&
    echo "$OUT" | grep -q "Adding these contents to the package MSC0000A version 7." &&
    ok "--if-changed on a changed source writes version 7" || fail "changed: $OUT"
H7=$("$CMHASH" hash "$A" | cut -c1-64)
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$(fl $KEEP)" ] && ok "old keep.txt bytes retired with version 6" ||
    fail "old keep.txt still in FileLib"
check "v7" --rdiff --expect "MSC0000A=7:$H7" --expect MSC0000B=1
# an empty package: refused over a version with files (an unmounted share
# is an empty folder, issue 11 item 2), allowed with --allow-empty: hash of
# nothing; its retirement empties refs
E=$SCRATCH/empty
mkdir -p "$E"
before=$(tree_digest "$LIB")
expect_rc 3 "$CMHASH" snapshot "$E" MSC0000A --lib "$LIB" &&
    echo "$ERR" | grep -q "^cmhash: error: source $E is empty but MSC0000A.7 has files; check that the share is mounted, or pass --allow-empty" &&
    ok "empty source over a version with files: exit 3, one line" ||
    fail "empty source not refused: $ERR"
is "library untouched by a refused empty source" "$(tree_digest "$LIB")" "$before"
expect_rc 0 "$CMHASH" snapshot "$E" MSC0000A --lib "$LIB" --allow-empty &&
    echo "$OUT" | grep -q "is E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855" &&
    ok "empty source: version 8, hash of nothing" || fail "empty: $OUT"
is "shared file after the empty version" "$(refs "$SHARED")" "MSC0000B.1"
check "v8 empty" --expect "MSC0000A=8:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
finish
