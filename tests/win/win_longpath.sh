# Issue 15: paths over 260 characters (\\?\ in the seam): snapshot, verify
# and extract a tree whose deepest file path is ~420 characters, under Wine.
. "$CMHASH_TESTLIB"
set -e
S=$SCRATCH/src
d=$S
for i in 1 2 3 4 5 6 7; do d=$d/$(printf 'folder-%02d-%040d' $i 0); done
mkdir -p "$d"
printf 'deep file\n' >"$d/$(printf 'file-%050d.txt' 0)"
long=$(find "$S" -type f | head -1)
TESTS_RUN=$((TESTS_RUN + 1))
[ ${#long} -gt 400 ] && ok "source path is ${#long} characters" ||
    fail "path only ${#long} characters"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$SCRATCH/lib" &&
    ok "snapshot of a >260-character path"
expect_rc 0 "$CMHASH" verify --lib "$SCRATCH/lib" && ok "verify"
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/out" --lib "$SCRATCH/lib" &&
    ok "extract"
TESTS_RUN=$((TESTS_RUN + 1))
diff -r "$S" "$SCRATCH/out" && ok "round trip identical" || fail "round trip differs"
# the same through an explicit \\?\ path, Windows style
W='\\?\Z:'$(printf '%s' "$S" | tr / '\\')
expect_rc 0 "$CMHASH" snapshot "$W" MSC00002 --lib "$SCRATCH/lib" &&
    ok "snapshot given as \\\\?\\Z:\\... path"
TESTS_RUN=$((TESTS_RUN + 1))
a=$(grep -h '^Hash=' "$SCRATCH/lib/PkgLib/MSC00001.INI" "$SCRATCH/lib/DataLib/MSC00001.1.INI" 2>/dev/null | head -1)
b=$(grep -h '^Hash=' "$SCRATCH/lib/DataLib/MSC00002.1.INI" | head -1)
[ -n "$b" ] && [ "$(grep -h '^Hash=' "$SCRATCH/lib/DataLib/MSC00001.1.INI" | head -1)" = "$b" ] &&
    ok "same content hash ($b)" || fail "content hash differs: $a / $b"
finish
