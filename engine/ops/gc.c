/* cmh_gc: orphans found by verify's engine, removed only after a re-check
 * (gc.h). The orphan definition is verify's (cmh_verify findings); this
 * file adds what deletion needs: the PkgLib-reachable set including kept
 * versions ([cmhash] Keep=), locks and the re-checks. */
#include "tree_io.h"

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

#include "os/os.h"
#include <cmhash/gc.h>
#include <cmhash/verify.h>

/* One typed item: what it is, its content ID or FileLib hash, taken once
 * from verify's finding; nothing below re-parses a path. */
typedef struct gc_item {
    cmh_gc_kind kind;
    const char *what; /* "content", "mirror", "filelib-entry", "temp",
                         "lock" (cmh_gc_item.what) */
    char *path;
    char cid[CMH_CID_SIZE];
    char hash[CMH_HEX_SIZE]; /* ORPHAN_FILE, CONTENT_FILE */
    double age;
    uint64_t bytes;
} gc_item;

typedef struct gc_run {
    cmh_ctx *ctx;
    const cmh_gc_opts *o;
    cmh_library lib;
    gc_item *v;
    size_t n, cap;
    bool oom;
    bool apply;          /* CMH_GC_APPLY */
    double min_age;      /* seconds (opts: 0 = default, negative = any) */
    char unparsed[1024]; /* first INI that failed to parse: what is
                            referenced is not known, --apply refuses */
    char (*dups)[CMH_HEX_SIZE]; /* hashes verify found on two roots */
    size_t ndups;
    char (*bad)[CMH_HEX_SIZE]; /* hashes whose used copy verify found
                                  damaged (size, unreadable) */
    size_t nbad;
} gc_run;

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

static gc_item *item_new(gc_run *g, cmh_gc_kind kind, const char *path)
{
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 32;
        gc_item *v = realloc(g->v, nc * sizeof *v);
        if (!v) {
            g->oom = true;
            return NULL;
        }
        g->v = v;
        g->cap = nc;
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
    gc_item *it = item_new(g, kind, o->path);
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
static cmh_status find_orphans(gc_run *g)
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
     * dead; a missing library is verify's error to report */
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

static uint64_t du(int parent, const char *name)
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
static int open_parent(gc_run *g, const char *rel, int *fd,
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

/* Is @p cid reachable from its package's PkgLib INI (current or kept)? */
static bool reachable(gc_run *g, const char *cid)
{
    char pk[CMH_PKGID_SIZE];
    if (cmh_content_id_parse(pk, NULL, cid) != CMH_CONTENT_PACKAGE)
        return false;
    cmh_pkg_info info;
    cmh_reflist kept = {0};
    cmh_err_saved saved;
    cmh__err_capture(g->ctx, &saved);
    bool r = true; /* unreadable PkgLib INI: assume reachable */
    if (cmh__pkglib_read(g->ctx, &g->lib, pk, &info) == CMH_OK &&
        cmh__pkglib_kept(g->ctx, &g->lib, pk, &kept) == CMH_OK)
        r = !strcmp(info.cid, cid) || cmh__reflist_has(&kept, cid);
    cmh__reflist_free(&kept);
    cmh__err_restore(g->ctx, &saved);
    return r;
}

static bool content_exists(gc_run *g, const char *cid)
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
static cmh_status used_hashes(gc_run *g, uint8_t **out, size_t *n)
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
static int entry_root(gc_run *g, const char *hex)
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
static uint64_t entry_bytes(int fl, const char *hex)
{
    char rel[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(rel, hex, "");
    uint64_t b = du(fl, rel);
    cmh__filelib_rel_hex(rel, hex, ".SIG");
    b += du(fl, rel);
    cmh__filelib_rel_hex(rel, hex, ".INI");
    return b + du(fl, rel);
}

/* Is any of entry @p hex's three files still on root @p fl? */
static bool entry_present(int fl, const char *hex)
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
static const char *remove_file(gc_run *g, gc_item *it, const uint8_t *used,
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
    int fl = entry_root(g, hex);
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
            if (content_exists(g, r.ids[i]))
                keep = "its reference INI names a content that exists";
            else if (package_busy(g, r.ids[i]))
                keep = "its reference INI names a package being written";
        }
        cmh__reflist_free(&r);
        if (keep)
            return keep;
    }
    it->bytes = entry_bytes(fl, hex);
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
static cmh_status add_content_files(gc_run *g)
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
            int fl = entry_root(g, hex);
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
            gc_item *it = item_new(g, CMH_GC_CONTENT_FILE, path);
            if (!it) {
                free(h);
                return cmh__fail(g->ctx, CMH_E_NOMEM, "out of memory");
            }
            snprintf(it->cid, sizeof it->cid, "%s", cid);
            snprintf(it->hash, sizeof it->hash, "%s", hex);
            it->bytes = entry_bytes(fl, hex);
        }
        free(h);
    }
    return CMH_OK;
}

static const char *remove_temp(gc_run *g, gc_item *it)
{
    int fd;
    const char *base;
    if (open_parent(g, it->path, &fd, &base))
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

static int report(gc_run *g, gc_item *it, bool removed, const char *why,
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

/* FileLib root @p r of the library: 0 the primary, then the extra roots
 * in lookup order (cmh__filelib_roots_open). */
static int root_fd(gc_run *g, size_t r)
{
    return r ? g->lib.xfd[r - 1] : g->lib.filelib_fd;
}

/* The root commands use for entry @p hex: the first holding its data
 * (cmh__filelib_find's order, verify's rule); -1 when none does. */
static int used_root(gc_run *g, const char *hex)
{
    char rel[CMH_FILELIB_REL_SIZE];
    struct stat sb;
    cmh__filelib_rel_hex(rel, hex, "");
    for (size_t r = 0; r <= g->lib.nx; r++)
        if (fstatat(root_fd(g, r), rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode))
            return (int)r;
    return -1;
}

/* Is the data file of entry @p hex on root fd @p fl intact (its SHA-256
 * is its name)? Read only for a duplicate that would otherwise go (gc
 * reads no other file data), in the dry run too, so that it lists what
 * --apply removes: the one check that proves the used copy good. */
static bool data_intact(gc_run *g, int fl, const char *hex)
{
    char rel[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(rel, hex, "");
    int fd;
    if (cmh__os_open_read(fl, rel, &fd) != 0)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    bool ok = md && buf && EVP_DigestInit_ex(md, g->ctx->sha256, NULL);
    ssize_t n;
    while (ok && (n = read(fd, buf, 1 << 20)) != 0)
        ok = n > 0 && EVP_DigestUpdate(md, buf, (size_t)n);
    uint8_t sha[EVP_MAX_MD_SIZE], want[CMH_SHA256_LEN];
    unsigned len = 0;
    ok = ok && EVP_DigestFinal_ex(md, sha, &len) && len == CMH_SHA256_LEN &&
         cmh__hex64_decode(hex, want) && !memcmp(sha, want, len);
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    return ok;
}

/* Why entry @p hex's copy on root fd @p dfd must stay, given the used copy
 * on root fd @p ufd; NULL when it may go: each of its files is a regular
 * file with the same name and size on the used root (the reference INI:
 * the same bytes, small), and verify found the used copy intact. Reads
 * no data file. */
static const char *dup_keep(gc_run *g, const char *hex, int dfd, int ufd)
{
    static const char *const sfx[3] = {"", ".SIG", ".INI"};
    for (size_t i = 0; i < g->nbad; i++)
        if (!strcmp(g->bad[i], hex))
            return "the used copy is damaged; run cmhash verify";
    for (int k = 0; k < 3; k++) {
        char rel[CMH_FILELIB_REL_SIZE];
        struct stat ds, us;
        cmh__filelib_rel_hex(rel, hex, sfx[k]);
        if (fstatat(dfd, rel, &ds, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (!S_ISREG(ds.st_mode))
            return "not a regular file; remove it by hand";
        if (fstatat(ufd, rel, &us, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(us.st_mode))
            return k == 1 ? "the used copy has no .SIG; this one would be "
                            "lost"
                          : "the used copy has no reference INI; this one "
                            "would be lost";
        if (k < 2 && ds.st_size != us.st_size)
            return "the copies differ in size (one is damaged); run cmhash "
                   "verify, then remove the bad one by hand";
        if (k == 2) {
            char *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            bool same =
                cmh__read_small_file(dfd, rel, CMH_INI_MAX_FILE, &a, &na) ==
                    0 &&
                cmh__read_small_file(ufd, rel, CMH_INI_MAX_FILE, &b, &nb) ==
                    0 &&
                na == nb && !memcmp(a, b, na);
            free(a);
            free(b);
            if (!same)
                return "its reference INI differs from the used copy's; "
                       "merge them by hand";
        }
    }
    return NULL;
}

/* Duplicates (verify's STRAY on a second root): one item per entry and
 * root that is not the used one, listed and, with --apply, removed under
 * the library lock after the re-check. */
static cmh_status gc_duplicates(gc_run *g, bool apply, cmh_gc_result *res)
{
    static const char *const sfx[3] = {"", ".SIG", ".INI"};
    for (size_t i = 0; i < g->ndups; i++) {
        const char *hex = g->dups[i];
        int u = used_root(g, hex);
        for (size_t r = 0; r <= g->lib.nx; r++) {
            int dfd = root_fd(g, r);
            if ((int)r == u || !entry_present(dfd, hex))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%.4s/%s",
                     r ? g->lib.xpath[r - 1] : "FileLib", hex, hex);
            gc_item *it = item_new(g, CMH_GC_DUPLICATE, path);
            if (!it)
                return cmh__fail(g->ctx, CMH_E_NOMEM, "out of memory");
            snprintf(it->hash, sizeof it->hash, "%s", hex);
            it->bytes = entry_bytes(dfd, hex);
            res->items++;
            res->bytes += it->bytes;
            const char *why = u < 0 ? "no root holds the entry's data; "
                                      "repair it first (cmhash verify)"
                                    : dup_keep(g, hex, dfd, root_fd(g, (size_t)u));
            bool removed = false;
            if (!why && !data_intact(g, root_fd(g, (size_t)u), hex))
                why = "the used copy is damaged (its bytes do not hash to "
                      "its name); run cmhash verify";
            if (apply && !why) {
                for (int k = 0; k < 3; k++) {
                    char rel[CMH_FILELIB_REL_SIZE];
                    cmh__filelib_rel_hex(rel, hex, sfx[k]);
                    if (unlinkat(dfd, rel, 0) != 0 && errno != ENOENT &&
                        !why)
                        why = "cannot delete it";
                }
                removed = !why;
            }
            if (report(g, it, removed, why, res))
                return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
        }
    }
    return CMH_OK;
}

/* The options checked and the run set up. */
static cmh_status gc_start(gc_run *g, cmh_ctx *ctx, const cmh_gc_opts *o)
{
    memset(g, 0, sizeof *g);
    cmh__library_init(&g->lib);
    cmh_status st = CMH__OPTS_CHECK(ctx, o, CMH_GC_OPTS_VERSION, "gc");
    if (st)
        return st;
    if (!o->lib || isnan(o->min_age))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "cmh_gc: opts.lib is required and min_age a number");
    g->ctx = ctx;
    g->o = o;
    g->apply = o->flags & CMH_GC_APPLY;
    g->min_age = o->min_age == 0  ? CMH_GC_DEFAULT_MIN_AGE
                 : o->min_age < 0 ? 0
                                  : o->min_age;
    return CMH_OK;
}

/* After the orphan pass: the library open, and --apply's refusals (an INI
 * that does not parse, a ConfigMgr-written library). */
static cmh_status gc_ready(gc_run *g)
{
    cmh_status st;
    if (g->lib.root_fd < 0 &&
        (st = cmh__library_open(g->ctx, &g->lib, g->o->lib, false)) != CMH_OK)
        return st;
    if (g->apply && g->unparsed[0])
        return cmh__fail(g->ctx, CMH_E_LIBRARY,
                         "gc --apply refuses: %s/%s does not parse, so what "
                         "is referenced is not known; run cmhash verify and "
                         "repair it first",
                         g->lib.path, g->unparsed);
    if (g->apply && !(g->o->flags & CMH_GC_ALLOW_FOREIGN))
        return cmh__library_refuse_foreign(g->ctx, &g->lib, "gc --apply");
    return CMH_OK;
}

/* Orphan contents a PkgLib INI reaches (a kept version) are set aside:
 * never listed, never removed. */
static void set_aside_reachable(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind == CMH_GC_ORPHAN_CONTENT && reachable(g, it->cid)) {
            res->protected_items++;
            it->kind = 0; /* never listed */
        }
    }
}

/* --apply on one orphan content: under its package lock, re-check, then
 * retire every content of the package PkgLib does not reach. Returns why
 * it stays (NULL: removed). */
static const char *remove_content(gc_run *g, gc_item *it)
{
    char pk[CMH_PKGID_SIZE];
    const char *why = NULL;
    if (cmh_content_id_parse(pk, NULL, it->cid) != CMH_CONTENT_PACKAGE)
        return "not a package content; remove it by hand";
    if (cmh__library_lock_package(g->ctx, &g->lib, pk, false) != CMH_OK) {
        cmh__err_clear(g->ctx);
        return "its package is locked by a running snapshot";
    }
    cmh_pkg_info info;
    uint64_t retired = 0;
    if (reachable(g, it->cid))
        why = "a PkgLib INI lists it now";
    else if (cmh__pkglib_read(g->ctx, &g->lib, pk, &info) != CMH_OK ||
             cmh__retire_package(g->ctx, &g->lib, pk, info.cid, true,
                                 &retired) != CMH_OK)
        why = "could not retire it (run cmhash verify)";
    else if (content_exists(g, it->cid))
        why = "still present after retirement";
    cmh__err_clear(g->ctx);
    close(g->lib.pkg_lock_fd);
    g->lib.pkg_lock_fd = -1;
    return why;
}

/* 2. contents, package by package under the package lock. */
static cmh_status gc_contents(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_ORPHAN_CONTENT)
            continue;
        char ini[CMH_CID_SIZE + 8];
        snprintf(ini, sizeof ini, "%s.INI", it->cid);
        it->bytes = du(g->lib.datalib_fd, it->cid) + du(g->lib.datalib_fd, ini);
        res->items++;
        res->bytes += it->bytes;
        const char *why = g->apply ? remove_content(g, it) : NULL;
        if (report(g, it, g->apply && !why, why, res))
            return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    return CMH_OK;
}

/* 2b. the entries those contents freed (their retirement deleted the ones
 * no other content references by now). */
static cmh_status gc_content_files(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_CONTENT_FILE)
            continue;
        res->items++;
        res->bytes += it->bytes;
        bool removed =
            g->apply && !entry_present(entry_root(g, it->hash), it->hash);
        const char *why = g->apply && !removed
                              ? "still referenced (its content was kept, "
                                "or another content uses it now)"
                              : NULL;
        if (report(g, it, removed, why, res))
            return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    return CMH_OK;
}

/* 3. FileLib entries, under the library lock; copies on a second root
 * first (an orphan's duplicate goes with it). */
static cmh_status gc_entries(gc_run *g, cmh_gc_result *res)
{
    uint8_t *used = NULL;
    size_t nused = 0;
    cmh_status st;
    if (g->apply && (st = used_hashes(g, &used, &nused)) != CMH_OK)
        return st;
    if (g->apply && (st = cmh__library_lock(g->ctx, &g->lib)) != CMH_OK) {
        free(used);
        return st;
    }
    st = gc_duplicates(g, g->apply, res);
    for (size_t i = 0; st == CMH_OK && i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_ORPHAN_FILE)
            continue;
        it->bytes = entry_bytes(entry_root(g, it->hash), it->hash);
        res->items++;
        res->bytes += it->bytes;
        const char *why = g->apply ? remove_file(g, it, used, nused) : NULL;
        if (report(g, it, g->apply && !why, why, res))
            st = cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    if (g->apply)
        cmh__library_unlock(&g->lib);
    free(used);
    return st;
}

/* 4. old temporaries. */
static cmh_status gc_temps(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_TEMP)
            continue;
        int fd;
        const char *base;
        if (open_parent(g, it->path, &fd, &base) == 0) {
            it->bytes = du(fd, base);
            close(fd);
        }
        res->items++;
        res->bytes += it->bytes;
        const char *why = g->apply ? remove_temp(g, it) : NULL;
        if (report(g, it, g->apply && !why, why, res))
            return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    return CMH_OK;
}

static void gc_free(gc_run *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].path);
    free(g->v);
    free(g->dups);
    free(g->bad);
    cmh__library_close(&g->lib);
}

cmh_status cmh_gc(cmh_gc_result *res, cmh_ctx *ctx, const cmh_gc_opts *o)
{
    memset(res, 0, sizeof *res);
    cmh__err_clear(ctx);
    gc_run g;
    cmh_status st = gc_start(&g, ctx, o);
    if (st == CMH_OK)
        st = find_orphans(&g); /* 1. verify's orphans */
    if (st == CMH_OK)
        st = gc_ready(&g);
    if (st == CMH_OK) {
        set_aside_reachable(&g, res);
        st = add_content_files(&g); /* what orphan contents free */
    }
    if (st == CMH_OK)
        st = gc_contents(&g, res);
    if (st == CMH_OK)
        st = gc_content_files(&g, res);
    if (st == CMH_OK)
        st = gc_entries(&g, res);
    if (st == CMH_OK)
        st = gc_temps(&g, res);
    gc_free(&g);
    return st;
}
