# cmhash verify: corruption matrix (issue 3, acceptance 1). A clean library
# of four packages sharing files; each fault injected alone into a copy;
# verify must report exactly the expected codes at the expected paths and
# exit 1. The clean library reports nothing and exits 0.
. "$CMHASH_TESTLIB"
set -e
FIND="python3 $(dirname "$CMHASH_TESTLIB")/../fixtures/verify/findings.py"

hexof() { sha256sum "$1" | cut -d' ' -f1 | tr a-f A-F; }
# deterministic pseudo-random bytes: gen SEED SIZE
gen() { python3 -c "import random,sys; r=random.Random($1); \
sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($2)))"; }

S=$SCRATCH/src
mkdir -p "$S/s1/sub" "$S/s2/d" "$S/s3" "$S/s4"
echo alpha >"$S/s1/a.txt"
gen 1 3000 >"$S/s1/sub/b.bin"
gen 2 5000 >"$S/common.dat"
cp "$S/common.dat" "$S/s1/common.dat"
cp "$S/common.dat" "$S/s2/copy.dat"
cp "$S/common.dat" "$S/s3/common.dat"
echo charlie >"$S/s2/c.txt"
echo echo >"$S/s2/d/e.txt"
gen 3 3000 >"$S/s2/g.bin"      # same size as b.bin
echo fox >"$S/s3/f.txt"
echo only-in-four >"$S/s4/h.txt"
CLEAN=$SCRATCH/clean
for i in 1 2 3; do
    "$CMHASH" snapshot "$S/s$i" MSC0000$i --lib "$CLEAN" --no-fsync \
        --quiet >/dev/null
done
A=$(hexof "$S/s1/a.txt")
B=$(hexof "$S/s1/sub/b.bin")
C=$(hexof "$S/common.dat")
G=$(hexof "$S/s2/g.bin")
fl() { echo "FileLib/${1:0:4}/$1${2:-}"; }

# run_case NAME [verify options] -- EXPECTED LINES (one "CODE path" each)
# The library for the case is $L (set up by the caller).
check() {
    local name=$1 want_rc=$2 opts=$3
    shift 3
    TESTS_RUN=$((TESTS_RUN + 1))
    set +e
    # shellcheck disable=SC2086
    "$CMHASH" verify --lib "$L" --threads 2 --quiet $opts \
        --json="$SCRATCH/$name.json" >"$SCRATCH/$name.out" 2>&1
    local rc=$?
    set -e
    local got want
    got=$($FIND "$SCRATCH/$name.json") || {
        fail "$name: bad JSON output"
        return
    }
    want=$(for l in "$@"; do echo "$l"; done | LC_ALL=C sort)
    got=$(echo "$got" | LC_ALL=C sort)
    if [ "$got" != "$want" ]; then
        fail "$name: findings differ"
        echo "  want:" >&2; echo "$want" | sed 's/^/    /' >&2
        echo "  got:" >&2; echo "$got" | sed 's/^/    /' >&2
        return
    fi
    if [ "$rc" != "$want_rc" ]; then
        fail "$name: exit $rc, expected $want_rc"
        cat "$SCRATCH/$name.out" >&2
        return
    fi
    ok "$name"
}

fresh() {
    L=$SCRATCH/lib-$1
    rm -rf "$L"
    cp -a "$CLEAN" "$L"
}

# --- clean ---
fresh clean
check clean 0 ""
check clean-deep 0 "--deep"
[ "$($FIND "$SCRATCH/clean-deep.json" --summary files_hashed)" = 7 ] ||
    fail "clean: expected 7 FileLib files hashed"
st=$($FIND "$SCRATCH/clean.json" --status)
[ "$st" = "MSC00001.1 validated 2384
MSC00002.1 validated 2384
MSC00003.1 validated 2384" ] || fail "clean: content statuses: $st"

# --- 1. bit flip inside a FileLib file ---
fresh flip
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); \
b[1234]^=4; open(p,'wb').write(b)" "$L/$(fl "$B")"
check flip 1 "" "FILE_HASH_MISMATCH $(fl "$B")"
st=$($FIND "$SCRATCH/flip.json" --status | grep MSC00001.1)
[ "$st" = "MSC00001.1 hash_invalid 2382" ] || fail "flip: status $st"

# --- 2. truncated FileLib file ---
fresh trunc
truncate -s 1000 "$L/$(fl "$B")"
check truncated 1 "" \
    "FILE_SIZE_MISMATCH DataLib/MSC00001.1/sub/b.bin.INI" \
    "FILE_HASH_MISMATCH $(fl "$B")"

# --- 3. FileLib file deleted ---
fresh deleted
rm "$L/$(fl "$C")"
check file-deleted 1 "" "FILE_MISSING $(fl "$C")"
st=$($FIND "$SCRATCH/file-deleted.json" --status | tr '\n' ' ')
[ "$st" = "MSC00001.1 failed 2383 MSC00002.1 failed 2383 MSC00003.1 failed 2383 " ] ||
    fail "file-deleted: statuses $st"

# --- 4. file INI deleted (a file shared with other packages) ---
fresh ini-deleted
rm "$L/DataLib/MSC00003.1/common.dat.INI"
check file-ini-deleted 1 "" \
    "CONTENT_HASH_MISMATCH DataLib/MSC00003.1.INI" \
    "SIG_HASH_MISMATCH DataLib/MSC00003.1.INI" \
    "REF_DANGLING $(fl "$C" .INI)"

# --- 5. file INI with a wrong Size ---
fresh size
sed -i 's/^Size=3000/Size=3001/' "$L/DataLib/MSC00001.1/sub/b.bin.INI"
check file-ini-size 1 "" "FILE_SIZE_MISMATCH DataLib/MSC00001.1/sub/b.bin.INI"

# --- 6. file INI with a different valid Hash ---
fresh hash
X=$(echo "not in the library" | sha256sum | cut -d' ' -f1 | tr a-f A-F)
sed -i "s/^Hash=.*/Hash=$X\r/" "$L/DataLib/MSC00001.1/a.txt.INI"
check file-ini-hash 1 "" \
    "CONTENT_HASH_MISMATCH DataLib/MSC00001.1.INI" \
    "FILE_MISSING $(fl "$X")" \
    "REF_DANGLING $(fl "$A" .INI)" \
    "ORPHAN_FILE $(fl "$A")"

# --- 7. content INI hash altered ---
fresh content
sed -i "s/^Hash=.*/Hash=$X\r/" "$L/DataLib/MSC00002.1.INI"
check content-hash 1 "" "CONTENT_HASH_MISMATCH DataLib/MSC00002.1.INI"

# --- 8. PkgLib pointing at a missing content ---
fresh pkg
sed -i 's/^MSC00002.1=/MSC00002.7=/' "$L/PkgLib/MSC00002.INI"
check pkg-missing-content 1 "" \
    "PKG_CONTENT_MISSING PkgLib/MSC00002.INI" \
    "ORPHAN_CONTENT DataLib/MSC00002.1"

# --- 9. FileLib INI missing a reference ---
fresh refmiss
sed -i '/^MSC00002.1=/d' "$L/$(fl "$C" .INI)"
check ref-missing 1 "" "REF_MISSING $(fl "$C" .INI)"
grep -q '"code":"REF_MISSING".*"content_id":"MSC00002.1"' \
    "$SCRATCH/ref-missing.json" || fail "ref-missing: content ID"

# --- 10. FileLib INI with a dangling reference ---
fresh dangling
printf 'MSC00009.1=\r\n' >>"$L/$(fl "$C" .INI)"
check ref-dangling 1 "" "REF_DANGLING $(fl "$C" .INI)"
grep -q '"code":"REF_DANGLING".*"content_id":"MSC00009.1"' \
    "$SCRATCH/ref-dangling.json" || fail "ref-dangling: content ID"

# --- 11. orphan FileLib triple ---
fresh orphanfile
echo "orphan bytes" >"$SCRATCH/orphan.bin"
O=$(hexof "$SCRATCH/orphan.bin")
mkdir -p "$L/FileLib/${O:0:4}"
cp "$SCRATCH/orphan.bin" "$L/$(fl "$O")"
"$CMHASH" hash --sig "$SCRATCH/orphan.bin" "$L/$(fl "$O" .SIG)"
printf '[File]\r\n' >"$L/$(fl "$O" .INI)"
check orphan-file 1 "" "ORPHAN_FILE $(fl "$O")"

# --- 12. orphan DataLib content ---
fresh orphancontent
"$CMHASH" snapshot "$S/s4" MSC00004 --lib "$L" --no-fsync --quiet >/dev/null
rm "$L/PkgLib/MSC00004.INI"
check orphan-content 1 "" "ORPHAN_CONTENT DataLib/MSC00004.1"

# --- 13. truncated .SIG ---
fresh sigtrunc
truncate -s 20 "$L/$(fl "$B" .SIG)"
check sig-truncated 1 "" "SIG_BAD $(fl "$B" .SIG)"
check sig-truncated-deep 1 "--deep" "SIG_BAD $(fl "$B" .SIG)"

# --- 14. .SIG of another file of the same size ---
fresh sigother
cp "$L/$(fl "$G" .SIG)" "$L/$(fl "$B" .SIG)"
check sig-other-deep 1 "--deep" \
    "SIG_BAD $(fl "$B" .SIG)" \
    "SIG_HASH_MISMATCH DataLib/MSC00001.1.INI"
check sig-other 1 "" "SIG_HASH_MISMATCH DataLib/MSC00001.1.INI"

# --- 15. a .cmhash-tmp- leftover ---
fresh tmp
echo partial >"$L/FileLib/.cmhash-tmp-4242-7"
touch -d '2 hours ago' "$L/FileLib/.cmhash-tmp-4242-7"
check tmp-leftover 1 "" "STRAY FileLib/.cmhash-tmp-4242-7"
python3 -c "
import json,sys
f=[json.loads(l) for l in open(sys.argv[1]) if '\"STRAY\"' in l][0]
assert 7000 < f['age_seconds'] < 7400, f" "$SCRATCH/tmp-leftover.json" ||
    fail "tmp-leftover: age_seconds"

# --- 16. crafted INIs with '..' in a content ID ---
mkdir -p "$SCRATCH/outside"
echo secret >"$SCRATCH/outside/MSC00001.1.INI"
fresh crafted-pkg
sed -i 's|^\[Packages\]\r$|[Packages]\r\n../../outside/MSC00001.1=\r|' \
    "$L/PkgLib/MSC00003.INI"
grep -q '^../../outside' "$L/PkgLib/MSC00003.INI" || fail "crafted-pkg setup"
check crafted-pkg 1 "" "PKG_INI_BAD PkgLib/MSC00003.INI"
fresh crafted-ref
printf '..\\..\\MSC00001.1=\r\n' >>"$L/$(fl "$C" .INI)"
check crafted-ref 1 "" "FILE_INI_BAD $(fl "$C" .INI)"
# the command line is validated too (usage error, nothing read)
L=$SCRATCH/lib-crafted-ref
expect_rc 2 "$CMHASH" verify --lib "$L" "../outside/MSC00001.1" &&
    ok "crafted ID on the command line refused"

# --- the same faults through package/content IDs ---
fresh ids
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); \
b[10]^=1; open(p,'wb').write(b)" "$L/$(fl "$C")"
check ids-package 1 "MSC00003" "FILE_HASH_MISMATCH $(fl "$C")"
check ids-content 1 "MSC00002.1" "FILE_HASH_MISMATCH $(fl "$C")"
rm "$L/$(fl "$C")"; cp "$S/common.dat" "$L/$(fl "$C")"
check ids-clean 0 "MSC00001.1 MSC00003"
expect_rc 4 "$CMHASH" verify --lib "$L" MSC00077 &&
    ok "unknown package ID: exit 4, as in ls/extract/diff"

# --- spanned library: an entry on a second FileLib root ---
fresh span
SPAN=$SCRATCH/span-drive
rm -rf "$SPAN"
mkdir -p "$SPAN/FileLib/${B:0:4}"
mv "$L/$(fl "$B")" "$L/$(fl "$B" .INI)" "$L/$(fl "$B" .SIG)" \
    "$SPAN/FileLib/${B:0:4}/"
check span-missing 1 "" "FILE_MISSING $(fl "$B")"
check span 0 "--filelib $SPAN"
check span-fl-dir 0 "--filelib $SPAN/FileLib --deep"
mkdir -p "$SPAN/FileLib/${O:0:4}"
cp "$SCRATCH/orphan.bin" "$SPAN/FileLib/${O:0:4}/$O"
check span-orphan 1 "--filelib $SPAN" \
    "ORPHAN_FILE $SPAN/FileLib/${O:0:4}/$O"
mkdir -p "$SPAN/FileLib/${A:0:4}"
cp "$L/$(fl "$A")" "$SPAN/FileLib/${A:0:4}/"   # also in the main root
check span-duplicate 1 "--filelib $SPAN" \
    "ORPHAN_FILE $SPAN/FileLib/${O:0:4}/$O" \
    "STRAY $SPAN/FileLib/${A:0:4}/$A"
# the finding names the used copy (expected) and its root (detail)
python3 - "$SCRATCH/span-duplicate.json" "$SPAN" "$A" "$L" <<'PY' &&
import json, sys
j, span, a, lib = sys.argv[1:]
f = [x for x in map(json.loads, open(j)) if x.get("code") == "STRAY"]
assert len(f) == 1, f
assert f[0]["actual"] == "duplicate", f[0]
assert f[0]["expected"] == "FileLib/%s/%s" % (a[:4], a), f[0]
assert f[0]["detail"] == ("duplicate of FileLib/%s/%s, the copy cmhash "
                          "uses (on FileLib)" % (a[:4], a)), f[0]
PY
    ok "span-duplicate: JSON names the used copy and its root" ||
    fail "span-duplicate: JSON finding"
# one folder under two names (the primary FileLib, the extra root again,
# its FileLib folder): one root each, never a duplicate of itself
check span-same-folder 1 "--filelib $SPAN --filelib $L --filelib $SPAN/FileLib \
--filelib $SPAN/" \
    "ORPHAN_FILE $SPAN/FileLib/${O:0:4}/$O" \
    "STRAY $SPAN/FileLib/${A:0:4}/$A"
# the used copy is the one commands use: the data on the first root, and
# the reference INI next to it (snapshot adds references there), so a
# second INI on the primary root is the duplicate, not the one by the data
cp "$SPAN/FileLib/${B:0:4}/$B.INI" "$L/$(fl "$B" .INI)"
check span-ini-by-data 1 "--filelib $SPAN" \
    "ORPHAN_FILE $SPAN/FileLib/${O:0:4}/$O" \
    "STRAY $SPAN/FileLib/${A:0:4}/$A" \
    "STRAY $(fl "$B" .INI)"
rm "$L/$(fl "$B" .INI)"
expect_rc 4 "$CMHASH" verify --lib "$L" --filelib "$SCRATCH/no-drive" &&
    ok "missing --filelib root: could not run"

# --- a package locked by a running snapshot: BUSY, skipped, not orphaned ---
# hold FILE: an exclusive flock on FILE, like a running snapshot (LOCKER)
hold() {
    flock -o -x "$1" sleep 60 &
    LOCKER=$!
    for _ in $(seq 100); do
        flock -n "$1" true 2>/dev/null || break
        sleep 0.05
    done
}
fresh busy
rm "$L/.cmhash/MSC00002.lock"
hold "$L/.cmhash/MSC00001.lock"
check busy 0 "" "BUSY .cmhash/MSC00001.lock"
kill "$LOCKER"
wait "$LOCKER" 2>/dev/null || true
st=$($FIND "$SCRATCH/busy.json" --status | grep MSC00001.1)
[ "$st" = "MSC00001.1 skipped None" ] || fail "busy: status $st"
[ ! -e "$L/.cmhash/MSC00002.lock" ] ||
    fail "busy: verify created .cmhash/MSC00002.lock"
# an earlier cmhash version's lock in PkgLib is honoured as well, and it is
# not STRAY
fresh busylegacy
hold "$L/PkgLib/MSC00001.lock"
check busylegacy 0 "" "BUSY .cmhash/MSC00001.lock"
kill "$LOCKER"
wait "$LOCKER" 2>/dev/null || true

# --- library missing / not a library: could not run ---
expect_rc 4 "$CMHASH" verify --lib "$SCRATCH/nope" && ok "missing library"
expect_rc 4 "$CMHASH" verify --lib "$S" && ok "not a library"
fresh layout
rm -rf "$L/FileLib"
check lib-layout 1 "" "LIB_LAYOUT FileLib"

finish
