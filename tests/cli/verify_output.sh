# cmhash verify output (issue 3, acceptance 5): --json is JSON Lines (every
# line parsed; one object per finding and per content, then a summary that
# adds up), --log writes CMTrace lines (format checked by regex) with the
# findings, per-content status messages 2384/2382/2383 and types 1/2/3.
. "$CMHASH_TESTLIB"
set -e
FX=$(dirname "$CMHASH_TESTLIB")/../fixtures/verify

S=$SCRATCH/src
mkdir -p "$S/p1" "$S/p2" "$S/p3"
echo one >"$S/p1/one.txt"
head -c 4000 /dev/urandom >"$S/p2/two.bin"
echo 'quote " and \ backslash' >"$S/p3/three.txt"
L=$SCRATCH/lib
for i in 1 2 3; do
    "$CMHASH" snapshot "$S/p$i" MSC0000$i --lib "$L" --no-fsync --quiet \
        >/dev/null
done
H=$(sha256sum "$S/p2/two.bin" | cut -d' ' -f1 | tr a-f A-F)
flip_byte "$L/FileLib/${H:0:4}/$H" 10 # error: 2382
H3=$(sha256sum "$S/p3/three.txt" | cut -d' ' -f1 | tr a-f A-F)
rm "$L/FileLib/${H3:0:4}/$H3"                     # error: 2383
# a name that needs JSON escaping (quote, backslash, control character)
printf 'x' >"$L/FileLib/stray \"q\" \\ $(printf '\001')"   # warning

expect_rc 1 "$CMHASH" verify --lib "$L" --json="$SCRATCH/v.json" \
    --log "$SCRATCH/v.log" && ok "exit 1 with findings"

# JSON Lines: every line parses, types and severities are right
python3 - "$SCRATCH/v.json" <<'PY' && ok "JSON Lines parse" || fail "JSON"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
kinds = [o["type"] for o in objs]
assert kinds[-1] == "summary" and kinds.count("summary") == 1, kinds
f = {o["code"]: o for o in objs if o["type"] == "finding"}
assert set(f) == {"FILE_HASH_MISMATCH", "FILE_MISSING", "STRAY"}, set(f)
assert f["FILE_HASH_MISMATCH"]["severity"] == "error"
assert f["FILE_HASH_MISMATCH"]["content_id"] == "MSC00002.1"
assert len(f["FILE_HASH_MISMATCH"]["expected"]) == 64
assert f["STRAY"]["path"] == 'FileLib/stray "q" \\ \x01', f["STRAY"]["path"]
c = {o["content_id"]: o for o in objs if o["type"] == "content"}
assert (c["MSC00001.1"]["status_id"], c["MSC00002.1"]["status_id"],
        c["MSC00003.1"]["status_id"]) == (2384, 2382, 2383), c
assert c["MSC00002.1"]["status"] == "hash_invalid"
s = objs[-1]
assert s["counts"] == {"FILE_HASH_MISMATCH": 1, "FILE_MISSING": 1,
                       "STRAY": 1}, s["counts"]
assert (s["errors"], s["warnings"], s["infos"]) == (2, 1, 0)
assert s["complete"] is True and s["partial"] is False
assert s["subset"] == "1/1" and s["exit_code"] == 1
assert s["files_hashed"] == 2 and s["contents"] == 3, s
assert s["bytes"] == 8004, s["bytes"]  # 4 + 4000, read twice (mismatch)
PY
python3 "$FX/findings.py" "$SCRATCH/v.json" >/dev/null ||
    fail "findings.py rejects the output"

# --json : stdout is JSON only
"$CMHASH" verify --lib "$L" --json >"$SCRATCH/stdout.json" \
    2>"$SCRATCH/stderr.txt" || true
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" \
    "$SCRATCH/stdout.json" && ok "--json keeps stdout pure JSON" ||
    fail "--json -: stdout is not JSON Lines"
grep -q '^Findings: 2 errors, 1 warnings' "$SCRATCH/stderr.txt" ||
    fail "--json -: summary not on stderr"

# CMTrace: every line matches the format
python3 - "$SCRATCH/v.log" <<'PY' && ok "CMTrace format" || fail "CMTrace"
import re, sys
rx = re.compile(r'^<!\[LOG\[(.*)\]LOG\]!><time="(\d\d):(\d\d):(\d\d)\.\d{3}'
                r'\+000" date="(\d\d)-(\d\d)-(\d{4})" component="cmhash" '
                r'context="" type="([123])" thread="\d+" file="">$')
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
assert lines[-1] == ""
types = {}
for l in lines[:-1]:
    m = rx.match(l)
    assert m, "bad line: %r" % l
    assert int(m.group(2)) < 24 and 1 <= int(m.group(5)) <= 12, l
    types[m.group(1)] = m.group(8)
def find(sub):
    k = [m for m in types if sub in m]
    assert len(k) == 1, (sub, k)
    return types[k[0]]
assert find("FILE_HASH_MISMATCH:") == "3"
assert find("FILE_MISSING:") == "3"
assert find("STRAY:") == "2"
assert find("status message 2384") == "1"
assert find("status message 2382") == "3"
assert find("status message 2383") == "3"
PY

# exit codes: --fail-on error ignores warnings; clean = 0
rm -f "$L/FileLib/stray"*
cp "$S/p2/two.bin" "$L/FileLib/${H:0:4}/$H"
cp "$S/p3/three.txt" "$L/FileLib/${H3:0:4}/$H3"
touch "$L/FileLib/junk"
expect_rc 1 "$CMHASH" verify --lib "$L" --quiet && ok "warning: exit 1"
expect_rc 0 "$CMHASH" verify --lib "$L" --quiet --fail-on error &&
    ok "--fail-on error: warnings do not count"
rm "$L/FileLib/junk"
expect_rc 0 "$CMHASH" verify --lib "$L" && ok "clean: exit 0"
echo "$OUT" | grep -q '^Findings: 0 errors, 0 warnings, 0 info' ||
    fail "human summary"
expect_rc 2 "$CMHASH" verify --lib "$L" --max-time 5x && ok "bad duration"
expect_rc 2 "$CMHASH" verify --lib "$L" --bogus && ok "bad option"
# an unreadable file is never exit 0, even with --fail-on error
if [ "$(id -u)" != 0 ]; then
    chmod 000 "$L/FileLib/${H:0:4}/$H"
    expect_rc 1 "$CMHASH" verify --lib "$L" --quiet --fail-on error &&
        ok "unreadable file: exit 1"
    chmod 644 "$L/FileLib/${H:0:4}/$H"
fi
finish
