/* The DataLib mirror tree walk (contentlib.md sections 1, 3.3, 4): one
 * depth limit for every command, and a descriptor walk that holds no
 * descriptor per level. A folder's listing is read whole, the walk then
 * descends into a sub-folder by name and comes back by "..", checked
 * against the device and inode it left (a folder moved meanwhile stops the
 * walk with ESTALE instead of walking somewhere else). */
#include "format.h"
#include "grow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "../os/os.h"

typedef struct level {
    char *name;      /* this folder's name ("" for the root) */
    char **subs;     /* sub-folder names still to visit, sorted */
    size_t nsubs, next;
    /* (not dev_t/ino_t: on Windows ino_t is 16 bits, and st_ino holds the
     * 64-bit file index) */
    uint64_t dev, ino;
} level;

typedef struct walk {
    level *v;
    size_t n, cap;
    int fd; /* open on the folder of v[n - 1] */
    char *bad; /* the entry of that folder an error is about, or NULL */
} walk;

static void level_free(level *l)
{
    for (size_t i = 0; i < l->nsubs; i++)
        free(l->subs[i]);
    free(l->subs);
    free(l->name);
}

static void walk_free(walk *w)
{
    for (size_t i = 0; i < w->n; i++)
        level_free(&w->v[i]);
    free(w->v);
    free(w->bad);
    if (w->fd >= 0)
        close(w->fd);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a/b/c" of the current stack, plus @p leaf when not NULL. */
static char *walk_path(const walk *w, const char *leaf)
{
    cmh_buf b;
    cmh__buf_init(&b);
    for (size_t i = 1; i < w->n; i++) {
        if (b.len)
            cmh__buf_adds(&b, "/");
        cmh__buf_adds(&b, w->v[i].name);
    }
    if (leaf) {
        if (b.len)
            cmh__buf_adds(&b, "/");
        cmh__buf_adds(&b, leaf);
    }
    char *s = cmh__strdup(cmh__buf_str(&b));
    cmh__buf_free(&b);
    return s;
}

static int push_name(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (!cmh__grow(v, cap, *n + 1, sizeof **v, 8))
        return ENOMEM;
    if (!((*v)[*n] = cmh__strdup(s)))
        return ENOMEM;
    (*n)++;
    return 0;
}

/* Read the current folder: its sub-folders into the top level, its other
 * entries handed to @p cb (sorted by name). @p unlink_files: remove them
 * instead (cmh__tree_remove). */
/* One folder's listing, split into sub-folders and other entries. */
typedef struct listing {
    int fd;
    level *top;
    size_t capsubs;
    char **files;
    size_t nfiles, capfiles;
} listing;

static int list_one(const char *nm, unsigned char type, void *arg)
{
    listing *l = arg;
    bool dir = type == DT_DIR;
    if (type == DT_UNKNOWN) {
        struct stat sb;
        dir = fstatat(l->fd, nm, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
              S_ISDIR(sb.st_mode);
    }
    return dir ? push_name(&l->top->subs, &l->top->nsubs, &l->capsubs, nm)
               : push_name(&l->files, &l->nfiles, &l->capfiles, nm);
}

static int scan(walk *w, const cmh_mirror_cb *cb, void *arg,
                bool unlink_files)
{
    level *top = &w->v[w->n - 1];
    listing l = {w->fd, top, 0, NULL, 0, 0};
    int e = cmh__os_list_dir(w->fd, true, list_one, &l);
    char **files = l.files;
    size_t nfiles = l.nfiles, capsubs = l.capsubs;
    if (top->nsubs > 1)
        qsort(top->subs, top->nsubs, sizeof *top->subs, name_cmp);
    if (nfiles > 1)
        qsort(files, nfiles, sizeof *files, name_cmp);
    for (size_t i = 0; i < nfiles && !e; i++) {
        if (unlink_files) {
            if (unlinkat(w->fd, files[i], 0) != 0 && errno != ENOENT)
                e = errno;
            continue;
        }
        struct stat sb;
        if (fstatat(w->fd, files[i], &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            /* even ENOENT: a listed name that cannot be looked up (a name
             * Windows cannot hold, seen through Wine or a share) must not
             * silently drop out of the content */
            e = errno;
            w->bad = cmh__strdup(files[i]);
            break;
        }
        if (S_ISDIR(sb.st_mode)) {
            e = push_name(&top->subs, &top->nsubs, &capsubs, files[i]);
            continue;
        }
        e = cb->entry ? cb->entry(arg, w->fd, files[i], &sb) : 0;
    }
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    return e;
}

/* Enter sub-folder @p name of the current folder. */
static int descend(walk *w, const char *name)
{
    if (!cmh__grow(&w->v, &w->cap, w->n + 1, sizeof *w->v, 16))
        return ENOMEM;
    int nfd;
    int e = cmh__os_open_dir_noatime(w->fd, name, &nfd);
    if (e)
        return e;
    struct stat sb;
    if (fstat(nfd, &sb) != 0) {
        e = errno;
        close(nfd);
        return e;
    }
    level *l = &w->v[w->n];
    memset(l, 0, sizeof *l);
    if (!(l->name = cmh__strdup(name))) {
        close(nfd);
        return ENOMEM;
    }
    l->dev = (uint64_t)sb.st_dev;
    l->ino = (uint64_t)sb.st_ino;
    w->n++;
    close(w->fd);
    w->fd = nfd;
    return 0;
}

/* Back to the parent folder by "..", which must be the one we left. */
static int ascend(walk *w)
{
    level_free(&w->v[--w->n]);
    if (w->n == 0)
        return 0;
    int pfd;
    int e = cmh__os_open_dir(w->fd, "..", &pfd);
    if (e)
        return e;
    struct stat sb;
    if (fstat(pfd, &sb) != 0 || (uint64_t)sb.st_dev != w->v[w->n - 1].dev ||
        (uint64_t)sb.st_ino != w->v[w->n - 1].ino) {
        close(pfd);
        return ESTALE;
    }
    close(w->fd);
    w->fd = pfd;
    return 0;
}

static int walk_start(walk *w, int parent_fd, const char *name)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->v = calloc(16, sizeof *w->v);
    if (!w->v)
        return ENOMEM;
    w->cap = 16;
    int e = cmh__os_open_dir_noatime(parent_fd, name, &w->fd);
    if (e)
        return e;
    struct stat sb;
    if (fstat(w->fd, &sb) != 0)
        return errno;
    w->v[0].name = cmh__strdup("");
    w->v[0].dev = (uint64_t)sb.st_dev;
    w->v[0].ino = (uint64_t)sb.st_ino;
    w->n = 1;
    return w->v[0].name ? 0 : ENOMEM;
}

void cmh__path_abbrev(char *s)
{
    size_t n = strlen(s);
    if (n <= 160)
        return;
    memmove(s + 80 + 3, s + n - 60, 61);
    memcpy(s + 80, "...", 3);
}

int cmh__mirror_walk(int parent_fd, const char *name, const cmh_mirror_cb *cb,
                    void *arg, char **where)
{
    walk w;
    *where = NULL;
    int e = walk_start(&w, parent_fd, name);
    if (!e)
        e = scan(&w, cb, arg, false);
    char *failed_at = NULL;
    while (!e && w.n) {
        level *top = &w.v[w.n - 1];
        if (top->next == top->nsubs) {
            if (cb->leave)
                cb->leave(arg);
            e = ascend(&w);
            continue;
        }
        const char *sub = top->subs[top->next++];
        int depth = (int)w.n;
        if (depth > CMH_MIRROR_MAX_DEPTH && !cb->no_depth_limit) {
            failed_at = walk_path(&w, sub);
            e = ELOOP;
            break;
        }
        if (cb->enter && cb->enter(arg, sub, depth))
            continue;
        e = descend(&w, sub);
        if (e) {
            failed_at = walk_path(&w, sub);
            break;
        }
        e = scan(&w, cb, arg, false);
    }
    if (e && !failed_at)
        failed_at = w.n ? walk_path(&w, w.bad) : cmh__strdup("");
    walk_free(&w);
    if (e)
        *where = failed_at;
    else
        free(failed_at);
    return e;
}

int cmh__tree_remove(int parent_fd, const char *name)
{
    if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return errno;
    walk w;
    static const cmh_mirror_cb none = {NULL, NULL, NULL, true};
    int e = walk_start(&w, parent_fd, name);
    if (e == ENOENT) {
        walk_free(&w);
        return 0;
    }
    if (!e)
        e = scan(&w, &none, NULL, true);
    while (!e && w.n) {
        level *top = &w.v[w.n - 1];
        if (top->next == top->nsubs) {
            char *done = cmh__strdup(top->name);
            if (!done) {
                e = ENOMEM;
                break;
            }
            e = ascend(&w);
            if (!e && w.n &&
                unlinkat(w.fd, done, AT_REMOVEDIR) != 0 && errno != ENOENT)
                e = errno;
            free(done);
            continue;
        }
        const char *sub = top->subs[top->next++];
        if (unlinkat(w.fd, sub, AT_REMOVEDIR) == 0 || errno == ENOENT)
            continue; /* already empty */
        e = descend(&w, sub);
        if (!e)
            e = scan(&w, &none, NULL, true);
    }
    walk_free(&w);
    if (!e && unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 &&
        errno != ENOENT)
        e = errno;
    return e;
}
