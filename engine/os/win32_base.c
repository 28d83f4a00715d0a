/* The Windows files' shared base (see win32_priv.h): Win32 errors as errno,
 * UTF-8 (WTF-8) <-> UTF-16, cmhash's descriptor table, and dirfd/path to a
 * full \\?\ path. */
#include "win32_priv.h"

/* ---- errors ---- */

int cmh__w_errno_from(DWORD w)
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

int cmh__w_fail(DWORD w)
{
    errno = cmh__w_errno_from(w);
    return -1;
}

/* ---- UTF-8 (WTF-8) <-> UTF-16: unpaired surrogates round-trip ---- */

wchar_t *cmh__w_to_w(const char *s, size_t *outn)
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

bool cmh__w_from_w(const wchar_t *w, char *out, size_t cap)
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

fdent cmh__w_fds[MAXFD];
static SRWLOCK fd_lock = SRWLOCK_INIT;

int cmh__w_fd_alloc(int kind, HANDLE h, wchar_t *path)
{
    AcquireSRWLockExclusive(&fd_lock);
    for (int i = 3; i < MAXFD; i++)
        if (cmh__w_fds[i].kind == K_FREE) {
            memset(&cmh__w_fds[i], 0, sizeof cmh__w_fds[i]);
            cmh__w_fds[i].kind = kind;
            cmh__w_fds[i].h = h;
            cmh__w_fds[i].path = path;
            ReleaseSRWLockExclusive(&fd_lock);
            return i;
        }
    ReleaseSRWLockExclusive(&fd_lock);
    errno = EMFILE;
    return -1;
}

void cmh__w_fd_release(fdent *e)
{
    AcquireSRWLockExclusive(&fd_lock);
    memset(e, 0, sizeof *e);
    ReleaseSRWLockExclusive(&fd_lock);
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

wchar_t *cmh__w_concat3(const wchar_t *a, const wchar_t *b, const wchar_t *c)
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
        return cmh__w_concat3(L"\\\\?\\UNC\\", abs + 2, L"");
    return cmh__w_concat3(L"\\\\?\\", abs, L"");
}

wchar_t *cmh__w_wpath_at(int dirfd, const char *path)
{
    wchar_t *u = cmh__w_to_w(path, NULL);
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
                full = cmh__w_concat3(pc, u, L"");
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
            fdent *e = cmh__w_fd_get(dirfd);
            if (!e) {
                free(u);
                return NULL;
            }
            base = cmh__w_concat3(e->path, L"", L"");
        }
        if (base) {
            full = cmh__w_concat3(base, L"\\", u);
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
