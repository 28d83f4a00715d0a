/* cmh_dp_status and the library watch (dpstatus.h). */
#include "tree_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmhash/dpstatus.h>
#include <cmhash/verify.h>

#include "os/os.h"

/* What one library holds of the package: its contents (the current
 * version of a package, or every content an application or update
 * package lists) with their content hashes. */
typedef struct one_lib {
    uint32_t version;
    char (*cids)[CMH_CID_SIZE];
    char (*hashes)[CMH_HEX_SIZE];
    size_t n;
    bool absent; /* no PkgLib INI for the package (not: a damaged one) */
    char problem[CMH_ERRMSG_SIZE];
} one_lib;

static void one_lib_free(one_lib *o)
{
    free(o->cids);
    free(o->hashes);
}

static void read_version(cmh_ctx *ctx, const char *path, const char *pkgid,
                         one_lib *o)
{
    cmh_library l;
    cmh__library_init(&l);
    cmh_pkg_info info;
    cmh_pkgini pi;
    memset(&pi, 0, sizeof pi);
    char why[256];
    if (cmh__library_open(ctx, &l, path, false) != CMH_OK ||
        cmh__pkglib_read(ctx, &l, pkgid, &info) != CMH_OK) {
        snprintf(o->problem, sizeof o->problem, "%s", cmh__err_msg(ctx));
    } else if (!info.cid[0]) {
        o->absent = true;
        snprintf(o->problem, sizeof o->problem,
                 "package %s is not in %s", pkgid, path);
    } else if (cmh__pkgini_read(l.pkglib_fd, pkgid, &pi, why, sizeof why)) {
        snprintf(o->problem, sizeof o->problem, "%s/PkgLib/%s.INI: %s",
                 path, pkgid, why);
    } else {
        o->version = info.version;
        bool pkg =
            cmh_content_id_parse(NULL, NULL, info.cid) == CMH_CONTENT_PACKAGE;
        size_t n = pkg ? 1 : pi.nids;
        o->cids = calloc(n, sizeof *o->cids);
        o->hashes = calloc(n, sizeof *o->hashes);
        if (!o->cids || !o->hashes) {
            snprintf(o->problem, sizeof o->problem, "out of memory");
        } else {
            o->n = n;
            for (size_t i = 0; i < n; i++) {
                snprintf(o->cids[i], CMH_CID_SIZE, "%s",
                         pkg ? info.cid : pi.ids[i]);
                /* compared by content hash, not by version number */
                (void)cmh__content_ini_hash(&l, o->cids[i], o->hashes[i],
                                           why, sizeof why);
            }
        }
    }
    cmh__pkgini_free(&pi);
    cmh__err_clear(ctx);
    cmh__library_close(&l);
}

/* Does @p o hold every content of @p t with the same content hash? */
static bool holds_target(const one_lib *o, const one_lib *t, char *problem,
                         size_t psize)
{
    for (size_t i = 0; i < t->n; i++) {
        size_t k = 0;
        while (k < o->n && !cmh__cid_equal(o->cids[k], t->cids[i]))
            k++;
        if (k == o->n) {
            snprintf(problem, psize, "does not hold %s", t->cids[i]);
            return false;
        }
        if (strcmp(o->hashes[k], t->hashes[i])) {
            snprintf(problem, psize, "holds %s with content hash %.16s..., "
                     "not %.16s...", t->cids[i],
                     o->hashes[k][0] ? o->hashes[k] : "(none)",
                     t->hashes[i]);
            return false;
        }
    }
    return true;
}

/* One library's contents checked by verify's engine (issue 13): the full
 * check hashes every file; --quick is verify's index-only mode (layout,
 * sizes, references, INIs and the content hash over the mirror; no file
 * data read). One run covers every content the library holds. */
typedef struct vstate {
    bool quick;
    bool ok;
    char message[512]; /* the first content that is not valid */
    char first[512];   /* the first error finding */
} vstate;

static int on_finding(const cmh_verify_finding *f, void *payload)
{
    vstate *s = payload;
    if (f->severity == CMH_SEV_ERROR && !s->first[0])
        snprintf(s->first, sizeof s->first, "%s %s", f->code_name, f->path);
    return 0;
}

static int on_content(const cmh_verify_content *c, void *payload)
{
    vstate *s = payload;
    bool valid = c->status == CMH_CSTATUS_VALIDATED ||
                 (s->quick && c->status == CMH_CSTATUS_INCOMPLETE);
    if (!valid && s->ok) {
        s->ok = false;
        snprintf(s->message, sizeof s->message, "%s", c->message);
    }
    return 0;
}

static bool lib_check(cmh_ctx *ctx, const char *path, const one_lib *l,
                      bool quick, char *problem, size_t psize)
{
    if (!l->n)
        return true; /* nothing to check (no IDs would mean: everything) */
    const char **ids = calloc(l->n, sizeof *ids);
    if (!ids) {
        snprintf(problem, psize, "out of memory");
        return false;
    }
    for (size_t i = 0; i < l->n; i++)
        ids[i] = l->cids[i];
    cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
    vstate s = {quick, true, "", ""};
    o.lib = path;
    o.ids = ids;
    o.nids = l->n;
    o.flags = quick ? CMH_VERIFY_INDEX_ONLY : 0;
    o.finding = (cmh_verify_finding_hook){on_finding, &s};
    o.content = (cmh_verify_content_hook){on_content, &s};
    cmh_verify *v = NULL;
    cmh_status st = cmh_verify_new(&v, ctx, &o);
    if (st == CMH_OK)
        st = cmh_verify_run(v);
    bool ok = st == CMH_OK && s.ok && cmh_verify_get_summary(v)->errors == 0;
    if (st != CMH_OK)
        snprintf(problem, psize, "%s", cmh__err_msg(ctx));
    else if (!ok && s.first[0])
        snprintf(problem, psize, "%s (%s)",
                 s.message[0] ? s.message : "verify found errors", s.first);
    else if (!ok)
        snprintf(problem, psize, "%s",
                 s.message[0] ? s.message : "verify found errors");
    cmh_verify_free(v);
    free(ids);
    cmh__err_clear(ctx);
    return ok;
}

cmh_status cmh_dp_status(cmh_dp_result *res, cmh_ctx *ctx, const cmh_dp_opts *o)
{
    memset(res, 0, sizeof *res);
    cmh__err_clear(ctx);
    char pkgid[CMH_PKGID_SIZE];
    cmh_status vst = CMH__OPTS_CHECK(ctx, o, CMH_DP_OPTS_VERSION, "dp_status");
    if (vst)
        return vst;
    if (!o->nlibs || !o->libs)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "status needs a package ID and at least one "
                         "library");
    if (!o->pkgid || cmh_pkgid_parse(pkgid, o->pkgid) != CMH_OK)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "'%s' is not a package ID: expected a 3-character "
                         "site code and 5 hex digits, e.g. MSC0000B",
                         o->pkgid ? o->pkgid : "");
    snprintf(res->pkgid, sizeof res->pkgid, "%s", pkgid);
    one_lib *v = calloc(o->nlibs, sizeof *v);
    if (!v)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    const one_lib *target = NULL; /* the highest version's contents */
    for (size_t i = 0; i < o->nlibs; i++) {
        read_version(ctx, o->libs[i], pkgid, &v[i]);
        if (v[i].n && (!target || v[i].version > res->target_version)) {
            res->target_version = v[i].version;
            target = &v[i];
        }
    }
    cmh_status st = CMH_OK;
    res->targeted = (uint32_t)o->nlibs;
    for (size_t i = 0; i < o->nlibs; i++) {
        cmh_dp_lib x = {o->libs[i], v[i].version, v[i].n ? v[i].cids[0] : "",
                        0, 0, NULL, v[i].absent};
        if (!v[i].problem[0] && v[i].version != res->target_version &&
            cmh_content_id_parse(NULL, NULL, target->cids[0]) ==
                CMH_CONTENT_PACKAGE)
            snprintf(v[i].problem, sizeof v[i].problem,
                     "holds version %u, not %u", v[i].version,
                     res->target_version);
        else if (!v[i].problem[0] && target)
            holds_target(&v[i], target, v[i].problem, sizeof v[i].problem);
        if (!v[i].problem[0]) {
            x.present = 1;
            x.valid = lib_check(ctx, o->libs[i], &v[i],
                                (o->flags & CMH_DP_QUICK) != 0, v[i].problem,
                                sizeof v[i].problem);
        }
        x.problem = v[i].problem[0] ? v[i].problem : NULL;
        if (x.valid)
            res->installed++;
        if (o->lib.cb && o->lib.cb(&x, o->lib.payload)) {
            st = cmh__fail(ctx, CMH_E_CANCELED, "canceled");
            break;
        }
    }
    res->distributed = res->installed == res->targeted;
    for (size_t i = 0; i < o->nlibs; i++)
        one_lib_free(&v[i]);
    free(v);
    return st;
}

/* ---- watch ---- */

/* Folders watched per library. */
static const char *const watched[] = {"PkgLib", "DataLib", "FileLib"};
#define NWATCHED 3
/* After a change, the libraries must be quiet this long before the wait
 * returns: a snapshot's commit and retirement touch several folders within
 * a few milliseconds. */
#define QUIET_SECONDS 0.1

struct cmh_dp_watch {
    int fd;          /* cmh__os_watch_open, -1 = polling */
    char **paths;    /* lib/<watched>, nlibs * NWATCHED */
    size_t npaths;
    int64_t *mtimes; /* polling: last seen folder mtimes (ns) */
};

static int64_t mtime_ns(const char *p)
{
    struct stat sb;
    if (stat(p, &sb) != 0)
        return -1;
    return (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
}

cmh_status cmh_dp_watch_new(cmh_dp_watch **out, int *polling, cmh_ctx *ctx,
                            const char *const *libs, size_t nlibs)
{
    *out = NULL;
    cmh_dp_watch *w = calloc(1, sizeof *w);
    if (!w)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    w->fd = -1;
    w->npaths = nlibs * NWATCHED;
    w->paths = calloc(w->npaths ? w->npaths : 1, sizeof *w->paths);
    w->mtimes = calloc(w->npaths ? w->npaths : 1, sizeof *w->mtimes);
    if (!w->paths || !w->mtimes) {
        cmh_dp_watch_free(w);
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < w->npaths; i++) {
        w->paths[i] = cmh__path_join(libs[i / NWATCHED], watched[i % NWATCHED]);
        if (!w->paths[i]) {
            cmh_dp_watch_free(w);
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        }
        w->mtimes[i] = mtime_ns(w->paths[i]);
    }
    w->fd = cmh__os_watch_open();
    for (size_t i = 0; w->fd >= 0 && i < w->npaths; i++)
        /* a library that does not exist yet is polled by its mtime -1 */
        cmh__os_watch_add(w->fd, w->paths[i]);
    *polling = w->fd < 0;
    *out = w;
    return CMH_OK;
}

static bool poll_changed(cmh_dp_watch *w)
{
    bool changed = false;
    for (size_t i = 0; i < w->npaths; i++) {
        int64_t m = mtime_ns(w->paths[i]);
        if (m != w->mtimes[i]) {
            w->mtimes[i] = m;
            changed = true;
        }
    }
    return changed;
}

/* Wait up to @p secs for a change event (drained). */
static bool wait_event(cmh_dp_watch *w, double secs)
{
    return cmh__os_watch_wait(w->fd, secs);
}

cmh_status cmh_dp_watch_wait(int *changed, cmh_dp_watch *w, double timeout,
                             double interval)
{
    *changed = 0;
    double t0 = cmh__now();
    if (interval <= 0)
        interval = 1;
    while (cmh__now() - t0 < timeout) {
        double left = timeout - (cmh__now() - t0);
        bool c;
        if (w->fd >= 0) {
            c = wait_event(w, left) || poll_changed(w);
        } else {
            double nap = left < interval ? left : interval;
            usleep((useconds_t)(nap * 1e6));
            c = poll_changed(w);
        }
        if (!c)
            continue;
        /* settle: until quiet for QUIET_SECONDS */
        for (;;) {
            bool more;
            if (w->fd >= 0) {
                more = wait_event(w, QUIET_SECONDS);
            } else {
                usleep((useconds_t)(QUIET_SECONDS * 1e6));
                more = poll_changed(w);
            }
            if (!more)
                break;
        }
        poll_changed(w); /* resync mtimes */
        *changed = 1;
        return CMH_OK;
    }
    return CMH_OK;
}

void cmh_dp_watch_free(cmh_dp_watch *w)
{
    if (!w)
        return;
    cmh__os_watch_close(w->fd);
    for (size_t i = 0; w->paths && i < w->npaths; i++)
        free(w->paths[i]);
    free(w->paths);
    free(w->mtimes);
    free(w);
}
