/* gc, checking: what is reachable or used, and the re-checks made just
 * before a deletion (under the package or library lock). */
#include "gcpriv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmhash/gc.h>
#include <cmhash/verify.h>

/* Is @p cid reachable from its package's PkgLib INI (current or kept)? */
bool cmh__gc_reachable(gc_run *g, const char *cid)
{
    char pk[CMH_PKGID_SIZE];
    if (cmh_content_id_parse(pk, NULL, cid) != CMH_CONTENT_PACKAGE)
        return false;
    cmh_pkg_info info;
    cmh_reflist kept = {0};
    cmh_err_saved saved;
    cmh__err_capture(g->ctx, &saved);
    bool r = true; /* unreadable PkgLib INI: assume cmh__gc_reachable */
    if (cmh__pkglib_read(g->ctx, &g->lib, pk, &info) == CMH_OK &&
        cmh__pkglib_kept(g->ctx, &g->lib, pk, &kept) == CMH_OK)
        r = !strcmp(info.cid, cid) || cmh__reflist_has(&kept, cid);
    cmh__reflist_free(&kept);
    cmh__err_restore(g->ctx, &saved);
    return r;
}

bool cmh__gc_content_exists(gc_run *g, const char *cid)
{
    char ini[CMH_CID_SIZE + 8];
    struct stat sb;
    snprintf(ini, sizeof ini, "%s.INI", cid);
    return fstatat(g->lib.datalib_fd, cid, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
           fstatat(g->lib.datalib_fd, ini, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool package_busy(gc_run *g, const char *cid)
{
    char pk[CMH_PKGID_SIZE];
    if (cmh_content_id_parse(pk, NULL, cid) != CMH_CONTENT_PACKAGE)
        return false;
    return cmh__library_pkg_busy(&g->lib, pk);
}

/* Every hash a content in DataLib uses (sorted, 32 bytes each). */
cmh_status cmh__gc_used_hashes(gc_run *g, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int fd = dup(g->lib.datalib_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return cmh__fail_errno(g->ctx, CMH_E_IO, errno,
                               "cannot list %s/DataLib", g->lib.path);
    }
    rewinddir(d);
    uint8_t *all = NULL;
    size_t nall = 0;
    struct dirent *de;
    cmh_status st = CMH_OK;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            fstatat(g->lib.datalib_fd, de->d_name, &sb,
                    AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(sb.st_mode))
            continue;
        uint8_t *h;
        size_t nh;
        int e = cmh__mirror_hashes(&g->lib, de->d_name, &h, &nh);
        if (e == ENOENT)
            continue; /* retired meanwhile */
        if (e) {
            st = cmh__fail_errno(g->ctx, CMH_E_IO, e,
                                 "cannot read %s/DataLib/%s", g->lib.path,
                                 de->d_name);
            break;
        }
        uint8_t *na = realloc(all, (nall + nh + 1) * CMH_SHA256_LEN);
        if (!na) {
            free(h);
            st = cmh__fail(g->ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        all = na;
        if (nh)
            memcpy(all + nall * CMH_SHA256_LEN, h, nh * CMH_SHA256_LEN);
        nall += nh;
        free(h);
    }
    closedir(d);
    if (st) {
        free(all);
        return st;
    }
    *out = all;
    *n = nall;
    return CMH_OK;
}

static bool hash_in(const uint8_t *v, size_t n, const uint8_t *sha)
{
    for (size_t i = 0; i < n; i++)
        if (!memcmp(v + i * CMH_SHA256_LEN, sha, CMH_SHA256_LEN))
            return true;
    return false;
}

/* The FileLib root (its fd) holding any of entry @p hex's data, .SIG or
 * reference INI: the primary root first, then the extra ones; the primary
 * when none does. */
int cmh__gc_entry_root(gc_run *g, const char *hex)
{
    static const char *const sfx[] = {"", ".SIG", ".INI"};
    for (int i = 0; i < 3; i++) {
        char rel[CMH_FILELIB_REL_SIZE];
        cmh__filelib_rel_hex(rel, hex, sfx[i]);
        int fd = cmh__filelib_find(&g->lib, rel, NULL, NULL);
        if (fd >= 0)
            return fd;
    }
    return g->lib.filelib_fd;
}

/* Bytes of entry @p hex (data, .SIG, reference INI) on root @p fl. */
uint64_t cmh__gc_entry_bytes(int fl, const char *hex)
{
    char rel[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(rel, hex, "");
    uint64_t b = cmh__gc_du(fl, rel);
    cmh__filelib_rel_hex(rel, hex, ".SIG");
    b += cmh__gc_du(fl, rel);
    cmh__filelib_rel_hex(rel, hex, ".INI");
    return b + cmh__gc_du(fl, rel);
}

/* Is any of entry @p hex's three files still on root @p fl? */
bool cmh__gc_entry_present(int fl, const char *hex)
{
    static const char *const sfx[] = {"", ".SIG", ".INI"};
    for (int i = 0; i < 3; i++) {
        char rel[CMH_FILELIB_REL_SIZE];
        struct stat sb;
        cmh__filelib_rel_hex(rel, hex, sfx[i]);
        if (fstatat(fl, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0)
            return true;
    }
    return false;
}

/* Remove one orphan FileLib entry after the re-check; the caller holds the
 * library lock. Returns NULL when removed, else why not. */
const char *cmh__gc_remove_file(gc_run *g, gc_item *it, const uint8_t *used,
                               size_t nused)
{
    const char *hex = it->hash;
    uint8_t sha[CMH_SHA256_LEN];
    if (!cmh__hex64_decode(hex, sha))
        return "no FileLib hash";
    if (hash_in(used, nused, sha))
        return "a content in DataLib uses it";
    char rel[CMH_FILELIB_REL_SIZE], sigrel[CMH_FILELIB_REL_SIZE],
        inirel[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(rel, hex, "");
    cmh__filelib_rel_hex(sigrel, hex, ".SIG");
    cmh__filelib_rel_hex(inirel, hex, ".INI");
    int fl = cmh__gc_entry_root(g, hex);
    char *data;
    size_t len;
    if (cmh__read_small_file(fl, inirel, CMH_INI_MAX_FILE, &data, &len) ==
        0) {
        cmh_reflist r = {0};
        char why[128];
        bool ok = cmh__reflist_parse(&r, data, len, why, sizeof why);
        free(data);
        const char *keep = ok ? NULL : "its reference INI cannot be read";
        for (size_t i = 0; ok && !keep && i < r.n; i++) {
            if (cmh__gc_content_exists(g, r.ids[i]))
                keep = "its reference INI names a content that exists";
            else if (package_busy(g, r.ids[i]))
                keep = "its reference INI names a package being written";
        }
        cmh__reflist_free(&r);
        if (keep)
            return keep;
    }
    it->bytes = cmh__gc_entry_bytes(fl, hex);
    unlinkat(fl, rel, 0);
    unlinkat(fl, sigrel, 0);
    if (unlinkat(fl, inirel, 0) != 0 && errno != ENOENT)
        return "cannot delete its reference INI";
    return NULL;
}

/* Is @p cid one of the orphan contents gc lists? */
static bool listed_orphan(gc_run *g, const char *cid)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->v[i].kind == CMH_GC_ORPHAN_CONTENT &&
            cmh__cid_equal(g->v[i].cid, cid))
            return true;
    return false;
}

/* The FileLib entries that only listed orphan contents reference: their
 * retirement frees them. Added as CMH_GC_CONTENT_FILE items (before any
 * removal, so the dry run and --apply list the same). */
cmh_status cmh__gc_add_content_files(gc_run *g)
{
    size_t n0 = g->n;
    for (size_t i = 0; i < n0; i++) {
        if (g->v[i].kind != CMH_GC_ORPHAN_CONTENT)
            continue;
        char cid[CMH_CID_SIZE];
        snprintf(cid, sizeof cid, "%s", g->v[i].cid);
        uint8_t *h = NULL;
        size_t nh = 0;
        if (cmh__mirror_hashes(&g->lib, cid, &h, &nh) != 0)
            continue; /* unreadable mirror: nothing known to be freed */
        for (size_t k = 0; k < nh; k++) {
            char hex[CMH_HEX_SIZE], inirel[CMH_FILELIB_REL_SIZE];
            cmh_hex_upper(hex, h + k * CMH_SHA256_LEN, CMH_SHA256_LEN);
            bool dup = false;
            for (size_t j = n0; j < g->n && !dup; j++)
                dup = !strcmp(g->v[j].hash, hex);
            if (dup)
                continue;
            cmh__filelib_rel_hex(inirel, hex, ".INI");
            int fl = cmh__gc_entry_root(g, hex);
            char *data;
            size_t len;
            if (cmh__read_small_file(fl, inirel, CMH_INI_MAX_FILE, &data,
                                    &len) != 0)
                continue;
            cmh_reflist r = {0};
            char why[128];
            bool freed = cmh__reflist_parse(&r, data, len, why, sizeof why);
            free(data);
            for (size_t j = 0; freed && j < r.n; j++)
                freed = listed_orphan(g, r.ids[j]);
            cmh__reflist_free(&r);
            if (!freed)
                continue;
            char path[8 + CMH_FILELIB_REL_SIZE];
            snprintf(path, sizeof path, "FileLib/%s", inirel);
            path[strlen(path) - 4] = 0; /* FileLib/<H4>/<HASH> */
            gc_item *it = cmh__gc_item_new(g, CMH_GC_CONTENT_FILE, path);
            if (!it) {
                free(h);
                return cmh__fail(g->ctx, CMH_E_NOMEM, "out of memory");
            }
            snprintf(it->cid, sizeof it->cid, "%s", cid);
            snprintf(it->hash, sizeof it->hash, "%s", hex);
            it->bytes = cmh__gc_entry_bytes(fl, hex);
        }
        free(h);
    }
    return CMH_OK;
}

const char *cmh__gc_remove_temp(gc_run *g, gc_item *it)
{
    int fd;
    const char *base;
    if (cmh__gc_open_parent(g, it->path, &fd, &base))
        return "its folder cannot be opened";
    const char *why = NULL;
    struct stat sb;
    if (strncmp(base, CMH_TMP_PREFIX, strlen(CMH_TMP_PREFIX)))
        why = "not a cmhash temporary";
    else if (fstatat(fd, base, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        why = "gone already";
    else if ((double)time(NULL) - (double)sb.st_mtime < g->min_age &&
             !cmh__tmp_is_dead(&g->lib, base))
        why = "modified since (younger than --min-age)";
    else if (cmh__tree_remove(fd, base) != 0)
        why = "cannot delete it";
    close(fd);
    return why;
}

int cmh__gc_report(gc_run *g, gc_item *it, bool removed, const char *why,
                  cmh_gc_result *res)
{
    if (removed) {
        res->removed++;
        res->removed_bytes += it->bytes;
    } else if (why && (g->o->flags & CMH_GC_APPLY)) {
        res->skipped++; /* (a dry run's duplicate that would stay: no) */
    }
    if (!g->o->item.cb)
        return 0;
    cmh_gc_item x = {it->kind, it->path, it->cid, it->bytes, it->age,
                     removed, why, it->what, it->hash};
    return g->o->item.cb(&x, g->o->item.payload);
}
