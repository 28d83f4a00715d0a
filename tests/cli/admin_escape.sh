# Issue 11 item 15 (first part): names crafted with control characters
# (ESC, LF, CR, BEL) never reach the terminal or the CMTrace log raw: every
# human output (extract, ls --long, diff, verify, errors) and the log show
# them escaped as \xHH (one helper, cli_put_safe).
. "$CMHASH_TESTLIB"
set -e
L=$SCRATCH/lib
S=$SCRATCH/src
mkdir -p "$S"
printf 'one\n' >"$S/plain.txt"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$L" --quiet
# a crafted mirror entry: ESC [31m, a line feed and BEL in the name
EVIL=$(printf 'ev\033[31mil\nline\a.txt')
mv "$L/DataLib/MSC00001.1/plain.txt.INI" "$L/DataLib/MSC00001.1/$EVIL.INI"
# and a stray FileLib file with such a name
: >"$L/FileLib/$(printf 'stray\033]0;title\a')"

raw() { # NAME FILE: no ESC, BEL or CR byte, and a \x1B escape present
    TESTS_RUN=$((TESTS_RUN + 1))
    if python3 - "$2" <<'PY'; then ok "$1: escaped"; else fail "$1: raw control bytes: $(cat -v "$2" | head -c 400)"; fi
import sys
t = open(sys.argv[1], "rb").read()
assert not any(b in t for b in (b"\x1b", b"\x07", b"\r")), t[:200]
assert b"\\x1B" in t, t[:300]
PY
}
"$CMHASH" ls MSC00001 --lib "$L" --long --log "$SCRATCH/ls.log" >"$SCRATCH/ls.out" 2>&1 || true
raw "ls --long" "$SCRATCH/ls.out"
"$CMHASH" diff MSC00001 "$S" --lib "$L" --log "$SCRATCH/diff.log" >"$SCRATCH/diff.out" 2>&1 || true
raw "diff" "$SCRATCH/diff.out"
"$CMHASH" verify --lib "$L" --log "$SCRATCH/verify.log" >"$SCRATCH/verify.out" 2>&1 || true
raw "verify" "$SCRATCH/verify.out"
"$CMHASH" extract MSC00001 "$SCRATCH/out" --lib "$L" --log "$SCRATCH/extract.log" \
    >"$SCRATCH/extract.out" 2>&1 || true
raw "extract (error naming the entry)" "$SCRATCH/extract.out"
for f in ls diff verify extract; do raw "CMTrace log of $f" "$SCRATCH/$f.log"; done
# the line feed is escaped too: each finding stays one line
TESTS_RUN=$((TESTS_RUN + 1))
grep -q 'ev\\x1B\[31mil\\x0Aline\\x07.txt' "$SCRATCH/diff.out" &&
    ok "LF and BEL escaped in place (\\x0A, \\x07)" ||
    fail "diff: $(cat "$SCRATCH/diff.out")"
finish
