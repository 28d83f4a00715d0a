#!/bin/bash
# One format model (issue 10 item 1): the same crafted inputs fed to every
# command that reads them - verify, ls, extract, diff, delta, status, gc and
# snapshot - and every command agrees: all accept the input or all reject
# it (verify: a finding of the right code; the others: a library error or
# "damaged"), never one crash, one pass and one refusal.
. "$CMHASH_TESTLIB"
SRC=$SCRATCH/src
mkdir -p "$SRC/d"
printf 'one\n' >"$SRC/d/a.txt"
printf 'two\n' >"$SRC/b.txt"
BASE=$SCRATCH/base
expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00001 --lib "$BASE" --quiet --keep 1
printf 'three\n' >"$SRC/c.txt"
expect_rc 0 "$CMHASH" snapshot "$SRC" ABC00001 --lib "$BASE" --quiet --keep 1
H=$(sha256sum "$SRC/b.txt" | cut -c1-64 | tr a-f A-F)

# each command's verdict on library $1: A (accepted) or R (rejected)
verdicts() {
    local L=$1 v=""
    run() { set +e; "$@" >"$SCRATCH/.o" 2>&1; RC=$?; set -e; }
    run "$CMHASH" verify --lib "$L" --fail-on error --quiet
    [ $RC = 0 ] && v="${v}verify=A " || v="${v}verify=R "
    run "$CMHASH" ls --lib "$L"
    [ $RC = 0 ] && ! grep -q damaged "$SCRATCH/.o" && v="${v}ls=A " ||
        v="${v}ls=R "
    rm -rf "$SCRATCH/x"
    run "$CMHASH" extract ABC00001 "$SCRATCH/x" --lib "$L"
    [ $RC = 0 ] && v="${v}extract=A " || v="${v}extract=R "
    run "$CMHASH" diff ABC00001 "$SRC" --lib "$L"
    # 1 = differences (the crafted file INIs change metadata): accepted
    [ $RC -le 1 ] && v="${v}diff=A " || v="${v}diff=R "
    rm -rf "$SCRATCH/dl"
    run "$CMHASH" delta ABC00001.1 ABC00001 "$SCRATCH/dl" --lib "$L"
    [ $RC = 0 ] && v="${v}delta=A " || v="${v}delta=R "
    run "$CMHASH" status ABC00001 --lib "$L" --quick
    [ $RC = 0 ] && v="${v}status=A " || v="${v}status=R "
    cp -a "$L" "$SCRATCH/gc"
    run "$CMHASH" gc --lib "$SCRATCH/gc" --apply
    [ $RC = 0 ] && v="${v}gc=A " || v="${v}gc=R "
    rm -rf "$SCRATCH/gc"
    cp -a "$L" "$SCRATCH/sn"
    run "$CMHASH" snapshot "$SRC" ABC00001 --lib "$SCRATCH/sn" --quiet --keep 1
    [ $RC = 0 ] && v="${v}snapshot=A" || v="${v}snapshot=R"
    rm -rf "$SCRATCH/sn"
    printf '%s' "$v"
}

ALL_A="verify=A ls=A extract=A diff=A delta=A status=A gc=A snapshot=A"
ALL_R="verify=R ls=R extract=R diff=R delta=R status=R gc=R snapshot=R"
READ_R="verify=R ls=R extract=R diff=R delta=R status=R gc=R snapshot=A"

case_() { # name expected setup-command...
    local name=$1 want=$2
    shift 2
    rm -rf "$SCRATCH/lib"
    cp -a "$BASE" "$SCRATCH/lib"
    (cd "$SCRATCH/lib" && "$@")
    TESTS_RUN=$((TESTS_RUN + 1))
    local got
    got=$(verdicts "$SCRATCH/lib")
    [ "$got" = "$want" ] && ok "$name: $got" || fail "$name: got $got, want $want"
}

pkgini() { printf "$1" | python3 -c "
import sys; d = sys.stdin.buffer.read()
if '$2' == 'u16': d = b'\xff\xfe' + d.decode().encode('utf-16-le')
open('PkgLib/ABC00001.INI', 'wb').write(d)"; }

case_ "untouched library" "$ALL_A" true
case_ "PkgLib UTF-16LE, LF, spaces, any case" "$ALL_A" \
    pkgini '[packages]\nABC00001.2 =\n[INFO]\nversion = 2\n[cmhash]\nKeep = ABC00001.1\n' u16
for v in 99999999999999999999 4294967297 -3; do
    case_ "PkgLib Version=$v" "$ALL_R" pkgini \
        "[Packages]\r\nABC00001.2=\r\n[Info]\r\nVersion=$v\r\n[cmhash]\r\nKeep=ABC00001.1\r\n" x
done
case_ "PkgLib lists another package's content" "$ALL_R" pkgini \
    '[Packages]\r\nABC00001.2=\r\nXYZ00001.1=\r\n[Info]\r\nVersion=2\r\n[cmhash]\r\nKeep=ABC00001.1\r\n' x
case_ "PkgLib with binary junk" "$ALL_R" pkgini '[Packages]\r\nABC00001.2=\001\r\n' x
# file INIs (in both versions' mirrors: extract, diff, delta read both)
fileini() { for f in DataLib/ABC00001.*/b.txt.INI; do
    printf "[File]\r\nAttributes=00000020\r\nSize=$1\r\nTimeModified=133000000000000000\r\nHash=$2\r\n" >"$f"; done; }
case_ "file INI lower-case Hash" "$ALL_A" fileini 4 "$(echo "$H" | tr A-F a-f)"
case_ "file INI Size above INT64_MAX" "$READ_R" fileini 9223372036854775808 "$H"
case_ "file INI Hash of 63 digits" "$READ_R" fileini 4 "${H:1}"
finish
