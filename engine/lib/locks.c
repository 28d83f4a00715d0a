/* The library's locks (package, library, run) and the reclaiming of dead
 * runs' temps (library.h). */
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
