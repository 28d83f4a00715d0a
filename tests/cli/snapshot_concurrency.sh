# Issue 2, acceptance 5 (first half): concurrent snapshots by real
# processes. Two packages sharing most of their files, snapshotted at the
# same time round after round (each round also retires the previous
# round's files concurrently): both succeed and every reference list is
# exact. A second snapshot of the same package waits for the package lock;
# with --no-wait it fails with exit 6 and a clear message.
. "$CMHASH_TESTLIB"
set -e
HERE=$(dirname "$CMHASH_TESTLIB")
LIB=$SCRATCH/lib
ROUNDS=${CMHASH_TEST_ROUNDS:-4}
check() {
    local what=$1
    shift
    TESTS_RUN=$((TESTS_RUN + 1))
    if python3 "$HERE/libcheck.py" "$LIB" --strict "$@" >"$SCRATCH/lc.out"; then
        ok "$what: libcheck --strict (exact reference lists)"
    else
        fail "$what: libcheck --strict"
        grep -v '^note' "$SCRATCH/lc.out" | head -20 >&2
    fi
}

A=$SCRATCH/a
B=$SCRATCH/b
mkdir -p "$A/s" "$B/s"
for i in $(seq 1 100); do
    printf 'shared %d\n' $i >"$A/s/f$i.txt"
    printf 'shared %d\n' $i >"$B/s/f$i.txt"
done
head -c 3000000 /dev/urandom >"$A/big.bin"
cp "$A/big.bin" "$B/big.bin"
printf 'only A\n' >"$A/a.txt"
printf 'only B\n' >"$B/b.txt"

for r in $(seq 1 "$ROUNDS"); do
    # new bytes in both every round (retired by both next round) and one
    # file that moves from shared to unshared and back
    for d in "$A" "$B"; do
        rm -f "$d"/round-*
        printf 'round %d\n' "$r" >"$d/round-$r.txt"
        head -c 200000 /dev/zero | tr '\0' "$(printf "\\$(printf %o $((r + 64)))")" \
            >"$d/round-$r.bin"
    done
    printf 'A %d\n' "$r" >"$A/s/f$r.txt"
    # a file that changes hands each round: the package that takes it over
    # places it (finding it in FileLib, pinning it) while the other package
    # retires its only reference and deletes it
    rm -f "$A/moving.bin" "$B/moving.bin"
    if [ $((r % 2)) = 0 ]; then to=$A; else to=$B; fi
    head -c 1500000 /dev/zero | tr '\0' m >"$to/moving.bin"
    set +e
    "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --threads 2 --no-fsync \
        >"$SCRATCH/a.out" 2>&1 &
    pa=$!
    "$CMHASH" snapshot "$B" MSC0000B --lib "$LIB" --threads 2 --no-fsync \
        >"$SCRATCH/b.out" 2>&1 &
    pb=$!
    wait $pa
    ra=$?
    wait $pb
    rb=$?
    set -e
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ $ra = 0 ] && [ $rb = 0 ]; then
        ok "round $r: both concurrent snapshots succeeded"
    else
        fail "round $r: exit codes $ra $rb"
        cat "$SCRATCH/a.out" "$SCRATCH/b.out" >&2
    fi
    HA=$("$CMHASH" hash "$A" | cut -c1-64)
    HB=$("$CMHASH" hash "$B" | cut -c1-64)
    check "round $r" --expect "MSC0000A=$r:$HA" --expect "MSC0000B=$r:$HB"
done
# the shared big file: one FileLib copy listing both
BIG=$(sha256sum "$A/big.bin" | cut -c1-64 | tr a-f A-F)
TESTS_RUN=$((TESTS_RUN + 1))
got=$(tr -d '\r' <"$LIB/FileLib/${BIG:0:4}/$BIG.INI" | tr '\n' ' ')
[ "$got" = "[File] MSC0000A.$ROUNDS= MSC0000B.$ROUNDS= " ] &&
    ok "shared big file lists exactly both packages" || fail "big refs: $got"

# ---- one of two concurrent snapshots killed ------------------------------
# (SIGKILL at a crash point, see snapshot_crash.sh): the other one completes,
# the library stays valid, and a re-run of the killed one makes it exact
V=$ROUNDS
for p in refini:40 drop:1 unlink:1; do
    V=$((V + 1))
    printf 'A kill %s\n' "$p" >"$A/killed-round.txt"
    printf 'kill %s\n' "$p" >"$B/killed-round.txt"
    set +e
    CMHASH_TEST_CRASH_AT=$p "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" \
        --no-fsync >"$SCRATCH/a.out" 2>&1 &
    pa=$!
    "$CMHASH" snapshot "$B" MSC0000B --lib "$LIB" --no-fsync >"$SCRATCH/b.out" 2>&1 &
    pb=$!
    wait $pa
    ra=$?
    wait $pb
    rb=$?
    set -e
    TESTS_RUN=$((TESTS_RUN + 1))
    [ $ra = 137 ] && [ $rb = 0 ] &&
        ok "A killed at $p while B ran: B completed" ||
        fail "A killed at $p: exit codes $ra (want 137) $rb: $(cat "$SCRATCH/b.out")"
    HB=$("$CMHASH" hash "$B" | cut -c1-64)
    TESTS_RUN=$((TESTS_RUN + 1))
    if python3 "$HERE/libcheck.py" "$LIB" --expect "MSC0000B=$V:$HB" >"$SCRATCH/lc.out"; then
        ok "A killed at $p: library valid"
    else
        fail "A killed at $p: library invalid"
        grep -v '^note' "$SCRATCH/lc.out" | head >&2
    fi
    # and verify agrees: a crash leaves warnings, no error on live content
    TESTS_RUN=$((TESTS_RUN + 1))
    set +e
    "$CMHASH" verify --lib "$LIB" --quiet --json="$SCRATCH/v.json" >/dev/null 2>&1
    rv=$?
    set -e
    errs=$(grep '"severity":"error"' "$SCRATCH/v.json" | head -3)
    bad=$(grep '"type":"content"' "$SCRATCH/v.json" | grep -v '"status":"validated"' | head -3)
    [ "$rv" -le 1 ] && [ -z "$errs" ] && [ -z "$bad" ] &&
        ok "A killed at $p: verify finds no error on live content" ||
        fail "A killed at $p: verify exit $rv: $errs $bad"
    expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --no-fsync
    HA=$("$CMHASH" hash "$A" | cut -c1-64)
    VA=$(sed -n 's/^MSC0000A\.\([0-9]*\)=\r$/\1/p' "$LIB/PkgLib/MSC0000A.INI")
    TESTS_RUN=$((TESTS_RUN + 1))
    if python3 "$HERE/libcheck.py" "$LIB" --strict --allow-temps --allow-orphan-files \
        --expect "MSC0000A=$VA:$HA" --expect "MSC0000B=$V:$HB" >"$SCRATCH/lc.out"; then
        ok "A killed at $p: re-run leaves exact reference lists"
    else
        fail "A killed at $p: not exact after the re-run"
        grep -v '^note' "$SCRATCH/lc.out" | head >&2
    fi
done
rm -f "$A/killed-round.txt" "$B/killed-round.txt"
find "$LIB" -name '.cmhash-tmp-*' -exec rm -rf {} + 2>/dev/null || true
for h in "$LIB"/FileLib/*/*; do   # the killed runs' unreferenced files (gc)
    case $h in *.INI | *.SIG) continue ;; esac
    [ -e "$h.INI" ] || rm -f "$h" "$h.SIG"
done
ROUNDS_A=$VA

# ---- the same package twice --------------------------------------------
# hold_lock SECONDS [FILE]: hold .cmhash/MSC0000A.lock (or FILE) like a
# running snapshot
hold_lock() {
    local f=${2:-$LIB/.cmhash/MSC0000A.lock}
    flock "$f" sleep "$1" &
    HOLDER=$!
    local i
    for i in $(seq 100); do
        flock -n "$f" true || return 0
        sleep 0.05
    done
    fail "could not take the lock with flock"
}
for WHERE in .cmhash PkgLib; do
    # PkgLib: the lock of an earlier cmhash version, honoured while held
    before=$(tree_digest "$LIB")
    hold_lock 2 "$LIB/$WHERE/MSC0000A.lock"
    [ "$WHERE" = PkgLib ] && before=$(tree_digest "$LIB")
    t0=$(date +%s.%N)
    expect_rc 6 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --no-wait &&
        ok "--no-wait on a locked package ($WHERE): exit 6"
    t1=$(date +%s.%N)
    echo "$ERR" | grep -q "^cmhash: error: package MSC0000A is being written by another snapshot ($LIB/$WHERE/MSC0000A.lock is locked); run again later" ||
        fail "--no-wait message: $ERR"
    [ "$(echo "$ERR" | wc -l)" = 1 ] || fail "--no-wait: more than one line: $ERR"
    awk "BEGIN{exit !($t1 - $t0 < 2)}" && ok "--no-wait returned at once" ||
        fail "--no-wait took $(awk "BEGIN{print $t1 - $t0}") s"
    TESTS_RUN=$((TESTS_RUN + 1))
    [ "$(tree_digest "$LIB")" = "$before" ] && ok "library untouched by --no-wait" ||
        fail "--no-wait changed the library"
    wait "$HOLDER" || true
done
# the earlier version's lock, no longer held, is removed by the next writer
[ -e "$LIB/PkgLib/MSC0000A.lock" ] || fail "flock did not leave PkgLib/MSC0000A.lock"

# without --no-wait: waits until the holder lets go, then succeeds
hold_lock 2
t0=$(date +%s.%N)
printf 'waited\n' >"$A/waited.txt"
expect_rc 0 "$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --no-fsync &&
    ok "a second writer of the same package waits and succeeds"
t1=$(date +%s.%N)
wait "$HOLDER" || true
awk "BEGIN{exit !($t1 - $t0 >= 1.5)}" &&
    ok "it waited for the lock ($(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s)" ||
    fail "it did not wait: $(awk "BEGIN{print $t1 - $t0}") s"
V=$((ROUNDS_A + 1))
HA=$("$CMHASH" hash "$A" | cut -c1-64)
check "after the wait" --expect "MSC0000A=$V:$HA"
TESTS_RUN=$((TESTS_RUN + 1))
[ ! -e "$LIB/PkgLib/MSC0000A.lock" ] &&
    ok "an unused PkgLib/MSC0000A.lock (earlier version) is removed" ||
    fail "PkgLib/MSC0000A.lock is still there"

# two real snapshots of the same package at once: one waits for the other;
# they write consecutive versions and the later one retires the earlier
set +e
"$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --no-fsync >"$SCRATCH/1.out" 2>&1 &
p1=$!
"$CMHASH" snapshot "$A" MSC0000A --lib "$LIB" --no-fsync >"$SCRATCH/2.out" 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
set -e
TESTS_RUN=$((TESTS_RUN + 1))
[ $r1 = 0 ] && [ $r2 = 0 ] && ok "two snapshots of one package at once: both succeed" ||
    fail "same package: exit codes $r1 $r2: $(cat "$SCRATCH/1.out" "$SCRATCH/2.out")"
vers=$(cat "$SCRATCH/1.out" "$SCRATCH/2.out" |
    sed -n 's/^Adding these contents to the package MSC0000A version \([0-9]*\)\.$/\1/p' |
    sort -n | tr '\n' ' ')
TESTS_RUN=$((TESTS_RUN + 1))
[ "$vers" = "$((V + 1)) $((V + 2)) " ] && ok "they wrote versions $vers" ||
    fail "versions written: '$vers'"
check "after two writers of one package" --expect "MSC0000A=$((V + 2)):$HA"
finish
