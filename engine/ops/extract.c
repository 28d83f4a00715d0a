/* cmh_extract: a content's source tree rebuilt from the library.
 *
 * Safety argument (nothing is written outside DEST): the content ID is
 * validated (cmh_content_id_parse: no separators, no `..`); the mirror is
 * loaded strictly before anything is written (tree_io.h: symbolic links,
 * specials, `.`/`..` and separator-holding names fail the call); DEST is
 * opened once and everything below it is reached with openat from folder
 * fds, folders with O_NOFOLLOW|O_DIRECTORY (a symlink planted in DEST is
 * refused, not followed), files created O_EXCL|O_NOFOLLOW under a temp
 * name and renamed over the final name (rename replaces a link, it does not
 * follow it). */
#include "tree_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"
#include <cmhash/extract.h>

/* 256 KiB, the snapshot's read size (stream.h): large enough that the
 * copy is bound by the disks, small enough to be negligible memory. */
#define EXTRACT_BUF_SIZE (256 * 1024)

typedef struct ext {
    cmh_ctx *ctx;
    const cmh_extract_opts *o;
    const char *dest; /* the folder being written, as the user names it */
    const char *out;  /* ... where it is written: dest, or below the temp
                         folder beside DEST until that is renamed in */
    char *work;       /* the temp folder built in, until renamed (or NULL) */
    bool out_ready;   /* work decided (and made) */
    cmh_library lib;
    EVP_MD_CTX *md;
    unsigned char *buf;
    uint64_t files_done, bytes_done, files_total, bytes_total;
    double t0, last_tick;
} ext;

static bool tick(ext *x)
{
    if (!x->o->progress.cb)
        return false;
    double now = cmh__now();
    if (now - x->last_tick < 0.1 && x->files_done < x->files_total)
        return false;
    x->last_tick = now;
    cmh_progress p = {"extract", x->files_done, x->files_total,
                      x->bytes_done, x->bytes_total, now - x->t0};
    return x->o->progress.cb(&p, x->o->progress.payload) != 0;
}

static cmh_status fail_write(ext *x, int e, const char *rel)
{
    return cmh__fail(x->ctx, CMH_E_IO, "cannot write %s/%s: %s; %s",
                     x->dest, rel, strerror(e), cmh__dest_hint(e));
}

/* Open the stored bytes of file @p n (FileLib entry @p frel, on any
 * root) as *in; a missing or non-regular entry fails naming @p rel. */
static cmh_status open_stored(ext *x, const char *frel, const char *rel,
                              int *in)
{
    int root = cmh__filelib_find(&x->lib, frel, NULL, NULL);
    int e = root < 0 ? ENOENT : cmh__os_open_read(root, frel, in);
    if (e)
        return cmh__fail_errno(x->ctx, e == ENOENT ? CMH_E_LIBRARY : CMH_E_IO,
                               e,
                               "cannot read %s/FileLib/%s (the bytes of %s); "
                               "run cmhash verify",
                               x->lib.path, frel, rel);
    struct stat sb;
    if (fstat(*in, &sb) != 0 || !S_ISREG(sb.st_mode))
        return cmh__fail(x->ctx, CMH_E_LIBRARY,
                         "%s/FileLib/%s is not a regular file; run cmhash "
                         "verify",
                         x->lib.path, frel);
    return CMH_OK;
}

/* Give the written copy @p out the file's read-only bit and mtime. 0 or
 * an errno. */
static int set_file_meta(int out, const cmh_node *n)
{
    mode_t mode = (n->attrs & 0x1u) ? 0444 : 0644;
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_NOW;
    int64_t ns = n->mtime_ns;
    ts[1].tv_sec = (time_t)(ns / 1000000000LL);
    ts[1].tv_nsec = (long)(ns % 1000000000LL);
    if (ts[1].tv_nsec < 0) {
        ts[1].tv_sec--;
        ts[1].tv_nsec += 1000000000L;
    }
    if (fchmod(out, mode) != 0 || futimens(out, ts) != 0)
        return errno;
    return 0;
}

/* Copy @p in to @p out, hashing it, and check the bytes are the file's
 * (size and SHA-256); *nb gets the bytes copied. */
static cmh_status copy_checked(ext *x, int in, int out, const cmh_node *n,
                               const char *frel, const char *rel, uint64_t *nb)
{
    cmh_ctx *ctx = x->ctx;
    uint8_t sha[CMH_SHA256_LEN];
    bool werr;
    int e = cmh__copy_hash(in, out, x->md, ctx->sha256, x->buf,
                           EXTRACT_BUF_SIZE, nb, sha, &werr);
    if (e)
        return werr ? fail_write(x, e, rel)
                    : cmh__fail_errno(ctx, CMH_E_IO, e,
                                      "cannot read %s/"
                                      "FileLib/%s",
                                      x->lib.path, frel);
    if (*nb != n->size || memcmp(sha, n->sha, CMH_SHA256_LEN)) {
        char got[CMH_HEX_SIZE];
        cmh_hex_upper(got, sha, CMH_SHA256_LEN);
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/FileLib/%s is corrupt: %llu bytes with SHA-256 "
                         "%s, expected %llu bytes (for %s); run cmhash "
                         "verify",
                         x->lib.path, frel, (unsigned long long)*nb, got,
                         (unsigned long long)n->size, rel);
    }
    return CMH_OK;
}

/* Write file @p n into folder @p dfd: copied from the library under a
 * temp name, checked, given its metadata, renamed to its name. */
static cmh_status write_file(ext *x, int dfd, const cmh_node *n,
                             const char *rel)
{
    char hex[CMH_HEX_SIZE], frel[CMH_FILELIB_REL_SIZE], tmp[64] = "";
    cmh_hex_upper(hex, n->sha, CMH_SHA256_LEN);
    cmh__filelib_rel_hex(frel, hex, "");
    int in = -1, out = -1, e;
    uint64_t nb;
    cmh_status st = open_stored(x, frel, rel, &in);
    if (st)
        goto out;
    /* the FileLib fd was opened non-blocking for FIFO safety; a regular
     * file reads the same either way */
    cmh__tmp_name(tmp, sizeof tmp, NULL);
    out = openat(dfd, tmp,
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        e = errno;
        tmp[0] = 0;
        st = fail_write(x, e, rel);
        goto out;
    }
    if ((st = copy_checked(x, in, out, n, frel, rel, &nb)))
        goto out;
    if ((e = set_file_meta(out, n))) {
        st = fail_write(x, e, rel);
        goto out;
    }
    if (close(out) != 0) {
        out = -1;
        st = fail_write(x, errno, rel);
        goto out;
    }
    out = -1;
    if (renameat(dfd, tmp, dfd, n->name) != 0) {
        st = fail_write(x, errno, rel);
        goto out;
    }
    tmp[0] = 0;
    x->files_done++;
    x->bytes_done += nb;
out:
    if (out >= 0)
        close(out);
    if (tmp[0])
        unlinkat(dfd, tmp, 0);
    if (in >= 0)
        close(in);
    return st;
}

static cmh_status write_dir(ext *x, int dfd, const cmh_node *d,
                            const char *rel)
{
    cmh_status st = CMH_OK;
    for (size_t i = 0; st == CMH_OK && i < d->nfiles; i++) {
        char *r = rel[0] ? cmh__path_join(rel, d->files[i]->name)
                         : cmh__strdup(d->files[i]->name);
        if (!r)
            return cmh__fail(x->ctx, CMH_E_NOMEM, "out of memory");
        st = write_file(x, dfd, d->files[i], r);
        free(r);
        if (st == CMH_OK && tick(x))
            st = cmh__fail(x->ctx, CMH_E_CANCELED, "canceled");
    }
    for (size_t i = 0; st == CMH_OK && i < d->ndirs; i++) {
        const cmh_node *c = d->dirs[i];
        char *r = rel[0] ? cmh__path_join(rel, c->name) : cmh__strdup(c->name);
        if (!r)
            return cmh__fail(x->ctx, CMH_E_NOMEM, "out of memory");
        int cfd = -1;
        if (mkdirat(dfd, c->name, 0755) != 0 && errno != EEXIST) {
            st = fail_write(x, errno, r);
        } else {
            int e = cmh__os_open_dir(dfd, c->name, &cfd);
            if (e == ELOOP || e == ENOTDIR)
                st = cmh__fail(x->ctx, CMH_E_IO,
                               "%s/%s exists and is not a folder (a symbolic "
                               "link or a file); not writing through it: "
                               "remove it or choose an empty DEST",
                               x->dest, r);
            else if (e)
                st = fail_write(x, e, r);
        }
        if (st == CMH_OK)
            st = write_dir(x, cfd, c, r);
        if (cfd >= 0)
            close(cfd);
        free(r);
    }
    return st;
}


static int not_empty(const char *name, unsigned char type, void *arg)
{
    (void)name;
    (void)type;
    *(bool *)arg = false;
    return -1; /* the first entry is enough */
}

static int dir_entries(int fd, bool *empty)
{
    *empty = true;
    int e = cmh__os_list_dir(fd, true, not_empty, empty);
    return e == -1 ? 0 : e;
}

/* Every file of @p d is on a FileLib root: checked before anything is
 * written, so a missing entry leaves no partial tree. */
static cmh_status check_present(ext *x, const cmh_node *d, const char *cid)
{
    for (size_t i = 0; i < d->nfiles; i++) {
        char frel[CMH_FILELIB_REL_SIZE];
        cmh__filelib_rel(frel, d->files[i]->sha, "");
        if (cmh__filelib_find(&x->lib, frel, NULL, NULL) < 0) {
            char *rel = cmh__node_relpath(d->files[i]);
            cmh_status st = cmh__fail(
                x->ctx, CMH_E_LIBRARY,
                "%s/FileLib/%s (the bytes of %s in %s) is on no FileLib root;"
                " give the other drives' roots with --filelib, or run cmhash "
                "verify", x->lib.path, frel, rel ? rel : "?", cid);
            free(rel);
            return st;
        }
    }
    for (size_t i = 0; i < d->ndirs; i++) {
        cmh_status st = check_present(x, d->dirs[i], cid);
        if (st)
            return st;
    }
    return CMH_OK;
}

/* Where DEST's tree is written (on the first write): a new or empty DEST
 * is built in a temp folder beside it and renamed in at the end, so a
 * failed run leaves no partial tree behind. */
static cmh_status out_root(ext *x, const char **root)
{
    const char *dest = x->o->dest;
    if (!x->out_ready) {
        struct stat dsb;
        int se = stat(dest, &dsb) != 0 ? errno : 0;
        bool use_tmp;
        if (se == 0 && S_ISDIR(dsb.st_mode)) {
            int tfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            bool was_empty = false;
            if (tfd >= 0) {
                if (dir_entries(tfd, &was_empty) != 0)
                    was_empty = false;
                close(tfd);
            }
            use_tmp = was_empty;
        } else {
            use_tmp = se == ENOENT;
        }
        cmh_status st;
        if (use_tmp &&
            (st = cmh__dest_tmp(x->ctx, dest, "extract", &x->work)))
            return st;
        x->out_ready = true;
    }
    *root = x->work ? x->work : dest;
    return CMH_OK;
}

/* Load the mirror of content @p cid (*root, its counts *c) and check it
 * hashes to its [Info] Hash @p hash (res->content_hash). */
static cmh_status load_mirror_checked(ext *x, const char *cid, const char *hash,
                                      cmh_node **root, cmh_tree_counts *c,
                                      cmh_extract_result *res)
{
    cmh_ctx *ctx = x->ctx;
    cmh_status st = cmh__mirror_load(ctx, &x->lib, cid, root, c);
    if (st != CMH_OK)
        return st;
    uint8_t h[CMH_SHA256_LEN];
    if (cmh__tree_hash(*root, false, ctx->sha256, h))
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    cmh_hex_upper(res->content_hash, h, sizeof h);
    if (strcmp(res->content_hash, hash))
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "the mirror %s/DataLib/%s hashes to %s, not to its "
                         "[Info] Hash %s; run cmhash verify",
                         x->lib.path, cid, res->content_hash, hash);
    return CMH_OK;
}

/* Make and open the folder the content is written into (x->out: the
 * output root, or with @p sub its sub-folder @p cid, kept in *subout) as
 * *dfd; *empty tells whether it held nothing. A folder that held entries
 * is refused without --force. */
static cmh_status open_out_dir(ext *x, const char *cid, bool sub, char **subout,
                               int *dfd, bool *empty)
{
    cmh_ctx *ctx = x->ctx;
    const char *oroot;
    cmh_status st = out_root(x, &oroot);
    if (st != CMH_OK)
        return st;
    if (sub && !(*subout = cmh__path_join(oroot, cid)))
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    x->out = sub ? *subout : oroot;
    int e = x->work && !sub ? 0 : cmh__mkdir_p(x->out);
    if (!e)
        e = (*dfd = open(x->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0
                ? errno
                : 0;
    if (e)
        return cmh__fail(ctx, CMH_E_IO, "cannot create or open %s: %s; %s",
                         x->dest, strerror(e), cmh__dest_hint(e));
    *empty = false;
    if ((e = dir_entries(*dfd, empty)) != 0)
        return cmh__fail_errno(ctx, CMH_E_IO, e, "cannot list %s", x->dest);
    if (!*empty && !(x->o->flags & CMH_EXTRACT_FORCE))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "%s is not empty; give an empty or new folder, or "
                         "--force to write into it",
                         x->dest);
    return CMH_OK;
}

/* Check the result as a snapshot would see it: names as created, bytes
 * as written (read back). With --force, DEST may hold other entries, so
 * the check is over what we wrote (hashes taken while copying). */
static cmh_status check_written(ext *x, const char *hash, bool empty,
                                cmh_extract_result *res)
{
    cmh_ctx *ctx = x->ctx;
    char got[CMH_HEX_SIZE];
    if (empty) {
        cmh_status st = cmh_hash_dir(got, ctx, x->out);
        if (st != CMH_OK)
            return st;
        if (strcmp(got, hash))
            return cmh__fail(ctx, CMH_E_IO,
                             "%s hashes to %s after extraction, not to %s; "
                             "the destination file system changed names or "
                             "bytes",
                             x->dest, got, hash);
        return CMH_OK;
    }
    /* --force into a folder that held entries: the tree as a whole is
     * verified only if it now holds exactly the content */
    if (!(cmh_hash_dir(got, ctx, x->out) == CMH_OK && !strcmp(got, hash)))
        res->tree_verified = 0;
    cmh__err_clear(ctx);
    return CMH_OK;
}

/* Load, check and write content @p cid (its [Info] Hash @p hash) into
 * x->dest, or with @p sub into x->dest/<cid> (@p check_only: only check
 * that it can be). */
static cmh_status extract_content(ext *x, const char *cid, const char *hash,
                                  bool sub, bool check_only,
                                  cmh_extract_result *res)
{
    cmh_node *root = NULL;
    char *subout = NULL;
    int dfd = -1;
    bool empty;
    cmh_status st;
    cmh_tree_counts c;
    if ((st = load_mirror_checked(x, cid, hash, &root, &c, res)) != CMH_OK)
        goto done;
    if ((st = check_present(x, root, cid)) != CMH_OK || check_only)
        goto done;
    x->files_total = c.files;
    x->bytes_total = c.bytes;
    x->files_done = x->bytes_done = 0;
    if ((st = open_out_dir(x, cid, sub, &subout, &dfd, &empty)) != CMH_OK)
        goto done;
    if ((st = write_dir(x, dfd, root, "")) != CMH_OK)
        goto done;
    x->files_done = x->files_total;
    tick(x);
    if ((st = check_written(x, hash, empty, res)) != CMH_OK)
        goto done;
    res->files += c.files;
    res->folders += c.folders;
    res->bytes += c.bytes;
done:
    if (dfd >= 0)
        close(dfd);
    free(subout);
    cmh__node_free(root);
    return st;
}

/* The contents a package ID stands for: its current version, or - for an
 * application or update package, which lists several - all it lists. */
static cmh_status package_contents(ext *x, const char *pkgid,
                                   cmh_pkgini *pi)
{
    char why[256];
    int e = cmh__pkgini_read(x->lib.pkglib_fd, pkgid, pi, why, sizeof why);
    if (e == ENOENT)
        return cmh__fail(x->ctx, CMH_E_LIBRARY,
                         "package %s is not in %s (no PkgLib/%s.INI); run "
                         "cmhash ls to see what is there", pkgid,
                         x->lib.path, pkgid);
    if (e || pi->nbad)
        return cmh__fail(x->ctx, CMH_E_LIBRARY,
                         "%s/PkgLib/%s.INI is damaged (%s); run cmhash "
                         "verify, then restore or remove it", x->lib.path,
                         pkgid, e ? why : pi->bad[0].why);
    char cur[64];
    cmh__pkgini_current(pi, cur);
    if (cmh_content_id_parse(NULL, NULL, cur) == CMH_CONTENT_PACKAGE) {
        snprintf(pi->ids[0], sizeof pi->ids[0], "%s", cur);
        pi->nids = 1;
    }
    if (!pi->nids)
        return cmh__fail(x->ctx, CMH_E_LIBRARY,
                         "package %s lists no content in %s/PkgLib/%s.INI",
                         pkgid, x->lib.path, pkgid);
    return CMH_OK;
}

/* A package with several contents (deployment types): DEST/<ContentID>/
 * each, all checked before any is written (no partial tree). */
static cmh_status extract_several(ext *x, const char *pkgid,
                                  const cmh_pkgini *pi, cmh_extract_result *res)
{
    char hash[CMH_HEX_SIZE], cid[CMH_CID_SIZE];
    char *sub = NULL;
    cmh_status st = CMH_OK;
    snprintf(res->content_id, sizeof res->content_id, "%s", pkgid);
    res->tree_verified = 1;
    for (size_t i = 0; i < 2 * pi->nids && !st; i++) {
        bool check = i < pi->nids;
        const char *id = pi->ids[i % pi->nids];
        if ((st = cmh__content_resolve(x->ctx, &x->lib, id, cid, hash)) !=
            CMH_OK)
            break;
        free(sub);
        if (!(sub = cmh__path_join(x->o->dest, cid))) {
            st = cmh__fail(x->ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        x->dest = sub;
        st = extract_content(x, cid, hash, true, check, res);
    }
    x->dest = x->o->dest;
    free(sub);
    res->content_hash[0] = 0;
    return st;
}

/* One content: the ID given, or a package's only content. */
static cmh_status extract_one(ext *x, const cmh_pkgini *pi,
                              cmh_extract_result *res)
{
    char hash[CMH_HEX_SIZE], cid[CMH_CID_SIZE];
    cmh_status st = cmh__content_resolve(
        x->ctx, &x->lib, pi->nids ? pi->ids[0] : x->o->id, cid, hash);
    if (st != CMH_OK)
        return st;
    snprintf(res->content_id, sizeof res->content_id, "%s", cid);
    res->tree_verified = 1;
    return extract_content(x, cid, hash, false, false, res);
}

cmh_status cmh_extract(cmh_extract_result *res, cmh_ctx *ctx,
                       const cmh_extract_opts *o)
{
    ext x;
    memset(&x, 0, sizeof x);
    memset(res, 0, sizeof *res);
    cmh__err_clear(ctx);
    x.ctx = ctx;
    x.o = o;
    x.t0 = cmh__now();
    cmh__library_init(&x.lib);
    cmh_pkgini pi;
    memset(&pi, 0, sizeof pi);
    char pkgid[CMH_PKGID_SIZE];
    cmh_status st =
        CMH__OPTS_CHECK(ctx, o, CMH_EXTRACT_OPTS_VERSION, "extract");
    if (st == CMH_OK && (!o->lib || !o->id || !o->dest || !o->dest[0]))
        st = cmh__fail(ctx, CMH_E_INVALID, "bad extract options");
    if (st == CMH_OK) {
        x.dest = o->dest;
        x.md = EVP_MD_CTX_new();
        x.buf = malloc(EXTRACT_BUF_SIZE);
        if (!x.md || !x.buf)
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    if (st == CMH_OK)
        st = cmh__library_open(ctx, &x.lib, o->lib, false);
    if (st == CMH_OK && cmh_pkgid_parse(pkgid, o->id) == CMH_OK)
        st = package_contents(&x, pkgid, &pi);
    if (st == CMH_OK)
        st = pi.nids > 1 ? extract_several(&x, pkgid, &pi, res)
                         : extract_one(&x, &pi, res);
    if (st == CMH_OK && x.work && rename(x.work, o->dest) != 0) {
        /* onto a missing or empty DEST */
        int e = errno;
        st = cmh__fail(ctx, CMH_E_IO,
                       "cannot move the extracted tree to %s: "
                       "%s; %s",
                       o->dest, strerror(e), cmh__dest_hint(e));
    }
    if (x.work) { /* a failed run into a temp folder: remove it */
        if (st != CMH_OK)
            cmh__tree_remove(AT_FDCWD, x.work);
        free(x.work);
    }
    cmh__pkgini_free(&pi);
    EVP_MD_CTX_free(x.md);
    free(x.buf);
    cmh__library_close(&x.lib);
    res->seconds = cmh__now() - x.t0;
    return st;
}
