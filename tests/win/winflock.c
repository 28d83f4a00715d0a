/* flock(1) for the Wine test run: the end-to-end tests hold a library
 * lock with `flock -x FILE sleep N` and probe it with `flock -n FILE true`.
 * A Linux flock is invisible to a Windows program under Wine, so
 * scripts/test-windows.sh puts this (as "flock", via tests/win/flock) first
 * in PATH: the lock is then held by a Windows process, with LockFileEx on
 * the byte cmhash.exe locks (engine/os/win32.c), which is what happens on
 * a distribution point. Supports: [-x|-s] [-n] FILE (sleep N | true). */
#include <windows.h>

#include <stdlib.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv);

int wmain(int argc, wchar_t **argv)
{
    int i = 1;
    BOOL excl = TRUE, nb = FALSE;
    for (; i < argc && argv[i][0] == L'-'; i++) {
        if (!wcscmp(argv[i], L"-s"))
            excl = FALSE;
        else if (!wcscmp(argv[i], L"-n"))
            nb = TRUE;
    }
    if (i >= argc)
        return 64;
    HANDLE h = CreateFileW(argv[i], GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE |
                               FILE_SHARE_DELETE,
                           NULL, OPEN_ALWAYS, 0, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return 66;
    OVERLAPPED ov = {0};
    ov.OffsetHigh = 0x7FFFFFF0u; /* LOCK_OFF_HIGH in engine/os/win32.c */
    if (!LockFileEx(h,
                    (excl ? LOCKFILE_EXCLUSIVE_LOCK : 0) |
                        (nb ? LOCKFILE_FAIL_IMMEDIATELY : 0),
                    0, 1, 0, &ov))
        return 1;
    i++;
    if (i + 1 < argc && !wcscmp(argv[i], L"sleep"))
        Sleep((DWORD)(_wtof(argv[i + 1]) * 1000));
    UnlockFileEx(h, 0, 1, 0, &ov);
    CloseHandle(h);
    return 0;
}
