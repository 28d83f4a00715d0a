# Issue 12 item 1: the repository stands alone. The project configures
# with no ../shared (its own vectors in tests/vectors are registered and
# the shared ones are optional), the own vectors are what the independent
# reference computes, and docs/FORMAT.md is complete without any file
# outside the repository.
. "$CMHASH_TESTLIB"
set -e
ROOT=$(cd "$(dirname "$CMHASH_TESTLIB")/../.." && pwd)

TESTS_RUN=$((TESTS_RUN + 1))
if cmake -S "$ROOT" -B "$SCRATCH/build" -DCMHASH_SHARED_DIR="$SCRATCH/no-shared" \
    >"$SCRATCH/cmake.out" 2>&1; then
    ok "configures with no shared folder"
else
    fail "configure without shared: $(tail -5 "$SCRATCH/cmake.out")"
fi
TESTS_RUN=$((TESTS_RUN + 1))
(cd "$SCRATCH/build" && ctest -N) >"$SCRATCH/ctest-n.out" 2>&1 || true
grep -q "vectors_reference" "$SCRATCH/ctest-n.out" &&
    grep -q "unit_tree" "$SCRATCH/ctest-n.out" &&
    ok "own-vector tests registered" || fail "$(cat "$SCRATCH/ctest-n.out")"
TESTS_RUN=$((TESTS_RUN + 1))
grep -q "CMHASH_VECTORS=$ROOT/tests/vectors;" \
    "$SCRATCH/build/tests/unit/CTestTestfile.cmake" &&
    ok "unit tests get only tests/vectors without shared" ||
    fail "CMHASH_VECTORS: $(grep -o 'CMHASH_VECTORS=[^;]*' "$SCRATCH/build/tests/unit/CTestTestfile.cmake" | head -1)"

# the committed vectors: at least 7 trees, each re-derived by the reference
TESTS_RUN=$((TESTS_RUN + 1))
n=$(ls "$ROOT"/tests/vectors/content-hash/*.tree | wc -l)
[ "$n" -ge 7 ] && python3 "$ROOT/tests/vectors/gen_vectors.py" --check \
    >/dev/null && ok "$n own vectors match the reference" ||
    fail "own vectors: $n, check failed"
# and the engine agrees with each (cmhash hash of the built tree)
TESTS_RUN=$((TESTS_RUN + 1))
python3 - "$ROOT/tests/vectors/content-hash" "$SCRATCH/trees" "$CMHASH" <<'PY' &&
import os, subprocess, sys
vdir, out, tool = sys.argv[1:]
bad = 0
for n in sorted(os.listdir(vdir)):
    if not n.endswith(".tree"):
        continue
    root = os.path.join(out, n[:-5])
    os.makedirs(root)
    want = None
    for line in open(os.path.join(vdir, n), encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        kind, rest = line.split(" ", 1)
        if kind == "dir":
            os.makedirs(os.path.join(root, rest), exist_ok=True)
        elif kind == "file":
            p, spec = rest.rsplit(" ", 1)
            if spec == "-":
                data = b""
            elif spec.startswith("repeat:"):
                _, xx, cnt = spec.split(":")
                data = bytes([int(xx, 16)]) * int(cnt)
            else:
                data = bytes.fromhex(spec)
            f = os.path.join(root, p)
            os.makedirs(os.path.dirname(f), exist_ok=True)
            open(f, "wb").write(data)
        elif kind == "content-hash":
            want = rest
    got = subprocess.run([tool, "hash", root], capture_output=True,
                         text=True).stdout.split(" ")[0]
    if got != want:
        print("%s: cmhash hash %s, want %s" % (n, got, want))
        bad += 1
sys.exit(1 if bad else 0)
PY
    ok "cmhash hash reproduces every own vector" || fail "engine vs vectors"

# FORMAT.md stands alone: no pointer to a file outside the repository
TESTS_RUN=$((TESTS_RUN + 1))
# (README may name ../shared/vectors: optional extra vectors)
if grep -nE '\.\./shared|contentlib\.md|\.\./vectors' "$ROOT/docs/FORMAT.md" \
    >"$SCRATCH/refs.txt" ||
    grep -n 'contentlib\.md' "$ROOT/README.md" >>"$SCRATCH/refs.txt"; then
    fail "outside references: $(cat "$SCRATCH/refs.txt")"
else
    ok "FORMAT.md and README point at nothing outside the repository"
fi
TESTS_RUN=$((TESTS_RUN + 1))
for s in "## 1. " "## 2. " "## 3. " "### 3.2" "## 4. " "## 5. " "## 6. " \
    "## 7. " "## 8. " "## 9. " "## 10. " "## 11. " "CONTENT_HASH_MISMATCH" \
    "RS_RK_BLAKE2_SIG_MAGIC" "--record-source" "--allow-foreign" \
    ".cmhash/lib.lock"; do
    grep -qF -- "$s" "$ROOT/docs/FORMAT.md" || { fail "FORMAT.md lacks '$s'"; break; }
done && ok "FORMAT.md has every section of the format"
finish
