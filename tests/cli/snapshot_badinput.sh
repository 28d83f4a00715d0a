# Issue 2, acceptance 6: every bad-input case asserts the exit code, a
# one-line error naming the path, and the library left as it was (every
# file, and no temp left behind). Cases that need root (reading as another
# user, tmpfs mounts) say why they are skipped when they cannot run.
. "$CMHASH_TESTLIB"
set -e
HERE=$(dirname "$CMHASH_TESTLIB")
LIB=$SCRATCH/lib
GOOD=$SCRATCH/good
mkdir -p "$GOOD/d"
printf 'good\n' >"$GOOD/d/g.txt"
"$CMHASH" snapshot "$GOOD" MSC0000A --lib "$LIB" >/dev/null

# one_line_error LABEL TEXT... : stderr is one line, "cmhash: error: ...",
# holding every TEXT (fixed strings)
one_line_error() {
    local label=$1 t
    shift
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ "$(printf '%s\n' "$ERR" | wc -l)" != 1 ] ||
        [ "${ERR#cmhash: error: }" = "$ERR" ]; then
        fail "$label: not a one-line error: $ERR"
        return 0
    fi
    for t in "$@"; do
        case $ERR in
        *"$t"*) ;;
        *) fail "$label: message lacks '$t': $ERR"; return 0 ;;
        esac
    done
    ok "$label: $ERR"
}
# content_digest of a library, empty FileLib/<H4> folders left out: a
# snapshot that fails after it made one leaves it in place on purpose
# (docs/FORMAT.md: a concurrent snapshot may be about to use it; gc removes
# it), and it holds no data. (Folder sizes are left out too: on tmpfs they
# count the entries.)
lib_digest() {
    (cd "$1" && find . \( -path './FileLib/*' -type d -empty \) -prune -o \
        -printf '%p %y %m\n' | LC_ALL=C sort &&
        find . -type f -printf '%p %s %T@\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z |
        xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}
no_temps() { # LABEL DIR
    TESTS_RUN=$((TESTS_RUN + 1))
    local t
    t=$(find "$2" -name '.cmhash-tmp-*' | head -3)
    [ -z "$t" ] && ok "$1: no temp left" || fail "$1: temps left: $t"
}
same() { # LABEL GOT WANT
    TESTS_RUN=$((TESTS_RUN + 1))
    [ "$2" = "$3" ] && ok "$1" || fail "$1"
}
# bad CODE LABEL SOURCE PKGID [options] -- TEXT... : run a snapshot into
# $LIB that must fail with CODE and TEXTs in its one-line error, leaving
# every file and folder of the library as it was (timestamps included)
bad() {
    local code=$1 label=$2 src=$3 pkg=$4
    shift 4
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    local before
    before=$(tree_digest "$LIB")
    expect_rc "$code" "$CMHASH" snapshot "$src" "$pkg" --lib "$LIB" "${opts[@]}" &&
        ok "$label: exit $code"
    one_line_error "$label" "$@"
    same "$label: library untouched" "$(tree_digest "$LIB")" "$before"
}

# ---- package ID, source path ----------------------------------------
for id in MSC0000G MS00001 MSC000001 'MSC/0001' ''; do
    bad 2 "package ID '$id'" "$GOOD" "$id" -- "'$id' is not a package ID" \
        "expected a 3-character site code and 5 hex digits, e.g. MSC0000B"
done
bad 3 "missing source" "$SCRATCH/nope" MSC0000A -- "$SCRATCH/nope" \
    "does not exist"
bad 3 "source is a file" "$GOOD/d/g.txt" MSC0000A -- "$GOOD/d/g.txt" \
    "is not a folder"
bad 2 "--version not above current" "$GOOD" MSC0000A --version 1 -- \
    "--version 1 is not above the current version 1 of MSC0000A"

# ---- libraries that are not (or no longer) libraries: exit 4 ------------
printf 'file\n' >"$SCRATCH/afile"
mkdir -p "$SCRATCH/notlib" "$SCRATCH/partial/PkgLib" "$SCRATCH/partial/DataLib"
printf 'junk\n' >"$SCRATCH/notlib/junk"
printf '[Packages]\r\nMSC00009.1=\r\n' >"$SCRATCH/partial/PkgLib/MSC00009.INI"
for c in "afile|Not a directory" \
    "notlib|is not a content library (no PkgLib, DataLib, FileLib) and not empty" \
    "partial|is not a content library: FileLib is missing"; do
    L2=$SCRATCH/${c%%|*}
    before=$(tree_digest "$SCRATCH/${c%%|*}" 2>/dev/null || cat "$L2")
    expect_rc 4 "$CMHASH" snapshot "$GOOD" MSC0000A --lib "$L2" &&
        ok "--lib ${c%%|*}: exit 4"
    one_line_error "--lib ${c%%|*}" "$L2" "${c#*|}"
    same "--lib ${c%%|*}: untouched" \
        "$(tree_digest "$L2" 2>/dev/null || cat "$L2")" "$before"
done
# damaged INIs the snapshot must read: PkgLib (exit 4 before anything is
# written) and the reference list of a file it places (nothing committed)
DMG=$SCRATCH/damaged
cp -a "$LIB" "$DMG"
printf 'garbage' >"$DMG/PkgLib/MSC0000A.INI"
before=$(tree_digest "$DMG")
expect_rc 4 "$CMHASH" snapshot "$GOOD" MSC0000A --lib "$DMG" && ok "damaged PkgLib INI: exit 4"
one_line_error "damaged PkgLib INI" "$DMG/PkgLib/MSC0000A.INI is damaged" "cmhash verify"
same "damaged PkgLib INI: untouched" "$(tree_digest "$DMG")" "$before"
rm -rf "$DMG"
cp -a "$LIB" "$DMG"
GH=$(sha256sum "$GOOD/d/g.txt" | cut -c1-64 | tr a-f A-F)
printf '[File]\r\n../../etc=\r\n' >"$DMG/FileLib/${GH:0:4}/$GH.INI"
printf 'changed\n' >"$GOOD/new.txt"
before=$(lib_digest "$DMG")
expect_rc 4 "$CMHASH" snapshot "$GOOD" MSC0000A --lib "$DMG" &&
    ok "damaged FileLib reference list: exit 4"
one_line_error "damaged FileLib reference list" "$DMG/FileLib/${GH:0:4}/$GH.INI is damaged"
same "damaged FileLib reference list: nothing committed" "$(lib_digest "$DMG")" "$before"
no_temps "damaged FileLib reference list" "$DMG"
rm -f "$GOOD/new.txt"

# ---- names Windows cannot hold: every one listed, nothing written ------
N=$SCRATCH/names
mkdir -p "$N/sub/deeper" "$N/okdir"
for f in 'a:b' 'q?.txt' 'con.txt' 'AUX' 'trail.' 'trail ' 'pi|pe' 'sub/LPT1.log' \
    'sub/deeper/st*r' 'Case.txt' 'case.TXT' "$(printf 'tab\tname')" \
    "$(printf 'new\nline')" "$(printf 'bad\377utf8')" 'okdir/fine.txt'; do
    printf 'x\n' >"$N/$f"
done
mkdir "$N/nul"
printf 'x\n' >"$N/sub/x"
mkdir "$N/sub/x.INI"   # file x's mirror x.INI would meet this folder
bad 3 "Windows names" "$N" MSC0000A -- \
    "$N has 15 name(s) a Windows distribution point cannot hold" \
    "'a:b'" "'con.txt'" "'AUX'" "'nul'" "and 5 more" "rename them and run again"
TESTS_RUN=$((TESTS_RUN + 1))
case $ERR in
*okdir*) fail "a valid name is listed: $ERR" ;;
*) ok "valid names are not listed" ;;
esac
# the whole list: in --json (details) and in the log
expect_rc 3 "$CMHASH" snapshot "$N" MSC0000A --lib "$LIB" --json \
    --log "$SCRATCH/names.log" || true
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
names = [x.split("\x27")[1] for x in d["details"]]
want = {"a:b", "q?.txt", "con.txt", "AUX", "trail.", "trail ", "pi|pe",
        "sub/LPT1.log", "sub/deeper/st*r", "case.TXT", "nul", "sub/x",
        "tab%09name", "new%0Aline", "bad%FFutf8"}
assert len(names) == 15 and set(names) == want, names
assert d["exit_code"] == 3
' && ok "all 15 offending paths in --json" || fail "json details: $OUT"
TESTS_RUN=$((TESTS_RUN + 1))
for n in "a:b" "q?.txt" "sub/LPT1.log" "sub/deeper/st*r" "bad%FFutf8"; do
    grep -qF "'$n'" "$SCRATCH/names.log" || { fail "log lacks $n"; break; }
done && ok "the log has the whole list"

# ---- symbolic links ---------------------------------------------------
L=$SCRATCH/links
mkdir -p "$L/d"
printf 'real\n' >"$L/real.txt"
ln -s real.txt "$L/link.txt"
ln -s /nonexistent "$L/d/dangling"
ln -s ../d "$L/d/dirlink"
ln -s real.txt "$L/d/$(printf 'odd\nlink')"
bad 3 "symbolic links" "$L" MSC0000A -- "$L holds 4 symbolic link(s)" \
    "'link.txt'" "'d/dangling'" "'d/dirlink'" "'d/odd%0Alink'" "--skip-links"
expect_rc 0 "$CMHASH" snapshot "$L" MSC0000A --lib "$LIB" --skip-links &&
    ok "--skip-links succeeds"
TESTS_RUN=$((TESTS_RUN + 1))
[ "$(printf '%s\n' "$ERR" | grep -c '^cmhash: warning: skipped symbolic link')" = 4 ] &&
    ok "--skip-links warns about each link" || fail "link warnings: $ERR"
TESTS_RUN=$((TESTS_RUN + 1))
[ -f "$LIB/DataLib/MSC0000A.2/real.txt.INI" ] && [ -d "$LIB/DataLib/MSC0000A.2/d" ] &&
    [ -z "$(find "$LIB/DataLib/MSC0000A.2" -name '*link*' -o -name 'dangl*')" ] &&
    ok "links are not stored" || fail "mirror: $(find "$LIB/DataLib/MSC0000A.2")"

# ---- FIFO, socket, device: skipped with a warning, never opened --------
F=$SCRATCH/special
mkdir -p "$F/d"
printf 'file\n' >"$F/f.txt"
mkfifo "$F/d/pipe"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$F/sock"
DEV=0
mknod "$F/null" c 1 3 2>/dev/null && DEV=1
expect_rc 0 timeout 60 "$CMHASH" snapshot "$F" MSC0000A --lib "$LIB" &&
    ok "a FIFO, a socket$([ $DEV = 1 ] && echo ", a device"): snapshot succeeds without hanging"
for w in "skipped d/pipe (FIFO) in $F: not a regular file" \
    "skipped sock (socket) in $F: not a regular file"; do
    TESTS_RUN=$((TESTS_RUN + 1))
    printf '%s\n' "$ERR" | grep -qxF "cmhash: warning: $w" && ok "warning: $w" ||
        fail "missing warning '$w': $ERR"
done
if [ $DEV = 1 ]; then
    TESTS_RUN=$((TESTS_RUN + 1))
    printf '%s\n' "$ERR" | grep -qxF "cmhash: warning: skipped null (device) in $F: not a regular file" &&
        ok "device skipped with a warning" || fail "device warning: $ERR"
fi
TESTS_RUN=$((TESTS_RUN + 1))
[ "$(cd "$LIB/DataLib/MSC0000A.3" && find . | LC_ALL=C sort | tr '\n' ' ')" = ". ./d ./f.txt.INI " ] &&
    ok "only the regular file is stored" || fail "mirror: $(find "$LIB/DataLib/MSC0000A.3")"

# ---- empty source: allowed, the hash of nothing -----------------------
mkdir -p "$SCRATCH/empty"
expect_rc 0 "$CMHASH" snapshot "$SCRATCH/empty" MSC0000E --lib "$LIB" &&
    echo "$OUT" | grep -qx "The hash for algorithm 32780 is E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855" &&
    ok "empty source: version 1, hash E3B0C442..." || fail "empty source: $OUT $ERR"
expect_rc 0 python3 "$HERE/libcheck.py" "$LIB" --strict && ok "library exact so far"

# ---- a file that changes while it is read -----------------------------
CH=$SCRATCH/changing
mkdir -p "$CH"
head -c $((48 << 20)) /dev/urandom >"$CH/growing.bin"
printf 'small\n' >"$CH/small.txt"
(while :; do printf x >>"$CH/growing.bin"; done) &
WRITER=$!
sleep 0.2
before=$(lib_digest "$LIB")
expect_rc 3 "$CMHASH" snapshot "$CH" MSC0000A --lib "$LIB" --threads 1 &&
    ok "file growing while read: exit 3"
kill $WRITER
wait $WRITER 2>/dev/null || true
one_line_error "changing file" "$CH/growing.bin changed while it was read" \
    "run the snapshot again"
same "changing file: no library file changed" "$(lib_digest "$LIB")" "$before"
no_temps "changing file" "$LIB"

# ---- interrupted (SIGINT, SIGTERM): exit 7, nothing written ------------
# (a 2 GiB sparse file: seconds of reading on any machine, no disk used)
SLOW=$SCRATCH/slow
mkdir -p "$SLOW"
truncate -s 2G "$SLOW/sparse.img"
for sig in INT TERM; do
    before=$(lib_digest "$LIB")
    "$CMHASH" snapshot "$SLOW" MSC0000A --lib "$LIB" --threads 1 \
        >"$SCRATCH/.out" 2>"$SCRATCH/.err" &
    pid=$!
    sleep 0.3
    kill -$sig $pid
    set +e
    wait $pid
    RC=$?
    set -e
    ERR=$(cat "$SCRATCH/.err")
    TESTS_RUN=$((TESTS_RUN + 1))
    [ $RC = 7 ] && ok "SIG$sig: exit 7" || fail "SIG$sig: exit $RC: $ERR"
    one_line_error "SIG$sig" "canceled while" "$SLOW; nothing was written"
    same "SIG$sig: no library file changed" "$(lib_digest "$LIB")" "$before"
    no_temps "SIG$sig" "$LIB"
done

# ---- unreadable source file / folder (as an unprivileged user) --------
# root reads everything; run the tool as nobody (setpriv), on a library
# that user may write
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
NB=$SCRATCH/nobody
mkdir -p "$NB"
chmod 755 "$SCRATCH" "$NB"
if [ "$(id -u)" = 0 ] && "${AS_NOBODY[@]}" test -x "$NB" 2>/dev/null; then
    mkdir -p "$NB/src/d" "$NB/src/closed"
    printf 'readable\n' >"$NB/src/a.txt"
    printf 'secret\n' >"$NB/src/d/secret.txt"
    chmod 000 "$NB/src/d/secret.txt"
    "$CMHASH" snapshot "$GOOD" MSC0000D --lib "$NB/lib" >/dev/null
    chown -R 65534:65534 "$NB/lib"
    rmdir "$NB/src/closed"
    before=$(lib_digest "$NB/lib")
    expect_rc 3 "${AS_NOBODY[@]}" "$CMHASH" snapshot "$NB/src" MSC0000D \
        --lib "$NB/lib" && ok "unreadable file: exit 3"
    one_line_error "unreadable file" "cannot read $NB/src/d/secret.txt" \
        "Permission denied" "give this user read access"
    same "unreadable file: no library file changed" "$(lib_digest "$NB/lib")" "$before"
    no_temps "unreadable file" "$NB/lib"
    chmod 644 "$NB/src/d/secret.txt"
    chmod 000 "$NB/src/d"
    before=$(tree_digest "$NB/lib")
    expect_rc 3 "${AS_NOBODY[@]}" "$CMHASH" snapshot "$NB/src" MSC0000D \
        --lib "$NB/lib" && ok "unreadable folder: exit 3"
    one_line_error "unreadable folder" "cannot list $NB/src/d" "Permission denied"
    same "unreadable folder: library untouched" "$(tree_digest "$NB/lib")" "$before"
    chmod 755 "$NB/src/d"
    chmod 000 "$NB/src"
    expect_rc 3 "${AS_NOBODY[@]}" "$CMHASH" snapshot "$NB/src" MSC0000D \
        --lib "$NB/lib" && ok "unreadable source folder: exit 3"
    one_line_error "unreadable source folder" "$NB/src" "Permission denied"
    same "unreadable source folder: library untouched" "$(tree_digest "$NB/lib")" "$before"
    chmod 755 "$NB/src"
    # a library this user may not write
    chown -R 0:0 "$NB/lib"
    expect_rc 4 "${AS_NOBODY[@]}" "$CMHASH" snapshot "$NB/src" MSC0000D \
        --lib "$NB/lib" && ok "library not writable: exit 4"
    one_line_error "library not writable" "$NB/lib/.cmhash/MSC0000D.lock" \
        "Permission denied" "give this user write access to the library"
    same "library not writable: untouched" "$(tree_digest "$NB/lib")" "$before"
else
    echo "SKIP: unreadable-file cases need root and setpriv (uid $(id -u))"
fi

# ---- full disk and read-only library (tmpfs, needs root) ---------------
MNT=$SCRATCH/mnt
mkdir -p "$MNT"
if mount -t tmpfs -o size=1m tmpfs "$MNT" 2>/dev/null; then
    trap 'umount "$MNT" 2>/dev/null || true' EXIT
    "$CMHASH" snapshot "$GOOD" MSC0000A --lib "$MNT/lib" >/dev/null
    BIGSRC=$SCRATCH/bigsrc
    mkdir -p "$BIGSRC"
    head -c 3000000 /dev/urandom >"$BIGSRC/big.bin"
    printf 'small\n' >"$BIGSRC/small.txt"
    before=$(lib_digest "$MNT/lib")
    expect_rc 5 "$CMHASH" snapshot "$BIGSRC" MSC0000A --lib "$MNT/lib" &&
        ok "full disk: exit 5"
    one_line_error "full disk" "$MNT/lib" "No space left on device" \
        "free space on the library's disk"
    same "full disk: no library file changed" "$(lib_digest "$MNT/lib")" "$before"
    no_temps "full disk" "$MNT/lib"
    expect_rc 0 python3 "$HERE/libcheck.py" "$MNT/lib" --strict &&
        ok "full disk: library still exact"
    TESTS_RUN=$((TESTS_RUN + 1))
    [ "$(df --output=used -B1 "$MNT" | tail -1)" -lt 100000 ] &&
        ok "full disk: space given back" || fail "full disk: $(df -h "$MNT" | tail -1)"

    mount -o remount,ro "$MNT"
    before=$(tree_digest "$MNT/lib")
    expect_rc 4 "$CMHASH" snapshot "$GOOD" MSC0000A --lib "$MNT/lib" &&
        ok "read-only library: exit 4"
    one_line_error "read-only library" "$MNT/lib" "Read-only file system" \
        "remount it read-write or use another --lib"
    same "read-only library: untouched" "$(tree_digest "$MNT/lib")" "$before"
    expect_rc 4 "$CMHASH" snapshot "$GOOD" MSC0000F --lib "$MNT/lib" &&
        ok "read-only library, new package: exit 4"
    one_line_error "read-only library, new package" "$MNT/lib" "Read-only file system"
    umount "$MNT"
    trap - EXIT
else
    echo "SKIP: full-disk and read-only cases need root to mount a tmpfs"
fi

# ---- UNC paths --------------------------------------------------------
UNC=$SCRATCH/unc
mkdir -p "$UNC/cm1/temp/sub"
printf 'unc\n' >"$UNC/cm1/temp/sub/u.txt"
bad 3 "UNC path without a mapping" '\\cm1\temp' MSC0000B -- '\\cm1\temp' \
    "is a UNC path with no local mapping" "--unc-root DIR" "CMHASH_UNC_ROOT"
expect_rc 0 "$CMHASH" snapshot '\\cm1\temp' MSC0000B --lib "$LIB" --unc-root "$UNC" \
    --record-source &&
    ok "UNC path with --unc-root"
echo "$OUT" | grep -qxF 'Taking package snapshot for package MSC0000B from source \\cm1\temp' ||
    fail "UNC distmgr line: $OUT"
TESTS_RUN=$((TESTS_RUN + 1))
grep -qaxF 'Source=\\cm1\temp'$'\r' "$LIB/DataLib/MSC0000B.1.INI" &&
    [ -f "$LIB/DataLib/MSC0000B.1/sub/u.txt.INI" ] &&
    ok "Source= keeps the UNC path; the share's files are stored" ||
    fail "UNC content: $(cat "$LIB/DataLib/MSC0000B.1.INI")"
expect_rc 0 env CMHASH_UNC_ROOT="$UNC" "$CMHASH" snapshot '//cm1/temp/sub' MSC0000B \
    --lib "$LIB" && ok "//server/share/dir with \$CMHASH_UNC_ROOT"
TESTS_RUN=$((TESTS_RUN + 1))
[ -f "$LIB/DataLib/MSC0000B.2/u.txt.INI" ] && ok "mapped to the share's sub folder" ||
    fail "//cm1/temp/sub: $(find "$LIB/DataLib/MSC0000B.2")"
bad 3 "UNC share missing under the root" '\\cm2\share' MSC0000B --unc-root "$UNC" -- \
    "$UNC/cm2/share" "does not exist" "--unc-root"
bad 3 "UNC path without a share" '\\cm1' MSC0000B --unc-root "$UNC" -- '\\cm1' \
    "is not a UNC share path"
expect_rc 0 python3 "$HERE/libcheck.py" "$LIB" --strict && ok "library exact at the end"
finish
