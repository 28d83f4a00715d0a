/* Windows implementation of the OS seam (os.h, issue 15): locks, random
 * bytes, folder listing, opening, FileLib drives, durability, attributes,
 * the directory watch. The POSIX layer that win32_posix.h renames the
 * engine's POSIX calls to is in win32_io.c, win32_names.c and
 * win32_proc.c; what they share in win32_base.c (see win32_priv.h). */
#include "win32_priv.h"

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
               : cmh__w_errno_from(le);
}

static void unlock_handle(HANDLE h)
{
    OVERLAPPED ov = {0};
    ov.OffsetHigh = LOCK_OFF_HIGH;
    (void)UnlockFileEx(h, 0, 1, 0, &ov);
}

int cmh__w_flock(int fd, int op)
{
    fdent *e = cmh__w_fd_get(fd);
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
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return EBADF;
    return lock_handle(e->h, exclusive, wait);
}

void cmh__os_unlock(int fd)
{
    fdent *e = cmh__w_fd_get(fd);
    if (e)
        unlock_handle(e->h);
}

int cmh__os_lock_probe(int dirfd, const char *name, bool *busy)
{
    *busy = false;
    int fd = cmh__w_openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    int e = lock_handle(cmh__w_fds[fd].h, false, false);
    if (e == EWOULDBLOCK) {
        *busy = true;
        e = 0;
    } else if (!e) {
        unlock_handle(cmh__w_fds[fd].h);
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

int cmh__os_list_dir(int fd, bool rewind,
                    int (*fn)(const char *name, unsigned char type,
                              void *arg),
                    void *arg)
{
    (void)rewind; /* every listing starts from the first name */
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return EBADF;
    WIN32_FIND_DATAW f;
    HANDLE h = cmh__w_find_first(e->path, &f);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD le = GetLastError();
        return le == ERROR_FILE_NOT_FOUND ? 0 : cmh__w_errno_from(le);
    }
    char name[4 * 256];
    int r = 0;
    do {
        const wchar_t *n = f.cFileName;
        if (n[0] == L'.' && (!n[1] || (n[1] == L'.' && !n[2])))
            continue;
        if (!cmh__w_from_w(n, name, sizeof name))
            continue;
        if ((r = fn(name, cmh__w_dtype_of(&f), arg)) != 0)
            break;
    } while (FindNextFileW(h, &f));
    if (!r && GetLastError() != ERROR_NO_MORE_FILES)
        r = cmh__w_errno_from(GetLastError());
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
    wchar_t *full = cmh__w_wpath_at(AT_FDCWD, lib);
    if (full && wcsncmp(full, L"\\\\?\\UNC\\", 8) && iswalpha(full[4]) &&
        full[5] == L':')
        own = towupper(full[4]);
    free(full);
    wchar_t drives[4 * 26 + 2];
    DWORD len = GetLogicalDriveStringsW(sizeof drives / sizeof *drives,
                                        drives);
    if (!len || len >= sizeof drives / sizeof *drives)
        return len ? ENAMETOOLONG : cmh__w_errno_from(GetLastError());
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
    fdent *e = cmh__w_fd_get(fd);
    if (!e)
        return EBADF;
    for (int i = 3; i < MAXFD; i++)
        if (cmh__w_fds[i].kind == K_FILE && cmh__w_fds[i].wrote &&
            !FlushFileBuffers(cmh__w_fds[i].h))
            return cmh__w_errno_from(GetLastError());
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
    fdent *e = cmh__w_fd_get(fd);
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
    int fd = cmh__w_fd_alloc(K_WATCH, NULL, NULL);
    if (fd < 0) {
        free(ws);
        return -1;
    }
    cmh__w_fds[fd].ws = ws;
    return fd;
}

void cmh__os_watch_add(int w, const char *dir)
{
    fdent *e = cmh__w_fd_get(w);
    if (!e || e->kind != K_WATCH || e->ws->n >= WATCH_MAX)
        return;
    watch_set *ws = e->ws;
    wchar_t *p = cmh__w_wpath_at(AT_FDCWD, dir);
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
    fdent *e = cmh__w_fd_get(w);
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
