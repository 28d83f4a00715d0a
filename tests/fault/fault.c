/* Fault injection shim (LD_PRELOAD) for the fault sweep tests.
 *
 *   CMHASH_FAULT=<call>:<n>[:<errno>]  make the n-th call (1-based, over all
 *                                      threads) of <call> fail with errno
 *   CMHASH_FAULT_COUNT=<file>          at exit, append "<call> <count>"
 *                                      lines: how often each call ran
 *
 * Calls: open openat read write pwrite rename renameat mkdirat linkat
 * fsync syncfs ftruncate malloc calloc realloc pthread_create. Default errno
 * per call: EIO for I/O, ENOSPC for write/pwrite/mkdirat/ftruncate, ENOMEM
 * for allocation, EAGAIN for pthread_create. Only calls that reach the
 * public symbols are seen (libc's internal calls are not), which is what
 * the engine makes.
 *
 * Built with -DFAULT_IO_ONLY (target cmhash_fault_io, for ASan builds): no
 * malloc/calloc/realloc hooks, as ASan owns the allocator and must see every
 * allocation to find leaks; no crash handlers, as ASan reports crashes with
 * a symbolized stack itself. pthread_create stays: dlsym(RTLD_NEXT) from
 * this shim, preloaded ahead of libasan, reaches ASan's interceptor, which
 * registers the thread with ASan. The shim allocates nothing itself but
 * what dlsym and atexit may allocate, through ASan's malloc. */
/* The engine is built with _FILE_OFFSET_BITS=64, so it calls open64,
 * openat64, pwrite64, ftruncate64: define both names here. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    C_OPEN, C_OPENAT, C_READ, C_WRITE, C_PWRITE, C_RENAME, C_RENAMEAT,
    C_MKDIRAT, C_LINKAT, C_FSYNC, C_SYNCFS, C_FTRUNCATE, C_MALLOC, C_CALLOC,
    C_REALLOC, C_PTHREAD_CREATE, C_N
};
static const char *const names[C_N] = {
    "open", "openat", "read", "write", "pwrite", "rename", "renameat",
    "mkdirat", "linkat", "fsync", "syncfs", "ftruncate", "malloc", "calloc",
    "realloc", "pthread_create"};
static const int default_errno[C_N] = {
    EIO, EIO, EIO, ENOSPC, ENOSPC, EIO, EIO, ENOSPC, EIO, EIO, EIO, ENOSPC,
    ENOMEM, ENOMEM, ENOMEM, EAGAIN};

static atomic_ulong counts[C_N];
static int target = -1;          /* call to fail, -1 = none */
static unsigned long target_n;   /* which call */
static int target_errno;
static atomic_int ready;         /* configuration parsed */

#ifndef FAULT_IO_ONLY
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
#endif

static void report(void)
{
    const char *f = getenv("CMHASH_FAULT_COUNT");
    if (!f)
        return;
    int fd = open(f, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return;
    char line[64];
    for (int i = 0; i < C_N; i++) {
        int n = snprintf(line, sizeof line, "%s %lu\n", names[i],
                         atomic_load(&counts[i]));
        if (write(fd, line, (size_t)n) < 0)
            break;
    }
    close(fd);
}

#ifndef FAULT_IO_ONLY
/* A crash under injection prints its stack (the test shows it). */
static void on_crash(int sig)
{
    void *frames[64];
    int n = backtrace(frames, 64);
    static const char msg[] = "fault shim: crashed, stack:\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(128 + sig);
    backtrace_symbols_fd(frames, n, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* librsync aborts the process when one of its allocations fails (rs_alloc
 * calls rs_fatal): by its design, not a cmhash bug. Its allocations are
 * neither counted nor failed. */
static uintptr_t rsync_lo, rsync_hi;

static int find_rsync(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "librsync"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            rsync_lo = info->dlpi_addr + ph->p_vaddr;
            rsync_hi = rsync_lo + ph->p_memsz;
        }
    }
    return 1;
}

static int from_rsync(const void *caller)
{
    uintptr_t a = (uintptr_t)caller;
    return a >= rsync_lo && a < rsync_hi;
}
#endif /* !FAULT_IO_ONLY */

__attribute__((constructor)) static void fault_init(void)
{
#ifndef FAULT_IO_ONLY
    void *warm[1];
    backtrace(warm, 1); /* loads libgcc now, not inside a crash */
    signal(SIGSEGV, on_crash);
    signal(SIGABRT, on_crash);
    signal(SIGBUS, on_crash);
    dl_iterate_phdr(find_rsync, NULL);
#endif
    const char *spec = getenv("CMHASH_FAULT");
    if (spec && *spec) {
        char call[32];
        unsigned long n = 0;
        char err[32] = "";
        if (sscanf(spec, "%31[a-z_]:%lu:%31s", call, &n, err) >= 2) {
            for (int i = 0; i < C_N; i++)
                if (!strcmp(call, names[i]))
                    target = i;
            target_n = n;
            target_errno = target >= 0 ? default_errno[target] : 0;
            if (!strcmp(err, "EIO")) target_errno = EIO;
            if (!strcmp(err, "ENOSPC")) target_errno = ENOSPC;
            if (!strcmp(err, "EACCES")) target_errno = EACCES;
            if (!strcmp(err, "ENOMEM")) target_errno = ENOMEM;
            if (!strcmp(err, "EROFS")) target_errno = EROFS;
        }
    }
    atexit(report);
    atomic_store(&ready, 1);
}

/* true: this call must fail */
static int hit(int call)
{
    unsigned long n = atomic_fetch_add(&counts[call], 1) + 1;
    return atomic_load(&ready) && call == target && n == target_n;
}

#define REAL(ret, name, ...)                                               \
    static ret (*real_##name)(__VA_ARGS__);                                \
    if (!real_##name)                                                      \
        real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    REAL(int, open, const char *, int, ...);
    if (hit(C_OPEN)) {
        errno = target_errno;
        return -1;
    }
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    REAL(int, open64, const char *, int, ...);
    if (hit(C_OPEN)) {
        errno = target_errno;
        return -1;
    }
    return real_open64(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    REAL(int, openat, int, const char *, int, ...);
    if (hit(C_OPENAT)) {
        errno = target_errno;
        return -1;
    }
    return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    REAL(int, openat64, int, const char *, int, ...);
    if (hit(C_OPENAT)) {
        errno = target_errno;
        return -1;
    }
    return real_openat64(dirfd, path, flags, mode);
}

ssize_t read(int fd, void *buf, size_t n)
{
    REAL(ssize_t, read, int, void *, size_t);
    if (hit(C_READ)) {
        errno = target_errno;
        return -1;
    }
    return real_read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, write, int, const void *, size_t);
    /* never fail the test harness's own stdout/stderr */
    if (fd > 2 && hit(C_WRITE)) {
        errno = target_errno;
        return -1;
    }
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
    if (hit(C_PWRITE)) {
        errno = target_errno;
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t);
    if (hit(C_PWRITE)) {
        errno = target_errno;
        return -1;
    }
    return real_pwrite64(fd, buf, n, off);
}

int rename(const char *a, const char *b)
{
    REAL(int, rename, const char *, const char *);
    if (hit(C_RENAME)) {
        errno = target_errno;
        return -1;
    }
    return real_rename(a, b);
}

int renameat(int da, const char *a, int db, const char *b)
{
    REAL(int, renameat, int, const char *, int, const char *);
    if (hit(C_RENAMEAT)) {
        errno = target_errno;
        return -1;
    }
    return real_renameat(da, a, db, b);
}

int mkdirat(int d, const char *p, mode_t m)
{
    REAL(int, mkdirat, int, const char *, mode_t);
    if (hit(C_MKDIRAT)) {
        errno = target_errno;
        return -1;
    }
    return real_mkdirat(d, p, m);
}

int linkat(int da, const char *a, int db, const char *b, int fl)
{
    REAL(int, linkat, int, const char *, int, const char *, int);
    if (hit(C_LINKAT)) {
        errno = target_errno;
        return -1;
    }
    return real_linkat(da, a, db, b, fl);
}

int fsync(int fd)
{
    REAL(int, fsync, int);
    if (hit(C_FSYNC)) {
        errno = target_errno;
        return -1;
    }
    return real_fsync(fd);
}

int syncfs(int fd)
{
    REAL(int, syncfs, int);
    if (hit(C_SYNCFS)) {
        errno = target_errno;
        return -1;
    }
    return real_syncfs(fd);
}

int ftruncate(int fd, off_t len)
{
    REAL(int, ftruncate, int, off_t);
    if (hit(C_FTRUNCATE)) {
        errno = target_errno;
        return -1;
    }
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
    REAL(int, ftruncate64, int, off64_t);
    if (hit(C_FTRUNCATE)) {
        errno = target_errno;
        return -1;
    }
    return real_ftruncate64(fd, len);
}

#ifndef FAULT_IO_ONLY
void *malloc(size_t n)
{
    if (!from_rsync(__builtin_return_address(0)) && hit(C_MALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (!from_rsync(__builtin_return_address(0)) && hit(C_CALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (!from_rsync(__builtin_return_address(0)) && hit(C_REALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}
#endif /* !FAULT_IO_ONLY */

int pthread_create(pthread_t *t, const pthread_attr_t *a,
                   void *(*fn)(void *), void *arg)
{
    REAL(int, pthread_create, pthread_t *, const pthread_attr_t *,
         void *(*)(void *), void *);
    if (hit(C_PTHREAD_CREATE))
        return target_errno;
    return real_pthread_create(t, a, fn, arg);
}
