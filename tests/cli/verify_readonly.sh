# cmhash verify never writes to the library (issue 3, acceptance 2): the
# whole tree (names, types, sizes, mtimes, modes, content) is identical
# before and after verify of a corrupted library, with every option that
# reads differently (--deep, --subset, --resume, --max-time, --io-rate,
# --filelib, IDs). Bonus: access times are unchanged too (O_NOATIME).
. "$CMHASH_TESTLIB"
set -e

S=$SCRATCH/src
mkdir -p "$S/p1/sub" "$S/p2" "$SCRATCH/span"
for i in 1 2 3 4 5; do
    head -c $((i * 7000)) /dev/urandom >"$S/p1/sub/f$i.bin"
done
echo shared >"$S/p1/shared.txt"
cp "$S/p1/shared.txt" "$S/p2/shared.txt"
echo two >"$S/p2/two.txt"
L=$SCRATCH/lib
"$CMHASH" snapshot "$S/p1" MSC00001 --lib "$L" --no-fsync --quiet >/dev/null
"$CMHASH" snapshot "$S/p2" MSC00002 --lib "$L" --no-fsync --quiet >/dev/null

# corrupt it in several ways
H=$(sha256sum "$S/p1/sub/f3.bin" | cut -d' ' -f1 | tr a-f A-F)
flip_byte "$L/FileLib/${H:0:4}/$H" 100
H2=$(sha256sum "$S/p1/sub/f4.bin" | cut -d' ' -f1 | tr a-f A-F)
truncate -s 50 "$L/FileLib/${H2:0:4}/$H2.SIG"
H5=$(sha256sum "$S/p1/sub/f5.bin" | cut -d' ' -f1 | tr a-f A-F)
rm "$L/FileLib/${H5:0:4}/$H5"
echo leftover >"$L/DataLib/.cmhash-tmp-77-1.INI"
mkdir "$L/DataLib/.cmhash-tmp-77-MSC00001.2"
sed -i 's|^\[Packages\]\r$|[Packages]\r\nMSC00002.9=\r|' "$L/PkgLib/MSC00002.INI"
H4=$(sha256sum "$S/p2/two.txt" | cut -d' ' -f1 | tr a-f A-F)
printf 'MSC00003.1=\r\n' >>"$L/FileLib/${H4:0:4}/$H4.INI"
rm "$L/.cmhash/MSC00002.lock"
# a spanned part: one entry moved to a second FileLib root
H1=$(sha256sum "$S/p1/sub/f1.bin" | cut -d' ' -f1 | tr a-f A-F)
mkdir -p "$SCRATCH/span/FileLib/${H1:0:4}"
mv "$L/FileLib/${H1:0:4}/$H1"* "$SCRATCH/span/FileLib/${H1:0:4}/"

LIST=$SCRATCH/paths
(cd "$SCRATCH" && find lib span -print0) >"$LIST"
atimes() { xargs -0 stat -c '%n %X' <"$LIST" | LC_ALL=C sort; }

before=$(tree_digest "$L")
before_span=$(tree_digest "$SCRATCH/span")
# access times far in the past: any read would move them (relatime)
(cd "$SCRATCH" && xargs -0 touch -a -h -d '2020-01-02 03:04:05') <"$LIST"
at_before=$(cd "$SCRATCH" && atimes)

run() {
    TESTS_RUN=$((TESTS_RUN + 1))
    set +e
    "$CMHASH" verify --lib "$L" --filelib "$SCRATCH/span" "$@" \
        >"$SCRATCH/out" 2>&1
    local rc=$?
    set -e
    if [ "$rc" != 1 ]; then
        fail "verify $*: exit $rc, expected 1"
        cat "$SCRATCH/out" >&2
    fi
}
run --json="$SCRATCH/a.json"
run --deep --threads 1 --json
run --subset 2/3 --resume "$SCRATCH/state" --max-time 30s
run --io-rate 50 --nice MSC00001
run --deep MSC00002.1 MSC00001

at_after=$(cd "$SCRATCH" && atimes)
after=$(tree_digest "$L")
after_span=$(tree_digest "$SCRATCH/span")
TESTS_RUN=$((TESTS_RUN + 1))
if [ "$before" = "$after" ] && [ "$before_span" = "$after_span" ]; then
    ok "library tree unchanged by verify"
else
    fail "verify changed the library"
fi
# the faults were seen (so the runs did read the library)
for code in FILE_HASH_MISMATCH SIG_BAD FILE_MISSING STRAY REF_DANGLING \
    PKG_CONTENT_MISSING; do
    grep -q "\"code\":\"$code\"" "$SCRATCH/a.json" ||
        fail "expected a $code finding"
done
grep -q '"code":"ORPHAN_FILE"' "$SCRATCH/a.json" &&
    fail "the entry in the --filelib root was taken for an orphan"

# atimes: only meaningful where reads update them; prove it first
TESTS_RUN=$((TESTS_RUN + 1))
probe=$SCRATCH/atime-probe
echo x >"$probe"
touch -a -d '2020-01-02 03:04:05' "$probe"
cat "$probe" >/dev/null
if [ "$(date -d @"$(stat -c %X "$probe")" +%Y)" = 2020 ]; then
    ok "atimes not checked: this filesystem does not update them"
elif [ "$at_before" = "$at_after" ]; then
    ok "access times unchanged (O_NOATIME)"
else
    fail "verify changed access times"
    diff <(echo "$at_before") <(echo "$at_after") | head >&2
fi
finish
