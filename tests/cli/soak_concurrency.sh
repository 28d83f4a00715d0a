#!/usr/bin/env bash
# Concurrency soak (issue 6): two snapshot loops of different packages
# sharing files (each alternating between two source trees, so every run
# writes a new version and retires the previous one), a verify loop and,
# when built, a gc dry-run loop, all at once for CMHASH_SOAK_SECONDS
# (default 20). Asserts: every snapshot succeeds; a verify running beside
# them reports no error except on packages it reported BUSY (those it
# skips) - warnings (temps, orphans, dangling references of a retirement in
# flight) are allowed while writers run; gc dry runs never fail or write;
# afterwards verify is clean and libcheck --strict finds every reference
# list exact (nothing was killed, so no temp or orphan is allowed).
set -euo pipefail
. "$CMHASH_TESTLIB"
HERE=$(dirname "$CMHASH_TESTLIB")
LIB=$SCRATCH/lib
SECS=${CMHASH_SOAK_SECONDS:-20}
LOGS=$SCRATCH/logs
mkdir -p "$LOGS"

# sources: A1/A2 for package SOK00001, B1/B2 for SOK00002; every tree has
# the shared files, a 1 MB file shared by A1 and B2 only (it moves between
# the packages as they alternate), and bytes of its own
for t in A1 A2 B1 B2; do
    d=$SCRATCH/$t
    mkdir -p "$d/shared" "$d/own"
    for i in $(seq 1 40); do printf 'shared %d\n' "$i" >"$d/shared/s$i.txt"; done
    for i in $(seq 1 20); do printf '%s own %d\n' "$t" "$i" >"$d/own/o$i.txt"; done
    head -c 300000 /dev/zero | tr '\0' "${t:0:1}" >"$d/own/big.bin"
done
head -c 1000000 /dev/zero | tr '\0' m >"$SCRATCH/A1/moving.bin"
cp "$SCRATCH/A1/moving.bin" "$SCRATCH/B2/moving.bin"
printf 'A2 variant\n' >"$SCRATCH/A2/shared/s1.txt"

have_gc=0
"$CMHASH" help gc >/dev/null 2>&1 && have_gc=1
end=$((SECONDS + SECS))

snap_loop() { # PKG SRC1 SRC2
    local i=0
    while [ "$SECONDS" -lt "$end" ]; do
        i=$((i + 1))
        local src=$2
        [ $((i % 2)) = 1 ] || src=$3
        set +e
        "$CMHASH" snapshot "$SCRATCH/$src" "$1" --lib "$LIB" --threads 2 \
            --no-fsync --quiet >"$LOGS/snap-$1-$i.out" 2>&1
        echo "$?" >"$LOGS/snap-$1-$i.rc"
        set -e
        # pauses of 0-0.3 s: verify also starts while a package is idle and
        # a snapshot takes the lock in the middle of its run
        sleep "0.$((RANDOM % 4))"
    done
}
verify_loop() {
    local i=0
    while [ "$SECONDS" -lt "$end" ]; do
        i=$((i + 1))
        set +e
        "$CMHASH" verify --lib "$LIB" --threads 2 --quiet \
            --json="$LOGS/verify-$i.jsonl" >"$LOGS/verify-$i.out" 2>&1
        echo "$?" >"$LOGS/verify-$i.rc"
        set -e
    done
}
gc_loop() {
    local i=0
    while [ "$SECONDS" -lt "$end" ]; do
        i=$((i + 1))
        set +e
        "$CMHASH" gc --lib "$LIB" >"$LOGS/gc-$i.out" 2>&1
        echo "$?" >"$LOGS/gc-$i.rc"
        set -e
    done
}

# the library exists before the loops start (verify needs one)
"$CMHASH" snapshot "$SCRATCH/A1" SOK00001 --lib "$LIB" --no-fsync --quiet \
    >/dev/null
"$CMHASH" snapshot "$SCRATCH/B1" SOK00002 --lib "$LIB" --no-fsync --quiet \
    >/dev/null
snap_loop SOK00001 A2 A1 &
p1=$!
snap_loop SOK00002 B2 B1 &
p2=$!
verify_loop &
p3=$!
pids="$p1 $p2 $p3"
if [ "$have_gc" = 1 ]; then
    gc_loop &
    pids="$pids $!"
fi
for p in $pids; do wait "$p"; done

# every snapshot succeeded
nsnap=0
for f in "$LOGS"/snap-*.rc; do
    nsnap=$((nsnap + 1))
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ "$(cat "$f")" != 0 ]; then
        fail "$(basename "$f" .rc) exited $(cat "$f")"
        tail -5 "${f%.rc}.out" >&2
    fi
done
ok "$nsnap concurrent snapshots ran"
TESTS_RUN=$((TESTS_RUN + 1))
if [ "$nsnap" -ge 4 ]; then ok "at least 2 versions per package"; else
    fail "only $nsnap snapshots ran in $SECS s"; fi

# concurrent verifies: exit 0 or 1, and no error but on BUSY packages
TESTS_RUN=$((TESTS_RUN + 1))
if python3 - "$LOGS" <<'PY'; then ok "concurrent verifies: no unexplained error"; else fail "concurrent verifies reported errors"; fi
import glob, json, os, re, sys
logs = sys.argv[1]
bad = runs = busy_runs = idle_runs = 0
for rcf in sorted(glob.glob(os.path.join(logs, "verify-*.rc"))):
    runs += 1
    rc = open(rcf).read().strip()
    base = rcf[:-3]
    if rc not in ("0", "1"):
        print("%s: exit %s: %s" % (base, rc, open(base + ".out").read()[-400:]))
        bad += 1
        continue
    lines = [json.loads(l) for l in open(base + ".jsonl") if l.strip()]
    busy = set()
    for o in lines:
        if o.get("type") == "finding" and o.get("code") == "BUSY":
            busy.add(re.sub(r"\.lock$", "", o["path"].split("/")[-1]))
    busy_runs += bool(busy)
    idle_runs += len(busy) < 2
    for o in lines:
        if o.get("type") != "finding" or o.get("severity") != "error":
            continue
        pkg = (o.get("content_id") or "").split(".")[0]
        if pkg and pkg in busy:
            continue
        print("%s: unexplained error (busy: %s): %s" % (base, sorted(busy), o))
        bad += 1
print("note: %d verify runs, %d saw a busy package, %d an idle one"
      % (runs, busy_runs, idle_runs))
if runs < 2:
    print("too few verify runs")
    bad += 1
sys.exit(1 if bad else 0)
PY

if [ "$have_gc" = 1 ]; then
    for f in "$LOGS"/gc-*.rc; do
        TESTS_RUN=$((TESTS_RUN + 1))
        case $(cat "$f") in
        0 | 1) ;;
        *) fail "$(basename "$f" .rc) exited $(cat "$f")" ;;
        esac
    done
fi

# afterwards: verify clean, reference lists exact
expect_rc 0 "$CMHASH" verify --lib "$LIB" --quiet && ok "verify clean after the soak"
TESTS_RUN=$((TESTS_RUN + 1))
if python3 "$HERE/libcheck.py" "$LIB" --strict >"$SCRATCH/lc.out"; then
    ok "libcheck --strict: every reference list exact"
else
    fail "libcheck --strict"
    grep -v '^note' "$SCRATCH/lc.out" | head -20 >&2
fi
finish
