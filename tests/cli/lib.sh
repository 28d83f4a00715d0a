# Shared helpers for the end-to-end tests. Source it first:
#   . "$CMHASH_TESTLIB"
# Provides: $CMHASH (the tool), $SCRATCH (fresh empty folder), fail, ok,
# expect_rc RC CMD..., tree_digest DIR (content, names, sizes, mtimes).
set -u
: "${CMHASH:?run under ctest (CMHASH unset)}"
SCRATCH=${CMHASH_SCRATCH:-$(mktemp -d)}
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
export TMPDIR=$SCRATCH
# deterministic Created= in content INIs
export SOURCE_DATE_EPOCH=1700000000
unset CMHASH_LIB CMHASH_UNC_ROOT
TESTS_RUN=0
TESTS_FAILED=0

fail() {
    echo "FAIL: $*" >&2
    TESTS_FAILED=$((TESTS_FAILED + 1))
}

ok() {
    echo "ok: $*"
}

# expect_rc RC CMD... : run CMD, capture stdout/stderr in $OUT/$ERR
expect_rc() {
    local want=$1
    shift
    TESTS_RUN=$((TESTS_RUN + 1))
    set +e
    "$@" >"$SCRATCH/.out" 2>"$SCRATCH/.err"
    RC=$?
    set -e
    OUT=$(cat "$SCRATCH/.out")
    ERR=$(cat "$SCRATCH/.err")
    if [ "$RC" != "$want" ]; then
        fail "expected exit $want, got $RC: $*"
        echo "  stdout: $OUT" >&2
        echo "  stderr: $ERR" >&2
        return 1
    fi
    return 0
}

# Fingerprint of a whole tree: paths, types, sizes, mtimes and content.
tree_digest() {
    (cd "$1" && find . -printf '%p %y %s %T@ %m\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z |
        xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}

finish() {
    echo "$((TESTS_RUN - TESTS_FAILED)) passed, $TESTS_FAILED failed"
    [ "$TESTS_FAILED" -eq 0 ]
}

# Like tree_digest, but folder timestamps are left out: a run that made and
# removed temp files inside a folder changed no file of the tree.
content_digest() {
    (cd "$1" && find . -printf '%p %y %s %m\n' | LC_ALL=C sort &&
        find . -type f -printf '%p %T@\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z |
        xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}

# Corrupt one byte of FILE at OFFSET for certain: invert its bits (writing a
# fixed letter leaves random data unchanged one time in 256). Keeps size and
# mtime handling to the caller, like dd conv=notrunc did.
flip_byte() {
    python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    if len(b) != 1:
        sys.exit("flip_byte: %s is shorter than %d bytes" % (p, off + 1))
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
PY
}
