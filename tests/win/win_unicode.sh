# Issue 15: unicode names cross the seam once (UTF-8 <-> UTF-16): the
# content hash of a tree of non-ASCII names (case tables of the spec: ß, İ,
# Greek, Cyrillic, CJK, astral) is the same from cmhash.exe as from Linux.
. "$CMHASH_TESTLIB"
set -e
: "${CMHASH_LINUX:?path of the Linux cmhash}"
S=$SCRATCH/src
mkdir -p "$S/ΑΒΓ-δέλτα" "$S/Кириллица" "$S/中文目录"
for n in 'straße.txt' 'İstanbul.txt' 'ǅemal.txt' 'Ωmega.TXT' 'ﬁle.txt' \
         '𝔘nicode-astral.txt' 'ΑΒΓ-δέλτα/σίγμα.txt' 'Кириллица/Файл.txt' \
         '中文目录/文件.txt' 'a_b' 'ab' 'Ab_C'; do
    printf '%s\n' "$n" >"$S/$n"
done
expect_rc 0 "$CMHASH_LINUX" snapshot "$S" MSC00001 --lib "$SCRATCH/linux"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$SCRATCH/win" &&
    ok "snapshot of unicode names"
TESTS_RUN=$((TESTS_RUN + 1))
hl=$(grep -h '^Hash=' "$SCRATCH/linux/DataLib/MSC00001.1.INI" | head -1)
hw=$(grep -h '^Hash=' "$SCRATCH/win/DataLib/MSC00001.1.INI" | head -1)
[ -n "$hl" ] && [ "$hl" = "$hw" ] && ok "content hash equal: $hw" ||
    fail "content hash: linux $hl, windows $hw"
TESTS_RUN=$((TESTS_RUN + 1))
diff <(cd "$SCRATCH/linux/DataLib" && find . | LC_ALL=C sort) \
     <(cd "$SCRATCH/win/DataLib" && find . | LC_ALL=C sort) &&
    ok "same mirror names" || fail "mirror names differ"
expect_rc 0 "$CMHASH" ls MSC00001 --lib "$SCRATCH/win" &&
    echo "$OUT" | grep -q "${hw#Hash=}" && ok "ls shows the package and its hash"
expect_rc 0 "$CMHASH" extract MSC00001.1 "$SCRATCH/out" --lib "$SCRATCH/win"
TESTS_RUN=$((TESTS_RUN + 1))
diff -r "$S" "$SCRATCH/out" && ok "extract round trip" || fail "extract differs"
finish
