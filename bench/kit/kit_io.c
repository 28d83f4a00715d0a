/* The kit's portable file helpers (kit.h): POSIX calls only, which the
 * Windows build maps through engine/os/win32_posix.h like the engine's. */
#include "kit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

double kit_os_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool kit_os_dir_is_empty(int fd)
{
    int dfd = dup(fd);
    if (dfd < 0)
        return false;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return false;
    }
    bool empty = true;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            empty = false;
            break;
        }
    closedir(d);
    return empty;
}

static _Thread_local uint64_t evict_count;
static _Thread_local int evict_err;

static int evict_one(const char *p, const struct stat *sb, int type,
                     struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        evict_err = errno;
        return 0;
    }
    fdatasync(fd);
    kit_os_advise_dontneed(fd);
    close(fd);
    evict_count++;
    return 0;
}

int kit_os_evict_tree(const char *path, uint64_t *files, int *open_err)
{
    evict_count = 0;
    evict_err = 0;
    if (nftw(path, evict_one, 64, FTW_PHYS) != 0)
        return errno ? errno : EIO;
    *files = evict_count;
    *open_err = evict_err;
    return 0;
}

int kit_os_remove_tree(int parent, const char *name)
{
    if (unlinkat(parent, name, 0) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return errno;
    int fd;
    int e = cmh__os_open_dir(parent, name, &fd);
    if (e)
        return e == ENOENT ? 0 : e;
    DIR *d = fdopendir(fd);
    if (!d) {
        e = errno;
        close(fd);
        return e;
    }
    struct dirent *de;
    e = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int r = kit_os_remove_tree(dirfd(d), de->d_name);
        if (r && !e)
            e = r;
    }
    closedir(d);
    if (e)
        return e;
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        return errno;
    return 0;
}
