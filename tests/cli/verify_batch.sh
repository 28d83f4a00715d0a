# cmhash verify: the FileLib entry reads are batched per <h4> folder (issue
# 14, item 3): one task reads every entry of a folder relative to the
# folder's fd, on each FileLib root. A folder with 24 entries (contents
# chosen so their digests share the first 4 hex digits), spread over two
# roots, with one fault per entry of a kind: a corrupt reference INI, a
# foreign .SIG, a missing data file, an empty INI and an empty .SIG (the
# reads that take the slow path), an INI over the 64 KiB read buffer
# (valid: no finding); findings must be exact (the same as before the
# batching, checked against main afbebcb), the
# same with 1, 2 and 16 entry threads (CMHASH_ENTRY_THREADS), and the
# index prefetch on and off.
. "$CMHASH_TESTLIB"
set -e
FIND="python3 $(dirname "$CMHASH_TESTLIB")/../fixtures/verify/findings.py"
fl() { echo "FileLib/${1:0:4}/$1${2:-}"; }

S=$SCRATCH/src
mkdir -p "$S/p" "$S/q"
# 24 contents whose SHA-256 starts with the same 16 bits, plus a few others
python3 - "$S" >"$SCRATCH/names" <<'PY'
import hashlib, sys
d = sys.argv[1]
want, i, got = None, 0, []
while len(got) < 24:
    b = b"batch-%d\n" % i
    h = hashlib.sha256(b).hexdigest().upper()
    if want is None:
        want = h[:4]
    if h[:4] == want:
        got.append((h, b))
    i += 1
for k, (h, b) in enumerate(got):
    open("%s/%s/f%02d.txt" % (d, "p" if k % 2 else "q", k), "wb").write(b)
    print(h)
for k in range(5):
    open("%s/p/o%d.txt" % (d, k), "wb").write(b"other-%d\n" % k)
PY
mapfile -t H <"$SCRATCH/names"
[ "${#H[@]}" = 24 ] || { fail "setup: 24 names, got ${#H[@]}"; exit 1; }
CLEAN=$SCRATCH/clean
"$CMHASH" snapshot "$S" MSC00001 --lib "$CLEAN" --no-fsync --quiet >/dev/null
L=$SCRATCH/lib
SPAN=$SCRATCH/span
rm -rf "$L" "$SPAN"
cp -a "$CLEAN" "$L"
H4=${H[0]:0:4}
mkdir -p "$SPAN/FileLib/$H4"
# entries 12..23 on the second root (whole entries), entry 11's .SIG only
for k in $(seq 12 23); do
    mv "$L/$(fl "${H[$k]}")" "$L/$(fl "${H[$k]}" .INI)" \
        "$L/$(fl "${H[$k]}" .SIG)" "$SPAN/FileLib/$H4/"
done
mv "$L/$(fl "${H[11]}" .SIG)" "$SPAN/FileLib/$H4/"
SP=$SPAN/FileLib/$H4
printf 'not an ini' >"$L/$(fl "${H[3]}" .INI)"           # corrupt INI
printf 'XXXXnotasignature' >"$SP/${H[14]}.SIG"            # foreign .SIG
rm "$SP/${H[16]}"                                         # data missing
: >"$L/$(fl "${H[5]}" .INI)"                              # empty INI
: >"$SP/${H[18]}.SIG"                                     # empty .SIG
python3 - "$SP/${H[20]}.INI" <<'PY'                       # INI > 64 KiB
import sys
p = sys.argv[1]
t = open(p, "rb").read()
open(p, "wb").write(t + b"\r\n" * 40000)
PY
# a reference INI that is no INI is FILE_INI_BAD; an empty one lists no
# content: REF_MISSING; findings on the second root name its path
WANT=(
    "FILE_INI_BAD $(fl "${H[3]}" .INI)"
    "REF_MISSING $(fl "${H[5]}" .INI)"
    "FILE_MISSING $(fl "${H[16]}")"
    "SIG_BAD $SP/${H[18]}.SIG"
    "SIG_FOREIGN $SP/${H[14]}.SIG"
)

check() {
    local name=$1 envs=$2
    TESTS_RUN=$((TESTS_RUN + 1))
    set +e
    # shellcheck disable=SC2086
    env $envs "$CMHASH" verify --lib "$L" --filelib "$SPAN" --threads 2 \
        --quiet --json="$SCRATCH/$name.json" >"$SCRATCH/$name.out" 2>&1
    local rc=$?
    set -e
    local got want
    got=$($FIND "$SCRATCH/$name.json" | LC_ALL=C sort) || {
        fail "$name: bad JSON output"
        return
    }
    want=$(printf '%s\n' "${WANT[@]}" | LC_ALL=C sort)
    if [ "$got" != "$want" ]; then
        fail "$name: findings differ"
        echo "  want:" >&2; echo "$want" | sed 's/^/    /' >&2
        echo "  got:" >&2; echo "$got" | sed 's/^/    /' >&2
        return
    fi
    [ "$rc" = 1 ] || { fail "$name: exit $rc, expected 1"; return; }
    ok "$name: exact findings, exit 1"
}

check default ""
check threads1 "CMHASH_ENTRY_THREADS=1"
check threads16 "CMHASH_ENTRY_THREADS=16"
check no-prefetch "CMHASH_INDEX_PREFETCH=0 CMHASH_ENTRY_THREADS=3"

# the clean library with the same entries on two roots: nothing to say
rm -rf "$L" "$SPAN"
cp -a "$CLEAN" "$L"
mkdir -p "$SPAN/FileLib/$H4"
for k in $(seq 0 2 23); do
    mv "$L/$(fl "${H[$k]}")" "$L/$(fl "${H[$k]}" .INI)" \
        "$L/$(fl "${H[$k]}" .SIG)" "$SPAN/FileLib/$H4/"
done
TESTS_RUN=$((TESTS_RUN + 1))
"$CMHASH" verify --lib "$L" --filelib "$SPAN" --quiet >/dev/null 2>&1 &&
    ok "clean, spanned: exit 0" || fail "clean, spanned: not clean"
TESTS_RUN=$((TESTS_RUN + 1))
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet &&
    ok "clean, second root not given: exit 1" ||
    fail "clean, second root not given"

finish
