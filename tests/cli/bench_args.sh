# cmhash bench (issue 12 item 9, issue 14): a missing or unwritable --dir is
# refused before any measurement; --threads 1 shows and measures 1 thread
# only (no "2 threads" column); the new lines (stage costs, predicted and
# measured single-file snapshot, cold verify) are there with their bound.
. "$CMHASH_TESTLIB"
set -e

# 1. a missing --dir: exit 2 at once, naming the path and the fix, and no
#    CPU test first (before the fix: "measuring CPU..." then exit 5)
expect_rc 2 "$CMHASH" bench --dir "$SCRATCH/missing" &&
    ok "missing --dir: exit 2"
TESTS_RUN=$((TESTS_RUN + 1))
echo "$ERR" | grep -q "$SCRATCH/missing: No such file or directory; give an existing folder" &&
    ! echo "$ERR" | grep -q "measuring" &&
    ok "missing --dir named before any measurement" ||
    fail "missing --dir: $ERR"
touch "$SCRATCH/afile"
expect_rc 2 "$CMHASH" bench --dir "$SCRATCH/afile" --json &&
    ok "--dir naming a file: exit 2"
TESTS_RUN=$((TESTS_RUN + 1))
echo "$ERR" | grep -q "afile: not a folder" &&
    echo "$OUT" | grep -q '"command":"bench".*"exit_code":2' &&
    ok "--dir naming a file: 'not a folder', JSON error object on stdout" || fail "file --dir: $ERR / $OUT"

# 2. --threads 1: one CPU column, and every measurement at 1 thread
D=$SCRATCH/bench
mkdir -p "$D"
SMALL=(--dir "$D" --cpu-mb 2 --read-mb 2 --file-mb 9 --corpus tiny
       --scale 0.002 --no-fsync)
expect_rc 0 "$CMHASH" bench --threads 1 "${SMALL[@]}" && ok "bench --threads 1"
TESTS_RUN=$((TESTS_RUN + 1))
head -1 <<<"$OUT" | grep -q "1 thread" && ! grep -q "2 threads" <<<"$OUT" &&
    ok "--threads 1: one CPU column, no '2 threads'" ||
    fail "--threads 1 output: $OUT"
TESTS_RUN=$((TESTS_RUN + 1))
grep -Eq "^  read [0-9.]+  SHA-256 [0-9.]+  signature [0-9.]+  store [0-9.]+$" <<<"$OUT" &&
    grep -q "predicted single-file snapshot, MB/s: 1 core " <<<"$OUT" &&
    grep -Eq "^Single-file snapshot \(9\.4 MB, warm, no fsync\), 1 thread: .* predicted [0-9]+; bound: (all cores|reading thread \(read \+ SHA-256\))$" <<<"$OUT" &&
    grep -Eq "^Cold verify, 1 thread: .* x the storage's direct read; bound: (storage|CPU \(SHA-256\)|per-file latency)$" <<<"$OUT" &&
    ok "stage costs, single-file snapshot and cold verify lines" ||
    fail "new lines missing: $OUT"
expect_rc 0 "$CMHASH" bench --threads 1 --json "${SMALL[@]}"
TESTS_RUN=$((TESTS_RUN + 1))
python3 - "$OUT" <<'PY' && ok "--json --threads 1: 1-thread CPU rows, stages, single file, cold verify" || fail "json: $OUT"
import json, sys
d = json.loads(sys.argv[1])
assert {c["threads"] for c in d["cpu"]} == {1}, d["cpu"]
assert [c["what"] for c in d["cpu"]] == ["sha256", "signature", "sha256+signature", "signature-librsync"]
assert set(d["stages"]["cpu_s_per_gb"]) == {"read", "sha256", "signature", "store"}
assert [r["threads"] for r in d["runs"]] == [1]
r = d["runs"][0]
assert r["single_file_mb_per_s"] > 0 and r["single_file_bound"]
assert r["cold_verify_exit"] == 0 and r["cold_verify_bound"], r
PY
TESTS_RUN=$((TESTS_RUN + 1))
[ -z "$(ls -A "$D")" ] && ok "bench left nothing in --dir" || fail "left: $(ls -A "$D")"
finish
