#!/usr/bin/env bash
# Scale run (issue 6): a library of 1,000,000 FileLib entries (tiny files)
# and a package of 200,000 files, built and checked by real `cmhash
# snapshot` / `cmhash verify` runs.  Measures wall time and peak RSS
# (/usr/bin/time, Debian package "time") at 250k, 500k and 1M entries,
# checks that time grows linearly and RSS stays under the bound, and
# records the table in docs/BENCHMARKS.md (section "Scale").
#
#   bash bench/scale.sh [--scale F] [--build DIR] [--work DIR] [--keep]
#                       [--record | --no-record] [--threads N]
#                       [--from RESULTS.tsv [--note TEXT]]
#
# The library: package SCL00001 holds the 200,000-file package; then
# packages of 50,000 files each (SCL00002...) until 1,000,000 entries.
# Every file's bytes are unique, so entries = files.  At each checkpoint
# the table gets the snapshot of the package that reached it (a
# 50,000-file snapshot into a library of N entries) and a full verify of
# the library.  --scale F multiplies every count (CI smoke: --scale 0.01);
# results are recorded only at full scale unless --record.  --from
# re-renders (and with --record records) the table of an earlier run's
# WORK/results.tsv, e.g. a run stopped before 1M; --note adds a remark.  Snapshots use
# --no-fsync (the benchmark mode, section 7 of the format) so the numbers
# measure cmhash, not the disk's flush latency.
# Needs about 30 GB and 6.5 M inodes in --work at full scale; removed
# afterwards unless --keep.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
scale=1
build=$root/build
work=${TMPDIR:-/tmp}/cmhash-scale
keep=0
record=auto
threads=$(nproc)
from=
note=
while [ $# -gt 0 ]; do
    case $1 in
    --scale) scale=$2; shift ;;
    --build) build=$2; shift ;;
    --work) work=$2; shift ;;
    --keep) keep=1 ;;
    --record) record=1 ;;
    --no-record) record=0 ;;
    --threads) threads=$2; shift ;;
    --from) from=$2; shift ;;
    --note) note=$2; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
cmhash=${CMHASH:-$build/cli/cmhash}
[ -x "$cmhash" ] || { echo "scale.sh: no $cmhash (build first)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "scale.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
if [ "$record" = auto ]; then
    record=0
    [ "$scale" = 1 ] && record=1
fi
n_of() { python3 -c "import sys; print(max(1, round($1 * float(sys.argv[1]))))" "$scale"; }
total=$(n_of 1000000)
big=$(n_of 200000)
unit=$(n_of 50000)
checkpoints="$(n_of 250000) $(n_of 500000) $total"
rss_bound_kb=$((512 * 1024)) # docs/BENCHMARKS.md: under 512 MiB at 1M

rm -rf "$work"
mkdir -p "$work"
lib=$work/lib
res=$work/results.tsv
: >"$res"
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
build_secs="?"
if [ -n "$from" ]; then
    cp "$from" "$res"
else

# timed LABEL CMD...: run CMD under /usr/bin/time; sets T_WALL, T_RSS (KB),
# T_CPU (user + system seconds) and T_RC; CMD's output goes to
# $work/LABEL.out.
timed() {
    local label=$1 usr sys
    shift
    set +e
    /usr/bin/time -f '%e %M %U %S' -o "$work/$label.time" "$@" \
        >"$work/$label.out" 2>&1
    T_RC=$?
    set -e
    read -r T_WALL T_RSS usr sys <"$work/$label.time"
    T_CPU=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) + float(sys.argv[2])))" "$usr" "$sys")
}

entries=0
pkgno=0
build_start=$(date +%s.%N)
snapshot_next() { # COUNT SOURCE: snapshot the next package
    pkgno=$((pkgno + 1))
    local id
    id=$(printf 'SCL%05X' "$pkgno")
    timed "snap-$id" "$cmhash" snapshot "$2" "$id" --lib "$lib" \
        --no-fsync --quiet --threads "$threads"
    if [ "$T_RC" != 0 ]; then
        echo "FAIL: snapshot $id exited $T_RC" >&2
        tail -5 "$work/snap-$id.out" >&2
        exit 1
    fi
    entries=$((entries + $1))
    SNAP_ID=$id
}

verify_all() { # LABEL
    local l=verify-$entries-$1
    timed "$l" "$cmhash" verify --lib "$lib" --quiet --threads "$threads"
    if [ "$T_RC" != 0 ]; then
        echo "FAIL: verify at $entries entries exited $T_RC" >&2
        tail -5 "$work/$l.out" >&2
        exit 1
    fi
    # every entry hashed exactly once
    if ! grep -q "FileLib files: $entries hashed" "$work/$l.out"; then
        echo "FAIL: verify did not hash $entries FileLib files:" >&2
        cat "$work/$l.out" >&2
        exit 1
    fi
}

echo "scale: $total entries ($big-file package, then $unit-file packages)," \
    "threads $threads, work $work"
python3 "$here/scale_gen.py" "$work/big" "$big" BIG
snapshot_next "$big" "$work/big"
printf 'snapshot\t%s\t%s\t%s\t%s\t%s\n' "$big-file package (new library)" \
    "$entries" "$T_WALL" "$T_RSS" "$T_CPU" >>"$res"
echo "  snapshot $SNAP_ID ($big files): ${T_WALL}s, ${T_RSS} KB"
rm -rf "$work/big"

for cp in $checkpoints; do
    while [ "$entries" -lt "$cp" ]; do
        n=$((cp - entries))
        [ "$n" -le "$unit" ] || n=$unit
        python3 "$here/scale_gen.py" "$work/src" "$n" "P$((pkgno + 1))"
        snapshot_next "$n" "$work/src"
    done
    printf 'snapshot\t%s\t%s\t%s\t%s\t%s\n' "$n-file package" "$entries" \
        "$T_WALL" "$T_RSS" "$T_CPU" >>"$res"
    echo "  snapshot $SNAP_ID ($n files) into $entries entries: ${T_WALL}s, ${T_RSS} KB, ${T_CPU} s CPU"
    # Twice: first as the snapshots left the page cache (this VM reclaims
    # pages 30-60 s after last access, so the older packages' files are
    # read from disk: wall time is then storage-bound), then again right
    # after (warm). Linearity is judged on the warm run and on CPU time.
    verify_all first
    printf 'verify\t%s\t%s\t%s\t%s\t%s\n' "whole library (after the snapshots)" \
        "$entries" "$T_WALL" "$T_RSS" "$T_CPU" >>"$res"
    echo "  verify $entries entries: ${T_WALL}s, ${T_RSS} KB, ${T_CPU} s CPU"
    verify_all warm
    printf 'verify\t%s\t%s\t%s\t%s\t%s\n' "whole library, again (warm)" \
        "$entries" "$T_WALL" "$T_RSS" "$T_CPU" >>"$res"
    echo "  verify $entries entries again (warm): ${T_WALL}s, ${T_RSS} KB, ${T_CPU} s CPU"
done
build_secs=$(python3 -c "import time,sys; print('%.0f' % (time.time()-float(sys.argv[1])))" "$build_start")
fi # --from

# Linear growth: verify time per entry at 1M within 1.5x of that at 250k
# (the machine is shared, so allow noise but not an n log n or n^2 term);
# a 50k snapshot into 1M entries within 2x of one into 250k; peak RSS of
# every run under the bound.
python3 - "$res" "$rss_bound_kb" "$work/verdict.txt" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
for r in rows:  # results of older runs have no CPU column
    if len(r) < 6:
        r.append("")
bound = int(sys.argv[2])
# the warm verifies where the run has them (older runs: the only ones)
ver = [r for r in rows if r[0] == "verify" and "warm" in r[1]] or \
      [r for r in rows if r[0] == "verify"]
snap = [(int(r[2]), float(r[3])) for r in rows
        if r[0] == "snapshot" and "new library" not in r[1]]
problems = []
n0, t0, c0 = int(ver[0][2]), float(ver[0][3]), ver[0][5]
n1, t1, c1 = int(ver[-1][2]), float(ver[-1][3]), ver[-1][5]
vr = (t1 / n1) / (t0 / n0) if t0 > 0 else 1.0
if vr > 1.5:
    problems.append("verify time per entry grew %.2fx from %d to %d" % (vr, n0, n1))
cr = None
if c0 and c1 and float(c0) > 0:
    cr = (float(c1) / n1) / (float(c0) / n0)
    if cr > 1.5:
        problems.append("verify CPU time per entry grew %.2fx from %d to %d"
                        % (cr, n0, n1))
sr = snap[-1][1] / snap[0][1] if snap[0][1] > 0 else 1.0
if sr > 2.0:
    problems.append("snapshot of one package grew %.2fx from %d to %d entries"
                    % (sr, snap[0][0], snap[-1][0]))
for r in rows:
    if int(r[4]) > bound:
        problems.append("%s %s at %s entries: peak RSS %s KB > %d KB"
                        % (r[0], r[1], r[2], r[4], bound))
with open(sys.argv[3], "w") as f:
    f.write("verify time per entry (warm), %d vs %d entries: %.2fx%s; "
            "snapshot of one package, %d vs %d entries: %.2fx\n"
            % (n1, n0, vr,
               "" if cr is None else " (CPU time per entry: %.2fx)" % cr,
               snap[-1][0], snap[0][0], sr))
    for p in problems:
        f.write("FAIL: " + p + "\n")
PY
cat "$work/verdict.txt"

table=$work/table.md
{
    echo "| run | entries in library | wall time (s) | CPU user+sys (s) | peak RSS (MiB) | entries/s |"
    echo "|---|---:|---:|---:|---:|---:|"
    while IFS=$'\t' read -r kind what n wall rss cpu; do
        files=$n
        case $what in *-file\ package*) files=${what%%-file*} ;; esac
        python3 -c "import sys; k,w,n,t,r,f,c=sys.argv[1:]; print('| %s %s | %s | %.1f | %s | %.0f | %.0f |' % (k, w, n, float(t), c or '?', int(r)/1024, int(f)/max(float(t),1e-3)))" \
            "$kind" "$what" "$n" "$wall" "$rss" "$files" "${cpu:-}"
    done <"$res"
} >"$table"
cat "$table"

if [ "$record" = 1 ]; then
    doc=$root/docs/BENCHMARKS.md
    touch "$doc"
    # replace our own section (always the last one) or append it
    python3 - "$doc" "$table" "$work/verdict.txt" "$build_secs" "$threads" \
        "$total" "$big" "$unit" "$note" <<'PY'
import sys, datetime, os
doc, table, verdict, build_secs, threads, total, big, unit, note = sys.argv[1:]
fmt = lambda n: "{:,}".format(int(n))
text = open(doc).read()
i = text.find("\n## Scale\n")
if i >= 0:
    j = text.find("\n## ", i + 1)
    tail = text[j:] if j >= 0 else ""
    text = text[:i] + tail
text = text.rstrip("\n") + "\n"
cpu = "?"
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        cpu = l.split(":", 1)[1].strip(); break
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
sec = f"""
## Scale

`bash bench/scale.sh` (issue 6; about 30 GB and 6.5 M inodes of scratch,
removed afterwards). The library is built by real `cmhash snapshot` runs
(`--no-fsync`): package SCL00001 of {fmt(big)} tiny files, then packages
of {fmt(unit)} tiny files until {fmt(total)} FileLib entries (every file
unique, so entries = files). At 250k, 500k and 1M entries: the snapshot of the
package that reached the mark, and a full `cmhash verify` of the library
(exit 0, every entry hashed once), run twice: first as the snapshots left
the page cache (this VM reclaims pages 30-60 s after last access, so the
older packages are read back from disk), then again at once (warm). Wall
time, CPU time and peak RSS from `/usr/bin/time`. Measured {when}, {os.cpu_count()} CPUs ({cpu}),
{mem} MiB RAM, {threads} threads, machine shared with other work; building
the whole library took {build_secs} s.

{open(table).read().rstrip()}

Linearity and bound (checked by the script: warm verify time and verify
CPU time per entry at 1M within 1.5x of those at 250k, one package's
snapshot within 2x, every peak RSS under 512 MiB): {open(verdict).read().strip()}
{note}
"""
open(doc, "w").write(text + sec)
PY
    echo "recorded in $doc"
fi
if grep -q '^FAIL' "$work/verdict.txt"; then exit 1; fi
echo "scale: ok"
