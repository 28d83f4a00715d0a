/* The content library on disk (see library.h and contentlib.md 1, 3, 7). */
#include "library.h"

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

void cmh__library_init(cmh_library *l)
{
    memset(l, 0, sizeof *l);
    l->root_fd = l->pkglib_fd = l->datalib_fd = l->filelib_fd = -1;
    l->pkg_lock_fd = l->lib_lock_fd = l->run_lock_fd = l->state_fd = -1;
}


static const char *const lib_dirs[3] = {"PkgLib", "DataLib", "FileLib"};

/* Is the folder a library still being created: nothing in it but empty
 * PkgLib/DataLib/FileLib folders (or nothing at all)? Two snapshots that
 * create one new library at once both see this; a damaged library (a
 * folder missing next to ones with content) never does. */
static bool is_fresh_library(int fd)
{
    int dup_fd = dup(fd);
    if (dup_fd < 0)
        return false;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return false;
    }
    bool fresh = true;
    struct dirent *de;
    while (fresh && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int i = 0;
        while (i < 3 && strcmp(de->d_name, lib_dirs[i]))
            i++;
        int sub;
        if (i == 3 || cmh__os_open_dir(fd, de->d_name, &sub) != 0) {
            fresh = false;
            break;
        }
        DIR *sd = fdopendir(sub);
        if (!sd) {
            close(sub);
            fresh = false;
            break;
        }
        struct dirent *se;
        while ((se = readdir(sd)) != NULL)
            if (strcmp(se->d_name, ".") && strcmp(se->d_name, "..")) {
                fresh = false;
                break;
            }
        closedir(sd);
    }
    closedir(d);
    return fresh;
}

cmh_status cmh_ctx_add_filelib(cmh_ctx *ctx, const char *dir)
{
    char **n = realloc(ctx->filelibs, (ctx->nfilelibs + 1) * sizeof *n);
    if (!n)
        return CMH_E_NOMEM;
    ctx->filelibs = n;
    if (!(n[ctx->nfilelibs] = cmh__strdup(dir)))
        return CMH_E_NOMEM;
    ctx->nfilelibs++;
    return CMH_OK;
}

/* Open one extra FileLib root @p p: a library root holding FileLib, or
 * the FileLib folder itself (4-hex-digit folder names never read
 * "FileLib"). *disp gets "<p>/FileLib" or <p>. 0 or an errno. */
static int open_one_root(const char *p, bool noatime, int *out, char **disp)
{
    int (*od)(int, const char *, int *) =
        noatime ? cmh__os_open_dir_noatime : cmh__os_open_dir;
    int top, fd;
    int e = od(AT_FDCWD, p, &top);
    if (e)
        return e;
    bool sub = od(top, "FileLib", &fd) == 0;
    if (sub)
        close(top);
    else
        fd = top;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    size_t len = n + 9;
    if (!(*disp = malloc(len))) {
        close(fd);
        return ENOMEM;
    }
    snprintf(*disp, len, "%.*s%s", (int)n, p, sub ? "/FileLib" : "");
    *out = fd;
    return 0;
}

/* Is the folder open as @p fd the primary FileLib or an extra root
 * already in @p l (same folder identity, st_dev/st_ino)? */
static bool root_known(const cmh_library *l, int fd)
{
    struct stat a, b;
    if (fstat(fd, &a) != 0)
        return false;
    for (size_t i = 0; i <= l->nx; i++) {
        int o = i ? l->xfd[i - 1] : l->filelib_fd;
        if (o >= 0 && fstat(o, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return true;
    }
    return false;
}

cmh_status cmh__filelib_roots_open(cmh_ctx *ctx, cmh_library *l,
                                  const char *const *paths, size_t npaths,
                                  bool noatime)
{
    char **found = NULL;
    size_t nfound = 0;
    /* discovered roots are a convenience: none when the lookup fails */
    if (cmh__os_filelib_drives(l->path, &found, &nfound) != 0) {
        found = NULL;
        nfound = 0;
    }
    cmh_status st = CMH_OK;
    size_t total = npaths + nfound;
    if (total) {
        l->xfd = malloc(total * sizeof *l->xfd);
        l->xpath = calloc(total, sizeof *l->xpath);
        if (!l->xfd || !l->xpath)
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == CMH_OK && i < total; i++) {
        const char *p = i < npaths ? paths[i] : found[i - npaths];
        int fd;
        char *disp;
        int e = open_one_root(p, noatime, &fd, &disp);
        if (e == ENOMEM)
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        else if (e && i < npaths)
            st = cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                                 "cannot open FileLib root %s (--filelib "
                                 "or $CMHASH_FILELIB)", p);
        if (e)
            continue; /* (a discovered root that vanished: skipped) */
        if (root_known(l, fd)) { /* one folder under two names */
            close(fd);
            free(disp);
            continue;
        }
        l->xfd[l->nx] = fd;
        l->xpath[l->nx++] = disp;
    }
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    return st;
}

int cmh__filelib_find(const cmh_library *l, const char *rel, struct stat *sb,
                     const char **where)
{
    struct stat tmp;
    if (!sb)
        sb = &tmp;
    for (size_t i = 0; i <= l->nx; i++) {
        int fd = i ? l->xfd[i - 1] : l->filelib_fd;
        if (fstatat(fd, rel, sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb->st_mode)) {
            if (where)
                *where = i ? l->xpath[i - 1] : NULL;
            return fd;
        }
    }
    errno = ENOENT;
    return -1;
}

cmh_status cmh__library_open(cmh_ctx *ctx, cmh_library *l, const char *path,
                            bool create)
{
    int e;
    l->path = cmh__strdup(path);
    if (!l->path)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    e = cmh__os_open_dir(AT_FDCWD, path, &l->root_fd);
    if (e == ENOENT && create) {
        /* only the last component: a mistyped --lib is not created with
         * all its parents (docs/FORMAT.md, "Libraries") */
        e = mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : errno;
        if (e == ENOENT)
            return cmh__fail(ctx, CMH_E_LIBRARY,
                             "cannot create library %s: its parent folder "
                             "does not exist; check --lib, or create the "
                             "parent first", path);
        if (e)
            return cmh__fail(ctx, CMH_E_LIBRARY,
                             "cannot create library %s: %s; %s", path,
                             strerror(e), cmh__write_hint(e));
        e = cmh__os_open_dir(AT_FDCWD, path, &l->root_fd);
    }
    if (e == ENOENT)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "library %s does not exist; check --lib or "
                         "$CMHASH_LIB", path);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot open library %s", path);
    int *fds[3] = {&l->pkglib_fd, &l->datalib_fd, &l->filelib_fd};
    int present = 0;
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        if (fstatat(l->root_fd, lib_dirs[i], &sb, AT_SYMLINK_NOFOLLOW) == 0)
            present++;
    }
    if (present < 3 && create) {
        bool fresh = is_fresh_library(l->root_fd);
        if (!fresh && present == 0) {
            /* Another snapshot may be creating the folders (and putting
             * its lock in PkgLib) right now: give it up to 100 ms to
             * finish all three, then judge. */
            for (int tries = 0; tries < 50; tries++) {
                present = 0;
                for (int i = 0; i < 3; i++) {
                    struct stat sb;
                    if (fstatat(l->root_fd, lib_dirs[i], &sb,
                                AT_SYMLINK_NOFOLLOW) == 0)
                        present++;
                }
                if (present == 0 || present == 3)
                    break;
                usleep(2000);
            }
        }
        if (!fresh && present == 0)
            return cmh__fail(ctx, CMH_E_LIBRARY,
                             "%s is not a content library (no PkgLib, "
                             "DataLib, FileLib) and not empty; point --lib "
                             "at SCCMContentLib or at a new folder", path);
        for (int i = 0; fresh && i < 3; i++)
            if (mkdirat(l->root_fd, lib_dirs[i], 0755) != 0 &&
                errno != EEXIST) {
                e = errno;
                return cmh__fail(ctx, CMH_E_LIBRARY,
                                 "cannot create %s/%s: %s; %s", path,
                                 lib_dirs[i], strerror(e),
                                 cmh__write_hint(e));
            }
    }
    for (int i = 0; i < 3; i++) {
        e = cmh__os_open_dir(l->root_fd, lib_dirs[i], fds[i]);
        if (e == ENOENT)
            return cmh__fail(ctx, CMH_E_LIBRARY,
                             "%s is not a content library: %s is missing; "
                             "point --lib at SCCMContentLib",
                             path, lib_dirs[i]);
        if (e)
            return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                                   "cannot open %s/%s", path, lib_dirs[i]);
    }
    return cmh__filelib_roots_open(ctx, l, (const char *const *)ctx->filelibs,
                                  ctx->nfilelibs, false);
}

void cmh__library_close(cmh_library *l)
{
    if (l->run_lock_fd >= 0 && l->state_fd >= 0) {
        /* our temps are gone (a failure removes them): the next run need
         * not look for any. One left by accident reads as a dead run's. */
        char name[CMH_TMP_TOKEN_LEN + 16];
        snprintf(name, sizeof name, "run-%s.lock", cmh__tmp_token());
        unlinkat(l->state_fd, name, 0);
    }
    int fds[8] = {l->pkg_lock_fd, l->lib_lock_fd, l->run_lock_fd,
                  l->state_fd,    l->pkglib_fd,  l->datalib_fd,
                  l->filelib_fd,  l->root_fd};
    for (int i = 0; i < 8; i++)
        if (fds[i] >= 0)
            close(fds[i]); /* closing releases flock locks */
    for (size_t i = 0; i < l->nx; i++) {
        close(l->xfd[i]);
        free(l->xpath[i]);
    }
    free(l->xfd);
    free(l->xpath);
    free(l->path);
    cmh__library_init(l);
}

static int open_lock(int dirfd, const char *name, int *out)
{
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                    0644);
    if (fd < 0)
        return errno;
    *out = fd;
    return 0;
}

/* Open <lib>/.cmhash, making it with @p create. */
static int open_state_dir(cmh_library *l, bool create)
{
    if (l->state_fd >= 0)
        return 0;
    if (create && mkdirat(l->root_fd, CMH_STATE_DIR, 0755) != 0 &&
        errno != EEXIST)
        return errno;
    return cmh__os_open_dir(l->root_fd, CMH_STATE_DIR, &l->state_fd);
}

/* Hold .cmhash/run-<token>.lock shared for as long as the library is
 * open: while it is held, temps named with our token are ours. A reclaim
 * deletes a dead run's lock file while holding it exclusively, so after
 * locking, make sure the file we hold is still the one at that name. */
static int hold_run_lock(cmh_library *l)
{
    if (l->run_lock_fd >= 0)
        return 0;
    char name[CMH_TMP_TOKEN_LEN + 16];
    snprintf(name, sizeof name, "run-%s.lock", cmh__tmp_token());
    for (int tries = 0; tries < 100; tries++) {
        int fd = -1, e = open_lock(l->state_fd, name, &fd);
        if (e)
            return e;
        e = cmh__os_lock(fd, false, true);
        struct stat a, b;
        if (!e && fstat(fd, &a) == 0 &&
            fstatat(l->state_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            l->run_lock_fd = fd;
            return 0;
        }
        close(fd);
        if (e)
            return e;
    }
    return EAGAIN;
}

cmh_status cmh__library_hold_run(cmh_ctx *ctx, cmh_library *l)
{
    int e = open_state_dir(l, true);
    if (!e)
        e = hold_run_lock(l);
    if (e)
        return cmh__fail(ctx, cmh__status_for_write_errno(e) == CMH_E_IO
                                  ? CMH_E_IO
                                  : CMH_E_LIBRARY,
                         "cannot create %s/" CMH_STATE_DIR "/run-%s.lock: "
                         "%s; %s", l->path, cmh__tmp_token(), strerror(e),
                         cmh__write_hint(e));
    return CMH_OK;
}

static cmh_status lock_open_fail(cmh_ctx *ctx, cmh_library *l,
                                 const char *name, int e)
{
    return cmh__fail(ctx, cmh__status_for_write_errno(e) == CMH_E_IO
                              ? CMH_E_IO
                              : CMH_E_LIBRARY,
                     "cannot create lock %s/" CMH_STATE_DIR "/%s: %s; %s",
                     l->path, name, strerror(e), cmh__write_hint(e));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Take @p fd (dirfd/name) exclusively without waiting for a writer.
 * A writer holds the lock exclusively; a reader's probe holds it shared
 * for an instant. EWOULDBLOCK only when an exclusive holder is seen; a
 * shared holder is waited out (up to 10 s of back-to-back probes). */
static int lock_no_wait(int fd, int dirfd, const char *name)
{
    for (int i = 0; i < 10000; i++) {
        int e = cmh__os_lock(fd, true, false);
        if (e != EWOULDBLOCK)
            return e;
        bool excl = false;
        e = cmh__os_lock_held_exclusive(dirfd, name, &excl);
        if (e)
            return e;
        if (excl)
            return EWOULDBLOCK;
        sleep_ms(1);
    }
    return EWOULDBLOCK;
}

/* An earlier version's lock in PkgLib: honour a holder (an older cmhash
 * still writing), then delete it. 0, EWOULDBLOCK or an errno. */
static int take_legacy_lock(cmh_library *l, const char *name, bool wait)
{
    int fd = openat(l->pkglib_fd, name,
                    O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    int e = wait ? cmh__os_lock(fd, true, true)
                 : lock_no_wait(fd, l->pkglib_fd, name);
    if (!e)
        unlinkat(l->pkglib_fd, name, 0); /* while held: nobody uses it */
    close(fd);
    return e;
}

cmh_status cmh__library_lock_package(cmh_ctx *ctx, cmh_library *l,
                                    const char *pkgid, bool wait)
{
    char name[32];
    snprintf(name, sizeof name, "%s.lock", pkgid);
    int e = open_state_dir(l, true);
    if (!e)
        e = open_lock(l->state_fd, name, &l->pkg_lock_fd);
    if (e)
        return lock_open_fail(ctx, l, name, e);
    e = wait ? cmh__os_lock(l->pkg_lock_fd, true, true)
             : lock_no_wait(l->pkg_lock_fd, l->state_fd, name);
    const char *where = CMH_STATE_DIR;
    if (!e && (e = take_legacy_lock(l, name, wait)) != 0)
        where = "PkgLib"; /* an earlier cmhash version is writing */
    if (e == EWOULDBLOCK) {
        close(l->pkg_lock_fd);
        l->pkg_lock_fd = -1;
        return cmh__fail(ctx, CMH_E_BUSY,
                         "package %s is being written by another "
                         "snapshot (%s/%s/%s is locked); run again later "
                         "or leave out --no-wait to wait",
                         pkgid, l->path, where, name);
    }
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot lock %s/" CMH_STATE_DIR "/%s",
                               l->path, name);
    return CMH_OK;
}

static cmh_status library_lock(cmh_ctx *ctx, cmh_library *l, bool wait)
{
    int e = 0;
    if (l->lib_lock_fd < 0) {
        e = open_state_dir(l, true);
        if (!e)
            e = hold_run_lock(l);
        if (!e)
            e = open_lock(l->state_fd, CMH_STATE_LIB_LOCK, &l->lib_lock_fd);
        if (e)
            return lock_open_fail(ctx, l, CMH_STATE_LIB_LOCK, e);
    }
    if (wait) {
        e = cmh__os_lock(l->lib_lock_fd, true, true);
    } else {
        double t0 = cmh__now();
        while ((e = cmh__os_lock(l->lib_lock_fd, true, false)) ==
                   EWOULDBLOCK &&
               cmh__now() - t0 < CMH_NO_WAIT_LIB_SECONDS)
            sleep_ms(2);
    }
    if (!e) {
        e = take_legacy_lock(l, CMH_LIB_LOCK, wait);
        if (e)
            cmh__os_unlock(l->lib_lock_fd);
    }
    if (e == EWOULDBLOCK)
        return cmh__fail(ctx, CMH_E_BUSY,
                         "the library %s is locked by another cmhash run "
                         "(%s/" CMH_STATE_DIR "/" CMH_STATE_LIB_LOCK
                         "); run again later or leave out --no-wait to "
                         "wait", l->path, l->path);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot lock %s/" CMH_STATE_DIR
                               "/" CMH_STATE_LIB_LOCK, l->path);
    return CMH_OK;
}

cmh_status cmh__library_lock(cmh_ctx *ctx, cmh_library *l)
{
    return library_lock(ctx, l, !l->no_wait);
}

cmh_status cmh__library_lock_wait(cmh_ctx *ctx, cmh_library *l)
{
    return library_lock(ctx, l, true);
}

void cmh__library_unlock(cmh_library *l)
{
    if (l->lib_lock_fd >= 0)
        cmh__os_unlock(l->lib_lock_fd);
}

bool cmh__library_pkg_busy(cmh_library *l, const char *pkgid)
{
    char name[32];
    bool busy = false;
    snprintf(name, sizeof name, "%s.lock", pkgid);
    if (l->state_fd < 0)
        (void)cmh__os_open_dir(l->root_fd, CMH_STATE_DIR, &l->state_fd);
    if (l->state_fd >= 0 &&
        cmh__os_lock_probe(l->state_fd, name, &busy) == 0 && busy)
        return true;
    return cmh__os_lock_probe(l->pkglib_fd, name, &busy) == 0 && busy;
}

bool cmh__tmp_is_dead(cmh_library *l, const char *name)
{
    char tok[CMH_TMP_TOKEN_LEN + 1], lock[CMH_TMP_TOKEN_LEN + 16];
    if (!cmh__tmp_token_of(name, tok) || !strcmp(tok, cmh__tmp_token()))
        return false;
    if (l->state_fd < 0 &&
        cmh__os_open_dir(l->root_fd, CMH_STATE_DIR, &l->state_fd) != 0)
        return true; /* no .cmhash/: no run lock, so nobody owns it */
    snprintf(lock, sizeof lock, "run-%s.lock", tok);
    int fd = openat(l->state_fd, lock,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT;
    bool dead = cmh__os_lock(fd, true, false) == 0;
    close(fd); /* releases the instant lock */
    return dead;
}

/* ---- reclaiming dead runs' temps (issue 11, item 11) ---- */

typedef struct dead_runs {
    char (*tok)[CMH_TMP_TOKEN_LEN + 1];
    int *fd; /* their lock files, held exclusively until deleted */
    size_t n;
    uint64_t removed;
    bool files_only; /* DataLib: temp mirrors stay */
    int dirfd;
} dead_runs;

static bool is_dead_token(const dead_runs *d, const char *name)
{
    char tok[CMH_TMP_TOKEN_LEN + 1];
    if (!cmh__tmp_token_of(name, tok))
        return false;
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->tok[i], tok))
            return true;
    return false;
}

static int reclaim_cb(const char *name, unsigned char type, void *arg)
{
    dead_runs *d = arg;
    if (!is_dead_token(d, name))
        return 0;
    if (type == DT_DIR || (type == DT_UNKNOWN && d->files_only)) {
        struct stat sb;
        if (type == DT_DIR ||
            (fstatat(d->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
             S_ISDIR(sb.st_mode)))
            return 0;
    }
    if (unlinkat(d->dirfd, name, 0) == 0)
        d->removed++;
    return 0;
}

static void reclaim_dir(dead_runs *d, int dirfd)
{
    d->dirfd = dirfd;
    (void)cmh__os_list_dir(dirfd, true, reclaim_cb, d);
}

typedef struct filelib_dirs {
    dead_runs *d;
    int filelib_fd;
} filelib_dirs;

static int reclaim_filelib_cb(const char *name, unsigned char type,
                              void *arg)
{
    filelib_dirs *f = arg;
    bool h4 = strlen(name) == 4 && strspn(name, "0123456789ABCDEFabcdef") == 4;
    if (!h4) {
        f->d->dirfd = f->filelib_fd;
        return reclaim_cb(name, type, f->d);
    }
    int sub;
    if (cmh__os_open_dir(f->filelib_fd, name, &sub) == 0) {
        f->d->dirfd = sub;
        (void)cmh__os_list_dir(sub, false, reclaim_cb, f->d);
        close(sub);
    }
    return 0;
}

typedef struct run_scan {
    dead_runs *d;
    int state_fd;
    bool oom;
} run_scan;

static int run_scan_cb(const char *name, unsigned char type, void *arg)
{
    run_scan *r = arg;
    (void)type;
    size_t n = strlen(name);
    if (n != 4 + CMH_TMP_TOKEN_LEN + 5 || strncmp(name, "run-", 4) ||
        strcmp(name + n - 5, ".lock"))
        return 0;
    char tok[CMH_TMP_TOKEN_LEN + 1];
    memcpy(tok, name + 4, CMH_TMP_TOKEN_LEN);
    tok[CMH_TMP_TOKEN_LEN] = 0;
    if (!strcmp(tok, cmh__tmp_token()))
        return 0;
    int fd = openat(r->state_fd, name,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0;
    if (cmh__os_lock(fd, true, false) != 0) {
        close(fd); /* alive */
        return 0;
    }
    void *t = realloc(r->d->tok, (r->d->n + 1) * sizeof *r->d->tok);
    if (t)
        r->d->tok = t;
    void *f = t ? realloc(r->d->fd, (r->d->n + 1) * sizeof *r->d->fd) : NULL;
    if (!f) {
        close(fd);
        r->oom = true;
        return 1;
    }
    r->d->fd = f;
    memcpy(r->d->tok[r->d->n], tok, sizeof tok);
    r->d->fd[r->d->n++] = fd;
    return 0;
}

cmh_status cmh__reclaim_dead_temps(cmh_ctx *ctx, cmh_library *l,
                                  uint64_t *removed)
{
    *removed = 0;
    if (l->state_fd < 0)
        return CMH_OK;
    dead_runs d = {0};
    run_scan r = {&d, l->state_fd, false};
    (void)cmh__os_list_dir(l->state_fd, true, run_scan_cb, &r);
    cmh_status st = CMH_OK;
    if (d.n) {
        st = cmh__library_lock(ctx, l);
        if (st == CMH_OK) {
            d.files_only = false;
            reclaim_dir(&d, l->pkglib_fd);
            d.files_only = true;
            reclaim_dir(&d, l->datalib_fd);
            d.files_only = false;
            filelib_dirs f = {&d, l->filelib_fd};
            (void)cmh__os_list_dir(l->filelib_fd, true, reclaim_filelib_cb,
                                  &f);
            /* A dead run's temp mirrors in DataLib stay: their package's
             * next snapshot undoes their references (cmh__retire_stale),
             * gc removes the rest. Without the lock file they still read
             * as dead (cmh__tmp_is_dead). */
            for (size_t i = 0; i < d.n; i++) {
                char name[CMH_TMP_TOKEN_LEN + 16];
                snprintf(name, sizeof name, "run-%s.lock", d.tok[i]);
                unlinkat(l->state_fd, name, 0);
            }
            cmh__library_unlock(l);
        }
    }
    for (size_t i = 0; i < d.n; i++)
        close(d.fd[i]);
    free(d.tok);
    free(d.fd);
    *removed = d.removed;
    return st;
}

void cmh__filelib_rel_hex(char out[CMH_FILELIB_REL_SIZE], const char *hex,
                         const char *suffix)
{
    snprintf(out, CMH_FILELIB_REL_SIZE, "%.4s/%.64s%s", hex, hex, suffix);
}

void cmh__filelib_rel(char out[CMH_FILELIB_REL_SIZE],
                     const uint8_t sha[CMH_SHA256_LEN], const char *suffix)
{
    char hex[CMH_HEX_SIZE];
    cmh_hex_upper(sha, CMH_SHA256_LEN, hex);
    cmh__filelib_rel_hex(out, hex, suffix);
}

/* ---- PkgLib ---- */

/* [Info] Hash of DataLib/<cid>.INI, or "" */
static void content_hash_of(cmh_library *l, const char *cid,
                            char out[CMH_HEX_SIZE]);

cmh_status cmh__pkglib_read(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           cmh_pkg_info *out)
{
    memset(out, 0, sizeof *out);
    char name[32];
    snprintf(name, sizeof name, "%s.INI", pkgid);
    char *data;
    size_t len;
    int e = cmh__read_small_file(l->pkglib_fd, name, CMH_INI_MAX_FILE, &data,
                                &len);
    if (e == ENOENT)
        return CMH_OK;
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot read %s/PkgLib/%s", l->path, name);
    char why[256];
    cmh_pkgini pi;
    bool ok = cmh__pkgini_parse(&pi, pkgid, data, len, why, sizeof why);
    free(data);
    if (ok && pi.nbad) {
        ok = false;
        snprintf(why, sizeof why, "%s", pi.bad[0].why);
    }
    if (ok)
        out->version = cmh__pkgini_current(&pi, out->cid);
    cmh__pkgini_free(&pi);
    if (!ok)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/PkgLib/%s is damaged (%s); run cmhash verify, "
                         "then restore or remove it", l->path, name, why);
    if (out->cid[0])
        content_hash_of(l, out->cid, out->hash);
    return CMH_OK;
}

int cmh__content_ini_hash(cmh_library *l, const char *cid,
                         char out[CMH_HEX_SIZE], char *why, size_t whylen)
{
    cmh_contentini ci;
    out[0] = 0;
    int e = cmh__contentini_read(l->datalib_fd, cid, &ci, why, whylen);
    if (e)
        return e;
    cmh_hex_upper(ci.hash, CMH_SHA256_LEN, out);
    return 0;
}

static void content_hash_of(cmh_library *l, const char *cid,
                            char out[CMH_HEX_SIZE])
{
    char why[128];
    (void)cmh__content_ini_hash(l, cid, out, why, sizeof why);
}

/* The first .SIG in FileLib folder @p fl (at most 16 <H4> folders looked
 * at): its "H4/NAME" into @p rel; 1 MS-RDC, 0 librsync, -1 none found. */
static int sig_sample(int fl, char rel[CMH_FILELIB_REL_SIZE])
{
    int fd = dup(fl);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    rewinddir(d);
    int kind = -1, looked = 0;
    struct dirent *de;
    while (kind < 0 && looked < 16 && (de = readdir(d)) != NULL) {
        const char *h4 = de->d_name;
        if (strlen(h4) != 4 || strspn(h4, "0123456789ABCDEFabcdef") != 4)
            continue;
        looked++;
        int sfd; /* (no atime change: verify and delta take this look) */
        if (cmh__os_open_dir_noatime(fl, h4, &sfd) != 0)
            continue;
        DIR *sd = fdopendir(sfd);
        if (!sd) {
            close(sfd);
            continue;
        }
        struct dirent *se;
        while (kind < 0 && (se = readdir(sd)) != NULL) {
            size_t n = strlen(se->d_name);
            if (n != 68 || strcasecmp(se->d_name + 64, ".SIG"))
                continue;
            memcpy(rel, h4, 4); /* "H4/" + the 68-byte name + NUL */
            rel[4] = '/';
            memcpy(rel + 5, se->d_name, 69);
            int in;
            if (cmh__os_open_read(fl, rel, &in) != 0)
                continue;
            unsigned char hdr[CMH_RDC_SIG_HEADER_LEN];
            ssize_t got = read(in, hdr, sizeof hdr);
            close(in);
            if (got > 0)
                kind = cmh__sig_is_rdc(hdr, (size_t)got) ? 1 : 0;
        }
        closedir(sd);
    }
    closedir(d);
    return kind;
}

int cmh__library_sig_rdc(const cmh_library *l, char *where, size_t wlen)
{
    char rel[CMH_FILELIB_REL_SIZE];
    const char *root = l->path;
    int k = sig_sample(l->filelib_fd, rel);
    for (size_t i = 0; k < 0 && i < l->nx; i++)
        if ((k = sig_sample(l->xfd[i], rel)) >= 0)
            root = l->xpath[i];
    if (k > 0 && where)
        snprintf(where, wlen, "%s/FileLib/%s", root, rel);
    return k > 0;
}

cmh_status cmh__library_refuse_foreign(cmh_ctx *ctx, cmh_library *l,
                                      const char *cmd)
{
    int fd = dup(l->datalib_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, errno,
                               "cannot list %s/DataLib", l->path);
    }
    rewinddir(d);
    struct dirent *de;
    cmh_status st = CMH_OK;
    while (!st && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t n = strlen(nm);
        char cid[CMH_CID_SIZE], why[160];
        if (n < 5 || n - 4 >= sizeof cid || strcasecmp(nm + n - 4, ".INI"))
            continue;
        memcpy(cid, nm, n - 4);
        cid[n - 4] = 0;
        cmh_contentini ci;
        if (cmh_content_id_parse(cid, NULL, NULL) == CMH_CONTENT_INVALID ||
            cmh__contentini_read(l->datalib_fd, cid, &ci, why, sizeof why) ||
            ci.has_cmhash)
            continue; /* damaged ones are verify's to report */
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s was written by Configuration Manager (%s/DataLib/"
                       "%s has no [cmhash] section); %s writes to it only "
                       "with --allow-foreign", l->path, l->path, nm, cmd);
    }
    closedir(d);
    char where[1200] = "";
    if (!st && cmh__library_sig_rdc(l, where, sizeof where))
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s was written by Configuration Manager (%s is an "
                       "MS-RDC signature, not librsync); %s writes to it "
                       "only with --allow-foreign", l->path, where, cmd);
    return st;
}

cmh_status cmh__pkglib_write(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                            uint32_t version, bool do_fsync)
{
    return cmh__pkglib_write_keep(ctx, l, pkgid, version, NULL, 0, do_fsync);
}

cmh_status cmh__pkglib_write_keep(cmh_ctx *ctx, cmh_library *l,
                                 const char *pkgid, uint32_t version,
                                 const char (*keep)[CMH_CID_SIZE],
                                 size_t nkeep, bool do_fsync)
{
    char name[32];
    snprintf(name, sizeof name, "%s.INI", pkgid);
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__pkgini_write(&b, pkgid, version, keep, nkeep);
    int e = b.oom ? ENOMEM
                  : cmh__write_atomic(l->pkglib_fd, name, b.data, b.len,
                                     do_fsync);
    cmh__buf_free(&b);
    if (e)
        return cmh__fail(ctx, cmh__status_for_write_errno(e),
                         "cannot write %s/PkgLib/%s: %s; %s", l->path, name,
                         strerror(e), cmh__write_hint(e));
    return CMH_OK;
}

/* ---- kept versions (snapshot --keep) ---- */

cmh_status cmh__pkglib_kept(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           cmh_reflist *out)
{
    char why[256];
    cmh_pkgini pi;
    int e = cmh__pkgini_read(l->pkglib_fd, pkgid, &pi, why, sizeof why);
    if (e == ENOENT)
        return CMH_OK;
    if (e == ENOMEM)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    if (e == EINVAL)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/PkgLib/%s.INI is damaged (%s); run cmhash "
                         "verify", l->path, pkgid, why);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot read %s/PkgLib/%s.INI", l->path,
                               pkgid);
    /* only this package's well-formed IDs are kept (verify reports the
     * others) */
    bool oom = false;
    for (size_t i = 0; i < pi.nkeep; i++)
        if (!cmh__reflist_add(out, pi.keep[i]))
            oom = true;
    cmh__pkgini_free(&pi);
    if (oom)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    return CMH_OK;
}

typedef struct kept_cand {
    uint32_t version;
    char cid[CMH_CID_SIZE];
} kept_cand;

static int cand_newest_first(const void *a, const void *b)
{
    uint32_t x = ((const kept_cand *)a)->version,
             y = ((const kept_cand *)b)->version;
    return x < y ? 1 : x > y ? -1 : 0;
}

cmh_status cmh__keep_select(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           uint32_t below, uint32_t max,
                           char (**ids)[CMH_CID_SIZE], size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!max)
        return CMH_OK;
    int dup_fd = dup(l->datalib_fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return cmh__fail_errno(ctx, CMH_E_IO, errno,
                               "cannot list %s/DataLib", l->path);
    }
    rewinddir(d);
    kept_cand *v = NULL;
    size_t nv = 0, cap = 0;
    struct dirent *de;
    cmh_status st = CMH_OK;
    while ((de = readdir(d)) != NULL) {
        char id[CMH_PKGID_SIZE];
        uint32_t ver;
        struct stat sb;
        char ini[CMH_CID_SIZE + 8];
        size_t dl = strlen(de->d_name);
        if (dl >= CMH_CID_SIZE ||
            cmh_content_id_parse(de->d_name, id, &ver) !=
                CMH_CONTENT_PACKAGE ||
            strcmp(id, pkgid) || ver >= below)
            continue;
        /* only complete contents: folder and content INI */
        memcpy(ini, de->d_name, dl);
        memcpy(ini + dl, ".INI", 5);
        if (fstatat(l->datalib_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
            !S_ISDIR(sb.st_mode) ||
            fstatat(l->datalib_fd, ini, &sb, AT_SYMLINK_NOFOLLOW) ||
            !S_ISREG(sb.st_mode))
            continue;
        if (nv == cap) {
            size_t nc = cap ? cap * 2 : 8;
            kept_cand *nvp = realloc(v, nc * sizeof *v);
            if (!nvp) {
                st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
                break;
            }
            v = nvp;
            cap = nc;
        }
        v[nv].version = ver;
        memcpy(v[nv].cid, de->d_name, dl + 1);
        nv++;
    }
    closedir(d);
    if (st == CMH_OK && nv) {
        qsort(v, nv, sizeof *v, cand_newest_first);
        size_t k = nv < max ? nv : max;
        *ids = malloc(k * sizeof **ids);
        if (!*ids) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        } else {
            for (size_t i = 0; i < k; i++)
                memcpy((*ids)[i], v[i].cid, CMH_CID_SIZE);
            *n = k;
        }
    }
    free(v);
    return st;
}

/* ---- FileLib placement ---- */

void cmh__placement_init(cmh_placement *p)
{
    memset(p, 0, sizeof *p);
}

bool cmh__placement_add(cmh_placement *p, const uint8_t sha[CMH_SHA256_LEN],
                       uint64_t size, const char *tmp, const char *sigtmp)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        cmh_place *v = realloc(p->v, nc * sizeof *v);
        if (!v)
            return false;
        p->v = v;
        p->cap = nc;
    }
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
    cmh_hex_upper(x->sha, CMH_SHA256_LEN, hex);
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

/* Step 1 for entry i: decide what goes in, write the new reference INI as
 * a temp in <H4>/. Touches only entry i and its own FileLib names. */
static void place_prepare(size_t i, void *arg)
{
    place_job *j = arg;
    if (atomic_load_explicit(&j->failed, memory_order_relaxed))
        return;
    cmh_library *l = j->l;
    cmh_place *x = &j->p->v[i];
    int fl = l->filelib_fd;
    char hex[CMH_HEX_SIZE], h4[5], rel[CMH_FILELIB_REL_SIZE],
        sigrel[CMH_FILELIB_REL_SIZE], inirel[CMH_FILELIB_REL_SIZE];
    cmh_hex_upper(x->sha, CMH_SHA256_LEN, hex);
    memcpy(h4, hex, 4);
    h4[4] = 0;
    cmh__filelib_rel_hex(rel, hex, "");
    cmh__filelib_rel_hex(sigrel, hex, ".SIG");
    cmh__filelib_rel_hex(inirel, hex, ".INI");
    /* a temp already in <H4>/ (small files) proves the folder exists; gc
     * removes empty folders only under the library lock, which we hold */
    if (!strchr(x->tmp, '/') && mkdirat(fl, h4, 0755) != 0 &&
        errno != EEXIST) {
        int e = errno;
        place_fail(j, cmh__status_for_write_errno(e),
                   "cannot create %s/FileLib/%s: %s; %s", l->path, h4,
                   strerror(e), cmh__write_hint(e));
        return;
    }
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
    cmh_hex_upper(x->sha, CMH_SHA256_LEN, hex);
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
static int drop_reference(cmh_library *l, const char *hex, const char *cid,
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
        cmh_hex_upper(x->sha, CMH_SHA256_LEN, hex);
        drop_reference(l, hex, cid, NULL);
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
    if (hv->n == hv->cap) {
        size_t nc = hv->cap ? hv->cap * 2 : 256;
        uint8_t *v = realloc(hv->v, nc * CMH_SHA256_LEN);
        if (!v)
            return ENOMEM;
        hv->v = v;
        hv->cap = nc;
    }
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
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4;
        char **v = realloc(c->v, nc * sizeof *v);
        if (!v)
            return false;
        c->v = v;
        c->cap = nc;
    }
    c->v[c->n] = cmh__strdup(cid);
    if (!c->v[c->n])
        return false;
    c->n++;
    return true;
}

/* Drop @p cid from the reference lists of every hash in the mirror
 * DataLib/<dir> (the content's own mirror, or the temp mirror of a crashed
 * snapshot), delete entries left unreferenced, then delete the mirror. */
static cmh_status retire_mirror(cmh_ctx *ctx, cmh_library *l,
                                const char *dir, const char *cid,
                                bool do_fsync, uint64_t *retired)
{
    /* A live content goes out of sight first: its INI, then its mirror
     * under a temp name ".cmhash-tmp-<token>-<n>-<cid>", made durable
     * before any reference is dropped. A crash or power cut later leaves
     * a temp (STRAY), references to a content that no longer exists
     * (REF_DANGLING) and unreferenced entries (ORPHAN_FILE): warnings,
     * which the package's next retirement or gc finishes - never a
     * content whose files are missing (issue 11, item 5). */
    char aside[128];
    if (!strcmp(dir, cid)) {
        char ini[CMH_CID_SIZE + 8], sfx[CMH_CID_SIZE + 2];
        snprintf(ini, sizeof ini, "%s.INI", cid);
        snprintf(sfx, sizeof sfx, "-%s", cid);
        cmh__tmp_name(aside, sizeof aside, sfx);
        unlinkat(l->datalib_fd, ini, 0);
        cmh__crash_point("uninstall");
        if (renameat(l->datalib_fd, cid, l->datalib_fd, aside) != 0) {
            if (errno != ENOENT)
                return cmh__fail_errno(ctx, CMH_E_IO, errno,
                                       "cannot rename in %s/DataLib",
                                       l->path);
            aside[0] = 0; /* no mirror: nothing references it */
        }
        if (do_fsync)
            (void)cmh__os_fsync(l->datalib_fd);
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
        cmh_hex_upper(hashes + i * CMH_SHA256_LEN, CMH_SHA256_LEN, hex);
        int rc = drop_reference(l, hex, cid, tmps[i]);
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
        cmh_hex_upper(hashes + i * CMH_SHA256_LEN, CMH_SHA256_LEN, hex);
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

cmh_status cmh__retire_stale(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                            uint32_t current, bool do_fsync,
                            uint64_t *retired_files)
{
    *retired_files = 0;
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
        if (cmh_content_id_parse(cid, id, &v) != CMH_CONTENT_PACKAGE ||
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

cmh_status cmh__retire_package(cmh_ctx *ctx, cmh_library *l,
                              const char *pkgid, const char *keep_cid,
                              bool do_fsync, uint64_t *retired_files)
{
    *retired_files = 0;
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
    while ((de = readdir(d)) != NULL) {
        char name[CMH_CID_SIZE];
        size_t len = strlen(de->d_name);
        /* DataLib temps of this package left by dead runs: a temp mirror
         * ".cmhash-tmp-<pid>-<cid>" or a mirror set aside for deletion
         * ".cmhash-tmp-<pid>-<n>-<cid>". We hold the package lock, so no
         * live run of this package owns them. */
        const char *dash = strrchr(de->d_name, '-');
        if (!strncmp(de->d_name, CMH_TMP_PREFIX, strlen(CMH_TMP_PREFIX)) &&
            dash) {
            char id[CMH_PKGID_SIZE];
            if (cmh_content_id_parse(dash + 1, id, NULL) ==
                    CMH_CONTENT_PACKAGE &&
                !strcmp(id, pkgid) && !cid_list_add(&temps, de->d_name))
                oom = true;
            continue;
        }
        if (len >= sizeof name)
            continue;
        memcpy(name, de->d_name, len + 1);
        if (len > 4 && !strcasecmp(name + len - 4, ".INI"))
            name[len - 4] = 0;
        char id[CMH_PKGID_SIZE];
        if (cmh_content_id_parse(name, id, NULL) != CMH_CONTENT_PACKAGE ||
            strcmp(id, pkgid) || !strcmp(name, keep_cid) ||
            cmh__reflist_has(&kept, name))
            continue;
        if (!cid_list_add(&old, name))
            oom = true;
    }
    closedir(d);
    cmh_status st = oom ? cmh__fail(ctx, CMH_E_NOMEM, "out of memory")
                        : CMH_OK;
    for (size_t i = 0; i < temps.n; i++) {
        /* a retirement a crash interrupted: finish it (drop the content's
         * remaining references); a set-aside copy of a live content only
         * goes */
        const char *tcid = strrchr(temps.v[i], '-') + 1;
        if (!strcmp(tcid, keep_cid) || cmh__reflist_has(&kept, tcid)) {
            cmh__tree_remove(l->datalib_fd, temps.v[i]);
        } else if (st == CMH_OK) {
            char c[CMH_CID_SIZE];
            snprintf(c, sizeof c, "%s", tcid);
            st = retire_mirror(ctx, l, temps.v[i], c, do_fsync,
                               retired_files);
        }
        free(temps.v[i]);
    }
    free(temps.v);
    cmh__reflist_free(&kept);
    for (size_t i = 0; i < old.n; i++) {
        if (st == CMH_OK)
            st = retire_content(ctx, l, old.v[i], do_fsync, retired_files);
        free(old.v[i]);
    }
    free(old.v);
    return st;
}
