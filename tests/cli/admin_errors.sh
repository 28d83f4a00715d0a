# Issue 12 item 3: errors that list everything. 300 bad names: the line
# shows the first names quoted, "and K more" and the hint (never cut off);
# the whole list is in --json and in the log. Usage errors are one line
# plus "see cmhash help CMD". Advice names the real cause.
. "$CMHASH_TESTLIB"
set -e
B=$SCRATCH/bad
mkdir -p "$B"
for i in $(seq 1 300); do : >"$B/bad$i:name.txt"; done
expect_rc 3 "$CMHASH" snapshot "$B" MSC00001 --lib "$SCRATCH/lib" --json \
    --log "$SCRATCH/run.log" || true
TESTS_RUN=$((TESTS_RUN + 1))
LINE=$(printf '%s\n' "$ERR" | grep '^cmhash: error:')
[ "$(printf '%s\n' "$ERR" | grep -c .)" = 1 ] &&
    case $LINE in
    *"has 300 name(s) a Windows distribution point cannot hold: 'bad"*"; and 290 more; rename them and run again") ok "one line: 10 names, 'and 290 more', the hint" ;;
    *) fail "line: $LINE" ;;
    esac || fail "stderr is not one line: $ERR"
TESTS_RUN=$((TESTS_RUN + 1))
[ "$(printf '%s' "$LINE" | grep -o "'bad[0-9]*:name.txt'" | wc -l)" = 10 ] &&
    ok "10 names quoted" || fail "quoted names: $LINE"
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
names = sorted(x.split("\x27")[1] for x in d["details"])
assert names == sorted("bad%d:name.txt" % i for i in range(1, 301)), names[:3]
' && ok "--json details: all 300 names" || fail "json: ${OUT:0:300}"
TESTS_RUN=$((TESTS_RUN + 1))
n=$(grep -c "'bad[0-9]*:name.txt': contains one of" "$SCRATCH/run.log" || true)
[ "$n" -ge 300 ] && ok "the log has all 300 names ($n lines)" ||
    fail "log has $n of 300"

# usage errors: one line, no help text
for args in "ls --bogus" "verify --subset" "extract onlyone" "snapshot x" \
    "gc --apply=yes" "hash"; do
    # shellcheck disable=SC2086
    expect_rc 2 "$CMHASH" $args || true
    TESTS_RUN=$((TESTS_RUN + 1))
    cmd=${args%% *}
    [ "$(printf '%s\n' "$ERR" | grep -c .)" = 1 ] &&
        case $ERR in *"; see cmhash help $cmd") ok "usage '$args': one line" ;;
        *) fail "usage '$args': $ERR" ;; esac ||
        fail "usage '$args' is not one line: $ERR"
done

# advice names the real cause
S=$SCRATCH/src
mkdir -p "$S"
printf 'x\n' >"$S/a.txt"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00002 --lib "$SCRATCH/lib" --quiet
mkdir -p "$SCRATCH/ro"
chmod 555 "$SCRATCH/ro"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    chmod o+rx "$SCRATCH" "$SCRATCH/lib" 2>/dev/null || true
    # the library must be reachable by that user (a scratch folder under
    # a mode-0700 ancestor, e.g. mktemp -d, is not): else the case would
    # test "cannot open library", not the destination's advice
    if ! "${AS[@]}" test -r "$SCRATCH/lib/PkgLib" 2>/dev/null; then
        echo "SKIP: extract advice as uid 65534: an ancestor of $SCRATCH is not searchable by it"
        AS=(skip)
    fi
else
    AS=()
fi
if [ "${AS[0]:-}" != skip ] && { [ "$(id -u)" != 0 ] || [ ${#AS[@]} -gt 0 ]; }; then
    expect_rc 5 "${AS[@]}" "$CMHASH" extract MSC00002 "$SCRATCH/ro/out" \
        --lib "$SCRATCH/lib" || true
    TESTS_RUN=$((TESTS_RUN + 1))
    case $ERR in
    *"write access to the destination"*) ok "extract: the destination is named as the problem" ;;
    *) fail "extract advice: $ERR" ;;
    esac
fi
# a file where a folder of DEST must go
mkdir -p "$SCRATCH/d2"
: >"$SCRATCH/d2/file"
expect_rc 5 "$CMHASH" extract MSC00002 "$SCRATCH/d2/file/out" \
    --lib "$SCRATCH/lib" || true
TESTS_RUN=$((TESTS_RUN + 1))
case $ERR in
*"check the disk"*) fail "ENOTDIR blamed on the disk: $ERR" ;;
*"a file is in the way"*) ok "ENOTDIR: a file is in the way" ;;
*) fail "ENOTDIR advice: $ERR" ;;
esac
# a content folder that is a symbolic link: named as such, not "(a
# symbolic link or not a folder?)"
L=$SCRATCH/lib
mv "$L/DataLib/MSC00002.1" "$SCRATCH/mirror"
ln -s "$SCRATCH/mirror" "$L/DataLib/MSC00002.1"
expect_rc 4 "$CMHASH" extract MSC00002 "$SCRATCH/out3" --lib "$L" || true
TESTS_RUN=$((TESTS_RUN + 1))
case $ERR in
*"or not a folder?"*) fail "guessing advice: $ERR" ;;
*"a symbolic link, which a library never holds"*) ok "a linked mirror is named as a link" ;;
*) fail "link advice: $ERR" ;;
esac
finish
