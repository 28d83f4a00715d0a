#!/usr/bin/env bash
# Benchmark driver (issue 4): cmhash snapshot and verify side by side with
# the tools admins would otherwise use, on the same generated corpus, in one
# run. Runs alternate (the order rotates each repetition), every tool reads a
# warm page cache (the tree is re-read just before each run), and the report
# gives medians with min..max, MB/s, files/s, peak RSS and each cmhash
# figure as a ratio to each anchor.
#
#   bash bench/run.sh [--shapes "tiny mixed large"] [--scale F] [--reps N]
#                     (a shape may carry its own scale: "large mixed tiny:0.2")
#                     [--threads N] [--build DIR] [--work DIR] [--out DIR]
#                     [--chart] [--keep] [--short]
#
#   --short   CI mode (ctest -L bench): tiny and mixed at scale 0.005, one
#             repetition, and assertions: every tool ran, sha256sum,
#             hashdeep and rhash found exactly the FileLib names, rdiff's
#             signatures equal the .SIG files, verify (if built) is clean.
#   --baseline BIN  also time snapshot and warm verify with another cmhash
#             build (e.g. one without an engine change) in the same
#             alternation: tools base-snapshot-nofsync, base-snapshot-fsync
#             and base-verify (the same library as verify).
#   --chart   also write docs/benchmarks/{results.md,results.jsonl,*.png}
#             (the tables and charts of docs/BENCHMARKS.md).
#
# Issue 14 (full mode): shape "single" (one 1 GiB file) times snapshot at
# --threads N and 1 and, one after another, rdiff signature, openssl dgst
# -sha256 and cp of the same file (seq-rdiff, seq-dgst, seq-cp; their sum
# is the "separate tools" figure). Cold runs (tools *-cold, dd-direct)
# first evict what they read from the page cache with bench/evict
# (posix_fadvise DONTNEED on every file; dropping all caches needs root):
# verify-cold on every shape but single, hashdeep-cold on mixed and tiny,
# and on large dd-direct, `dd iflag=direct bs=4M` of the same FileLib
# files one after another - the storage's direct sequential read.
#
# Output: OUT/results.jsonl (one line per timed run), OUT/summary.jsonl and
# OUT/report.md (the human tables). Setup: bash bench/setup.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shapes="tiny mixed large single"
scale=1
reps=3
threads=$(nproc)
build=$root/build
work=/tmp/cmhash-bench
out=
chart=0
keep=0
short=0
scaling_shapes="large"
baseline=
while [ $# -gt 0 ]; do
    case $1 in
    --shapes) shapes=$2; shift ;;
    --scale) scale=$2; shift ;;
    --reps) reps=$2; shift ;;
    --threads) threads=$2; shift ;;
    --build) build=$2; shift ;;
    --work) work=$2; shift ;;
    --out) out=$2; shift ;;
    --scaling) scaling_shapes=$2; shift ;;
    --baseline) baseline=$2; shift ;;
    --chart) chart=1 ;;
    --keep) keep=1 ;;
    --short) short=1 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ $short = 1 ]; then
    shapes="tiny mixed"
    scale=0.005
    reps=1
    scaling_shapes="mixed"
fi
CMHASH=${CMHASH:-$build/cli/cmhash}
GEN=$build/bench/gen_corpus
PRIM=$build/bench/primitives
EVICT=$build/bench/evict
for b in "$CMHASH" "$GEN" "$PRIM" "$EVICT"; do
    [ -x "$b" ] || { echo "run.sh: $b not built (cmake --build $build)" >&2
                     exit 2; }
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
out=${out:-$work/results-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"
fail=0
say() { echo "== $*" >&2; }
check() { # check COND-RESULT MESSAGE
    if [ "$1" = 0 ]; then echo "ok: $2" >&2
    else echo "FAIL: $2" >&2; fail=1; fi
}

# ---- tools present? ----
have() { command -v "$1" >/dev/null 2>&1; }
TIME=(/usr/bin/time -f %M -o "$out/.rss")
absent=()
[ -x /usr/bin/time ] || { TIME=(); absent+=(time); }
for t in sha256sum hashdeep rhash b3sum rdiff openssl python3 cp; do
    have $t || absent+=("$t")
done
[ ${#absent[@]} -eq 0 ] || say "absent (bash bench/setup.sh): ${absent[*]}"
if "$CMHASH" help verify >/dev/null 2>&1; then
    have_verify=1
else
    have_verify=0
    say "cmhash verify: not available in this build (skipped)"
fi

# ---- machine ----
load() { cut -d' ' -f1 /proc/loadavg; }
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
python3 - "$results" <<EOF
import json, sys, os, platform
rec = {"kind": "machine", "cpus": os.cpu_count(), "cpu": """$cpu_model""",
       "kernel": platform.release(), "threads": $threads, "scale": $scale,
       "reps": $reps, "short": bool($short),
       "uptime": open("/proc/loadavg").read().split()[:3],
       "openssl": os.popen("openssl version").read().strip(),
       "fs": os.popen("findmnt -no FSTYPE -T $work").read().strip(),
       "have_verify": bool($have_verify)}
open(sys.argv[1], "a").write(json.dumps(rec) + "\n")
EOF

# record KIND SHAPE TOOL REP SECONDS RSS_KIB RC BYTES FILES [MBPS]
record() {
    printf '{"kind":"%s","shape":"%s","tool":"%s","rep":%s,"seconds":%s,"rss_kib":%s,"rc":%s,"bytes":%s,"files":%s,"mb_per_s":%s,"load1":%s}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10:-null}" \
        "$(load)" >>"$results"
}

# ---- CPU primitives (once per repetition) ----
openssl_rate() { # openssl_rate [multi N] -> MB/s of the 16 KiB column
    local args=()
    [ $# -gt 0 ] && args=(-multi "$1")
    openssl speed "${args[@]}" -evp sha256 -bytes 16384 -seconds \
        $([ $short = 1 ] && echo 1 || echo 3) 2>/dev/null |
        awk '/^sha256/ {v=$NF} END {sub(/k$/,"",v); printf "%.1f", v/1000}'
}
cpu_round() {
    local rep=$1 v
    if have openssl; then
        v=$(openssl_rate); record cpu - openssl-sha256-1 $rep null null 0 0 0 "$v"
        v=$(openssl_rate $threads)
        record cpu - openssl-sha256-multi $rep null null 0 0 0 "$v"
    fi
    local mib=$([ $short = 1 ] && echo 64 || echo 512)
    for t in 1 $threads; do
        "$PRIM" --threads $t --mib $mib | while read -r line; do
            local w r
            w=$(echo "$line" | sed 's/.*"what":"\([^"]*\)".*/\1/')
            r=$(echo "$line" | sed 's/.*"mb_per_s":\([0-9.]*\).*/\1/')
            record cpu - "lib-$w-$t" $rep null null 0 0 0 "$r"
        done
        [ $t = $threads ] && break
    done
}

# ---- per shape ----
warm() { # read every file once so the run starts from a warm cache
    find "$@" -type f -print0 | xargs -0 -r cat >/dev/null
}
# timed SHAPE TOOL REP BYTES FILES CMD...: run CMD in the corpus folder,
# stdout to $out/SHAPE-TOOL.out (last rep kept)
timed() {
    local shape=$1 tool=$2 rep=$3 bytes=$4 files=$5
    shift 5
    local rssf=$out/.rss t0 t1 rc=0
    rm -f "$rssf"
    t0=$(date +%s.%N)
    (cd "$corpus" && "${TIME[@]}" "$@" >"$out/$shape-$tool.out" \
        2>"$out/$shape-$tool.err") || rc=$?
    t1=$(date +%s.%N)
    local rss
    rss=$(tail -1 "$rssf" 2>/dev/null | grep -E '^[0-9]+$' || echo null)
    local secs
    secs=$(awk "BEGIN {printf \"%.3f\", $t1 - $t0}")
    record run "$shape" "$tool" "$rep" "$secs" "$rss" "$rc" "$bytes" "$files"
    [ $rc = 0 ] || { say "$tool on $shape exited $rc: $(head -c 300 "$out/$shape-$tool.err")"; }
    return 0
}

run_tool() { # run_tool SHAPE TOOL REP
    local shape=$1 tool=$2 rep=$3 lib=$work/lib-$shape-run
    local n=$(( nfiles / 16 )); [ $n -lt 1 ] && n=1; [ $n -gt 1000 ] && n=1000
    case $tool in
    snapshot-nofsync | snapshot-fsync | snapshot-nofsync-t1 | \
    base-snapshot-nofsync | base-snapshot-fsync)
        rm -rf "$lib"; warm "$corpus"
        # nothing another tool left dirty is flushed inside this timing
        # (an fsync run's syncfs would pay for it)
        sync
        local bin=$CMHASH
        case $tool in base-*) bin=$baseline ;; esac
        local opt=(--threads $threads)
        [ $tool = snapshot-nofsync-t1 ] && opt=(--threads 1)
        case $tool in *-fsync) ;; *) opt+=(--no-fsync) ;; esac
        timed $shape $tool $rep $bytes $nfiles "$bin" snapshot . MSC00001 \
            --lib "$lib" --quiet --json "${opt[@]}"
        rm -rf "$lib"; sync ;;
    verify-cold)
        "$EVICT" "$vlib" >/dev/null
        timed $shape $tool $rep $bytes $nfiles "$CMHASH" verify --quiet --lib "$vlib" \
            --threads $threads ;;
    hashdeep-cold)
        "$EVICT" "$corpus" >/dev/null
        timed $shape $tool $rep $bytes $nfiles hashdeep -c sha256 -r -j $threads . ;;
    dd-direct)
        "$EVICT" "$vlib" >/dev/null
        timed $shape $tool $rep $bytes $nfiles sh -c \
            "find '$vlib/FileLib' -type f ! -name '*.INI' ! -name '*.SIG' -print0 |
             xargs -0 -n1 sh -c 'dd if=\"\$0\" of=/dev/null bs=4M iflag=direct status=none'" ;;
    seq-rdiff)
        warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles sh -c \
            "for f in \$(find . -type f); do rdiff -f signature \"\$f\" '$work/seq.sig'; done"
        rm -f "$work/seq.sig"; sync ;;
    seq-dgst)
        warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles sh -c \
            "find . -type f -exec openssl dgst -sha256 {} +" ;;
    seq-cp)
        rm -rf "$work/cp-$shape"; warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles cp -r . "$work/cp-$shape"
        rm -rf "$work/cp-$shape"; sync ;;
    verify | verify-t1 | base-verify)
        warm "$vlib"
        local opt=(--threads $threads) bin=$CMHASH
        [ $tool = verify-t1 ] && opt=(--threads 1)
        [ $tool = base-verify ] && bin=$baseline
        timed $shape $tool $rep $bytes $nfiles "$bin" verify --quiet --lib "$vlib" \
            "${opt[@]}" ;;
    sha256sum-P1 | sha256sum-P$threads)
        warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles sh -c \
            "find . -type f -print0 | xargs -0 -P${tool#sha256sum-P} -n $n sha256sum" ;;
    hashdeep)
        warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles hashdeep -c sha256 -r -j $threads . ;;
    rhash)
        warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles rhash --sha256 -r . ;;
    b3sum)
        warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles sh -c \
            "find . -type f -print0 | xargs -0 -n $n b3sum" ;;
    rdiff)
        warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles sh -c \
            "find . -type f -print0 | xargs -0 -P$threads -I{} rdiff -f signature {} /dev/null" ;;
    cp)
        rm -rf "$work/cp-$shape"; warm "$corpus"
        timed $shape $tool $rep $bytes $nfiles cp -r . "$work/cp-$shape"
        rm -rf "$work/cp-$shape"; sync ;;
    esac
}

tool_available() {
    case $1 in
    verify*) [ $have_verify = 1 ] ;;
    seq) have rdiff && have openssl ;;
    dd) have dd ;;
    sha256sum*) have sha256sum ;;
    snapshot*) true ;;
    base) [ -n "$baseline" ] ;;
    *) have "$1" ;;
    esac
}

for shape_arg in $shapes; do
    shape=${shape_arg%%:*}
    sscale=$scale
    [ "$shape_arg" != "$shape" ] && sscale=${shape_arg#*:}
    corpus=$work/corpus-$shape-$sscale
    if [ ! -f "$corpus.done" ]; then
        rm -rf "$corpus"
        say "generating $shape (scale $sscale) in $corpus"
        "$GEN" $shape "$corpus" --scale $sscale >"$corpus.json"
        touch "$corpus.done"
    fi
    nfiles=$(python3 -c "import json;print(json.load(open('$corpus.json'))['files'])")
    bytes=$(python3 -c "import json;print(json.load(open('$corpus.json'))['bytes'])")
    printf '{"kind":"corpus","shape":"%s","info":%s}\n' $shape \
        "$(cat "$corpus.json")" >>"$results"
    # the library verify reads: one snapshot, kept for the whole shape
    vlib=$work/lib-$shape-verify
    rm -rf "$vlib"
    "$CMHASH" snapshot "$corpus" MSC00001 --lib "$vlib" --no-fsync --quiet \
        >/dev/null
    sync
    # cmhash runs interleaved with anchors; the order rotates every rep
    tools=(snapshot-nofsync sha256sum-P1 verify hashdeep snapshot-fsync
           sha256sum-P$threads rhash b3sum rdiff cp)
    case " $scaling_shapes " in
    *" $shape "*) tools+=(snapshot-nofsync-t1 verify-t1) ;;
    esac
    case $shape in
    single) tools=(snapshot-nofsync seq-rdiff snapshot-nofsync-t1 seq-dgst
                   snapshot-fsync seq-cp) ;;
    large) tools+=(verify-cold dd-direct) ;;
    *) tools+=(verify-cold hashdeep-cold) ;;
    esac
    if [ -n "$baseline" ] && [ "$shape" != tiny ]; then
        tools+=(base-snapshot-nofsync base-snapshot-fsync)
    fi
    [ -n "$baseline" ] && [ "$shape" != single ] && tools+=(base-verify)
    ntools=${#tools[@]}
    for ((rep = 1; rep <= reps; rep++)); do
        say "$shape rep $rep/$reps (load $(load))"
        [ "$shape_arg" = "${shapes%% *}" ] && cpu_round $rep
        for ((i = 0; i < ntools; i++)); do
            tool=${tools[$(( (i + rep - 1) % ntools ))]}
            tool_available ${tool%%-*} || continue
            run_tool $shape $tool $rep
        done
    done
    if [ $short = 1 ]; then
        say "$shape: cross-checks"
        set +e
        ls "$vlib/FileLib"/*/ | grep -E '^[0-9A-F]{64}$' | tr A-F a-f |
            sort -u >"$out/$shape-filelib.txt"
        check $(grep -vc '"rc":0,' <(grep "\"shape\":\"$shape\"" "$results" |
            grep '"kind":"run"') || true) "$shape: every tool exited 0"
        awk '{print $1}' "$out/$shape-sha256sum-P1.out" | sort -u |
            cmp -s - "$out/$shape-filelib.txt"
        check $? "$shape: sha256sum -P1 hashes == FileLib names"
        awk '{print $1}' "$out/$shape-sha256sum-P$threads.out" | sort -u |
            cmp -s - "$out/$shape-filelib.txt"
        check $? "$shape: sha256sum -P$threads hashes == FileLib names"
        if have hashdeep; then
            grep -v '^[%#]' "$out/$shape-hashdeep.out" | cut -d, -f2 |
                sort -u | cmp -s - "$out/$shape-filelib.txt"
            check $? "$shape: hashdeep hashes == FileLib names"
        fi
        if have rhash; then
            awk '{print tolower($1)}' "$out/$shape-rhash.out" | sort -u |
                cmp -s - "$out/$shape-filelib.txt"
            check $? "$shape: rhash hashes == FileLib names"
        fi
        if have b3sum; then
            [ "$(wc -l <"$out/$shape-b3sum.out")" = "$nfiles" ]
            check $? "$shape: b3sum hashed all $nfiles files"
        fi
        if have rdiff; then
            bad=0
            for f in $(cd "$corpus" && find . -type f -size +0 | sort | head -5); do
                h=$(sha256sum "$corpus/$f" | awk '{print toupper($1)}')
                rdiff -f signature "$corpus/$f" "$out/sig.tmp"
                cmp -s "$out/sig.tmp" "$vlib/FileLib/${h:0:4}/$h.SIG" || bad=1
            done
            check $bad "$shape: rdiff signature == FileLib .SIG (5 files)"
        fi
        c=$(grep "\"shape\":\"$shape\"" "$results" | grep -c '"kind":"run"' || true)
        [ "$c" -ge 9 ]
        check $? "$shape: $c timed runs recorded"
        for f in "$out/$shape"-snapshot-*.out; do
            grep -q "\"files\":$nfiles," "$f"
            check $? "$shape: $(basename "$f" .out) reports $nfiles files"
        done
        set -e
    fi
    [ $keep = 1 ] || rm -rf "$vlib"
    [ $keep = 1 ] || [ $short = 1 ] || { rm -rf "$corpus" "$corpus.done"; }
done

# ---- report ----
rargs=("$results" "$out")
[ $chart = 1 ] && rargs+=(--chart-dir "$root/docs/benchmarks")
python3 "$here/report.py" "${rargs[@]}" >&2 || fail=1
cat "$out/report.md"
if [ $short = 1 ]; then
    [ $fail = 0 ] && echo "bench short mode: all checks passed" ||
        echo "bench short mode: FAILED"
fi
exit $fail
