# cmhash verify reads libraries written by Configuration Manager (issue 3,
# acceptance 4): UTF-16LE INIs with BOM and LF endings, no [cmhash], any
# FileLib INI section name, foreign .SIG files, application content IDs.
# Such a library verifies clean (only SIG_FOREIGN info, exit 0); with one
# corrupted file it reports exactly that file (exit 1).
. "$CMHASH_TESTLIB"
set -e
FX=$(dirname "$CMHASH_TESTLIB")/../fixtures/verify
FIND="python3 $FX/findings.py"

S=$SCRATCH/src
mkdir -p "$S/one/Sub Dir" "$S/one/x" "$S/two"
echo "setup" >"$S/one/Setup.EXE"
echo "a_b" >"$S/one/a_b.txt"
echo "ab" >"$S/one/ab.txt"
head -c 20000 /dev/urandom >"$S/one/Sub Dir/data.cab"
echo "readme" >"$S/one/x/readme.ini"
head -c 9000 /dev/urandom >"$S/two/app.msi"
cp "$S/one/ab.txt" "$S/two/shared.txt"
L=$SCRATCH/cmlib
python3 "$FX/make_cm_lib.py" "$L" "$S/one" "$S/two"
NF=$(find "$L/FileLib" -mindepth 2 -type f ! -name '*.*' | wc -l)
[ "$NF" = 6 ] || fail "fixture: $NF FileLib files, expected 6"
head -c 2 "$L/DataLib/CM100001.2.INI" | od -An -tx1 | grep -q 'ff fe' ||
    fail "fixture INIs are not UTF-16LE"

expect_rc 0 "$CMHASH" verify --lib "$L" --json="$SCRATCH/clean.json" &&
    ok "ConfigMgr-style library verifies clean"
got=$($FIND "$SCRATCH/clean.json" | sed 's| FileLib/.*||' | uniq -c |
    tr -s ' ')
# one SIG_FOREIGN per run (issue 10 item 6): the count of the 6 foreign
# signatures, and the first path
[ "$got" = " 1 SIG_FOREIGN" ] || fail "clean: findings: $got"
grep '"code":"SIG_FOREIGN"' "$SCRATCH/clean.json" | grep -q '"actual":"6"' ||
    fail "clean: SIG_FOREIGN does not count 6 signatures"
st=$($FIND "$SCRATCH/clean.json" --status | tr '\n' ' ')
[ "$st" = "CM100001.2 validated 2384 Content_0f3c6a2e-7d1b-4c55-9a8e-2b6f4d9c1e07.1 validated 2384 " ] ||
    fail "clean: statuses: $st"
expect_rc 0 "$CMHASH" verify --lib "$L" --deep --quiet &&
    ok "--deep leaves foreign signatures alone"

# one corrupted file
H=$(sha256sum "$S/one/Sub Dir/data.cab" | cut -d' ' -f1 | tr a-f A-F)
flip_byte "$L/FileLib/${H:0:4}/$H" 5000
expect_rc 1 "$CMHASH" verify --lib "$L" --json="$SCRATCH/bad.json" &&
    ok "corrupted file: exit 1"
got=$($FIND "$SCRATCH/bad.json" | grep -v '^SIG_FOREIGN ')
[ "$got" = "FILE_HASH_MISMATCH FileLib/${H:0:4}/$H" ] ||
    fail "corrupted: findings: $got"
st=$($FIND "$SCRATCH/bad.json" --status | tr '\n' ' ')
[ "$st" = "CM100001.2 hash_invalid 2382 Content_0f3c6a2e-7d1b-4c55-9a8e-2b6f4d9c1e07.1 validated 2384 " ] ||
    fail "corrupted: statuses: $st"
# only the package asked for
expect_rc 0 "$CMHASH" verify --lib "$L" --quiet CM100002 &&
    ok "the other package alone is clean"

# lower-case hex is accepted with a warning (section 9)
cp -a "$L" "$SCRATCH/lower"
python3 - "$SCRATCH/lower/DataLib/CM100001.2/ab.txt.INI" <<'PY'
import sys
p = sys.argv[1]
t = open(p, "rb").read()[2:].decode("utf-16-le")
k = t.index("Hash=") + 5
t = t[:k] + t[k:k + 64].lower() + t[k + 64:]
open(p, "wb").write(b"\xff\xfe" + t.encode("utf-16-le"))
PY
rm "$SCRATCH/lower/FileLib/${H:0:4}/$H"
cp "$S/one/Sub Dir/data.cab" "$SCRATCH/lower/FileLib/${H:0:4}/$H"
expect_rc 1 "$CMHASH" verify --lib "$SCRATCH/lower" \
    --json="$SCRATCH/lower.json" || true
got=$($FIND "$SCRATCH/lower.json" | grep -v '^SIG_FOREIGN ')
[ "$got" = "INI_NONCANONICAL DataLib/CM100001.2/ab.txt.INI" ] ||
    fail "lower-case hex: findings: $got"
expect_rc 0 "$CMHASH" verify --lib "$SCRATCH/lower" --fail-on error \
    --quiet && ok "lower-case hex: only a warning (--fail-on error: 0)"
finish
