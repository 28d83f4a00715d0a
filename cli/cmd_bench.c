/* cmhash bench: what an admin runs on distribution-point hardware.
 *
 * CPU rates of the hashing core (one core and all cores), the cold read
 * rate of the storage under --dir, snapshot and verify of a generated
 * corpus on that storage for each thread count, and a verdict: which of CPU
 * and storage bounds a verify, and how many hours a library of
 * --library-size takes. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

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

#define MAX_THREADS_LIST 16

typedef struct e2e {
    unsigned threads;
    double snap_s;
    int verify_rc;    /* -1 = not available */
    double verify_s;
    int cold_rc;      /* verify after evicting the library; -1 = not run */
    double cold_s;
    double single_s;  /* snapshot of the one large file */
} e2e;

/* Cold verify bound: the storage when the run reaches 0.8 of its direct
 * sequential read, else the CPU when SHA-256 on the threads is below the
 * storage, else the per-file cost (opens, small reads, seeks between
 * files: latency, not bandwidth). */
static const char *cold_bound(double rate, double storage, double cpu)
{
    if (rate >= 0.8 * storage)
        return "storage";
    if (cpu < storage && rate >= 0.8 * cpu)
        return "CPU (SHA-256)";
    return "per-file latency";
}

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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run this program with @p args (NULL-terminated, args[0] ignored),
 * output discarded. Returns the exit code, or -1 if it could not run. */
static int run_self(char **args)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    args[0] = self;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int e = posix_spawn(&pid, self, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool verify_available(void)
{
    char *args[] = {NULL, "help", "verify", NULL};
    return run_self(args) == 0;
}

static const char *kind_name(cmh_bench_kind k)
{
    return k == CMH_BENCH_SHA256     ? "sha256"
           : k == CMH_BENCH_SIG      ? "signature"
           : k == CMH_BENCH_LIBRSYNC ? "signature-librsync"
                                     : "sha256+signature";
}

int cmd_bench(int argc, char **argv)
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
    const char *dir = ".", *shape = "mixed";
    double libsize = 1e12, scale = 0.05;
    unsigned long read_mb = 512, cpu_mb = 256, file_mb = 256;
    unsigned tlist[MAX_THREADS_LIST];
    size_t nt = 0;
    bool json = false, keep = false, no_fsync = false, ok = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'd': dir = optarg; break;
        case 't':
            if (!parse_threads(optarg, tlist, &nt)) {
                cli_error("--threads takes a comma-separated list of 1..256, "
                          "at most %d entries, e.g. 1,2,4", MAX_THREADS_LIST);
                ok = false;
            }
            break;
        case 'L':
            if (!parse_size(optarg, &libsize)) {
                cli_error("--library-size must be a size such as 2TB, "
                          "500GB or 1.5TiB, not '%s'", optarg);
                ok = false;
            }
            break;
        case 'c': shape = optarg; break;
        case 's':
            scale = strtod(optarg, &end);
            if (*end || !(scale > 0 && scale <= 16)) {
                cli_error("--scale must be above 0 and at most 16");
                ok = false;
            }
            break;
        case 'r':
            read_mb = strtoul(optarg, &end, 10);
            if (*end || read_mb < 1 || read_mb > 1048576) {
                cli_error("--read-mb must be from 1 to 1048576");
                ok = false;
            }
            break;
        case 'C':
            cpu_mb = strtoul(optarg, &end, 10);
            if (*end || cpu_mb < 1 || cpu_mb > 1048576) {
                cli_error("--cpu-mb must be from 1 to 1048576");
                ok = false;
            }
            break;
        case 'M':
            file_mb = strtoul(optarg, &end, 10);
            if (*end || file_mb < 1 || file_mb > 1048576) {
                cli_error("--file-mb must be from 1 to 1048576");
                ok = false;
            }
            break;
        case 'F': no_fsync = true; break;
        case 'k': keep = true; break;
        case 'j': json = true; break;
        case 'h': fputs(bench_usage, stdout); return EXIT_OK;
        default: ok = false;
        }
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
    /* The folder first: a wrong --dir is reported before minutes of CPU
     * tests, not after. */
    struct stat dsb;
    if (stat(dir, &dsb) != 0) {
        cli_error("--dir %s: %s; give an existing folder on the library's "
                  "storage", dir, strerror(errno));
        return EXIT_USAGE;
    }
    if (!S_ISDIR(dsb.st_mode) || access(dir, W_OK | X_OK) != 0) {
        cli_error("--dir %s: %s; give a folder you can write in, on the "
                  "library's storage", dir,
                  S_ISDIR(dsb.st_mode) ? "not writable" : "not a folder");
        return EXIT_USAGE;
    }
    long ncpu_l = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned ncpu = ncpu_l > 0 ? (unsigned)ncpu_l : 1;
    if (nt == 0) {
        tlist[nt++] = 1;
        if (ncpu > 1)
            tlist[nt++] = ncpu;
    }
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK) {
        cli_error("cannot start the hashing library (OpenSSL SHA-256 "
                  "unavailable)");
        return EXIT_IO;
    }
    int rc = EXIT_OK;
    cmh_status st;
    char *work = NULL, *corpus = NULL, *lib = NULL, *single = NULL;
    FILE *o = stdout;

    /* 1. CPU, at each thread count of --threads */
    static const cmh_bench_kind kinds[] = {CMH_BENCH_SHA256, CMH_BENCH_SIG,
                                           CMH_BENCH_BOTH,
                                           CMH_BENCH_LIBRSYNC};
    enum { NKINDS = 4 };
    double cpu[NKINDS][MAX_THREADS_LIST]; /* [kind][thread-count index] */
    if (!json)
        fprintf(stderr, "measuring CPU...\n");
    for (size_t k = 0; k < NKINDS; k++)
        for (size_t a = 0; a < nt; a++) {
            unsigned t = tlist[a];
            st = cmh_bench_cpu(ctx, kinds[k], t, (uint64_t)cpu_mb << 20,
                               256 * 1024, &cpu[k][a]);
            if (st != CMH_OK) {
                rc = cli_fail(ctx, st, "bench", json);
                goto out;
            }
        }

    /* 2. storage */
    if (!json)
        fprintf(stderr, "measuring storage under %s...\n", dir);
    cmh_bench_read_result rd;
    st = cmh_bench_read(ctx, dir, (uint64_t)read_mb << 20, &rd);
    if (st != CMH_OK) {
        rc = cli_fail(ctx, st, "bench", json);
        goto out;
    }

    /* 3. corpus + end to end */
    size_t dl = strlen(dir) + 64;
    work = malloc(dl);
    corpus = malloc(dl + 16);
    lib = malloc(dl + 32);
    single = malloc(dl + 32);
    if (!work || !corpus || !lib || !single) {
        cli_error("out of memory");
        rc = EXIT_IO;
        goto out;
    }
    snprintf(work, dl, "%s/cmhash-bench-%ld", dir, (long)getpid());
    snprintf(corpus, dl + 16, "%s/corpus", work);
    if (mkdir(work, 0755) != 0) {
        cli_error("cannot create %s: %s; give a writable --dir", work,
                  strerror(errno));
        rc = EXIT_IO;
        goto out;
    }
    /* 3a. stage costs of one large file; the file stays for the
     * single-file snapshots below */
    if (!json)
        fprintf(stderr, "measuring the stages of one %lu MiB file...\n",
                file_mb);
    snprintf(single, dl + 32, "%s/single", work);
    if (mkdir(single, 0755) != 0) {
        cli_error("cannot create %s: %s; give a writable --dir", single,
                  strerror(errno));
        rc = EXIT_IO;
        goto out;
    }
    cmh_bench_stages sg;
    {
        char *big = malloc(strlen(single) + 16);
        if (!big) {
            cli_error("out of memory");
            rc = EXIT_IO;
            goto out;
        }
        snprintf(big, strlen(single) + 16, "%s/image.wim", single);
        st = cmh_bench_stage_costs(ctx, big, (uint64_t)file_mb << 20, &sg);
        free(big);
    }
    if (st != CMH_OK) {
        rc = cli_fail(ctx, st, "bench", json);
        goto out;
    }
    if (!json)
        fprintf(stderr, "generating a %s corpus (scale %g)...\n", shape,
                scale);
    cmh_bench_corpus_opts co = CMH_BENCH_CORPUS_OPTS_INIT;
    co.shape = shape;
    co.scale = scale;
    cmh_bench_corpus_stats cs;
    st = cmh_bench_corpus(ctx, corpus, &co, &cs);
    if (st != CMH_OK) {
        rc = cli_fail(ctx, st, "bench", json);
        goto out;
    }
    bool have_verify = verify_available();
    e2e runs[MAX_THREADS_LIST];
    for (size_t i = 0; i < nt; i++) {
        e2e *r = &runs[i];
        memset(r, 0, sizeof *r);
        r->threads = tlist[i];
        r->verify_rc = -1;
        r->cold_rc = -1;
        snprintf(lib, dl + 32, "%s/lib-%u", work, tlist[i]);
        if (!json)
            fprintf(stderr, "snapshot and verify with %u thread(s)...\n",
                    tlist[i]);
        cmh_snapshot_opts so = CMH_SNAPSHOT_OPTS_INIT;
        so.lib = lib;
        so.source = corpus;
        so.pkgid = "BEN00001";
        so.threads = tlist[i];
        if (no_fsync)
            so.flags |= CMH_SNAPSHOT_NO_FSYNC;
        cmh_snapshot_result sr;
        st = cmh_snapshot(ctx, &so, &sr);
        if (st != CMH_OK) {
            rc = cli_fail(ctx, st, "bench", json);
            goto out;
        }
        r->snap_s = sr.seconds;
        if (have_verify) {
            char tb[16];
            snprintf(tb, sizeof tb, "%u", tlist[i]);
            char *args[] = {NULL, "verify", "--quiet", "--lib", lib,
                            "--threads", tb, NULL};
            double t0 = now_s();
            r->verify_rc = run_self(args);
            r->verify_s = now_s() - t0;
            /* cold: the library out of the page cache, as on a DP whose
             * library is far larger than RAM */
            if (cmh_bench_evict(ctx, lib, NULL) == CMH_OK) {
                t0 = now_s();
                r->cold_rc = run_self(args);
                r->cold_s = now_s() - t0;
            }
        }
        if (!keep)
            cmh_bench_remove(ctx, lib);
        /* the one large file (warm source, as written) */
        snprintf(lib, dl + 32, "%s/lib-single-%u", work, tlist[i]);
        so.lib = lib;
        so.source = single;
        st = cmh_snapshot(ctx, &so, &sr);
        if (st != CMH_OK) {
            rc = cli_fail(ctx, st, "bench", json);
            goto out;
        }
        r->single_s = sr.seconds;
        if (!keep)
            cmh_bench_remove(ctx, lib);
    }

    /* 4. verdict. A verify (without --deep) hashes SHA-256 only, so its
     * CPU ceiling is the all-core SHA-256 rate; it reads every FileLib byte
     * from storage once. The end-to-end runs read a corpus that was just
     * written (warm cache): they show the per-file overheads, not the
     * disk. */
    double cpu_ceiling = cpu[0][nt - 1];
    double storage = rd.read_bytes_per_s;
    double best_verify = 0;
    unsigned best_t = 0;
    for (size_t i = 0; i < nt; i++)
        if (runs[i].verify_rc == 0 && runs[i].verify_s > 0 &&
            (double)cs.bytes / runs[i].verify_s > best_verify) {
            best_verify = (double)cs.bytes / runs[i].verify_s;
            best_t = runs[i].threads;
        }
    double engine = best_verify > 0 && best_verify < cpu_ceiling
                        ? best_verify
                        : cpu_ceiling;
    bool storage_bound = storage < engine;
    double est = storage_bound ? storage : engine;
    double hours = libsize / est / 3600.0;

    if (json) {
        fprintf(o, "{\"command\":\"bench\",\"cpus\":%u,\"cpu\":[", ncpu);
        for (size_t k = 0; k < NKINDS; k++)
            for (size_t a = 0; a < nt; a++)
                fprintf(o, "%s{\"what\":\"%s\",\"threads\":%u,"
                           "\"mb_per_s\":%.1f}",
                        k || a ? "," : "", kind_name(kinds[k]), tlist[a],
                        cpu[k][a] / 1e6);
        fprintf(o, "],\"stages\":{\"bytes\":%llu,\"sig_impl\":\"%s\","
                   "\"cpu_s_per_gb\":{\"read\":%.3f,\"sha256\":%.3f,"
                   "\"signature\":%.3f,\"store\":%.3f}},"
                   "\"single_file_predicted\":[",
                (unsigned long long)sg.bytes, sg.sig_impl, sg.read,
                sg.sha256, sg.sig, sg.store);
        for (unsigned n = 1, first = 1; n <= 16; n *= 2, first = 0) {
            const char *b;
            double v = cmh_bench_predict_single(&sg, n, &b);
            fprintf(o, "%s{\"threads\":%u,\"mb_per_s\":%.1f,"
                       "\"bound\":\"%s\"}",
                    first ? "" : ",", n, v / 1e6, b);
        }
        fprintf(o, "],\"storage\":{\"dir\":");
        json_str(o, dir);
        fprintf(o, ",\"method\":\"%s\",\"resident_fraction\":%.3f,"
                   "\"read_mb_per_s\":%.1f,\"write_mb_per_s\":%.1f,"
                   "\"bytes\":%llu},",
                rd.method, rd.resident_fraction, rd.read_bytes_per_s / 1e6,
                rd.write_bytes_per_s / 1e6, (unsigned long long)rd.bytes);
        fprintf(o, "\"corpus\":{\"shape\":");
        json_str(o, shape);
        fprintf(o, ",\"scale\":%g,\"files\":%llu,\"folders\":%llu,"
                   "\"bytes\":%llu},\"fsync\":%s,\"runs\":[",
                scale, (unsigned long long)cs.files,
                (unsigned long long)cs.folders, (unsigned long long)cs.bytes,
                no_fsync ? "false" : "true");
        for (size_t i = 0; i < nt; i++) {
            const e2e *r = &runs[i];
            fprintf(o, "%s{\"threads\":%u,\"snapshot_seconds\":%.3f,"
                       "\"snapshot_mb_per_s\":%.1f,",
                    i ? "," : "", r->threads, r->snap_s,
                    (double)cs.bytes / r->snap_s / 1e6);
            const char *sb;
            double pred = cmh_bench_predict_single(&sg, r->threads, &sb);
            fprintf(o, "\"single_file_seconds\":%.3f,"
                       "\"single_file_mb_per_s\":%.1f,"
                       "\"single_file_predicted_mb_per_s\":%.1f,"
                       "\"single_file_bound\":\"%s\",",
                    r->single_s, (double)sg.bytes / r->single_s / 1e6,
                    pred / 1e6, sb);
            if (r->verify_rc < 0)
                fprintf(o, "\"verify\":null}");
            else {
                fprintf(o, "\"verify_exit\":%d,\"verify_seconds\":%.3f,"
                           "\"verify_mb_per_s\":%.1f,",
                        r->verify_rc, r->verify_s,
                        (double)cs.bytes / r->verify_s / 1e6);
                if (r->cold_rc < 0)
                    fprintf(o, "\"cold_verify\":null}");
                else {
                    double cr = (double)cs.bytes / r->cold_s;
                    fprintf(o, "\"cold_verify_exit\":%d,"
                               "\"cold_verify_seconds\":%.3f,"
                               "\"cold_verify_mb_per_s\":%.1f,"
                               "\"cold_verify_bound\":\"%s\"}",
                            r->cold_rc, r->cold_s, cr / 1e6,
                            cold_bound(cr, rd.read_bytes_per_s,
                                       cpu[0][i]));
                }
            }
        }
        fprintf(o, "],\"verdict\":{\"bottleneck\":\"%s\","
                   "\"cpu_ceiling_mb_per_s\":%.1f,"
                   "\"storage_mb_per_s\":%.1f,"
                   "\"verify_estimate_mb_per_s\":%.1f,"
                   "\"library_bytes\":%.0f,\"hours\":%.2f}}\n",
                storage_bound ? "storage" : "cpu", cpu_ceiling / 1e6,
                storage / 1e6, est / 1e6, libsize, hours);
    } else {
        fprintf(o, "CPU (%u online), MB/s    ", ncpu);
        for (size_t a = 0; a < nt; a++)
            fprintf(o, " %3u thread%s", tlist[a], tlist[a] == 1 ? " " : "s");
        fputc('\n', o);
        for (size_t k = 0; k < NKINDS; k++) {
            fprintf(o, "  %-23s", kind_name(kinds[k]));
            for (size_t a = 0; a < nt; a++)
                fprintf(o, " %11.0f", cpu[k][a] / 1e6);
            fputc('\n', o);
        }
        fprintf(o, "Stages of one large file, CPU seconds per GB on one "
                   "thread (signature: %s)\n"
                   "  read %.2f  SHA-256 %.2f  signature %.2f  store %.2f\n",
                sg.sig_impl, sg.read, sg.sha256, sg.sig, sg.store);
        fprintf(o, "  predicted single-file snapshot, MB/s:");
        for (unsigned n = 1; n <= 16; n *= 2)
            fprintf(o, " %u core%s %.0f%s", n, n == 1 ? "" : "s",
                    cmh_bench_predict_single(&sg, n, NULL) / 1e6,
                    n < 16 ? "," : "\n");
        fprintf(o, "Storage under %s (page cache bypassed with %s; %.0f %% "
                   "cached at start)\n",
                dir, rd.method, rd.resident_fraction * 100);
        fprintf(o, "  sequential read            %9.0f MB/s\n",
                rd.read_bytes_per_s / 1e6);
        fprintf(o, "  write + fsync              %9.0f MB/s\n",
                rd.write_bytes_per_s / 1e6);
        char hb[32];
        cli_human_bytes(hb, sizeof hb, (double)cs.bytes);
        fprintf(o, "Corpus: %s x %g, %llu files in %llu folders, %s "
                   "(warm page cache)\n",
                shape, scale, (unsigned long long)cs.files,
                (unsigned long long)cs.folders, hb);
        fprintf(o, "  threads   snapshot%s           verify (warm)\n",
                no_fsync ? " (no fsync)" : " (fsync)  ");
        for (size_t i = 0; i < nt; i++) {
            const e2e *r = &runs[i];
            fprintf(o, "  %7u   %6.2f s %6.0f MB/s", r->threads, r->snap_s,
                    (double)cs.bytes / r->snap_s / 1e6);
            if (r->verify_rc < 0)
                fprintf(o, "   not available in this build\n");
            else if (r->verify_rc != 0)
                fprintf(o, "   failed (exit %d)\n", r->verify_rc);
            else
                fprintf(o, "   %6.2f s %6.0f MB/s\n", r->verify_s,
                        (double)cs.bytes / r->verify_s / 1e6);
        }
        for (size_t i = 0; i < nt; i++) {
            const e2e *r = &runs[i];
            if (r->cold_rc < 0)
                continue;
            if (r->cold_rc != 0) {
                fprintf(o, "Cold verify, %u thread%s: failed (exit %d)\n",
                        r->threads, r->threads == 1 ? "" : "s", r->cold_rc);
                continue;
            }
            double cr = (double)cs.bytes / r->cold_s;
            fprintf(o, "Cold verify, %u thread%s: %.2f s %.0f MB/s = %.2f x "
                       "the storage's direct read; bound: %s\n",
                    r->threads, r->threads == 1 ? "" : "s", r->cold_s,
                    cr / 1e6, cr / rd.read_bytes_per_s,
                    cold_bound(cr, rd.read_bytes_per_s, cpu[0][i]));
        }
        cli_human_bytes(hb, sizeof hb, (double)sg.bytes);
        for (size_t i = 0; i < nt; i++) {
            const e2e *r = &runs[i];
            const char *sb;
            double pred = cmh_bench_predict_single(&sg, r->threads, &sb);
            fprintf(o, "Single-file snapshot (%s, warm%s), %u thread%s: "
                       "%.2f s %.0f MB/s, predicted %.0f; bound: %s\n",
                    hb, no_fsync ? ", no fsync" : ", fsync", r->threads,
                    r->threads == 1 ? "" : "s", r->single_s,
                    (double)sg.bytes / r->single_s / 1e6, pred / 1e6,
                    no_fsync ? sb : "storage (fsync of the copy)");
        }
        char ls[32];
        cli_human_bytes(ls, sizeof ls, libsize);
        if (best_t)
            fprintf(o, "Verdict: %s-bound (verify %.0f MB/s with %u threads "
                       "vs storage %.0f MB/s); verifying %s takes about "
                       "%.1f h\n",
                    storage_bound ? "storage" : "CPU", best_verify / 1e6,
                    best_t, storage / 1e6, ls, hours);
        else
            fprintf(o, "Verdict: %s-bound (SHA-256 on all cores %.0f MB/s "
                       "vs storage %.0f MB/s); verifying %s takes about "
                       "%.1f h\n",
                    storage_bound ? "storage" : "CPU", cpu_ceiling / 1e6,
                    storage / 1e6, ls, hours);
    }
out:
    if (work && !keep)
        cmh_bench_remove(ctx, work);
    free(work);
    free(corpus);
    free(lib);
    free(single);
    cmh_ctx_free(ctx);
    return rc;
}
