#!/usr/bin/env bash
# A/B of verify's cold I/O schemes (issue 14, item 3): on one library, the
# variants below alternate (the order rotates every repetition), each run
# cold (bench/evict: posix_fadvise DONTNEED on every file of the library;
# dropping all caches needs root and is refused on the bench machine).
# Also per repetition: `dd iflag=direct bs=4M` of the library's FileLib
# data files one after another (the storage's direct sequential read) and
# `openssl speed -evp sha256` single vs -multi 2 (the cores this run had);
# with HASHDEEP=DIR (the library's source) `hashdeep -c sha256 -r -j2` of
# DIR cold; DD=0 skips the dd line.
#
#   bash bench/io_ab.sh LIB [REPS] [VARIANT...]
#
# A variant is NAME=ENV, e.g. uring32=CMHASH_IO_DEPTH=32 or
# fadvise=CMHASH_IO=fadvise,CMHASH_FIEMAP=0 (comma-separated settings).
# Prints one line per run (variant, rep, seconds) and then each variant's
# median (min..max) seconds and its per-repetition ratio to the first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
lib=$1
reps=${2:-3}
shift $(($# >= 2 ? 2 : 1))
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(
    "old=CMHASH_IO=fadvise,CMHASH_FIEMAP=0"
    "fadvise+fiemap=CMHASH_IO=fadvise"
    "uring32=CMHASH_IO=uring,CMHASH_IO_DEPTH=32"
    "uring128=CMHASH_IO=uring,CMHASH_IO_DEPTH=128"
    "hybrid32=CMHASH_IO=uring,CMHASH_IO_SMALL=524288")
out=$(mktemp)
now() { date +%s.%N; }
for ((r = 0; r < reps; r++)); do
    n=${#variants[@]}
    for ((k = 0; k < n; k++)); do
        spec=${variants[$(((k + r) % n))]}
        name=${spec%%=*}
        envs=${spec#*=}
        "$build/bench/evict" "$lib" >/dev/null
        t0=$(now)
        env ${envs//,/ } "$build/cli/cmhash" verify --quiet --lib "$lib" \
            >/dev/null
        t1=$(now)
        echo "$name $r $(echo "$t1 - $t0" | bc)" | tee -a "$out"
    done
    if [ -n "${HASHDEEP:-}" ]; then
        "$build/bench/evict" "$HASHDEEP" >/dev/null
        t0=$(now)
        (cd "$HASHDEEP" && hashdeep -c sha256 -r -j 2 . >/dev/null)
        t1=$(now)
        echo "hashdeep-cold $r $(echo "$t1 - $t0" | bc)" | tee -a "$out"
    fi
    if [ "${DD:-1}" = 1 ]; then
        "$build/bench/evict" "$lib" >/dev/null
        t0=$(now)
        find "$lib/FileLib" -type f ! -name '*.*' -print0 |
            xargs -0 -I{} dd if={} of=/dev/null iflag=direct bs=4M status=none
        t1=$(now)
        echo "dd-direct $r $(echo "$t1 - $t0" | bc)" | tee -a "$out"
    fi
    s1=$(openssl speed -seconds 2 -evp sha256 -bytes 16384 2>/dev/null |
         awk '/^sha256/ {print $2}')
    s2=$(openssl speed -seconds 2 -multi 2 -evp sha256 -bytes 16384 \
         2>/dev/null | awk '/^sha256/ {print $2}')
    echo "openssl-multi2/single $r $(echo "scale=2; ${s2%k} / ${s1%k}" | bc)" |
        tee -a "$out"
done
python3 - "$out" "${variants[0]%%=*}" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for n, r, t in rows:
    by.setdefault(n, {})[int(r)] = float(t)
base = by[sys.argv[2]]
print("%-24s %-24s %s" % ("variant", "median (min..max)", "time / first's"))
for n, d in by.items():
    v = list(d.values())
    line = "%-24s %.2f (%.2f..%.2f)" % (n, st.median(v), min(v), max(v))
    if not n.startswith("openssl"):
        q = [d[r] / base[r] for r in d if r in base]
        line = "%-50s %.2f (%.2f..%.2f)" % (line, st.median(q), min(q), max(q))
    print(line)
PY
rm -f "$out"
