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

int cmh__stream_fileat(cmh_worker *w, int dirfd, const char *path,
                      const char *name, uint64_t expect_size,
                      int64_t expect_mtime_ns, const cmh_stream_out *out,
                      const cmh_stream_hooks *hooks, cmh_stream_res *res,
                      _Atomic uint_fast64_t *progress,
                      const _Atomic bool *cancel)
{
    memset(res, 0, sizeof *res);
    cmh_sig *sig = NULL;
    int fd = -1, e;
    sig_sink_arg sa = {w, out ? out->sig_fd : -1, 0,
                       hooks ? hooks->sig_sink : NULL,
                       hooks ? hooks->sig_payload : NULL};
    bool want_sig = (out && out->sig_fd >= 0) || (hooks && hooks->sig_sink);
    int data_fd = out ? out->data_fd : -1;

    e = cmh__os_open_read(dirfd, path, &fd);
    if (e) {
        /* ELOOP: replaced by a symlink after the walk; ENXIO/EWOULDBLOCK:
         * became a FIFO or socket. Both mean the source changed. */
        if (e == ELOOP || e == ENXIO)
            res->changed = true;
        goto out;
    }
    struct stat before;
    if (fstat(fd, &before) != 0) {
        e = errno;
        goto out;
    }
    if (!S_ISREG(before.st_mode) ||
        (expect_size != UINT64_MAX &&
         (uint64_t)before.st_size != expect_size) ||
        (expect_mtime_ns != INT64_MIN &&
         stat_mtime(&before) != expect_mtime_ns)) {
        res->changed = true;
        e = ESTALE;
        goto out;
    }
    uint64_t size = (uint64_t)before.st_size;
    res->size = size;
    res->mtime_ns = stat_mtime(&before);
    bool lib_file = hooks && hooks->library_file;
    if (!lib_file)
        res->attrs = cmh__os_dos_attributes(fd, name, &before);
    /* Readahead hint for big files only: for a tiny file it is one more
     * system call and the default readahead already covers it. */
    if (size >= (1u << 20))
        cmh__os_advise_sequential(fd);
    /* (Re)start both digests here and check it: an init that failed (out
     * of memory) leaves a context that crashes on update. */
    if (!EVP_DigestInit_ex(w->md, w->type, NULL) ||
        !EVP_DigestInit_ex(w->sigmd, w->type, NULL)) {
        e = ENOMEM;
        goto out;
    }
    bool par = use_par(w, size, want_sig, data_fd, hooks);
    if (want_sig && !par) {
        cmh_status st = cmh_sig_new(&sig, size);
        if (st != CMH_OK) {
            e = ENOMEM;
            goto out;
        }
    }
    uint64_t total = 0;
    bool hole_pending = false;
    if (par) {
        cmh_stream_par_io io = {
            .data_fd = data_fd,
            .sig_emit = want_sig ? par_sig_emit : NULL,
            .sig_payload = &sa,
            .library_file = lib_file,
            .cancel = cancel,
            .progress = progress,
            .on_read = hooks ? hooks->on_read : NULL,
            .read_payload = hooks ? hooks->read_payload : NULL};
        e = cmh__stream_par(w, fd, size, &io, res, &total, &hole_pending);
        if (e) {
            if (sa.err)
                res->write_err = true;
            goto out;
        }
    }
    while (!par) { /* today's path: ends at a break */
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
            e = ECANCELED;
            goto out;
        }
        if (lib_file && total == size)
            break;
        ssize_t n = read(fd, w->buf, CMH_READ_SIZE);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            goto out;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > size) {
            res->changed = true;
            e = ESTALE;
            goto out;
        }
        EVP_DigestUpdate(w->md, w->buf, (size_t)n);
        if (sig && cmh_sig_update(sig, w->buf, (size_t)n, sig_sink, &sa)) {
            e = sa.err ? sa.err : EIO;
            res->write_err = sa.err != 0;
            goto out;
        }
        if (hooks && hooks->data_sink &&
            (e = hooks->data_sink(w->buf, (size_t)n, hooks->data_payload))) {
            res->write_err = true;
            goto out;
        }
        if (data_fd >= 0) {
            /* Plain buffered writes. Measured and not kept (issue 4,
             * docs/BENCHMARKS.md): write-behind with sync_file_range +
             * POSIX_FADV_DONTNEED per 8 MiB cut system time 2.6 -> 0.6 s
             * per GiB in a first A/B, but in the 3-repetition alternated
             * run it was slower (baseline/this 0.86-0.90 median on
             * `large`); O_DIRECT copies stalled workers on the disk. */
            /* Zero runs become holes: disk images and sparse sources are
             * stored without allocating their empty blocks. */
            if ((size_t)n == CMH_READ_SIZE && all_zero(w->buf, (size_t)n)) {
                if (lseek(data_fd, n, SEEK_CUR) < 0) {
                    e = errno;
                    res->write_err = true;
                    goto out;
                }
                hole_pending = true;
            } else {
                e = cmh__write_all(data_fd, w->buf, (size_t)n);
                if (e) {
                    res->write_err = true;
                    goto out;
                }
                hole_pending = false;
            }
        }
        if (progress)
            atomic_fetch_add_explicit(progress, (uint_fast64_t)n,
                                      memory_order_relaxed);
        if (hooks && hooks->on_read)
            hooks->on_read((size_t)n, hooks->read_payload);
        if (data_fd >= 0)
            cmh__crash_point("read");
    }
    struct stat after;
    if (fstat(fd, &after) != 0) {
        e = errno;
        goto out;
    }
    if (total != size || (uint64_t)after.st_size != size ||
        stat_mtime(&after) != res->mtime_ns) {
        res->changed = true;
        e = ESTALE;
        goto out;
    }
    if (sig) {
        if (cmh_sig_final(sig, sig_sink, &sa)) {
            e = sa.err ? sa.err : EIO;
            res->write_err = sa.err != 0;
            goto out;
        }
    }
    if (data_fd >= 0 && hole_pending && ftruncate(data_fd, (off_t)size)) {
        e = errno;
        res->write_err = true;
        goto out;
    }
    unsigned int dl;
    if (!EVP_DigestFinal_ex(w->md, res->sha, &dl) ||
        (want_sig && !EVP_DigestFinal_ex(w->sigmd, res->sig_sha, &dl))) {
        e = ENOMEM;
        goto out;
    }
    e = 0;
out:
    cmh_sig_free(sig);
    if (fd >= 0)
        close(fd);
    res->err = e;
    return e;
}
