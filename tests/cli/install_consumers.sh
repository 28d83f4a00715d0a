#!/bin/bash
# ctest-labels: nosan
# cmake --install into a temp prefix, then two tiny C programs hash a file
# through the public API: one built with `pkg-config --static cmhash`, one
# with find_package(cmhash). Also: the man page and bash completion are
# installed and work.
. "$CMHASH_TESTLIB"
set -e
BUILD=$(cd "$(dirname "$CMHASH")/.." && pwd)
P=$SCRATCH/prefix
expect_rc 0 cmake --install "$BUILD" --prefix "$P"
for f in bin/cmhash include/cmhash/cmhash.h include/cmhash/extract.h \
    share/man/man1/cmhash.1 share/man/man3/libcmhash.3 \
    share/bash-completion/completions/cmhash; do
    [ -f "$P/$f" ] || fail "not installed: $f"
done
LIBA=$(find "$P" -name libcmhash.a | head -1)
# -DBUILD_SHARED_LIBS=ON installs libcmhash.so instead; the programs below
# then load it from the prefix
[ -n "$LIBA" ] || LIBA=$(find "$P" -name libcmhash.so | head -1)
export LD_LIBRARY_PATH=$(dirname "${LIBA:-.}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# the benchmark kit is private (issue 13): no header, no symbols shipped
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$P/include/cmhash/bench.h" ] && [ -z "$(find "$P" -name '*benchkit*')" ] &&
    ! nm "$LIBA" | grep -Eq ' T (cmh_bench_|cmh_os_open_unbuffered|cmh_os_remove_tree)' &&
    ok "no benchmark kit installed (header, library, symbols)" ||
    fail "benchmark kit installed: $(ls "$P/include/cmhash") / $(nm "$LIBA" | grep -E ' T cmh_bench_' | head -3)"
PCDIR=$(dirname "$(find "$P" -name cmhash.pc | head -1)")
CFGDIR=$(dirname "$(find "$P" -name cmhashConfig.cmake | head -1)")
[ -f "$LIBA" ] && [ -d "$PCDIR" ] && [ -d "$CFGDIR" ] || fail "lib/pc/config missing"

mkdir -p "$SCRATCH/app"
cp "$(dirname "$CMHASH_TESTLIB")/consumer.c" "$SCRATCH/app/main.c"
head -c 100000 /dev/urandom >"$SCRATCH/data.bin"
WANT="$(sha256sum "$SCRATCH/data.bin" | cut -d' ' -f1 | tr a-f A-F) $("$CMHASH" --version | cut -d' ' -f2)"

# 1. pkg-config (relocated prefix; static: Libs.private / Requires.private)
export PKG_CONFIG_PATH=$PCDIR
expect_rc 0 pkg-config --exists cmhash
FLAGS=$(pkg-config --cflags --libs --static cmhash)
echo "$FLAGS" | grep -q -- "-I$P/" || fail "cflags do not point into the prefix: $FLAGS"
for dep in -lcmhash -lrsync -linih -lcrypto -pthread; do
    echo "$FLAGS" | grep -q -- "$dep" || fail "pkg-config --static lacks $dep: $FLAGS"
done
expect_rc 0 cc -std=c11 -Wall -Werror -o "$SCRATCH/app/pc" "$SCRATCH/app/main.c" $FLAGS
[ "$("$SCRATCH/app/pc" "$SCRATCH/data.bin")" = "$WANT" ] && ok "pkg-config consumer hashes" ||
    fail "pkg-config consumer: $("$SCRATCH/app/pc" "$SCRATCH/data.bin")"

# 2. find_package(cmhash)
cat >"$SCRATCH/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(cmhash 0.2 REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE cmhash::cmhash)
CM
expect_rc 0 cmake -S "$SCRATCH/app" -B "$SCRATCH/app/build" -DCMAKE_PREFIX_PATH="$P"
expect_rc 0 cmake --build "$SCRATCH/app/build"
[ "$("$SCRATCH/app/build/consumer" "$SCRATCH/data.bin")" = "$WANT" ] && ok "find_package consumer hashes" ||
    fail "find_package consumer"

# 3. the API example (examples/api/audit.c, installed with the docs):
# snapshot, verify with its own callbacks, the orphan iterator, a gc dry run
EX=$(find "$P" -path '*examples/audit.c' | head -1)
[ -f "$EX" ] || fail "examples/audit.c not installed"
expect_rc 0 cc -std=c11 -Wall -Wextra -Werror -o "$SCRATCH/app/audit" "$EX" $FLAGS
mkdir -p "$SCRATCH/src/sub"
printf 'one' >"$SCRATCH/src/a.txt"
printf 'two' >"$SCRATCH/src/sub/b.txt"
rc=0
out=$("$SCRATCH/app/audit" "$SCRATCH/exlib" "$SCRATCH/src" msc0000b 2>&1) || rc=$?
TESTS_RUN=$((TESTS_RUN + 1))
[ $rc = 0 ] && echo "$out" | grep -qx 'snapshot MSC0000B.1: 2 files, content hash [0-9A-F]\{64\}' &&
    echo "$out" | grep -qx 'content MSC0000B.1 validated' &&
    echo "$out" | grep -qx 'verify: 1 contents validated, 0 findings, 0 errors' &&
    echo "$out" | grep -qx 'gc: 0 items, 0 bytes to free' &&
    ok "the API example snapshots, verifies and runs gc" ||
    fail "API example (rc $rc): $out"
# an orphan content (a DataLib INI no PkgLib INI lists) reaches the
# example's finding callback, the orphan iterator and gc's item callback
cp "$SCRATCH/exlib/DataLib/MSC0000B.1.INI" "$SCRATCH/exlib/DataLib/MSC0000C.1.INI"
cp -r "$SCRATCH/exlib/DataLib/MSC0000B.1" "$SCRATCH/exlib/DataLib/MSC0000C.1"
rc=0
out=$("$SCRATCH/app/audit" "$SCRATCH/exlib" "$SCRATCH/src" MSC0000B 2>&1) || rc=$?
TESTS_RUN=$((TESTS_RUN + 1))
[ $rc = 1 ] && echo "$out" | grep -qx 'finding warning ORPHAN_CONTENT DataLib/MSC0000C.1' &&
    echo "$out" | grep -qx 'orphan 1 DataLib/MSC0000C.1' &&
    echo "$out" | grep -q '^gc would remove content DataLib/MSC0000C.1 ' &&
    ok "the example sees the orphan through the finding, the iterator and gc" ||
    fail "API example with an orphan: $out"

# 4. the installed tool, man page and completion
[ "$("$P/bin/cmhash" hash "$SCRATCH/data.bin" | cut -d' ' -f1)" = "${WANT%% *}" ] || fail "installed tool"
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$P/share/man/man1/cmhash.1" 2>/dev/null | grep -q 'extract ID DEST' || fail "man page"
    MANWIDTH=80 man -l "$P/share/man/man3/libcmhash.3" 2>/dev/null |
        grep -q 'One {cb, payload} pair per callback' || fail "libcmhash(3)"
fi
out=$(bash -c '
    . "$1"
    COMP_WORDS=(cmhash ex); COMP_CWORD=1; _cmhash; echo "${COMPREPLY[*]}"
    COMP_WORDS=(cmhash extract --fo); COMP_CWORD=2; _cmhash; echo "${COMPREPLY[*]}"
' _ "$P/share/bash-completion/completions/cmhash")
[ "$out" = "$(printf 'extract\n--force')" ] && ok "bash completion" || fail "completion: $out"
finish
