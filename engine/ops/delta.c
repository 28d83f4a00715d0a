/* cmh_delta / cmh_patch: binary delta replication (delta.h), over the
 * librsync job API: rs_loadsig_begin + rs_build_hash_table read a stored
 * .SIG, rs_delta_begin encodes the new bytes against it, rs_patch_begin
 * rebuilds them from the base file. The streaming jobs are driven here
 * with fixed buffers; no stdio. */
#include "tree_io.h"

#include <errno.h>
#include <fcntl.h>
#include <librsync.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"
#include <cmhash/delta.h>

/* 256 KiB, the snapshot's read size (stream.h). */
#define DELTA_BUF_SIZE (256 * 1024)
/* A manifest is one line per file and folder; 256 MiB is millions of
 * entries, far beyond any package, and bounds a crafted one. */
#define MANIFEST_MAX (256u << 20)
#define MANIFEST_MAGIC "cmhash-delta 1"

/* ---- job driver ---- */

typedef struct job_io {
    int in_fd;          /* job input */
    int out_fd;         /* job output, -1 = none */
    EVP_MD_CTX *md;     /* hashes the output when not NULL */
    unsigned char *inbuf, *outbuf;
    uint64_t out_bytes;
    int err;            /* errno of a read/write failure */
    bool write_err;
    /* Most output bytes allowed, 0 = no bound: a patch stops as soon as
     * it would write more than the manifest declares (a few bytes of
     * COPY commands could otherwise write gigabytes first; 11.8). */
    uint64_t limit;
    bool over;          /* stopped at limit */
} job_io;

/* Run @p job to completion. Returns the librsync result (RS_DONE on
 * success); io->err is set for I/O failures. */
static rs_result drive(rs_job_t *job, job_io *io)
{
    rs_buffers_t b;
    memset(&b, 0, sizeof b);
    b.next_in = (char *)io->inbuf;
    for (;;) {
        if (!b.eof_in && b.avail_in < DELTA_BUF_SIZE) {
            if (b.avail_in && b.next_in != (char *)io->inbuf)
                memmove(io->inbuf, b.next_in, b.avail_in);
            b.next_in = (char *)io->inbuf;
            ssize_t r;
            do
                r = read(io->in_fd, io->inbuf + b.avail_in,
                         DELTA_BUF_SIZE - b.avail_in);
            while (r < 0 && errno == EINTR);
            if (r < 0) {
                io->err = errno;
                return RS_IO_ERROR;
            }
            if (r == 0)
                b.eof_in = 1;
            b.avail_in += (size_t)r;
        }
        b.next_out = (char *)io->outbuf;
        b.avail_out = DELTA_BUF_SIZE;
        rs_result res = rs_job_iter(job, &b);
        size_t n = DELTA_BUF_SIZE - b.avail_out;
        if (n && io->limit && io->out_bytes + n > io->limit) {
            io->over = true;
            return RS_IO_ERROR;
        }
        if (n) {
            if (io->md)
                EVP_DigestUpdate(io->md, io->outbuf, n);
            if (io->out_fd >= 0 &&
                (io->err = cmh__write_all(io->out_fd, io->outbuf, n)) != 0) {
                io->write_err = true;
                return RS_IO_ERROR;
            }
            io->out_bytes += n;
        }
        if (res == RS_DONE)
            return RS_DONE;
        if (res != RS_BLOCKED)
            return res;
    }
}

/* rs_copy_cb over a base file descriptor */
static rs_result base_copy(void *arg, rs_long_t pos, size_t *len, void **buf)
{
    int fd = *(int *)arg;
    ssize_t r;
    do
        r = pread(fd, *buf, *len, (off_t)pos);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return RS_IO_ERROR;
    if (r == 0)
        return RS_INPUT_ENDED;
    *len = (size_t)r;
    return RS_DONE;
}

/* ---- manifest text ---- */

/* Bytes <= 0x20, 0x7F and '%' become %XX so fields split on spaces. */
static void put_field(cmh_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p == 0x7F || *p == '%')
            cmh__buf_addf(b, "%%%02X", *p);
        else
            cmh__buf_add(b, p, 1);
    }
}

/* Decode in place; false on a bad escape or an embedded NUL. */
static bool decode_field(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int h = cmh__hex_nibble(p[1]);
        int l = h < 0 ? -1 : cmh__hex_nibble(p[2]);
        if (h < 0 || l < 0 || (h == 0 && l == 0))
            return false;
        *o++ = (char)(h << 4 | l);
        p += 2;
    }
    *o = 0;
    return true;
}

/* A relative '/'-separated path of safe components (no "", ".", "..",
 * backslashes, absolute paths). */
static bool safe_path(const char *p)
{
    if (!*p || *p == '/')
        return false;
    char part[1024];
    while (*p) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (!len || len >= sizeof part)
            return false;
        memcpy(part, p, len);
        part[len] = 0;
        if (!cmh__safe_component(part))
            return false;
        if (!q)
            break;
        p = q + 1;
        if (!*p)
            return false;
    }
    return true;
}

/* ---- delta ---- */

typedef struct old_ref {
    const uint8_t *sha;
    const cmh_node *node;
} old_ref;

typedef struct dl {
    cmh_ctx *ctx;
    const cmh_delta_opts *o;
    cmh_library lib;
    cmh_delta_result *r;
    int out_fd, delta_fd, file_fd; /* OUTDIR, OUTDIR/delta, OUTDIR/file */
    old_ref *refs;
    size_t nrefs;
    cmh_buf man;
    EVP_MD_CTX *md;
    unsigned char *inbuf, *outbuf;
    uint64_t done;
    bool rdc_lib; /* the library's .SIG files are MS-RDC (up-front look) */
} dl;

static int ref_cmp(const void *a, const void *b)
{
    return memcmp(((const old_ref *)a)->sha, ((const old_ref *)b)->sha,
                  CMH_SHA256_LEN);
}

static bool collect_refs(dl *d, const cmh_node *n, size_t *cap)
{
    for (size_t i = 0; i < n->nfiles; i++) {
        if (d->nrefs == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            old_ref *v = realloc(d->refs, nc * sizeof *v);
            if (!v)
                return false;
            d->refs = v;
            *cap = nc;
        }
        d->refs[d->nrefs].sha = n->files[i]->sha;
        d->refs[d->nrefs++].node = n->files[i];
    }
    for (size_t i = 0; i < n->ndirs; i++)
        if (!collect_refs(d, n->dirs[i], cap))
            return false;
    return true;
}

static const cmh_node *find_bytes(dl *d, const uint8_t sha[CMH_SHA256_LEN])
{
    old_ref key = {sha, NULL};
    old_ref *f = bsearch(&key, d->refs, d->nrefs, sizeof *d->refs, ref_cmp);
    return f ? f->node : NULL;
}

static int key_cmp(const void *a, const void *b)
{
    const cmh_node *x = *(cmh_node *const *)a, *y = *(cmh_node *const *)b;
    return cmh__utf16_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* The child of old folder @p od matching @p n's name the NTFS way. */
static const cmh_node *find_child(const cmh_node *od, const cmh_node *n)
{
    if (!od)
        return NULL;
    cmh_node *const *v = n->is_dir ? od->dirs : od->files;
    size_t cnt = n->is_dir ? od->ndirs : od->nfiles;
    cmh_node *const *f = bsearch(&n, v, cnt, sizeof *v, key_cmp);
    return f ? *f : NULL;
}

/* Copy FileLib/<hash> to OUTDIR/file/<hash> (once). */
static cmh_status send_full(dl *d, const cmh_node *n, const char *hex)
{
    struct stat sb;
    if (fstatat(d->file_fd, hex, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return CMH_OK; /* same bytes at another path */
    char rel[CMH_FILELIB_REL_SIZE], tmp[64];
    cmh__filelib_rel_hex(rel, hex, "");
    int root = cmh__filelib_find(&d->lib, rel, NULL, NULL);
    int in, e = root < 0 ? ENOENT : cmh__os_open_read(root, rel, &in);
    if (e)
        return cmh__fail_errno(d->ctx, CMH_E_LIBRARY, e,
                               "cannot read %s/FileLib/%s; run cmhash "
                               "verify", d->lib.path, rel);
    cmh__tmp_name(tmp, sizeof tmp, NULL);
    int out = openat(d->file_fd, tmp,
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0644);
    cmh_status st = CMH_OK;
    if (out < 0) {
        e = errno;
        close(in);
        return cmh__fail(d->ctx, CMH_E_IO, "cannot write %s/file: %s; %s",
                         d->o->outdir, strerror(e), cmh__dest_hint(e));
    }
    uint64_t nb;
    uint8_t sha[CMH_SHA256_LEN];
    bool werr;
    e = cmh__copy_hash(in, out, d->md, d->ctx->sha256, d->inbuf,
                       DELTA_BUF_SIZE, &nb, sha, &werr);
    if (close(out) != 0 && !e) {
        e = errno;
        werr = true;
    }
    close(in);
    if (e)
        st = werr ? cmh__fail(d->ctx, CMH_E_IO, "cannot write %s/file: %s",
                              d->o->outdir, strerror(e))
                  : cmh__fail_errno(d->ctx, CMH_E_IO, e, "cannot read "
                                    "%s/FileLib/%s", d->lib.path, rel);
    else if (nb != n->size || memcmp(sha, n->sha, CMH_SHA256_LEN))
        st = cmh__fail(d->ctx, CMH_E_LIBRARY,
                       "%s/FileLib/%s is corrupt (hash mismatch); run "
                       "cmhash verify", d->lib.path, rel);
    else if (renameat(d->file_fd, tmp, d->file_fd, hex) != 0)
        st = cmh__fail_errno(d->ctx, CMH_E_IO, errno, "cannot write %s/file",
                             d->o->outdir);
    if (st)
        unlinkat(d->file_fd, tmp, 0);
    d->r->send_bytes += st ? 0 : nb;
    return st;
}

/* Delta of new bytes @p n against old @p o's stored .SIG into
 * OUTDIR/delta/<OLD>-<NEW>. *used = false when no .SIG is usable or the
 * delta is not smaller than the file (the caller sends it whole). */
static cmh_status send_delta(dl *d, const cmh_node *o, const cmh_node *n,
                             const char *name, bool *used)
{
    *used = false;
    char ohex[CMH_HEX_SIZE], nhex[CMH_HEX_SIZE];
    char sigrel[CMH_FILELIB_REL_SIZE], rel[CMH_FILELIB_REL_SIZE], tmp[64];
    cmh_hex_upper(o->sha, CMH_SHA256_LEN, ohex);
    cmh_hex_upper(n->sha, CMH_SHA256_LEN, nhex);
    cmh__filelib_rel_hex(sigrel, ohex, ".SIG");
    cmh__filelib_rel_hex(rel, nhex, "");
    int sig_fd = -1, in = -1, out = -1;
    rs_signature_t *sig = NULL;
    rs_job_t *job = NULL;
    cmh_status st = CMH_OK;
    tmp[0] = 0;
    int sroot = cmh__filelib_find(&d->lib, sigrel, NULL, NULL);
    if (sroot < 0 || cmh__os_open_read(sroot, sigrel, &sig_fd) != 0)
        goto out; /* no signature (verify: SIG_MISSING): send whole */
    if (d->rdc_lib) {
        /* ConfigMgr's library: an MS-RDC .SIG is not handed to librsync
         * (a library may mix them with cmhash's own after --allow-foreign:
         * each header is looked at) */
        unsigned char hdr[CMH_RDC_SIG_HEADER_LEN];
        ssize_t got = pread(sig_fd, hdr, sizeof hdr, 0);
        if (got > 0 && cmh__sig_is_rdc(hdr, (size_t)got)) {
            d->r->foreign_sigs++;
            goto out;
        }
    }
    job = rs_loadsig_begin(&sig);
    job_io io = {sig_fd, -1, NULL, d->inbuf, d->outbuf, 0, 0, false, 0,
                 false};
    rs_result rr = job ? drive(job, &io) : RS_MEM_ERROR;
    if (job)
        rs_job_free(job);
    job = NULL;
    /* foreign (MS-RDC) or damaged signature: send whole (docs/FORMAT.md).
     * librsync may leave no sumset, or a half-loaded one. */
    if (rr != RS_DONE || !sig || rs_build_hash_table(sig) != RS_DONE)
        goto out;
    int droot = cmh__filelib_find(&d->lib, rel, NULL, NULL);
    int e = droot < 0 ? ENOENT : cmh__os_open_read(droot, rel, &in);
    if (e) {
        st = cmh__fail_errno(d->ctx, CMH_E_LIBRARY, e,
                             "cannot read %s/FileLib/%s; run cmhash verify",
                             d->lib.path, rel);
        goto out;
    }
    cmh__tmp_name(tmp, sizeof tmp, NULL);
    out = openat(d->delta_fd, tmp,
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
        e = errno;
        tmp[0] = 0;
        st = cmh__fail(d->ctx, CMH_E_IO, "cannot write %s/delta: %s; %s",
                       d->o->outdir, strerror(e), cmh__dest_hint(e));
        goto out;
    }
    job = rs_delta_begin(sig);
    job_io dio = {in, out, NULL, d->inbuf, d->outbuf, 0, 0, false, 0, false};
    rr = job ? drive(job, &dio) : RS_MEM_ERROR;
    if (rr != RS_DONE) {
        st = dio.write_err
                 ? cmh__fail(d->ctx, CMH_E_IO, "cannot write %s/delta: %s",
                             d->o->outdir, strerror(dio.err))
                 : cmh__fail(d->ctx, CMH_E_LIBRARY,
                             "cannot compute the delta of %s/FileLib/%s: "
                             "%s", d->lib.path, rel, rs_strerror(rr));
        goto out;
    }
    if (close(out) != 0) {
        out = -1;
        st = cmh__fail_errno(d->ctx, CMH_E_IO, errno, "cannot write %s/delta",
                             d->o->outdir);
        goto out;
    }
    out = -1;
    if (dio.out_bytes >= n->size)
        goto out; /* whole file is cheaper */
    if (renameat(d->delta_fd, tmp, d->delta_fd, name) != 0) {
        st = cmh__fail_errno(d->ctx, CMH_E_IO, errno, "cannot write %s/delta",
                             d->o->outdir);
        goto out;
    }
    tmp[0] = 0;
    *used = true;
    d->r->delta_bytes += dio.out_bytes;
    d->r->send_bytes += dio.out_bytes;
out:
    if (out >= 0)
        close(out);
    if (tmp[0])
        unlinkat(d->delta_fd, tmp, 0);
    if (in >= 0)
        close(in);
    if (sig_fd >= 0)
        close(sig_fd);
    if (job) /* rs_job_free(NULL) crashes (11.7) */
        rs_job_free(job);
    if (sig)
        rs_free_sumset(sig);
    return st;
}

static void man_file(dl *d, const char *kind, const cmh_node *n,
                     const char *oldhex, const char *src, const char *path)
{
    char hex[CMH_HEX_SIZE];
    cmh_hex_upper(n->sha, CMH_SHA256_LEN, hex);
    cmh__buf_addf(&d->man, "file %s %s %llu %lld %08X %s ", kind, hex,
                 (unsigned long long)n->size,
                 (long long)cmh__filetime_from_ns(n->mtime_ns), n->attrs,
                 oldhex);
    put_field(&d->man, src);
    cmh__buf_adds(&d->man, " ");
    put_field(&d->man, path);
    cmh__buf_adds(&d->man, "\n");
}

static bool tick(dl *d)
{
    if (!d->o->progress)
        return false;
    cmh_progress p = {"delta", ++d->done, 0, 0, 0, 0};
    return d->o->progress(&p, d->o->payload) != 0;
}

static cmh_status delta_dir(dl *d, const cmh_node *nd, const cmh_node *od,
                            const char *rel)
{
    cmh_status st = CMH_OK;
    for (size_t i = 0; st == CMH_OK && i < nd->nfiles; i++) {
        const cmh_node *n = nd->files[i];
        const cmh_node *o = find_child(od, n);
        char *path = rel[0] ? cmh__path_join(rel, n->name)
                            : cmh__strdup(n->name);
        char *src = NULL;
        if (!path)
            return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
        d->r->full_bytes += n->size;
        const cmh_node *same = o && !memcmp(o->sha, n->sha, CMH_SHA256_LEN)
                                   ? o : find_bytes(d, n->sha);
        if (same) {
            if (!(src = cmh__node_relpath(same))) {
                free(path);
                return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
            }
            man_file(d, same == o ? "unchanged" : "copy", n, "-", src, path);
            if (same == o)
                d->r->unchanged++;
            else
                d->r->copied++;
        } else {
            bool used = false;
            char name[2 * CMH_HEX_SIZE + 1], ohex[CMH_HEX_SIZE] = "-",
                 nhex[CMH_HEX_SIZE];
            if (o) {
                cmh_hex_upper(o->sha, CMH_SHA256_LEN, ohex);
                cmh_hex_upper(n->sha, CMH_SHA256_LEN, nhex);
                snprintf(name, sizeof name, "%s-%s", ohex, nhex);
                struct stat sb;
                if (fstatat(d->delta_fd, name, &sb, AT_SYMLINK_NOFOLLOW) ==
                    0)
                    used = true; /* this pair was already encoded */
                else
                    st = send_delta(d, o, n, name, &used);
            }
            if (st == CMH_OK && used) {
                src = cmh__node_relpath(o);
                if (!src)
                    st = cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
                else
                    man_file(d, "delta", n, ohex, src, path);
                d->r->changed++;
            } else if (st == CMH_OK) {
                cmh_hex_upper(n->sha, CMH_SHA256_LEN, nhex);
                st = send_full(d, n, nhex);
                man_file(d, "full", n, "-", "-", path);
                d->r->full++;
            }
        }
        free(src);
        free(path);
        if (st == CMH_OK && tick(d))
            st = cmh__fail(d->ctx, CMH_E_CANCELED, "canceled");
    }
    for (size_t i = 0; st == CMH_OK && i < nd->ndirs; i++) {
        const cmh_node *c = nd->dirs[i];
        char *sub = rel[0] ? cmh__path_join(rel, c->name)
                           : cmh__strdup(c->name);
        if (!sub)
            return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
        cmh__buf_adds(&d->man, "dir ");
        put_field(&d->man, sub);
        cmh__buf_adds(&d->man, "\n");
        d->r->folders++;
        st = delta_dir(d, c, find_child(od, c), sub);
        free(sub);
    }
    return st;
}

/* Old files with no same-path file in the new tree. */
static cmh_status removed_dir(dl *d, const cmh_node *od, const cmh_node *nd,
                              const char *rel)
{
    for (size_t i = 0; i < od->nfiles; i++) {
        if (find_child(nd, od->files[i]))
            continue;
        char *p = rel[0] ? cmh__path_join(rel, od->files[i]->name)
                         : cmh__strdup(od->files[i]->name);
        if (!p)
            return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
        cmh__buf_adds(&d->man, "removed ");
        put_field(&d->man, p);
        cmh__buf_adds(&d->man, "\n");
        d->r->removed++;
        free(p);
    }
    for (size_t i = 0; i < od->ndirs; i++) {
        char *p = rel[0] ? cmh__path_join(rel, od->dirs[i]->name)
                         : cmh__strdup(od->dirs[i]->name);
        if (!p)
            return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
        cmh_status st = removed_dir(d, od->dirs[i],
                                    find_child(nd, od->dirs[i]), p);
        free(p);
        if (st)
            return st;
    }
    return CMH_OK;
}

static int open_sub(int parent, const char *name, int *out)
{
    if (mkdirat(parent, name, 0755) != 0 && errno != EEXIST)
        return errno;
    return cmh__os_open_dir(parent, name, out);
}

cmh_status cmh_delta(cmh_ctx *ctx, const cmh_delta_opts *o,
                     cmh_delta_result *res)
{
    dl d;
    memset(&d, 0, sizeof d);
    memset(res, 0, sizeof *res);
    cmh__err_clear(ctx);
    double t0 = cmh__now();
    d.ctx = ctx;
    d.o = o;
    d.r = res;
    d.out_fd = d.delta_fd = d.file_fd = -1;
    cmh__library_init(&d.lib);
    cmh__buf_init(&d.man);
    cmh_node *oldt = NULL, *newt = NULL;
    cmh_status st;
    char ocid[CMH_CID_SIZE], ncid[CMH_CID_SIZE];
    if (!o || o->version != CMH_DELTA_OPTS_VERSION || !o->lib || !o->from ||
        !o->to || !o->outdir || !o->outdir[0]) {
        st = cmh__fail(ctx, CMH_E_INVALID, "bad delta options");
        goto done;
    }
    if ((st = cmh__library_open(ctx, &d.lib, o->lib, false)) != CMH_OK ||
        (st = cmh__content_resolve(ctx, &d.lib, o->from, ocid,
                                   res->from_hash)) != CMH_OK ||
        (st = cmh__content_resolve(ctx, &d.lib, o->to, ncid,
                                   res->to_hash)) != CMH_OK)
        goto done;
    snprintf(res->from_id, sizeof res->from_id, "%s", ocid);
    d.rdc_lib = cmh__library_sig_rdc(&d.lib, NULL, 0);
    res->library_sigs_foreign = d.rdc_lib;
    snprintf(res->to_id, sizeof res->to_id, "%s", ncid);
    cmh_tree_counts c;
    if ((st = cmh__mirror_load(ctx, &d.lib, ocid, &oldt, &c)) != CMH_OK ||
        (st = cmh__mirror_load(ctx, &d.lib, ncid, &newt, &c)) != CMH_OK)
        goto done;
    size_t cap = 0;
    if (!collect_refs(&d, oldt, &cap)) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto done;
    }
    if (d.nrefs > 1)
        qsort(d.refs, d.nrefs, sizeof *d.refs, ref_cmp);
    bool empty;
    if ((st = cmh__dest_open(ctx, o->outdir, false, &d.out_fd, &empty)) !=
        CMH_OK)
        goto done;
    int e = open_sub(d.out_fd, "delta", &d.delta_fd);
    if (!e)
        e = open_sub(d.out_fd, "file", &d.file_fd);
    if (e) {
        st = cmh__fail(ctx, CMH_E_IO, "cannot write in %s: %s; %s",
                       o->outdir, strerror(e), cmh__dest_hint(e));
        goto done;
    }
    d.md = EVP_MD_CTX_new();
    d.inbuf = malloc(DELTA_BUF_SIZE);
    d.outbuf = malloc(DELTA_BUF_SIZE);
    if (!d.md || !d.inbuf || !d.outbuf) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto done;
    }
    cmh__buf_addf(&d.man, MANIFEST_MAGIC "\nfrom %s %s\nto %s %s\n", ocid,
                 res->from_hash, ncid, res->to_hash);
    if ((st = delta_dir(&d, newt, oldt, "")) != CMH_OK ||
        (st = removed_dir(&d, oldt, newt, "")) != CMH_OK)
        goto done;
    if (d.man.oom) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto done;
    }
    /* the manifest last: a delta folder with one is complete */
    if ((e = cmh__write_atomic(d.out_fd, "MANIFEST", d.man.data, d.man.len,
                              false)) != 0)
        st = cmh__fail(ctx, CMH_E_IO, "cannot write %s/MANIFEST: %s; %s",
                       o->outdir, strerror(e), cmh__dest_hint(e));
done:
    if (d.delta_fd >= 0)
        close(d.delta_fd);
    if (d.file_fd >= 0)
        close(d.file_fd);
    if (d.out_fd >= 0)
        close(d.out_fd);
    EVP_MD_CTX_free(d.md);
    free(d.inbuf);
    free(d.outbuf);
    free(d.refs);
    cmh__buf_free(&d.man);
    cmh__node_free(oldt);
    cmh__node_free(newt);
    cmh__library_close(&d.lib);
    res->seconds = cmh__now() - t0;
    return st;
}

/* ---- patch ---- */

typedef struct pt {
    cmh_ctx *ctx;
    const cmh_patch_opts *o;
    int base_fd, delta_fd, out_fd;
    EVP_MD_CTX *md;
    unsigned char *inbuf, *outbuf;
    cmh_patch_result *r;
    int lineno;
} pt;

static cmh_status bad_manifest(pt *p, const char *why)
{
    return cmh__fail(p->ctx, CMH_E_SOURCE,
                     "%s/MANIFEST line %d: %s; the delta folder is damaged "
                     "or not from cmhash delta", p->o->delta, p->lineno, why);
}

/* Open @p rel (a file path) below @p root: *dir_fd receives its folder,
 * *name points into @p rel at the last component. */
static int open_parent(int root, char *rel, bool create, int *dir_fd,
                       const char **name)
{
    char *slash = strrchr(rel, '/');
    if (!slash) {
        *name = rel;
        *dir_fd = dup(root);
        return *dir_fd < 0 ? errno : 0;
    }
    *slash = 0;
    int e = cmh__open_rel_dir(root, rel, create, dir_fd);
    *slash = '/';
    *name = slash + 1;
    return e;
}

static cmh_status patch_file(pt *p, const char *kind, const char *newhex,
                             uint64_t size, int64_t ft, uint32_t attrs,
                             const char *oldhex, char *src, char *path)
{
    cmh_ctx *ctx = p->ctx;
    int dfd = -1, in = -1, base = -1, out = -1, sdir = -1;
    const char *name, *sname;
    char tmp[64] = "";
    cmh_status st = CMH_OK;
    int e = open_parent(p->out_fd, path, true, &dfd, &name);
    if (e) {
        st = cmh__fail(ctx, CMH_E_IO, "cannot create the folder of %s/%s: "
                       "%s", p->o->out, path, strerror(e));
        goto out;
    }
    bool from_base = strcmp(kind, "full") != 0;
    if (from_base) {
        e = open_parent(p->base_fd, src, false, &sdir, &sname);
        if (!e)
            e = cmh__os_open_read(sdir, sname, &base);
        if (e) {
            st = cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                                 "cannot read %s/%s (the base file of "
                                 "%s); give the old version's tree as "
                                 "BASEDIR", p->o->base, src, path);
            goto out;
        }
    }
    if (!strcmp(kind, "full") || !strcmp(kind, "delta")) {
        char rel[2 * CMH_HEX_SIZE + 8];
        if (!strcmp(kind, "full"))
            snprintf(rel, sizeof rel, "file/%s", newhex);
        else
            snprintf(rel, sizeof rel, "delta/%s-%s", oldhex, newhex);
        e = cmh__os_open_read(p->delta_fd, rel, &in);
        if (e) {
            st = cmh__fail_errno(ctx, CMH_E_SOURCE, e, "cannot read %s/%s",
                                 p->o->delta, rel);
            goto out;
        }
    }
    cmh__tmp_name(tmp, sizeof tmp, NULL);
    out = openat(dfd, tmp,
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        e = errno;
        tmp[0] = 0;
        st = cmh__fail(ctx, CMH_E_IO, "cannot write %s/%s: %s; %s",
                       p->o->out, path, strerror(e), cmh__dest_hint(e));
        goto out;
    }
    uint64_t nb = 0;
    uint8_t sha[CMH_SHA256_LEN];
    bool werr = false;
    if (!strcmp(kind, "delta")) {
        rs_job_t *job = rs_patch_begin(base_copy, &base);
        job_io io = {in, out, p->md, p->inbuf, p->outbuf, 0, 0, false,
                     size ? size : 1, false};
        if (!job || !EVP_DigestInit_ex(p->md, ctx->sha256, NULL)) {
            if (job)
                rs_job_free(job);
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            goto out;
        }
        rs_result rr = drive(job, &io);
        rs_job_free(job);
        if (rr != RS_DONE && io.over) {
            st = cmh__fail(ctx, CMH_E_SOURCE,
                           "%s/delta/%s-%s would rebuild %s as more than the "
                           "%llu bytes the manifest declares; the delta "
                           "folder is damaged or crafted", p->o->delta,
                           oldhex, newhex, path, (unsigned long long)size);
            goto out;
        }
        if (rr != RS_DONE) {
            st = io.write_err
                     ? cmh__fail(ctx, CMH_E_IO, "cannot write %s/%s: %s",
                                 p->o->out, path, strerror(io.err))
                     : cmh__fail(ctx, CMH_E_SOURCE,
                                 "cannot apply %s/delta/%s-%s to %s/%s: %s",
                                 p->o->delta, oldhex, newhex, p->o->base, src,
                                 rs_strerror(rr));
            goto out;
        }
        unsigned int len = 0;
        EVP_DigestFinal_ex(p->md, sha, &len);
        nb = io.out_bytes;
    } else {
        e = cmh__copy_hash(from_base ? base : in, out, p->md, ctx->sha256,
                           p->inbuf, DELTA_BUF_SIZE, &nb, sha, &werr);
        if (e) {
            st = werr ? cmh__fail(ctx, CMH_E_IO, "cannot write %s/%s: %s",
                                  p->o->out, path, strerror(e))
                      : cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                                        "cannot read the source of %s",
                                        path);
            goto out;
        }
    }
    char got[CMH_HEX_SIZE];
    cmh_hex_upper(sha, CMH_SHA256_LEN, got);
    if (nb != size || strcmp(got, newhex)) {
        st = cmh__fail(ctx, CMH_E_SOURCE,
                       "%s rebuilt as %llu bytes with SHA-256 %s, expected "
                       "%llu bytes with %s: %s/%s is not the old version's "
                       "file, or the delta folder is damaged", path,
                       (unsigned long long)nb, got, (unsigned long long)size,
                       newhex, p->o->base, from_base ? src : "-");
        goto out;
    }
    if ((e = cmh__apply_meta(out, attrs, cmh__ns_from_filetime(ft))) != 0 ||
        (e = close(out) != 0 ? errno : 0) != 0) {
        out = -1;
        st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot write %s/%s",
                             p->o->out, path);
        goto out;
    }
    out = -1;
    if (renameat(dfd, tmp, dfd, name) != 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write %s/%s",
                             p->o->out, path);
        goto out;
    }
    tmp[0] = 0;
    p->r->files++;
    p->r->bytes += nb;
out:
    if (out >= 0)
        close(out);
    if (tmp[0])
        unlinkat(dfd, tmp, 0);
    if (dfd >= 0)
        close(dfd);
    if (sdir >= 0)
        close(sdir);
    if (base >= 0)
        close(base);
    if (in >= 0)
        close(in);
    return st;
}

static bool is_hex64_upper(const char *s)
{
    bool lower = false;
    return cmh__is_hex64(s, &lower) && !lower;
}

static cmh_status patch_line(pt *p, char *line, char *to_hash)
{
    char *f[10] = {0};
    int n = 0;
    for (char *s = line; n < 10;) {
        f[n++] = s;
        char *sp = strchr(s, ' ');
        if (!sp)
            break;
        *sp = 0;
        s = sp + 1;
    }
    if (p->lineno == 1)
        return strcmp(line, "cmhash-delta") || n != 2 || strcmp(f[1], "1")
                   ? bad_manifest(p, "not a cmhash delta manifest "
                                     "(version 1)")
                   : CMH_OK;
    if (!strcmp(f[0], "from"))
        return CMH_OK;
    if (!strcmp(f[0], "to")) {
        if (n != 3 || !is_hex64_upper(f[2]) ||
            cmh_content_id_parse(f[1], NULL, NULL) == CMH_CONTENT_INVALID)
            return bad_manifest(p, "bad 'to' line");
        memcpy(to_hash, f[2], CMH_HEX_SIZE);
        snprintf(p->r->to_id, sizeof p->r->to_id, "%s", f[1]);
        return CMH_OK;
    }
    if (!strcmp(f[0], "removed"))
        return CMH_OK;
    if (!strcmp(f[0], "dir")) {
        if (n != 2 || !decode_field(f[1]) || !safe_path(f[1]))
            return bad_manifest(p, "bad folder path");
        int fd;
        int e = cmh__open_rel_dir(p->out_fd, f[1], true, &fd);
        if (e)
            return cmh__fail(p->ctx, CMH_E_IO, "cannot create %s/%s: %s",
                             p->o->out, f[1], strerror(e));
        close(fd);
        p->r->folders++;
        return CMH_OK;
    }
    if (strcmp(f[0], "file") || n != 9)
        return bad_manifest(p, "unknown line");
    const char *kind = f[1];
    bool delta = !strcmp(kind, "delta"), full = !strcmp(kind, "full");
    if (!delta && !full && strcmp(kind, "unchanged") && strcmp(kind, "copy"))
        return bad_manifest(p, "unknown file kind");
    char *end;
    unsigned long long size = strtoull(f[3], &end, 10);
    if (*end || !*f[3])
        return bad_manifest(p, "bad size");
    long long ft = strtoll(f[4], &end, 10);
    if (*end || !*f[4] || ft < 0)
        return bad_manifest(p, "bad time");
    unsigned long attrs = strtoul(f[5], &end, 16);
    if (*end || strlen(f[5]) != 8)
        return bad_manifest(p, "bad attributes");
    if (!is_hex64_upper(f[2]) ||
        (delta ? !is_hex64_upper(f[6]) : strcmp(f[6], "-")))
        return bad_manifest(p, "bad hash");
    if (!decode_field(f[7]) || !decode_field(f[8]) || !safe_path(f[8]) ||
        (full ? strcmp(f[7], "-") : !safe_path(f[7])))
        return bad_manifest(p, "bad path (absolute, '..', empty or with a "
                               "backslash)");
    return patch_file(p, kind, f[2], size, ft, (uint32_t)attrs, f[6], f[7],
                      f[8]);
}

cmh_status cmh_patch(cmh_ctx *ctx, const cmh_patch_opts *o,
                     cmh_patch_result *res)
{
    pt p;
    memset(&p, 0, sizeof p);
    memset(res, 0, sizeof *res);
    cmh__err_clear(ctx);
    double t0 = cmh__now();
    p.ctx = ctx;
    p.o = o;
    p.r = res;
    p.base_fd = p.delta_fd = p.out_fd = -1;
    char *man = NULL;
    size_t len = 0;
    char to_hash[CMH_HEX_SIZE] = "";
    char *work = NULL;       /* temp output folder until renamed */
    bool out_existed = true; /* OUTDIR was there before the run */
    cmh_status st = CMH_OK;
    if (!o || o->version != CMH_PATCH_OPTS_VERSION || !o->base ||
        !o->delta || !o->out || !o->out[0]) {
        st = cmh__fail(ctx, CMH_E_INVALID, "bad patch options");
        goto done;
    }
    if ((p.base_fd = open(o->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
        0) {
        st = cmh__fail_errno(ctx, CMH_E_SOURCE, errno,
                             "cannot open BASEDIR %s", o->base);
        goto done;
    }
    if ((p.delta_fd = open(o->delta, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
        0) {
        st = cmh__fail_errno(ctx, CMH_E_SOURCE, errno,
                             "cannot open DELTADIR %s", o->delta);
        goto done;
    }
    int e = cmh__read_small_file(p.delta_fd, "MANIFEST", MANIFEST_MAX, &man,
                                &len);
    if (e) {
        st = cmh__fail_errno(ctx, CMH_E_SOURCE, e, "cannot read %s/MANIFEST "
                             "(a folder written by cmhash delta?)", o->delta);
        goto done;
    }
    if (memchr(man, 0, len) || !len || man[len - 1] != '\n') {
        p.lineno = 1;
        st = bad_manifest(&p, "binary or truncated");
        goto done;
    }
    bool empty;
    struct stat osb;
    out_existed = stat(o->out, &osb) == 0;
    int chk_fd = -1;
    if ((st = cmh__dest_open(ctx, o->out, false, &chk_fd, &empty)) !=
        CMH_OK)
        goto done;
    close(chk_fd);
    /* the tree is built in a temp folder beside OUTDIR and renamed onto
     * it (empty) at the end: a failed patch leaves no partial output */
    if ((st = cmh__dest_tmp(ctx, o->out, "patch", &work)) != CMH_OK)
        goto done;
    if ((p.out_fd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int oe = errno;
        st = cmh__fail(ctx, CMH_E_IO, "cannot open %s: %s; %s", work,
                       strerror(oe), cmh__dest_hint(oe));
        goto done;
    }
    p.md = EVP_MD_CTX_new();
    p.inbuf = malloc(DELTA_BUF_SIZE);
    p.outbuf = malloc(DELTA_BUF_SIZE);
    if (!p.md || !p.inbuf || !p.outbuf) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto done;
    }
    for (char *line = man; st == CMH_OK && line < man + len;) {
        char *nl = memchr(line, '\n', (size_t)(man + len - line));
        *nl = 0;
        p.lineno++;
        st = patch_line(&p, line, to_hash);
        line = nl + 1;
        if (st == CMH_OK && o->progress) {
            cmh_progress pr = {"patch", res->files, 0, res->bytes, 0,
                               cmh__now() - t0};
            if (o->progress(&pr, o->payload))
                st = cmh__fail(ctx, CMH_E_CANCELED, "canceled");
        }
    }
    if (st)
        goto done;
    if (!to_hash[0]) {
        st = bad_manifest(&p, "no 'to' line");
        goto done;
    }
    if ((st = cmh_hash_dir(ctx, work, res->content_hash)) != CMH_OK)
        goto done;
    if (strcmp(res->content_hash, to_hash)) {
        st = cmh__fail(ctx, CMH_E_SOURCE,
                       "%s hashes to %s, not to %s (%s): the delta folder "
                       "%s is incomplete or damaged", o->out,
                       res->content_hash, to_hash, res->to_id, o->delta);
        goto done;
    }
    if (rename(work, o->out) != 0) { /* onto the empty OUTDIR */
        int re = errno;
        st = cmh__fail(ctx, CMH_E_IO, "cannot move the rebuilt tree to %s: "
                       "%s; %s", o->out, strerror(re), cmh__dest_hint(re));
        goto done;
    }
    free(work);
    work = NULL;
done:
    if (work) { /* a failed patch: no partial output */
        if (p.out_fd >= 0)
            close(p.out_fd);
        p.out_fd = -1;
        cmh__tree_remove(AT_FDCWD, work);
        free(work);
        if (!out_existed)
            rmdir(o->out);
    }
    if (p.base_fd >= 0)
        close(p.base_fd);
    if (p.delta_fd >= 0)
        close(p.delta_fd);
    if (p.out_fd >= 0)
        close(p.out_fd);
    EVP_MD_CTX_free(p.md);
    free(p.inbuf);
    free(p.outbuf);
    free(man);
    res->seconds = cmh__now() - t0;
    return st;
}
