/* cmh_delta / cmh_patch: binary delta replication (delta.h), over the
 * librsync job API: rs_loadsig_begin + rs_build_hash_table read a stored
 * .SIG, rs_delta_begin encodes the new bytes against it, rs_patch_begin
 * rebuilds them from the base file. The streaming jobs are driven here
 * with fixed buffers; no stdio. */
#include "delta_job.h"
#include "grow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"
#include <cmhash/delta.h>

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
        if (!cmh__grow(&d->refs, cap, d->nrefs + 1, sizeof *d->refs, 64))
            return false;
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

/* Load old @p o's stored .SIG into *sig (freed by the caller, also on
 * false) with its hash table built. False when there is none usable: no
 * .SIG (verify: SIG_MISSING), an MS-RDC one of ConfigMgr's library, or a
 * damaged one; the caller then sends the file whole (docs/FORMAT.md). */
static bool load_old_sig(dl *d, const cmh_node *o, rs_signature_t **sig)
{
    char ohex[CMH_HEX_SIZE], sigrel[CMH_FILELIB_REL_SIZE];
    cmh_hex_upper(ohex, o->sha, CMH_SHA256_LEN);
    cmh__filelib_rel_hex(sigrel, ohex, ".SIG");
    int sig_fd = -1;
    bool ok = false;
    int sroot = cmh__filelib_find(&d->lib, sigrel, NULL, NULL);
    if (sroot < 0 || cmh__os_open_read(sroot, sigrel, &sig_fd) != 0)
        goto out;
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
    rs_job_t *job = rs_loadsig_begin(sig);
    job_io io = {sig_fd, -1, NULL, d->inbuf, d->outbuf, 0, 0, false, 0,
                 false};
    rs_result rr = job ? cmh__delta_drive(job, &io) : RS_MEM_ERROR;
    if (job) /* rs_job_free(NULL) crashes (11.7) */
        rs_job_free(job);
    /* foreign (MS-RDC) or damaged signature: send whole (docs/FORMAT.md).
     * librsync may leave no sumset, or a half-loaded one. */
    ok = rr == RS_DONE && *sig && rs_build_hash_table(*sig) == RS_DONE;
out:
    if (sig_fd >= 0)
        close(sig_fd);
    return ok;
}

/* Delta of new bytes @p n against the loaded signature @p sig into
 * OUTDIR/delta/@p name. *used = false when the delta is not smaller than
 * the file (the caller sends it whole). */
static cmh_status write_delta(dl *d, rs_signature_t *sig, const cmh_node *n,
                              const char *name, bool *used)
{
    char nhex[CMH_HEX_SIZE], rel[CMH_FILELIB_REL_SIZE], tmp[64] = "";
    cmh_hex_upper(nhex, n->sha, CMH_SHA256_LEN);
    cmh__filelib_rel_hex(rel, nhex, "");
    int in = -1, out = -1;
    rs_job_t *job = NULL;
    cmh_status st = CMH_OK;
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
    rs_result rr = job ? cmh__delta_drive(job, &dio) : RS_MEM_ERROR;
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
    if (job) /* rs_job_free(NULL) crashes (11.7) */
        rs_job_free(job);
    return st;
}

/* Delta of new bytes @p n against old @p o's stored .SIG into
 * OUTDIR/delta/<OLD>-<NEW>. *used = false when no .SIG is usable or the
 * delta is not smaller than the file (the caller sends it whole). */
static cmh_status send_delta(dl *d, const cmh_node *o, const cmh_node *n,
                             const char *name, bool *used)
{
    *used = false;
    rs_signature_t *sig = NULL;
    cmh_status st = CMH_OK;
    if (load_old_sig(d, o, &sig))
        st = write_delta(d, sig, n, name, used);
    if (sig)
        rs_free_sumset(sig);
    return st;
}

static void man_file(dl *d, const char *kind, const cmh_node *n,
                     const char *oldhex, const char *src, const char *path)
{
    char hex[CMH_HEX_SIZE];
    cmh_hex_upper(hex, n->sha, CMH_SHA256_LEN);
    cmh__buf_addf(&d->man, "file %s %s %llu %lld %08X %s ", kind, hex,
                 (unsigned long long)n->size,
                 (long long)cmh__filetime_from_ns(n->mtime_ns), n->attrs,
                 oldhex);
    cmh__delta_put_field(&d->man, src);
    cmh__buf_adds(&d->man, " ");
    cmh__delta_put_field(&d->man, path);
    cmh__buf_adds(&d->man, "\n");
}

static bool tick(dl *d)
{
    if (!d->o->progress.cb)
        return false;
    cmh_progress p = {"delta", ++d->done, 0, 0, 0, 0};
    return d->o->progress.cb(&p, d->o->progress.payload) != 0;
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
                cmh_hex_upper(ohex, o->sha, CMH_SHA256_LEN);
                cmh_hex_upper(nhex, n->sha, CMH_SHA256_LEN);
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
                cmh_hex_upper(nhex, n->sha, CMH_SHA256_LEN);
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
        cmh__delta_put_field(&d->man, sub);
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
        cmh__delta_put_field(&d->man, p);
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

/* Both contents resolved in the library and their mirrors loaded; the
 * old version's files indexed by hash (what can be copied). */
static cmh_status delta_load(dl *d, char ocid[CMH_CID_SIZE],
                             char ncid[CMH_CID_SIZE], cmh_node **oldt,
                             cmh_node **newt)
{
    const cmh_delta_opts *o = d->o;
    cmh_delta_result *res = d->r;
    cmh_status st;
    if ((st = cmh__library_open(d->ctx, &d->lib, o->lib, false)) != CMH_OK ||
        (st = cmh__content_resolve(d->ctx, &d->lib, o->from, ocid,
                                   res->from_hash)) != CMH_OK ||
        (st = cmh__content_resolve(d->ctx, &d->lib, o->to, ncid,
                                   res->to_hash)) != CMH_OK)
        return st;
    snprintf(res->from_id, sizeof res->from_id, "%s", ocid);
    snprintf(res->to_id, sizeof res->to_id, "%s", ncid);
    d->rdc_lib = cmh__library_sig_rdc(&d->lib, NULL, 0);
    res->library_sigs_foreign = d->rdc_lib;
    cmh_tree_counts c;
    if ((st = cmh__mirror_load(d->ctx, &d->lib, ocid, oldt, &c)) != CMH_OK ||
        (st = cmh__mirror_load(d->ctx, &d->lib, ncid, newt, &c)) != CMH_OK)
        return st;
    size_t cap = 0;
    if (!collect_refs(d, *oldt, &cap))
        return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
    if (d->nrefs > 1)
        qsort(d->refs, d->nrefs, sizeof *d->refs, ref_cmp);
    return CMH_OK;
}

/* OUTDIR (missing or empty) with its delta/ and file/ folders, and the
 * buffers. */
static cmh_status delta_open_output(dl *d)
{
    bool empty;
    cmh_status st =
        cmh__dest_open(d->ctx, d->o->outdir, false, &d->out_fd, &empty);
    if (st != CMH_OK)
        return st;
    int e = open_sub(d->out_fd, "delta", &d->delta_fd);
    if (!e)
        e = open_sub(d->out_fd, "file", &d->file_fd);
    if (e)
        return cmh__fail(d->ctx, CMH_E_IO, "cannot write in %s: %s; %s",
                         d->o->outdir, strerror(e), cmh__dest_hint(e));
    return cmh__delta_bufs(d->ctx, &d->md, &d->inbuf, &d->outbuf);
}

/* The files of the new version against the old, then the removals, each
 * a MANIFEST line; the MANIFEST is written last: a delta folder with one
 * is complete. */
static cmh_status delta_write(dl *d, const char *ocid, const char *ncid,
                              cmh_node *oldt, cmh_node *newt)
{
    cmh_delta_result *res = d->r;
    cmh__buf_addf(&d->man, MANIFEST_MAGIC "\nfrom %s %s\nto %s %s\n", ocid,
                  res->from_hash, ncid, res->to_hash);
    cmh_status st;
    if ((st = delta_dir(d, newt, oldt, "")) != CMH_OK ||
        (st = removed_dir(d, oldt, newt, "")) != CMH_OK)
        return st;
    if (d->man.oom)
        return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
    int e = cmh__write_atomic(d->out_fd, "MANIFEST", d->man.data, d->man.len,
                              false);
    if (e)
        return cmh__fail(d->ctx, CMH_E_IO, "cannot write %s/MANIFEST: %s; %s",
                         d->o->outdir, strerror(e), cmh__dest_hint(e));
    return CMH_OK;
}

cmh_status cmh_delta(cmh_delta_result *res, cmh_ctx *ctx,
                     const cmh_delta_opts *o)
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
    char ocid[CMH_CID_SIZE], ncid[CMH_CID_SIZE];
    cmh_status st = CMH__OPTS_CHECK(ctx, o, CMH_DELTA_OPTS_VERSION, "delta");
    if (st == CMH_OK &&
        (!o->lib || !o->from || !o->to || !o->outdir || !o->outdir[0]))
        st = cmh__fail(ctx, CMH_E_INVALID, "bad delta options");
    if (st == CMH_OK)
        st = delta_load(&d, ocid, ncid, &oldt, &newt);
    if (st == CMH_OK)
        st = delta_open_output(&d);
    if (st == CMH_OK)
        st = delta_write(&d, ocid, ncid, oldt, newt);
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
