#!/usr/bin/env python3
"""Summarise bench/run.sh results: tables, ratios, issue-4 targets, charts.

    report.py RESULTS.jsonl OUTDIR [--chart-dir DIR]

Writes OUTDIR/report.md (human tables) and OUTDIR/summary.jsonl (one object
per tool and shape, and one per target). With --chart-dir, also copies the
tables and raw results there and renders PNG charts with gnuplot.
Ratios pair repetition i of one tool with repetition i of the other (they
ran minutes apart in the same run), and report median and min..max of those
per-repetition ratios.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

CMHASH_TOOLS = ["snapshot-nofsync", "snapshot-fsync", "verify",
                "snapshot-nofsync-t1", "verify-t1", "verify-cold",
                "base-snapshot-nofsync", "base-snapshot-fsync", "base-verify"]
ANCHOR_TOOLS = ["sha256sum-P1", "sha256sum-P2", "hashdeep", "rhash", "b3sum",
                "rdiff", "cp", "hashdeep-cold", "dd-direct", "seq-rdiff",
                "seq-dgst", "seq-cp", "seq-sum"]


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_range(xs, f="{:.2f}"):
    if not xs:
        return "n/a"
    return (f + " (" + f + ".." + f + ")").format(med(xs), min(xs), max(xs))


def main():
    args = sys.argv[1:]
    chart_dir = None
    if "--chart-dir" in args:
        i = args.index("--chart-dir")
        chart_dir = args[i + 1]
        del args[i:i + 2]
    results, outdir = args
    recs = [json.loads(l) for l in open(results) if l.strip()]
    machine = next((r for r in recs if r["kind"] == "machine"), {})
    threads = machine.get("threads", 2)
    anchors = [t.replace("P2", "P%d" % threads) for t in ANCHOR_TOOLS]
    corpora = {r["shape"]: r["info"] for r in recs if r["kind"] == "corpus"}
    runs = defaultdict(dict)   # (shape, tool) -> rep -> rec
    cpu = defaultdict(dict)    # tool -> rep -> MB/s
    loads = []
    for r in recs:
        if r["kind"] == "run":
            runs[(r["shape"], r["tool"])][r["rep"]] = r
            loads.append(r.get("load1"))
        elif r["kind"] == "cpu" and r.get("mb_per_s") is not None:
            cpu[r["tool"]][r["rep"]] = r["mb_per_s"]
    loads = [float(x) for x in loads if x is not None]
    shapes = [s for s in ["large", "mixed", "tiny", "single"]
              if s in corpora]
    # the separate tools one after another (issue 14 target 1): the sum
    # of the three timed in the same repetition
    for shape in shapes:
        parts = [runs.get((shape, t), {}) for t in
                 ("seq-rdiff", "seq-dgst", "seq-cp")]
        if all(parts):
            for rep in set(parts[0]) & set(parts[1]) & set(parts[2]):
                rs = [p[rep] for p in parts]
                runs[(shape, "seq-sum")][rep] = {
                    "seconds": sum(r["seconds"] for r in rs),
                    "rc": max(r["rc"] for r in rs),
                    "rss_kib": max((r["rss_kib"] or 0) for r in rs)}

    def secs(shape, tool):
        return {k: v["seconds"] for k, v in runs.get((shape, tool), {}).items()
                if v["rc"] == 0}

    def rate(shape, tool):
        b = corpora[shape]["bytes"]
        return {k: b / s / 1e6 for k, s in secs(shape, tool).items() if s > 0}

    def paired(a, b, fn):
        """fn(a[rep], b[rep]) for reps both have; b may be a scalar dict
        from another table (cpu) keyed by rep, falling back to its median
        when reps differ (cpu rounds run once per rep of the first shape)."""
        out = []
        for k, va in a.items():
            vb = b.get(k)
            if vb is None and b:
                vb = med(list(b.values()))
            if vb is not None:
                out.append(fn(va, vb))
        return out

    lines = []
    summary = []
    w = lines.append
    w("## Machine and load\n")
    w("| item | value |\n|---|---|")
    w("| CPU | %s x %s |" % (machine.get("cpus"), machine.get("cpu")))
    w("| kernel / fs | %s / %s |" % (machine.get("kernel"), machine.get("fs")))
    w("| %s | |" % machine.get("openssl"))
    w("| threads, scale, reps | %s, %s, %s |" % (threads, machine.get("scale"),
                                             machine.get("reps")))
    w("| load at start (1/5/15 min) | %s |" % " ".join(
        machine.get("uptime", [])))
    if loads:
        w("| load during runs (1-min, min..max) | %.2f..%.2f |" % (
            min(loads), max(loads)))
    w("| cmhash verify | %s |" % ("measured" if machine.get("have_verify")
                                  else "not available in this build"))
    w("")
    w("## CPU primitives (MB/s, median (min..max) over repetitions)\n")
    w("| primitive | MB/s |\n|---|---|")
    for t in sorted(cpu):
        v = list(cpu[t].values())
        w("| %s | %s |" % (t, fmt_range(v, "{:.0f}")))
        summary.append({"kind": "cpu", "tool": t, "mb_per_s_median": med(v),
                        "min": min(v), "max": max(v)})
    w("")
    for shape in shapes:
        c = corpora[shape]
        w("## `%s`: %d files, %.1f MB, %d folders, largest %.1f MB\n" % (
            shape, c["files"], c["bytes"] / 1e6, c["folders"],
            c["largest"] / 1e6))
        w("| tool | seconds | MB/s | files/s | peak RSS MiB | runs |")
        w("|---|---|---|---|---|---|")
        tools = [t for t in CMHASH_TOOLS + anchors if (shape, t) in runs]
        for t in tools:
            s = list(secs(shape, t).values())
            allr = runs[(shape, t)]
            failed = sum(1 for v in allr.values() if v["rc"] != 0)
            rss = [v["rss_kib"] for v in allr.values()
                   if v.get("rss_kib") is not None]
            if not s:
                w("| %s | failed (%d) | | | | %d |" % (t, failed, len(allr)))
                continue
            mbs = [c["bytes"] / x / 1e6 for x in s]
            fps = [c["files"] / x for x in s]
            w("| %s%s | %s | %s | %s | %.1f | %d%s |" % (
                "**" if t in CMHASH_TOOLS else "", t + ("**" if t in
                                                          CMHASH_TOOLS else ""),
                fmt_range(s, "{:.3f}"), fmt_range(mbs, "{:.0f}"),
                fmt_range(fps, "{:.0f}"), max(rss) / 1024 if rss else 0,
                len(s), " (%d failed)" % failed if failed else ""))
            summary.append({"kind": "tool", "shape": shape, "tool": t,
                            "seconds_median": med(s), "min": min(s),
                            "max": max(s), "mb_per_s": c["bytes"] / med(s) /
                            1e6, "files_per_s": c["files"] / med(s),
                            "peak_rss_kib": max(rss) if rss else None,
                            "runs": len(s), "failed": failed})
        w("")
        ct = [t for t in CMHASH_TOOLS if secs(shape, t)]
        an = [t for t in anchors if secs(shape, t)]
        if ct and an:
            w("Speed ratio of each cmhash figure to each anchor (anchor "
              "seconds / cmhash seconds; > 1 means cmhash is faster):\n")
            w("| cmhash \\ anchor | " + " | ".join(an) + " |")
            w("|---|" + "---|" * len(an))
            for t in ct:
                cells = []
                for a in an:
                    rs = paired(secs(shape, a), secs(shape, t),
                                lambda x, y: x / y)
                    cells.append(fmt_range(rs))
                    summary.append({"kind": "ratio", "shape": shape,
                                    "cmhash": t, "anchor": a,
                                    "median": med(rs), "min": min(rs),
                                    "max": max(rs)})
                w("| %s | %s |" % (t, " | ".join(cells)))
            w("")

    # ---- issue 4 targets ----
    tg = []

    def target(num, what, rs, goal, better="ge"):
        if not rs:
            tg.append((num, what, "not measured", goal, "n/a"))
            summary.append({"kind": "target", "target": num, "what": what,
                            "measured": False})
            return
        m = med(rs)
        ok = m >= goal if better == "ge" else m <= goal
        tg.append((num, what, fmt_range(rs), ("≥ " if better == "ge" else
                                              "≤ ") + str(goal),
                   "met" if ok else "missed"))
        summary.append({"kind": "target", "target": num, "what": what,
                        "median": m, "min": min(rs), "max": max(rs),
                        "goal": goal, "better": better, "met": ok})

    ms = "openssl-sha256-multi"
    both1 = "lib-sha256+sig-1"
    if "large" in shapes:
        target(1, "verify large MB/s / openssl -multi %d sha256 (16 KiB)"
               % threads, paired(rate("large", "verify"), cpu.get(ms, {}),
                                 lambda a, b: a / b), 0.85)
    if "mixed" in shapes:
        target("2a", "mixed: hashdeep -j%d s / verify s" % threads,
               paired(secs("mixed", "hashdeep"), secs("mixed", "verify"),
                      lambda a, b: a / b), 4)
        target("2b", "mixed: sha256sum xargs -P%d s / verify s" % threads,
               paired(secs("mixed", "sha256sum-P%d" % threads),
                      secs("mixed", "verify"), lambda a, b: a / b), 3)
    if "tiny" in shapes:
        target(3, "tiny: verify files/s / hashdeep -j%d files/s" % threads,
               paired(secs("tiny", "hashdeep"), secs("tiny", "verify"),
                      lambda a, b: a / b), 5)
    for shape in ("large", "mixed"):
        if shape in shapes:
            for t in ("snapshot-nofsync", "snapshot-fsync"):
                target(4, "%s %s MB/s / (%d x lib sha256+sig 1-core)" % (
                    shape, t, threads), paired(
                        rate(shape, t), cpu.get(both1, {}),
                        lambda a, b: a / (threads * b)), 0.8)
    if "tiny" in shapes:
        for t in ("snapshot-nofsync", "snapshot-fsync"):
            target(5, "tiny %s s / cp -r s" % t,
                   paired(secs("tiny", t), secs("tiny", "cp"),
                          lambda a, b: a / b), 4, "le")
    for shape in shapes:
        lim = 64 * 1024 + (0 if shape == "large" else corpora[shape]["files"])
        for t in ("snapshot-nofsync", "snapshot-fsync", "verify"):
            rss = [v["rss_kib"] / lim for v in
                   runs.get((shape, t), {}).values()
                   if v.get("rss_kib") is not None and v["rc"] == 0]
            target(6, "%s %s peak RSS / %.0f MiB" % (shape, t, lim / 1024),
                   rss, 1.0, "le")
    for shape in shapes:
        for t in ("snapshot-nofsync", "verify"):
            if (shape, t + "-t1") in runs:
                target(7, "%s %s: %d threads vs 1 (speed-up)" % (
                    shape, t, threads),
                    paired(secs(shape, t + "-t1"), secs(shape, t),
                           lambda a, b: a / b), 1.8)
    for shape in shapes:
        for t in ("snapshot-nofsync", "snapshot-fsync", "verify"):
            if secs(shape, "base-" + t) and secs(shape, t):
                r = paired(secs(shape, "base-" + t), secs(shape, t),
                           lambda a, b: a / b)
                w("Engine change, %s %s: baseline build s / this build s "
                  "= %s (> 1: this build is faster).\n" % (shape, t,
                                                          fmt_range(r)))
                summary.append({"kind": "baseline", "shape": shape,
                                "tool": t, "median": med(r), "min": min(r),
                                "max": max(r)})
    if cpu.get(ms) and cpu.get("openssl-sha256-1"):
        r = paired(cpu[ms], cpu["openssl-sha256-1"], lambda a, b: a / b)
        w("Machine scaling in the same run: openssl -multi %d / single = %s "
          "(the ceiling for target 7).\n" % (threads, fmt_range(r)))
        summary.append({"kind": "machine_scaling", "median": med(r),
                        "min": min(r), "max": max(r)})
    # ---- issue 14 targets ----
    t14 = []

    def target14(num, what, rs, goal):
        if not rs:
            t14.append((num, what, "not measured", "≥ %s" % goal, "n/a"))
            summary.append({"kind": "target14", "target": num, "what": what,
                            "measured": False})
            return
        m = med(rs)
        t14.append((num, what, fmt_range(rs), "≥ %s" % goal,
                    "met" if m >= goal else "missed"))
        summary.append({"kind": "target14", "target": num, "what": what,
                        "median": m, "min": min(rs), "max": max(rs),
                        "goal": goal, "met": m >= goal})

    def ratio(shape, a, b):
        return paired(secs(shape, a), secs(shape, b), lambda x, y: x / y)

    if "single" in shapes:
        target14(1, "single 1 GiB: (rdiff + openssl dgst + cp) s / snapshot "
                 "--no-fsync %d threads s" % threads,
                 ratio("single", "seq-sum", "snapshot-nofsync"), 1.6)
        target14(2, "single 1 GiB: snapshot --threads 1 s / --threads %d s"
                 % threads,
                 ratio("single", "snapshot-nofsync-t1", "snapshot-nofsync"),
                 1.5)
    if "large" in shapes:
        target14(3, "large cold: verify MB/s / dd iflag=direct MB/s",
                 ratio("large", "dd-direct", "verify-cold"), 0.8)
    for num, shape, what, pair, goal in (
            ("4a", "mixed", "mixed cold: verify / hashdeep -j%d",
             ("hashdeep-cold", "verify-cold"), 2.5),
            ("4b", "tiny", "tiny cold: verify / hashdeep -j%d files/s",
             ("hashdeep-cold", "verify-cold"), 2),
            ("5a", "mixed", "mixed warm: verify / hashdeep -j%d",
             ("hashdeep", "verify"), 4),
            ("5b", "tiny", "tiny warm: verify / hashdeep -j%d files/s",
             ("hashdeep", "verify"), 2)):
        if shape in shapes:
            target14(num, what % threads, ratio(shape, *pair), goal)
    w("## Issue 14 targets (median (min..max) of per-repetition ratios)\n")
    w("| # | measure | measured | goal | result |\n|---|---|---|---|---|")
    for row in t14:
        w("| %s | %s | %s | %s | %s |" % row)
    w("")
    w("## Issue 4 targets (median (min..max) of per-repetition ratios)\n")
    w("| # | measure | measured | goal | result |\n|---|---|---|---|---|")
    for row in tg:
        w("| %s | %s | %s | %s | %s |" % row)
    w("")
    report = "\n".join(lines) + "\n"
    open(os.path.join(outdir, "report.md"), "w").write(report)
    with open(os.path.join(outdir, "summary.jsonl"), "w") as f:
        for s in summary:
            f.write(json.dumps(s) + "\n")
    if chart_dir:
        charts(chart_dir, results, report, shapes, corpora, runs, cpu,
               threads, secs, anchors)


def charts(d, results, report, shapes, corpora, runs, cpu, threads, secs,
           anchors):
    os.makedirs(d, exist_ok=True)
    shutil.copy(results, os.path.join(d, "results.jsonl"))
    open(os.path.join(d, "results.md"), "w").write(report)
    if not shutil.which("gnuplot"):
        print("report.py: gnuplot absent (bash bench/setup.sh); no charts",
              file=sys.stderr)
        return
    # 1. throughput vs threads
    series = []
    for name, key in (("lib SHA-256", "lib-sha256-%d"),
                      ("lib signature", "lib-sig-%d"),
                      ("lib SHA-256+sig", "lib-sha256+sig-%d")):
        pts = [(t, med(list(cpu[key % t].values())))
               for t in (1, threads) if cpu.get(key % t)]
        series.append((name, pts))
    pts = []
    if cpu.get("openssl-sha256-1"):
        pts.append((1, med(list(cpu["openssl-sha256-1"].values()))))
    if cpu.get("openssl-sha256-multi"):
        pts.append((threads, med(list(cpu["openssl-sha256-multi"].values()))))
    series.append(("openssl speed sha256", pts))
    for shape in shapes:
        b = corpora[shape]["bytes"]
        for t, label in (("snapshot-nofsync", "snapshot --no-fsync"),
                         ("verify", "verify")):
            p = []
            if secs(shape, t + "-t1"):
                p.append((1, b / med(list(secs(shape, t + "-t1").values()))
                          / 1e6))
            if secs(shape, t):
                p.append((threads, b / med(list(secs(shape, t).values()))
                          / 1e6))
            if len(p) == 2:
                series.append(("%s (%s)" % (label, shape), p))
    series = [s for s in series if s[1]]
    dat = os.path.join(d, "threads.dat")
    with open(dat, "w") as f:
        for name, pts in series:
            f.write('"%s"\n' % name)
            for x, y in pts:
                f.write("%d %.1f\n" % (x, y))
            f.write("\n\n")
    plot = ", ".join('"%s" index %d using 1:2 with linespoints lw 2 '
                     'title columnheader(1)' % (dat, i)
                     for i in range(len(series)))
    gp = """set terminal pngcairo size 900,560 font ",10"
set output "%s"
set title "Throughput vs threads (MB/s, medians, warm page cache)"
set xlabel "threads"; set ylabel "MB/s"
set xrange [0.8:%d.2]; set xtics 1; set yrange [0:*]; unset logscale y
set key outside right; set grid
plot %s
""" % (os.path.join(d, "threads.png"), threads, plot)
    # 2. cmhash vs anchors, MB/s per shape
    tools = ["snapshot-nofsync", "snapshot-fsync", "verify"] + anchors
    tools = [t for t in tools if any(secs(s, t) for s in shapes)]
    dat2 = os.path.join(d, "anchors.dat")
    with open(dat2, "w") as f:
        f.write("tool " + " ".join(shapes) + "\n")
        for t in tools:
            row = []
            for s in shapes:
                x = secs(s, t)
                row.append("%.1f" % (corpora[s]["bytes"] /
                                     med(list(x.values())) / 1e6)
                           if x else "?")
            f.write('"%s" %s\n' % (t, " ".join(row)))
    gp += """set terminal pngcairo size 1000,560 font ",10"
set output "%s"
set title "cmhash vs anchors: MB/s by corpus shape (medians; higher is better)"
set style data histograms; set style histogram clustered gap 1
set style fill solid 0.8 border -1; set boxwidth 0.9
set xtics rotate by -30; set ylabel "MB/s (log scale)"
set logscale y; set yrange [*:*]; set datafile missing "?"
set xrange [*:*]; unset xlabel; set key top right; set grid y
plot for [i=2:%d] "%s" using i:xtic(1) title columnheader(i)
""" % (os.path.join(d, "anchors.png"), len(shapes) + 1, dat2)
    gpf = os.path.join(d, "charts.gp")
    open(gpf, "w").write(gp)
    subprocess.run(["gnuplot", gpf], check=True)


if __name__ == "__main__":
    main()
