/* cmh_ls: packages of a library with sizes and deduplication (ls.h). */
#include "grow.h"
#include "tree_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmhash/ls.h>

typedef struct stored {
    uint8_t sha[CMH_SHA256_LEN];
    uint64_t size;
} stored;

typedef struct stored_vec {
    stored *v;
    size_t n, cap;
} stored_vec;

static bool stored_push(stored_vec *s, const uint8_t *sha, uint64_t size)
{
    if (!cmh__grow(&s->v, &s->cap, s->n + 1, sizeof *s->v, 256))
        return false;
    memcpy(s->v[s->n].sha, sha, CMH_SHA256_LEN);
    s->v[s->n++].size = size;
    return true;
}

static int stored_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CMH_SHA256_LEN);
}

/* sort and drop duplicate hashes */
static void stored_unique(stored_vec *s)
{
    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof *s->v, stored_cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (memcmp(s->v[k - 1].sha, s->v[i].sha, CMH_SHA256_LEN))
            s->v[k++] = s->v[i];
    s->n = k;
}

static bool collect(const cmh_node *d, stored_vec *s)
{
    for (size_t i = 0; i < d->nfiles; i++)
        if (!stored_push(s, d->files[i]->sha, d->files[i]->size))
            return false;
    for (size_t i = 0; i < d->ndirs; i++)
        if (!collect(d->dirs[i], s))
            return false;
    return true;
}

static int pkgid_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct ls_run {
    cmh_ctx *ctx;
    const cmh_ls_opts *o;
    cmh_library lib;
    stored_vec all;
} ls_run;

static int files_cb(ls_run *r, const cmh_ls_package *p, const cmh_node *d,
                    const char *rel)
{
    for (size_t i = 0; i < d->nfiles; i++) {
        const cmh_node *n = d->files[i];
        char *path = rel[0] ? cmh__path_join(rel, n->name)
                            : cmh__strdup(n->name);
        char hex[CMH_HEX_SIZE];
        if (!path)
            return -1;
        cmh_hex_upper(hex, n->sha, CMH_SHA256_LEN);
        cmh_ls_file f = {path, n->size, n->attrs,
                         cmh__filetime_from_ns(n->mtime_ns), hex};
        int rc = r->o->file.cb(p, &f, r->o->file.payload);
        free(path);
        if (rc)
            return 1;
    }
    for (size_t i = 0; i < d->ndirs; i++) {
        char *sub = rel[0] ? cmh__path_join(rel, d->dirs[i]->name)
                           : cmh__strdup(d->dirs[i]->name);
        if (!sub)
            return -1;
        int rc = files_cb(r, p, d->dirs[i], sub);
        free(sub);
        if (rc)
            return rc;
    }
    return 0;
}

/* What one_content loads of one content, freed by content_view_free. */
typedef struct content_view {
    cmh_pkg_info info;
    char hash[CMH_HEX_SIZE], cid[CMH_CID_SIZE];
    cmh_node *root;    /* its mirror */
    cmh_tree_counts c; /* ... and its counts */
    cmh_reflist kept;  /* the package's kept contents (--keep) */
    stored_vec mine;   /* FileLib entries of it and the kept ones */
} content_view;

static void content_view_free(content_view *v)
{
    free(v->mine.v);
    cmh__reflist_free(&v->kept);
    cmh__node_free(v->root);
}

/* Load content @p content of version @p version (NULL: the package's
 * current version): resolve it, load its mirror and the kept list. */
static cmh_status load_content(ls_run *r, const char *pkgid,
                               const char *content, uint32_t version,
                               content_view *v)
{
    cmh_ctx *ctx = r->ctx;
    cmh_status st = CMH_OK;
    if (content) {
        v->info.version = version;
        snprintf(v->info.cid, sizeof v->info.cid, "%s", content);
    } else {
        st = cmh__pkglib_read(ctx, &r->lib, pkgid, &v->info);
    }
    if (st == CMH_OK && !v->info.cid[0])
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s/PkgLib/%s.INI lists no "
                       "content",
                       r->lib.path, pkgid);
    if (st == CMH_OK)
        st = cmh__content_resolve(ctx, &r->lib, v->info.cid, v->cid, v->hash);
    if (st == CMH_OK)
        st = cmh__mirror_load(ctx, &r->lib, v->cid, &v->root, &v->c);
    if (st == CMH_OK)
        st = cmh__pkglib_kept(ctx, &r->lib, pkgid, &v->kept);
    return st;
}

/* Kept versions (snapshot --keep) hold FileLib entries too: they count in
 * the stored bytes and the library totals (a kept mirror that cannot be
 * read is verify's to report). Adds their entries to v->mine and their
 * logical bytes and files to *bytes, *files. */
static cmh_status collect_kept(ls_run *r, content_view *v, uint64_t *bytes,
                               uint64_t *files)
{
    cmh_ctx *ctx = r->ctx;
    for (size_t k = 0; k < v->kept.n; k++) {
        cmh_node *kroot = NULL;
        cmh_tree_counts kc;
        if (cmh__mirror_load(ctx, &r->lib, v->kept.ids[k], &kroot, &kc) ==
            CMH_OK) {
            *bytes += kc.bytes; /* logical bytes of the totals too */
            *files += kc.files;
            bool okc = collect(kroot, &v->mine);
            cmh__node_free(kroot);
            if (!okc)
                return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        }
        cmh__err_clear(ctx);
    }
    return CMH_OK;
}

/* The row of a loaded content: its distinct FileLib entries, the bytes
 * FileLib really holds for them (into the library's list too), and the
 * library totals. */
static cmh_status measure_content(ls_run *r, content_view *v, cmh_ls_package *p,
                                  cmh_ls_result *res)
{
    cmh_ctx *ctx = r->ctx;
    if (!collect(v->root, &v->mine))
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    uint64_t kept_bytes = 0, kept_files = 0;
    cmh_status st = collect_kept(r, v, &kept_bytes, &kept_files);
    if (st)
        return st;
    stored_unique(&v->mine);
    p->version = v->info.version;
    p->content_id = v->cid;
    p->content_hash = v->hash;
    p->files = v->c.files;
    p->folders = v->c.folders;
    p->bytes = v->c.bytes;
    p->distinct_files = v->mine.n;
    for (size_t i = 0; i < v->mine.n; i++) {
        stored *m = &v->mine.v[i];
        char rel[CMH_FILELIB_REL_SIZE];
        struct stat sb;
        cmh__filelib_rel(rel, m->sha, "");
        /* the bytes FileLib really holds (0 if the entry is missing) */
        m->size = cmh__filelib_find(&r->lib, rel, &sb, NULL) >= 0
                      ? (uint64_t)sb.st_size
                      : 0; /* on every root of a spanned library */
        p->stored_bytes += m->size;
        if (!stored_push(&r->all, m->sha, m->size))
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    p->kept = (const char *const *)v->kept.ids;
    p->nkept = v->kept.n;
    res->files += v->c.files + kept_files;
    res->bytes += v->c.bytes + kept_bytes;
    return CMH_OK;
}

/* Hand the row to the package callback, then (--files, not damaged) its
 * files to the file callback. */
static cmh_status report_content(ls_run *r, const cmh_ls_package *p,
                                 const cmh_node *root, bool first,
                                 cmh_ls_result *res)
{
    cmh_ctx *ctx = r->ctx;
    if (first)
        res->packages++;
    if (r->o->package.cb && r->o->package.cb(p, r->o->package.payload))
        return cmh__fail(ctx, CMH_E_CANCELED, "canceled");
    if (root && !p->problem && (r->o->flags & CMH_LS_FILES) && r->o->file.cb) {
        int rc = files_cb(r, p, root, "");
        if (rc < 0)
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        if (rc > 0)
            return cmh__fail(ctx, CMH_E_CANCELED, "canceled");
    }
    return CMH_OK;
}

/* One content of a package: @p content (of version @p version), or NULL
 * for the package's current version. Returns CMH_OK also when it is
 * damaged (reported through the callback with a problem). */
static cmh_status one_content(ls_run *r, const char *pkgid, const char *content,
                              uint32_t version, bool first, cmh_ls_result *res)
{
    cmh_ctx *ctx = r->ctx;
    cmh_ls_package p;
    memset(&p, 0, sizeof p);
    p.pkgid = pkgid;
    content_view v;
    memset(&v, 0, sizeof v);
    char problem[CMH_ERRMSG_SIZE] = "";
    cmh_status st = load_content(r, pkgid, content, version, &v);
    if (st != CMH_OK && st != CMH_E_NOMEM) {
        /* a damaged content is a row with its problem */
        snprintf(problem, sizeof problem, "%s", cmh__err_msg(ctx));
        cmh__err_clear(ctx);
        p.problem = problem;
        res->damaged++;
        st = CMH_OK;
    } else if (st == CMH_OK) {
        st = measure_content(r, &v, &p, res);
    }
    if (st == CMH_OK)
        st = report_content(r, &p, v.root, first, res);
    content_view_free(&v);
    return st;
}

/* One package: one row per content of an application or update package
 * (one per deployment type), else its current version. */
static cmh_status one_package(ls_run *r, const char *pkgid,
                              cmh_ls_result *res)
{
    cmh_pkgini pi;
    char why[256];
    size_t other = 0;
    int e = cmh__pkgini_read(r->lib.pkglib_fd, pkgid, &pi, why, sizeof why);
    for (size_t i = 0; !e && i < pi.nids; i++)
        if (cmh_content_id_parse(NULL, NULL, pi.ids[i]) != CMH_CONTENT_PACKAGE)
            other++;
    cmh_status st = CMH_OK;
    if (e || pi.nbad || !other || other != pi.nids)
        st = one_content(r, pkgid, NULL, 0, true, res);
    else
        for (size_t i = 0; i < pi.nids && !st; i++)
            st = one_content(r, pkgid, pi.ids[i], pi.version, i == 0, res);
    cmh__pkgini_free(&pi);
    return st;
}

/* Every package ID with a PkgLib INI, sorted. */
static cmh_status list_packages(ls_run *r, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int dup_fd = dup(r->lib.pkglib_fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return cmh__fail_errno(r->ctx, CMH_E_IO, errno,
                               "cannot list %s/PkgLib", r->lib.path);
    }
    rewinddir(d);
    char **v = NULL;
    size_t nv = 0, cap = 0;
    cmh_status st = CMH_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char stem[CMH_PKGID_SIZE], id[CMH_PKGID_SIZE];
        if (len != 12 || strcasecmp(de->d_name + 8, ".INI"))
            continue;
        memcpy(stem, de->d_name, 8);
        stem[8] = 0;
        if (cmh_pkgid_parse(id, stem) != CMH_OK || strcmp(id, stem))
            continue;
        if (!cmh__grow(&v, &cap, nv + 1, sizeof *v, 32)) {
            st = cmh__fail(r->ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        if (!(v[nv] = cmh__strdup(id))) {
            st = cmh__fail(r->ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        nv++;
    }
    closedir(d);
    if (nv > 1)
        qsort(v, nv, sizeof *v, pkgid_cmp);
    *out = v;
    *n = nv;
    return st;
}

cmh_status cmh_ls(cmh_ls_result *res, cmh_ctx *ctx, const cmh_ls_opts *o)
{
    memset(res, 0, sizeof *res);
    res->dedup_ratio = 1.0;
    cmh__err_clear(ctx);
    cmh_status vst = CMH__OPTS_CHECK(ctx, o, CMH_LS_OPTS_VERSION, "ls");
    if (vst)
        return vst;
    if (!o->lib || (o->npkgids && !o->pkgids))
        return cmh__fail(ctx, CMH_E_INVALID, "bad ls options");
    ls_run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.o = o;
    cmh__library_init(&r.lib);
    char **ids = NULL;
    size_t nids = 0;
    cmh_status st = CMH_OK;
    if (o->npkgids) {
        /* validate every ID before opening anything */
        ids = calloc(o->npkgids, sizeof *ids);
        if (!ids)
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        for (size_t i = 0; i < o->npkgids; i++) {
            char id[CMH_PKGID_SIZE];
            if (cmh_pkgid_parse(id, o->pkgids[i]) != CMH_OK) {
                st = cmh__fail(ctx, CMH_E_INVALID,
                               "'%s' is not a package ID: expected a "
                               "3-character site code and 5 hex digits, "
                               "e.g. MSC0000B", o->pkgids[i]);
                goto done;
            }
            if (!(ids[nids++] = cmh__strdup(id))) {
                st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
                goto done;
            }
        }
    }
    if ((st = cmh__library_open(ctx, &r.lib, o->lib, false)) != CMH_OK)
        goto done;
    if (o->npkgids) {
        for (size_t i = 0; i < nids; i++) {
            char name[32];
            struct stat sb;
            snprintf(name, sizeof name, "%s.INI", ids[i]);
            if (fstatat(r.lib.pkglib_fd, name, &sb, 0) != 0) {
                st = cmh__fail(ctx, CMH_E_LIBRARY,
                               "package %s is not in %s (no PkgLib/%s); run "
                               "cmhash ls to see what is there", ids[i],
                               o->lib, name);
                goto done;
            }
        }
    } else if ((st = list_packages(&r, &ids, &nids)) != CMH_OK) {
        goto done;
    }
    for (size_t i = 0; i < nids && st == CMH_OK; i++)
        st = one_package(&r, ids[i], res);
    if (st == CMH_OK) {
        stored_unique(&r.all);
        res->stored_files = r.all.n;
        for (size_t i = 0; i < r.all.n; i++)
            res->stored_bytes += r.all.v[i].size;
        if (res->stored_bytes)
            res->dedup_ratio = (double)res->bytes / (double)res->stored_bytes;
    }
done:
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    free(r.all.v);
    cmh__library_close(&r.lib);
    return st;
}
