/* Measuring instruments (bench.h): corpus generator, CPU rates of the
 * hashing core, cold read rate of storage. */
#include "internal.h"

#include <cmhash/bench.h>

#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"
#include "sigsum.h"

/* ---- xoshiro256** (Blackman & Vigna): ~1 ns per 8 bytes here, so the
 * generator writes faster than the page cache takes the bytes. ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Fill @p n bytes; the stream does not depend on how it is chunked as long
 * as every chunk but the last is a multiple of 8. */
static void rng_fill(rng *r, unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, n);
    }
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t rng_below(rng *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

/* Standard normal (Box-Muller, one value per call: simple, and the corpus
 * plan is tiny next to writing the bytes). */
static double rng_normal(rng *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- corpus plan ---- */

typedef struct plan_dir {
    char *path;     /* relative to the corpus root; "" = root */
    unsigned depth; /* 0 = root */
    bool empty;     /* gets no files */
} plan_dir;

typedef struct plan_file {
    uint32_t dir;
    uint64_t size;
    uint64_t content; /* bytes = f(seed, content, size) */
    bool dup;
} plan_file;

typedef struct plan {
    plan_dir *dirs;
    size_t ndirs;
    plan_file *files;
    size_t nfiles;
} plan;

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->ndirs; i++)
        free(p->dirs[i].path);
    free(p->dirs);
    free(p->files);
    memset(p, 0, sizeof *p);
}

/* Folder tree: folder i > 0 hangs below a random earlier folder of depth
 * < max_depth, so depths spread up to max_depth. */
static bool plan_dirs(plan *p, rng *r, size_t n, unsigned max_depth,
                      double empty_share)
{
    p->dirs = calloc(n, sizeof *p->dirs);
    if (!p->dirs)
        return false;
    p->dirs[0].path = cmh__strdup("");
    if (!p->dirs[0].path)
        return false;
    p->ndirs = 1;
    size_t *open = malloc(n * sizeof *open); /* folders that may get kids */
    if (!open)
        return false;
    size_t nopen = 1;
    open[0] = 0;
    for (size_t i = 1; i < n; i++) {
        size_t parent = open[rng_below(r, nopen)];
        plan_dir *d = &p->dirs[i];
        char leaf[32];
        snprintf(leaf, sizeof leaf, "dir%05zu", i);
        d->path = p->dirs[parent].path[0]
                      ? cmh__path_join(p->dirs[parent].path, leaf)
                      : cmh__strdup(leaf);
        if (!d->path) {
            free(open);
            return false;
        }
        d->depth = p->dirs[parent].depth + 1;
        d->empty = rng_unit(r) < empty_share;
        p->ndirs++;
        if (d->depth < max_depth)
            open[nopen++] = i;
    }
    free(open);
    return true;
}

/* A folder that takes files (the root always does). */
static uint32_t pick_dir(const plan *p, rng *r)
{
    for (;;) {
        uint32_t d = (uint32_t)rng_below(r, p->ndirs);
        if (!p->dirs[d].empty)
            return d;
    }
}

#define KIB 1024ULL
#define MIB (1024ULL * 1024)
#define GIB (1024ULL * 1024 * 1024)

static uint64_t clamp_u64(double v, uint64_t lo, uint64_t hi)
{
    if (!(v >= (double)lo))
        return lo;
    if (v >= (double)hi)
        return hi;
    return (uint64_t)v;
}

static bool plan_mixed(plan *p, rng *r, double scale)
{
    size_t nfiles = (size_t)llround(20000 * scale);
    if (nfiles < 4)
        nfiles = 4;
    uint64_t target = (uint64_t)(2.0 * (double)GIB * scale);
    uint64_t maxsz = 200 * MIB;
    if (maxsz > target / 4)
        maxsz = target / 4; /* small scales: no single file dominates */
    if (maxsz < 4 * KIB)
        maxsz = 4 * KIB;
    size_t ndirs = nfiles / 25 + 1;
    /* ~3 % of folders stay empty; folders up to depth 6 */
    if (!plan_dirs(p, r, ndirs, 6, 0.03))
        return false;
    p->files = calloc(nfiles, sizeof *p->files);
    double *z = malloc(nfiles * sizeof *z);
    if (!p->files || !z) {
        free(z);
        return false;
    }
    /* Log-normal sizes, sigma 2.2 (a few big CABs/WIMs among many small
     * INFs and DLLs); mu is solved so that the clipped sizes add up to the
     * target. */
    const double sigma = 2.2;
    for (size_t i = 0; i < nfiles; i++)
        z[i] = rng_normal(r);
    double lo = log(1.0), hi = log((double)maxsz) + 1;
    for (int it = 0; it < 60; it++) {
        double mu = (lo + hi) / 2, sum = 0;
        for (size_t i = 0; i < nfiles; i++)
            sum += (double)clamp_u64(exp(mu + sigma * z[i]), KIB, maxsz);
        if (sum > (double)target)
            hi = mu;
        else
            lo = mu;
    }
    double mu = (lo + hi) / 2;
    for (size_t i = 0; i < nfiles; i++) {
        plan_file *f = &p->files[i];
        f->dir = pick_dir(p, r);
        f->content = i;
        double u = rng_unit(r);
        if (u < 0.01) {
            f->size = 0; /* ~1 % empty files */
        } else if (u < 0.06 && i > 0) {
            /* ~5 % duplicates of an earlier non-empty file */
            const plan_file *src = &p->files[rng_below(r, i)];
            if (src->size) {
                f->size = src->size;
                f->content = src->content;
                f->dup = true;
            } else {
                f->size = clamp_u64(exp(mu + sigma * z[i]), KIB, maxsz);
            }
        } else {
            f->size = clamp_u64(exp(mu + sigma * z[i]), KIB, maxsz);
        }
    }
    free(z);
    p->nfiles = nfiles;
    return true;
}

static bool plan_tiny(plan *p, rng *r, double scale)
{
    size_t nfiles = (size_t)llround(100000 * scale);
    if (nfiles < 1)
        nfiles = 1;
    /* ~100 files per folder, depth up to 3, no empty folders */
    if (!plan_dirs(p, r, nfiles / 100 + 1, 3, 0.0))
        return false;
    p->files = calloc(nfiles, sizeof *p->files);
    if (!p->files)
        return false;
    for (size_t i = 0; i < nfiles; i++) {
        p->files[i].dir = pick_dir(p, r);
        p->files[i].size = rng_below(r, 4 * KIB + 1);
        p->files[i].content = i;
    }
    p->nfiles = nfiles;
    return true;
}

static bool plan_large(plan *p, double scale, size_t count)
{
    p->dirs = calloc(1, sizeof *p->dirs);
    p->files = calloc(count, sizeof *p->files);
    if (!p->dirs || !p->files)
        return false;
    p->dirs[0].path = cmh__strdup("");
    if (!p->dirs[0].path)
        return false;
    p->ndirs = 1;
    uint64_t sz = (uint64_t)((double)GIB * scale);
    for (size_t i = 0; i < count; i++) {
        p->files[i].size = sz ? sz : 1;
        p->files[i].content = i;
    }
    p->nfiles = count;
    return true;
}

/* ---- corpus writer ---- */

#define GEN_BUF (1024 * 1024)

static int write_all_fd(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_file(int dirfd, const char *rel, uint64_t size,
                      uint64_t seed, unsigned char *buf, int64_t mtime_s)
{
    int fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    0644);
    if (fd < 0)
        return errno;
    rng r;
    rng_seed(&r, seed);
    int e = 0;
    for (uint64_t left = size; left && !e;) {
        size_t n = left < GEN_BUF ? (size_t)left : GEN_BUF;
        rng_fill(&r, buf, n);
        e = write_all_fd(fd, buf, n);
        left -= n;
    }
    /* Fixed times: snapshots of the same corpus give the same INIs. */
    struct timespec ts[2] = {{mtime_s, 0}, {mtime_s, 0}};
    if (!e && futimens(fd, ts) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    return e;
}

static int make_dirs(const char *path)
{
    char *p = cmh__strdup(path);
    if (!p)
        return ENOMEM;
    int e = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                e = errno;
                break;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    return e;
}

static bool dir_is_empty(int fd)
{
    int dfd = dup(fd);
    if (dfd < 0)
        return false;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return false;
    }
    bool empty = true;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            empty = false;
            break;
        }
    closedir(d);
    return empty;
}

cmh_status cmh_bench_corpus(cmh_ctx *ctx, const char *dir,
                            const cmh_bench_corpus_opts *o,
                            cmh_bench_corpus_stats *out)
{
    cmh__err_clear(ctx);
    cmh_status st = CMH_OK;
    plan p;
    memset(&p, 0, sizeof p);
    unsigned char *buf = NULL;
    int root = -1;
    double t0 = cmh__now();
    if (!o || o->version != CMH_BENCH_CORPUS_OPTS_VERSION || !o->shape ||
        !(o->scale > 0 && o->scale <= 16) || !dir || !*dir)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "bad corpus options: shape large, single, mixed or "
                         "tiny, "
                         "scale above 0 and at most 16");
    rng r;
    rng_seed(&r, o->seed ^ 0xC3A5C85C97CB3127ULL);
    bool okp;
    if (!strcmp(o->shape, "large"))
        okp = plan_large(&p, o->scale, 4);
    else if (!strcmp(o->shape, "single"))
        okp = plan_large(&p, o->scale, 1);
    else if (!strcmp(o->shape, "mixed"))
        okp = plan_mixed(&p, &r, o->scale);
    else if (!strcmp(o->shape, "tiny"))
        okp = plan_tiny(&p, &r, o->scale);
    else {
        return cmh__fail(ctx, CMH_E_INVALID,
                         "unknown corpus shape '%s': use large, single, "
                         "mixed or tiny", o->shape);
    }
    if (!okp) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    int e = make_dirs(dir);
    if (e || (e = cmh__os_open_dir(AT_FDCWD, dir, &root)) != 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot create %s", dir);
        goto out;
    }
    if (!dir_is_empty(root)) {
        st = cmh__fail(ctx, CMH_E_INVALID,
                       "%s is not empty; give a new or empty folder (the "
                       "generator never overwrites)", dir);
        goto out;
    }
    buf = malloc(GEN_BUF);
    if (!buf) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    cmh_bench_corpus_stats s;
    memset(&s, 0, sizeof s);
    bool *has_files = calloc(p.ndirs, sizeof *has_files);
    if (!has_files) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 1; i < p.ndirs; i++) {
        if (mkdirat(root, p.dirs[i].path, 0755) != 0) {
            free(has_files);
            st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot create %s/%s",
                                 dir, p.dirs[i].path);
            goto out;
        }
    }
    static const char *const ext[] = {"cab", "dll", "inf", "sys", "msi",
                                      "exe", "txt", "xml"};
    for (size_t i = 0; i < p.nfiles; i++) {
        const plan_file *f = &p.files[i];
        char leaf[40];
        if (!strcmp(o->shape, "large") || !strcmp(o->shape, "single"))
            snprintf(leaf, sizeof leaf, "image%zu.wim", i + 1);
        else
            snprintf(leaf, sizeof leaf, "file%06zu.%s", i,
                     ext[f->content % 8]);
        const char *dp = p.dirs[f->dir].path;
        char *rel = dp[0] ? cmh__path_join(dp, leaf) : cmh__strdup(leaf);
        if (!rel) {
            free(has_files);
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            goto out;
        }
        uint64_t seed = o->seed * 0x100000001B3ULL + f->content + 1;
        e = write_file(root, rel, f->size, seed, buf,
                       1577836800 + (int64_t)(f->content % 86400));
        if (e) {
            st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot write %s/%s", dir,
                                 rel);
            free(rel);
            free(has_files);
            goto out;
        }
        free(rel);
        has_files[f->dir] = true;
        s.files++;
        s.bytes += f->size;
        s.empty_files += f->size == 0;
        s.duplicates += f->dup;
        if (f->size > s.largest)
            s.largest = f->size;
    }
    /* a folder is empty when it has neither files nor sub-folders */
    bool *has_kids = calloc(p.ndirs, sizeof *has_kids);
    if (has_kids) {
        for (size_t i = 1; i < p.ndirs; i++) {
            const char *sl = strrchr(p.dirs[i].path, '/');
            size_t plen = sl ? (size_t)(sl - p.dirs[i].path) : 0;
            for (size_t j = 0; j < i; j++)
                if (strlen(p.dirs[j].path) == plen &&
                    !strncmp(p.dirs[j].path, p.dirs[i].path, plen)) {
                    has_kids[j] = true;
                    break;
                }
        }
        for (size_t i = 1; i < p.ndirs; i++)
            s.empty_folders += !has_files[i] && !has_kids[i];
        free(has_kids);
    }
    free(has_files);
    s.folders = p.ndirs - 1;
    s.seconds = cmh__now() - t0;
    if (out)
        *out = s;
out:
    if (root >= 0)
        close(root);
    free(buf);
    plan_free(&p);
    return st;
}

/* ---- CPU rates ---- */

#define CPU_BUF (8 * 1024 * 1024)

/* Start line: threads wait until the main thread opens it, so they all hash
 * at the same time. go and abort are written and read under mu. */
typedef struct cpu_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool go, abort;
} cpu_gate;

typedef struct cpu_arg {
    cmh_bench_kind kind;
    uint64_t bytes;
    size_t chunk;
    struct cpu_gate *gate;
    unsigned char *buf;
    double t0, t1;
    cmh_status st;
} cpu_arg;

static int discard_sink(const void *data, size_t len, void *payload)
{
    (void)data;
    (void)len;
    (void)payload;
    return 0;
}

static void *cpu_thread(void *a)
{
    cpu_arg *c = a;
    cmh_sha256 *h = NULL;
    cmh_sig *sig = NULL;
    c->st = CMH_OK;
    if ((c->kind & CMH_BENCH_SHA256) && cmh_sha256_new(&h) != CMH_OK)
        c->st = CMH_E_NOMEM;
    if ((c->kind & CMH_BENCH_LIBRSYNC) &&
        cmh_sig_new(&sig, c->bytes) != CMH_OK)
        c->st = CMH_E_NOMEM;
    /* The large-file path: whole-block sums of each chunk. */
    uint32_t magic, bl = 0, sl = 0;
    uint8_t *sums = NULL;
    if (c->kind & CMH_BENCH_SIG) {
        cmh_sig_params(c->bytes, &magic, &bl, &sl);
        sums = malloc((c->chunk / bl + 2) * (4 + (size_t)sl));
        if (!sums)
            c->st = CMH_E_NOMEM;
    }
    pthread_mutex_lock(&c->gate->mu);
    while (!c->gate->go)
        pthread_cond_wait(&c->gate->cv, &c->gate->mu);
    if (c->gate->abort && c->st == CMH_OK)
        c->st = CMH_E_CANCELED;
    pthread_mutex_unlock(&c->gate->mu);
    c->t0 = cmh__now();
    size_t off = 0;
    for (uint64_t left = c->bytes; left && c->st == CMH_OK;) {
        size_t n = left < c->chunk ? (size_t)left : c->chunk;
        if (off + n > CPU_BUF)
            off = 0;
        if (h)
            cmh_sha256_update(h, c->buf + off, n);
        if (sig && cmh_sig_update(sig, c->buf + off, n, discard_sink, NULL))
            c->st = CMH_E_IO;
        if (sums)
            cmh__sigsum_blocks(c->buf + off, n, bl, sl, sums);
        off += n;
        left -= n;
    }
    if (h) {
        uint8_t d[CMH_SHA256_LEN];
        if (cmh_sha256_final(h, d) != CMH_OK && c->st == CMH_OK)
            c->st = CMH_E_NOMEM;
    }
    if (sig && c->st == CMH_OK &&
        cmh_sig_final(sig, discard_sink, NULL) != CMH_OK)
        c->st = CMH_E_IO;
    c->t1 = cmh__now();
    cmh_sha256_free(h);
    cmh_sig_free(sig);
    free(sums);
    return NULL;
}

cmh_status cmh_bench_cpu(cmh_ctx *ctx, cmh_bench_kind kind, unsigned threads,
                         uint64_t bytes_per_thread, size_t chunk,
                         double *out_bytes_per_s)
{
    cmh__err_clear(ctx);
    *out_bytes_per_s = 0;
    if (threads < 1 || threads > 256 || chunk == 0 || chunk > CPU_BUF ||
        kind < CMH_BENCH_SHA256 || kind > CMH_BENCH_LIBRSYNC)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "bad CPU benchmark parameters: 1..256 threads, "
                         "chunk 1..%d bytes", CPU_BUF);
    cmh_status st = CMH_OK;
    cpu_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                     false, false};
    cpu_arg *args = calloc(threads, sizeof *args);
    pthread_t *tids = calloc(threads, sizeof *tids);
    unsigned started = 0;
    if (!args || !tids) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < threads; i++) {
        /* one buffer per thread: no shared cache lines between cores */
        args[i].buf = malloc(CPU_BUF);
        if (!args[i].buf) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            goto out;
        }
        rng r;
        rng_seed(&r, 42 + i);
        rng_fill(&r, args[i].buf, CPU_BUF);
        args[i].kind = kind;
        args[i].bytes = bytes_per_thread;
        args[i].chunk = chunk;
        args[i].gate = &gate;
    }
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, cpu_thread, &args[i]) != 0)
            break;
        started++;
    }
    if (started < threads)
        st = cmh__fail(ctx, CMH_E_NOMEM, "cannot start %u threads", threads);
    pthread_mutex_lock(&gate.mu);
    gate.go = true;
    gate.abort = st != CMH_OK;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (st == CMH_OK) {
        double t0 = args[0].t0, t1 = args[0].t1;
        for (unsigned i = 0; i < threads; i++) {
            if (args[i].st != CMH_OK && st == CMH_OK)
                st = cmh__fail(ctx, args[i].st, "hashing failed");
            if (args[i].t0 < t0)
                t0 = args[i].t0;
            if (args[i].t1 > t1)
                t1 = args[i].t1;
        }
        if (st == CMH_OK && t1 > t0)
            *out_bytes_per_s =
                (double)bytes_per_thread * threads / (t1 - t0);
    }
out:
    for (unsigned i = 0; args && i < threads; i++)
        free(args[i].buf);
    free(args);
    free(tids);
    return st;
}

/* ---- storage read rate ---- */

#define READ_CHUNK (1024 * 1024)

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* read(2), again after EINTR; adds the thread's CPU time of the reads to
 * *cpu when not NULL. */
static ssize_t read_retry(int fd, void *buf, size_t n, double *cpu)
{
    for (;;) {
        double t = cpu ? thread_cpu() : 0;
        ssize_t r = read(fd, buf, n);
        if (cpu)
            *cpu += thread_cpu() - t;
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

cmh_status cmh_bench_read(cmh_ctx *ctx, const char *dir, uint64_t bytes,
                          cmh_bench_read_result *out)
{
    cmh__err_clear(ctx);
    memset(out, 0, sizeof *out);
    if (bytes < READ_CHUNK)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "the read test needs at least 1 MiB");
    bytes = (bytes + READ_CHUNK - 1) / READ_CHUNK * READ_CHUNK;
    cmh_status st = CMH_OK;
    char *path = NULL;
    unsigned char *buf = NULL;
    int fd = -1;
    char leaf[64];
    snprintf(leaf, sizeof leaf, CMH_TMP_PREFIX "bench-read-%ld",
             (long)getpid());
    path = cmh__path_join(dir, leaf);
    /* O_DIRECT needs an aligned buffer; 4 KiB covers every logical block
     * size in use. */
    if (!path || !(buf = cmh__os_aligned_alloc(4096, READ_CHUNK))) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write in %s",
                             dir);
        goto out;
    }
    rng r;
    rng_seed(&r, 7);
    double t0 = cmh__now();
    for (uint64_t left = bytes; left; left -= READ_CHUNK) {
        rng_fill(&r, buf, READ_CHUNK);
        int e = write_all_fd(fd, buf, READ_CHUNK);
        if (e) {
            st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot write %s", path);
            goto out;
        }
    }
    if (fsync(fd) != 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot flush %s", path);
        goto out;
    }
    out->write_bytes_per_s = (double)bytes / (cmh__now() - t0);
    close(fd);
    /* Clean pages of a synced file can be dropped: DONTNEED first in both
     * modes, so O_DIRECT does not find them cached either. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot read %s", path);
        goto out;
    }
    cmh__os_advise_dontneed(fd);
    out->resident_fraction = cmh__os_resident_fraction(fd, bytes);
    close(fd);
    int ue = cmh__os_open_unbuffered(path, &fd, &out->method);
    if (ue && ue != EINVAL) {
        fd = -1;
        errno = ue;
    } else if (ue == EINVAL) {
        /* tmpfs and some network file systems refuse O_DIRECT */
        out->method = "posix_fadvise(DONTNEED)";
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot read %s", path);
        goto out;
    }
    t0 = cmh__now();
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read_retry(fd, buf, READ_CHUNK, NULL);
        if (n < 0) {
            st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot read %s",
                                 path);
            goto out;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
    }
    double dt = cmh__now() - t0;
    out->bytes = total;
    out->read_bytes_per_s = dt > 0 ? (double)total / dt : 0;
out:
    if (fd >= 0)
        close(fd);
    if (path)
        unlink(path);
    free(path);
    cmh__os_aligned_free(buf);
    return st;
}

cmh_status cmh_bench_remove(cmh_ctx *ctx, const char *path)
{
    cmh__err_clear(ctx);
    int e = cmh__os_remove_tree(AT_FDCWD, path);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_IO, e, "cannot remove %s", path);
    return CMH_OK;
}

/* ---- stage costs of one large file ---- */

cmh_status cmh_bench_stage_costs(cmh_ctx *ctx, const char *path,
                                 uint64_t bytes, cmh_bench_stages *out)
{
    cmh__err_clear(ctx);
    memset(out, 0, sizeof *out);
    if (bytes < READ_CHUNK)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "the stage test needs at least 1 MiB");
    bytes = (bytes + READ_CHUNK - 1) / READ_CHUNK * READ_CHUNK;
    cmh_status st = CMH_OK;
    unsigned char *buf = malloc(READ_CHUNK);
    uint32_t magic, bl, sl;
    cmh_sig_params(bytes, &magic, &bl, &sl);
    uint8_t *sums = malloc((READ_CHUNK / bl + 2) * (4 + (size_t)sl));
    cmh_sha256 *h = NULL;
    int fd = -1;
    if (!buf || !sums || cmh_sha256_new(&h) != CMH_OK) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write %s", path);
        goto out;
    }
    rng r;
    rng_seed(&r, 11);
    double store = 0;
    for (uint64_t left = bytes; left; left -= READ_CHUNK) {
        rng_fill(&r, buf, READ_CHUNK);
        double t = thread_cpu();
        int e = write_all_fd(fd, buf, READ_CHUNK);
        store += thread_cpu() - t;
        if (e) {
            st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot write %s", path);
            goto out;
        }
    }
    close(fd);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot read %s", path);
        goto out;
    }
    double rd = 0, sha = 0, sig = 0;
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read_retry(fd, buf, READ_CHUNK, &rd);
        if (n < 0) {
            st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot read %s",
                                 path);
            goto out;
        }
        if (n == 0)
            break;
        double t = thread_cpu();
        cmh_sha256_update(h, buf, (size_t)n);
        double t2 = thread_cpu();
        cmh__sigsum_blocks(buf, (size_t)n, bl, sl, sums);
        sha += t2 - t;
        sig += thread_cpu() - t2;
        total += (uint64_t)n;
    }
    uint8_t d[CMH_SHA256_LEN];
    cmh_sha256_final(h, d);
    double per = 1e9 / (double)(total ? total : 1);
    out->read = rd * per;
    out->sha256 = sha * per;
    out->sig = sig * per;
    out->store = store * per;
    out->bytes = total;
    out->sig_impl = cmh__sigsum_impl();
out:
    if (fd >= 0)
        close(fd);
    cmh_sha256_free(h);
    free(sums);
    free(buf);
    return st;
}

double cmh_bench_predict_single(const cmh_bench_stages *s, unsigned threads,
                                const char **bound)
{
    double seq = s->read + s->sha256;
    double all = (seq + s->sig + s->store) / (threads ? threads : 1);
    if (bound)
        *bound = seq >= all ? "reading thread (read + SHA-256)"
                            : "all cores";
    double t = seq >= all ? seq : all;
    return t > 0 ? 1e9 / t : 0;
}

static _Thread_local uint64_t evict_count;
static _Thread_local int evict_err;

static int evict_one(const char *p, const struct stat *sb, int type,
                     struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        evict_err = errno;
        return 0;
    }
    fdatasync(fd);
    cmh__os_advise_dontneed(fd);
    close(fd);
    evict_count++;
    return 0;
}

cmh_status cmh_bench_evict(cmh_ctx *ctx, const char *path, uint64_t *files)
{
    cmh__err_clear(ctx);
    evict_count = 0;
    evict_err = 0;
    if (nftw(path, evict_one, 64, FTW_PHYS) != 0)
        return cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot list %s",
                               path);
    if (files)
        *files = evict_count;
    if (evict_err)
        return cmh__fail_errno(ctx, CMH_E_IO, evict_err,
                               "cannot open a file under %s", path);
    return CMH_OK;
}
