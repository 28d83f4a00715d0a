# Issue 15 acceptance: the same source tree snapshotted by the Linux build
# ($CMHASH_LINUX) and by cmhash.exe under Wine ($CMHASH) gives byte-identical
# PkgLib, DataLib and FileLib, Attributes= aside (POSIX cannot express all
# bits); then each build verifies the library the other wrote (exit 0).
. "$CMHASH_TESTLIB"
set -e
: "${CMHASH_LINUX:?path of the Linux cmhash}"
S=$SCRATCH/src
mkdir -p "$S/sub/deeper" "$S/empty" "$S/Ünïcödé" "$S/日本語"
printf 'hello\n' >"$S/a.txt"
printf 'hello\n' >"$S/sub/dup.bin"
printf 'deep\n' >"$S/sub/deeper/d.txt"
printf 'x\n' >"$S/Ünïcödé/straße.txt"
printf 'y\n' >"$S/日本語/ファイル.txt"
printf 'z\n' >"$S/emoji-😀.txt"
printf '[x]\r\nk=v\r\n' >"$S/x.ini"
: >"$S/zero"
head -c 3000000 /dev/urandom >"$S/sub/big.bin"
head -c 2097152 /dev/zero >>"$S/sub/big.bin"   # a zero run (hole)
find "$S" -type f -exec touch -d '2023-01-02 03:04:05.1234567 UTC' {} +
expect_rc 0 "$CMHASH_LINUX" snapshot "$S" MSC00001 --lib "$SCRATCH/linux" &&
    ok "Linux snapshot"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$SCRATCH/win" &&
    ok "Windows snapshot"
strip_attr() { # copy of a library with the Attributes= lines normalised
    rm -rf "$2"
    cp -a "$1" "$2"
    find "$2" -name '*.INI' -exec sed -i 's/^Attributes=.*\r$/Attributes=*\r/' {} +
}
strip_attr "$SCRATCH/linux" "$SCRATCH/l"
strip_attr "$SCRATCH/win" "$SCRATCH/w"
TESTS_RUN=$((TESTS_RUN + 1))
if diff -r "$SCRATCH/l" "$SCRATCH/w" >"$SCRATCH/diff.txt"; then
    n=$(find "$SCRATCH/l" -type f | wc -l)
    ok "DataLib, FileLib, PkgLib byte-identical ($n files; diff -r empty)"
else
    fail "libraries differ:"
    head -40 "$SCRATCH/diff.txt" >&2
fi
TESTS_RUN=$((TESTS_RUN + 1))
if diff <(grep -rh '^Attributes=' "$SCRATCH/linux/DataLib" | sort | uniq -c) \
        <(grep -rh '^Attributes=' "$SCRATCH/win/DataLib" | sort | uniq -c) \
        >"$SCRATCH/attr.txt"; then
    ok "Attributes= equal too"
else
    echo "note: Attributes= differ (allowed):" && cat "$SCRATCH/attr.txt"
    TESTS_RUN=$((TESTS_RUN - 1))
fi
expect_rc 0 "$CMHASH" verify --lib "$SCRATCH/linux" &&
    ok "cmhash.exe verify reads the Linux-written library"
expect_rc 0 "$CMHASH_LINUX" verify --lib "$SCRATCH/win" &&
    ok "Linux verify reads the cmhash.exe-written library"
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/out" --lib "$SCRATCH/linux" &&
    ok "cmhash.exe extracts from the Linux-written library"
TESTS_RUN=$((TESTS_RUN + 1))
if diff -r "$S" "$SCRATCH/out" >/dev/null; then ok "extract round trip"; else fail "extract differs"; fi
finish
