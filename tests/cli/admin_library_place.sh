# Issue 12 item 2: where the library goes. A library inside the source or
# a source inside the library is refused; a new library is announced; a
# mistyped --lib is not created with all its parents (only the last
# component is created); a failed snapshot leaves no new library and no
# lock behind.
. "$CMHASH_TESTLIB"
set -e
S=$SCRATCH/src
mkdir -p "$S/sub"
printf 'one\n' >"$S/a.txt"

# cd src; cmhash snapshot . P  -> ./SCCMContentLib would be inside .
TESTS_RUN=$((TESTS_RUN + 1))
(cd "$S" && "$CMHASH" snapshot . MSC00001 >/dev/null 2>&1) && rc=0 || rc=$?
[ "$rc" = 2 ] && ok "library inside the source refused (exit 2)" ||
    fail "cd src; snapshot . P: exit $rc"
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$S/SCCMContentLib" ] && ok "nothing created in the source" ||
    fail "the source got $S/SCCMContentLib"
expect_rc 2 "$CMHASH" snapshot "$S" MSC00001 --lib "$S/sub/lib" &&
    case $ERR in
    *"inside the source"*"put --lib outside the source"*) ok "message says why and what to do" ;;
    *) fail "message: $ERR" ;;
    esac

# a new library is announced in one line
expect_rc 0 "$CMHASH" snapshot "$S" MSC00001 --lib "$SCRATCH/lib" --quiet
TESTS_RUN=$((TESTS_RUN + 1))
[ "$(printf '%s\n' "$OUT" | grep -c "^Created new library at $SCRATCH/lib\$")" = 1 ] &&
    ok "new library announced" || fail "no announcement: $OUT"
expect_rc 0 "$CMHASH" snapshot "$S" MSC00002 --lib "$SCRATCH/lib" --quiet
TESTS_RUN=$((TESTS_RUN + 1))
case $OUT in *"Created new library"*) fail "announced again: $OUT" ;;
*) ok "an existing library is not announced" ;; esac
expect_rc 0 "$CMHASH" snapshot "$S" MSC00003 --lib "$SCRATCH/lib2" --json
TESTS_RUN=$((TESTS_RUN + 1))
printf '%s' "$OUT" | python3 -c 'import json,sys; assert json.load(sys.stdin)["library_created"] is True' &&
    ok "--json: library_created" || fail "json: $OUT"

# a source inside the library
expect_rc 2 "$CMHASH" snapshot "$SCRATCH/lib/DataLib" MSC00004 --lib "$SCRATCH/lib" &&
    ok "source inside the library refused"

# a mistyped --lib: no chain of parents
expect_rc 4 "$CMHASH" snapshot "$S" MSC00001 --lib "$SCRATCH/typo/deeper/lib" &&
    case $ERR in
    *"parent folder does not exist"*) ok "mistyped --lib: clear error (exit 4)" ;;
    *) fail "message: $ERR" ;;
    esac
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$SCRATCH/typo" ] && ok "no parents created" || fail "created $SCRATCH/typo"

# a failed snapshot (names Windows cannot hold) leaves no new library
mkdir -p "$SCRATCH/bad"
: >"$SCRATCH/bad/CON.txt"
expect_rc 3 "$CMHASH" snapshot "$SCRATCH/bad" MSC00005 --lib "$SCRATCH/newlib" &&
    ok "bad source: exit 3"
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$SCRATCH/newlib" ] && ok "failed snapshot: no new library, no lock" ||
    fail "left behind: $(find "$SCRATCH/newlib")"
# ... also when the library folder existed (empty): only it stays, empty
mkdir "$SCRATCH/emptylib"
expect_rc 3 "$CMHASH" snapshot "$SCRATCH/bad" MSC00005 --lib "$SCRATCH/emptylib" || true
TESTS_RUN=$((TESTS_RUN + 1))
[ -d "$SCRATCH/emptylib" ] && [ -z "$(ls -A "$SCRATCH/emptylib")" ] &&
    ok "failed snapshot into an empty folder: left empty" ||
    fail "left behind: $(find "$SCRATCH/emptylib")"
# an existing library is never removed by a failure
expect_rc 3 "$CMHASH" snapshot "$SCRATCH/bad" MSC00005 --lib "$SCRATCH/lib" || true
TESTS_RUN=$((TESTS_RUN + 1))
[ -f "$SCRATCH/lib/PkgLib/MSC00001.INI" ] && ok "existing library kept" ||
    fail "existing library damaged"
finish
