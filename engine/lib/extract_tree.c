/* Loading content trees (tree_io.h): the strict DataLib mirror reader used
 * by extract, diff, ls and delta. A crafted mirror must never make cmhash
 * touch a path outside the library or the destination, so the reader
 * walks with openat and O_NOFOLLOW from the DataLib fd and refuses
 * anything that is not a real folder or a regular `.INI` file. */
#include "tree_io.h"
#include "grow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

bool cmh__safe_component(const char *name)
{
    if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == '\\')
            return false;
    return true;
}

/* ---- resolve ---- */

cmh_status cmh__content_resolve(cmh_ctx *ctx, cmh_library *l,
                                const char *text, char cid[CMH_CID_SIZE],
                                char hash[CMH_HEX_SIZE])
{
    char pkgid[CMH_PKGID_SIZE];
    hash[0] = 0;
    if (cmh_pkgid_parse(pkgid, text) == CMH_OK) {
        cmh_pkg_info info;
        cmh_status st = cmh__pkglib_read(ctx, l, pkgid, &info);
        if (st)
            return st;
        if (!info.cid[0])
            return cmh__fail(ctx, CMH_E_LIBRARY,
                             "package %s is not in %s (no PkgLib/%s.INI); "
                             "run cmhash ls to see what is there",
                             pkgid, l->path, pkgid);
        snprintf(cid, CMH_CID_SIZE, "%s", info.cid);
    } else if (cmh_content_id_parse(NULL, NULL, text) != CMH_CONTENT_INVALID) {
        snprintf(cid, CMH_CID_SIZE, "%s", text);
    } else {
        return cmh__fail(ctx, CMH_E_INVALID,
                         "'%s' is not a content ID (e.g. MSC0000B.2, "
                         "Content_<guid>.1) or a package ID (e.g. MSC0000B)",
                         text);
    }
    char name[CMH_CID_SIZE + 8], why[256];
    snprintf(name, sizeof name, "%s.INI", cid);
    int e = cmh__content_ini_hash(l, cid, hash, why, sizeof why);
    if (e == ENOENT)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "content %s is not in %s (no DataLib/%s); run "
                         "cmhash ls to see what is there", cid, l->path,
                         name);
    if (e == EINVAL)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/DataLib/%s is damaged (%s); run cmhash verify",
                         l->path, name, why);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot read %s/DataLib/%s", l->path, name);
    return CMH_OK;
}

/* ---- mirror ---- */

typedef struct mload {
    cmh_ctx *ctx;
    cmh_library *l;
    const char *cid;
    cmh_tree_counts *c;
    cmh_node **stack; /* folder being read is stack[n - 1] */
    size_t n, cap;
    cmh_status st;    /* set by a callback that stopped the walk */
} mload;

/* "<rel>/<name>" of an entry of the current folder, malloc'd. */
static char *entry_rel(const mload *m, const char *name)
{
    const cmh_node *d = m->stack[m->n - 1];
    char *rel = d->parent ? cmh__node_relpath(d) : cmh__strdup("");
    if (!rel)
        return NULL;
    char *s = rel[0] ? cmh__path_join(rel, name) : cmh__strdup(name);
    free(rel);
    return s;
}

static int mload_fail(mload *m, cmh_status st)
{
    m->st = st;
    return 1;
}

/* A new node @p name (@p len bytes kept) in the current folder, after the
 * name checks every mirror entry passes. */
static cmh_node *mload_node(mload *m, const char *name, size_t len,
                            bool is_dir)
{
    cmh_ctx *ctx = m->ctx;
    cmh_node *n = cmh__node_new(name, len, is_dir);
    if (!n) {
        mload_fail(m, cmh__fail(ctx, CMH_E_NOMEM, "out of memory"));
        return NULL;
    }
    if (!cmh__safe_component(n->name) || cmh__name_problem(n->name)) {
        const char *why = cmh__name_problem(n->name);
        char *sub = entry_rel(m, name);
        mload_fail(m, cmh__fail(ctx, CMH_E_LIBRARY,
                                "%s/DataLib/%s/%s names a path that is not "
                                "a plain file or folder name (%s); refusing "
                                "it (run cmhash verify)", m->l->path, m->cid,
                                sub ? sub : name,
                                why ? why : "'.', '..' or a path separator"));
        free(sub);
        cmh__node_free(n);
        return NULL;
    }
    if (!cmh__node_add(m->stack[m->n - 1], n)) {
        cmh__node_free(n);
        mload_fail(m, cmh__fail(ctx, CMH_E_NOMEM, "out of memory"));
        return NULL;
    }
    return n;
}

static int mload_enter(void *arg, const char *name, int depth)
{
    (void)depth;
    mload *m = arg;
    if (!cmh__grow(&m->stack, &m->cap, m->n + 1, sizeof *m->stack, 1))
        return mload_fail(m, cmh__fail(m->ctx, CMH_E_NOMEM, "out of memory"));
    cmh_node *n = mload_node(m, name, strlen(name), true);
    if (!n)
        return 1;
    m->c->folders++;
    m->stack[m->n++] = n;
    return 0;
}

static void mload_leave(void *arg)
{
    mload *m = arg;
    m->n--;
}

static int mload_entry(void *arg, int dirfd, const char *nm,
                       const struct stat *sb)
{
    mload *m = arg;
    cmh_ctx *ctx = m->ctx;
    const char *lp = m->l->path, *cid = m->cid;
    size_t len = strlen(nm);
    const char *bad = S_ISLNK(sb->st_mode)    ? "is a symbolic link"
                      : !S_ISREG(sb->st_mode) ? "is a special file"
                      : len < 4 || strcasecmp(nm + len - 4, ".INI")
                          ? "is not a file INI (every mirror file ends in "
                            ".INI)"
                          : NULL;
    if (bad) {
        char *sub = entry_rel(m, nm);
        mload_fail(m, cmh__fail(ctx, CMH_E_LIBRARY,
                                "%s/DataLib/%s/%s %s, which a mirror never "
                                "holds; refusing it (run cmhash verify)", lp,
                                cid, sub ? sub : nm, bad));
        free(sub);
        return 1;
    }
    cmh_node *n = mload_node(m, nm, len - 4, false);
    if (!n)
        return 1;
    char *data, why[256];
    size_t dlen;
    int e = cmh__read_small_file(dirfd, nm, CMH_INI_MAX_FILE, &data, &dlen);
    cmh_fileini fi;
    int r = e ? CMH_FILEINI_UNPARSABLE
              : cmh__fileini_parse(data, dlen, &fi, why, sizeof why);
    if (!e)
        free(data);
    if (!e && r == CMH_FILEINI_OK) {
        n->size = fi.size;
        n->attrs = fi.attrs;
        n->mtime_ns = cmh__ns_from_filetime(fi.filetime);
        memcpy(n->sha, fi.sha, CMH_SHA256_LEN);
        m->c->files++;
        m->c->bytes += fi.size;
        return 0;
    }
    char *sub = entry_rel(m, nm);
    if (e)
        mload_fail(m, cmh__fail_errno(ctx, e == ELOOP || e == EFBIG ||
                                                   e == EINVAL
                                               ? CMH_E_LIBRARY
                                               : CMH_E_IO,
                                      e, "cannot read %s/DataLib/%s/%s", lp,
                                      cid, sub ? sub : nm));
    else {
        char detail[300];
        if (r == CMH_FILEINI_MISSING)
            snprintf(detail, sizeof detail, "[File] has no %s", fi.missing);
        else if (r == CMH_FILEINI_BAD)
            snprintf(detail, sizeof detail, "%s: '%s'", fi.bad,
                     fi.bad_value);
        else
            snprintf(detail, sizeof detail, "%s", why);
        mload_fail(m, cmh__fail(ctx, CMH_E_LIBRARY,
                                "%s/DataLib/%s/%s is damaged (%s); run "
                                "cmhash verify", lp, cid, sub ? sub : nm,
                                detail));
    }
    free(sub);
    return 1;
}

/* Read DataLib/<cid> into the tree @p r (cmh__mirror_walk: no descriptor
 * per level, one depth limit). */
static cmh_status mirror_read(mload *m, cmh_node *r)
{
    static const cmh_mirror_cb cb = {mload_enter, mload_leave, mload_entry,
                                     false};
    m->cap = 64;
    m->stack = malloc(m->cap * sizeof *m->stack);
    if (!m->stack)
        return cmh__fail(m->ctx, CMH_E_NOMEM, "out of memory");
    m->stack[0] = r;
    m->n = 1;
    char *where = NULL;
    int e = cmh__mirror_walk(m->l->datalib_fd, m->cid, &cb, m, &where);
    free(m->stack);
    cmh_status st = m->st;
    if (where)
        cmh__path_abbrev(where);
    if (!st && e == ELOOP)
        st = cmh__fail(m->ctx, CMH_E_LIBRARY,
                       "%s/DataLib/%s is nested deeper than %d folders, at "
                       "%s; run cmhash verify", m->l->path, m->cid,
                       CMH_MIRROR_MAX_DEPTH, where ? where : "");
    else if (!st && e == ENOENT && where && !where[0])
        st = cmh__fail(m->ctx, CMH_E_LIBRARY,
                       "%s/DataLib/%s is missing; run cmhash verify",
                       m->l->path, m->cid);
    else if (!st && e && where && !where[0]) {
        struct stat lsb; /* O_NOFOLLOW|O_DIRECTORY says ENOTDIR for a link */
        if (e == ENOTDIR &&
            fstatat(m->l->datalib_fd, m->cid, &lsb, AT_SYMLINK_NOFOLLOW) ==
                0 &&
            S_ISLNK(lsb.st_mode))
            e = ELOOP;
        st = cmh__fail(m->ctx, CMH_E_LIBRARY, "cannot open %s/DataLib/%s: "
                       "%s (%s)", m->l->path, m->cid, strerror(e),
                       cmh__read_hint(e));
    } else if (!st && e)
        st = cmh__fail_errno(m->ctx, e == ENOTDIR || e == ENOENT
                                         ? CMH_E_LIBRARY
                                         : CMH_E_IO,
                             e, "cannot read %s/DataLib/%s%s%s", m->l->path,
                             m->cid, where && where[0] ? "/" : "",
                             where ? where : "");
    free(where);
    return st;
}

static int key_cmp(const cmh_node *a, const cmh_node *b)
{
    return cmh__utf16_cmp(a->key, a->key_len, b->key, b->key_len);
}

/* NTFS cannot hold two names that differ only in case, nor a file and a
 * folder of one name; neither can an extraction. In a sorted folder twins
 * are neighbours; file/folder clashes are found by a merge. */
static const cmh_node *find_twin(const cmh_node *d)
{
    for (size_t i = 1; i < d->nfiles; i++)
        if (!key_cmp(d->files[i - 1], d->files[i]))
            return d->files[i];
    for (size_t i = 1; i < d->ndirs; i++)
        if (!key_cmp(d->dirs[i - 1], d->dirs[i]))
            return d->dirs[i];
    for (size_t i = 0, j = 0; i < d->nfiles && j < d->ndirs;) {
        int c = key_cmp(d->files[i], d->dirs[j]);
        if (!c)
            return d->files[i];
        if (c < 0)
            i++;
        else
            j++;
    }
    for (size_t i = 0; i < d->ndirs; i++) {
        const cmh_node *t = find_twin(d->dirs[i]);
        if (t)
            return t;
    }
    return NULL;
}

cmh_status cmh__mirror_load(cmh_ctx *ctx, cmh_library *l, const char *cid,
                            cmh_node **root, cmh_tree_counts *counts)
{
    *root = NULL;
    memset(counts, 0, sizeof *counts);
    if (cmh_content_id_parse(NULL, NULL, cid) == CMH_CONTENT_INVALID)
        return cmh__fail(ctx, CMH_E_INVALID, "'%s' is not a content ID",
                         cid);
    cmh_node *r = cmh__node_new("", 0, true);
    if (!r)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    mload m = {ctx, l, cid, counts, NULL, 0, 0, CMH_OK};
    cmh_status st = mirror_read(&m, r);
    if (st) {
        cmh__node_free(r);
        return st;
    }
    cmh__tree_sort(r);
    const cmh_node *twin = find_twin(r);
    if (twin) {
        char *rel = cmh__node_relpath(twin);
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s/DataLib/%s/%s: two mirror entries map to this "
                       "name (differing only in case, or a file and a "
                       "folder); run cmhash verify", l->path, cid,
                       rel ? rel : "?");
        free(rel);
        cmh__node_free(r);
        return st;
    }
    *root = r;
    return CMH_OK;
}

/* ---- source ---- */

static void count_rec(const cmh_node *n, cmh_tree_counts *c)
{
    for (size_t i = 0; i < n->nfiles; i++) {
        c->files++;
        c->bytes += n->files[i]->size;
    }
    for (size_t i = 0; i < n->ndirs; i++) {
        c->folders++;
        count_rec(n->dirs[i], c);
    }
}

void cmh__tree_count(const cmh_node *root, cmh_tree_counts *c)
{
    memset(c, 0, sizeof *c);
    count_rec(root, c);
}

cmh_status cmh__source_load(cmh_ctx *ctx, const char *path, cmh_node **root,
                            cmh_tree_counts *counts)
{
    cmh_status st = cmh__hash_dir_tree(ctx, path, root);
    if (st)
        return st;
    cmh__tree_sort(*root);
    cmh__tree_count(*root, counts);
    return CMH_OK;
}

int cmh__copy_hash(int in, int out, EVP_MD_CTX *md, EVP_MD *mdt,
                   unsigned char *buf, size_t bufsize, uint64_t *nbytes,
                   uint8_t sha[CMH_SHA256_LEN], bool *write_err)
{
    *nbytes = 0;
    *write_err = false;
    if (!EVP_DigestInit_ex(md, mdt, NULL))
        return ENOMEM;
    for (;;) {
        ssize_t r = read(in, buf, bufsize);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)r);
        *nbytes += (uint64_t)r;
        for (ssize_t off = 0; out >= 0 && off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                *write_err = true;
                return errno;
            }
            off += w;
        }
    }
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, sha, &len);
    return 0;
}

/* ---- destinations ---- */

cmh_status cmh__dest_tmp(cmh_ctx *ctx, const char *dest, const char *tag,
                         char **out)
{
    *out = NULL;
    const char *slash = strrchr(dest, '/');
    size_t plen = slash ? (size_t)(slash - dest) : 0;
    size_t n = plen + strlen(tag) + 64;
    char *work = malloc(n);
    if (!work)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    snprintf(work, n, "%.*s%s" CMH_TMP_PREFIX "%ld-%s", (int)plen, dest,
             slash ? "/" : "", (long)getpid(), tag);
    int e = 0;
    if (plen) { /* DEST's parents are made as before */
        work[plen] = 0;
        e = cmh__mkdir_p(work);
        work[plen] = '/';
    }
    if (!e && mkdir(work, 0755) != 0)
        e = errno;
    if (e) {
        free(work);
        return cmh__fail(ctx, CMH_E_IO, "cannot create a folder beside %s: "
                         "%s; %s", dest, strerror(e), cmh__dest_hint(e));
    }
    *out = work;
    return CMH_OK;
}


cmh_status cmh__dest_open(cmh_ctx *ctx, const char *path,
                          bool allow_nonempty, int *fd, bool *was_empty)
{
    *fd = -1;
    *was_empty = false;
    int e = cmh__mkdir_p(path);
    int dfd = -1;
    if (!e && (dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        e = errno;
    if (e)
        return cmh__fail(ctx, CMH_E_IO, "cannot create or open %s: %s; %s",
                         path, strerror(e), cmh__dest_hint(e));
    int dup_fd = dup(dfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        e = errno;
        if (dup_fd >= 0)
            close(dup_fd);
        close(dfd);
        return cmh__fail_errno(ctx, CMH_E_IO, e, "cannot list %s", path);
    }
    bool empty = true;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            empty = false;
            break;
        }
    closedir(d);
    if (!empty && !allow_nonempty) {
        close(dfd);
        return cmh__fail(ctx, CMH_E_INVALID,
                         "%s is not empty; give an empty or new folder",
                         path);
    }
    *fd = dfd;
    *was_empty = empty;
    return CMH_OK;
}

int cmh__open_rel_dir(int root, const char *rel, bool create, int *out)
{
    int cur = dup(root);
    if (cur < 0)
        return errno;
    const char *p = rel;
    while (*p) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        char name[1024];
        if (len == 0 || len >= sizeof name) {
            close(cur);
            return len ? ENAMETOOLONG : EINVAL;
        }
        memcpy(name, p, len);
        name[len] = 0;
        if (!cmh__safe_component(name)) {
            close(cur);
            return EINVAL;
        }
        if (create && mkdirat(cur, name, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(cur);
            return e;
        }
        int next;
        int e = cmh__os_open_dir(cur, name, &next);
        close(cur);
        if (e)
            return e;
        cur = next;
        p = q ? q + 1 : p + len;
    }
    *out = cur;
    return 0;
}

int cmh__apply_meta(int fd, uint32_t attrs, int64_t ns)
{
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_NOW;
    ts[1].tv_sec = (time_t)(ns / 1000000000LL);
    ts[1].tv_nsec = (long)(ns % 1000000000LL);
    if (ts[1].tv_nsec < 0) {
        ts[1].tv_sec--;
        ts[1].tv_nsec += 1000000000L;
    }
    if (fchmod(fd, (attrs & 0x1u) ? 0444 : 0644) != 0 ||
        futimens(fd, ts) != 0)
        return errno;
    return 0;
}
