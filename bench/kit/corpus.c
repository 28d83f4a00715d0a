/* The benchmark corpus (benchkit.h): a deterministic tree of
 * incompressible files of a named shape, planned first, then written. */
#include "internal.h"

#include "benchkit.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"
#include "os/os.h"

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
        e = cmh__write_all(fd, buf, n);
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

/* The plan of @p o's shape; CMH_OK, CMH_E_INVALID or CMH_E_NOMEM. */
static cmh_status corpus_plan(cmh_ctx *ctx, const cmh_bench_corpus_opts *o,
                              plan *p)
{
    rng r;
    rng_seed(&r, o->seed ^ 0xC3A5C85C97CB3127ULL);
    bool okp;
    if (!strcmp(o->shape, "large"))
        okp = plan_large(p, o->scale, 4);
    else if (!strcmp(o->shape, "single"))
        okp = plan_large(p, o->scale, 1);
    else if (!strcmp(o->shape, "mixed"))
        okp = plan_mixed(p, &r, o->scale);
    else if (!strcmp(o->shape, "tiny"))
        okp = plan_tiny(p, &r, o->scale);
    else
        return cmh__fail(ctx, CMH_E_INVALID,
                         "unknown corpus shape '%s': use large, single, "
                         "mixed or tiny", o->shape);
    return okp ? CMH_OK : cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
}

/* Create @p dir (mkdir -p) and open it in *root; it must be empty. */
static cmh_status corpus_root(cmh_ctx *ctx, const char *dir, int *root)
{
    int e = make_dirs(dir);
    if (e || (e = cmh__os_open_dir(AT_FDCWD, dir, root)) != 0)
        return cmh__fail_errno(ctx, CMH_E_IO, e, "cannot create %s", dir);
    if (!kit_os_dir_is_empty(*root))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "%s is not empty; give a new or empty folder (the "
                         "generator never overwrites)", dir);
    return CMH_OK;
}

/* Write the planned folders and files under @p root; counts into @p s,
 * has_files[d] for each folder d that got a file. */
static cmh_status corpus_write(cmh_ctx *ctx, const char *dir, int root,
                               const cmh_bench_corpus_opts *o, const plan *p,
                               cmh_bench_corpus_stats *s, bool *has_files)
{
    for (size_t i = 1; i < p->ndirs; i++)
        if (mkdirat(root, p->dirs[i].path, 0755) != 0)
            return cmh__fail_errno(ctx, CMH_E_IO, errno,
                                   "cannot create %s/%s", dir,
                                   p->dirs[i].path);
    unsigned char *buf = malloc(GEN_BUF);
    if (!buf)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    static const char *const ext[] = {"cab", "dll", "inf", "sys", "msi",
                                      "exe", "txt", "xml"};
    bool large = !strcmp(o->shape, "large") || !strcmp(o->shape, "single");
    cmh_status st = CMH_OK;
    for (size_t i = 0; i < p->nfiles && st == CMH_OK; i++) {
        const plan_file *f = &p->files[i];
        char leaf[40];
        if (large)
            snprintf(leaf, sizeof leaf, "image%zu.wim", i + 1);
        else
            snprintf(leaf, sizeof leaf, "file%06zu.%s", i,
                     ext[f->content % 8]);
        const char *dp = p->dirs[f->dir].path;
        char *rel = dp[0] ? cmh__path_join(dp, leaf) : cmh__strdup(leaf);
        if (!rel) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        uint64_t seed = o->seed * 0x100000001B3ULL + f->content + 1;
        int e = write_file(root, rel, f->size, seed, buf,
                           1577836800 + (int64_t)(f->content % 86400));
        if (e)
            st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot write %s/%s",
                                 dir, rel);
        free(rel);
        has_files[f->dir] = true;
        s->files++;
        s->bytes += f->size;
        s->empty_files += f->size == 0;
        s->duplicates += f->dup;
        if (f->size > s->largest)
            s->largest = f->size;
    }
    free(buf);
    return st;
}

/* A folder is empty when it has neither files nor sub-folders. */
static uint64_t corpus_empty_folders(const plan *p, const bool *has_files)
{
    uint64_t n = 0;
    bool *has_kids = calloc(p->ndirs, sizeof *has_kids);
    if (!has_kids)
        return 0;
    for (size_t i = 1; i < p->ndirs; i++) {
        const char *sl = strrchr(p->dirs[i].path, '/');
        size_t plen = sl ? (size_t)(sl - p->dirs[i].path) : 0;
        for (size_t j = 0; j < i; j++)
            if (strlen(p->dirs[j].path) == plen &&
                !strncmp(p->dirs[j].path, p->dirs[i].path, plen)) {
                has_kids[j] = true;
                break;
            }
    }
    for (size_t i = 1; i < p->ndirs; i++)
        n += !has_files[i] && !has_kids[i];
    free(has_kids);
    return n;
}

cmh_status cmh_bench_corpus(cmh_ctx *ctx, const char *dir,
                            const cmh_bench_corpus_opts *o,
                            cmh_bench_corpus_stats *out)
{
    double t0 = cmh__now();
    if (!o || o->version != CMH_BENCH_CORPUS_OPTS_VERSION || !o->shape ||
        !(o->scale > 0 && o->scale <= 16) || !dir || !*dir)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "bad corpus options: shape large, single, mixed or "
                         "tiny, "
                         "scale above 0 and at most 16");
    plan p;
    memset(&p, 0, sizeof p);
    int root = -1;
    bool *has_files = NULL;
    cmh_bench_corpus_stats s;
    memset(&s, 0, sizeof s);
    cmh_status st = corpus_plan(ctx, o, &p);
    if (st == CMH_OK)
        st = corpus_root(ctx, dir, &root);
    if (st == CMH_OK && !(has_files = calloc(p.ndirs, sizeof *has_files)))
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    if (st == CMH_OK)
        st = corpus_write(ctx, dir, root, o, &p, &s, has_files);
    if (st == CMH_OK) {
        s.empty_folders = corpus_empty_folders(&p, has_files);
        s.folders = p.ndirs - 1;
        s.seconds = cmh__now() - t0;
        if (out)
            *out = s;
    }
    free(has_files);
    if (root >= 0)
        close(root);
    plan_free(&p);
    return st;
}
