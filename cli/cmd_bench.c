/* cmhash bench: what an admin runs on distribution-point hardware.
 *
 * CPU rates of the hashing core (one core and all cores), the cold read
 * rate of the storage under --dir, snapshot and verify of a generated
 * corpus on that storage for each thread count, and a verdict: which of CPU
 * and storage bounds a verify, and how many hours a library of
 * --library-size takes. Everything runs in this process: the measurements
 * are the private benchmark kit (bench/kit/benchkit.h), snapshot and
 * verify the engine's own calls. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char bench_usage[] =
    "usage: cmhash bench [--dir DIR] [--threads LIST] [--json]\n"
    "                    [--library-size SIZE] [options]\n"
    "Measure this machine: SHA-256 and signature rates per core and on all\n"
    "cores, the read rate of the storage under DIR with the page cache\n"
    "bypassed (O_DIRECT, else posix_fadvise DONTNEED; the output says\n"
    "which), then snapshot and verify of a generated corpus in DIR for each\n"
    "thread count. Ends with the bottleneck (CPU or storage) and the hours a\n"
    "verify of a library of SIZE takes.\n"
    "\n"
    "  --dir DIR           where to put the test file and corpus (default .;\n"
    "                      put it on the library's storage); all of it is\n"
    "                      removed at the end\n"
    "  --threads LIST      thread counts, e.g. 1,2,4 (default 1 and the\n"
    "                      number of online CPUs)\n"
    "  --library-size SIZE e.g. 2TB, 500GB, 1.5TiB (default 1TB)\n"
    "  --corpus SHAPE      large, mixed or tiny (default mixed)\n"
    "  --scale F           corpus size factor (default 0.05: ~100 MB)\n"
    "  --read-mb N         size of the read test file (default 512)\n"
    "  --cpu-mb N          bytes hashed per thread in CPU tests (default 256)\n"
    "  --file-mb N         size of the single-file snapshot test (default 256)\n"
    "  --no-fsync          snapshot without durability barriers\n"
    "  --keep              keep the corpus and libraries\n"
    "  --json              one JSON object instead of the table\n"
    "\n"
    "Also: the CPU cost per GB of each stage of a large file's snapshot\n"
    "(read, SHA-256, signature, store), the single-file snapshot rate that\n"
    "predicts for N cores and the measured one, and a cold verify (library\n"
    "evicted from the page cache first), each with what bounds it.\n"
    "\n"
    "Exit codes: 0 ok, 2 usage (also a --dir that is missing or not a\n"
    "writable folder: checked before anything is measured), 5 I/O error.\n";

const cmh_bench_kind bench_kinds[NKINDS] = {
    CMH_BENCH_SHA256, CMH_BENCH_SIG, CMH_BENCH_BOTH, CMH_BENCH_LIBRSYNC};

static bool parse_size(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0))
        return false;
    static const struct {
        const char *unit;
        double mul;
    } units[] = {{"", 1e12}, /* a bare number is TB */
                 {"B", 1},     {"KB", 1e3},  {"MB", 1e6},
                 {"GB", 1e9},  {"TB", 1e12}, {"PB", 1e15},
                 {"KIB", 1024.0}, {"MIB", 1048576.0},
                 {"GIB", 1073741824.0}, {"TIB", 1099511627776.0},
                 {"K", 1e3},   {"M", 1e6},   {"G", 1e9}, {"T", 1e12}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcasecmp(end, units[i].unit)) {
            *out = v * units[i].mul;
            return true;
        }
    return false;
}

static bool parse_threads(const char *s, unsigned *list, size_t *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v < 1 || v > 256 || *n == MAX_THREADS_LIST)
            return false;
        list[(*n)++] = (unsigned)v;
        if (*end == ',')
            end++;
        else if (*end)
            return false;
        p = end;
    }
    return *n > 0;
}

/* --read-mb, --cpu-mb, --file-mb: 1..1048576. */
static bool parse_mb(const char *arg, const char *name, unsigned long *out)
{
    char *end;
    *out = strtoul(arg, &end, 10);
    if (*end || *out < 1 || *out > 1048576) {
        cli_error("%s must be from 1 to 1048576", name);
        return false;
    }
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One option; false on a bad value (the error is printed). */
static bool bench_option(int c, bench_args *a)
{
    char *end;
    switch (c) {
    case 'd': a->dir = optarg; return true;
    case 't':
        if (parse_threads(optarg, a->tlist, &a->nt))
            return true;
        cli_error("--threads takes a comma-separated list of 1..256, "
                  "at most %d entries, e.g. 1,2,4", MAX_THREADS_LIST);
        return false;
    case 'L':
        if (parse_size(optarg, &a->libsize))
            return true;
        cli_error("--library-size must be a size such as 2TB, "
                  "500GB or 1.5TiB, not '%s'", optarg);
        return false;
    case 'c': a->shape = optarg; return true;
    case 's':
        a->scale = strtod(optarg, &end);
        if (!*end && a->scale > 0 && a->scale <= 16)
            return true;
        cli_error("--scale must be above 0 and at most 16");
        return false;
    case 'r': return parse_mb(optarg, "--read-mb", &a->read_mb);
    case 'C': return parse_mb(optarg, "--cpu-mb", &a->cpu_mb);
    case 'M': return parse_mb(optarg, "--file-mb", &a->file_mb);
    case 'F': a->no_fsync = true; return true;
    case 'k': a->keep = true; return true;
    case 'j': a->json = true; return true;
    default: return false;
    }
}

/* Parse the command line; -1 to go on, else the exit code. */
static int bench_parse(int argc, char **argv, bench_args *a)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},
        {"library-size", required_argument, NULL, 'L'},
        {"corpus", required_argument, NULL, 'c'},
        {"scale", required_argument, NULL, 's'},
        {"read-mb", required_argument, NULL, 'r'},
        {"cpu-mb", required_argument, NULL, 'C'},
        {"file-mb", required_argument, NULL, 'M'},
        {"no-fsync", no_argument, NULL, 'F'},
        {"keep", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->dir = ".";
    a->shape = "mixed";
    a->libsize = 1e12;
    a->scale = 0.05;
    a->read_mb = 512;
    a->cpu_mb = 256;
    a->file_mb = 256;
    bool ok = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(bench_usage, stdout);
            return EXIT_OK;
        }
        if (!bench_option(c, a))
            ok = false;
    }
    if (ok && optind != argc) {
        cli_error("bench takes no arguments besides options; see cmhash "
                  "help bench");
        ok = false;
    }
    if (!ok) {
        fputs(bench_usage, stderr);
        return EXIT_USAGE;
    }
    return -1;
}

/* The folder first: a wrong --dir is reported before minutes of CPU
 * tests, not after. Then the default thread counts. */
static int bench_check_dir(bench_args *a)
{
    struct stat dsb;
    if (stat(a->dir, &dsb) != 0) {
        cli_error("--dir %s: %s; give an existing folder on the library's "
                  "storage", a->dir, strerror(errno));
        return EXIT_USAGE;
    }
    if (!S_ISDIR(dsb.st_mode) || access(a->dir, W_OK | X_OK) != 0) {
        cli_error("--dir %s: %s; give a folder you can write in, on the "
                  "library's storage", a->dir,
                  S_ISDIR(dsb.st_mode) ? "not writable" : "not a folder");
        return EXIT_USAGE;
    }
    long ncpu_l = sysconf(_SC_NPROCESSORS_ONLN);
    a->ncpu = ncpu_l > 0 ? (unsigned)ncpu_l : 1;
    if (a->nt == 0) {
        a->tlist[a->nt++] = 1;
        if (a->ncpu > 1)
            a->tlist[a->nt++] = a->ncpu;
    }
    return -1;
}

/* The mkdir of a scratch folder; false with the error printed. */
static bool bench_mkdir(const char *path)
{
    if (mkdir(path, 0755) == 0)
        return true;
    cli_error("cannot create %s: %s; give a writable --dir", path,
              strerror(errno));
    return false;
}

/* work = DIR/cmhash-bench-PID with corpus/ and single/ below it. */
static int bench_paths_make(const bench_args *a, bench_paths *p)
{
    p->dl = strlen(a->dir) + 64;
    p->work = malloc(p->dl);
    p->corpus = malloc(p->dl + 16);
    p->lib = malloc(p->dl + 32);
    p->single = malloc(p->dl + 32);
    if (!p->work || !p->corpus || !p->lib || !p->single) {
        cli_error("out of memory");
        return EXIT_IO;
    }
    snprintf(p->work, p->dl, "%s/cmhash-bench-%ld", a->dir, (long)getpid());
    snprintf(p->corpus, p->dl + 16, "%s/corpus", p->work);
    snprintf(p->single, p->dl + 32, "%s/single", p->work);
    if (!bench_mkdir(p->work)) {
        free(p->work); /* not ours to remove */
        p->work = NULL;
        return EXIT_IO;
    }
    return bench_mkdir(p->single) ? -1 : EXIT_IO;
}

static void bench_paths_free(const bench_args *a, cmh_ctx *ctx,
                             bench_paths *p)
{
    if (p->work && !a->keep)
        cmh_bench_remove(ctx, p->work);
    free(p->work);
    free(p->corpus);
    free(p->lib);
    free(p->single);
}

/* 1. CPU, at each thread count of --threads; 2. storage. */
static cmh_status bench_cpu_storage(cmh_ctx *ctx, const bench_args *a,
                                    bench_res *r)
{
    if (!a->json)
        fprintf(stderr, "measuring CPU...\n");
    for (size_t k = 0; k < NKINDS; k++)
        for (size_t i = 0; i < a->nt; i++) {
            cmh_status st = cmh_bench_cpu(ctx, bench_kinds[k], a->tlist[i],
                                          (uint64_t)a->cpu_mb << 20,
                                          256 * 1024, &r->cpu[k][i]);
            if (st != CMH_OK)
                return st;
        }
    if (!a->json)
        fprintf(stderr, "measuring storage under %s...\n", a->dir);
    return cmh_bench_read(ctx, a->dir, (uint64_t)a->read_mb << 20, &r->rd);
}

/* 3a. stage costs of one large file, which stays for the single-file
 * snapshots; then the corpus. */
static cmh_status bench_stages_corpus(cmh_ctx *ctx, const bench_args *a,
                                      const bench_paths *p, bench_res *r)
{
    if (!a->json)
        fprintf(stderr, "measuring the stages of one %lu MiB file...\n",
                a->file_mb);
    size_t n = strlen(p->single) + 16;
    char *big = malloc(n);
    if (!big)
        return CMH_E_NOMEM;
    snprintf(big, n, "%s/image.wim", p->single);
    cmh_status st = cmh_bench_stage_costs(ctx, big,
                                          (uint64_t)a->file_mb << 20, &r->sg);
    free(big);
    if (st != CMH_OK)
        return st;
    if (!a->json)
        fprintf(stderr, "generating a %s corpus (scale %g)...\n", a->shape,
                a->scale);
    cmh_bench_corpus_opts co = CMH_BENCH_CORPUS_OPTS_INIT;
    co.shape = a->shape;
    co.scale = a->scale;
    return cmh_bench_corpus(ctx, p->corpus, &co, &r->cs);
}

/* `cmhash verify --quiet --lib LIB --threads N`, in this process: the
 * exit code that command gives (cmd_verify.c), its seconds in *secs. */
static int bench_verify(cmh_ctx *ctx, const char *lib, unsigned threads,
                        double *secs)
{
    double t0 = now_s();
    cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
    o.lib = lib;
    o.threads = threads;
    cmh_verify *v = NULL;
    cmh_status st = cmh_verify_new(&v, ctx, &o);
    if (st == CMH_OK)
        st = cmh_verify_run(v);
    int rc = 0;
    if (st != CMH_OK && st != CMH_E_CANCELED) {
        rc = st == CMH_E_INVALID ? 2 : 4; /* usage, cannot run */
    } else {
        const cmh_verify_summary *s = cmh_verify_get_summary(v);
        rc = s->errors || s->warnings ? 1 : s->partial ? 3 : 0;
    }
    cmh_verify_free(v);
    *secs = now_s() - t0;
    return rc;
}

/* Snapshot of @p source into @p lib with @p threads threads. */
static cmh_status bench_snapshot(cmh_ctx *ctx, const bench_args *a,
                                 const char *source, const char *lib,
                                 unsigned threads, double *secs)
{
    cmh_snapshot_opts so = CMH_SNAPSHOT_OPTS_INIT;
    so.lib = lib;
    so.source = source;
    so.pkgid = "BEN00001";
    so.threads = threads;
    if (a->no_fsync)
        so.flags |= CMH_SNAPSHOT_NO_FSYNC;
    cmh_snapshot_result sr;
    cmh_status st = cmh_snapshot(&sr, ctx, &so);
    if (st == CMH_OK)
        *secs = sr.seconds;
    return st;
}

/* 3b. the corpus, then the one large file, at the i-th thread count:
 * snapshot, warm verify and cold verify (the library out of the page
 * cache, as on a DP whose library is far larger than RAM). */
static cmh_status bench_e2e(cmh_ctx *ctx, const bench_args *a,
                            const bench_paths *p, size_t i, e2e *r)
{
    memset(r, 0, sizeof *r);
    r->threads = a->tlist[i];
    r->cold_rc = -1;
    snprintf(p->lib, p->dl + 32, "%s/lib-%u", p->work, r->threads);
    if (!a->json)
        fprintf(stderr, "snapshot and verify with %u thread(s)...\n",
                r->threads);
    cmh_status st = bench_snapshot(ctx, a, p->corpus, p->lib, r->threads,
                                   &r->snap_s);
    if (st != CMH_OK)
        return st;
    r->verify_rc = bench_verify(ctx, p->lib, r->threads, &r->verify_s);
    if (cmh_bench_evict(ctx, p->lib, NULL) == CMH_OK)
        r->cold_rc = bench_verify(ctx, p->lib, r->threads, &r->cold_s);
    if (!a->keep)
        cmh_bench_remove(ctx, p->lib);
    /* the one large file (warm source, as written) */
    snprintf(p->lib, p->dl + 32, "%s/lib-single-%u", p->work, r->threads);
    st = bench_snapshot(ctx, a, p->single, p->lib, r->threads, &r->single_s);
    if (st == CMH_OK && !a->keep)
        cmh_bench_remove(ctx, p->lib);
    return st;
}

/* 4. A verify (without --deep) hashes SHA-256 only, so its CPU ceiling is
 * the all-core SHA-256 rate; it reads every FileLib byte from storage
 * once. The end-to-end runs read a corpus that was just written (warm
 * cache): they show the per-file overheads, not the disk. */
static verdict bench_verdict(const bench_args *a, const bench_res *r)
{
    verdict v;
    memset(&v, 0, sizeof v);
    v.cpu_ceiling = r->cpu[0][a->nt - 1];
    v.storage = r->rd.read_bytes_per_s;
    for (size_t i = 0; i < a->nt; i++)
        if (r->runs[i].verify_rc == 0 && r->runs[i].verify_s > 0 &&
            (double)r->cs.bytes / r->runs[i].verify_s > v.best_verify) {
            v.best_verify = (double)r->cs.bytes / r->runs[i].verify_s;
            v.best_t = r->runs[i].threads;
        }
    double engine = v.best_verify > 0 && v.best_verify < v.cpu_ceiling
                        ? v.best_verify
                        : v.cpu_ceiling;
    v.storage_bound = v.storage < engine;
    v.est = v.storage_bound ? v.storage : engine;
    v.hours = a->libsize / v.est / 3600.0;
    return v;
}
/* The measurements in order; CMH_OK or the failing call's status. */
static cmh_status bench_measure(cmh_ctx *ctx, const bench_args *a,
                                const bench_paths *p, bench_res *r)
{
    cmh_status st = bench_stages_corpus(ctx, a, p, r);
    for (size_t i = 0; st == CMH_OK && i < a->nt; i++)
        st = bench_e2e(ctx, a, p, i, &r->runs[i]);
    return st;
}

int cmd_bench(int argc, char **argv)
{
    bench_args a;
    int rc = bench_parse(argc, argv, &a);
    if (rc < 0)
        rc = bench_check_dir(&a);
    if (rc >= 0)
        return rc;
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK) {
        cli_error("cannot start the hashing library (OpenSSL SHA-256 "
                  "unavailable)");
        return EXIT_IO;
    }
    bench_res *r = calloc(1, sizeof *r);
    bench_paths p;
    memset(&p, 0, sizeof p);
    cmh_status st = r ? bench_cpu_storage(ctx, &a, r) : CMH_E_NOMEM;
    if (st != CMH_OK)
        rc = cli_fail(ctx, st, "bench", a.json);
    else if ((rc = bench_paths_make(&a, &p)) < 0 &&
             (st = bench_measure(ctx, &a, &p, r)) != CMH_OK)
        rc = cli_fail(ctx, st, "bench", a.json);
    if (rc < 0) {
        verdict v = bench_verdict(&a, r);
        if (a.json)
            bench_print_json(stdout, &a, r, &v);
        else
            bench_print_text(stdout, &a, r, &v);
        rc = EXIT_OK;
    }
    bench_paths_free(&a, ctx, &p);
    free(r);
    cmh_ctx_free(ctx);
    return rc;
}
