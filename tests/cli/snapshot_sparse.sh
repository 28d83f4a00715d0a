# ctest-labels: heavy
# Issue 2, acceptance 7 (second half): memory does not grow with file size.
# A sparse 4.5 GiB file (sizes past 32 bits, a few non-zero bytes beyond
# 4 GiB) snapshots with peak RSS under 64 MiB and the right Size, SHA-256
# and .SIG (equal to `rdiff signature`); the FileLib copy is stored sparse.
. "$CMHASH_TESTLIB"
set -e
HERE=$(dirname "$CMHASH_TESTLIB")
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
mkdir -p "$SRC"
SIZE=4831838208                 # 4.5 GiB
F=$SRC/disk.img
truncate -s $SIZE "$F"
# (offset, bytes) written into the holes; the same list feeds the
# expected SHA-256 below, computed without reading the file
MARKS="100:head 4294967295:X 4294979641:cmhash-past-4GiB 4831838200:tail-end"
for m in $MARKS; do
    printf '%s' "${m#*:}" | dd of="$F" bs=1 seek="${m%%:*}" conv=notrunc status=none
done
TESTS_RUN=$((TESTS_RUN + 1))
[ "$(stat -c %s "$F")" = $SIZE ] && [ "$(du -k "$F" | cut -f1)" -lt 1024 ] &&
    ok "source: sparse, $SIZE bytes, $(du -k "$F" | cut -f1) KiB allocated" ||
    fail "source file is not sparse"

# the references, in the background while cmhash runs its own pass
rdiff signature "$F" "$SCRATCH/rdiff.sig" &
RDIFF=$!
WANT=$(python3 - "$SIZE" $MARKS <<'PY'
import hashlib, sys
size = int(sys.argv[1])
marks = sorted((int(m.split(":", 1)[0]), m.split(":", 1)[1].encode())
               for m in sys.argv[2:])
h, pos, zero = hashlib.sha256(), 0, bytes(1 << 22)
for off, data in marks + [(size, b"")]:
    while pos < off:
        n = min(off - pos, len(zero))
        h.update(zero[:n]); pos += n
    h.update(data); pos += len(data)
print(h.hexdigest().upper())
PY
)

expect_rc 0 python3 "$HERE/runstat.py" "$SCRATCH/stat" "$CMHASH" snapshot "$SRC" \
    MSC00001 --lib "$LIB" --no-fsync && ok "snapshot of the 4.5 GiB file"
read -r RC RCHAR RSS <"$SCRATCH/stat"
RSS=${RSS#maxrss_kb=}
TESTS_RUN=$((TESTS_RUN + 1))
[ "$RC" = rc=0 ] && [ "$RSS" -lt 65536 ] &&
    ok "peak RSS $((RSS / 1024)) MiB ($RSS KiB) < 64 MiB" ||
    fail "$RC, peak RSS $RSS KiB (limit 65536)"
echo "$OUT" | grep -qx "The size of package MSC00001, version 1 is 4718592 KBytes" ||
    fail "size line: $OUT"
INI=$LIB/DataLib/MSC00001.1/disk.img.INI
TESTS_RUN=$((TESTS_RUN + 1))
tr -d '\r' <"$INI" | grep -qx "Size=$SIZE" && ok "Size=$SIZE" ||
    fail "Size: $(cat "$INI")"
TESTS_RUN=$((TESTS_RUN + 1))
tr -d '\r' <"$INI" | grep -qx "Hash=$WANT" && ok "Hash=$WANT" ||
    fail "Hash: $(cat "$INI"), want $WANT"
D=$LIB/FileLib/${WANT:0:4}/$WANT
TESTS_RUN=$((TESTS_RUN + 1))
[ "$(stat -c %s "$D")" = $SIZE ] && [ "$(du -k "$D" | cut -f1)" -lt 65536 ] &&
    ok "FileLib copy: $SIZE bytes, stored sparse ($(du -k "$D" | cut -f1) KiB)" ||
    fail "FileLib copy: $(stat -c %s "$D") bytes, $(du -k "$D" | cut -f1) KiB"
# The copy equals the source without reading 4.5 GiB: the source is zero
# except at MARKS; every data extent of the copy (SEEK_DATA/SEEK_HOLE) must
# hold the source's bytes, and every mark must lie inside one.
GOT=$(python3 - "$D" "$F" $MARKS <<'PY'
import os, sys
copy, src = sys.argv[1], sys.argv[2]
marks = [(int(m.split(":", 1)[0]), len(m.split(":", 1)[1])) for m in sys.argv[3:]]
fd, sfd = os.open(copy, os.O_RDONLY), os.open(src, os.O_RDONLY)
size, pos, extents, bad = os.fstat(fd).st_size, 0, [], 0
while pos < size:
    try:
        start = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(fd, start, os.SEEK_HOLE)
    extents.append((start, end))
    off = start
    while off < end:
        n = min(end - off, 1 << 22)
        if os.pread(fd, n, off) != os.pread(sfd, n, off):
            bad += 1
        off += n
    pos = end
covered = all(any(s <= o and o + n <= e for s, e in extents) for o, n in marks)
data = sum(e - s for s, e in extents)
print("same" if not bad and covered else "differ",
      "%d extents, %d data bytes" % (len(extents), data))
PY
)
TESTS_RUN=$((TESTS_RUN + 1))
[ "${GOT%% *}" = same ] && ok "FileLib copy holds the same bytes (${GOT#* })" ||
    fail "FileLib copy differs from the source: $GOT"
wait $RDIFF
TESTS_RUN=$((TESTS_RUN + 1))
cmp -s "$D.SIG" "$SCRATCH/rdiff.sig" &&
    ok ".SIG equals rdiff signature ($(stat -c %s "$D.SIG") bytes)" ||
    fail ".SIG differs from rdiff signature"
finish
