/* FileLib placement and references, DataLib install (library.h,
 * contentlib.md 7.2). */
#include "library.h"
#include "grow.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

void cmh__filelib_rel_hex(char out[CMH_FILELIB_REL_SIZE], const char *hex,
                         const char *suffix)
{
    snprintf(out, CMH_FILELIB_REL_SIZE, "%.4s/%.64s%s", hex, hex, suffix);
}

void cmh__filelib_rel(char out[CMH_FILELIB_REL_SIZE],
                     const uint8_t sha[CMH_SHA256_LEN], const char *suffix)
{
    char hex[CMH_HEX_SIZE];
    cmh_hex_upper(hex, sha, CMH_SHA256_LEN);
    cmh__filelib_rel_hex(out, hex, suffix);
}

/* ---- FileLib placement ---- */

void cmh__placement_init(cmh_placement *p)
{
    memset(p, 0, sizeof *p);
}

bool cmh__placement_add(cmh_placement *p, const uint8_t sha[CMH_SHA256_LEN],
                       uint64_t size, const char *tmp, const char *sigtmp)
{
    if (!cmh__grow(&p->v, &p->cap, p->n + 1, sizeof *p->v, 64))
        return false;
    cmh_place *x = &p->v[p->n++];
    memset(x, 0, sizeof *x);
    memcpy(x->sha, sha, CMH_SHA256_LEN);
    x->xroot = -1;
    x->size = size;
    snprintf(x->tmp, sizeof x->tmp, "%s", tmp);
    snprintf(x->sigtmp, sizeof x->sigtmp, "%s", sigtmp);
    return true;
}

/* A reference INI as read: its list, and its bytes when they are not the
 * ones cmhash writes (a ConfigMgr-written INI, edited in place). */
typedef struct refini {
    cmh_reflist r;
    bool missing;
    char *foreign; /* raw bytes of a foreign INI, else NULL */
    size_t foreign_len;
} refini;

static void refini_free(refini *f)
{
    cmh__reflist_free(&f->r);
    free(f->foreign);
}

/* Read and parse FileLib/<rel>.INI; f->missing when absent. */
static int read_refini(int fl, const char *inirel, refini *f, char *why,
                       size_t whylen)
{
    char *data;
    size_t len;
    memset(f, 0, sizeof *f);
    int e = cmh__read_small_file(fl, inirel, CMH_INI_MAX_FILE,
                                &data, &len);
    if (e == ENOENT) {
        f->missing = true;
        return 0;
    }
    if (e) {
        snprintf(why, whylen, "%s", strerror(e));
        return e;
    }
    if (!cmh__reflist_parse(&f->r, data, len, why, whylen)) {
        free(data);
        return EINVAL;
    }
    if (cmh__refini_is_cmhash(data, len, &f->r)) {
        free(data);
    } else {
        f->foreign = data;
        f->foreign_len = len;
    }
    return 0;
}

/* The new bytes of reference INI @p f with @p add added or @p drop
 * dropped: cmhash's bytes, or the foreign file edited in place. */
static int refini_render(refini *f, const char *add, const char *drop,
                         cmh_buf *b)
{
    if (f->foreign)
        return cmh__refini_edit(f->foreign, f->foreign_len,
                               add && !cmh__reflist_has(&f->r, add) ? add
                                                                   : NULL,
                               drop, b);
    cmh__reflist_write(&f->r, b);
    return b->oom ? ENOMEM : 0;
}

static int write_refini_tmp(int fl, const char *h4, refini *f,
                            const char *add, const char *drop, char tmp[48])
{
    cmh_buf b;
    cmh__buf_init(&b);
    int e = refini_render(f, add, drop, &b);
    if (e) {
        cmh__buf_free(&b);
        tmp[0] = 0;
        return e;
    }
    char rel[64];
    cmh__tmp_name(tmp, 48, ".INI");
    snprintf(rel, sizeof rel, "%s/%s", h4, tmp);
    e = cmh__write_new(fl, rel, b.data, b.len, false);
    cmh__buf_free(&b);
    if (e)
        tmp[0] = 0;
    return e;
}

static void unlink_initmp(cmh_library *l, cmh_place *x)
{
    if (!x->initmp[0])
        return;
    char rel[64];
    char hex[CMH_HEX_SIZE];
    cmh_hex_upper(hex, x->sha, CMH_SHA256_LEN);
    snprintf(rel, sizeof rel, "%.4s/%s", hex, x->initmp);
    unlinkat(x->xroot >= 0 ? l->xfd[x->xroot] : l->filelib_fd, rel, 0);
    x->initmp[0] = 0;
}

/* One placement step over all entries, run on the pool's workers. The
 * first failure is kept (under mu) and stops the remaining entries. */
typedef struct place_job {
    cmh_library *l;
    cmh_placement *p;
    const char *cid;
    pthread_mutex_t mu;
    _Atomic bool failed;
    cmh_status st; /* first failure, under mu */
    char msg[CMH_ERRMSG_SIZE];
} place_job;

static void place_fail(place_job *j, cmh_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void place_fail(place_job *j, cmh_status st, const char *fmt, ...)
{
    pthread_mutex_lock(&j->mu);
    if (!atomic_load(&j->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->msg, sizeof j->msg, fmt, ap);
        va_end(ap);
        j->st = st;
        atomic_store(&j->failed, true);
    }
    pthread_mutex_unlock(&j->mu);
}

/* Decide what of entry @p x goes in: the entry already present (on the
 * primary root or another one, x->xroot) and sound, or ours (x->data_new,
 * x->sig_new). Returns the descriptor of the root the entry is on. */
static int place_decide(cmh_library *l, cmh_place *x, const char *rel,
                        const char *sigrel)
{
    int fl = l->filelib_fd;
    struct stat sb;
    bool have = fstatat(fl, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == x->size;
    /* Not on the primary root: a sound entry on another root gets the
     * reference there, and no second copy (section 10). */
    x->xroot = -1;
    for (size_t r = 0; !have && r < l->nx; r++)
        if (fstatat(l->xfd[r], rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == x->size) {
            x->xroot = (int)r;
            fl = l->xfd[r];
            have = true;
        }
    /* A present entry of the wrong size, or whose bytes the snapshot found
     * to differ from ours (x->replace: only ever on the primary root), is
     * damaged: ours replaces it (contentlib.md 7.2). */
    x->data_new = !have || x->replace;
    /* (no need to look at the .SIG when the data is new: ours goes in; an
     * entry on another root keeps its own) */
    x->sig_new = x->xroot < 0 &&
                 (x->data_new ||
                  !(fstatat(fl, sigrel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(sb.st_mode) &&
                    (uint64_t)sb.st_size == cmh_sig_size(x->size)));
    return fl;
}

/* Write the entry's reference INI with the content added as a temp in
 * <H4>/ of root @p fl (x->initmp); a damaged or ConfigMgr-written INI
 * fails the job. */
static void place_refini(place_job *j, cmh_place *x, int fl, const char *h4,
                         const char *inirel)
{
    cmh_library *l = j->l;
    refini f;
    char why[256];
    int e = read_refini(fl, inirel, &f, why, sizeof why);
    if (e) {
        refini_free(&f);
        place_fail(j, CMH_E_LIBRARY,
                   "%s/FileLib/%s is damaged (%s); run cmhash verify, then "
                   "repair or remove it", l->path, inirel, why);
        return;
    }
    if (f.foreign && !j->p->allow_foreign) {
        refini_free(&f);
        place_fail(j, CMH_E_LIBRARY,
                   "%s/FileLib/%s was written by Configuration Manager (not "
                   "in cmhash's bytes); a snapshot writes to a "
                   "ConfigMgr-written library only with --allow-foreign",
                   l->path, inirel);
        return;
    }
    x->ini_new = f.missing;
    if (!f.foreign && !cmh__reflist_add(&f.r, j->cid)) {
        refini_free(&f);
        place_fail(j, CMH_E_NOMEM, "out of memory");
        return;
    }
    e = write_refini_tmp(fl, h4, &f, j->cid, NULL, x->initmp);
    refini_free(&f);
    if (e) {
        place_fail(j, cmh__status_for_write_errno(e),
                   "cannot write in %s/FileLib/%s: %s; %s", l->path, h4,
                   strerror(e), cmh__write_hint(e));
        return;
    }
    cmh__crash_point("refini");
}

/* Step 1 for entry i: decide what goes in, write the new reference INI as
 * a temp in <H4>/. Touches only entry i and its own FileLib names. */
static void place_prepare(size_t i, void *arg)
{
    place_job *j = arg;
    if (atomic_load_explicit(&j->failed, memory_order_relaxed))
        return;
    cmh_library *l = j->l;
    cmh_place *x = &j->p->v[i];
    char hex[CMH_HEX_SIZE], h4[5], rel[CMH_FILELIB_REL_SIZE],
        sigrel[CMH_FILELIB_REL_SIZE], inirel[CMH_FILELIB_REL_SIZE];
    cmh_hex_upper(hex, x->sha, CMH_SHA256_LEN);
    memcpy(h4, hex, 4);
    h4[4] = 0;
    cmh__filelib_rel_hex(rel, hex, "");
    cmh__filelib_rel_hex(sigrel, hex, ".SIG");
    cmh__filelib_rel_hex(inirel, hex, ".INI");
    /* a temp already in <H4>/ (small files) proves the folder exists; gc
     * removes empty folders only under the library lock, which we hold */
    if (!strchr(x->tmp, '/') && mkdirat(l->filelib_fd, h4, 0755) != 0 &&
        errno != EEXIST) {
        int e = errno;
        place_fail(j, cmh__status_for_write_errno(e),
                   "cannot create %s/FileLib/%s: %s; %s", l->path, h4,
                   strerror(e), cmh__write_hint(e));
        return;
    }
    int fl = place_decide(l, x, rel, sigrel);
    place_refini(j, x, fl, h4, inirel);
}

/* Step 2 for entry i: rename data, signature and INI into place. */
static void place_rename(size_t i, void *arg)
{
    place_job *j = arg;
    if (atomic_load_explicit(&j->failed, memory_order_relaxed))
        return;
    cmh_place *x = &j->p->v[i];
    int fl = j->l->filelib_fd;
    int il = x->xroot >= 0 ? j->l->xfd[x->xroot] : fl; /* the INI's root */
    char hex[CMH_HEX_SIZE], rel[CMH_FILELIB_REL_SIZE],
        sigrel[CMH_FILELIB_REL_SIZE], inirel[CMH_FILELIB_REL_SIZE],
        initmp[64];
    cmh_hex_upper(hex, x->sha, CMH_SHA256_LEN);
    cmh__filelib_rel_hex(rel, hex, "");
    cmh__filelib_rel_hex(sigrel, hex, ".SIG");
    cmh__filelib_rel_hex(inirel, hex, ".INI");
    snprintf(initmp, sizeof initmp, "%.4s/%s", hex, x->initmp);
    x->done = true; /* from the first rename on: rollback undoes it */
    if (x->data_new) {
        if (renameat(fl, x->tmp, fl, rel) != 0)
            goto fail;
        x->tmp[0] = 0;
        cmh__crash_point("rename");
    }
    if (x->sig_new) {
        if (renameat(fl, x->sigtmp, fl, sigrel) != 0)
            goto fail;
        x->sigtmp[0] = 0;
        cmh__crash_point("rename");
    }
    if (renameat(il, initmp, il, inirel) != 0)
        goto fail;
    x->initmp[0] = 0;
    cmh__crash_point("rename");
    return;
fail:;
    int e = errno;
    place_fail(j, cmh__status_for_write_errno(e),
               "cannot rename in %s/FileLib: %s; %s", j->l->path,
               strerror(e), cmh__write_hint(e));
}

cmh_status cmh__placement_commit(cmh_ctx *ctx, cmh_library *l,
                                cmh_placement *p, const char *cid,
                                bool do_fsync, cmh_pool *pool,
                                int (*canceled)(void *), void *arg)
{
    cmh_status st = cmh__library_lock(ctx, l);
    if (st)
        return st;
    place_job j = {.l = l, .p = p, .cid = cid};
    pthread_mutex_init(&j.mu, NULL);
    atomic_init(&j.failed, false);
    int e;
    /* all writes before any rename: a full disk fails here, with nothing
     * visible changed */
    cmh__pool_for(pool, p->n, place_prepare, &j);
    if (atomic_load(&j.failed))
        goto fail;
    if (do_fsync && (e = cmh__os_sync_fs(l->filelib_fd)) != 0) {
        place_fail(&j, CMH_E_IO, "cannot flush %s to disk: %s; %s", l->path,
                   strerror(e), cmh__write_hint(e));
        goto fail;
    }
    if (canceled && canceled(arg)) {
        place_fail(&j, CMH_E_CANCELED, "canceled before the commit point "
                   "(while placing files in %s/FileLib); nothing was "
                   "changed, run it again to finish", l->path);
        goto fail;
    }
    cmh__pool_for(pool, p->n, place_rename, &j);
    if (atomic_load(&j.failed)) {
        st = cmh__fail(ctx, j.st, "%s", j.msg);
        cmh__library_unlock(l);
        cmh__placement_rollback(l, p, cid);
        pthread_mutex_destroy(&j.mu);
        return st;
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].data_new) {
            p->new_files++;
            p->new_bytes += p->v[i].size;
        }
    cmh__library_unlock(l);
    pthread_mutex_destroy(&j.mu);
    return CMH_OK;
fail:
    st = cmh__fail(ctx, j.st, "%s", j.msg);
    for (size_t k = 0; k < p->n; k++)
        unlink_initmp(l, &p->v[k]);
    cmh__library_unlock(l);
    pthread_mutex_destroy(&j.mu);
    return st;
}

/* Drop @p cid from FileLib/<hex>.INI; delete the entry if nobody is left.
 * Returns 1 if the entry was deleted, 0 if not, -1 on error. With @p
 * tmp_out the new INI is left as a temp for the caller to rename (batched
 * durability); otherwise it is replaced at once. */
int cmh__drop_reference(cmh_library *l, const char *hex, const char *cid,
                        char tmp_out[48])
{
    char rel[CMH_FILELIB_REL_SIZE], sigrel[CMH_FILELIB_REL_SIZE],
        inirel[CMH_FILELIB_REL_SIZE], h4[5];
    cmh__filelib_rel_hex(rel, hex, "");
    cmh__filelib_rel_hex(sigrel, hex, ".SIG");
    cmh__filelib_rel_hex(inirel, hex, ".INI");
    memcpy(h4, hex, 4);
    h4[4] = 0;
    if (tmp_out)
        tmp_out[0] = 0;
    /* the entry's root: the primary, else an extra root holding it (its
     * INI is renamed there at once, not batched by the caller) */
    int fl = l->filelib_fd;
    struct stat sb;
    if (l->nx && fstatat(fl, inirel, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        for (size_t r = 0; r < l->nx; r++)
            if (fstatat(l->xfd[r], inirel, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
                fl = l->xfd[r];
                tmp_out = NULL;
                break;
            }
    }
    refini f;
    char why[256];
    int rc = 0;
    if (read_refini(fl, inirel, &f, why, sizeof why) || f.missing) {
        rc = f.missing ? 0 : -1;
        goto out;
    }
    if (!cmh__reflist_remove(&f.r, cid))
        goto out;
    if (f.r.n == 0) {
        /* INI first: a crash leaves an unreferenced file (ORPHAN_FILE,
         * removed by gc), never a reference to a missing file. */
        unlinkat(fl, inirel, 0);
        cmh__crash_point("unlink");
        unlinkat(fl, sigrel, 0);
        cmh__crash_point("unlink");
        unlinkat(fl, rel, 0);
        cmh__crash_point("unlink");
        rc = 1;
        goto out;
    }
    char tmp[48];
    if (write_refini_tmp(fl, h4, &f, NULL, cid, tmp)) {
        rc = -1;
        goto out;
    }
    cmh__crash_point("drop");
    if (tmp_out) {
        memcpy(tmp_out, tmp, 48);
    } else {
        char trel[64];
        snprintf(trel, sizeof trel, "%s/%s", h4, tmp);
        if (renameat(fl, trel, fl, inirel) != 0) {
            unlinkat(fl, trel, 0);
            rc = -1;
        }
    }
out:
    refini_free(&f);
    return rc;
}

void cmh__placement_rollback(cmh_library *l, cmh_placement *p,
                            const char *cid)
{
    cmh_ctx dummy;
    memset(&dummy, 0, sizeof dummy);
    if (cmh__library_lock_wait(&dummy, l) != CMH_OK)
        return;
    for (size_t i = 0; i < p->n; i++) {
        cmh_place *x = &p->v[i];
        if (!x->done)
            continue;
        char hex[CMH_HEX_SIZE];
        cmh_hex_upper(hex, x->sha, CMH_SHA256_LEN);
        cmh__drop_reference(l, hex, cid, NULL);
        x->done = false;
    }
    cmh__library_unlock(l);
}

void cmh__placement_free(cmh_library *l, cmh_placement *p)
{
    for (size_t i = 0; i < p->n; i++) {
        cmh_place *x = &p->v[i];
        if (x->tmp[0])
            unlinkat(l->filelib_fd, x->tmp, 0);
        if (x->sigtmp[0])
            unlinkat(l->filelib_fd, x->sigtmp, 0);
        unlink_initmp(l, x);
    }
    free(p->v);
    cmh__placement_init(p);
}

/* ---- DataLib ---- */

cmh_status cmh__datalib_install(cmh_ctx *ctx, cmh_library *l, const char *cid,
                               const char *mirror_tmp,
                               const char *content_tmp)
{
    int dl = l->datalib_fd;
    struct stat sb;
    if (fstatat(dl, cid, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        /* stale mirror of a crashed snapshot of this same version */
        char aside[128], sfx[CMH_CID_SIZE + 2];
        snprintf(sfx, sizeof sfx, "-%s", cid);
        cmh__tmp_name(aside, sizeof aside, sfx);
        if (renameat(dl, cid, dl, aside) == 0)
            cmh__tree_remove(dl, aside);
    }
    if (renameat(dl, mirror_tmp, dl, cid) != 0) {
        int e = errno;
        return cmh__fail(ctx, cmh__status_for_write_errno(e),
                         "cannot rename in %s/DataLib: %s; %s", l->path,
                         strerror(e), cmh__write_hint(e));
    }
    cmh__crash_point("install");
    char ini[CMH_CID_SIZE + 8];
    snprintf(ini, sizeof ini, "%s.INI", cid);
    if (renameat(dl, content_tmp, dl, ini) != 0) {
        int e = errno;
        cmh__tree_remove(dl, cid);
        return cmh__fail(ctx, cmh__status_for_write_errno(e),
                         "cannot rename in %s/DataLib: %s; %s", l->path,
                         strerror(e), cmh__write_hint(e));
    }
    return CMH_OK;
}

void cmh__datalib_uninstall(cmh_library *l, const char *cid)
{
    char ini[CMH_CID_SIZE + 8];
    snprintf(ini, sizeof ini, "%s.INI", cid);
    unlinkat(l->datalib_fd, ini, 0);
    cmh__crash_point("uninstall");
    /* "-<cid>" at the end: a leftover (the removal below failed or was
     * killed) is recognised and removed by the package's next retirement */
    char aside[128], sfx[CMH_CID_SIZE + 2];
    snprintf(sfx, sizeof sfx, "-%s", cid);
    cmh__tmp_name(aside, sizeof aside, sfx);
    if (renameat(l->datalib_fd, cid, l->datalib_fd, aside) == 0)
        cmh__tree_remove(l->datalib_fd, aside);
}
