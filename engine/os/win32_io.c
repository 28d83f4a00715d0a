/* The Windows build's POSIX layer (win32_posix.h), descriptors: stat,
 * open, read, write, seek, sync, truncate, chmod, times, dup, the console.
 * See win32_priv.h for the other files. */
#include "win32_priv.h"

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
        return cmh__w_fail(GetLastError());
    bool link = false;
    if (nofollow && (bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
        FILE_ATTRIBUTE_TAG_INFO ti;
        if (GetFileInformationByHandleEx(h, FileAttributeTagInfo, &ti,
                                         sizeof ti))
            link = cmh__w_name_surrogate(ti.ReparseTag);
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
    fdent *e = cmh__w_fd_get(fd);
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
    wchar_t *w = cmh__w_wpath_at(dirfd, path);
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
        r = cmh__w_fail(GetLastError());
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

/* CreateFileW's arguments for open(2)'s flags and mode */
typedef struct open_how {
    DWORD access, disp, fl, share;
    bool writable;
} open_how;

static open_how how_of(int flags, unsigned mode)
{
    open_how o;
    int acc = flags & 3;
    o.access = FILE_READ_ATTRIBUTES | SYNCHRONIZE;
    o.writable = acc == O_WRONLY || acc == O_RDWR;
    if (acc == O_RDONLY || acc == O_RDWR)
        o.access |= GENERIC_READ;
    if (o.writable)
        o.access |= (flags & O_APPEND)
                        ? (FILE_GENERIC_WRITE & ~FILE_WRITE_DATA)
                        : GENERIC_WRITE;
    o.disp = OPEN_EXISTING;
    if ((flags & O_CREAT) && (flags & O_EXCL))
        o.disp = CREATE_NEW;
    else if ((flags & O_CREAT) && (flags & O_TRUNC))
        o.disp = CREATE_ALWAYS;
    else if (flags & O_CREAT)
        o.disp = OPEN_ALWAYS;
    else if (flags & O_TRUNC)
        o.disp = TRUNCATE_EXISTING;
    o.fl = FILE_FLAG_BACKUP_SEMANTICS;
    if ((flags & O_CREAT) && !(mode & 0200))
        o.fl |= FILE_ATTRIBUTE_READONLY;
    if (flags & O_DIRECT)
        o.fl |= FILE_FLAG_NO_BUFFERING;
    o.share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
    return o;
}

/* CreateFileW, with O_NOFOLLOW on the reparse point itself */
static HANDLE create_w(const wchar_t *w, const open_how *o, int flags)
{
    HANDLE h = CreateFileW(w, o->access, o->share, NULL, o->disp,
                           o->fl | ((flags & O_NOFOLLOW)
                                        ? FILE_FLAG_OPEN_REPARSE_POINT
                                        : 0),
                           NULL);
    if (h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED &&
        (o->disp == CREATE_ALWAYS || o->disp == TRUNCATE_EXISTING)) {
        /* replacing a read-only or hidden file: as POSIX lets the owner */
        DWORD a = GetFileAttributesW(w);
        if (a != INVALID_FILE_ATTRIBUTES &&
            (a & (FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN |
                  FILE_ATTRIBUTE_SYSTEM)) &&
            !(a & FILE_ATTRIBUTE_DIRECTORY) &&
            SetFileAttributesW(w, FILE_ATTRIBUTE_NORMAL))
            h = CreateFileW(w, o->access, o->share, NULL, o->disp, o->fl,
                            NULL);
        else
            SetLastError(ERROR_ACCESS_DENIED);
    }
    return h;
}

/* O_NOFOLLOW opened the reparse point *ph itself: a name surrogate
 * (symlink, junction) is ELOOP; any other is a regular file whose data is
 * opened instead. 0, or an errno value with *ph closed. */
static int reopen_data(HANDLE *ph, const wchar_t *w, const open_how *o)
{
    FILE_ATTRIBUTE_TAG_INFO ti;
    if (GetFileInformationByHandleEx(*ph, FileAttributeTagInfo, &ti,
                                     sizeof ti) &&
        cmh__w_name_surrogate(ti.ReparseTag)) {
        CloseHandle(*ph);
        return ELOOP;
    }
    /* another reparse point (Data Deduplication, cloud files): a
     * regular file; open its data */
    CloseHandle(*ph);
    *ph = CreateFileW(w, o->access, o->share, NULL, o->disp, o->fl, NULL);
    if (*ph == INVALID_HANDLE_VALUE)
        return cmh__w_errno_from(GetLastError());
    return 0;
}

/* open(2) of the full path @p w, which the new descriptor owns (freed on
 * failure) */
static int open_w(wchar_t *w, int flags, unsigned mode)
{
    open_how o = how_of(flags, mode);
    HANDLE h = create_w(w, &o, flags);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD le = GetLastError();
        free(w);
        return cmh__w_fail(le);
    }
    BY_HANDLE_FILE_INFORMATION bi;
    bool isdir = GetFileInformationByHandle(h, &bi) &&
                 (bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY);
    int err = 0;
    if ((flags & O_NOFOLLOW) &&
        (bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
        (err = reopen_data(&h, w, &o)) != 0) {
        free(w);
        errno = err;
        return -1;
    }
    if ((flags & O_DIRECTORY) && !isdir)
        err = ENOTDIR;
    else if (isdir && o.writable)
        err = EISDIR;
    if (err) {
        CloseHandle(h);
        free(w);
        errno = err;
        return -1;
    }
    int fd = cmh__w_fd_alloc(isdir ? K_DIR : K_FILE, h, w);
    if (fd < 0) {
        CloseHandle(h);
        free(w);
        return -1;
    }
    cmh__w_fds[fd].writable = o.writable;
    return fd;
}

static int open_at(int dirfd, const char *path, int flags, unsigned mode)
{
    wchar_t *w = cmh__w_wpath_at(dirfd, path);
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
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    int r = 0;
    /* Durability: a file this process wrote is flushed when closed, so
     * cmh__os_sync_fs has nothing left to do (see there). */
    if (e->wrote && !FlushFileBuffers(e->h))
        r = cmh__w_fail(GetLastError());
    if (e->kind == K_WATCH) {
        for (int i = 0; i < e->ws->n; i++) {
            CancelIo(e->ws->dir[i]);
            CloseHandle(e->ws->dir[i]);
            CloseHandle(e->ws->ev[i]);
        }
        free(e->ws);
    } else if (!CloseHandle(e->h) && !r) {
        r = cmh__w_fail(GetLastError());
    }
    free(e->path);
    cmh__w_fd_release(e);
    return r;
}

ssize_t cmh__w_read(int fd, void *buf, size_t n)
{
    if (fd >= 0 && fd < 3)
        return _read(fd, buf, n > 0x40000000u ? 0x40000000u : (unsigned)n);
    fdent *e = cmh__w_fd_get(fd);
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
        return cmh__w_fail(le);
    }
    return (ssize_t)got;
}

ssize_t cmh__w_pread(int fd, void *buf, size_t n, int64_t off)
{
    fdent *e = cmh__w_fd_get(fd);
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
        return cmh__w_fail(le);
    }
    return (ssize_t)got;
}

ssize_t cmh__w_write(int fd, const void *buf, size_t n)
{
    if (fd >= 0 && fd < 3)
        return _write(fd, buf, n > 0x40000000u ? 0x40000000u : (unsigned)n);
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    DWORD put;
    if (!WriteFile(e->h, buf, n > 0x40000000u ? 0x40000000u : (DWORD)n,
                   &put, NULL))
        return cmh__w_fail(GetLastError());
    e->wrote = true;
    return (ssize_t)put;
}

ssize_t cmh__w_pwrite(int fd, const void *buf, size_t n, int64_t off)
{
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    OVERLAPPED ov = {0};
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
    DWORD put;
    if (!WriteFile(e->h, buf, n > 0x40000000u ? 0x40000000u : (DWORD)n,
                   &put, &ov))
        return cmh__w_fail(GetLastError());
    e->wrote = true;
    return (ssize_t)put;
}

int64_t cmh__w_lseek(int fd, int64_t off, int whence)
{
    if (fd >= 0 && fd < 3)
        return _lseeki64(fd, off, whence);
    fdent *e = cmh__w_fd_get(fd);
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
        return cmh__w_fail(GetLastError());
    return now.QuadPart;
}

int cmh__w_fsync(int fd)
{
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    if (e->kind != K_FILE || !e->writable)
        return 0; /* folders and read-only handles: nothing to flush */
    if (!FlushFileBuffers(e->h))
        return cmh__w_fail(GetLastError());
    return 0;
}

int cmh__w_ftruncate(int fd, int64_t len)
{
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    FILE_END_OF_FILE_INFO ei;
    ei.EndOfFile.QuadPart = len;
    if (!SetFileInformationByHandle(e->h, FileEndOfFileInfo, &ei, sizeof ei))
        return cmh__w_fail(GetLastError());
    e->wrote = true;
    return 0;
}

int cmh__w_fchmod(int fd, unsigned mode)
{
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    FILE_BASIC_INFO bi;
    if (!GetFileInformationByHandleEx(e->h, FileBasicInfo, &bi, sizeof bi))
        return cmh__w_fail(GetLastError());
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
        return cmh__w_fail(GetLastError());
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
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    FILETIME a, m;
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    if (!ts)
        ts = now;
    bool ha = ft_of(&ts[0], &a), hm = ft_of(&ts[1], &m);
    if (!SetFileTime(e->h, NULL, ha ? &a : NULL, hm ? &m : NULL))
        return cmh__w_fail(GetLastError());
    return 0;
}

int cmh__w_dup(int fd)
{
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return -1;
    HANDLE h;
    if (!DuplicateHandle(GetCurrentProcess(), e->h, GetCurrentProcess(), &h,
                         0, FALSE, DUPLICATE_SAME_ACCESS))
        return cmh__w_fail(GetLastError());
    wchar_t *p = cmh__w_concat3(e->path, L"", L"");
    int n = p ? cmh__w_fd_alloc(e->kind, h, p) : -1;
    if (n < 0) {
        CloseHandle(h);
        free(p);
        return -1;
    }
    cmh__w_fds[n].writable = e->writable;
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
