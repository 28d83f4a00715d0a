# Issue 12 item 7: UNC paths match server and share case-insensitively,
# as Windows does: \\CM2\REAL maps like \\cm2\real.
. "$CMHASH_TESTLIB"
set -e
R=$SCRATCH/unc
mkdir -p "$R/cm2/real/pkg/sub"
printf 'x\n' >"$R/cm2/real/pkg/sub/f.txt"
expect_rc 0 "$CMHASH" hash '\\cm2\real\pkg' --unc-root "$R"
WANT=${OUT%% *}
for u in '\\CM2\REAL\pkg' '\\Cm2\Real\pkg' '//CM2/real/pkg'; do
    expect_rc 0 "$CMHASH" hash "$u" --unc-root "$R" &&
        [ "${OUT%% *}" = "$WANT" ] && ok "$u maps to cm2/real" ||
        fail "$u: $OUT $ERR"
done
expect_rc 0 "$CMHASH" snapshot '\\CM2\REAL\pkg' MSC00001 --lib "$SCRATCH/lib" \
    --unc-root "$R" --quiet && ok "snapshot of \\\\CM2\\REAL\\pkg"
# the folder below the share keeps its case (a Linux path)
expect_rc 3 "$CMHASH" hash '\\CM2\REAL\PKG' --unc-root "$R" &&
    ok "below the share, case still matters on the mount"
finish
