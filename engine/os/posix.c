/* POSIX/Linux implementation of the OS seam. */
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#endif
#ifdef CMHASH_HAVE_LIBURING
#include <liburing.h>
#endif

static bool dot_or_dotdot(const char *n)
{
    return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

int cmh__os_list_dir(int fd, bool rewind,
                    int (*fn)(const char *name, unsigned char type,
                              void *arg),
                    void *arg)
{
#if defined(__linux__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
    if (rewind && lseek(fd, 0, SEEK_SET) < 0)
        return errno;
    _Alignas(struct dirent64) char buf[32768];
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *d = (const void *)(buf + off);
            off += d->d_reclen;
            if (dot_or_dotdot(d->d_name))
                continue;
            int r = fn(d->d_name, d->d_type, arg);
            if (r)
                return r;
        }
    }
#else
    int dfd = dup(fd);
    if (dfd < 0)
        return errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return e;
    }
    if (rewind)
        rewinddir(d);
    int e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            e = errno;
            break;
        }
        if (dot_or_dotdot(de->d_name))
            continue;
        if ((e = fn(de->d_name, de->d_type, arg)) != 0)
            break;
    }
    closedir(d);
    return e;
#endif
}

int cmh__os_open_read(int dirfd, const char *path, int *out_fd)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    int fd = -1;
#ifdef O_NOATIME
    /* O_NOATIME is refused (EPERM) unless we own the file or are root:
     * then open without it. */
    fd = openat(dirfd, path, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, path, flags);
#else
    fd = openat(dirfd, path, flags);
#endif
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

int cmh__os_open_dir(int dirfd, const char *path, int *out_fd)
{
    int fd = openat(dirfd, path,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

int cmh__os_sync_fs(int fd)
{
#ifdef __linux__
    /* One syncfs replaces thousands of per-file fsyncs: the durability
     * barrier before the commit point (contentlib.md section 7). Linux >=
     * 5.8 reports writeback errors through it. */
    if (syncfs(fd) != 0)
        return errno;
    return 0;
#else
    return cmh__os_fsync(fd);
#endif
}

int cmh__os_prefetch(int dirfd, const char *path, uint64_t len)
{
#if defined(POSIX_FADV_WILLNEED)
    int fd;
    int e = cmh__os_open_read(dirfd, path, &fd);
    if (e)
        return e;
    /* WILLNEED queues the reads and returns: many files' reads are in
     * flight at once, with no thread waiting on them. */
    e = posix_fadvise(fd, 0, (off_t)len, POSIX_FADV_WILLNEED);
    close(fd);
    return e;
#else
    (void)dirfd;
    (void)path;
    (void)len;
    return 0;
#endif
}

int cmh__os_physical_offset(int dirfd, const char *path, uint64_t *out)
{
#if defined(__linux__) && defined(FS_IOC_FIEMAP)
    int fd;
    int e = cmh__os_open_read(dirfd, path, &fd);
    if (e)
        return e;
    union {
        struct fiemap fm;
        char b[sizeof(struct fiemap) + sizeof(struct fiemap_extent)];
    } u;
    memset(&u, 0, sizeof u);
    u.fm.fm_start = 0;
    u.fm.fm_length = FIEMAP_MAX_OFFSET;
    u.fm.fm_extent_count = 1; /* the first extent is all the order needs */
    e = ioctl(fd, FS_IOC_FIEMAP, &u.fm) < 0 ? errno : 0;
    close(fd);
    if (e)
        return e == ENOTTY || e == EOPNOTSUPP ? ENOTSUP : e;
    const struct fiemap_extent *x = &u.fm.fm_extents[0];
    if (u.fm.fm_mapped_extents < 1 ||
        (x->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DATA_INLINE |
                        FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DELALLOC)))
        return ENOTSUP;
    *out = x->fe_physical;
    return 0;
#else
    (void)dirfd;
    (void)path;
    (void)out;
    return ENOTSUP;
#endif
}

#ifdef CMHASH_HAVE_LIBURING
struct cmh_os_aread {
    struct io_uring ring;
    unsigned depth, inflight;
    size_t maxlen;
    void *scratch; /* every read's destination; its bytes are dropped */
};

int cmh__os_aread_open(unsigned depth, size_t maxlen, cmh_os_aread **out)
{
    *out = NULL;
    if (!depth || !maxlen)
        return EINVAL;
    cmh_os_aread *q = calloc(1, sizeof *q);
    if (!q)
        return ENOMEM;
    q->scratch = malloc(maxlen);
    if (!q->scratch) {
        free(q);
        return ENOMEM;
    }
    /* the probe: old kernels, seccomp filters (containers) and
     * kernel.io_uring_disabled refuse it here */
    int e = io_uring_queue_init(depth, &q->ring, 0);
    if (e < 0) {
        free(q->scratch);
        free(q);
        return -e;
    }
    q->depth = depth;
    q->maxlen = maxlen;
    *out = q;
    return 0;
}

int cmh__os_aread_submit(cmh_os_aread *q, int fd, uint64_t off, size_t len,
                        uint64_t tag)
{
    if (q->inflight >= q->depth)
        return EAGAIN;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (!sqe)
        return EAGAIN;
    io_uring_prep_read(sqe, fd, q->scratch,
                       (unsigned)(len < q->maxlen ? len : q->maxlen), off);
    io_uring_sqe_set_data64(sqe, tag);
    int n;
    do
        n = io_uring_submit(&q->ring);
    while (n == -EINTR);
    if (n < 0)
        return -n;
    q->inflight++;
    return 0;
}

unsigned cmh__os_aread_reap(cmh_os_aread *q, uint64_t *tags, int *res,
                           unsigned max, unsigned wait_us)
{
    unsigned k = 0;
    struct io_uring_cqe *cqe;
    while (k < max && q->inflight) {
        int e = io_uring_peek_cqe(&q->ring, &cqe);
        if (e == -EAGAIN && !k && wait_us) {
            struct __kernel_timespec ts = {
                .tv_sec = wait_us / 1000000,
                .tv_nsec = (long long)(wait_us % 1000000) * 1000};
            e = io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
            wait_us = 0; /* one wait per call */
        }
        if (e < 0)
            break;
        tags[k] = io_uring_cqe_get_data64(cqe);
        res[k] = cqe->res;
        io_uring_cqe_seen(&q->ring, cqe);
        q->inflight--;
        k++;
    }
    return k;
}

void cmh__os_aread_close(cmh_os_aread *q)
{
    if (!q)
        return;
    /* the kernel writes into scratch until each read is reaped */
    while (q->inflight) {
        struct io_uring_cqe *cqe;
        int e = io_uring_wait_cqe(&q->ring, &cqe);
        if (e == -EINTR)
            continue;
        if (e < 0)
            break;
        io_uring_cqe_seen(&q->ring, cqe);
        q->inflight--;
    }
    io_uring_queue_exit(&q->ring);
    free(q->scratch);
    free(q);
}
#endif

int cmh__os_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int cmh__os_filelib_drives(const char *lib, char ***out, size_t *n)
{
    (void)lib; /* no drive letters: extra roots only as given */
    *out = NULL;
    *n = 0;
    return 0;
}

int cmh__os_inodes_exhausted(int fd, bool *out, unsigned long long *used)
{
    struct statvfs vs;
    *out = false;
    *used = 0;
    if (fstatvfs(fd, &vs) != 0)
        return errno;
    *out = vs.f_files != 0 && vs.f_favail == 0;
    *used = (unsigned long long)vs.f_files;
    return 0;
}

int cmh__os_fsync(int fd)
{
    if (fsync(fd) != 0)
        return errno;
    return 0;
}

static int parse_dosattrib_text(const char *buf, size_t n, uint32_t *out)
{
    /* Samba stores "0x<hex>" NUL-terminated (then an NDR blob). */
    if (n < 3 || buf[0] != '0' || (buf[1] != 'x' && buf[1] != 'X'))
        return -1;
    uint32_t v = 0;
    size_t i = 2;
    for (; i < n && buf[i]; i++) {
        char c = buf[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        if (i >= 10)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    if (i == 2)
        return -1;
    *out = v;
    return 0;
}

#ifdef __linux__
/* Is the filesystem of @p fd (device @p dev) a CIFS/SMB mount? Cached per
 * thread and device: one fstatfs per source filesystem, not per file. */
static bool on_cifs(int fd, dev_t dev)
{
    static _Thread_local dev_t cached_dev;
    static _Thread_local int cached = -1;
    if (cached >= 0 && cached_dev == dev)
        return cached;
    struct statfs sf;
    int is = 0;
    if (fstatfs(fd, &sf) == 0)
        is = (unsigned long)sf.f_type == 0xFF534D42ul || /* CIFS */
             (unsigned long)sf.f_type == 0xFE534D42ul || /* SMB2 */
             (unsigned long)sf.f_type == 0x517Bul;       /* SMB */
    cached_dev = dev;
    cached = is;
    return is;
}
#endif

uint32_t cmh__os_dos_attributes(int fd, const char *name, const struct stat *st)
{
#ifdef __linux__
    unsigned char buf[64];
    ssize_t n;
    if (on_cifs(fd, st->st_dev)) {
        n = fgetxattr(fd, "system.cifs_attrib", buf, sizeof buf);
        if (n == 4)
            return (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
                   (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
    }
    /* Samba's own attribute, on the server's disk behind a share */
    n = fgetxattr(fd, "user.DOSATTRIB", buf, sizeof buf);
    uint32_t v;
    if (n > 0 && parse_dosattrib_text((const char *)buf, (size_t)n, &v) == 0)
        return v;
#else
    (void)fd;
#endif
    uint32_t a = 0x20; /* ARCHIVE */
    if (!(st->st_mode & S_IWUSR))
        a |= 0x1; /* READONLY */
    if (name[0] == '.')
        a |= 0x2; /* HIDDEN, Samba's default mapping */
    return a;
}

int cmh__os_lock(int fd, bool exclusive, bool wait)
{
    int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
    for (;;) {
        if (flock(fd, op) == 0)
            return 0;
        if (errno != EINTR)
            return errno;
    }
}

void cmh__os_unlock(int fd)
{
    (void)flock(fd, LOCK_UN);
}

int cmh__os_lock_probe(int dirfd, const char *name, bool *busy)
{
    *busy = false;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                                     O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            *busy = true;
            return 0;
        }
        return e;
    }
    flock(fd, LOCK_UN);
    close(fd);
    return 0;
}

int cmh__os_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
#ifdef SYS_getrandom
        long r = syscall(SYS_getrandom, p, n, 0);
#else
        long r = -1;
        errno = ENOSYS;
#endif
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return errno;
            ssize_t got = read(fd, p, n);
            int e = errno;
            close(fd);
            if (got != (ssize_t)n)
                return got < 0 ? e : EIO;
            return 0;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int cmh__os_lock_held_exclusive(int dirfd, const char *name, bool *exclusive)
{
    *exclusive = false;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                                     O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    int e = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        flock(fd, LOCK_UN);
    else if (errno == EWOULDBLOCK)
        *exclusive = true;
    else
        e = errno;
    close(fd);
    return e;
}

void cmh__os_advise_sequential(int fd)
{
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

int cmh__os_open_dir_noatime(int dirfd, const char *path, int *out_fd)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd;
#ifdef O_NOATIME
    /* Listing a folder updates its atime like reading a file does; the
     * flag is refused (EPERM) on folders we do not own. */
    fd = openat(dirfd, path, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, path, flags);
#else
    fd = openat(dirfd, path, flags);
#endif
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

void cmh__os_lower_priority(void)
{
    /* Linux applies both to the calling thread only; threads created
     * afterwards (the verify workers) inherit them. */
    (void)setpriority(PRIO_PROCESS, 0, 19);
#if defined(__linux__) && defined(SYS_ioprio_set)
    /* IOPRIO_WHO_PROCESS = 1, IOPRIO_CLASS_IDLE = 3 (<linux/ioprio.h>). */
    (void)syscall(SYS_ioprio_set, 1, 0, 3 << 13);
#endif
}

/* ---- status --watch (moved here from dpstatus.c) ---- */

int cmh__os_watch_open(void)
{
#ifdef __linux__
    return inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
#else
    return -1;
#endif
}

void cmh__os_watch_add(int w, const char *dir)
{
#ifdef __linux__
    if (w >= 0)
        (void)inotify_add_watch(w, dir,
                                IN_CREATE | IN_DELETE | IN_MOVED_TO |
                                    IN_MOVED_FROM | IN_CLOSE_WRITE |
                                    IN_ATTRIB | IN_ONLYDIR);
#else
    (void)w;
    (void)dir;
#endif
}

bool cmh__os_watch_wait(int w, double secs)
{
    struct pollfd p = {w, POLLIN, 0};
    int ms = secs <= 0 ? 0 : (int)(secs * 1000) + 1;
    if (poll(&p, 1, ms) <= 0)
        return false;
    char buf[4096];
    while (read(w, buf, sizeof buf) > 0)
        ;
    return true;
}

void cmh__os_watch_close(int w)
{
    if (w >= 0)
        close(w);
}

