# Issue 2, acceptance 3: byte-exact layout. Every file of the library is
# compared byte for byte with text written out here from docs/FORMAT.md
# section 3 (CRLF, key order, upper-case hex, FILETIME, attributes, sorted
# references); every .SIG with `rdiff signature`; and the independent
# checker (libcheck.py) recomputes the content and signature hashes.
. "$CMHASH_TESTLIB"
set -e
HERE=$(dirname "$CMHASH_TESTLIB")
LIB=$SCRATCH/lib

# The oracle itself: its content hash passes every known-answer vector
# (tests/vectors, and ../shared/vectors when the build found it).
IFS=: read -r -a VDIRS <<<"$CMHASH_VECTORS"
[ "${#VDIRS[@]}" -ge 1 ] || fail "CMHASH_VECTORS is empty"
for v in "${VDIRS[@]}"; do
    expect_rc 0 python3 "$HERE/libcheck.py" --selftest \
        "$v/content-hash" && ok "libcheck selftest $v"
done

# ---- source trees -------------------------------------------------------
A=$SCRATCH/src-a
B=$SCRATCH/b%src          # '%' in Source= is percent-encoded
C=$SCRATCH/src-c
mkdir -p "$A/sub/deeper" "$A/sub/emptyinner" "$A/empty" "$B" "$C"
printf 'hello\n' >"$A/a.txt"
printf 'hello\n' >"$A/sub/dup.bin"        # same bytes, second path
printf 'secret\n' >"$A/.hidden"           # HIDDEN
: >"$A/zero"                              # zero bytes
printf 'read only\n' >"$A/ro.txt"
printf '[x]\r\nk=v\r\n' >"$A/x.ini"       # mirror name x.ini.INI
printf 'deep\n' >"$A/sub/deeper/d.txt"
printf 'hello\n' >"$B/shared.txt"         # same bytes, other package
printf 'bee\n' >"$B/b.txt"
printf 'hello\n' >"$C/c.txt"
# 2023-01-02 03:04:05.1234567 UTC = FILETIME 133171022451234567
find "$A" "$B" "$C" -type f -exec touch -d '2023-01-02 03:04:05.1234567 UTC' {} +
chmod 444 "$A/ro.txt"                     # READONLY: Attributes=00000021

HELLO=5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03
SECRET=B37E50CEDCD3E3F1FF64F4AFC0422084AE694253CF399326868E07A35F4A45FB
EMPTY=E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855
RO=28DC50CE2C559549546AF000E2A606F45A45DAC10F91BCEFC7B21B9555CA1334
XINI=F17F0AC1D683ACFAC0BD7B27BCD50E3249A23558399E239AAA1E900052F231F6
DEEP=64896F89FD11190013B70103E603A1C5826E56B7FB7D2197AB279B0690043599
BEE=C150E5A8A604ACEBD8D15BD7BF8EA96B2874BDCC91DEE6319977D353251283B0
FT=133171022451234567
CREATED=133444736000000000   # SOURCE_DATE_EPOCH=1700000000 (lib.sh)

# B first, then C at --version 10, then A: reference lists must come out
# sorted by ordinal byte compare, not in the order the snapshots ran.
# A and B record their source (--record-source), C does not (the default:
# no Source= line, libraries are widely readable)
expect_rc 0 "$CMHASH" snapshot "$B" MSC0000B --lib "$LIB" --record-source &&
    ok "snapshot B"
expect_rc 0 "$CMHASH" snapshot "$C" msc0000c --lib "$LIB" --version 10 &&
    ok "snapshot C at version 10 (lower-case ID accepted)"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --threads 3 \
    --record-source &&
    ok "snapshot A"
echo "$OUT" | grep -qx "Adding these contents to the package MSC0000A version 1." ||
    fail "distmgr line missing: $OUT"

# ---- expected bytes -----------------------------------------------------
EXP=$SCRATCH/expected
mkdir -p "$EXP"
# crlf FILE LINE... : FILE gets each LINE + CRLF
crlf() {
    local f=$EXP/$1
    shift
    mkdir -p "$(dirname "$f")"
    : >"$f"
    for l in "$@"; do printf '%s\r\n' "$l" >>"$f"; done
}
fileini() { # PATH ATTR SIZE HASH
    crlf "$1" "[File]" "Attributes=$2" "Size=$3" "TimeModified=$FT" "Hash=$4"
}
crlf PkgLib/MSC0000A.INI "[Packages]" "MSC0000A.1=" "[Info]" "Version=1"
crlf PkgLib/MSC0000B.INI "[Packages]" "MSC0000B.1=" "[Info]" "Version=1"
crlf PkgLib/MSC0000C.INI "[Packages]" "MSC0000C.10=" "[Info]" "Version=10"
# cmhash's own state: locks in <lib>/.cmhash, none in PkgLib (spec 7.1)
mkdir -p "$EXP/.cmhash"
: >"$EXP/.cmhash/MSC0000A.lock"
: >"$EXP/.cmhash/MSC0000B.lock"
: >"$EXP/.cmhash/MSC0000C.lock"
: >"$EXP/.cmhash/lib.lock"

# Content hashes: fixed by the tree (names + file hashes, section 5);
# libcheck.py recomputes them independently below.
HASH_A=9EC3D8A6060ED228200714A6E508E40D7DD03FF614EABB6F0B64AC800AE97925
SIGH_A=7B6B7E7E355A9BDFAE798F682D27416C16E420AB838DA4838FD3FA8E58BD04E8
crlf DataLib/MSC0000A.1.INI "[Info]" "Hash=$HASH_A" "HashAlgorithm=32780" \
    "[cmhash]" "SignatureHash=$SIGH_A" "Files=7" "Folders=4" "Bytes=44" \
    "Source=$A" "Created=$CREATED"
fileini DataLib/MSC0000A.1/a.txt.INI 00000020 6 $HELLO
fileini DataLib/MSC0000A.1/sub/dup.bin.INI 00000020 6 $HELLO
# HIDDEN for a dot name is Samba's POSIX mapping; on Windows (issue 15,
# scripts/test-windows.sh) Attributes= is the file system's: not hidden.
DOTATTR=00000022
[ -z "${CMHASH_TEST_WINDOWS:-}" ] || DOTATTR=00000020
fileini DataLib/MSC0000A.1/.hidden.INI $DOTATTR 7 $SECRET
fileini DataLib/MSC0000A.1/zero.INI 00000020 0 $EMPTY
fileini DataLib/MSC0000A.1/ro.txt.INI 00000021 10 $RO
fileini DataLib/MSC0000A.1/x.ini.INI 00000020 10 $XINI
fileini DataLib/MSC0000A.1/sub/deeper/d.txt.INI 00000020 5 $DEEP
mkdir -p "$EXP/DataLib/MSC0000A.1/empty" "$EXP/DataLib/MSC0000A.1/sub/emptyinner"
HASH_B=C6923C34B93DDEF1C76947EB83581590045488A7E37D4575BBF2969D7F7EDCCE
SIGH_B=179F1C0C5CC98810352E981C7BB91E2FCB35A50563D923F8CE91F8BD76D2CDBE
crlf DataLib/MSC0000B.1.INI "[Info]" "Hash=$HASH_B" "HashAlgorithm=32780" \
    "[cmhash]" "SignatureHash=$SIGH_B" "Files=2" "Folders=0" "Bytes=10" \
    "Source=$SCRATCH/b%25src" "Created=$CREATED"
fileini DataLib/MSC0000B.1/shared.txt.INI 00000020 6 $HELLO
fileini DataLib/MSC0000B.1/b.txt.INI 00000020 4 $BEE
HASH_C=F2FBBC64A433897A0ACE9DC9D31AC86CC7F2C17924925A9DD540D12C77ED993B
SIGH_C=710799189F727DF3430823E2043D42074B8D4F18AC44F00E036E93CAD6CAC62C
crlf DataLib/MSC0000C.10.INI "[Info]" "Hash=$HASH_C" "HashAlgorithm=32780" \
    "[cmhash]" "SignatureHash=$SIGH_C" "Files=1" "Folders=0" "Bytes=6" \
    "Created=$CREATED"
fileini DataLib/MSC0000C.10/c.txt.INI 00000020 6 $HELLO

# FileLib: bytes, reference list (one line per content, sorted), .SIG
filelib() { # HASH SOURCEFILE CID...
    local h=$1 src=$2
    shift 2
    mkdir -p "$EXP/FileLib/${h:0:4}"
    cp "$src" "$EXP/FileLib/${h:0:4}/$h"
    crlf "FileLib/${h:0:4}/$h.INI" "[File]" "${@/%/=}"
    rdiff signature "$src" "$EXP/FileLib/${h:0:4}/$h.SIG"
}
filelib $HELLO "$A/a.txt" MSC0000A.1 MSC0000B.1 MSC0000C.10
filelib $SECRET "$A/.hidden" MSC0000A.1
filelib $EMPTY "$A/zero" MSC0000A.1
filelib $RO "$A/ro.txt" MSC0000A.1
filelib $XINI "$A/x.ini" MSC0000A.1
filelib $DEEP "$A/sub/deeper/d.txt" MSC0000A.1
filelib $BEE "$B/b.txt" MSC0000B.1

# ---- compare -----------------------------------------------------------
(cd "$EXP" && find . | LC_ALL=C sort) >"$SCRATCH/want.list"
(cd "$LIB" && find . | LC_ALL=C sort) >"$SCRATCH/got.list"
TESTS_RUN=$((TESTS_RUN + 1))
if diff -u "$SCRATCH/want.list" "$SCRATCH/got.list"; then
    ok "library holds exactly the expected paths ($(wc -l <"$SCRATCH/got.list"))"
else
    fail "library paths differ from the spec's"
fi
nbad=0
while IFS= read -r f; do
    [ -f "$EXP/$f" ] || continue
    TESTS_RUN=$((TESTS_RUN + 1))
    if ! cmp -s "$EXP/$f" "$LIB/$f"; then
        fail "$f differs from the spec's bytes:"
        diff <(od -c "$EXP/$f") <(od -c "$LIB/$f") | head -20 >&2 || true
        nbad=$((nbad + 1))
    fi
done <"$SCRATCH/want.list"
[ $nbad -eq 0 ] && ok "every library file is byte-identical to the spec's"
TESTS_RUN=$((TESTS_RUN + 1))
nsig=0
for s in "$LIB"/FileLib/*/*.SIG; do
    rm -f "$SCRATCH/rdiff.sig"
    rdiff signature "${s%.SIG}" "$SCRATCH/rdiff.sig"
    cmp -s "$s" "$SCRATCH/rdiff.sig" || { fail "$s != rdiff signature"; continue; }
    nsig=$((nsig + 1))
done
[ $nsig -eq 7 ] && ok "all $nsig .SIG files equal rdiff signature output" ||
    fail "only $nsig of 7 .SIG files checked equal"

# the stored version of a read-only file stays readable for the library
expect_rc 0 python3 "$HERE/libcheck.py" "$LIB" --strict --rdiff \
    --expect "MSC0000A=1:$HASH_A" --expect "MSC0000B=1:$HASH_B" \
    --expect "MSC0000C=10:$HASH_C" && ok "libcheck --strict"
# the content hash agrees with `cmhash hash` of the source folder
expect_rc 0 "$CMHASH" hash "$A"
echo "$OUT" | grep -q "$HASH_A" && ok "cmhash hash agrees" ||
    fail "cmhash hash of $A: $OUT"

# ---- the oracle can fail ----------------------------------------------
bad=$SCRATCH/bad
mutate() { # WHAT CMD...
    rm -rf "$bad"
    cp -a "$LIB" "$bad"
    local what=$1
    shift
    (cd "$bad" && "$@")
    TESTS_RUN=$((TESTS_RUN + 1))
    if python3 "$HERE/libcheck.py" "$bad" >"$SCRATCH/lc.out" 2>&1; then
        fail "libcheck accepts a library with $what"
    else
        ok "libcheck rejects $what: $(grep -m1 ERROR "$SCRATCH/lc.out")"
    fi
}
H4=${HELLO:0:4}
mutate "a corrupted FileLib file" sh -c "printf 'jello\n' >FileLib/$H4/$HELLO"
mutate "a truncated FileLib file" sh -c ": >FileLib/$H4/$HELLO"
mutate "a missing reference" sh -c \
    "printf '[File]\r\nMSC0000B.1=\r\nMSC0000C.10=\r\n' >FileLib/$H4/$HELLO.INI"
mutate "unsorted references" sh -c \
    "printf '[File]\r\nMSC0000B.1=\r\nMSC0000A.1=\r\nMSC0000C.10=\r\n' >FileLib/$H4/$HELLO.INI"
mutate "a missing mirror INI" rm DataLib/MSC0000A.1/zero.INI
mutate "a renamed mirror file" mv DataLib/MSC0000A.1/a.txt.INI DataLib/MSC0000A.1/b.txt.INI
mutate "an LF-only PkgLib INI" sh -c \
    "printf '[Packages]\nMSC0000A.1=\n[Info]\nVersion=1\n' >PkgLib/MSC0000A.INI"
mutate "a missing content" rm -r DataLib/MSC0000B.1
finish
