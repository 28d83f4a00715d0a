/* Loading content trees (tree_io.h): the strict DataLib mirror reader used
 * by extract, diff, ls and delta. A crafted mirror must never make cmhash
 * touch a path outside the library or the destination, so the reader
 * walks with openat and O_NOFOLLOW from the DataLib fd and refuses
 * anything that is not a real folder or a regular `.INI` file. */
#include "tree_io.h"

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

/* Deeper mirrors are refused: 32,000 UTF-16 units of path cannot hold more
 * than 16,000 one-character folders. */
#define MIRROR_MAX_DEPTH 16000

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
        cmh_status st = cmh_pkglib_read(ctx, l, pkgid, &info);
        if (st)
            return st;
        if (!info.cid[0])
            return cmh__fail(ctx, CMH_E_LIBRARY,
                             "package %s is not in %s (no PkgLib/%s.INI); "
                             "run cmhash ls to see what is there",
                             pkgid, l->path, pkgid);
        snprintf(cid, CMH_CID_SIZE, "%s", info.cid);
    } else if (cmh_content_id_parse(text, NULL, NULL) !=
               CMH_CONTENT_INVALID) {
        snprintf(cid, CMH_CID_SIZE, "%s", text);
    } else {
        return cmh__fail(ctx, CMH_E_INVALID,
                         "'%s' is not a content ID (e.g. MSC0000B.2, "
                         "Content_<guid>.1) or a package ID (e.g. MSC0000B)",
                         text);
    }
    char name[CMH_CID_SIZE + 8], why[256];
    snprintf(name, sizeof name, "%s.INI", cid);
    int e = cmh_content_ini_hash(l, cid, hash, why, sizeof why);
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

typedef struct file_parse {
    bool has_attrs, has_size, has_time, has_hash;
    uint32_t attrs;
    uint64_t size;
    int64_t ft;
    char hash[CMH_HEX_SIZE];
    char *why;
    size_t whylen;
} file_parse;

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!*s || strlen(s) > 19)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static int file_cb(void *payload, const char *section, const char *key,
                   const char *value, int lineno)
{
    file_parse *p = payload;
    if (strcasecmp(section, "File"))
        return 0;
    bool ok = true;
    if (!strcasecmp(key, "Attributes")) {
        char *end;
        unsigned long v = strtoul(value, &end, 16);
        ok = strlen(value) == 8 && !*end;
        p->attrs = (uint32_t)v;
        p->has_attrs = true;
    } else if (!strcasecmp(key, "Size")) {
        ok = parse_u64(value, &p->size) && p->size <= (uint64_t)INT64_MAX;
        p->has_size = true;
    } else if (!strcasecmp(key, "TimeModified")) {
        uint64_t v = 0;
        /* FILETIMEs past year 30828 are not valid Windows times */
        ok = parse_u64(value, &v) && v <= 0x7FFFFFFFFFFFFFFFull;
        p->ft = (int64_t)v;
        p->has_time = true;
    } else if (!strcasecmp(key, "Hash")) {
        ok = cmh_is_hex64(value, NULL);
        if (ok)
            for (int i = 0; i < 65; i++)
                p->hash[i] = (char)(value[i] >= 'a' && value[i] <= 'f'
                                        ? value[i] - 32 : value[i]);
        p->has_hash = true;
    }
    if (!ok) {
        snprintf(p->why, p->whylen, "line %d: bad %s value", lineno, key);
        return 1;
    }
    return 0;
}

typedef struct mload {
    cmh_ctx *ctx;
    cmh_library *l;
    const char *cid;
    cmh_tree_counts *c;
} mload;

static cmh_status mirror_dir(mload *m, int dfd, cmh_node *dir,
                             const char *rel, int depth)
{
    cmh_ctx *ctx = m->ctx;
    const char *lp = m->l->path, *cid = m->cid;
    if (depth > MIRROR_MAX_DEPTH)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/DataLib/%s/%s is nested too deeply; run cmhash "
                         "verify", lp, cid, rel);
    int dup_fd = dup(dfd);
    if (dup_fd < 0)
        return cmh__fail_errno(ctx, CMH_E_IO, errno, "dup");
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return cmh__fail_errno(ctx, CMH_E_IO, errno,
                               "cannot list %s/DataLib/%s/%s", lp, cid, rel);
    }
    rewinddir(d);
    cmh_status st = CMH_OK;
    char *sub = NULL;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                st = cmh__fail_errno(ctx, CMH_E_IO, errno,
                                     "cannot list %s/DataLib/%s/%s", lp, cid,
                                     rel);
            break;
        }
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, ".."))
            continue;
        free(sub);
        sub = rel[0] ? cmh_path_join(rel, nm) : cmh_strdup(nm);
        if (!sub) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        struct stat sb;
        if (fstatat(dfd, nm, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            st = cmh__fail_errno(ctx, CMH_E_IO, errno,
                                 "cannot stat %s/DataLib/%s/%s", lp, cid,
                                 sub);
            break;
        }
        if (S_ISLNK(sb.st_mode) ||
            (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))) {
            st = cmh__fail(ctx, CMH_E_LIBRARY,
                           "%s/DataLib/%s/%s is a %s, which a mirror never "
                           "holds; refusing it (run cmhash verify)", lp, cid,
                           sub, S_ISLNK(sb.st_mode) ? "symbolic link"
                                                    : "special file");
            break;
        }
        size_t len = strlen(nm);
        bool is_dir = S_ISDIR(sb.st_mode);
        if (!is_dir) {
            if (len < 4 || strcasecmp(nm + len - 4, ".INI")) {
                st = cmh__fail(ctx, CMH_E_LIBRARY,
                               "%s/DataLib/%s/%s is not a file INI (every "
                               "mirror file ends in .INI); run cmhash verify",
                               lp, cid, sub);
                break;
            }
            len -= 4;
        }
        cmh_node *n = cmh_node_new(nm, len, is_dir);
        if (!n) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        if (!cmh__safe_component(n->name) || cmh_name_problem(n->name)) {
            const char *why = cmh_name_problem(n->name);
            st = cmh__fail(ctx, CMH_E_LIBRARY,
                           "%s/DataLib/%s/%s names a path that is not a "
                           "plain file or folder name (%s); refusing it "
                           "(run cmhash verify)", lp, cid, sub,
                           why ? why : "'.', '..' or a path separator");
            cmh_node_free(n);
            break;
        }
        if (!cmh_node_add(dir, n)) {
            cmh_node_free(n);
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        if (is_dir) {
            int cfd;
            int e = cmh_os_open_dir(dfd, nm, &cfd);
            if (e) {
                st = cmh__fail_errno(ctx, e == ELOOP ? CMH_E_LIBRARY
                                                     : CMH_E_IO, e,
                                     "cannot open %s/DataLib/%s/%s", lp, cid,
                                     sub);
                break;
            }
            m->c->folders++;
            st = mirror_dir(m, cfd, n, sub, depth + 1);
            close(cfd);
            if (st)
                break;
            continue;
        }
        char *data, why[256];
        size_t dlen;
        int e = cmh_read_small_file(dfd, nm, CMH_INI_MAX_FILE, &data, &dlen);
        if (e) {
            st = cmh__fail_errno(ctx, e == ELOOP ? CMH_E_LIBRARY : CMH_E_IO,
                                 e, "cannot read %s/DataLib/%s/%s", lp, cid,
                                 sub);
            break;
        }
        file_parse p = {.why = why, .whylen = sizeof why};
        why[0] = 0;
        bool ok = cmh_ini_parse(data, dlen, file_cb, &p, why, sizeof why);
        free(data);
        if (ok && !(p.has_attrs && p.has_size && p.has_time && p.has_hash)) {
            ok = false;
            snprintf(why, sizeof why, "[File] needs Attributes, Size, "
                     "TimeModified and Hash");
        }
        if (!ok) {
            st = cmh__fail(ctx, CMH_E_LIBRARY,
                           "%s/DataLib/%s/%s is damaged (%s); run cmhash "
                           "verify", lp, cid, sub, why);
            break;
        }
        n->size = p.size;
        n->attrs = p.attrs;
        n->mtime_ns = cmh_ns_from_filetime(p.ft);
        (void)cmh_hex64_decode(p.hash, n->sha);
        m->c->files++;
        m->c->bytes += p.size;
    }
    free(sub);
    closedir(d);
    return st;
}

static int key_cmp(const cmh_node *a, const cmh_node *b)
{
    return cmh_utf16_cmp(a->key, a->key_len, b->key, b->key_len);
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
    if (cmh_content_id_parse(cid, NULL, NULL) == CMH_CONTENT_INVALID)
        return cmh__fail(ctx, CMH_E_INVALID, "'%s' is not a content ID",
                         cid);
    int fd;
    int e = cmh_os_open_dir(l->datalib_fd, cid, &fd);
    if (e == ENOENT)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/DataLib/%s is missing; run cmhash verify",
                         l->path, cid);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot open %s/DataLib/%s (a symbolic link "
                               "or not a folder?)", l->path, cid);
    cmh_node *r = cmh_node_new("", 0, true);
    if (!r) {
        close(fd);
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    mload m = {ctx, l, cid, counts};
    cmh_status st = mirror_dir(&m, fd, r, "", 0);
    close(fd);
    if (st) {
        cmh_node_free(r);
        return st;
    }
    cmh_tree_sort(r);
    const cmh_node *twin = find_twin(r);
    if (twin) {
        char *rel = cmh_node_relpath(twin);
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s/DataLib/%s/%s: two mirror entries map to this "
                       "name (differing only in case, or a file and a "
                       "folder); run cmhash verify", l->path, cid,
                       rel ? rel : "?");
        free(rel);
        cmh_node_free(r);
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
    cmh_status st = cmh_hash_dir_tree(ctx, path, root);
    if (st)
        return st;
    cmh_tree_sort(*root);
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


cmh_status cmh__dest_open(cmh_ctx *ctx, const char *path,
                          bool allow_nonempty, int *fd, bool *was_empty)
{
    *fd = -1;
    *was_empty = false;
    int e = cmh_mkdir_p(path);
    int dfd = -1;
    if (!e && (dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        e = errno;
    if (e)
        return cmh__fail(ctx, CMH_E_IO, "cannot create or open %s: %s; %s",
                         path, strerror(e), cmh__write_hint(e));
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
        int e = cmh_os_open_dir(cur, name, &next);
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
