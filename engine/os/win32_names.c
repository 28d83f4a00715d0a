/* The Windows build's POSIX layer (win32_posix.h), names: realpath,
 * unlink, rename, link, mkdir, fopen, and folder streams (readdir). See
 * win32_priv.h for the other files. */
#include "win32_priv.h"

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
    wchar_t *w = cmh__w_wpath_at(AT_FDCWD, path);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    if (GetFileAttributesW(w) == INVALID_FILE_ATTRIBUTES) {
        errno = cmh__w_errno_from(GetLastError());
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
    if (out && !cmh__w_from_w(v, out, cap)) {
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
        return cmh__w_fail(GetLastError());
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
        return cmh__w_fail(GetLastError());
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
        return cmh__w_fail(le);
    return 0;
}

int cmh__w_unlinkat(int dirfd, const char *path, int flags)
{
    wchar_t *w = cmh__w_wpath_at(dirfd, path);
    if (!w)
        return -1;
    int r = delete_w(w, flags & AT_REMOVEDIR);
    free(w);
    return r;
}

int cmh__w_renameat(int odir, const char *op, int ndir, const char *np)
{
    wchar_t *o = cmh__w_wpath_at(odir, op),
            *n = o ? cmh__w_wpath_at(ndir, np) : NULL;
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
    r = cmh__w_fail(le);
out:
    free(o);
    free(n);
    return r;
}

int cmh__w_linkat(int odir, const char *op, int ndir, const char *np,
                 int flags)
{
    (void)flags;
    wchar_t *o = cmh__w_wpath_at(odir, op),
            *n = o ? cmh__w_wpath_at(ndir, np) : NULL;
    int r = 0;
    if (!o || !n)
        r = -1;
    else if (!CreateHardLinkW(n, o, NULL))
        r = cmh__w_fail(GetLastError());
    free(o);
    free(n);
    return r;
}

int cmh__w_mkdirat(int dirfd, const char *path, unsigned mode)
{
    (void)mode;
    wchar_t *w = cmh__w_wpath_at(dirfd, path);
    if (!w)
        return -1;
    int r = CreateDirectoryW(w, NULL) ? 0 : cmh__w_fail(GetLastError());
    free(w);
    return r;
}

FILE *cmh__w_fopen(const char *path, const char *mode)
{
    wchar_t *w = cmh__w_wpath_at(AT_FDCWD, path), *m = cmh__w_to_w(mode, NULL);
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

/* ---- folder streams ---- */

struct cmh_w_dir {
    int fd;
    HANDLE find;
    bool started, done;
    WIN32_FIND_DATAW fd_data;
    struct cmh_w_dirent ent;
};

unsigned char cmh__w_dtype_of(const WIN32_FIND_DATAW *f)
{
    if ((f->dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
        cmh__w_name_surrogate(f->dwReserved0))
        return DT_LNK;
    return (f->dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? DT_DIR : DT_REG;
}

HANDLE cmh__w_find_first(const wchar_t *dir, WIN32_FIND_DATAW *f)
{
    wchar_t *pat =
        cmh__w_concat3(dir, dir[wcslen(dir) - 1] == L'\\' ? L"" : L"\\", L"*");
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
    fdent *e = cmh__w_fd_get(fd);
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
            d->find = cmh__w_find_first(cmh__w_fds[d->fd].path, &d->fd_data);
            if (d->find == INVALID_HANDLE_VALUE) {
                DWORD le = GetLastError();
                d->done = true;
                if (le != ERROR_FILE_NOT_FOUND && le != ERROR_NO_MORE_FILES)
                    errno = cmh__w_errno_from(le);
                return NULL;
            }
        } else if (!FindNextFileW(d->find, &d->fd_data)) {
            DWORD le = GetLastError();
            d->done = true;
            if (le != ERROR_NO_MORE_FILES)
                errno = cmh__w_errno_from(le);
            return NULL;
        }
        const wchar_t *n = d->fd_data.cFileName;
        if (!cmh__w_from_w(n, d->ent.d_name, sizeof d->ent.d_name))
            continue;
        d->ent.d_type = cmh__w_dtype_of(&d->fd_data);
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
