/* POSIX compatibility layer of the Windows build (issue 15).
 *
 * Design. The engine is written against POSIX: *at() calls on descriptors,
 * struct stat with st_mtim, DIR streams, flock. Rather than an #ifdef at each
 * of the ~120 call sites, the Windows build force-includes this header into
 * every translation unit of the engine and the CLI (-include, see
 * engine/CMakeLists.txt); nothing else includes it and the Linux build never
 * sees it. It first includes the mingw-w64 C runtime headers that declare
 * the same names, then renames the POSIX calls the engine uses to cmh_w_*
 * functions implemented in engine/os/win32_{io,names,proc}.c (see
 * win32_priv.h) over the wide-character (W) Win32 API:
 *   - descriptors are cmhash's own (a table of HANDLEs with the full path of
 *     each, 0-2 stay the C runtime's console/pipe descriptors), so openat()
 *     on a folder descriptor resolves against that folder's path;
 *   - every path crosses the seam once: UTF-8 (WTF-8 for unpaired
 *     surrogates) to UTF-16, made absolute, "." and ".." folded, and
 *     prefixed \\?\ (\\?\UNC\ for \\server\share) so paths over 260
 *     characters work; a Unix-style absolute path ("/tmp/x") is taken on the
 *     current drive (what Wine maps to Z:);
 *   - struct stat carries st_mtim with the FILETIME's full 100-ns precision
 *     (TimeModified round-trips exactly) and the file's FILE_ATTRIBUTE_*
 *     bits (st_attributes) for cmh__os_dos_attributes;
 *   - rename = MoveFileExW(REPLACE_EXISTING | WRITE_THROUGH), fsync =
 *     FlushFileBuffers, flock = LockFileEx on one byte far past the end of
 *     the file (so the lock never blocks reading the file's bytes).
 * Case mapping for the content hash does not use the OS: towupper_l /
 * towlower_l map to the spec's table (glibc's simple mappings, generated
 * into win32_casemap.h), so hashes are identical on both platforms. */
#ifndef CMHASH_WIN32_POSIX_H
#define CMHASH_WIN32_POSIX_H
#ifdef _WIN32

/* C99 printf/scanf (%zu, %lld) instead of msvcrt's */
#ifndef __USE_MINGW_ANSI_STDIO
#define __USE_MINGW_ANSI_STDIO 1
#endif
/* The runtime headers that declare the names renamed below: they must be
 * read before the renaming macros. */
#include <direct.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <locale.h>
#include <process.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

/* \\server\share\dir paths are opened as they are (no --unc-root) */
#define CMH_OS_NATIVE_UNC 1

/* ---- flags and constants the C runtime lacks ---- */
#define O_NOFOLLOW 0x00100000
#define O_DIRECTORY 0x00200000
#define O_NONBLOCK 0x00400000
#define O_DIRECT 0x00800000
#define O_CLOEXEC 0 /* handles are never inherited */
#define O_NOCTTY 0
#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR 0x200
#define UTIME_NOW ((1L << 30) - 1L)
#define UTIME_OMIT ((1L << 30) - 2L)
#ifndef ESTALE
#define ESTALE 116
#endif
#ifndef EDQUOT
#define EDQUOT 122
#endif
#define SIGKILL 9
#define SIGPIPE 13
#ifndef S_IFLNK
#define S_IFLNK 0120000
#endif
#ifndef S_IFSOCK
#define S_IFSOCK 0140000
#endif
#ifndef S_ISLNK
#define S_ISLNK(m) (((m) & 0170000) == S_IFLNK)
#endif
#ifndef S_ISSOCK
#define S_ISSOCK(m) (((m) & 0170000) == S_IFSOCK)
#endif
#define DT_UNKNOWN 0
#define DT_DIR 4
#define DT_REG 8
#define DT_LNK 10
#define _SC_NPROCESSORS_ONLN 84
#define _SC_PAGESIZE 30
#define LOCK_SH 1
#define LOCK_EX 2
#define LOCK_NB 4
#define LOCK_UN 8

/* ---- struct stat with nanosecond times ---- */
struct cmh__w_stat {
    uint64_t st_dev;
    uint64_t st_ino;
    unsigned st_mode;
    unsigned st_nlink;
    int64_t st_size;
    struct timespec st_atim, st_mtim, st_ctim;
    uint32_t st_attributes; /* FILE_ATTRIBUTE_* as the file system has them */
};
#undef stat
#undef fstat
#undef lstat
#define stat cmh__w_stat /* struct stat and stat() alike */
#define st_mtime st_mtim.tv_sec
int cmh__w_stat(const char *path, struct cmh__w_stat *st);
int cmh__w_fstat(int fd, struct cmh__w_stat *st);
int cmh__w_lstat(const char *path, struct cmh__w_stat *st);
int cmh__w_fstatat(int dirfd, const char *path, struct cmh__w_stat *st,
                  int flags);
#define fstat(fd, st) cmh__w_fstat(fd, st)
#define lstat(p, st) cmh__w_lstat(p, st)
#define fstatat(d, p, st, f) cmh__w_fstatat(d, p, st, f)

/* ---- descriptors ---- */
int cmh__w_open(const char *path, int flags, ...);
int cmh__w_openat(int dirfd, const char *path, int flags, ...);
int cmh__w_close(int fd);
ssize_t cmh__w_read(int fd, void *buf, size_t n);
ssize_t cmh__w_write(int fd, const void *buf, size_t n);
ssize_t cmh__w_pread(int fd, void *buf, size_t n, int64_t off);
ssize_t cmh__w_pwrite(int fd, const void *buf, size_t n, int64_t off);
int64_t cmh__w_lseek(int fd, int64_t off, int whence);
int cmh__w_fsync(int fd);
int cmh__w_ftruncate(int fd, int64_t len);
int cmh__w_fchmod(int fd, unsigned mode);
int cmh__w_futimens(int fd, const struct timespec ts[2]);
int cmh__w_dup(int fd);
int cmh__w_isatty(int fd);
#undef open
#undef close
#undef read
#undef write
#undef lseek
#undef isatty
#undef dup
#undef ftruncate
#define open cmh__w_open
#define openat cmh__w_openat
#define close(fd) cmh__w_close(fd)
#define read(fd, b, n) cmh__w_read(fd, b, n)
#define write(fd, b, n) cmh__w_write(fd, b, n)
#define pread(fd, b, n, o) cmh__w_pread(fd, b, n, o)
#define pwrite(fd, b, n, o) cmh__w_pwrite(fd, b, n, o)
#define lseek(fd, o, w) cmh__w_lseek(fd, o, w)
#define fsync(fd) cmh__w_fsync(fd)
#define fdatasync(fd) cmh__w_fsync(fd)
#define ftruncate(fd, n) cmh__w_ftruncate(fd, n)
#define fchmod(fd, m) cmh__w_fchmod(fd, m)
#define futimens(fd, ts) cmh__w_futimens(fd, ts)
#define dup(fd) cmh__w_dup(fd)
#define isatty(fd) cmh__w_isatty(fd)

/* strndup: POSIX 2008, missing from mingw's C library */
char *cmh__w_strndup(const char *s, size_t n);
#define strndup(s, n) cmh__w_strndup(s, n)

/* ---- names ---- */
/* realpath(path, NULL) only: the full path of an existing file or folder,
 * malloc'd, with '/' separators and no \\?\ prefix; NULL + errno. */
char *cmh__w_realpath(const char *path, char *resolved);
#define realpath(p, r) cmh__w_realpath(p, r)
int cmh__w_unlinkat(int dirfd, const char *path, int flags);
int cmh__w_renameat(int odir, const char *op, int ndir, const char *np);
int cmh__w_linkat(int odir, const char *op, int ndir, const char *np,
                 int flags);
int cmh__w_mkdirat(int dirfd, const char *path, unsigned mode);
int cmh__w_flock(int fd, int op);
#undef unlink
#undef mkdir
#undef rmdir
#undef rename
#define unlinkat(d, p, f) cmh__w_unlinkat(d, p, f)
#define unlink(p) cmh__w_unlinkat(AT_FDCWD, p, 0)
#define rmdir(p) cmh__w_unlinkat(AT_FDCWD, p, AT_REMOVEDIR)
#define renameat(a, b, c, d) cmh__w_renameat(a, b, c, d)
#define rename(a, b) cmh__w_renameat(AT_FDCWD, a, AT_FDCWD, b)
#define linkat(a, b, c, d, f) cmh__w_linkat(a, b, c, d, f)
#define mkdirat(d, p, m) cmh__w_mkdirat(d, p, m)
#define mkdir(p, m) cmh__w_mkdirat(AT_FDCWD, p, m)
#define flock(fd, op) cmh__w_flock(fd, op)
FILE *cmh__w_fopen(const char *path, const char *mode);
#define fopen(p, m) cmh__w_fopen(p, m)

/* ---- folder streams ---- */
struct cmh_w_dirent {
    unsigned char d_type;
    char d_name[4 * 256]; /* one NTFS name (255 UTF-16 units) in UTF-8 */
};
typedef struct cmh_w_dir cmh_w_DIR;
#undef DIR
#define DIR cmh_w_DIR
#define dirent cmh_w_dirent
cmh_w_DIR *cmh__w_fdopendir(int fd);
cmh_w_DIR *cmh__w_opendir(const char *path);
struct cmh_w_dirent *cmh__w_readdir(cmh_w_DIR *d);
int cmh__w_closedir(cmh_w_DIR *d);
int cmh__w_dirfd(cmh_w_DIR *d);
void cmh__w_rewinddir(cmh_w_DIR *d);
#define fdopendir(fd) cmh__w_fdopendir(fd)
#define opendir(p) cmh__w_opendir(p)
#define readdir(d) cmh__w_readdir(d)
#define closedir(d) cmh__w_closedir(d)
#define dirfd(d) cmh__w_dirfd(d)
#define rewinddir(d) cmh__w_rewinddir(d)

/* ---- process, time, memory ---- */
long cmh__w_sysconf(int name);
#define sysconf(n) cmh__w_sysconf(n)
#define gmtime_r(t, tm) (gmtime_s(tm, t) == 0 ? (tm) : NULL)
#define localtime_r(t, tm) (localtime_s(tm, t) == 0 ? (tm) : NULL)
int cmh__w_raise(int sig);
#define raise(s) cmh__w_raise(s)
long cmh__w_gettid(void);
#define SYS_gettid 0
#define syscall(n) cmh__w_gettid()
FILE *cmh__w_open_memstream(char **buf, size_t *len);
int cmh__w_fclose(FILE *f);
#define open_memstream(b, n) cmh__w_open_memstream(b, n)
#define fclose(f) cmh__w_fclose(f)

/* sigaction for SIGINT and SIGTERM: SetConsoleCtrlHandler (Ctrl-C is
 * SIGINT; Ctrl-Break, console close, logoff, shutdown and a service stop
 * are SIGTERM). The handler runs on the control thread Windows creates. */
typedef int sigset_t;
struct sigaction {
    void (*sa_handler)(int);
    sigset_t sa_mask;
    int sa_flags;
};
static inline int cmh_w_sigemptyset(sigset_t *s)
{
    *s = 0;
    return 0;
}
#define sigemptyset(s) cmh_w_sigemptyset(s)
int cmh__w_sigaction(int sig, const struct sigaction *sa,
                    struct sigaction *old);
#define sigaction(s, a, o) cmh__w_sigaction(s, a, o)

/* Case mapping of the spec (glibc's simple mappings), not the OS's. */
typedef int cmh_w_locale_t;
#define locale_t cmh_w_locale_t
#define LC_CTYPE_MASK 1
#define newlocale(m, n, b) ((locale_t)1)
/* wint_t is 16 bits here; the code expects glibc's 32 */
typedef uint32_t cmh_w_wint_t;
#define wint_t cmh_w_wint_t
wint_t cmh__w_towupper(wint_t c);
wint_t cmh__w_towlower(wint_t c);
#define towupper_l(c, l) cmh__w_towupper(c)
#define towlower_l(c, l) cmh__w_towlower(c)

/* The program's entry point: main() receives its arguments in UTF-8 (from
 * GetCommandLineW), not in the ANSI code page. */
#ifndef CMH_W_IMPL
#define main cmh_w_main_utf8
#endif
int cmh_w_main_utf8(int argc, char **argv);

#endif /* _WIN32 */
#endif
