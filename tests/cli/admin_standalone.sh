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
# (the engine reproduces each: unit_tree runs them through cmh_hash_dir)

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
