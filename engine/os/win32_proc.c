/* The Windows build's POSIX layer (win32_posix.h), process: sysconf,
 * raise, gettid, open_memstream, sigaction, the spec's case mapping, and
 * the program's entry point (wmain). See win32_priv.h for the other
 * files. */
#include "win32_priv.h"

#include "win32_casemap.h"

/* the C runtime's own, here */
#undef fclose
#undef raise

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
        cmh__w_fail(GetLastError());
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
        if (!argv[i] || !cmh__w_from_w(wargv[i], argv[i], cap))
            return 1;
    }
    /* the same bytes as on Linux: no "\n" -> "\r\n" */
    _setmode(0, _O_BINARY);
    _setmode(1, _O_BINARY);
    _setmode(2, _O_BINARY);
    SetConsoleOutputCP(CP_UTF8);
    return cmh_w_main_utf8(argc, argv);
}
