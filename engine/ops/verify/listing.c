/* verify's listings (step 1): PkgLib package INIs and lock probes,
 * DataLib contents, FileLib roots and entries, stray names. */
#include "vpriv.h"

/* ---- listing folders ---- */

typedef struct dent {
    char *name;
    unsigned char type; /* DT_* from readdir, DT_UNKNOWN if not given */
} dent;

typedef struct dlist {
    dent *v;
    size_t n, cap;
} dlist;

static void dlist_free(dlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int dent_cmp(const void *a, const void *b)
{
    return strcmp(((const dent *)a)->name, ((const dent *)b)->name);
}

/* Names in folder @p fd (sorted, without . and ..). Returns 0 or errno. */
static int dlist_add(const char *name, unsigned char type, void *arg)
{
    dlist *out = arg;
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 32;
        dent *nv = realloc(out->v, nc * sizeof *nv);
        if (!nv)
            return ENOMEM;
        out->v = nv;
        out->cap = nc;
    }
    char *nm = cmh__strdup(name);
    if (!nm)
        return ENOMEM;
    out->v[out->n].name = nm;
    out->v[out->n].type = type;
    out->n++;
    return 0;
}

/* The names in folder @p fd, sorted; @p fresh: fd was just opened (no
 * rewind needed). */
static int list_dir_at(int fd, bool fresh, dlist *out)
{
    memset(out, 0, sizeof *out);
    int e = cmh__os_list_dir(fd, !fresh, dlist_add, out);
    if (e) {
        dlist_free(out);
        return e;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, dent_cmp);
    return 0;
}

static int list_dir(int fd, dlist *out)
{
    return list_dir_at(fd, false, out);
}

/* Type of dirfd/name without following links: DT_REG, DT_DIR, DT_LNK...
 * @p sb receives the stat when it was needed (else st_mode 0). */
static unsigned char dent_type(int dirfd, const dent *d, struct stat *sb)
{
    memset(sb, 0, sizeof *sb);
    if (d->type != DT_UNKNOWN)
        return d->type;
    if (fstatat(dirfd, d->name, sb, AT_SYMLINK_NOFOLLOW) != 0)
        return DT_UNKNOWN;
    if (S_ISREG(sb->st_mode))
        return DT_REG;
    if (S_ISDIR(sb->st_mode))
        return DT_DIR;
    if (S_ISLNK(sb->st_mode))
        return DT_LNK;
    return DT_UNKNOWN;
}

/* A `.cmhash-tmp-*` leftover or another unexpected name. */
static void stray(cmh_verify *v, int dirfd, const char *name,
                  const char *path, const char *why)
{
    if (!v->full)
        return;
    struct stat sb;
    double age = -1;
    bool tmp = has_prefix(name, CMH_TMP_PREFIX);
    if (tmp) {
        /* A running snapshot's temps look the same: while any package is
         * locked they are not reported. */
        if (v->any_busy)
            return;
        if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
            age = wall_now() - mtime_of(&sb);
            if (age < 0)
                age = 0;
        }
        cmh__v_emitf(
            v, CMH_VF_STRAY, VF(.path = path, .age = age, .aged = true),
            "leftover temporary of an interrupted cmhash run, %.0f s old;"
            " cmhash gc --apply removes it once it is older than "
            "--min-age (default 1d)",
            age);
        return;
    }
    cmh__v_emitf(v, CMH_VF_STRAY, VF(.path = path), "%s", why);
}

/* ---- PkgLib ---- */

/* List content @p id of package @p pkgid (from its PkgLib INI). */
static void list_content(cmh_verify *v, const char *pkgid, const char *id,
                         bool selected)
{
    vcontent *c = cmh__v_add_content(v, id);
    if (c) {
        c->listed = true;
        c->selected = selected;
        if (!c->pkgid[0])
            memcpy(c->pkgid, pkgid, CMH_PKGID_SIZE);
    }
}

/* Read PkgLib/<pkgid>.INI (file @p name); list its contents. */
void cmh__v_read_package(cmh_verify *v, const char *name, const char *pkgid,
                         bool selected)
{
    char *path = xasprintf("PkgLib/%s", name);
    char *data = NULL;
    size_t len;
    if (!path) {
        v->oom = true;
        return;
    }
    v->sum.packages++;
    int e = cmh__read_small_file(v->lib.pkglib_fd, name, CMH_INI_MAX_FILE,
                                &data, &len);
    if (e == ENOENT) {
        /* listed a moment ago: the package was deleted during the run (by
         * ConfigMgr or an admin) - not damage (issue 11, item 15) */
        cmh__v_emitf(
            v, CMH_VF_BUSY, VF(.path = path),
            "package %s was removed during this run; it is not checked", pkgid);
        goto out;
    }
    if (e) {
        cmh__v_emitf(v,
                     e == EFBIG ? CMH_VF_PKG_INI_BAD : CMH_VF_FILE_UNREADABLE,
                     VF(.path = path), "cannot read the package INI: %s",
                     e == EFBIG ? "larger than 4 MiB" : strerror(e));
        goto out;
    }
    char why[256];
    cmh_pkgini pi;
    if (!cmh__pkgini_parse(&pi, pkgid, data, len, why, sizeof why)) {
        if (pi.oom)
            v->oom = true;
        cmh__v_emitf(v, CMH_VF_PKG_INI_BAD, VF(.path = path),
                     "unparsable package INI: %s", why);
        cmh__pkgini_free(&pi);
        goto out;
    }
    /* versions snapshot --keep retains (docs/FORMAT.md) are referenced
     * like the current one, so verified in full and never orphans */
    for (size_t i = 0; i < pi.nkeep; i++)
        list_content(v, pkgid, pi.keep[i], selected);
    for (size_t i = 0; i < pi.nids; i++)
        list_content(v, pkgid, pi.ids[i], selected);
    for (size_t i = 0; i < pi.nbad; i++)
        cmh__v_emitf(v, CMH_VF_PKG_INI_BAD,
                     VF(.path = path, .actual = pi.bad[i].key), "%s",
                     pi.bad[i].why);
    cmh__pkgini_free(&pi);
out:
    free(data);
    free(path);
}

void cmh__v_probe_lock(cmh_verify *v, const char *pkgid)
{
    /* opens read-only, never creates the file */
    if (!cmh__v_pkg_locked_now(v, pkgid))
        return;
    char (*nb)[CMH_PKGID_SIZE] =
        realloc(v->busy, (v->nbusy + 1) * sizeof *v->busy);
    if (!nb) {
        v->oom = true;
        return;
    }
    v->busy = nb;
    memcpy(v->busy[v->nbusy++], pkgid, CMH_PKGID_SIZE);
    v->any_busy = true;
    char path[48];
    snprintf(path, sizeof path, CMH_STATE_DIR "/%s.lock", pkgid);
    cmh__v_emitf(
        v, CMH_VF_BUSY, VF(.path = path),
        "package %s is being written by a snapshot (its lock is held); "
        "its contents and their files are skipped",
        pkgid);
}

/* Package locks in <lib>/.cmhash/ (read-only: opened, never made). */
static void probe_state_locks(cmh_verify *v)
{
    int fd;
    if (cmh__os_open_dir_noatime(v->lib.root_fd, CMH_STATE_DIR, &fd) != 0)
        return;
    dlist dl;
    if (list_dir(fd, &dl) == 0) {
        for (size_t i = 0; i < dl.n; i++) {
            const char *nm = dl.v[i].name;
            char pk[CMH_PKGID_SIZE], stem[16];
            if (strlen(nm) != 13 || !ends_ci(nm, ".lock"))
                continue;
            memcpy(stem, nm, 8);
            stem[8] = 0;
            if (cmh_pkgid_parse(pk, stem) == CMH_OK)
                cmh__v_probe_lock(v, pk);
        }
        dlist_free(&dl);
    }
    close(fd);
}

void cmh__v_scan_pkglib(cmh_verify *v)
{
    dlist dl;
    probe_state_locks(v);
    int e = list_dir(v->lib.pkglib_fd, &dl);
    if (e) {
        cmh__v_emitf(v, CMH_VF_LIB_LAYOUT, VF(.path = "PkgLib"),
                     "cannot list PkgLib: %s", strerror(e));
        return;
    }
    cmh__pause_point("verify-pkglib-listed");
    /* locks first, so that temps of a running snapshot are recognised */
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        char pk[CMH_PKGID_SIZE], stem[16];
        if (n == 13 && ends_ci(nm, ".lock")) {
            memcpy(stem, nm, 8);
            stem[8] = 0;
            bool seen = false; /* also in .cmhash/: probed already */
            for (size_t k = 0; k < v->nbusy; k++)
                seen = seen || !strcasecmp(v->busy[k], stem);
            if (!seen && cmh_pkgid_parse(pk, stem) == CMH_OK)
                cmh__v_probe_lock(v, pk);
        }
    }
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        struct stat sb;
        unsigned char t = dent_type(v->lib.pkglib_fd, &dl.v[i], &sb);
        char *path = xasprintf("PkgLib/%s", nm);
        if (!path) {
            v->oom = true;
            break;
        }
        char pk[CMH_PKGID_SIZE], stem[16];
        bool pkg_name = false;
        if (n == 12 || n == 13) {
            memcpy(stem, nm, 8);
            stem[8] = 0;
            pkg_name = cmh_pkgid_parse(pk, stem) == CMH_OK;
        }
        if (t == DT_REG && n == 12 && pkg_name && ends_ci(nm, ".INI")) {
            cmh__v_read_package(v, nm, pk, true);
        } else if (t == DT_REG &&
                   ((n == 13 && pkg_name && ends_ci(nm, ".lock")) ||
                    !strcmp(nm, CMH_LIB_LOCK))) {
            /* cmhash's own lock files */
        } else {
            stray(v, v->lib.pkglib_fd, nm, path,
                  t == DT_DIR ? "unexpected folder in PkgLib"
                              : "unexpected file in PkgLib (not "
                                "<PackageID>.INI)");
        }
        free(path);
    }
    dlist_free(&dl);
}

/* ---- DataLib listing ---- */

void cmh__v_scan_datalib(cmh_verify *v)
{
    dlist dl;
    int e = list_dir(v->lib.datalib_fd, &dl);
    if (e) {
        cmh__v_emitf(v, CMH_VF_LIB_LAYOUT, VF(.path = "DataLib"),
                     "cannot list DataLib: %s", strerror(e));
        return;
    }
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        struct stat sb;
        unsigned char t = dent_type(v->lib.datalib_fd, &dl.v[i], &sb);
        char id[CMH_CID_SIZE];
        bool is_ini = t == DT_REG && n > 4 && n - 4 < sizeof id &&
                      ends_ci(nm, ".INI");
        if (is_ini) {
            memcpy(id, nm, n - 4);
            id[n - 4] = 0;
        }
        char *path = xasprintf("DataLib/%s", nm);
        if (!path) {
            v->oom = true;
            break;
        }
        if (is_ini &&
            cmh_content_id_parse(NULL, NULL, id) != CMH_CONTENT_INVALID) {
            vcontent *c = cmh__v_add_content(v, id);
            if (c) {
                c->has_ini = c->selected = true;
                memcpy(c->ini_suffix, nm + n - 4, 5);
            }
        } else if (t == DT_DIR && n < sizeof id &&
                   cmh_content_id_parse(NULL, NULL, nm) !=
                       CMH_CONTENT_INVALID) {
            vcontent *c = cmh__v_add_content(v, nm);
            if (c)
                c->has_dir = c->selected = true;
        } else {
            stray(v, v->lib.datalib_fd, nm, path,
                  t == DT_DIR ? "unexpected folder in DataLib (not a "
                                "content ID)"
                              : "unexpected file in DataLib (not "
                                "<ContentID>.INI)");
        }
        free(path);
    }
    dlist_free(&dl);
}

/* ---- FileLib listing ---- */

typedef struct fname {
    uint8_t sha[CMH_SHA256_LEN];
    int kind; /* 0 data, 1 INI, 2 SIG */
    int root;
} fname;

typedef struct fnames {
    fname *v;
    size_t n, cap;
} fnames;

static int fname_cmp(const void *a, const void *b)
{
    const fname *x = a, *y = b;
    int c = memcmp(x->sha, y->sha, CMH_SHA256_LEN);
    if (c)
        return c;
    if (x->kind != y->kind)
        return x->kind - y->kind;
    return x->root - y->root;
}

static void scan_h4(cmh_verify *v, int r, const char *h4, fnames *out)
{
    vroot *root = &v->roots[r];
    int fd = -1;
    char *dpath = xasprintf("%s/%s", root->display, h4);
    if (!dpath) {
        v->oom = true;
        return;
    }
    int e = cmh__os_open_dir_noatime(root->fd, h4, &fd);
    dlist dl = {0};
    if (!e)
        e = list_dir_at(fd, true, &dl);
    if (e) {
        cmh__v_emitf(v, CMH_VF_FILE_UNREADABLE, VF(.path = dpath),
                     "cannot list the FileLib folder: %s", strerror(e));
        free(dpath);
        if (fd >= 0)
            close(fd);
        return;
    }
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        struct stat sb;
        unsigned char t = dent_type(fd, &dl.v[i], &sb);
        int kind = -1;
        if (n >= 64 && is_upper_hex(nm, 64) && !memcmp(nm, h4, 4)) {
            if (n == 64)
                kind = 0;
            else if (n == 68 && !strcmp(nm + 64, ".INI"))
                kind = 1;
            else if (n == 68 && !strcmp(nm + 64, ".SIG"))
                kind = 2;
        }
        char *path = xasprintf("%s/%s", dpath, nm);
        if (!path) {
            v->oom = true;
            break;
        }
        if (kind >= 0 && t == DT_REG) {
            if (out->n == out->cap) {
                size_t nc = out->cap ? out->cap * 2 : 1024;
                fname *nv = realloc(out->v, nc * sizeof *nv);
                if (!nv) {
                    v->oom = true;
                    free(path);
                    break;
                }
                out->v = nv;
                out->cap = nc;
            }
            fname *f = &out->v[out->n++];
            (void)cmh__hex64_decode(nm, f->sha);
            f->kind = kind;
            f->root = r;
        } else {
            stray(v, fd, nm, path,
                  kind >= 0 ? "FileLib name that is not a regular file"
                            : "unexpected name in a FileLib folder (not "
                              "<HASH>, <HASH>.INI or <HASH>.SIG)");
        }
        free(path);
    }
    dlist_free(&dl);
    close(fd);
    free(dpath);
}

void cmh__v_scan_filelib(cmh_verify *v)
{
    fnames fn = {0};
    for (size_t r = 0; r < v->nroots; r++) {
        dlist dl;
        int e = list_dir(v->roots[r].fd, &dl);
        if (e) {
            cmh__v_emitf(v, CMH_VF_LIB_LAYOUT, VF(.path = v->roots[r].display),
                         "cannot list the FileLib folder: %s", strerror(e));
            continue;
        }
        for (size_t i = 0; i < dl.n; i++) {
            const char *nm = dl.v[i].name;
            struct stat sb;
            unsigned char t = dent_type(v->roots[r].fd, &dl.v[i], &sb);
            if (t == DT_DIR && strlen(nm) == 4 && is_upper_hex(nm, 4)) {
                scan_h4(v, (int)r, nm, &fn);
                continue;
            }
            char *path = xasprintf("%s/%s", v->roots[r].display, nm);
            if (!path) {
                v->oom = true;
                break;
            }
            stray(v, v->roots[r].fd, nm, path,
                  "unexpected name in FileLib (not a 4-hex-digit folder)");
            free(path);
        }
        dlist_free(&dl);
    }
    if (fn.n > 1)
        qsort(fn.v, fn.n, sizeof *fn.v, fname_cmp);
    /* One entry per hash. The copy used is the one every command uses
     * (cmh__filelib_find, snapshot's placement): the data on the first
     * root in lookup order (primary, --filelib, $CMHASH_FILELIB,
     * discovered), and the reference INI and .SIG next to it, else the
     * first root holding them. Any other copy is a STRAY duplicate
     * (contentlib.md 10); the finding names the used copy. */
    static const char *const sfx[3] = {"", ".INI", ".SIG"};
    for (size_t i = 0, j; i < fn.n && !v->oom; i = j) {
        for (j = i + 1; j < fn.n && !memcmp(fn.v[j].sha, fn.v[i].sha,
                                            CMH_SHA256_LEN);
             j++)
            ;
        ventry *cur = cmh__v_new_entry(v, fn.v[i].sha);
        if (!cur)
            break;
        int *slots[3] = {&cur->r_data, &cur->r_ini, &cur->r_sig};
        int home = fn.v[i].kind == 0 ? fn.v[i].root : -1; /* sorted */
        for (size_t k = i; k < j; k++) /* the data's root first */
            if (fn.v[k].root == home || *slots[fn.v[k].kind] < 0)
                *slots[fn.v[k].kind] = fn.v[k].root;
        for (size_t k = i; k < j; k++) {
            const fname *f = &fn.v[k];
            int used = *slots[f->kind];
            if (f->root == used)
                continue;
            char *path = cmh__v_entry_path(v, cur, f->root, sfx[f->kind]);
            char *upath = cmh__v_entry_path(v, cur, used, sfx[f->kind]);
            if (path && upath) {
                v->emit_sha = cur->sha;
                cmh__v_emitf(
                    v, CMH_VF_STRAY,
                    VF(.path = path, .expected = upath, .actual = "duplicate"),
                    "duplicate of %s, the copy cmhash uses (on %s)", upath,
                    v->roots[used].display);
                v->emit_sha = NULL;
            } else {
                v->oom = true;
            }
            free(path);
            free(upath);
        }
    }
    free(fn.v);
    cmh__v_sort_entries(v);
}

/* ID mode: look the entry up in every root (no listing). */
ventry *cmh__v_probe_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN])
{
    ventry *e = cmh__v_new_entry(v, sha);
    if (!e)
        return NULL;
    static const char *const sfx[3] = {"", ".INI", ".SIG"};
    int *slots[3] = {&e->r_data, &e->r_ini, &e->r_sig};
    for (int k = 0; k < 3; k++)
        for (size_t r = 0; r < v->nroots && *slots[k] < 0; r++) {
            char rel[CMH_FILELIB_REL_SIZE];
            cmh__filelib_rel_hex(rel, EHEX(e), sfx[k]);
            struct stat sb;
            if (fstatat(v->roots[r].fd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(sb.st_mode))
                *slots[k] = (int)r;
        }
    return e;
}
