/* CPU rates of the hashing core, the cold read rate of storage, the
 * stage costs of one large file, eviction and cleanup (benchkit.h). */
#include "internal.h"

#include "benchkit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"
#include "sigsum.h"

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
        cmh_sig_params(&magic, &bl, &sl, c->bytes);
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
        if (cmh_sha256_final(d, h) != CMH_OK && c->st == CMH_OK)
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

/* read(2), again after EINTR; adds the thread's CPU time of the reads to
 * *cpu when not NULL. */
static ssize_t read_retry(int fd, void *buf, size_t n, double *cpu)
{
    for (;;) {
        double t = cpu ? kit_os_thread_cpu() : 0;
        ssize_t r = read(fd, buf, n);
        if (cpu)
            *cpu += kit_os_thread_cpu() - t;
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

/* Read @p fd to its end in READ_CHUNKs of @p buf (the thread's CPU time
 * of the reads added to *cpu when not NULL), handing each chunk to
 * @p each when not NULL. *total gets the bytes read. 0 or an errno. */
static int read_to_end(int fd, unsigned char *buf, double *cpu,
                       void (*each)(const unsigned char *, size_t, void *),
                       void *arg, uint64_t *total)
{
    *total = 0;
    for (;;) {
        ssize_t n = read_retry(fd, buf, READ_CHUNK, cpu);
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;
        if (each)
            each(buf, (size_t)n, arg);
        *total += (uint64_t)n;
    }
}

/* The read test's file: @p bytes random bytes written and fsync'd (the
 * write rate), in whole READ_CHUNKs of @p buf. */
static cmh_status read_test_write(cmh_ctx *ctx, const char *dir,
                                  const char *path, uint64_t bytes,
                                  unsigned char *buf,
                                  cmh_bench_read_result *out)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write in %s",
                               dir);
    cmh_status st = CMH_OK;
    rng r;
    rng_seed(&r, 7);
    double t0 = cmh__now();
    for (uint64_t left = bytes; left && st == CMH_OK; left -= READ_CHUNK) {
        rng_fill(&r, buf, READ_CHUNK);
        int e = cmh__write_all(fd, buf, READ_CHUNK);
        if (e)
            st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot write %s", path);
    }
    if (st == CMH_OK && fsync(fd) != 0)
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot flush %s", path);
    if (st == CMH_OK)
        out->write_bytes_per_s = (double)bytes / (cmh__now() - t0);
    close(fd);
    return st;
}

cmh_status cmh_bench_read(cmh_ctx *ctx, const char *dir, uint64_t bytes,
                          cmh_bench_read_result *out)
{
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
    if (!path || !(buf = kit_os_aligned_alloc(4096, READ_CHUNK))) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    st = read_test_write(ctx, dir, path, bytes, buf, out);
    if (st != CMH_OK)
        goto out;
    /* Clean pages of a synced file can be dropped: DONTNEED first in both
     * modes, so O_DIRECT does not find them cached either. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot read %s", path);
        goto out;
    }
    kit_os_advise_dontneed(fd);
    out->resident_fraction = kit_os_resident_fraction(fd, bytes);
    close(fd);
    int ue = kit_os_open_unbuffered(path, &fd, &out->method);
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
    double t0 = cmh__now();
    uint64_t total = 0;
    int e = read_to_end(fd, buf, NULL, NULL, NULL, &total);
    if (e) {
        st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot read %s", path);
        goto out;
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
    kit_os_aligned_free(buf);
    return st;
}

cmh_status cmh_bench_remove(cmh_ctx *ctx, const char *path)
{
    int e = kit_os_remove_tree(AT_FDCWD, path);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_IO, e, "cannot remove %s", path);
    return CMH_OK;
}

/* ---- stage costs of one large file ---- */

/* The stage test's hashing of each chunk read, timed per stage. */
typedef struct stage_hash {
    cmh_sha256 *h;
    uint32_t bl, sl;
    uint8_t *sums;
    double sha, sig; /* thread CPU seconds */
} stage_hash;

static void stage_chunk(const unsigned char *p, size_t n, void *arg)
{
    stage_hash *sh = arg;
    double t = kit_os_thread_cpu();
    cmh_sha256_update(sh->h, p, n);
    double t2 = kit_os_thread_cpu();
    cmh__sigsum_blocks(p, n, sh->bl, sh->sl, sh->sums);
    sh->sha += t2 - t;
    sh->sig += kit_os_thread_cpu() - t2;
}

cmh_status cmh_bench_stage_costs(cmh_ctx *ctx, const char *path,
                                 uint64_t bytes, cmh_bench_stages *out)
{
    memset(out, 0, sizeof *out);
    if (bytes < READ_CHUNK)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "the stage test needs at least 1 MiB");
    bytes = (bytes + READ_CHUNK - 1) / READ_CHUNK * READ_CHUNK;
    cmh_status st = CMH_OK;
    unsigned char *buf = malloc(READ_CHUNK);
    uint32_t magic, bl, sl;
    cmh_sig_params(&magic, &bl, &sl, bytes);
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
        double t = kit_os_thread_cpu();
        int e = cmh__write_all(fd, buf, READ_CHUNK);
        store += kit_os_thread_cpu() - t;
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
    double rd = 0;
    uint64_t total = 0;
    stage_hash sh = {h, bl, sl, sums, 0, 0};
    int e = read_to_end(fd, buf, &rd, stage_chunk, &sh, &total);
    if (e) {
        st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot read %s", path);
        goto out;
    }
    uint8_t d[CMH_SHA256_LEN];
    cmh_sha256_final(d, h);
    double per = 1e9 / (double)(total ? total : 1);
    out->read = rd * per;
    out->sha256 = sh.sha * per;
    out->sig = sh.sig * per;
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

cmh_status cmh_bench_evict(cmh_ctx *ctx, const char *path, uint64_t *files)
{
    uint64_t n = 0;
    int open_err = 0;
    int e = kit_os_evict_tree(path, &n, &open_err);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_IO, e, "cannot list %s", path);
    if (files)
        *files = n;
    if (open_err)
        return cmh__fail_errno(ctx, CMH_E_IO, open_err,
                               "cannot open a file under %s", path);
    return CMH_OK;
}
