# Issue 12 item 5: commands agree. One definition of "changed" (diff and
# snapshot --if-changed); hash refuses what snapshot refuses; an unknown
# package is exit 4 everywhere; ls STORED totals include kept versions;
# verify's advice matches what gc does.
. "$CMHASH_TESTLIB"
set -e
L=$SCRATCH/lib
S=$SCRATCH/src
mkdir -p "$S/d"
printf 'one\n' >"$S/a.txt"
printf 'two\n' >"$S/d/b.txt"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet

# metadata only: diff and --if-changed agree (unchanged, exit 0)
touch -d '2001-02-03' "$S/a.txt"
chmod 444 "$S/d/b.txt"
expect_rc 0 "$CMHASH" diff MSC00001 "$S" --lib "$L" &&
    case $OUT in *"metadata  a.txt"*"Same content, metadata differs"*) ok "diff: metadata listed, exit 0" ;;
    *) fail "diff output: $OUT" ;; esac
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --if-changed --json
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s' "$OUT" | python3 -c 'import json,sys; assert json.load(sys.stdin)["unchanged"] is True' &&
    ok "--if-changed: unchanged too" || fail "if-changed: $OUT"
# bytes changed: both say changed
printf 'ONE\n' >"$S/a.txt"
expect_rc 1 "$CMHASH" diff MSC00001 "$S" --lib "$L" && ok "diff: bytes changed, exit 1"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --if-changed --json
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["unchanged"] is False and d["version"] == 2' &&
    ok "--if-changed: writes version 2" || fail "if-changed: $OUT"

# hash applies snapshot's rules
H=$SCRATCH/h
mkdir -p "$H"
: >"$H/Readme.txt"
: >"$H/README.TXT"
expect_rc 3 "$CMHASH" hash "$H" &&
    case $ERR in *"differs only in case"*"a snapshot would refuse this folder"*) ok "hash: case collision refused" ;;
    *) fail "hash case: $ERR" ;; esac
rm "$H/README.TXT"
ln -s Readme.txt "$H/link"
expect_rc 3 "$CMHASH" hash "$H" &&
    case $ERR in *"symbolic link"*) ok "hash: symbolic link refused" ;;
    *) fail "hash link: $ERR" ;; esac
expect_rc 3 "$CMHASH" snapshot "$H" MSC00009 --lib "$L" && ok "snapshot refuses it too"
rm "$H/link"
expect_rc 0 "$CMHASH" hash "$H" && ok "a clean folder hashes"

# an unknown package: exit 4 in every command
for c in "verify MSC00099" "ls MSC00099" "extract MSC00099 $SCRATCH/x" \
    "diff MSC00099 MSC00001" "delta MSC00099 MSC00001 $SCRATCH/dd" \
    "status MSC00099"; do
    # shellcheck disable=SC2086
    expect_rc 4 "$CMHASH" $c --lib "$L" && ok "unknown package: exit 4 in ${c%% *}"
done

# ls: STORED totals include kept versions
K=$SCRATCH/k
mkdir -p "$K"
head -c 1000 /dev/zero | tr '\0' 'a' >"$K/f"
expect_rc 0 "$CMHASH" snapshot "$K" MSC00002 --lib "$L" --quiet
head -c 2000 /dev/zero | tr '\0' 'b' >"$K/f"
expect_rc 0 "$CMHASH" snapshot "$K" MSC00002 --lib "$L" --quiet --keep 1
expect_rc 0 "$CMHASH" ls MSC00002 --lib "$L" --json
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = d["packages"][0]
assert p["kept"] == ["MSC00002.1"], p
assert p["stored_bytes"] == 3000 and p["distinct_files"] == 2, p
assert d["total"]["stored_bytes"] == 3000 and d["total"]["bytes"] == 3000, d
' && ok "ls: stored bytes count the kept version" || fail "ls: $OUT"

# verify's advice is what gc does: gc lists (dry run), gc --apply removes
printf 'orphan\n' >"$SCRATCH/o"
OH=$(sha256sum "$SCRATCH/o" | cut -d' ' -f1 | tr a-f A-F)
mkdir -p "$L/FileLib/${OH:0:4}"
cp "$SCRATCH/o" "$L/FileLib/${OH:0:4}/$OH"
expect_rc 1 "$CMHASH" verify --lib "$L" || true
TESTS_RUN=$((TESTS_RUN + 1))
case $OUT in *"ORPHAN_FILE"*"cmhash gc --apply removes it"*) ok "verify: 'gc --apply removes it'" ;;
*) fail "verify advice: $OUT" ;; esac
expect_rc 0 "$CMHASH" gc --lib "$L"
TESTS_RUN=$((TESTS_RUN + 1))
[ -f "$L/FileLib/${OH:0:4}/$OH" ] && ok "gc without --apply keeps it" || fail "dry run deleted"
expect_rc 0 "$CMHASH" gc --lib "$L" --apply
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$L/FileLib/${OH:0:4}/$OH" ] && ok "gc --apply removes it" || fail "gc --apply kept it"
finish
