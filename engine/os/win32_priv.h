/* What the Windows files of engine/os/ share, and nothing else includes:
 *   win32.c        the OS seam (os.h): locks (and flock, which takes the
 *                  same LockFileEx lock), FileLib drives, durability, the
 *                  directory watch, ...;
 *   win32_io.c     POSIX layer (win32_posix.h): stat, open, read, write;
 *   win32_names.c  POSIX layer: realpath, unlink, rename, link, mkdir,
 *                  fopen, folder streams;
 *   win32_proc.c   POSIX layer: sysconf, raise, open_memstream, sigaction,
 *                  case mapping, and the entry point (wmain);
 *   win32_base.c   what they all use: Win32 errors as errno, UTF-8 (WTF-8)
 *                  <-> UTF-16, cmhash's descriptor table, dirfd/path to a
 *                  full \\?\ path.
 * Design: see the comment at the top of win32_posix.h and docs/WINDOWS.md.
 * Wide-character (W) APIs only; every path is converted once, in
 * cmh__w_wpath_at. */
#ifndef CMHASH_WIN32_PRIV_H
#define CMHASH_WIN32_PRIV_H

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

/* ---- errors (win32_base.c) ---- */

/* the errno value for a Win32 error code */
int cmh__w_errno_from(DWORD w);
/* errno = cmh__w_errno_from(w); returns -1 */
int cmh__w_fail(DWORD w);

/* ---- UTF-8 (WTF-8) <-> UTF-16: unpaired surrogates round-trip ---- */

/* malloc'd UTF-16 of @p s (its length in *outn when not NULL); NULL +
 * errno (EILSEQ, ENOMEM) */
wchar_t *cmh__w_to_w(const char *s, size_t *outn);
/* UTF-16 name to UTF-8 into @p out (size @p cap); false if it does not fit */
bool cmh__w_from_w(const wchar_t *w, char *out, size_t cap);

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
extern fdent cmh__w_fds[MAXFD];

/* a free descriptor (3 and up) for @p h and @p path (both then owned by
 * the table); -1 + EMFILE */
int cmh__w_fd_alloc(int kind, HANDLE h, wchar_t *path);
/* the entry back to free (its handle and path already released) */
void cmh__w_fd_release(fdent *e);

static inline fdent *cmh__w_fd_get(int fd)
{
    if (fd < 3 || fd >= MAXFD || cmh__w_fds[fd].kind == K_FREE) {
        errno = EBADF;
        return NULL;
    }
    return &cmh__w_fds[fd];
}

/* ---- paths ---- */

/* malloc'd a + b + c; NULL when out of memory */
wchar_t *cmh__w_concat3(const wchar_t *a, const wchar_t *b, const wchar_t *c);
/* dirfd/path as a full \\?\ path, "." and ".." folded; NULL + errno */
wchar_t *cmh__w_wpath_at(int dirfd, const char *path);

/* a reparse point that is a link (symlink, junction), not data */
static inline bool cmh__w_name_surrogate(DWORD tag)
{
    return IsReparseTagNameSurrogate(tag);
}

/* ---- folder listing (win32_names.c), also for cmh__os_list_dir ---- */

/* DT_LNK, DT_DIR or DT_REG of a listed entry */
unsigned char cmh__w_dtype_of(const WIN32_FIND_DATAW *f);
/* FindFirstFileExW over the folder @p dir (a full path) */
HANDLE cmh__w_find_first(const wchar_t *dir, WIN32_FIND_DATAW *f);

#endif
