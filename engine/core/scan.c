/* Scan: walk a source folder and hash its files, without a library
 * (cmh_hash_dir, cmh__hash_dir_tree, cmh_hash_file, cmh_sig_file), and the
 * source checks a snapshot shares with them (scan.h). */
#include "scan.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmhash/hash.h>

#include "os/os.h"

cmh_status cmh__scan_check_source(cmh_ctx *ctx, const char *src)
{
    struct stat sb;
    if (stat(src, &sb) != 0) {
        int e = errno;
        if (e == ENOENT)
            return cmh__fail(ctx, CMH_E_SOURCE,
                             "source %s does not exist; check the path (and "
                             "--unc-root for UNC paths)", src);
        return cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                               "cannot access source %s", src);
    }
    if (!S_ISDIR(sb.st_mode))
        return cmh__fail(ctx, CMH_E_SOURCE,
                         "source %s is not a folder; give the package's "
                         "source folder", src);
    return CMH_OK;
}

cmh_status cmh__scan_check_names(cmh_ctx *ctx, const cmh_node *root,
                                 const char *cid, const char *source,
                                 bool hash_only)
{
    cmh_buf b;
    cmh__buf_init(&b);
    size_t n = cmh__walk_check_names(root, cid, &b);
    cmh_status st = CMH_OK;
    if (n) {
        if (b.len && b.data[b.len - 1] == '\n')
            b.data[--b.len] = 0;
        char head[CMH_PATH_HEAD];
        snprintf(head, sizeof head, "%.900s has %zu name(s) a Windows "
                 "distribution point cannot hold", source, n);
        st = cmh__fail_list(ctx, CMH_E_SOURCE, head, cmh__buf_str(&b),
                            hash_only ? "a snapshot would refuse this "
                                        "folder; rename them"
                                      : "rename them and run again");
    }
    cmh__buf_free(&b);
    return st;
}

/* The symbolic links of @p w: quoted, the first few on the line, all in
 * the detail. */
static cmh_status links_fail(cmh_ctx *ctx, cmh_walk *w, const char *source,
                             bool hash_only)
{
    cmh_buf list;
    cmh__buf_init(&list);
    const char *p = cmh__buf_str(&w->links);
    for (const char *q; *p; p = q + 1) {
        q = strchr(p, '\n');
        cmh__buf_addf(&list, "%s'%.*s'", list.len ? "\n" : "", (int)(q - p),
                     p);
    }
    char head[CMH_PATH_HEAD];
    snprintf(head, sizeof head, "%.900s holds %zu symbolic link(s), "
             "which are not stored", source, w->nlinks);
    cmh_status st = cmh__fail_list(
        ctx, CMH_E_SOURCE, head, cmh__buf_str(&list),
        hash_only ? "a snapshot would refuse this folder; replace "
                    "them with real files"
                  : "replace them with real files or pass "
                    "--skip-links");
    cmh__buf_free(&list);
    return st;
}

cmh_status cmh__scan_walk(cmh_ctx *ctx, cmh_walk *w, const char *source,
                          bool allow_links, bool hash_only,
                          int (*tick)(void *), void *arg)
{
    int e = cmh__walk_run(w, tick, arg);
    if (e == ECANCELED)
        return cmh__fail(ctx, CMH_E_CANCELED,
                         "canceled while listing %s; nothing was written, "
                         "run it again to finish", source);
    if (e) {
        const char *rel = w->err_path ? w->err_path : "";
        if (e == ENOMEM)
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        return cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                               "cannot list %s%s%s; check permissions and "
                               "that it still exists",
                               source, rel[0] ? "/" : "", rel);
    }
    if (w->nlinks && !allow_links)
        return links_fail(ctx, w, source, hash_only);
    return CMH_OK;
}

cmh_status cmh__scan_read_error(int e, const cmh_stream_res *r,
                                const char *path, const char *libpath,
                                char *msg, size_t msz)
{
    if (r->changed) {
        snprintf(msg, msz, "%s changed while it was read; run the snapshot "
                 "again when the source is no longer being written", path);
        return CMH_E_SOURCE;
    }
    if (r->write_err) {
        snprintf(msg, msz, "cannot write in %s/FileLib: %s; %s", libpath,
                 strerror(e), cmh__write_hint(e));
        return cmh__status_for_write_errno(e);
    }
    if (e == ENOENT) {
        snprintf(msg, msz, "%s vanished during the snapshot; run it again "
                 "when the source is stable", path);
        return CMH_E_SOURCE;
    }
    if (e == EACCES || e == EPERM) {
        snprintf(msg, msz, "cannot read %s: %s; give this user read access "
                 "or remove the file from the source", path, strerror(e));
        return CMH_E_SOURCE;
    }
    snprintf(msg, msz, "cannot read %s: %s; check the source's disk or "
             "share", path, strerror(e));
    return e == ENOMEM ? CMH_E_NOMEM : CMH_E_IO;
}

/* ---- a folder hashed in parallel (no library) ---- */

typedef struct scan {
    cmh_ctx *ctx;
    const char *source;
    cmh_walk walk;
    cmh_pool *pool;
    /* First worker failure: written under mu by workers, read by the main
     * thread after cmh__pool_wait. */
    pthread_mutex_t mu;
    cmh_status wst;
    char werr[CMH_ERRMSG_SIZE];
} scan;

static void *worker_make(void *arg)
{
    scan *s = arg;
    return cmh__worker_new(s->ctx->sha256);
}

static void worker_free(void *st)
{
    cmh__worker_free(st);
}

static void hash_fail(scan *s, cmh_status st, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    if (s->wst == CMH_OK) {
        s->wst = st;
        snprintf(s->werr, sizeof s->werr, "%s", msg);
    }
    pthread_mutex_unlock(&s->mu);
    cmh__pool_cancel(s->pool);
}

static void hash_task(void *tk, void *state, void *arg)
{
    cmh_node *n = tk;
    cmh_worker *w = state;
    scan *s = arg;
    if (cmh__pool_canceled(s->pool))
        return;
    char *rel = cmh__node_relpath(n);
    char *path = rel ? cmh__path_join(s->source, rel) : NULL;
    if (!path) {
        hash_fail(s, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    cmh_stream_out so = {.data_fd = -1, .sig_fd = -1};
    cmh_stream_res r;
    int e = cmh__stream_fileat(w, AT_FDCWD, path, n->name, n->size,
                              n->mtime_ns, &so, NULL, &r, NULL,
                              cmh__pool_cancel_flag(s->pool));
    if (e) {
        char msg[CMH_ERRMSG_SIZE];
        if (e != ECANCELED)
            hash_fail(s, cmh__scan_read_error(e, &r, path, "", msg,
                                              sizeof msg), msg);
        goto out;
    }
    n->attrs = r.attrs;
    memcpy(n->sha, r.sha, sizeof n->sha);
    memcpy(n->sig_sha, r.sig_sha, sizeof n->sig_sha);
out:
    free(rel);
    free(path);
}

cmh_status cmh__scan_run(cmh_ctx *ctx, cmh_pool *pool, const cmh_walk *w,
                         cmh_task_fn task, void *arg, int (*tick)(void *),
                         const cmh_status *wst, const char *werr,
                         const char *source)
{
    for (size_t i = 0; i < w->nfiles; i++) {
        if (cmh__pool_push(pool, task, w->files[i], arg)) {
            cmh__pool_cancel(pool);
            cmh__pool_wait(pool, 0.1, NULL, NULL);
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        }
    }
    cmh__pool_wait(pool, 0.1, tick, arg);
    if (*wst != CMH_OK)
        return cmh__fail(ctx, *wst, "%s", werr);
    if (cmh__pool_canceled(pool))
        return cmh__fail(ctx, CMH_E_CANCELED,
                         "canceled while reading %s; nothing was written, "
                         "run it again to finish", source);
    return CMH_OK;
}

/* strict: what a snapshot would refuse is refused (symbolic links, names
 * Windows cannot hold), so `hash` never prints a hash for a folder that
 * cannot become a content. */
static cmh_status hash_dir_tree(cmh_ctx *ctx, const char *path,
                                cmh_node **out, bool strict)
{
    *out = NULL;
    scan s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.source = path;
    cmh__err_clear(ctx);
    pthread_mutex_init(&s.mu, NULL);
    cmh_status st = cmh__scan_check_source(ctx, path);
    if (st)
        goto done;
    if (cmh__pool_new(&s.pool, cmh__online_cpus(), worker_make, worker_free,
                     &s)) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "cannot start threads");
        goto done;
    }
    s.walk.root_path = path;
    s.walk.pool = s.pool;
    s.walk.skip_links = !strict;
    if ((st = cmh__scan_walk(ctx, &s.walk, path, !strict, strict, NULL,
                             NULL)) != CMH_OK)
        goto done;
    /* the longest content ID of a package sizes the mirror paths */
    if (strict && (st = cmh__scan_check_names(ctx, s.walk.root,
                                              "XXX00000.999999999", path,
                                              true)) != CMH_OK)
        goto done;
    if ((st = cmh__scan_run(ctx, s.pool, &s.walk, hash_task, &s, NULL,
                            &s.wst, s.werr, path)) != CMH_OK)
        goto done;
    *out = s.walk.root;
    s.walk.root = NULL;
done:
    cmh__pool_free(s.pool);
    cmh__walk_free(&s.walk);
    pthread_mutex_destroy(&s.mu);
    return st;
}

cmh_status cmh_hash_dir(char out[CMH_HEX_SIZE], cmh_ctx *ctx, const char *path)
{
    cmh_node *root = NULL;
    cmh_status st = hash_dir_tree(ctx, path, &root, true);
    if (st == CMH_OK) {
        uint8_t h[CMH_SHA256_LEN];
        if (cmh__tree_hash(root, false, ctx->sha256, h))
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        else
            cmh_hex_upper(out, h, sizeof h);
    }
    cmh__node_free(root);
    return st;
}

cmh_status cmh__hash_dir_tree(cmh_ctx *ctx, const char *path, cmh_node **out)
{
    return hash_dir_tree(ctx, path, out, false);
}

/* ---- one file ---- */

cmh_status cmh_hash_file(char out[CMH_HEX_SIZE], cmh_ctx *ctx, const char *path)
{
    cmh__err_clear(ctx);
    cmh_worker *w = cmh__worker_new(ctx->sha256);
    if (!w)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    const char *slash = strrchr(path, '/');
    cmh_stream_res r;
    int e = cmh__stream_file(w, path, slash ? slash + 1 : path, UINT64_MAX,
                            INT64_MIN, NULL, &r, NULL, NULL);
    cmh__worker_free(w);
    if (e) {
        if (r.changed && e == ESTALE)
            return cmh__fail(ctx, CMH_E_SOURCE,
                             "%s is not a regular file or changed while it "
                             "was read", path);
        return cmh__fail_errno(ctx, e == ENOENT || e == EACCES
                                        ? CMH_E_SOURCE
                                        : CMH_E_IO,
                               e, "cannot read %s", path);
    }
    cmh_hex_upper(out, r.sha, CMH_SHA256_LEN);
    return CMH_OK;
}

cmh_status cmh_sig_file(cmh_ctx *ctx, const char *path, const char *out_path)
{
    cmh__err_clear(ctx);
    cmh_worker *w = cmh__worker_new(ctx->sha256);
    if (!w)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    char *dir = cmh__strdup(out_path);
    if (!dir) {
        cmh__worker_free(w);
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    const char *base = out_path;
    if (slash) {
        *slash = 0;
        base = out_path + (slash - dir) + 1;
    }
    int dfd = -1;
    cmh_status st = CMH_OK;
    char tmp[64] = "";
    int e = cmh__os_open_dir(AT_FDCWD, slash ? (dir[0] ? dir : "/") : ".",
                            &dfd);
    if (e) {
        st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot open folder of %s",
                             out_path);
        goto out;
    }
    cmh__tmp_name(tmp, sizeof tmp, NULL);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        tmp[0] = 0;
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write %s",
                             out_path);
        goto out;
    }
    cmh_stream_out so = {.data_fd = -1, .sig_fd = fd};
    cmh_stream_res r;
    const char *ps = strrchr(path, '/');
    e = cmh__stream_file(w, path, ps ? ps + 1 : path, UINT64_MAX, INT64_MIN,
                        &so, &r, NULL, NULL);
    if (close(fd) != 0 && !e)
        e = errno;
    if (e) {
        st = cmh__fail_errno(ctx, r.write_err ? CMH_E_IO : CMH_E_SOURCE, e,
                             "cannot sign %s", path);
        goto out;
    }
    if (renameat(dfd, tmp, dfd, base) != 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write %s",
                             out_path);
        goto out;
    }
    tmp[0] = 0;
out:
    if (tmp[0])
        unlinkat(dfd, tmp, 0);
    if (dfd >= 0)
        close(dfd);
    free(dir);
    cmh__worker_free(w);
    return st;
}
