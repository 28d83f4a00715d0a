/* Windows implementation of the OS seam (issue 15), and the POSIX layer
 * that win32_posix.h renames the engine's POSIX calls to. Design: see the
 * comment at the top of win32_posix.h and docs/WINDOWS.md. Wide-character
 * (W) APIs only; every path is converted once, here. */
#define CMH_W_IMPL 1
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winioctl.h>
#define SECURITY_WIN32
#include <ntsecapi.h>

#include "win32_posix.h"
#include <sys/ioctl.h>

#include <stdarg.h>
#include <stdbool.h>

#include "os.h"
#include "win32_casemap.h"

/* the C runtime's own, here */
#undef fclose
#undef raise

/* ---- errors ---- */

static int errno_from(DWORD w)
{
    switch (w) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
        return ENOENT;
    case ERROR_ACCESS_DENIED:
    case ERROR_PRIVILEGE_NOT_HELD:
        return EACCES;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
        return EEXIST;
    case ERROR_SHARING_VIOLATION:
        return EBUSY;
    case ERROR_LOCK_VIOLATION:
    case ERROR_IO_PENDING:
        return EWOULDBLOCK;
    case ERROR_DIR_NOT_EMPTY:
        return ENOTEMPTY;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return ENOSPC;
    case 1295: /* ERROR_DISK_QUOTA_EXCEEDED */
        return EDQUOT;
    case ERROR_DIRECTORY:
        return ENOTDIR;
    case ERROR_NOT_SAME_DEVICE:
        return EXDEV;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_WRITE_PROTECT:
        return EROFS;
    case ERROR_INVALID_HANDLE:
        return EBADF;
    case ERROR_NOT_SUPPORTED:
    case ERROR_INVALID_FUNCTION:
        return ENOTSUP;
    case ERROR_CANT_RESOLVE_FILENAME:
        return ELOOP;
    case ERROR_INVALID_PARAMETER:
        return EINVAL;
    case ERROR_NETNAME_DELETED:
    case ERROR_UNEXP_NET_ERR:
        return ESTALE;
    default:
        return EIO;
    }
}

static int fail(DWORD w)
{
    errno = errno_from(w);
    return -1;
}

/* ---- UTF-8 (WTF-8) <-> UTF-16: unpaired surrogates round-trip ---- */

static wchar_t *to_w(const char *s, size_t *outn)
{
    size_t n = strlen(s);
    wchar_t *w = malloc((n + 1) * sizeof *w);
    if (!w)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i], cp, len;
        if (c < 0x80) {
            cp = c;
            len = 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n) {
            cp = (c & 0x1F) << 6 | (p[i + 1] & 0x3F);
            len = 2;
        } else if ((c & 0xF0) == 0xE0 && i + 2 < n) {
            cp = (c & 0x0F) << 12 | (p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
            len = 3;
        } else if ((c & 0xF8) == 0xF0 && i + 3 < n) {
            cp = (c & 0x07) << 18 | (p[i + 1] & 0x3F) << 12 |
                 (p[i + 2] & 0x3F) << 6 | (p[i + 3] & 0x3F);
            len = 4;
        } else {
            free(w);
            errno = EILSEQ;
            return NULL;
        }
        for (unsigned k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80) {
                free(w);
                errno = EILSEQ;
                return NULL;
            }
        i += len;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            w[o++] = (wchar_t)(0xD800 | (cp >> 10));
            w[o++] = (wchar_t)(0xDC00 | (cp & 0x3FF));
        } else {
            w[o++] = (wchar_t)cp;
        }
    }
    w[o] = 0;
    if (outn)
        *outn = o;
    return w;
}

/* UTF-16 name to UTF-8 into @p out (size @p cap); false if it does not fit */
static bool from_w(const wchar_t *w, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; w[i]; i++) {
        unsigned c = (unsigned short)w[i];
        if (c >= 0xD800 && c <= 0xDBFF && w[i + 1] >= 0xDC00 &&
            w[i + 1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) +
                ((unsigned short)w[i + 1] - 0xDC00);
            i++;
        }
        if (o + 5 > cap)
            return false;
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xC0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out[o++] = (char)(0xE0 | c >> 12);
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | c >> 18);
            out[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = 0;
    return true;
}

/* ---- descriptors: cmhash's own table of HANDLEs ---- */

enum { K_FREE, K_FILE, K_DIR, K_WATCH };
#define MAXFD 32768
#define WATCH_MAX 60
typedef struct watch_set {
    int n;
    HANDLE dir[WATCH_MAX], ev[WATCH_MAX];
    OVERLAPPED ov[WATCH_MAX];
    DWORD buf[WATCH_MAX][1024];
} watch_set;
typedef struct fdent {
    int kind;
    HANDLE h;
    wchar_t *path; /* full \\?\ path */
    bool writable, wrote, sparse;
    watch_set *ws;
} fdent;
static fdent fds[MAXFD];
static SRWLOCK fd_lock = SRWLOCK_INIT;

static int fd_alloc(int kind, HANDLE h, wchar_t *path)
{
    AcquireSRWLockExclusive(&fd_lock);
    for (int i = 3; i < MAXFD; i++)
        if (fds[i].kind == K_FREE) {
            memset(&fds[i], 0, sizeof fds[i]);
            fds[i].kind = kind;
            fds[i].h = h;
            fds[i].path = path;
            ReleaseSRWLockExclusive(&fd_lock);
            return i;
        }
    ReleaseSRWLockExclusive(&fd_lock);
    errno = EMFILE;
    return -1;
}

static fdent *fd_get(int fd)
{
    if (fd < 3 || fd >= MAXFD || fds[fd].kind == K_FREE) {
        errno = EBADF;
        return NULL;
    }
    return &fds[fd];
}

/* ---- paths ---- */

static wchar_t *cwd_w(void)
{
    DWORD n = GetCurrentDirectoryW(0, NULL);
    wchar_t *c = malloc((n + 1) * sizeof *c);
    if (c && !GetCurrentDirectoryW(n + 1, c)) {
        free(c);
        return NULL;
    }
    return c;
}

/* Length of the root of an already \\?\-prefixed path: "\\?\X:" or
 * "\\?\UNC\server\share". */
static size_t root_len(const wchar_t *p)
{
    if (wcsncmp(p, L"\\\\?\\UNC\\", 8) == 0) {
        size_t i = 8, seps = 0;
        while (p[i] && seps < 2) {
            if (p[i] == L'\\')
                seps++;
            if (seps < 2)
                i++;
        }
        return i;
    }
    if (wcsncmp(p, L"\\\\?\\", 4) == 0) {
        size_t i = 4;
        while (p[i] && p[i] != L'\\')
            i++;
        return i;
    }
    return 0;
}

/* Fold "." and ".." and repeated separators after the root, in place. */
static void normalise(wchar_t *p)
{
    size_t r = root_len(p);
    wchar_t *out = p + r, *in = p + r;
    while (*in) {
        while (*in == L'\\')
            in++;
        if (!*in)
            break;
        wchar_t *seg = in;
        while (*in && *in != L'\\')
            in++;
        size_t len = (size_t)(in - seg);
        if (len == 1 && seg[0] == L'.')
            continue;
        if (len == 2 && seg[0] == L'.' && seg[1] == L'.') {
            while (out > p + r && out[-1] != L'\\')
                out--;
            if (out > p + r)
                out--;
            continue;
        }
        *out++ = L'\\';
        memmove(out, seg, len * sizeof *seg);
        out += len;
    }
    if (out == p + r && r > 0 && p[r - 1] == L':')
        *out++ = L'\\'; /* "\\?\X:" -> "\\?\X:\" */
    *out = 0;
}

static wchar_t *concat3(const wchar_t *a, const wchar_t *b, const wchar_t *c)
{
    size_t na = wcslen(a), nb = wcslen(b), nc = wcslen(c);
    wchar_t *r = malloc((na + nb + nc + 1) * sizeof *r);
    if (!r)
        return NULL;
    memcpy(r, a, na * sizeof *r);
    memcpy(r + na, b, nb * sizeof *r);
    memcpy(r + na + nb, c, (nc + 1) * sizeof *r);
    return r;
}

/* Make an absolute, prefixed path of a (not prefixed) absolute one. */
static wchar_t *prefixed(const wchar_t *abs)
{
    if (abs[0] == L'\\' && abs[1] == L'\\')
        return concat3(L"\\\\?\\UNC\\", abs + 2, L"");
    return concat3(L"\\\\?\\", abs, L"");
}

/* dirfd/path as a full \\?\ path, "." and ".." folded. */
static wchar_t *wpath_at(int dirfd, const char *path)
{
    wchar_t *u = to_w(path, NULL);
    if (!u)
        return NULL;
    for (wchar_t *q = u; *q; q++)
        if (*q == L'/')
            *q = L'\\';
    wchar_t *full = NULL;
    if (!wcsncmp(u, L"\\\\?\\", 4) || !wcsncmp(u, L"\\\\.\\", 4)) {
        full = u;
        u = NULL;
    } else if (u[0] == L'\\' && u[1] == L'\\') {
        full = prefixed(u);
    } else if (iswalpha(u[0]) && u[1] == L':' && u[2] == L'\\') {
        full = prefixed(u);
    } else if (u[0] == L'\\') {
        /* "/tmp/x": the root of the current drive (Z: under Wine) */
        wchar_t *c = cwd_w();
        if (c) {
            wchar_t *pc = prefixed(c);
            free(c);
            if (pc) {
                pc[root_len(pc)] = 0;
                full = concat3(pc, u, L"");
                free(pc);
            }
        }
    } else {
        wchar_t *base = NULL;
        if (dirfd == AT_FDCWD) {
            wchar_t *c = cwd_w();
            if (c) {
                base = prefixed(c);
                free(c);
            }
        } else {
            fdent *e = fd_get(dirfd);
            if (!e) {
                free(u);
                return NULL;
            }
            base = concat3(e->path, L"", L"");
        }
        if (base) {
            full = concat3(base, L"\\", u);
            free(base);
        }
    }
    free(u);
    if (!full) {
        if (!errno)
            errno = ENOMEM;
        return NULL;
    }
    if (wcsncmp(full, L"\\\\.\\", 4))
        normalise(full);
    return full;
}

/* ---- stat ---- */

static int64_t ft64(FILETIME f)
{
    return (int64_t)((uint64_t)f.dwHighDateTime << 32 | f.dwLowDateTime);
}

/* FILETIME -> timespec, exactly (100-ns ticks since 1601). */
static struct timespec ts_from_ft(FILETIME f)
{
    int64_t t = ft64(f);
    struct timespec ts;
    int64_t sec = t / 10000000LL, rem = t % 10000000LL;
    ts.tv_sec = (time_t)(sec - 11644473600LL);
    ts.tv_nsec = (long)(rem * 100);
    return ts;
}

static bool name_surrogate(DWORD tag)
{
    return IsReparseTagNameSurrogate(tag);
}

static void fill_stat(struct cmh__w_stat *st, DWORD attr, FILETIME a,
                      FILETIME m, FILETIME c, uint64_t size, bool link)
{
    memset(st, 0, sizeof *st);
    st->st_attributes = attr;
    if (link)
        st->st_mode = S_IFLNK | 0777;
    else if (attr & FILE_ATTRIBUTE_DIRECTORY)
        st->st_mode = S_IFDIR | 0755;
    else
        st->st_mode = S_IFREG | ((attr & FILE_ATTRIBUTE_READONLY) ? 0444
                                                                  : 0644);
    st->st_nlink = 1;
    st->st_size = link || (attr & FILE_ATTRIBUTE_DIRECTORY) ? 0
                                                            : (int64_t)size;
    st->st_atim = ts_from_ft(a);
    st->st_mtim = ts_from_ft(m);
    st->st_ctim = ts_from_ft(c);
}

static int stat_handle(HANDLE h, struct cmh__w_stat *st, bool nofollow)
{
    BY_HANDLE_FILE_INFORMATION bi;
    if (!GetFileInformationByHandle(h, &bi))
        return fail(GetLastError());
    bool link = false;
    if (nofollow && (bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
        FILE_ATTRIBUTE_TAG_INFO ti;
        if (GetFileInformationByHandleEx(h, FileAttributeTagInfo, &ti,
                                         sizeof ti))
            link = name_surrogate(ti.ReparseTag);
    }
    fill_stat(st, bi.dwFileAttributes, bi.ftLastAccessTime,
              bi.ftLastWriteTime, bi.ftCreationTime,
              (uint64_t)bi.nFileSizeHigh << 32 | bi.nFileSizeLow, link);
    st->st_dev = bi.dwVolumeSerialNumber;
    st->st_ino = (uint64_t)bi.nFileIndexHigh << 32 | bi.nFileIndexLow;
    st->st_nlink = bi.nNumberOfLinks;
    return 0;
}

int cmh__w_fstat(int fd, struct cmh__w_stat *st)
{
    if (fd >= 0 && fd < 3) {
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFIFO | 0600;
        return 0;
    }
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    return stat_handle(e->h, st, false);
}

static HANDLE open_meta(const wchar_t *w, bool nofollow)
{
    return CreateFileW(w, FILE_READ_ATTRIBUTES,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                       NULL, OPEN_EXISTING,
                       FILE_FLAG_BACKUP_SEMANTICS |
                           (nofollow ? FILE_FLAG_OPEN_REPARSE_POINT : 0),
                       NULL);
}

int cmh__w_fstatat(int dirfd, const char *path, struct cmh__w_stat *st,
                  int flags)
{
    wchar_t *w = wpath_at(dirfd, path);
    if (!w)
        return -1;
    bool nofollow = flags & AT_SYMLINK_NOFOLLOW;
    int r = 0;
    /* Always through a handle: st_dev/st_ino (volume serial, file index)
     * must be what fstat gives, as the engine compares them (run locks,
     * the resume state's library identity); GetFileAttributesExW has
     * neither. */
    HANDLE h = open_meta(w, nofollow);
    if (h == INVALID_HANDLE_VALUE)
        r = fail(GetLastError());
    else {
        r = stat_handle(h, st, nofollow);
        CloseHandle(h);
    }
    free(w);
    return r;
}

int cmh__w_stat(const char *path, struct cmh__w_stat *st)
{
    return cmh__w_fstatat(AT_FDCWD, path, st, 0);
}

int cmh__w_lstat(const char *path, struct cmh__w_stat *st)
{
    return cmh__w_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

/* ---- open, read, write ---- */

static int open_w(wchar_t *w, int flags, unsigned mode)
{
    int acc = flags & 3;
    DWORD access = FILE_READ_ATTRIBUTES | SYNCHRONIZE;
    bool writable = acc == O_WRONLY || acc == O_RDWR;
    if (acc == O_RDONLY || acc == O_RDWR)
        access |= GENERIC_READ;
    if (writable)
        access |= (flags & O_APPEND) ? (FILE_GENERIC_WRITE & ~FILE_WRITE_DATA)
                                     : GENERIC_WRITE;
    DWORD disp = OPEN_EXISTING;
    if ((flags & O_CREAT) && (flags & O_EXCL))
        disp = CREATE_NEW;
    else if ((flags & O_CREAT) && (flags & O_TRUNC))
        disp = CREATE_ALWAYS;
    else if (flags & O_CREAT)
        disp = OPEN_ALWAYS;
    else if (flags & O_TRUNC)
        disp = TRUNCATE_EXISTING;
    DWORD fl = FILE_FLAG_BACKUP_SEMANTICS;
    if ((flags & O_CREAT) && !(mode & 0200))
        fl |= FILE_ATTRIBUTE_READONLY;
    if (flags & O_DIRECT)
        fl |= FILE_FLAG_NO_BUFFERING;
    DWORD share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
    HANDLE h = CreateFileW(w, access, share, NULL, disp,
                           fl | ((flags & O_NOFOLLOW)
                                     ? FILE_FLAG_OPEN_REPARSE_POINT
                                     : 0),
                           NULL);
    if (h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED &&
        (disp == CREATE_ALWAYS || disp == TRUNCATE_EXISTING)) {
        /* replacing a read-only or hidden file: as POSIX lets the owner */
        DWORD a = GetFileAttributesW(w);
        if (a != INVALID_FILE_ATTRIBUTES &&
            (a & (FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN |
                  FILE_ATTRIBUTE_SYSTEM)) &&
            !(a & FILE_ATTRIBUTE_DIRECTORY) &&
            SetFileAttributesW(w, FILE_ATTRIBUTE_NORMAL))
            h = CreateFileW(w, access, share, NULL, disp, fl, NULL);
        else
            SetLastError(ERROR_ACCESS_DENIED);
    }
    if (h == INVALID_HANDLE_VALUE) {
        DWORD le = GetLastError();
        free(w);
        return fail(le);
    }
    BY_HANDLE_FILE_INFORMATION bi;
    bool isdir = GetFileInformationByHandle(h, &bi) &&
                 (bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY);
    if ((flags & O_NOFOLLOW) &&
        (bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
        FILE_ATTRIBUTE_TAG_INFO ti;
        if (GetFileInformationByHandleEx(h, FileAttributeTagInfo, &ti,
                                         sizeof ti) &&
            name_surrogate(ti.ReparseTag)) {
            CloseHandle(h);
            free(w);
            errno = ELOOP;
            return -1;
        }
        /* another reparse point (Data Deduplication, cloud files): a
         * regular file; open its data */
        CloseHandle(h);
        h = CreateFileW(w, access, share, NULL, disp, fl, NULL);
        if (h == INVALID_HANDLE_VALUE) {
            DWORD le = GetLastError();
            free(w);
            return fail(le);
        }
    }
    if ((flags & O_DIRECTORY) && !isdir) {
        CloseHandle(h);
        free(w);
        errno = ENOTDIR;
        return -1;
    }
    if (isdir && writable) {
        CloseHandle(h);
        free(w);
        errno = EISDIR;
        return -1;
    }
    int fd = fd_alloc(isdir ? K_DIR : K_FILE, h, w);
    if (fd < 0) {
        CloseHandle(h);
        free(w);
        return -1;
    }
    fds[fd].writable = writable;
    return fd;
}

static int open_at(int dirfd, const char *path, int flags, unsigned mode)
{
    wchar_t *w = wpath_at(dirfd, path);
    if (!w)
        return -1;
    return open_w(w, flags, mode);
}

int cmh__w_openat(int dirfd, const char *path, int flags, ...)
{
    unsigned mode = 0666;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, unsigned);
        va_end(ap);
    }
    return open_at(dirfd, path, flags, mode);
}

int cmh__w_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    unsigned mode = (flags & O_CREAT) ? va_arg(ap, unsigned) : 0666;
    va_end(ap);
    return open_at(AT_FDCWD, path, flags, mode);
}

int cmh__w_close(int fd)
{
    if (fd >= 0 && fd < 3)
        return _close(fd);
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    int r = 0;
    /* Durability: a file this process wrote is flushed when closed, so
     * cmh__os_sync_fs has nothing left to do (see there). */
    if (e->wrote && !FlushFileBuffers(e->h))
        r = fail(GetLastError());
    if (e->kind == K_WATCH) {
        for (int i = 0; i < e->ws->n; i++) {
            CancelIo(e->ws->dir[i]);
            CloseHandle(e->ws->dir[i]);
            CloseHandle(e->ws->ev[i]);
        }
        free(e->ws);
    } else if (!CloseHandle(e->h) && !r) {
        r = fail(GetLastError());
    }
    free(e->path);
    AcquireSRWLockExclusive(&fd_lock);
    memset(e, 0, sizeof *e);
    ReleaseSRWLockExclusive(&fd_lock);
    return r;
}

ssize_t cmh__w_read(int fd, void *buf, size_t n)
{
    if (fd >= 0 && fd < 3)
        return _read(fd, buf, n > 0x40000000u ? 0x40000000u : (unsigned)n);
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    if (e->kind != K_FILE) {
        errno = EISDIR;
        return -1;
    }
    DWORD got;
    if (!ReadFile(e->h, buf, n > 0x40000000u ? 0x40000000u : (DWORD)n, &got,
                  NULL)) {
        DWORD le = GetLastError();
        if (le == ERROR_HANDLE_EOF || le == ERROR_BROKEN_PIPE)
            return 0;
        return fail(le);
    }
    return (ssize_t)got;
}

ssize_t cmh__w_pread(int fd, void *buf, size_t n, int64_t off)
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    OVERLAPPED ov = {0};
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
    DWORD got;
    if (!ReadFile(e->h, buf, n > 0x40000000u ? 0x40000000u : (DWORD)n, &got,
                  &ov)) {
        DWORD le = GetLastError();
        if (le == ERROR_HANDLE_EOF)
            return 0;
        return fail(le);
    }
    return (ssize_t)got;
}

ssize_t cmh__w_write(int fd, const void *buf, size_t n)
{
    if (fd >= 0 && fd < 3)
        return _write(fd, buf, n > 0x40000000u ? 0x40000000u : (unsigned)n);
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    DWORD put;
    if (!WriteFile(e->h, buf, n > 0x40000000u ? 0x40000000u : (DWORD)n,
                   &put, NULL))
        return fail(GetLastError());
    e->wrote = true;
    return (ssize_t)put;
}

ssize_t cmh__w_pwrite(int fd, const void *buf, size_t n, int64_t off)
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    OVERLAPPED ov = {0};
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
    DWORD put;
    if (!WriteFile(e->h, buf, n > 0x40000000u ? 0x40000000u : (DWORD)n,
                   &put, &ov))
        return fail(GetLastError());
    e->wrote = true;
    return (ssize_t)put;
}

int64_t cmh__w_lseek(int fd, int64_t off, int whence)
{
    if (fd >= 0 && fd < 3)
        return _lseeki64(fd, off, whence);
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    if (e->kind == K_DIR)
        return 0; /* rewinding a folder: listings always start afresh */
    LARGE_INTEGER d, now;
    d.QuadPart = off;
    DWORD how = whence == SEEK_SET   ? FILE_BEGIN
                : whence == SEEK_CUR ? FILE_CURRENT
                                     : FILE_END;
    if (e->writable && !e->sparse && off > 0 && whence != SEEK_SET) {
        /* Seeking forward while writing leaves a hole (stream.c stores
         * zero runs that way): make it a sparse file first so the hole is
         * not allocated (FSCTL_SET_SPARSE). Best effort: FAT has none. */
        DWORD ret;
        (void)DeviceIoControl(e->h, FSCTL_SET_SPARSE, NULL, 0, NULL, 0, &ret,
                              NULL);
        e->sparse = true;
    }
    if (!SetFilePointerEx(e->h, d, &now, how))
        return fail(GetLastError());
    return now.QuadPart;
}

int cmh__w_fsync(int fd)
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    if (e->kind != K_FILE || !e->writable)
        return 0; /* folders and read-only handles: nothing to flush */
    if (!FlushFileBuffers(e->h))
        return fail(GetLastError());
    return 0;
}

int cmh__w_ftruncate(int fd, int64_t len)
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    FILE_END_OF_FILE_INFO ei;
    ei.EndOfFile.QuadPart = len;
    if (!SetFileInformationByHandle(e->h, FileEndOfFileInfo, &ei, sizeof ei))
        return fail(GetLastError());
    e->wrote = true;
    return 0;
}

int cmh__w_fchmod(int fd, unsigned mode)
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    FILE_BASIC_INFO bi;
    if (!GetFileInformationByHandleEx(e->h, FileBasicInfo, &bi, sizeof bi))
        return fail(GetLastError());
    DWORD a = bi.FileAttributes;
    if (mode & 0200)
        a &= ~(DWORD)FILE_ATTRIBUTE_READONLY;
    else
        a |= FILE_ATTRIBUTE_READONLY;
    if (a == bi.FileAttributes)
        return 0;
    memset(&bi, 0, sizeof bi); /* zero times: leave them as they are */
    bi.FileAttributes = a ? a : FILE_ATTRIBUTE_NORMAL;
    if (!SetFileInformationByHandle(e->h, FileBasicInfo, &bi, sizeof bi))
        return fail(GetLastError());
    return 0;
}

static bool ft_of(const struct timespec *t, FILETIME *f)
{
    if (t->tv_nsec == UTIME_OMIT)
        return false;
    if (t->tv_nsec == UTIME_NOW) {
        GetSystemTimeAsFileTime(f);
        return true;
    }
    uint64_t v = (uint64_t)(((int64_t)t->tv_sec + 11644473600LL) * 10000000LL +
                            t->tv_nsec / 100);
    f->dwLowDateTime = (DWORD)v;
    f->dwHighDateTime = (DWORD)(v >> 32);
    return true;
}

int cmh__w_futimens(int fd, const struct timespec ts[2])
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    FILETIME a, m;
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    if (!ts)
        ts = now;
    bool ha = ft_of(&ts[0], &a), hm = ft_of(&ts[1], &m);
    if (!SetFileTime(e->h, NULL, ha ? &a : NULL, hm ? &m : NULL))
        return fail(GetLastError());
    return 0;
}

int cmh__w_dup(int fd)
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    HANDLE h;
    if (!DuplicateHandle(GetCurrentProcess(), e->h, GetCurrentProcess(), &h,
                         0, FALSE, DUPLICATE_SAME_ACCESS))
        return fail(GetLastError());
    wchar_t *p = concat3(e->path, L"", L"");
    int n = p ? fd_alloc(e->kind, h, p) : -1;
    if (n < 0) {
        CloseHandle(h);
        free(p);
        return -1;
    }
    fds[n].writable = e->writable;
    return n;
}

int cmh__w_isatty(int fd)
{
    if (fd < 0 || fd >= 3)
        return 0;
    DWORD m;
    return GetConsoleMode((HANDLE)_get_osfhandle(fd), &m) ? 1 : 0;
}

int cmh__w_ioctl_winsize(int fd, unsigned long req, struct winsize *ws)
{
    CONSOLE_SCREEN_BUFFER_INFO ci;
    if (req != TIOCGWINSZ || fd < 0 || fd >= 3 ||
        !GetConsoleScreenBufferInfo((HANDLE)_get_osfhandle(fd), &ci)) {
        errno = ENOTTY;
        return -1;
    }
    memset(ws, 0, sizeof *ws);
    ws->ws_col = (unsigned short)(ci.srWindow.Right - ci.srWindow.Left + 1);
    ws->ws_row = (unsigned short)(ci.srWindow.Bottom - ci.srWindow.Top + 1);
    return 0;
}

/* ---- names ---- */

char *cmh__w_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *r = malloc(len + 1);
    if (r) {
        memcpy(r, s, len);
        r[len] = 0;
    }
    return r;
}

char *cmh__w_realpath(const char *path, char *resolved)
{
    if (resolved) { /* the CLI only asks for a malloc'd result */
        errno = EINVAL;
        return NULL;
    }
    wchar_t *w = wpath_at(AT_FDCWD, path);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    if (GetFileAttributesW(w) == INVALID_FILE_ATTRIBUTES) {
        errno = errno_from(GetLastError());
        free(w);
        return NULL;
    }
    const wchar_t *v = w;
    bool unc = !wcsncmp(v, L"\\\\?\\UNC\\", 8);
    if (unc)
        v += 6; /* keep "\\" of "\\server" */
    else if (!wcsncmp(v, L"\\\\?\\", 4))
        v += 4;
    size_t cap = wcslen(v) * 3 + 3;
    char *out = malloc(cap);
    if (out && !from_w(v, out, cap)) {
        free(out);
        out = NULL;
    }
    free(w);
    if (!out) {
        errno = ENOMEM;
        return NULL;
    }
    if (unc)
        out[0] = out[1] = '\\';
    for (char *q = out; *q; q++)
        if (*q == '\\')
            *q = '/';
    return out;
}

/* Delete a file or an empty folder, POSIX style where the system can
 * (the name goes at once even while another handle has it open), read-only
 * attribute notwithstanding. */
static int delete_w(const wchar_t *w, bool want_dir)
{
    DWORD a = GetFileAttributesW(w);
    if (a == INVALID_FILE_ATTRIBUTES)
        return fail(GetLastError());
    bool isdir = (a & FILE_ATTRIBUTE_DIRECTORY) &&
                 !(a & FILE_ATTRIBUTE_REPARSE_POINT);
    if (want_dir && !isdir) {
        errno = ENOTDIR;
        return -1;
    }
    if (!want_dir && (a & FILE_ATTRIBUTE_DIRECTORY) &&
        !(a & FILE_ATTRIBUTE_REPARSE_POINT)) {
        errno = EISDIR;
        return -1;
    }
    HANDLE h = CreateFileW(w, DELETE | FILE_READ_ATTRIBUTES |
                                  FILE_WRITE_ATTRIBUTES,
                           FILE_SHARE_READ | FILE_SHARE_WRITE |
                               FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS |
                               FILE_FLAG_OPEN_REPARSE_POINT,
                           NULL);
    if (h == INVALID_HANDLE_VALUE)
        return fail(GetLastError());
    /* FILE_DISPOSITION_INFO_EX: DELETE | POSIX_SEMANTICS |
     * IGNORE_READONLY_ATTRIBUTE (Windows 10 1809+) */
    struct {
        ULONG Flags;
    } dx = {0x1 | 0x2 | 0x10};
    BOOL ok = SetFileInformationByHandle(h, (FILE_INFO_BY_HANDLE_CLASS)21,
                                         &dx, sizeof dx);
    if (!ok) {
        if (a & FILE_ATTRIBUTE_READONLY) {
            FILE_BASIC_INFO bi = {0};
            bi.FileAttributes = (a & ~(DWORD)FILE_ATTRIBUTE_READONLY)
                                    ? (a & ~(DWORD)FILE_ATTRIBUTE_READONLY)
                                    : FILE_ATTRIBUTE_NORMAL;
            SetFileInformationByHandle(h, FileBasicInfo, &bi, sizeof bi);
        }
        FILE_DISPOSITION_INFO di = {TRUE};
        ok = SetFileInformationByHandle(h, FileDispositionInfo, &di,
                                        sizeof di);
    }
    DWORD le = GetLastError();
    CloseHandle(h);
    if (!ok)
        return fail(le);
    return 0;
}

int cmh__w_unlinkat(int dirfd, const char *path, int flags)
{
    wchar_t *w = wpath_at(dirfd, path);
    if (!w)
        return -1;
    int r = delete_w(w, flags & AT_REMOVEDIR);
    free(w);
    return r;
}

int cmh__w_renameat(int odir, const char *op, int ndir, const char *np)
{
    wchar_t *o = wpath_at(odir, op), *n = o ? wpath_at(ndir, np) : NULL;
    int r = 0;
    if (!o || !n) {
        r = -1;
        goto out;
    }
    const DWORD how = MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH;
    if (MoveFileExW(o, n, how))
        goto out;
    DWORD le = GetLastError();
    /* A target another process has open (a verify reading it, a virus
     * scanner) cannot be replaced on Windows while it stays open: retry
     * for up to about 2 s before giving up. */
    for (int i = 0; i < 40 && (le == ERROR_ACCESS_DENIED ||
                               le == ERROR_SHARING_VIOLATION);
         i++) {
        DWORD a = GetFileAttributesW(n);
        if (a != INVALID_FILE_ATTRIBUTES &&
            (a & (FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_DIRECTORY)))
            break; /* not a sharing problem: handled below */
        Sleep(50);
        if (MoveFileExW(o, n, how))
            goto out;
        le = GetLastError();
    }
    if (le == ERROR_ACCESS_DENIED || le == ERROR_ALREADY_EXISTS) {
        /* POSIX replaces a read-only file, and an empty folder with a
         * folder: make the target removable and try again */
        DWORD a = GetFileAttributesW(n);
        if (a != INVALID_FILE_ATTRIBUTES &&
            delete_w(n, a & FILE_ATTRIBUTE_DIRECTORY) == 0 &&
            MoveFileExW(o, n, how))
            goto out;
        if (a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY) &&
            errno == ENOTEMPTY) {
            r = -1;
            goto out;
        }
    }
    r = fail(le);
out:
    free(o);
    free(n);
    return r;
}

int cmh__w_linkat(int odir, const char *op, int ndir, const char *np,
                 int flags)
{
    (void)flags;
    wchar_t *o = wpath_at(odir, op), *n = o ? wpath_at(ndir, np) : NULL;
    int r = 0;
    if (!o || !n)
        r = -1;
    else if (!CreateHardLinkW(n, o, NULL))
        r = fail(GetLastError());
    free(o);
    free(n);
    return r;
}

int cmh__w_mkdirat(int dirfd, const char *path, unsigned mode)
{
    (void)mode;
    wchar_t *w = wpath_at(dirfd, path);
    if (!w)
        return -1;
    int r = CreateDirectoryW(w, NULL) ? 0 : fail(GetLastError());
    free(w);
    return r;
}

FILE *cmh__w_fopen(const char *path, const char *mode)
{
    wchar_t *w = wpath_at(AT_FDCWD, path), *m = to_w(mode, NULL);
    FILE *f = NULL;
    if (w && m) {
        /* binary: the same bytes as on Linux */
        size_t n = wcslen(m);
        wchar_t mb[16];
        if (n < 12) {
            memcpy(mb, m, n * sizeof *m);
            mb[n] = wcschr(m, L'b') ? 0 : L'b';
            mb[n + 1] = 0;
            f = _wfopen(w, mb);
        }
    }
    free(w);
    free(m);
    return f;
}

/* ---- locks: LockFileEx on one byte far past any file's end ---- */

#define LOCK_OFF_HIGH 0x7FFFFFF0u

static int lock_handle(HANDLE h, bool exclusive, bool wait)
{
    OVERLAPPED ov = {0};
    ov.OffsetHigh = LOCK_OFF_HIGH;
    DWORD fl = (exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0) |
               (wait ? 0 : LOCKFILE_FAIL_IMMEDIATELY);
    if (LockFileEx(h, fl, 0, 1, 0, &ov))
        return 0;
    DWORD le = GetLastError();
    return le == ERROR_LOCK_VIOLATION || le == ERROR_IO_PENDING
               ? EWOULDBLOCK
               : errno_from(le);
}

static void unlock_handle(HANDLE h)
{
    OVERLAPPED ov = {0};
    ov.OffsetHigh = LOCK_OFF_HIGH;
    (void)UnlockFileEx(h, 0, 1, 0, &ov);
}

int cmh__w_flock(int fd, int op)
{
    fdent *e = fd_get(fd);
    if (!e)
        return -1;
    if (op & LOCK_UN) {
        unlock_handle(e->h);
        return 0;
    }
    int r = lock_handle(e->h, op & LOCK_EX, !(op & LOCK_NB));
    if (r) {
        errno = r;
        return -1;
    }
    return 0;
}

int cmh__os_lock(int fd, bool exclusive, bool wait)
{
    fdent *e = fd_get(fd);
    if (!e)
        return EBADF;
    return lock_handle(e->h, exclusive, wait);
}

void cmh__os_unlock(int fd)
{
    fdent *e = fd_get(fd);
    if (e)
        unlock_handle(e->h);
}

int cmh__os_lock_probe(int dirfd, const char *name, bool *busy)
{
    *busy = false;
    int fd = cmh__w_openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    int e = lock_handle(fds[fd].h, false, false);
    if (e == EWOULDBLOCK) {
        *busy = true;
        e = 0;
    } else if (!e) {
        unlock_handle(fds[fd].h);
    }
    cmh__w_close(fd);
    return e;
}

int cmh__os_lock_held_exclusive(int dirfd, const char *name, bool *exclusive)
{
    /* a shared LockFileEx fails only against an exclusive holder */
    return cmh__os_lock_probe(dirfd, name, exclusive);
}

int cmh__os_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ULONG chunk = n > 0x10000 ? 0x10000 : (ULONG)n;
        if (!RtlGenRandom(p, chunk))
            return EIO;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

int cmh__os_prefetch(int dirfd, const char *path, uint64_t len)
{
    (void)dirfd; /* no WILLNEED on Windows: the portable no-op */
    (void)path;
    (void)len;
    return 0;
}

int cmh__os_physical_offset(int dirfd, const char *path, uint64_t *out)
{
    (void)dirfd; /* the portable fallback: the caller's own order */
    (void)path;
    (void)out;
    return ENOTSUP;
}

int cmh__os_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len) {
        ssize_t n = cmh__w_pwrite(fd, p, len, (int64_t)off);
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int cmh__os_inodes_exhausted(int fd, bool *out, unsigned long long *used)
{
    (void)fd; /* NTFS has no fixed inode table */
    *out = false;
    *used = 0;
    return 0;
}

/* ---- folder streams ---- */

struct cmh_w_dir {
    int fd;
    HANDLE find;
    bool started, done;
    WIN32_FIND_DATAW fd_data;
    struct cmh_w_dirent ent;
};

static unsigned char dtype_of(const WIN32_FIND_DATAW *f)
{
    if ((f->dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
        name_surrogate(f->dwReserved0))
        return DT_LNK;
    return (f->dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? DT_DIR : DT_REG;
}

static HANDLE find_first(const wchar_t *dir, WIN32_FIND_DATAW *f)
{
    wchar_t *pat = concat3(dir, dir[wcslen(dir) - 1] == L'\\' ? L"" : L"\\",
                           L"*");
    if (!pat) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return INVALID_HANDLE_VALUE;
    }
    HANDLE h = FindFirstFileExW(pat, FindExInfoBasic, f, FindExSearchNameMatch,
                                NULL, FIND_FIRST_EX_LARGE_FETCH);
    free(pat);
    return h;
}

cmh_w_DIR *cmh__w_fdopendir(int fd)
{
    fdent *e = fd_get(fd);
    if (!e)
        return NULL;
    if (e->kind != K_DIR) {
        errno = ENOTDIR;
        return NULL;
    }
    cmh_w_DIR *d = calloc(1, sizeof *d);
    if (!d) {
        errno = ENOMEM;
        return NULL;
    }
    d->fd = fd;
    d->find = INVALID_HANDLE_VALUE;
    return d;
}

cmh_w_DIR *cmh__w_opendir(const char *path)
{
    int fd = cmh__w_open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return NULL;
    cmh_w_DIR *d = cmh__w_fdopendir(fd);
    if (!d)
        cmh__w_close(fd);
    return d;
}

struct cmh_w_dirent *cmh__w_readdir(cmh_w_DIR *d)
{
    for (;;) {
        if (d->done)
            return NULL;
        if (!d->started) {
            d->started = true;
            d->find = find_first(fds[d->fd].path, &d->fd_data);
            if (d->find == INVALID_HANDLE_VALUE) {
                DWORD le = GetLastError();
                d->done = true;
                if (le != ERROR_FILE_NOT_FOUND && le != ERROR_NO_MORE_FILES)
                    errno = errno_from(le);
                return NULL;
            }
        } else if (!FindNextFileW(d->find, &d->fd_data)) {
            DWORD le = GetLastError();
            d->done = true;
            if (le != ERROR_NO_MORE_FILES)
                errno = errno_from(le);
            return NULL;
        }
        const wchar_t *n = d->fd_data.cFileName;
        if (!from_w(n, d->ent.d_name, sizeof d->ent.d_name))
            continue;
        d->ent.d_type = dtype_of(&d->fd_data);
        return &d->ent;
    }
}

void cmh__w_rewinddir(cmh_w_DIR *d)
{
    if (d->find != INVALID_HANDLE_VALUE)
        FindClose(d->find);
    d->find = INVALID_HANDLE_VALUE;
    d->started = d->done = false;
}

int cmh__w_closedir(cmh_w_DIR *d)
{
    if (!d)
        return 0;
    if (d->find != INVALID_HANDLE_VALUE)
        FindClose(d->find);
    int r = cmh__w_close(d->fd);
    free(d);
    return r;
}

int cmh__w_dirfd(cmh_w_DIR *d)
{
    return d->fd;
}

int cmh__os_list_dir(int fd, bool rewind,
                    int (*fn)(const char *name, unsigned char type,
                              void *arg),
                    void *arg)
{
    (void)rewind; /* every listing starts from the first name */
    fdent *e = fd_get(fd);
    if (!e)
        return EBADF;
    WIN32_FIND_DATAW f;
    HANDLE h = find_first(e->path, &f);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD le = GetLastError();
        return le == ERROR_FILE_NOT_FOUND ? 0 : errno_from(le);
    }
    char name[4 * 256];
    int r = 0;
    do {
        const wchar_t *n = f.cFileName;
        if (n[0] == L'.' && (!n[1] || (n[1] == L'.' && !n[2])))
            continue;
        if (!from_w(n, name, sizeof name))
            continue;
        if ((r = fn(name, dtype_of(&f), arg)) != 0)
            break;
    } while (FindNextFileW(h, &f));
    if (!r && GetLastError() != ERROR_NO_MORE_FILES)
        r = errno_from(GetLastError());
    FindClose(h);
    return r;
}

/* ---- the seam ---- */

int cmh__os_open_read(int dirfd, const char *path, int *out_fd)
{
    int fd = cmh__w_openat(dirfd, path, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

int cmh__os_open_dir(int dirfd, const char *path, int *out_fd)
{
    int fd = cmh__w_openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

int cmh__os_open_dir_noatime(int dirfd, const char *path, int *out_fd)
{
    return cmh__os_open_dir(dirfd, path, out_fd);
}

int cmh__os_filelib_drives(const char *lib, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    /* the primary library's drive letter (from "\\?\X:\..."); 0 for UNC */
    wchar_t own = 0;
    wchar_t *full = wpath_at(AT_FDCWD, lib);
    if (full && wcsncmp(full, L"\\\\?\\UNC\\", 8) && iswalpha(full[4]) &&
        full[5] == L':')
        own = towupper(full[4]);
    free(full);
    wchar_t drives[4 * 26 + 2];
    DWORD len = GetLogicalDriveStringsW(sizeof drives / sizeof *drives,
                                        drives);
    if (!len || len >= sizeof drives / sizeof *drives)
        return len ? ENAMETOOLONG : errno_from(GetLastError());
    char **v = calloc(26, sizeof *v);
    if (!v)
        return ENOMEM;
    for (const wchar_t *d = drives; *d; d += wcslen(d) + 1) {
        /* "X:\" */
        if (!iswalpha(d[0]) || d[1] != L':' || towupper(d[0]) == own ||
            GetDriveTypeW(d) != DRIVE_FIXED || *n == 26)
            continue;
        wchar_t dir[] = L"X:\\SCCMContentLib\\FileLib";
        dir[0] = towupper(d[0]);
        DWORD a = GetFileAttributesW(dir);
        if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY))
            continue;
        char *p = malloc(32);
        if (!p)
            break;
        snprintf(p, 32, "%c:\\SCCMContentLib\\FileLib", (char)towupper(d[0]));
        v[(*n)++] = p;
    }
    *out = v;
    return 0;
}

void cmh__os_lower_priority(void)
{
    /* lowest CPU, I/O and memory priority for the whole process (Windows
     * has no per-thread inheritance to rely on) */
    (void)SetPriorityClass(GetCurrentProcess(), PROCESS_MODE_BACKGROUND_BEGIN);
}

int cmh__os_sync_fs(int fd)
{
    /* Every file this process wrote was flushed (FlushFileBuffers) when it
     * was closed, and renames are MOVEFILE_WRITE_THROUGH; NTFS journals
     * the folder changes. What is left: files still open for writing. */
    fdent *e = fd_get(fd);
    if (!e)
        return EBADF;
    for (int i = 3; i < MAXFD; i++)
        if (fds[i].kind == K_FILE && fds[i].wrote &&
            !FlushFileBuffers(fds[i].h))
            return errno_from(GetLastError());
    return 0;
}

int cmh__os_fsync(int fd)
{
    return cmh__w_fsync(fd) ? errno : 0;
}

uint32_t cmh__os_dos_attributes(int fd, const char *name,
                               const struct stat *st)
{
    (void)name;
    /* straight from the file system: READONLY, HIDDEN, SYSTEM, ARCHIVE,
     * NOT_CONTENT_INDEXED, ... as Windows shows them */
    if (st->st_attributes)
        return st->st_attributes;
    fdent *e = fd_get(fd);
    BY_HANDLE_FILE_INFORMATION bi;
    if (e && GetFileInformationByHandle(e->h, &bi))
        return bi.dwFileAttributes;
    return FILE_ATTRIBUTE_ARCHIVE;
}

void cmh__os_advise_sequential(int fd)
{
    (void)fd;
}

/* status --watch: ReadDirectoryChangesW, one overlapped read per folder */

static bool watch_arm(watch_set *ws, int i)
{
    ResetEvent(ws->ev[i]);
    memset(&ws->ov[i], 0, sizeof ws->ov[i]);
    ws->ov[i].hEvent = ws->ev[i];
    return ReadDirectoryChangesW(
        ws->dir[i], ws->buf[i], sizeof ws->buf[i], FALSE,
        FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_DIR_NAME |
            FILE_NOTIFY_CHANGE_LAST_WRITE | FILE_NOTIFY_CHANGE_ATTRIBUTES,
        NULL, &ws->ov[i], NULL);
}

int cmh__os_watch_open(void)
{
    watch_set *ws = calloc(1, sizeof *ws);
    if (!ws)
        return -1;
    int fd = fd_alloc(K_WATCH, NULL, NULL);
    if (fd < 0) {
        free(ws);
        return -1;
    }
    fds[fd].ws = ws;
    return fd;
}

void cmh__os_watch_add(int w, const char *dir)
{
    fdent *e = fd_get(w);
    if (!e || e->kind != K_WATCH || e->ws->n >= WATCH_MAX)
        return;
    watch_set *ws = e->ws;
    wchar_t *p = wpath_at(AT_FDCWD, dir);
    if (!p)
        return;
    HANDLE h = CreateFileW(p, FILE_LIST_DIRECTORY,
                           FILE_SHARE_READ | FILE_SHARE_WRITE |
                               FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED,
                           NULL);
    free(p);
    if (h == INVALID_HANDLE_VALUE)
        return;
    int i = ws->n;
    ws->dir[i] = h;
    ws->ev[i] = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!ws->ev[i] || !watch_arm(ws, i)) {
        if (ws->ev[i])
            CloseHandle(ws->ev[i]);
        CloseHandle(h);
        return;
    }
    ws->n++;
}

bool cmh__os_watch_wait(int w, double secs)
{
    fdent *e = fd_get(w);
    if (!e || e->kind != K_WATCH || e->ws->n == 0) {
        Sleep(secs <= 0 ? 0 : (DWORD)(secs * 1000));
        return false;
    }
    watch_set *ws = e->ws;
    DWORD ms = secs <= 0 ? 0 : (DWORD)(secs * 1000) + 1;
    DWORD r = WaitForMultipleObjects((DWORD)ws->n, ws->ev, FALSE, ms);
    if (r >= WAIT_OBJECT_0 + (DWORD)ws->n)
        return false;
    /* drain: re-arm every folder that has news */
    for (int i = 0; i < ws->n; i++)
        if (WaitForSingleObject(ws->ev[i], 0) == WAIT_OBJECT_0) {
            DWORD got;
            (void)GetOverlappedResult(ws->dir[i], &ws->ov[i], &got, FALSE);
            (void)watch_arm(ws, i);
        }
    return true;
}

void cmh__os_watch_close(int w)
{
    if (w >= 0)
        cmh__w_close(w);
}

/* ---- process ---- */

long cmh__w_sysconf(int name)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    if (name == _SC_NPROCESSORS_ONLN)
        return (long)si.dwNumberOfProcessors;
    if (name == _SC_PAGESIZE)
        return (long)si.dwPageSize;
    errno = EINVAL;
    return -1;
}

int cmh__w_raise(int sig)
{
    if (sig == SIGKILL) /* the crash tests: die at once, no cleanup */
        TerminateProcess(GetCurrentProcess(), 128 + SIGKILL);
    return raise(sig);
}

long cmh__w_gettid(void)
{
    return (long)GetCurrentThreadId();
}

/* open_memstream over a delete-on-close temporary file; the buffer is
 * filled in by fclose (cmhash reads it only after fclose). */
#define MEMSTREAMS 16
static struct {
    FILE *f;
    char **buf;
    size_t *len;
} memstreams[MEMSTREAMS];
static SRWLOCK mem_lock = SRWLOCK_INIT;

FILE *cmh__w_open_memstream(char **buf, size_t *len)
{
    wchar_t dir[MAX_PATH + 1], name[MAX_PATH + 1];
    if (!GetTempPathW(MAX_PATH + 1, dir) ||
        !GetTempFileNameW(dir, L"cmh", 0, name)) {
        errno = EIO;
        return NULL;
    }
    HANDLE h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                           CREATE_ALWAYS,
                           FILE_ATTRIBUTE_TEMPORARY |
                               FILE_FLAG_DELETE_ON_CLOSE,
                           NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DeleteFileW(name);
        fail(GetLastError());
        return NULL;
    }
    int cfd = _open_osfhandle((intptr_t)h, _O_RDWR | _O_BINARY);
    FILE *f = cfd >= 0 ? _fdopen(cfd, "w+b") : NULL;
    if (!f) {
        if (cfd >= 0)
            _close(cfd);
        else
            CloseHandle(h);
        errno = ENOMEM;
        return NULL;
    }
    AcquireSRWLockExclusive(&mem_lock);
    for (int i = 0; i < MEMSTREAMS; i++)
        if (!memstreams[i].f) {
            memstreams[i].f = f;
            memstreams[i].buf = buf;
            memstreams[i].len = len;
            ReleaseSRWLockExclusive(&mem_lock);
            *buf = NULL;
            *len = 0;
            return f;
        }
    ReleaseSRWLockExclusive(&mem_lock);
    fclose(f);
    errno = EMFILE;
    return NULL;
}

int cmh__w_fclose(FILE *f)
{
    int slot = -1;
    AcquireSRWLockExclusive(&mem_lock);
    for (int i = 0; i < MEMSTREAMS; i++)
        if (memstreams[i].f == f) {
            slot = i;
            memstreams[i].f = NULL;
        }
    ReleaseSRWLockExclusive(&mem_lock);
    if (slot < 0)
        return fclose(f);
    int r = fflush(f);
    long n = ftell(f);
    char *b = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!b || n < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n))
        r = EOF;
    if (b)
        b[n > 0 ? n : 0] = 0;
    *memstreams[slot].buf = b;
    *memstreams[slot].len = n > 0 ? (size_t)n : 0;
    if (fclose(f) != 0)
        r = EOF;
    return r;
}

/* sigaction: SetConsoleCtrlHandler */
static void (*volatile on_int)(int), (*volatile on_term)(int);

static BOOL WINAPI ctrl_handler(DWORD type)
{
    void (*h)(int) = type == CTRL_C_EVENT ? on_int : on_term;
    if (!h)
        return FALSE;
    h(type == CTRL_C_EVENT ? SIGINT : SIGTERM);
    if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT ||
        type == CTRL_SHUTDOWN_EVENT)
        Sleep(5000); /* Windows ends the process when this returns: give
                        the main thread time to clean up and exit */
    return TRUE;
}

int cmh__w_sigaction(int sig, const struct sigaction *sa,
                    struct sigaction *old)
{
    static bool installed;
    if (old)
        memset(old, 0, sizeof *old);
    if (!sa)
        return 0;
    void (*h)(int) = sa->sa_handler == SIG_DFL || sa->sa_handler == SIG_IGN
                         ? NULL
                         : sa->sa_handler;
    if (sig == SIGINT)
        on_int = h;
    else if (sig == SIGTERM)
        on_term = h;
    else
        return signal(sig, sa->sa_handler) == SIG_ERR ? -1 : 0;
    if (!installed && SetConsoleCtrlHandler(ctrl_handler, TRUE))
        installed = true;
    return 0;
}

/* ---- case mapping: the spec's table ---- */

static wint_t map_table(const uint16_t (*t)[2], size_t n, wint_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid][0] == c)
            return t[mid][1];
        if (t[mid][0] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return c;
}

wint_t cmh__w_towupper(wint_t c)
{
    if (c < 0x80)
        return c >= 'a' && c <= 'z' ? c - 32 : c;
    return map_table(cmh_w_upper_map,
                     sizeof cmh_w_upper_map / sizeof cmh_w_upper_map[0], c);
}

wint_t cmh__w_towlower(wint_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    return map_table(cmh_w_lower_map,
                     sizeof cmh_w_lower_map / sizeof cmh_w_lower_map[0], c);
}

/* ---- entry point: UTF-8 arguments, binary standard streams ---- */

int wmain(int argc, wchar_t **wargv);

int wmain(int argc, wchar_t **wargv)
{
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (!argv)
        return 1;
    for (int i = 0; i < argc; i++) {
        size_t cap = wcslen(wargv[i]) * 4 + 1;
        argv[i] = malloc(cap);
        if (!argv[i] || !from_w(wargv[i], argv[i], cap))
            return 1;
    }
    /* the same bytes as on Linux: no "\n" -> "\r\n" */
    _setmode(0, _O_BINARY);
    _setmode(1, _O_BINARY);
    _setmode(2, _O_BINARY);
    SetConsoleOutputCP(CP_UTF8);
    return cmh_w_main_utf8(argc, argv);
}
