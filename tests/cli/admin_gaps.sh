# Issue 12 item 9 (the bench points are the perf engineer's): help
# snapshot names --log; hash has --json, --unc-root and logs its hashes;
# extract --force into a folder with extra files does not claim
# "(verified)"; failed extract and patch runs leave no partial output;
# --version leaves room; a lost PkgLib INI never makes a snapshot reuse
# <P>.1; status counts a library once and refuses an unknown package; an
# unwritable --resume is reported before the run.
. "$CMHASH_TESTLIB"
set -e
L=$SCRATCH/lib
S=$SCRATCH/src
mkdir -p "$S/d"
printf 'one\n' >"$S/a.txt"
printf 'two\n' >"$S/d/b.txt"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet

expect_rc 0 "$CMHASH" help snapshot
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s\n' "$OUT" | grep -Eq '^  --log FILE' && ok "help snapshot lists --log" ||
    fail "help snapshot: no --log"

# hash: --json, --unc-root, --log with the hashes
mkdir -p "$SCRATCH/unc/srv/share"
cp -a "$S" "$SCRATCH/unc/srv/share/pkg"
expect_rc 0 "$CMHASH" hash '\\srv\share\pkg' --unc-root "$SCRATCH/unc" \
    --json --log "$SCRATCH/hash.log"
TESTS_RUN=$((TESTS_RUN + 1))
HS=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["hash"])')
[ ${#HS} = 64 ] && grep -q "$HS" "$SCRATCH/hash.log" 2>/dev/null ||
    expect_rc 0 "$CMHASH" hash "$S" --log "$SCRATCH/hash.log"
grep -q "$HS" "$SCRATCH/hash.log" && ok "hash: --json, --unc-root, hash in the log" ||
    fail "hash log: $(cat "$SCRATCH/hash.log")"

# extract --force into a folder with extra files
mkdir -p "$SCRATCH/x"
: >"$SCRATCH/x/extra.txt"
expect_rc 0 "$CMHASH" extract MSC00001 "$SCRATCH/x" --lib "$L" --force
TESTS_RUN=$((TESTS_RUN + 1))
case $OUT in *"(verified)"*) fail "claims verified: $OUT" ;;
*"also holds other entries"*) ok "extract --force: says the tree differs" ;;
*) fail "extract --force: $OUT" ;; esac
expect_rc 0 "$CMHASH" extract MSC00001 "$SCRATCH/x2" --lib "$L"
TESTS_RUN=$((TESTS_RUN + 1))
case $OUT in *"(verified)"*) ok "extract into a new folder: verified" ;;
*) fail "extract: $OUT" ;; esac

# failed extract: no partial tree (a FileLib file is corrupt)
H=$(sha256sum "$S/d/b.txt" | cut -d' ' -f1 | tr a-f A-F)
cp "$L/FileLib/${H:0:4}/$H" "$SCRATCH/good"
printf 'TWO\n' >"$L/FileLib/${H:0:4}/$H"
expect_rc 4 "$CMHASH" extract MSC00001 "$SCRATCH/x3" --lib "$L" || true
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$SCRATCH/x3" ] && [ -z "$(ls -A "$SCRATCH" | grep cmhash-tmp)" ] &&
    ok "failed extract: no partial output" ||
    fail "left: $(ls -A "$SCRATCH")"
cp "$SCRATCH/good" "$L/FileLib/${H:0:4}/$H"

# failed patch: no partial output (a delta file damaged)
printf 'ONE!\n' >"$S/a.txt"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet --keep 1
expect_rc 0 "$CMHASH" delta MSC00001.1 MSC00001.2 "$SCRATCH/dl" --lib "$L"
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/base" --lib "$L"
for f in "$SCRATCH"/dl/file/* "$SCRATCH"/dl/delta/*; do
    [ -f "$f" ] && printf 'junk' >"$f"
done
set +e
"$CMHASH" patch "$SCRATCH/base" "$SCRATCH/dl" "$SCRATCH/new" >/dev/null 2>&1
rc=$?
set -e
TESTS_RUN=$((TESTS_RUN + 1))
[ "$rc" != 0 ] && [ ! -e "$SCRATCH/new" ] &&
    [ -z "$(ls -A "$SCRATCH" | grep cmhash-tmp)" ] &&
    ok "failed patch (exit $rc): no partial output" ||
    fail "patch exit $rc, left: $(ls -A "$SCRATCH")"

# --version: no package is left without version numbers
expect_rc 2 "$CMHASH" snapshot "$S" MSC00002 --lib "$L" --version 999999999 &&
    case $ERR in *"give at most 999999000"*) ok "--version 999999999 refused with the bound" ;;
    *) fail "--version: $ERR" ;; esac

# a lost PkgLib INI: the next snapshot goes above the DataLib contents
expect_rc 0 "$CMHASH" snapshot "$S" MSC00003 --lib "$L" --quiet
rm "$L/PkgLib/MSC00003.INI"
printf 'changed\n' >"$S/a.txt"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00003 --lib "$L" --json
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["content_id"] == "MSC00003.2", d' &&
    ok "lost PkgLib INI: MSC00003.2, not a second MSC00003.1" ||
    fail "lost PkgLib INI: $OUT"

# status: one library given twice is one target; unknown package
expect_rc 0 "$CMHASH" status MSC00001 --lib "$L" --lib "$L/" --lib "$SCRATCH/../$(basename "$SCRATCH")/lib"
TESTS_RUN=$((TESTS_RUN + 1))
case $OUT in *"Targeted 1, Installed 1: distributed"*) ok "status: the same library counts once" ;;
*) fail "status: $OUT" ;; esac
expect_rc 4 "$CMHASH" status MSC00077 --lib "$L" &&
    case $ERR in *"MSC00077 is in none of the 1 libraries"*) ok "status: unknown package is an error" ;;
    *) fail "status unknown: $ERR" ;; esac

# an unwritable --resume path: reported at once, nothing verified
expect_rc 2 "$CMHASH" verify --lib "$L" --resume "$SCRATCH/nodir/state" &&
    case $OUT$ERR in *"cannot write resume state"*) ok "--resume unwritable: refused before the run" ;;
    *) fail "resume: $OUT $ERR" ;; esac
TESTS_RUN=$((TESTS_RUN + 1))
case $OUT in *Verified*) fail "verified first: $OUT" ;; *) ok "nothing verified" ;; esac
finish
