#!/bin/bash
# ctest-labels: nosan
# Issue 13 item 3: libcmhash exports exactly its documented API. The engine
# is built with hidden visibility and CMH_EXTERN on every public function
# (include/cmhash/common.h); the shared library of the build
# ($CMHASH_SHARED_LIB: engine/shared/libcmhash.so, or libcmhash.so itself
# with -DBUILD_SHARED_LIBS=ON) must export:
#   - every function declared in include/cmhash/*.h (found by the
#     preprocessor, not by looking for CMH_EXTERN), and
#   - nothing else: no internal cmh__ name, no internal cmh_ helper, no
#     name without the cmh_ prefix (data or functions).
# Then a program built against the shared library (not the static one)
# hashes a file through it.
. "$CMHASH_TESTLIB"
set -e
ROOT=$(cd "$(dirname "$CMHASH_TESTLIB")/../.." && pwd)
SO=${CMHASH_SHARED_LIB:-}
[ -n "$SO" ] && [ -f "$SO" ] || { fail "no shared library (CMHASH_SHARED_LIB='$SO')"; finish; exit 1; }

# what the library defines in its dynamic symbol table
nm -D --defined-only "$SO" | awk '{print $NF}' | LC_ALL=C sort -u >"$SCRATCH/exported"
# what the public headers declare: every "cmh_name(" the preprocessor leaves
# (function pointer typedefs read "(*cmh_name)(" and do not match)
: >"$SCRATCH/declared.all"
for h in "$ROOT"/include/cmhash/*.h; do
    cc -std=c11 -E -P -I"$ROOT/include" "$h" >"$SCRATCH/pp.c"
    grep -oE '\bcmh_[a-z0-9_]+[[:space:]]*\(' "$SCRATCH/pp.c" |
        sed 's/[[:space:]]*($//' >>"$SCRATCH/declared.all"
done
LC_ALL=C sort -u "$SCRATCH/declared.all" >"$SCRATCH/declared"

TESTS_RUN=$((TESTS_RUN + 1))
n_exp=$(wc -l <"$SCRATCH/exported")
n_dec=$(wc -l <"$SCRATCH/declared")
if [ "$n_dec" -lt 40 ]; then
    fail "only $n_dec functions found in the public headers"
elif cmp -s "$SCRATCH/exported" "$SCRATCH/declared"; then
    ok "nm -D shows exactly the $n_exp functions the public headers declare"
else
    fail "exported ($n_exp) != declared ($n_dec)"
    echo "  exported, not declared:" $(LC_ALL=C comm -23 "$SCRATCH/exported" "$SCRATCH/declared") >&2
    echo "  declared, not exported:" $(LC_ALL=C comm -13 "$SCRATCH/exported" "$SCRATCH/declared") >&2
fi

TESTS_RUN=$((TESTS_RUN + 1))
bad=$(grep -vE '^cmh_[a-z0-9]' "$SCRATCH/exported" || true)
[ -z "$bad" ] && ok "every exported name is cmh_<name> (no cmh__, no foreign name)" ||
    fail "exported names outside the API prefix: $(echo $bad)"

# every exported symbol is a function (T), no data
TESTS_RUN=$((TESTS_RUN + 1))
kinds=$(nm -D --defined-only "$SO" | awk '{print $2}' | sort -u | tr '\n' ' ')
[ "$kinds" = "T " ] && ok "only functions are exported" ||
    fail "exported symbol kinds: $kinds"

# a consumer linked against the shared library
mkdir -p "$SCRATCH/app"
cp "$(dirname "$CMHASH_TESTLIB")/consumer.c" "$SCRATCH/app/main.c"
head -c 100000 /dev/urandom >"$SCRATCH/data.bin"
WANT="$(sha256sum "$SCRATCH/data.bin" | cut -d' ' -f1 | tr a-f A-F) $("$CMHASH" --version | cut -d' ' -f2)"
SODIR=$(dirname "$SO")
expect_rc 0 cc -std=c11 -Wall -Werror -I"$ROOT/include" -o "$SCRATCH/app/shared" \
    "$SCRATCH/app/main.c" -L"$SODIR" -lcmhash -Wl,-rpath,"$SODIR"
TESTS_RUN=$((TESTS_RUN + 1))
need=$(ldd "$SCRATCH/app/shared" | grep -c "$SODIR/libcmhash.so" || true)
[ "$need" = 1 ] && ok "the consumer loads $SODIR/libcmhash.so" ||
    fail "the consumer does not use the shared library: $(ldd "$SCRATCH/app/shared")"
TESTS_RUN=$((TESTS_RUN + 1))
got=$("$SCRATCH/app/shared" "$SCRATCH/data.bin")
[ "$got" = "$WANT" ] && ok "a consumer of the shared library hashes" ||
    fail "shared consumer: '$got', want '$WANT'"
finish
