/* gc, finding: verify's typed orphans as gc items (what each is, its
 * size on disk). */
#include "gcpriv.h"

#include "grow.h"

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

/* Add @p hex to the list @p v (once). */
static bool hex_add(char (**v)[CMH_HEX_SIZE], size_t *n, const char *hex)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i], hex))
            return true;
    char(*nv)[CMH_HEX_SIZE] = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return false;
    *v = nv;
    snprintf(nv[(*n)++], CMH_HEX_SIZE, "%s", hex);
    return true;
}

/* Is the temp at library-relative @p path a dead run's leftover? */
static bool temp_is_dead(gc_run *g, const char *path)
{
    const char *base = strrchr(path, '/');
    return g->lib.root_fd >= 0 &&
           cmh__tmp_is_dead(&g->lib, base ? base + 1 : path);
}

gc_item *cmh__gc_item_new(gc_run *g, cmh_gc_kind kind, const char *path)
{
    if (!cmh__grow(&g->v, &g->cap, g->n + 1, sizeof *g->v, 32)) {
        g->oom = true;
        return NULL;
    }
    gc_item *it = &g->v[g->n];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->age = -1;
    it->what = "filelib-entry";
    if (!(it->path = cmh__strdup(path))) {
        g->oom = true;
        return NULL;
    }
    g->n++;
    return it;
}

/* What an item is on disk (cmh_gc_item.what). */
static const char *what_of(gc_run *g, const gc_item *it)
{
    struct stat sb;
    switch (it->kind) {
    case CMH_GC_ORPHAN_CONTENT: {
        char ini[CMH_CID_SIZE + 8];
        snprintf(ini, sizeof ini, "%s.INI", it->cid);
        return g->lib.root_fd >= 0 &&
                       fstatat(g->lib.datalib_fd, ini, &sb,
                               AT_SYMLINK_NOFOLLOW) != 0
                   ? "mirror"
                   : "content";
    }
    case CMH_GC_TEMP: {
        size_t n = strlen(it->path);
        if (n > 5 && !strcmp(it->path + n - 5, ".lock"))
            return "lock";
        return g->lib.root_fd >= 0 &&
                       fstatat(g->lib.root_fd, it->path, &sb,
                               AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISDIR(sb.st_mode)
                   ? "mirror"
                   : "temp";
    }
    default: return "filelib-entry";
    }
}

/* Findings gc needs besides the orphans: the first INI that does not
 * parse (--apply then refuses) and the entries whose used copy is
 * damaged (their duplicates stay). */
static int on_finding(const cmh_verify_finding *f, void *payload)
{
    gc_run *g = payload;
    if ((f->code == CMH_VF_PKG_INI_BAD || f->code == CMH_VF_CONTENT_INI_BAD ||
         f->code == CMH_VF_FILE_INI_BAD) &&
        !g->unparsed[0])
        snprintf(g->unparsed, sizeof g->unparsed, "%s (%s)", f->path,
                 f->detail);
    if (strlen(f->hash) == 64 &&
        (f->code == CMH_VF_FILE_SIZE_MISMATCH ||
         f->code == CMH_VF_FILE_HASH_MISMATCH ||
         f->code == CMH_VF_FILE_UNREADABLE) &&
        !hex_add(&g->bad, &g->nbad, f->hash))
        g->oom = true;
    return g->oom;
}

/* One orphan of verify's typed iterator as a gc item (or a duplicate
 * set aside: gc looks at every root itself). Returns false when out of
 * memory. */
static bool take_orphan(gc_run *g, const cmh_verify_orphan *o)
{
    cmh_gc_kind kind;
    switch (o->kind) {
    case CMH_ORPHAN_DUPLICATE:
        return strlen(o->hash) != 64 || hex_add(&g->dups, &g->ndups, o->hash);
    case CMH_ORPHAN_CONTENT:
        kind = CMH_GC_ORPHAN_CONTENT;
        break;
    case CMH_ORPHAN_FILE:
        if (strlen(o->hash) != 64)
            return true; /* (every ORPHAN_FILE names its entry's hash) */
        kind = CMH_GC_ORPHAN_FILE;
        break;
    case CMH_ORPHAN_TEMP:
        if (o->age_seconds < g->min_age && !temp_is_dead(g, o->path))
            return true; /* young, and its run may be alive (11.11) */
        kind = CMH_GC_TEMP;
        break;
    default:
        return true;
    }
    gc_item *it = cmh__gc_item_new(g, kind, o->path);
    if (!it)
        return false;
    it->age = kind == CMH_GC_TEMP ? o->age_seconds : -1;
    snprintf(it->cid, sizeof it->cid, "%s", o->content_id);
    snprintf(it->hash, sizeof it->hash, "%s", o->hash);
    it->what = what_of(g, it);
    return true;
}

/* 1. verify's orphan engine: an index-only pass over the whole library,
 * then its typed orphans. */
cmh_status cmh__gc_find_orphans(gc_run *g)
{
    const cmh_gc_opts *o = g->o;
    cmh_verify_opts vo = CMH_VERIFY_OPTS_INIT;
    vo.lib = o->lib;
    vo.threads = o->threads;
    vo.finding = (cmh_verify_finding_hook){on_finding, g};
    vo.flags |= CMH_VERIFY_INDEX_ONLY; /* gc reads no file data */
    vo.progress = o->progress;
    cmh_verify *v = NULL;
    /* open first (read-only): take_orphan asks it whether a temp's run is
     * dead; a missing library is verify's error to cmh__gc_report */
    cmh_status st = cmh__library_open(g->ctx, &g->lib, o->lib, false);
    if (st != CMH_OK) {
        cmh__library_close(&g->lib);
        cmh__err_clear(g->ctx);
    }
    st = cmh_verify_new(&v, g->ctx, &vo);
    if (st == CMH_OK)
        st = cmh_verify_run(v);
    cmh_verify_orphan orphan;
    size_t pos = 0;
    while (st == CMH_OK && !g->oom && cmh_verify_next_orphan(&orphan, v, &pos))
        if (!take_orphan(g, &orphan))
            g->oom = true;
    cmh_verify_free(v);
    if (g->oom)
        st = cmh__fail(g->ctx, CMH_E_NOMEM, "out of memory");
    return st;
}

/* Bytes of the files at or below root/rel (no symlink followed); a
 * folder is summed by the format model's walk (no descriptor per level,
 * every level seen: a content deeper than its limit is still removed). */
static int du_entry(void *arg, int dirfd, const char *name,
                    const struct stat *sb)
{
    (void)dirfd;
    (void)name;
    if (S_ISREG(sb->st_mode))
        *(uint64_t *)arg += (uint64_t)sb->st_size;
    return 0;
}

uint64_t cmh__gc_du(int parent, const char *name)
{
    struct stat sb;
    if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    if (!S_ISDIR(sb.st_mode))
        return S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    static const cmh_mirror_cb cb = {NULL, NULL, du_entry, true};
    uint64_t sum = 0;
    char *where = NULL;
    (void)cmh__mirror_walk(parent, name, &cb, &sum, &where);
    free(where);
    return sum;
}

/* Open the folder of @p rel (library-relative) and point *base at the
 * last component. */
int cmh__gc_open_parent(gc_run *g, const char *rel, int *fd,
                       const char **base)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) {
        *base = rel;
        *fd = dup(g->lib.root_fd);
        return *fd < 0 ? errno : 0;
    }
    char dir[1024];
    size_t len = (size_t)(slash - rel);
    if (len >= sizeof dir)
        return ENAMETOOLONG;
    memcpy(dir, rel, len);
    dir[len] = 0;
    *base = slash + 1;
    return cmh__open_rel_dir(g->lib.root_fd, dir, false, fd);
}
