#!/bin/bash
# gc works on typed items (issue 10 item 7): every item says what it is on
# disk ("what": content, mirror, filelib-entry, temp) and carries its
# content ID or FileLib hash, in text and JSON; the dry run lists the
# FileLib entries an orphan content's removal frees (kind content-file,
# naming that content), and --apply removes exactly what the dry run
# listed - the same paths, no more, no less.
. "$CMHASH_TESTLIB"
set -e
LIB=$SCRATCH/lib
mkdir -p "$SCRATCH/a" "$SCRATCH/b/sub"
printf 'shared' >"$SCRATCH/a/shared.txt"
printf 'only a' >"$SCRATCH/a/a.txt"
printf 'shared' >"$SCRATCH/b/shared.txt"
printf 'only b, one' >"$SCRATCH/b/b1.txt"
printf 'only b, two' >"$SCRATCH/b/sub/b2.txt"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/a" MSC00001 --lib "$LIB" --no-fsync --quiet
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/b" MSC00002 --lib "$LIB" --no-fsync --quiet
hx() { printf '%s' "$1" | sha256sum | cut -d' ' -f1 | tr a-f A-F; }
fl() { local h; h=$(hx "$1"); echo "FileLib/${h:0:4}/$h"; }
B1=$(hx 'only b, one')
B2=$(hx 'only b, two')
# MSC00002.1 becomes an orphan content: its two own entries are freed with
# it, the shared one is not
rm "$LIB/PkgLib/MSC00002.INI"
# an old temp mirror left in DataLib by a dead snapshot (a folder)
mkdir -p "$LIB/DataLib/.cmhash-tmp-1-MSC00003.1/d"
printf 'x' >"$LIB/DataLib/.cmhash-tmp-1-MSC00003.1/d/f.txt.INI"
touch -d '3 days ago' "$LIB/DataLib/.cmhash-tmp-1-MSC00003.1"

expect_rc 0 "$CMHASH" gc --lib "$LIB" --json --min-age 1h
printf '%s\n' "$OUT" >"$SCRATCH/dry.json"
if python3 - "$SCRATCH/dry.json" "$B1" "$B2" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
b1, b2 = sys.argv[2], sys.argv[3]
items = {(i["kind"], i["path"]): i for i in d["list"]}
c = items[("orphan-content", "DataLib/MSC00002.1")]
assert c["what"] == "content" and c["content_id"] == "MSC00002.1" and c["hash"] == "", c
for h in (b1, b2):
    f = items[("content-file", "FileLib/%s/%s" % (h[:4], h))]
    assert f["what"] == "filelib-entry" and f["hash"] == h, f
    assert f["content_id"] == "MSC00002.1" and f["bytes"] > 11, f
    assert not f["removed"], f
t = items[("temporary", "DataLib/.cmhash-tmp-1-MSC00003.1")]
assert t["what"] == "mirror" and t["bytes"] == 1, t
assert len(d["list"]) == 4, d["list"]
assert d["items"] == 4 and d["bytes"] == sum(i["bytes"] for i in d["list"]), d
PY
    ok "dry run: typed items (what, content ID, hash), the content's 2 entries listed"
else
    fail "dry run JSON: $OUT"
fi
expect_rc 0 "$CMHASH" gc --lib "$LIB" --min-age 1h
echo "$OUT" | grep -q "^would remove  *content-file  *$(fl 'only b, one') (filelib-entry, [0-9]* bytes, freed with MSC00002.1)$" &&
    echo "$OUT" | grep -q "^would remove  *temporary  *DataLib/.cmhash-tmp-1-MSC00003.1 (mirror, 1 bytes)$" &&
    ok "text: kind, path, what and the freeing content" || fail "text: $OUT"

expect_rc 0 "$CMHASH" gc --lib "$LIB" --json --min-age 1h --apply
printf '%s\n' "$OUT" >"$SCRATCH/apply.json"
if python3 - "$SCRATCH/dry.json" "$SCRATCH/apply.json" <<'PY'; then
import json, sys
dry = json.load(open(sys.argv[1]))
app = json.load(open(sys.argv[2]))
want = sorted((i["kind"], i["path"]) for i in dry["list"])
got = sorted((i["kind"], i["path"]) for i in app["list"] if i["removed"])
assert got == want, (got, want)
assert all(i["removed"] for i in app["list"]), app["list"]
PY
    ok "--apply removed exactly the dry run's items"
else
    fail "apply differs from the dry run: $OUT"
fi
for h in "$B1" "$B2"; do
    [ ! -e "$LIB/FileLib/${h:0:4}/$h" ] && [ ! -e "$LIB/FileLib/${h:0:4}/$h.INI" ] ||
        fail "entry $h left"
done
[ -e "$LIB/$(fl shared)" ] || fail "the shared entry was removed"
expect_rc 0 "$CMHASH" verify --lib "$LIB" --quiet && ok "verify clean after gc"
expect_rc 0 "$CMHASH" gc --lib "$LIB" --min-age 1h
echo "$OUT" | grep -q '^0 items' && ok "nothing left to collect" || fail "second gc: $OUT"
finish
