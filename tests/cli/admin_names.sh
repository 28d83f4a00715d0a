# Issue 12 item 6: Windows name rules complete. COM0, LPT0, COM/LPT with
# a superscript 1-3, CONIN$ and CONOUT$ are reserved device names (with or
# without an extension, any case); a long CJK name NTFS can hold (255
# UTF-16 units per name, not 255 bytes) is accepted.
. "$CMHASH_TESTLIB"
set -e
for n in COM0 lpt0.txt 'COM¹' 'com².log' 'COM³' 'LPT¹' 'lpt².x' 'LPT³' \
    'CONIN$' 'conout$.txt' 'CONIN$ .txt'; do
    d=$SCRATCH/r-$RANDOM$RANDOM
    mkdir -p "$d"
    : >"$d/$n"
    : >"$d/ok.txt"
    expect_rc 3 "$CMHASH" hash "$d" &&
        case $ERR in *"'$n': is a reserved device name"*) ok "'$n' refused" ;;
        *) fail "'$n': $ERR" ;; esac
done
# not reserved: COM10, LPT, COM¹0, CONIN
d=$SCRATCH/fine
mkdir -p "$d"
for n in COM10 LPT 'COM¹0' CONIN CONOUT 'COMx' 'COM⁴'; do : >"$d/$n"; done
expect_rc 0 "$CMHASH" hash "$d" && ok "near misses are accepted"

# 84 CJK characters + ".txt": 256 bytes of UTF-8 (over 255 bytes) but
# only 88 UTF-16 units: NTFS holds it. The source filesystem here limits
# names to 255 bytes, so the folder case is checked: a folder of 85 CJK
# characters is 255 bytes and 85 units.
C=$SCRATCH/cjk
name85=$(python3 -c 'print("\u6f22" * 85)')
mkdir -p "$C/$name85"
: >"$C/$name85/a.txt"
expect_rc 0 "$CMHASH" hash "$C" && ok "85-character CJK folder name accepted"
name81=$(python3 -c 'print("\u6f22" * 81 + ".txt")')   # 247 bytes, 85 units
: >"$C/$name81"
expect_rc 0 "$CMHASH" hash "$C" && ok "CJK file name of 247 bytes accepted"
expect_rc 0 "$CMHASH" snapshot "$C" MSC00001 --lib "$SCRATCH/lib" --quiet &&
    ok "snapshot stores the CJK names"
# the limit is UTF-16 units: 252 ASCII + ".INI" is over 255 units
A=$SCRATCH/ascii
mkdir -p "$A"
: >"$A/$(python3 -c 'print("a" * 252)')"
expect_rc 3 "$CMHASH" hash "$A" &&
    case $ERR in *"more than 251 UTF-16 units"*) ok "252-unit file name refused (units named)" ;;
    *) fail "long ASCII: $ERR" ;; esac
finish
