/* One read pass per source file (see stream.h). */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"
#include "sigsum.h"

cmh_worker *cmh__worker_new(EVP_MD *md)
{
    cmh_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->type = md;
    w->md = EVP_MD_CTX_new();
    w->sigmd = EVP_MD_CTX_new();
    w->buf = malloc(CMH_READ_SIZE);
    if (!w->md || !w->sigmd || !w->buf ||
        !EVP_DigestInit_ex(w->md, md, NULL) ||
        !EVP_DigestInit_ex(w->sigmd, md, NULL)) {
        cmh__worker_free(w);
        return NULL;
    }
    return w;
}

void cmh__worker_free(cmh_worker *w)
{
    if (!w)
        return;
    EVP_MD_CTX_free(w->md);
    EVP_MD_CTX_free(w->sigmd);
    free(w->buf);
    cmh__buf_free(&w->scratch);
    cmh__buf_free(&w->copy);
    cmh__buf_free(&w->sigcopy);
    free(w);
}

static bool all_zero(const unsigned char *p, size_t n)
{
    return n > 0 && p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

typedef struct sig_sink_arg {
    cmh_worker *w;
    int fd;
    int err;
    cmh_sig_sink user;   /* cmh_stream_hooks.sig_sink, may be NULL */
    void *user_payload;
} sig_sink_arg;

static int sig_sink(const void *data, size_t len, void *payload)
{
    sig_sink_arg *a = payload;
    EVP_DigestUpdate(a->w->sigmd, data, len);
    if (a->fd >= 0) {
        a->err = cmh__write_all(a->fd, data, len);
        if (a->err)
            return 1;
    }
    if (a->user && a->user(data, len, a->user_payload))
        return 1; /* not a write error: a->err stays 0 */
    return 0;
}

static int par_sig_emit(const void *data, size_t len, void *payload)
{
    sig_sink_arg *a = payload;
    if (sig_sink(data, len, a))
        return a->err ? a->err : EIO;
    return 0;
}

/* The chunked path: a large file whose signature sigsum.c computes (or
 * that needs no signature but a copy), with no per-read data hook. */
static bool use_par(const cmh_worker *w, uint64_t size, bool want_sig,
                    int data_fd, const cmh_stream_hooks *hooks)
{
    if (size < (w->par_min ? w->par_min : CMH_PAR_MIN))
        return false;
    if (hooks && hooks->data_sink)
        return false;
    if (!want_sig)
        return data_fd >= 0;
    uint32_t magic, bl, sl;
    cmh_sig_params(&magic, &bl, &sl, size);
    return cmh__sigsum_supported(magic) && bl > 0 && sl <= 32;
}

static int64_t stat_mtime(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
}

int cmh__stream_file(cmh_worker *w, const char *path, const char *name,
                    uint64_t expect_size, int64_t expect_mtime_ns,
                    const cmh_stream_out *out, cmh_stream_res *res,
                    _Atomic uint_fast64_t *progress,
                    const _Atomic bool *cancel)
{
    return cmh__stream_fileat(w, AT_FDCWD, path, name, expect_size,
                             expect_mtime_ns, out, NULL, res, progress,
                             cancel);
}

/* The state of one cmh__stream_fileat call, shared by its steps. */
typedef struct stream_call {
    cmh_worker *w;
    const cmh_stream_hooks *hooks; /* may be NULL */
    cmh_stream_res *res;
    _Atomic uint_fast64_t *progress;
    const _Atomic bool *cancel;
    sig_sink_arg sa;
    cmh_sig *sig; /* serial path's signature job, or NULL */
    int fd, data_fd;
    bool want_sig, lib_file;
    uint64_t size, total;
    bool hole_pending; /* the copy ends in a hole: set its length */
} stream_call;

/* Open the source and check it is the regular file the walk saw (size
 * and mtime when given); fill the result's size, mtime and attributes. */
static int open_source(stream_call *c, int dirfd, const char *path,
                       const char *name, uint64_t expect_size,
                       int64_t expect_mtime_ns)
{
    int e = cmh__os_open_read(dirfd, path, &c->fd);
    if (e) {
        /* ELOOP: replaced by a symlink after the walk; ENXIO/EWOULDBLOCK:
         * became a FIFO or socket. Both mean the source changed. */
        if (e == ELOOP || e == ENXIO)
            c->res->changed = true;
        return e;
    }
    struct stat before;
    if (fstat(c->fd, &before) != 0)
        return errno;
    if (!S_ISREG(before.st_mode) ||
        (expect_size != UINT64_MAX &&
         (uint64_t)before.st_size != expect_size) ||
        (expect_mtime_ns != INT64_MIN &&
         stat_mtime(&before) != expect_mtime_ns)) {
        c->res->changed = true;
        return ESTALE;
    }
    c->size = (uint64_t)before.st_size;
    c->res->size = c->size;
    c->res->mtime_ns = stat_mtime(&before);
    if (!c->lib_file)
        c->res->attrs = cmh__os_dos_attributes(c->fd, name, &before);
    /* Readahead hint for big files only: for a tiny file it is one more
     * system call and the default readahead already covers it. */
    if (c->size >= (1u << 20))
        cmh__os_advise_sequential(c->fd);
    return 0;
}

/* The chunked path (stream_par.c) over the whole file. */
static int stream_chunked(stream_call *c)
{
    const cmh_stream_hooks *h = c->hooks;
    cmh_stream_par_io io = {
        .data_fd = c->data_fd,
        .sig_emit = c->want_sig ? par_sig_emit : NULL,
        .sig_payload = &c->sa,
        .library_file = c->lib_file,
        .cancel = c->cancel,
        .progress = c->progress,
        .on_read = h ? h->on_read : NULL,
        .read_payload = h ? h->read_payload : NULL};
    int e = cmh__stream_par(c->w, c->fd, c->size, &io, c->res, &c->total,
                            &c->hole_pending);
    if (e && c->sa.err)
        c->res->write_err = true;
    return e;
}

/* Write one piece read to the copy; a full piece of zeros becomes a hole
 * (disk images and sparse sources are stored without allocating their
 * empty blocks). */
static int copy_piece(stream_call *c, size_t n)
{
    /* Plain buffered writes. Measured and not kept (issue 4,
     * docs/BENCHMARKS.md): write-behind with sync_file_range +
     * POSIX_FADV_DONTNEED per 8 MiB cut system time 2.6 -> 0.6 s
     * per GiB in a first A/B, but in the 3-repetition alternated
     * run it was slower (baseline/this 0.86-0.90 median on
     * `large`); O_DIRECT copies stalled workers on the disk. */
    if (n == CMH_READ_SIZE && all_zero(c->w->buf, n)) {
        if (lseek(c->data_fd, (off_t)n, SEEK_CUR) < 0)
            return errno;
        c->hole_pending = true;
        return 0;
    }
    int e = cmh__write_all(c->data_fd, c->w->buf, n);
    if (!e)
        c->hole_pending = false;
    return e;
}

/* Feed one piece read to the digest, the signature, the data hook and
 * the copy; count it as progress. */
static int consume_piece(stream_call *c, size_t n)
{
    cmh_worker *w = c->w;
    const cmh_stream_hooks *h = c->hooks;
    int e;
    EVP_DigestUpdate(w->md, w->buf, n);
    if (c->sig && cmh_sig_update(c->sig, w->buf, n, sig_sink, &c->sa)) {
        c->res->write_err = c->sa.err != 0;
        return c->sa.err ? c->sa.err : EIO;
    }
    if (h && h->data_sink && (e = h->data_sink(w->buf, n, h->data_payload))) {
        c->res->write_err = true;
        return e;
    }
    if (c->data_fd >= 0 && (e = copy_piece(c, n))) {
        c->res->write_err = true;
        return e;
    }
    if (c->progress)
        atomic_fetch_add_explicit(c->progress, (uint_fast64_t)n,
                                  memory_order_relaxed);
    if (h && h->on_read)
        h->on_read(n, h->read_payload);
    if (c->data_fd >= 0)
        cmh__crash_point("read");
    return 0;
}

/* The serial path: read the file in CMH_READ_SIZE pieces to its end. */
static int stream_serial(stream_call *c)
{
    for (;;) {
        if (c->cancel &&
            atomic_load_explicit(c->cancel, memory_order_relaxed))
            return ECANCELED;
        if (c->lib_file && c->total == c->size)
            return 0;
        ssize_t n = read(c->fd, c->w->buf, CMH_READ_SIZE);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return 0;
        c->total += (uint64_t)n;
        if (c->total > c->size) {
            c->res->changed = true;
            return ESTALE;
        }
        int e = consume_piece(c, (size_t)n);
        if (e)
            return e;
    }
}

/* After the read: check the file did not change, end the signature, give
 * a copy that ends in a hole its length, and take the digests. */
static int finish_stream(stream_call *c)
{
    cmh_stream_res *res = c->res;
    struct stat after;
    if (fstat(c->fd, &after) != 0)
        return errno;
    if (c->total != c->size || (uint64_t)after.st_size != c->size ||
        stat_mtime(&after) != res->mtime_ns) {
        res->changed = true;
        return ESTALE;
    }
    if (c->sig && cmh_sig_final(c->sig, sig_sink, &c->sa)) {
        res->write_err = c->sa.err != 0;
        return c->sa.err ? c->sa.err : EIO;
    }
    if (c->data_fd >= 0 && c->hole_pending &&
        ftruncate(c->data_fd, (off_t)c->size)) {
        res->write_err = true;
        return errno;
    }
    unsigned int dl;
    if (!EVP_DigestFinal_ex(c->w->md, res->sha, &dl) ||
        (c->want_sig && !EVP_DigestFinal_ex(c->w->sigmd, res->sig_sha, &dl)))
        return ENOMEM;
    return 0;
}

/* Open, check, read (chunked or serial), check again, finish. */
static int stream_run(stream_call *c, int dirfd, const char *path,
                      const char *name, uint64_t expect_size,
                      int64_t expect_mtime_ns)
{
    int e = open_source(c, dirfd, path, name, expect_size, expect_mtime_ns);
    if (e)
        return e;
    /* (Re)start both digests here and check it: an init that failed (out
     * of memory) leaves a context that crashes on update. */
    cmh_worker *w = c->w;
    if (!EVP_DigestInit_ex(w->md, w->type, NULL) ||
        !EVP_DigestInit_ex(w->sigmd, w->type, NULL))
        return ENOMEM;
    bool par = use_par(w, c->size, c->want_sig, c->data_fd, c->hooks);
    if (c->want_sig && !par && cmh_sig_new(&c->sig, c->size) != CMH_OK)
        return ENOMEM;
    e = par ? stream_chunked(c) : stream_serial(c);
    if (e)
        return e;
    return finish_stream(c);
}

int cmh__stream_fileat(cmh_worker *w, int dirfd, const char *path,
                      const char *name, uint64_t expect_size,
                      int64_t expect_mtime_ns, const cmh_stream_out *out,
                      const cmh_stream_hooks *hooks, cmh_stream_res *res,
                      _Atomic uint_fast64_t *progress,
                      const _Atomic bool *cancel)
{
    memset(res, 0, sizeof *res);
    stream_call c = {
        .w = w,
        .hooks = hooks,
        .res = res,
        .progress = progress,
        .cancel = cancel,
        .sa = {w, out ? out->sig_fd : -1, 0, hooks ? hooks->sig_sink : NULL,
               hooks ? hooks->sig_payload : NULL},
        .fd = -1,
        .data_fd = out ? out->data_fd : -1,
        .want_sig = (out && out->sig_fd >= 0) || (hooks && hooks->sig_sink),
        .lib_file = hooks && hooks->library_file};
    int e = stream_run(&c, dirfd, path, name, expect_size, expect_mtime_ns);
    cmh_sig_free(c.sig);
    if (c.fd >= 0)
        close(c.fd);
    res->err = e;
    return e;
}
