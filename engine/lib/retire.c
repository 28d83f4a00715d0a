/* Mirror hashes and the retirement of old and stale versions
 * (library.h). */
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

/* ---- mirror hashes ---- */

typedef struct hash_vec {
    uint8_t *v;
    size_t n, cap;
} hash_vec;

/* A file INI of the mirror: its hash joins the list. Any failure to read
 * the mirror stops the collection: a hash missed here would leave a
 * reference nobody drops once the mirror is deleted. (A file INI that reads
 * but does not parse has no hash to drop; it is skipped, its reference is
 * gc's work.) */
static int collect_entry(void *arg, int dirfd, const char *nm,
                         const struct stat *sb)
{
    hash_vec *hv = arg;
    size_t len = strlen(nm);
    if (!S_ISREG(sb->st_mode) || len < 4 || strcasecmp(nm + len - 4, ".INI"))
        return 0;
    char *data, why[128];
    size_t dlen;
    int e = cmh__read_small_file(dirfd, nm, CMH_INI_MAX_FILE, &data, &dlen);
    if (e == EFBIG || e == EINVAL)
        return 0; /* not a file INI cmhash could have written */
    if (e)
        return e;
    cmh_fileini fi;
    int r = cmh__fileini_parse(data, dlen, &fi, why, sizeof why);
    free(data);
    /* the hash is what the references follow: take it whenever it is
     * valid, whatever else the INI lacks */
    if (r == CMH_FILEINI_UNPARSABLE || !fi.have_hash)
        return 0;
    if (!cmh__grow(&hv->v, &hv->cap, hv->n + 1, CMH_SHA256_LEN, 256))
        return ENOMEM;
    memcpy(hv->v + hv->n * CMH_SHA256_LEN, fi.sha, CMH_SHA256_LEN);
    hv->n++;
    return 0;
}

static int sha_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CMH_SHA256_LEN);
}

int cmh__mirror_hashes(cmh_library *l, const char *cid, uint8_t **out,
                      size_t *n)
{
    hash_vec hv = {0};
    *out = NULL;
    *n = 0;
    static const cmh_mirror_cb cb = {NULL, NULL, collect_entry, true};
    char *where = NULL;
    int e = cmh__mirror_walk(l->datalib_fd, cid, &cb, &hv, &where);
    free(where);
    if (e) {
        free(hv.v);
        return e;
    }
    if (hv.n > 1)
        qsort(hv.v, hv.n, CMH_SHA256_LEN, sha_cmp);
    size_t k = 0;
    for (size_t i = 0; i < hv.n; i++)
        if (k == 0 || memcmp(hv.v + (k - 1) * CMH_SHA256_LEN,
                             hv.v + i * CMH_SHA256_LEN, CMH_SHA256_LEN))
            memmove(hv.v + k++ * CMH_SHA256_LEN, hv.v + i * CMH_SHA256_LEN,
                    CMH_SHA256_LEN);
    *out = hv.v;
    *n = k;
    return 0;
}

/* ---- retirement ---- */

typedef struct cid_list {
    char **v;
    size_t n, cap;
} cid_list;

static bool cid_list_add(cid_list *c, const char *cid)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i], cid))
            return true;
    if (!cmh__grow(&c->v, &c->cap, c->n + 1, sizeof *c->v, 4))
        return false;
    c->v[c->n] = cmh__strdup(cid);
    if (!c->v[c->n])
        return false;
    c->n++;
    return true;
}

/* A live content goes out of sight first: its INI, then its mirror
 * under a temp name ".cmhash-tmp-<token>-<n>-<cid>" (into @p aside, ""
 * when it has no mirror), made durable before any reference is dropped.
 * A crash or power cut later leaves a temp (STRAY), references to a
 * content that no longer exists (REF_DANGLING) and unreferenced entries
 * (ORPHAN_FILE): warnings, which the package's next retirement or gc
 * finishes - never a content whose files are missing (issue 11,
 * item 5). */
static cmh_status put_aside(cmh_ctx *ctx, cmh_library *l, const char *cid,
                            bool do_fsync, char aside[128])
{
    char ini[CMH_CID_SIZE + 8], sfx[CMH_CID_SIZE + 2];
    snprintf(ini, sizeof ini, "%s.INI", cid);
    snprintf(sfx, sizeof sfx, "-%s", cid);
    cmh__tmp_name(aside, 128, sfx);
    unlinkat(l->datalib_fd, ini, 0);
    cmh__crash_point("uninstall");
    if (renameat(l->datalib_fd, cid, l->datalib_fd, aside) != 0) {
        if (errno != ENOENT)
            return cmh__fail_errno(ctx, CMH_E_IO, errno,
                                   "cannot rename in %s/DataLib", l->path);
        aside[0] = 0; /* no mirror: nothing references it */
    }
    if (do_fsync)
        (void)cmh__os_fsync(l->datalib_fd);
    return CMH_OK;
}

/* Drop @p cid from the reference lists of every hash in the mirror
 * DataLib/<dir> (the content's own mirror, or the temp mirror of a crashed
 * snapshot), delete entries left unreferenced, then delete the mirror. */
static cmh_status retire_mirror(cmh_ctx *ctx, cmh_library *l,
                                const char *dir, const char *cid,
                                bool do_fsync, uint64_t *retired)
{
    char aside[128];
    if (!strcmp(dir, cid)) {
        cmh_status ast = put_aside(ctx, l, cid, do_fsync, aside);
        if (ast != CMH_OK)
            return ast;
        if (!aside[0])
            return CMH_OK;
        dir = aside;
    }
    uint8_t *hashes = NULL;
    size_t nh = 0;
    int e = cmh__mirror_hashes(l, dir, &hashes, &nh);
    if (e && e != ENOENT)
        return cmh__fail_errno(ctx, CMH_E_IO, e,
                               "cannot read %s/DataLib/%s", l->path, dir);
    cmh_status st = cmh__library_lock(ctx, l);
    if (st) {
        free(hashes);
        return st;
    }
    /* new INI temps, renamed after one durability barrier */
    char (*tmps)[48] = nh ? calloc(nh, sizeof *tmps) : NULL;
    if (nh && !tmps) {
        cmh__library_unlock(l);
        free(hashes);
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    bool failed = false;
    for (size_t i = 0; i < nh; i++) {
        char hex[CMH_HEX_SIZE];
        cmh_hex_upper(hex, hashes + i * CMH_SHA256_LEN, CMH_SHA256_LEN);
        int rc = cmh__drop_reference(l, hex, cid, tmps[i]);
        if (rc == 1)
            (*retired)++;
        if (rc < 0)
            failed = true;
    }
    if (do_fsync)
        (void)cmh__os_sync_fs(l->filelib_fd);
    for (size_t i = 0; i < nh; i++) {
        if (!tmps[i][0])
            continue;
        char hex[CMH_HEX_SIZE], trel[64], inirel[CMH_FILELIB_REL_SIZE];
        cmh_hex_upper(hex, hashes + i * CMH_SHA256_LEN, CMH_SHA256_LEN);
        snprintf(trel, sizeof trel, "%.4s/%s", hex, tmps[i]);
        cmh__filelib_rel_hex(inirel, hex, ".INI");
        if (renameat(l->filelib_fd, trel, l->filelib_fd, inirel) != 0) {
            unlinkat(l->filelib_fd, trel, 0);
            failed = true;
        }
        cmh__crash_point("retire-rename");
    }
    cmh__library_unlock(l);
    free(tmps);
    free(hashes);
    if (failed)
        return cmh__fail(ctx, CMH_E_IO,
                         "could not drop every reference of %s in %s/FileLib;"
                         " run cmhash verify", cid, l->path);
    /* the mirror last: while it exists, a rerun can finish the job */
    if (do_fsync)
        (void)cmh__os_sync_fs(l->filelib_fd);
    cmh__crash_point("retire-end");
    cmh__tree_remove(l->datalib_fd, dir);
    return CMH_OK;
}

static cmh_status retire_content(cmh_ctx *ctx, cmh_library *l,
                                 const char *cid, bool do_fsync,
                                 uint64_t *retired)
{
    return retire_mirror(ctx, l, cid, cid, do_fsync, retired);
}

/* ".cmhash-tmp-<token>-<cid>" (earlier versions: "<pid>" for <token>):
 * the temp mirror snapshot.c names; the cid part into @p cid. (Mirrors set
 * aside for deletion carry a second number and are not matched.) */
static bool temp_mirror_cid(const char *name, char cid[CMH_CID_SIZE])
{
    size_t pl = strlen(CMH_TMP_PREFIX);
    if (strncmp(name, CMH_TMP_PREFIX, pl) != 0)
        return false;
    const char *p = name + pl;
    size_t nd = strspn(p, "0123456789ABCDEF");
    if (!nd)
        return false;
    p += nd;
    if (*p != '-' || strlen(p + 1) >= CMH_CID_SIZE)
        return false;
    memcpy(cid, p + 1, strlen(p + 1) + 1);
    return true;
}

/* List DataLib from its start, through a descriptor of its own. */
static cmh_status open_datalib_listing(cmh_ctx *ctx, cmh_library *l,
                                       DIR **out)
{
    int dup_fd = dup(l->datalib_fd);
    if (dup_fd < 0)
        return cmh__fail_errno(ctx, CMH_E_IO, errno, "dup");
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return cmh__fail_errno(ctx, CMH_E_IO, errno,
                               "cannot list %s/DataLib", l->path);
    }
    rewinddir(d);
    *out = d;
    return CMH_OK;
}

cmh_status cmh__retire_stale(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                            uint32_t current, bool do_fsync,
                            uint64_t *retired_files)
{
    *retired_files = 0;
    DIR *d;
    cmh_status ost = open_datalib_listing(ctx, l, &d);
    if (ost)
        return ost;
    cid_list dirs = {0}, cids = {0};
    bool oom = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char cid[CMH_CID_SIZE], id[CMH_PKGID_SIZE];
        uint32_t v;
        const char *dir = de->d_name;
        size_t len = strlen(dir);
        if (temp_mirror_cid(dir, cid)) {
            /* a crashed snapshot's temp mirror */
        } else if (len < sizeof cid) {
            memcpy(cid, dir, len + 1);
            if (len > 4 && !strcasecmp(cid + len - 4, ".INI"))
                cid[len - 4] = 0;
            dir = cid;
        } else {
            continue;
        }
        if (cmh_content_id_parse(id, &v, cid) != CMH_CONTENT_PACKAGE ||
            strcmp(id, pkgid) || v <= current)
            continue;
        /* cid_list_add skips duplicates: "P.n" and "P.n.INI" once */
        size_t before = dirs.n;
        if (!cid_list_add(&dirs, dir))
            oom = true;
        else if (dirs.n > before && !cid_list_add(&cids, cid))
            oom = true;
        if (dirs.n != cids.n) { /* keep the pair lists aligned */
            free(dirs.v[--dirs.n]);
            oom = true;
        }
    }
    closedir(d);
    cmh_status st = oom ? cmh__fail(ctx, CMH_E_NOMEM, "out of memory")
                        : CMH_OK;
    for (size_t i = 0; i < dirs.n; i++) {
        if (st == CMH_OK)
            st = retire_mirror(ctx, l, dirs.v[i], cids.v[i], do_fsync,
                               retired_files);
        free(dirs.v[i]);
        free(cids.v[i]);
    }
    free(dirs.v);
    free(cids.v);
    return st;
}

/* DataLib entry @p dname seen by cmh__retire_package: a temp of this
 * package left by a dead run goes to @p temps, a content of the package
 * that is neither @p keep_cid nor kept to @p old. False: out of memory. */
static bool sort_package_entry(const char *dname, const char *pkgid,
                               const char *keep_cid, const cmh_reflist *kept,
                               cid_list *old, cid_list *temps)
{
    char name[CMH_CID_SIZE];
    size_t len = strlen(dname);
    /* DataLib temps of this package left by dead runs: a temp mirror
     * ".cmhash-tmp-<pid>-<cid>" or a mirror set aside for deletion
     * ".cmhash-tmp-<pid>-<n>-<cid>". We hold the package lock, so no
     * live run of this package owns them. */
    const char *dash = strrchr(dname, '-');
    if (!strncmp(dname, CMH_TMP_PREFIX, strlen(CMH_TMP_PREFIX)) && dash) {
        char id[CMH_PKGID_SIZE];
        return !(cmh_content_id_parse(id, NULL, dash + 1) ==
                     CMH_CONTENT_PACKAGE &&
                 !strcmp(id, pkgid) && !cid_list_add(temps, dname));
    }
    if (len >= sizeof name)
        return true;
    memcpy(name, dname, len + 1);
    if (len > 4 && !strcasecmp(name + len - 4, ".INI"))
        name[len - 4] = 0;
    char id[CMH_PKGID_SIZE];
    if (cmh_content_id_parse(id, NULL, name) != CMH_CONTENT_PACKAGE ||
        strcmp(id, pkgid) || !strcmp(name, keep_cid) ||
        cmh__reflist_has(kept, name))
        return true;
    return cid_list_add(old, name);
}

/* The temps of @p temps: a retirement a crash interrupted is finished
 * (the content's remaining references dropped), a set-aside copy of a
 * live content only goes. Frees @p temps; returns @p st or the first
 * failure. */
static cmh_status finish_temps(cmh_ctx *ctx, cmh_library *l, cid_list *temps,
                               const char *keep_cid, const cmh_reflist *kept,
                               bool do_fsync, uint64_t *retired_files,
                               cmh_status st)
{
    for (size_t i = 0; i < temps->n; i++) {
        const char *tcid = strrchr(temps->v[i], '-') + 1;
        if (!strcmp(tcid, keep_cid) || cmh__reflist_has(kept, tcid)) {
            cmh__tree_remove(l->datalib_fd, temps->v[i]);
        } else if (st == CMH_OK) {
            char c[CMH_CID_SIZE];
            snprintf(c, sizeof c, "%s", tcid);
            st = retire_mirror(ctx, l, temps->v[i], c, do_fsync,
                               retired_files);
        }
        free(temps->v[i]);
    }
    free(temps->v);
    return st;
}

cmh_status cmh__retire_package(cmh_ctx *ctx, cmh_library *l,
                              const char *pkgid, const char *keep_cid,
                              bool do_fsync, uint64_t *retired_files)
{
    *retired_files = 0;
    DIR *d;
    cmh_status ost = open_datalib_listing(ctx, l, &d);
    if (ost)
        return ost;
    cid_list old = {0};
    struct dirent *de;
    bool oom = false;
    /* contents the PkgLib INI keeps (snapshot --keep) are not retired */
    cmh_reflist kept = {0};
    cmh_status kst = cmh__pkglib_kept(ctx, l, pkgid, &kept);
    if (kst) {
        closedir(d);
        return kst;
    }
    cid_list temps = {0};
    while ((de = readdir(d)) != NULL)
        if (!sort_package_entry(de->d_name, pkgid, keep_cid, &kept, &old,
                                &temps))
            oom = true;
    closedir(d);
    cmh_status st = oom ? cmh__fail(ctx, CMH_E_NOMEM, "out of memory")
                        : CMH_OK;
    st = finish_temps(ctx, l, &temps, keep_cid, &kept, do_fsync,
                      retired_files, st);
    cmh__reflist_free(&kept);
    for (size_t i = 0; i < old.n; i++) {
        if (st == CMH_OK)
            st = retire_content(ctx, l, old.v[i], do_fsync, retired_files);
        free(old.v[i]);
    }
    free(old.v);
    return st;
}
