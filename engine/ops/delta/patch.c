/* cmh_patch: apply a delta (delta.h; the job driver is job.c). */
#include "delta_job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"
#include <cmhash/delta.h>

/* ---- patch ---- */

typedef struct pt {
    cmh_ctx *ctx;
    const cmh_patch_opts *o;
    int base_fd, delta_fd, out_fd;
    EVP_MD_CTX *md;
    unsigned char *inbuf, *outbuf;
    cmh_patch_result *r;
    int lineno;
    char *man; /* the MANIFEST */
    size_t len;
    char *work;       /* temp output folder until renamed */
    bool out_existed; /* OUTDIR was there before the run */
    double t0;
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

/* Rebuild @p path's bytes from the base file (*@p base) and the delta
 * @p in into @p out, at most @p size bytes (11.8): their SHA-256 into
 * @p sha, their count into @p nb. */
static cmh_status apply_delta(pt *p, int in, int out, int *base,
                              uint64_t size, const char *oldhex,
                              const char *newhex, const char *src,
                              const char *path, uint64_t *nb,
                              uint8_t sha[CMH_SHA256_LEN])
{
    cmh_ctx *ctx = p->ctx;
    rs_job_t *job = rs_patch_begin(cmh__delta_base_copy, base);
    job_io io = {in, out, p->md, p->inbuf, p->outbuf, 0, 0, false,
                 size ? size : 1, false};
    if (!job || !EVP_DigestInit_ex(p->md, ctx->sha256, NULL)) {
        if (job)
            rs_job_free(job);
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    rs_result rr = cmh__delta_drive(job, &io);
    rs_job_free(job);
    if (rr != RS_DONE && io.over)
        return cmh__fail(ctx, CMH_E_SOURCE,
                         "%s/delta/%s-%s would rebuild %s as more than the "
                         "%llu bytes the manifest declares; the delta "
                         "folder is damaged or crafted", p->o->delta,
                         oldhex, newhex, path, (unsigned long long)size);
    if (rr != RS_DONE)
        return io.write_err
                   ? cmh__fail(ctx, CMH_E_IO, "cannot write %s/%s: %s",
                               p->o->out, path, strerror(io.err))
                   : cmh__fail(ctx, CMH_E_SOURCE,
                               "cannot apply %s/delta/%s-%s to %s/%s: %s",
                               p->o->delta, oldhex, newhex, p->o->base, src,
                               rs_strerror(rr));
    unsigned int len = 0;
    EVP_DigestFinal_ex(p->md, sha, &len);
    *nb = io.out_bytes;
    return CMH_OK;
}

/* The inputs of one file: its base file (*@p base, in the folder *@p sdir)
 * unless @p kind is "full", the stored file or delta (*@p in) unless it
 * is "copy". The caller closes them. */
static cmh_status open_inputs(pt *p, const char *kind, const char *newhex,
                              const char *oldhex, char *src,
                              const char *path, int *sdir, int *base,
                              int *in)
{
    cmh_ctx *ctx = p->ctx;
    const char *sname;
    int e;
    if (strcmp(kind, "full") != 0) {
        e = open_parent(p->base_fd, src, false, sdir, &sname);
        if (!e)
            e = cmh__os_open_read(*sdir, sname, base);
        if (e)
            return cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                                   "cannot read %s/%s (the base file of "
                                   "%s); give the old version's tree as "
                                   "BASEDIR", p->o->base, src, path);
    }
    if (!strcmp(kind, "full") || !strcmp(kind, "delta")) {
        char rel[2 * CMH_HEX_SIZE + 8];
        if (!strcmp(kind, "full"))
            snprintf(rel, sizeof rel, "file/%s", newhex);
        else
            snprintf(rel, sizeof rel, "delta/%s-%s", oldhex, newhex);
        e = cmh__os_open_read(p->delta_fd, rel, in);
        if (e)
            return cmh__fail_errno(ctx, CMH_E_SOURCE, e, "cannot read %s/%s",
                                   p->o->delta, rel);
    }
    return CMH_OK;
}

/* Write the file's bytes to @p out - the delta applied to the base
 * (*base), or the base or full file (@p in) copied - and check they are
 * the file's: @p size bytes hashing to @p newhex. *nb gets the bytes
 * written. */
static cmh_status rebuild_checked(pt *p, const char *kind, int in, int out,
                                  int *base, uint64_t size, const char *oldhex,
                                  const char *newhex, const char *src,
                                  const char *path, uint64_t *nb)
{
    cmh_ctx *ctx = p->ctx;
    bool from_base = strcmp(kind, "full") != 0;
    uint8_t sha[CMH_SHA256_LEN];
    bool werr = false;
    cmh_status st;
    if (!strcmp(kind, "delta")) {
        if ((st = apply_delta(p, in, out, base, size, oldhex, newhex, src, path,
                              nb, sha)) != CMH_OK)
            return st;
    } else {
        int e = cmh__copy_hash(from_base ? *base : in, out, p->md, ctx->sha256,
                               p->inbuf, DELTA_BUF_SIZE, nb, sha, &werr);
        if (e)
            return werr ? cmh__fail(ctx, CMH_E_IO, "cannot write %s/%s: %s",
                                    p->o->out, path, strerror(e))
                        : cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                                          "cannot read the source of %s", path);
    }
    char got[CMH_HEX_SIZE];
    cmh_hex_upper(got, sha, CMH_SHA256_LEN);
    if (*nb != size || strcmp(got, newhex))
        return cmh__fail(ctx, CMH_E_SOURCE,
                         "%s rebuilt as %llu bytes with SHA-256 %s, expected "
                         "%llu bytes with %s: %s/%s is not the old version's "
                         "file, or the delta folder is damaged",
                         path, (unsigned long long)*nb, got,
                         (unsigned long long)size, newhex, p->o->base,
                         from_base ? src : "-");
    return CMH_OK;
}

/* Rebuild one file of the manifest into OUTDIR: under a temp name in its
 * folder, checked, given its metadata, renamed to its name. */
static cmh_status patch_file(pt *p, const char *kind, const char *newhex,
                             uint64_t size, int64_t ft, uint32_t attrs,
                             const char *oldhex, char *src, char *path)
{
    cmh_ctx *ctx = p->ctx;
    int dfd = -1, in = -1, base = -1, out = -1, sdir = -1;
    const char *name;
    char tmp[64] = "";
    cmh_status st = CMH_OK;
    int e = open_parent(p->out_fd, path, true, &dfd, &name);
    if (e) {
        st = cmh__fail(ctx, CMH_E_IO, "cannot create the folder of %s/%s: "
                       "%s", p->o->out, path, strerror(e));
        goto out;
    }
    if ((st = open_inputs(p, kind, newhex, oldhex, src, path, &sdir, &base,
                          &in)) != CMH_OK)
        goto out;
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
    if ((st = rebuild_checked(p, kind, in, out, &base, size, oldhex, newhex,
                              src, path, &nb)) != CMH_OK)
        goto out;
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
            cmh_content_id_parse(NULL, NULL, f[1]) == CMH_CONTENT_INVALID)
            return bad_manifest(p, "bad 'to' line");
        memcpy(to_hash, f[2], CMH_HEX_SIZE);
        snprintf(p->r->to_id, sizeof p->r->to_id, "%s", f[1]);
        return CMH_OK;
    }
    if (!strcmp(f[0], "removed"))
        return CMH_OK;
    if (!strcmp(f[0], "dir")) {
        if (n != 2 || !cmh__delta_decode_field(f[1]) ||
            !cmh__delta_safe_path(f[1]))
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
    if (!cmh__delta_decode_field(f[7]) || !cmh__delta_decode_field(f[8]) ||
        !cmh__delta_safe_path(f[8]) ||
        (full ? strcmp(f[7], "-") : !cmh__delta_safe_path(f[7])))
        return bad_manifest(p, "bad path (absolute, '..', empty or with a "
                               "backslash)");
    return patch_file(p, kind, f[2], size, ft, (uint32_t)attrs, f[6], f[7],
                      f[8]);
}

/* BASEDIR and DELTADIR opened, the MANIFEST read whole. */
static cmh_status patch_open_inputs(pt *p)
{
    const cmh_patch_opts *o = p->o;
    if ((p->base_fd = open(o->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return cmh__fail_errno(p->ctx, CMH_E_SOURCE, errno,
                               "cannot open BASEDIR %s", o->base);
    if ((p->delta_fd = open(o->delta, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return cmh__fail_errno(p->ctx, CMH_E_SOURCE, errno,
                               "cannot open DELTADIR %s", o->delta);
    int e = cmh__read_small_file(p->delta_fd, "MANIFEST", MANIFEST_MAX, &p->man,
                                 &p->len);
    if (e)
        return cmh__fail_errno(p->ctx, CMH_E_SOURCE, e,
                               "cannot read %s/MANIFEST (a folder written by "
                               "cmhash delta?)",
                               o->delta);
    if (memchr(p->man, 0, p->len) || !p->len || p->man[p->len - 1] != '\n') {
        p->lineno = 1;
        return bad_manifest(p, "binary or truncated");
    }
    return CMH_OK;
}

/* OUTDIR checked (missing or empty), the temp folder beside it made and
 * opened (the tree is built there and renamed onto OUTDIR at the end: a
 * failed patch leaves no partial output), the buffers allocated. */
static cmh_status patch_open_output(pt *p)
{
    const cmh_patch_opts *o = p->o;
    bool empty;
    struct stat osb;
    p->out_existed = stat(o->out, &osb) == 0;
    int chk_fd = -1;
    cmh_status st = cmh__dest_open(p->ctx, o->out, false, &chk_fd, &empty);
    if (st != CMH_OK)
        return st;
    close(chk_fd);
    if ((st = cmh__dest_tmp(p->ctx, o->out, "patch", &p->work)) != CMH_OK)
        return st;
    if ((p->out_fd = open(p->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int oe = errno;
        return cmh__fail(p->ctx, CMH_E_IO, "cannot open %s: %s; %s", p->work,
                         strerror(oe), cmh__dest_hint(oe));
    }
    return cmh__delta_bufs(p->ctx, &p->md, &p->inbuf, &p->outbuf);
}

/* Every MANIFEST line applied in order, with progress. */
static cmh_status patch_apply(pt *p, char to_hash[CMH_HEX_SIZE])
{
    cmh_status st = CMH_OK;
    char *man = p->man, *end = p->man + p->len;
    for (char *line = man; st == CMH_OK && line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        *nl = 0;
        p->lineno++;
        st = patch_line(p, line, to_hash);
        line = nl + 1;
        if (st == CMH_OK && p->o->progress.cb) {
            cmh_progress pr = {"patch",     p->r->files, 0,
                               p->r->bytes, 0,           cmh__now() - p->t0};
            if (p->o->progress.cb(&pr, p->o->progress.payload))
                st = cmh__fail(p->ctx, CMH_E_CANCELED, "canceled");
        }
    }
    if (st == CMH_OK && !to_hash[0])
        st = bad_manifest(p, "no 'to' line");
    return st;
}

/* The rebuilt tree must hash to the manifest's "to"; then it is renamed
 * onto the empty OUTDIR. */
static cmh_status patch_commit(pt *p, const char *to_hash)
{
    const cmh_patch_opts *o = p->o;
    cmh_patch_result *res = p->r;
    cmh_status st = cmh_hash_dir(res->content_hash, p->ctx, p->work);
    if (st != CMH_OK)
        return st;
    if (strcmp(res->content_hash, to_hash))
        return cmh__fail(p->ctx, CMH_E_SOURCE,
                         "%s hashes to %s, not to %s (%s): the delta folder "
                         "%s is incomplete or damaged",
                         o->out, res->content_hash, to_hash, res->to_id,
                         o->delta);
    if (rename(p->work, o->out) != 0) {
        int re = errno;
        return cmh__fail(p->ctx, CMH_E_IO,
                         "cannot move the rebuilt tree to "
                         "%s: %s; %s",
                         o->out, strerror(re), cmh__dest_hint(re));
    }
    free(p->work);
    p->work = NULL;
    return CMH_OK;
}

/* Descriptors and buffers closed; after a failure the temp folder goes
 * (no partial output) and an OUTDIR the run created. */
static void patch_close(pt *p)
{
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
    if (p->work) {
        cmh__tree_remove(AT_FDCWD, p->work);
        free(p->work);
        if (!p->out_existed)
            rmdir(p->o->out);
    }
    if (p->base_fd >= 0)
        close(p->base_fd);
    if (p->delta_fd >= 0)
        close(p->delta_fd);
    EVP_MD_CTX_free(p->md);
    free(p->inbuf);
    free(p->outbuf);
    free(p->man);
}

cmh_status cmh_patch(cmh_patch_result *res, cmh_ctx *ctx,
                     const cmh_patch_opts *o)
{
    pt p;
    memset(&p, 0, sizeof p);
    memset(res, 0, sizeof *res);
    cmh__err_clear(ctx);
    p.t0 = cmh__now();
    p.ctx = ctx;
    p.o = o;
    p.r = res;
    p.base_fd = p.delta_fd = p.out_fd = -1;
    p.out_existed = true;
    char to_hash[CMH_HEX_SIZE] = "";
    cmh_status st = CMH__OPTS_CHECK(ctx, o, CMH_PATCH_OPTS_VERSION, "patch");
    if (st == CMH_OK && (!o->base || !o->delta || !o->out || !o->out[0]))
        st = cmh__fail(ctx, CMH_E_INVALID, "bad patch options");
    if (st == CMH_OK)
        st = patch_open_inputs(&p);
    if (st == CMH_OK)
        st = patch_open_output(&p);
    if (st == CMH_OK)
        st = patch_apply(&p, to_hash);
    if (st == CMH_OK)
        st = patch_commit(&p, to_hash);
    patch_close(&p);
    res->seconds = cmh__now() - p.t0;
    return st;
}
