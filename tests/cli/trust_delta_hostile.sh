#!/bin/bash
# Issue 11, items 7 and 8: `cmhash delta` with an old file whose .SIG is
# missing, foreign (MS-RDC) or has a bogus header sends the file whole
# (docs/FORMAT.md) instead of crashing; `cmhash patch` stops as soon as a
# delta would write more than the manifest declares.
. "$CMHASH_TESTLIB"
set -e
SRC=$SCRATCH/src
LIB=$SCRATCH/lib
mkdir -p "$SRC"
head -c 300000 /dev/urandom >"$SRC/big.bin"
printf 'small\n' >"$SRC/s.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet
OLDH=$(sha256sum "$SRC/big.bin" | cut -d' ' -f1 | tr a-f A-F)
printf '%0100d' 7 | dd of="$SRC/big.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_rc 0 "$CMHASH" snapshot "$SRC" MSC00001 --lib "$LIB" --no-fsync --quiet --keep 1
SIG=$LIB/FileLib/${OLDH:0:4}/$OLDH.SIG
cp "$SIG" "$SCRATCH/good.SIG"

# ---- item 7: .SIG missing, foreign, bogus header: sent whole, exit 0 ----
for kind in missing foreign bogus truncated; do
    rm -rf "$SCRATCH/d-$kind"
    cp "$SCRATCH/good.SIG" "$SIG"
    case $kind in
    missing) rm "$SIG" ;;
    foreign) printf '\x18\x00\x00\x00\x01\x00\x01\x00\x01\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00' >"$SIG"
             head -c 2000 /dev/urandom >>"$SIG" ;;
    bogus) printf 'rs\x016garbage header' >"$SIG" ;;
    truncated) head -c 7 "$SCRATCH/good.SIG" >"$SCRATCH/t" && mv "$SCRATCH/t" "$SIG" ;;
    esac
    expect_rc 0 "$CMHASH" delta MSC00001.1 MSC00001.2 "$SCRATCH/d-$kind" \
        --lib "$LIB" --json && ok "delta with a $kind .SIG: exit 0"
    echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["full"] == 1 and d["delta_bytes"] == 0, d
' && ok "delta with a $kind .SIG: the changed file is sent whole" ||
        fail "delta with a $kind .SIG: $OUT"
    rm -rf "$SCRATCH/out-$kind" "$SCRATCH/base"
    expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/base" --lib "$LIB" --quiet
    expect_rc 0 "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/d-$kind" "$SCRATCH/out-$kind" &&
        cmp -s "$SCRATCH/out-$kind/big.bin" "$SRC/big.bin" &&
        ok "patch from the whole copy rebuilds the file ($kind .SIG)" ||
        fail "patch with a $kind .SIG: $ERR"
done
cp "$SCRATCH/good.SIG" "$SIG"

# ---- item 8: a delta that writes far more than declared ----------------
rm -rf "$SCRATCH/d" "$SCRATCH/base"
expect_rc 0 "$CMHASH" delta MSC00001.1 MSC00001.2 "$SCRATCH/d" --lib "$LIB"
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/base" --lib "$LIB" --quiet
DF=$(ls "$SCRATCH/d/delta/")
[ -n "$DF" ] || fail "no delta file was written"
# 600 COPY commands of 256 KiB each (RS_OP_COPY_N1_N4: start 0, length
# 0x40000) from the 300 KB base file: 150 MiB out of a 3.6 KB delta
python3 - "$SCRATCH/d/delta/$DF" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack(">I", 0x72730236))
    for _ in range(600):
        f.write(bytes([0x47, 0]) + struct.pack(">I", 0x40000))
    f.write(b"\0")
PY
NEWH=${DF#*-}
SIZE=$(stat -c %s "$SRC/big.bin")
# declare 10 bytes for the file in the manifest
sed -i "s/^file delta $NEWH $SIZE /file delta $NEWH 10 /" "$SCRATCH/d/MANIFEST"
grep -q "^file delta $NEWH 10 " "$SCRATCH/d/MANIFEST" || fail "manifest not edited"
rm -rf "$SCRATCH/out"
python3 "$(dirname "$CMHASH_TESTLIB")/runstat.py" "$SCRATCH/stat" \
    "$CMHASH" patch "$SCRATCH/base" "$SCRATCH/d" "$SCRATCH/out" || true
read -r RC _ _ <"$SCRATCH/stat"
TESTS_RUN=$((TESTS_RUN + 1))
[ "$RC" = rc=3 ] && ok "crafted delta: patch exit 3" || fail "crafted delta: $RC"
"$CMHASH" patch "$SCRATCH/base" "$SCRATCH/d" "$SCRATCH/out2" >/dev/null 2>"$SCRATCH/err" || true
grep -q "would rebuild big.bin as more than the 10 bytes the manifest declares" "$SCRATCH/err" &&
    ok "crafted delta: stopped at the declared size: $(cat "$SCRATCH/err")" ||
    fail "crafted delta not stopped at the declared size: $(cat "$SCRATCH/err")"
# the bound, measured: bytes the process wrote (wchar of /proc/PID/io,
# polled until it exits)
W=$(python3 - "$CMHASH" "$SCRATCH" <<'PY'
import os, sys
cm, s = sys.argv[1], sys.argv[2]
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(cm, [cm, "patch", s + "/base", s + "/d", s + "/out4"])
last = 0
while True:
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("wchar:"):
                    last = int(line.split()[1])
    except OSError:
        pass
    if os.waitpid(pid, os.WNOHANG)[0]:
        break
print(last)
PY
)
TESTS_RUN=$((TESTS_RUN + 1))
[ "$W" -lt $((1 << 20)) ] && ok "crafted delta: at most $W bytes written (< 1 MiB)" ||
    fail "crafted delta: $W bytes written before the check"
finish
