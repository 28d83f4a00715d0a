# cmhash verify: the hash pass's I/O paths (issue 14, item 3) give the same
# findings. Reads in flight through io_uring (CMHASH_IO=uring, where the
# kernel allows it), the posix_fadvise prefetch (the default, and the
# fallback), no prefetch (CMHASH_PREFETCH=0), each with and without the
# physical (FIEMAP) order, at 1 and 2 threads, plain and --deep, on a
# corrupted library whose files sit at and around the 512 KiB read chunk.
# CMHASH_TEST_IO_TRACE=1 makes verify name the path it took on stderr.
. "$CMHASH_TESTLIB"
set -e
FIND="python3 $(dirname "$CMHASH_TESTLIB")/../fixtures/verify/findings.py"
hexof() { sha256sum "$1" | cut -d' ' -f1 | tr a-f A-F; }
fl() { echo "FileLib/${1:0:4}/$1${2:-}"; }

S=$SCRATCH/src
mkdir -p "$S/a/b"
# sizes at and around the 512 KiB chunk, a multi-chunk file, tiny files
python3 - "$S" <<'PY'
import random, sys, os
r = random.Random(14)
C = 512 * 1024
sizes = [0, 1, 4095, 4096, C - 1, C, C + 1, 2 * C + 7, 3 * C + 12345]
for i, n in enumerate(sizes):
    open(os.path.join(sys.argv[1], "a", "s%02d.bin" % i), "wb").write(
        r.randbytes(n))
for i in range(60):
    open(os.path.join(sys.argv[1], "a", "b", "t%02d.txt" % i), "wb").write(
        r.randbytes(r.randrange(1, 3000)))
PY
CLEAN=$SCRATCH/clean
"$CMHASH" snapshot "$S" MSC00001 --lib "$CLEAN" --no-fsync --quiet >/dev/null
L=$SCRATCH/lib
cp -a "$CLEAN" "$L"
sync # allocated blocks: FIEMAP does not place delayed allocations
F=$(hexof "$S/a/s08.bin")   # 3 chunks and a bit: flipped in the third
T=$(hexof "$S/a/s07.bin")   # truncated
D=$(hexof "$S/a/s05.bin")   # deleted
G=$(hexof "$S/a/s06.bin")   # its .SIG truncated
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); \
b[2*512*1024+100]^=1; open(p,'wb').write(b)" "$L/$(fl "$F")"
truncate -s 1000 "$L/$(fl "$T")"
rm "$L/$(fl "$D")"
truncate -s 20 "$L/$(fl "$G" .SIG)"
sync
WANT="FILE_HASH_MISMATCH $(fl "$F")
FILE_HASH_MISMATCH $(fl "$T")
FILE_MISSING $(fl "$D")
FILE_SIZE_MISMATCH DataLib/MSC00001.1/a/s07.bin.INI
SIG_BAD $(fl "$G" .SIG)"
WANT=$(echo "$WANT" | LC_ALL=C sort)
NFILES=$(find "$CLEAN/FileLib" -type f ! -name '*.*' | wc -l)

# CMHASH_IO=uring takes io_uring, or the fallback when the kernel (or a
# container's seccomp filter) refuses it; the default is one of the two
TESTS_RUN=$((TESTS_RUN + 1))
CMHASH_IO=uring CMHASH_TEST_IO_TRACE=1 "$CMHASH" verify --lib "$CLEAN" \
    --quiet >/dev/null 2>"$SCRATCH/probe.err" || fail "clean: not clean"
uring=$(sed -n 's/^cmhash-test: hash pass: \([a-z_]*\)[ ,].*/\1/p' \
    "$SCRATCH/probe.err")
case $uring in
io_uring) ok "CMHASH_IO=uring: io_uring" ;;
fadvise) ok "CMHASH_IO=uring: fadvise (io_uring refused: $(cat "$SCRATCH/probe.err"))" ;;
*) fail "CMHASH_IO=uring: '$uring' ($(cat "$SCRATCH/probe.err"))" ;;
esac
TESTS_RUN=$((TESTS_RUN + 1))
CMHASH_TEST_IO_TRACE=1 "$CMHASH" verify --lib "$CLEAN" --quiet \
    >/dev/null 2>"$SCRATCH/probe.err" || fail "clean: not clean"
default=$(sed -n 's/^cmhash-test: hash pass: \([a-z_]*\)[ ,].*/\1/p' \
    "$SCRATCH/probe.err")
# the default is the posix_fadvise prefetch (docs/VERIFY.md)
if [ "$default" = fadvise ]; then ok "default path: fadvise"
else fail "default path: '$default' ($(cat "$SCRATCH/probe.err"))"; fi
# the physical order covers every non-empty file where FIEMAP works
grep -q "$((NFILES - 1)) of $NFILES files in physical order\|0 of $NFILES files in physical order" \
    "$SCRATCH/probe.err" || fail "physical order: $(cat "$SCRATCH/probe.err")"

# run NAME WANT_PATH OPTS ENV...: the findings must be WANT, the path taken
# WANT_PATH
run() {
    local name=$1 want_path=$2 opts=$3
    shift 3
    TESTS_RUN=$((TESTS_RUN + 1))
    set +e
    # shellcheck disable=SC2086
    env CMHASH_TEST_IO_TRACE=1 "$@" "$CMHASH" verify --lib "$L" --quiet \
        $opts --json="$SCRATCH/$name.json" >/dev/null 2>"$SCRATCH/$name.err"
    local rc=$?
    set -e
    local got path
    got=$($FIND "$SCRATCH/$name.json" | LC_ALL=C sort) ||
        { fail "$name: bad JSON"; return; }
    path=$(sed -n 's/^cmhash-test: hash pass: \([a-z_]*\)[ ,].*/\1/p' \
        "$SCRATCH/$name.err")
    local hashed
    hashed=$($FIND "$SCRATCH/$name.json" --summary files_hashed)
    if [ "$got" != "$WANT" ]; then
        fail "$name: findings differ"
        echo "  want:" >&2; echo "$WANT" | sed 's/^/    /' >&2
        echo "  got:" >&2; echo "$got" | sed 's/^/    /' >&2
    elif [ "$rc" != 1 ]; then
        fail "$name: exit $rc, expected 1"
    elif [ "$path" != "$want_path" ]; then
        fail "$name: path '$path', expected $want_path"
    elif [ "$hashed" != "$((NFILES - 1))" ]; then
        fail "$name: $hashed files hashed, expected $((NFILES - 1))"
    else
        ok "$name ($path)"
    fi
}

for t in 1 2; do
    for deep in "" --deep; do
        o="--threads $t $deep"
        n=t$t${deep:+-deep}
        run "$n-default" "$default" "$o" CMHASH_IO=
        run "$n-uring" "$uring" "$o" CMHASH_IO=uring
        run "$n-depth1" "$uring" "$o" CMHASH_IO=uring CMHASH_IO_DEPTH=1
        run "$n-hybrid" "$uring" "$o" CMHASH_IO=uring \
            CMHASH_IO_SMALL=524288
        run "$n-fadvise" fadvise "$o" CMHASH_IO=fadvise
        run "$n-nofiemap" "$uring" "$o" CMHASH_IO=uring CMHASH_FIEMAP=0
        run "$n-fadvise-nofiemap" fadvise "$o" CMHASH_IO=fadvise \
            CMHASH_FIEMAP=0
        run "$n-none" none "$o" CMHASH_PREFETCH=0
    done
done
# --io-rate turns the read-ahead off (it would read ahead of the limit)
run io-rate none "--threads 2 --io-rate 500" CMHASH_IO=
finish
