# Issue 12 item 4: one --json grammar. A bare --json prints to stdout and
# never swallows the next argument; --json=FILE writes the same JSON to
# FILE in every command; field names agree across commands; paths are
# absolute; a failing command with --json still prints a JSON error object.
. "$CMHASH_TESTLIB"
set -e
S=$SCRATCH/src
mkdir -p "$S/sub"
printf 'one\n' >"$S/a.txt"
printf 'two\n' >"$S/sub/b.txt"
cd "$SCRATCH"   # relative --lib: the JSON must still show absolute paths
expect_rc 0 "$CMHASH" snapshot src MSC00001 --lib lib --quiet

# verify --json ID: JSON to stdout, only MSC00101 (unknown) verified, no
# file named MSC00101
expect_rc 4 "$CMHASH" verify --json MSC00101 --lib lib || true
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e MSC00101 ] && ok "verify --json MSC00101 writes no file MSC00101" ||
    fail "verify --json MSC00101 wrote a file MSC00101"
json_last() { printf '%s\n' "$OUT" | tail -n 1; }
TESTS_RUN=$((TESTS_RUN + 1))
json_last | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["exit_code"] == 4 and "MSC00101" in d["error"], d
' && ok "verify --json MSC00101: JSON error naming the package" ||
    fail "verify --json MSC00101: $OUT"

# --json=FILE in every command: FILE holds the JSON, stdout is empty
check_file() { # NAME FILE PYTHON-ASSERTS
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ -n "$OUT" ]; then
        fail "$1 --json=FILE: stdout not empty: $OUT"
        return
    fi
    python3 - "$2" "$3" <<'PY' && ok "$1 --json=FILE" || fail "$1: $(cat "$2")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
d = lines[-1]
exec(sys.argv[2])
PY
}
expect_rc 0 "$CMHASH" snapshot src MSC00001 --lib lib --if-changed \
    --json=snap.json
check_file snapshot snap.json '
assert d["package_id"] == "MSC00001" and "package" not in d, d
assert d["library"] == sys.argv[1].rsplit("/", 1)[0] + "/lib" or \
    d["library"].endswith("/lib") and d["library"].startswith("/"), d
assert d["source"].startswith("/") and d["source"].endswith("/src"), d'
expect_rc 0 "$CMHASH" ls --lib lib --long --json=ls.json
check_file ls ls.json '
p = d["packages"][0]
assert p["package_id"] == "MSC00001" and "package" not in p, p
f = p["file_list"][0]
assert set(f) >= {"attributes", "time_modified", "size", "hash", "path"}, f
assert "time" not in f
assert d["library"].startswith("/") and d["library"].endswith("/lib"), d'
expect_rc 0 "$CMHASH" extract MSC00001 out --lib lib --json=ex.json
check_file extract ex.json '
assert d["dest"].startswith("/") and d["dest"].endswith("/out"), d
assert d["library"].startswith("/"), d'
printf 'two!\n' >"$S/sub/b.txt"
touch -d '2001-01-01' "$S/a.txt"
expect_rc 1 "$CMHASH" diff MSC00001 src --lib lib --json=diff.json
check_file diff diff.json '
assert d["b"].startswith("/") and d["b"].endswith("/src"), d
e = {x["path"]: x for x in d["entries"]}
m = e["a.txt"]
for k in ("old_attributes", "new_attributes", "old_time_modified",
          "new_time_modified"):
    assert k in m, m
assert "old_attrs" not in m and "old_time" not in m, m'
expect_rc 0 "$CMHASH" gc --lib lib --json=gc.json
check_file gc gc.json 'assert d["library"].startswith("/"), d'
expect_rc 0 "$CMHASH" status MSC00001 --lib lib --json=st.json
check_file status st.json '
assert d["package_id"] == "MSC00001", d
assert d["libraries"][0]["library"].startswith("/"), d'
expect_rc 0 "$CMHASH" verify --lib lib --json=v.json
check_file verify v.json '
assert d["type"] == "summary" and d["library"].startswith("/"), d'
expect_rc 0 "$CMHASH" hash src/a.txt --json=h.json
check_file hash h.json '
i = d["items"][0]
assert i["path"].startswith("/") and len(i["hash"]) == 64, d'

# failures under --json: one JSON error object on stdout
fails() { # NAME RC ARGS...
    local name=$1 rc=$2
    shift 2
    expect_rc "$rc" "$CMHASH" "$@" || true
    TESTS_RUN=$((TESTS_RUN + 1))
    printf '%s\n' "$OUT" | tail -n 1 | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["exit_code"] == int(sys.argv[1]) and d["error"], d
' "$rc" && ok "$name: JSON error object" || fail "$name: stdout: $OUT"
}
fails "ls unknown option" 2 ls --lib lib --json --bogus
fails "extract missing DEST" 2 extract MSC00001 --lib lib --json
fails "extract unknown package" 4 extract MSC00999 out2 --lib lib --json
fails "diff missing folder" 3 diff src nowhere --json
fails "snapshot bad ID" 2 snapshot src NOTANID --lib lib --json
fails "hash missing file" 3 hash nowhere.txt --json
fails "verify bad --subset" 2 verify --lib lib --subset 9/2 --json
finish
