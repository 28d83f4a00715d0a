# Spanned library on Windows (contentlib.md 10): FileLib roots are also
# discovered as X:\SCCMContentLib\FileLib on the local fixed drives other
# than the primary library's. Under Wine a drive is a dosdevices link to a
# Unix folder: a spare letter is linked to a folder that holds
# SCCMContentLib/FileLib with one entry of a library, and cmhash.exe's ls,
# extract and verify must find it without --filelib. dosdevices is
# restored afterwards (the link removed, whatever happens). Wine's mount
# manager reads the drives when the prefix's wineserver starts, so the
# server is restarted after linking and after unlinking: run this only on
# a prefix of its own (scripts/test-windows.sh's), never on a shared one.
. "$CMHASH_TESTLIB"
set -e
: "${WINEPREFIX:?run by scripts/test-windows.sh (WINEPREFIX unset)}"
DD=$WINEPREFIX/dosdevices
[ -d "$DD" ] || { fail "no $DD"; exit 1; }
LETTER=
for l in q r s t u v w x y; do
    if [ ! -e "$DD/$l:" ] && [ ! -L "$DD/$l:" ]; then
        LETTER=$l
        break
    fi
done
[ -n "$LETTER" ] || { fail "no spare drive letter in $DD"; exit 1; }
DRIVE=$SCRATCH/drive
# restart the prefix's server (the drive list is read at its start);
# scripts/test-windows.sh keeps one server up for the run: so do we
wine_restart() {
    wineserver -k 2>/dev/null || true
    wineserver -w 2>/dev/null || true
    wineserver -p 60 2>/dev/null || true
}
trap 'rm -f "$DD/$LETTER:"; wine_restart' EXIT
S=$SCRATCH/src
mkdir -p "$S/sub"
printf 'on the primary drive\n' >"$S/a.txt"
head -c 70000 /dev/urandom >"$S/sub/far.bin"
L=$SCRATCH/lib
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --no-fsync --quiet &&
    ok "snapshot"
H=$(sha256sum "$S/sub/far.bin" | cut -d' ' -f1 | tr a-f A-F)
mkdir -p "$DRIVE/SCCMContentLib/FileLib/${H:0:4}"
mv "$L/FileLib/${H:0:4}/$H" "$L/FileLib/${H:0:4}/$H.INI" \
    "$L/FileLib/${H:0:4}/$H.SIG" "$DRIVE/SCCMContentLib/FileLib/${H:0:4}/"
# without the drive: the entry is missing
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet &&
    grep -q "FILE_MISSING" <<<"$OUT" && ok "no drive: FILE_MISSING"
ln -s "$DRIVE" "$DD/$LETTER:"
wine_restart
expect_rc 0 "$CMHASH" verify --lib "$L" --quiet &&
    ok "verify finds the entry on $LETTER: without --filelib"
# ls counts stored bytes across the roots: 70000 + 21 (3 without q:)
expect_rc 0 "$CMHASH" ls --lib "$L" MSC00001 --json &&
    grep -q '"stored_bytes":70021,' <<<"$OUT" &&
    ok "ls counts the entry on $LETTER: in stored_bytes (70021)" ||
    fail "ls: stored_bytes without the entry on $LETTER:: $OUT"
rm -rf "$SCRATCH/out"
expect_rc 0 "$CMHASH" extract MSC00001 "$SCRATCH/out" --lib "$L" --quiet &&
    ok "extract exits 0"
TESTS_RUN=$((TESTS_RUN + 1))
if cmp -s "$S/sub/far.bin" "$SCRATCH/out/sub/far.bin" &&
    cmp -s "$S/a.txt" "$SCRATCH/out/a.txt"; then
    ok "extract: the file on $LETTER: byte-identical"
else
    fail "extract: files differ or missing"
    ls -lR "$SCRATCH/out" >&2 || true
fi
# the same folder given explicitly too: one root (same folder identity),
# not a duplicate of itself. (Under Wine through the same letter: Wine
# gives Z:\tmp\... another volume serial than the drive linked to it.)
expect_rc 0 "$CMHASH" verify --lib "$L" --quiet \
    --filelib "$LETTER:\\SCCMContentLib" &&
    ok "explicit --filelib of the discovered folder: no STRAY duplicate"
# a copy also on the primary root: the one on $LETTER: is the STRAY one
cp "$DRIVE/SCCMContentLib/FileLib/${H:0:4}/$H" "$L/FileLib/${H:0:4}/$H"
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet --json
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s\n' "$OUT" >"$SCRATCH/dup.json"
if python3 - "$H" "${LETTER^^}" "$SCRATCH/dup.json" <<'PY'
import json, sys
h, letter, j = sys.argv[1:]
f = [x for x in map(json.loads, open(j)) if x.get("type") == "finding"]
assert [x["code"] for x in f] == ["STRAY"], f
assert f[0]["path"] == "%s:\\SCCMContentLib\\FileLib/%s/%s" % (letter, h[:4], h), f
assert f[0]["expected"] == "FileLib/%s/%s" % (h[:4], h), f
PY
then
    ok "a copy on the primary root: the one on $LETTER: is the STRAY duplicate"
else
    fail "STRAY duplicate on $LETTER: not reported as expected"
fi
rm -f "$DD/$LETTER:"
wine_restart
TESTS_RUN=$((TESTS_RUN + 1))
if [ ! -e "$DD/$LETTER:" ] && [ ! -L "$DD/$LETTER:" ]; then
    ok "dosdevices restored"
else
    fail "dosdevices $LETTER: left behind"
fi
finish
