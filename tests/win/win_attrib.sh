# Issue 15: DOS attributes come from the file system: set with
# `attrib +h` and `attrib +r` inside Wine, they show in Attributes= (HIDDEN
# 0x2, READONLY 0x1, ARCHIVE 0x20 -> 00000023). Two calls: Wine 8's
# `attrib +h +r` in one call keeps only R (its own `attrib` listing shows no
# H afterwards: it makes the file read-only before storing H in the
# user.DOSATTRIB xattr).
. "$CMHASH_TESTLIB"
set -e
S=$SCRATCH/src
mkdir -p "$S"
printf 'plain\n' >"$S/plain.txt"
printf 'hidden\n' >"$S/hr.txt"
printf 'sys\n' >"$S/s.txt"
win() { printf 'Z:%s' "$1" | tr / '\\'; }
expect_rc 0 wine cmd /c attrib +h "$(win "$S/hr.txt")" && ok "attrib +h"
expect_rc 0 wine cmd /c attrib +r "$(win "$S/hr.txt")" && ok "attrib +r"
expect_rc 0 wine cmd /c attrib +s "$(win "$S/s.txt")" && ok "attrib +s"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$SCRATCH/lib" && ok snapshot
D=$SCRATCH/lib/DataLib/MSC00001.1
a() { sed -n 's/^Attributes=\([0-9A-F]*\)\r$/\1/p' "$D/$1.INI"; }
TESTS_RUN=$((TESTS_RUN + 3))
[ "$(a hr.txt)" = 00000023 ] && ok "hr.txt Attributes=00000023" || fail "hr.txt: $(a hr.txt)"
[ "$(a s.txt)" = 00000024 ] && ok "s.txt Attributes=00000024" || fail "s.txt: $(a s.txt)"
[ "$(a plain.txt)" = 00000020 ] && ok "plain.txt Attributes=00000020" || fail "plain.txt: $(a plain.txt)"
finish
