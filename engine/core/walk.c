/* Parallel source walk.
 *
 * Each folder is one pool task: it lists the folder with fstatat() relative
 * to the folder's descriptor, creates child nodes, and queues sub-folders as
 * further tasks, so folders are listed on all workers at once. Only the task
 * of a folder adds children to that folder's node, so nodes need no lock;
 * the shared lists and the first error are under w->mu. */
#include "walk.h"
#include "grow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"

typedef struct dir_task {
    cmh_walk *w;
    cmh_node *node;
    char *path; /* full path of the folder */
} dir_task;

static void walk_error(cmh_walk *w, int err, const cmh_node *n,
                       const char *leaf)
{
    pthread_mutex_lock(&w->mu);
    if (!w->err) {
        w->err = err;
        char *rel = cmh__node_relpath(n);
        if (rel && leaf) {
            char *j = rel[0] ? cmh__path_join(rel, leaf) : cmh__strdup(leaf);
            free(rel);
            rel = j;
        }
        w->err_path = rel;
    }
    pthread_mutex_unlock(&w->mu);
    cmh__pool_cancel(w->pool);
}

static void note(cmh_walk *w, cmh_buf *list, const cmh_node *dir,
                 const char *name, const char *what, bool is_link)
{
    char *rel = cmh__node_relpath(dir);
    pthread_mutex_lock(&w->mu);
    /* Percent-encoded like Source= (control characters, '%', invalid
     * UTF-8): a name holding a newline must neither split this
     * newline-separated list nor break the one-line messages built from
     * it. */
    if (rel && rel[0]) {
        cmh__percent_encode(list, rel);
        cmh__buf_adds(list, "/");
    }
    cmh__percent_encode(list, name);
    if (what)
        cmh__buf_addf(list, " (%s)", what);
    cmh__buf_adds(list, "\n");
    if (is_link)
        w->nlinks++;
    pthread_mutex_unlock(&w->mu);
    free(rel);
}

static void dir_task_run(void *tk, void *state, void *arg);

/* Queue sub-folder @p c (named @p nm) of the task's folder as a task of
 * its own. False (the walk's error set) when that fails. */
static bool queue_subdir(dir_task *t, cmh_node *c, const char *nm)
{
    cmh_walk *w = t->w;
    atomic_fetch_add(&w->seen_dirs, 1);
    dir_task *sub = malloc(sizeof *sub);
    char *sp = cmh__path_join(t->path, nm);
    if (!sub || !sp) {
        free(sub);
        free(sp);
        walk_error(w, ENOMEM, t->node, nm);
        return false;
    }
    sub->w = w;
    sub->node = c;
    sub->path = sp;
    if (cmh__pool_push(w->pool, dir_task_run, sub, NULL)) {
        free(sub->path);
        free(sub);
        walk_error(w, ENOMEM, t->node, nm);
        return false;
    }
    return true;
}

/* One entry @p nm of the folder open as @p dfd: a link or special file is
 * noted, a file or folder becomes a child node (a folder a new task).
 * False (the walk's error set) stops the listing. */
static bool add_entry(dir_task *t, int dfd, const char *nm)
{
    cmh_walk *w = t->w;
    struct stat sb;
    if (fstatat(dfd, nm, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        walk_error(w, errno, t->node, nm);
        return false;
    }
    if (S_ISLNK(sb.st_mode)) {
        note(w, &w->links, t->node, nm, NULL, true);
        return true;
    }
    if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) {
        const char *what = S_ISFIFO(sb.st_mode)   ? "FIFO"
                           : S_ISSOCK(sb.st_mode) ? "socket"
                                                  : "device";
        note(w, &w->specials, t->node, nm, what, false);
        return true;
    }
    cmh_node *c = cmh__node_new(nm, strlen(nm), S_ISDIR(sb.st_mode));
    if (!c || !cmh__node_add(t->node, c)) {
        cmh__node_free(c);
        walk_error(w, ENOMEM, t->node, nm);
        return false;
    }
    if (c->is_dir)
        return queue_subdir(t, c, nm);
    c->size = (uint64_t)sb.st_size;
    c->mtime_ns =
        (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    atomic_fetch_add(&w->seen_files, 1);
    return true;
}

static void dir_task_run(void *tk, void *state, void *arg)
{
    (void)state;
    (void)arg;
    dir_task *t = tk;
    cmh_walk *w = t->w;
    int fd = -1;
    DIR *d = NULL;
    if (cmh__pool_canceled(w->pool))
        goto out;
    int e = cmh__os_open_dir(AT_FDCWD, t->path, &fd);
    if (e) {
        walk_error(w, e, t->node, NULL);
        goto out;
    }
    d = fdopendir(fd);
    if (!d) {
        walk_error(w, errno, t->node, NULL);
        close(fd);
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                walk_error(w, errno, t->node, NULL);
            break;
        }
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, ".."))
            continue;
        if (!add_entry(t, dirfd(d), nm))
            break;
    }
out:
    if (d)
        closedir(d);
    free(t->path);
    free(t);
}

static void collect(cmh_walk *w, cmh_node *n, size_t *cap, bool *oom)
{
    for (size_t i = 0; i < n->nfiles; i++) {
        if (!cmh__grow(&w->files, cap, w->nfiles + 1, sizeof *w->files,
                       64)) {
            *oom = true;
            return;
        }
        w->files[w->nfiles++] = n->files[i];
        w->total_bytes += n->files[i]->size;
    }
    for (size_t i = 0; i < n->ndirs; i++) {
        w->ndirs++;
        collect(w, n->dirs[i], cap, oom);
    }
}

static int size_desc(const void *a, const void *b)
{
    const cmh_node *x = *(cmh_node *const *)a, *y = *(cmh_node *const *)b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

int cmh__walk_run(cmh_walk *w, int (*tick)(void *), void *arg)
{
    pthread_mutex_init(&w->mu, NULL);
    w->started = true;
    atomic_init(&w->seen_files, 0);
    atomic_init(&w->seen_dirs, 0);
    w->root = cmh__node_new("", 0, true);
    dir_task *t = malloc(sizeof *t);
    char *p = cmh__strdup(w->root_path);
    if (!w->root || !t || !p) {
        free(t);
        free(p);
        return ENOMEM;
    }
    t->w = w;
    t->node = w->root;
    t->path = p;
    if (cmh__pool_push(w->pool, dir_task_run, t, NULL)) {
        free(t);
        free(p);
        return ENOMEM;
    }
    cmh__pool_wait(w->pool, 0.1, tick, arg);
    if (w->err)
        return w->err;
    if (cmh__pool_canceled(w->pool))
        return ECANCELED;
    size_t cap = 0;
    bool oom = false;
    collect(w, w->root, &cap, &oom);
    if (oom)
        return ENOMEM;
    cmh__tree_sort(w->root);
    /* Largest first: one big file must not be the last to start. (No
     * qsort of an empty source: files is NULL then, and qsort(NULL, 0)
     * is undefined.) */
    if (w->nfiles > 1)
        qsort(w->files, w->nfiles, sizeof *w->files, size_desc);
    return 0;
}

void cmh__walk_free(cmh_walk *w)
{
    cmh__node_free(w->root);
    free(w->files);
    free(w->err_path);
    cmh__buf_free(&w->links);
    cmh__buf_free(&w->specials);
    if (w->started)
        pthread_mutex_destroy(&w->mu);
    w->root = NULL;
    w->files = NULL;
    w->err_path = NULL;
}

/* ---- name checks ---- */

typedef struct name_key {
    const cmh_node *node;
    uint16_t *key;   /* upper-cased mirror name (files get ".INI") */
    size_t len;
} name_key;

static int key_cmp(const void *a, const void *b)
{
    const name_key *x = a, *y = b;
    return cmh__utf16_cmp(x->key, x->len, y->key, y->len);
}

static void problem(cmh_buf *out, const cmh_node *n, const char *why,
                    const char *other)
{
    char *rel = cmh__node_relpath(n);
    /* encoded as in note(): these are the names with control characters
     * and invalid UTF-8, and the report is one line per name */
    cmh__buf_adds(out, "'");
    cmh__percent_encode(out, rel ? rel : n->name);
    cmh__buf_addf(out, "': %s", why);
    if (other) {
        cmh__buf_adds(out, " ");
        cmh__percent_encode(out, other);
    }
    cmh__buf_adds(out, "\n");
    free(rel);
}

static size_t check_dir(const cmh_node *d, size_t prefix_units,
                        cmh_buf *out)
{
    size_t bad = 0, n = d->ndirs + d->nfiles;
    for (size_t i = 0; i < n; i++) {
        const cmh_node *c = i < d->ndirs ? d->dirs[i]
                                         : d->files[i - d->ndirs];
        const char *why = cmh__name_problem_kind(c->name, c->is_dir);
        if (why) {
            problem(out, c, why, NULL);
            bad++;
            continue;
        }
        /* "DataLib\<cid>\" + rel + ".INI" must fit 32,000 UTF-16 units */
        size_t units = prefix_units + c->key_len + (c->is_dir ? 0 : 4);
        if (units > 32000) {
            problem(out, c, "makes a mirror path longer than 32,000 "
                            "UTF-16 units", NULL);
            bad++;
        }
    }
    /* Case-insensitive collisions, including a file F whose mirror F.INI
     * would meet a folder named F.INI. */
    name_key *keys = n ? calloc(n, sizeof *keys) : NULL;
    if (n && !keys) {
        cmh__buf_adds(out, "out of memory\n");
        return bad + 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const cmh_node *c = i < d->ndirs ? d->dirs[i]
                                         : d->files[i - d->ndirs];
        size_t len = c->key_len + (c->is_dir ? 0 : 4);
        uint16_t *key = malloc((len + 1) * sizeof *key);
        if (!key)
            continue;
        memcpy(key, c->key, c->key_len * sizeof *key);
        if (!c->is_dir) {
            key[c->key_len] = '.';
            key[c->key_len + 1] = 'I';
            key[c->key_len + 2] = 'N';
            key[c->key_len + 3] = 'I';
        }
        keys[k].node = c;
        keys[k].key = key;
        keys[k].len = len;
        k++;
    }
    if (k > 1)
        qsort(keys, k, sizeof *keys, key_cmp);
    for (size_t i = 1; i < k; i++) {
        if (key_cmp(&keys[i - 1], &keys[i]) == 0) {
            const cmh_node *a = keys[i - 1].node, *b = keys[i].node;
            char *ra = cmh__node_relpath(a);
            bool same_kind = a->is_dir == b->is_dir;
            problem(out, b,
                    same_kind ? "differs only in case from"
                              : "would share its mirror name with",
                    ra ? ra : a->name);
            free(ra);
            bad++;
        }
    }
    for (size_t i = 0; i < k; i++)
        free(keys[i].key);
    free(keys);
    for (size_t i = 0; i < d->ndirs; i++)
        bad += check_dir(d->dirs[i], prefix_units + d->dirs[i]->key_len + 1,
                         out);
    return bad;
}

size_t cmh__walk_check_names(const cmh_node *root, const char *cid,
                            cmh_buf *out)
{
    /* "DataLib\" + cid + "\" */
    return check_dir(root, 8 + strlen(cid) + 1, out);
}
