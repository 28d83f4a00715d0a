/* The content library on disk (see library.h and contentlib.md 1, 3, 7):
 * open and close, the FileLib roots. Locks are in locks.c, PkgLib in
 * pkglib.c, FileLib placement and references in filelib.c, retirement in
 * retire.c. */
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

/* Open the library folder @p path as l->root_fd; with @p create, make it
 * when it is missing (only the last component). */
static cmh_status open_library_root(cmh_ctx *ctx, cmh_library *l,
                                    const char *path, bool create)
{
    int e = cmh__os_open_dir(AT_FDCWD, path, &l->root_fd);
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
    return CMH_OK;
}

/* How many of PkgLib, DataLib, FileLib are present under @p root_fd. */
static int count_lib_dirs(int root_fd)
{
    int present = 0;
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        if (fstatat(root_fd, lib_dirs[i], &sb, AT_SYMLINK_NOFOLLOW) == 0)
            present++;
    }
    return present;
}

/* A library being created (@p present of its three folders there): make
 * the folders in a fresh (empty) folder; refuse a folder that is neither
 * empty nor a library. */
static cmh_status make_lib_dirs(cmh_ctx *ctx, cmh_library *l,
                                const char *path, int present)
{
    bool fresh = is_fresh_library(l->root_fd);
    if (!fresh && present == 0) {
        /* Another snapshot may be creating the folders (and putting
         * its lock in PkgLib) right now: give it up to 100 ms to
         * finish all three, then judge. */
        for (int tries = 0; tries < 50; tries++) {
            present = count_lib_dirs(l->root_fd);
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
        if (mkdirat(l->root_fd, lib_dirs[i], 0755) != 0 && errno != EEXIST) {
            int e = errno;
            return cmh__fail(ctx, CMH_E_LIBRARY,
                             "cannot create %s/%s: %s; %s", path,
                             lib_dirs[i], strerror(e), cmh__write_hint(e));
        }
    return CMH_OK;
}

cmh_status cmh__library_open(cmh_ctx *ctx, cmh_library *l, const char *path,
                            bool create)
{
    l->path = cmh__strdup(path);
    if (!l->path)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    cmh_status st = open_library_root(ctx, l, path, create);
    if (st)
        return st;
    int present = count_lib_dirs(l->root_fd);
    if (present < 3 && create && (st = make_lib_dirs(ctx, l, path, present)))
        return st;
    int *fds[3] = {&l->pkglib_fd, &l->datalib_fd, &l->filelib_fd};
    for (int i = 0; i < 3; i++) {
        int e = cmh__os_open_dir(l->root_fd, lib_dirs[i], fds[i]);
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
