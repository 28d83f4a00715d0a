/* Output helpers of the cmhash tool. */
#include "cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile int cli_interrupted;

int cli_exit_for(cmh_status st)
{
    switch (st) {
    case CMH_OK: return EXIT_OK;
    case CMH_E_INVALID: return EXIT_USAGE;
    case CMH_E_SOURCE: return EXIT_SOURCE;
    case CMH_E_LIBRARY: return EXIT_LIBRARY;
    case CMH_E_BUSY: return EXIT_BUSY;
    case CMH_E_CANCELED: return EXIT_INTERRUPTED;
    case CMH_E_IO:
    case CMH_E_NOMEM: return EXIT_IO;
    }
    return EXIT_IO;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("cmhash: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    va_start(ap, fmt);
    cli_log_v(3, fmt, ap);
    va_end(ap);
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    fputs("cmhash: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    va_start(ap, fmt);
    cli_log_v(2, fmt, ap);
    va_end(ap);
}

void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            p++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default: fprintf(f, "\\u%04x", c);
            }
            p++;
        } else if (c < 0x80) {
            fputc(c, f);
            p++;
        } else {
            /* pass well-formed UTF-8 through (RFC 3629: no overlong
             * forms, surrogates or code points above U+10FFFF, which
             * strict JSON readers reject), escape stray bytes */
            int n = c >= 0xC2 && c <= 0xDF ? 2 : (c & 0xF0) == 0xE0 ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
            bool ok = n > 0;
            for (int i = 1; ok && i < n; i++)
                ok = (p[i] & 0xC0) == 0x80;
            if (ok && n == 3) /* E0: >= U+0800; ED: not a surrogate */
                ok = !(c == 0xE0 && p[1] < 0xA0) &&
                     !(c == 0xED && p[1] >= 0xA0);
            if (ok && n == 4) /* F0: >= U+10000; F4: <= U+10FFFF */
                ok = !(c == 0xF0 && p[1] < 0x90) &&
                     !(c == 0xF4 && p[1] >= 0x90);
            if (ok) {
                fwrite(p, 1, (size_t)n, f);
                p += n;
            } else {
                fprintf(f, "\\u%04x", c);
                p++;
            }
        }
    }
    fputc('"', f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(progress *p, int mode)
{
    p->enabled = mode > 0 || (mode == 0 && isatty(STDERR_FILENO));
    p->last = 0;
    p->width = 0;
}

static void human_bytes(char *buf, size_t n, double b)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

int progress_cb(const cmh_progress *pr, void *payload)
{
    progress *p = payload;
    if (cli_interrupted)
        return 1;
    if (!p || !p->enabled)
        return 0;
    double t = now_s();
    if (t - p->last < 0.2)
        return 0;
    p->last = t;
    char done[32], total[32], rate[32], eta[32] = "";
    double r = pr->elapsed > 0 ? (double)pr->bytes_done / pr->elapsed : 0;
    human_bytes(done, sizeof done, (double)pr->bytes_done);
    human_bytes(total, sizeof total, (double)pr->bytes_total);
    human_bytes(rate, sizeof rate, r);
    if (pr->bytes_total && r > 0) {
        double left = (double)(pr->bytes_total - pr->bytes_done) / r;
        snprintf(eta, sizeof eta, "  ETA %d:%02d", (int)left / 60,
                 (int)left % 60);
    }
    int w;
    if (pr->files_total)
        w = fprintf(stderr, "\r%-6s %llu/%llu files  %s/%s  %s/s%s\x1b[K",
                    pr->phase, (unsigned long long)pr->files_done,
                    (unsigned long long)pr->files_total, done, total, rate,
                    eta);
    else
        w = fprintf(stderr, "\r%-6s %llu files found\x1b[K", pr->phase,
                    (unsigned long long)pr->files_done);
    p->width = w;
    fflush(stderr);
    return 0;
}

void progress_done(progress *p)
{
    if (p->enabled && p->width) {
        fputs("\r\x1b[K", stderr);
        fflush(stderr);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

const char *cli_lib_default(const char *opt)
{
    if (opt && *opt)
        return opt;
    const char *env = getenv("CMHASH_LIB");
    if (env && *env)
        return env;
    return "./SCCMContentLib";
}

char *cli_map_unc(const char *src, const char *unc_root, const char **err)
{
    *err = NULL;
    bool unc = (src[0] == '\\' && src[1] == '\\') ||
               (src[0] == '/' && src[1] == '/' && src[2] != '/');
    if (!unc) {
        char *d = strdup(src);
        if (!d)
            *err = "out of memory";
        return d;
    }
    if (!unc_root || !*unc_root)
        unc_root = getenv("CMHASH_UNC_ROOT");
#ifdef CMH_OS_NATIVE_UNC
    if (!unc_root || !*unc_root) { /* Windows: the OS seam opens UNC paths */
        char *d = strdup(src);
        if (!d)
            *err = "out of memory";
        return d;
    }
#endif
    if (!unc_root || !*unc_root) {
        *err = "is a UNC path with no local mapping: mount the shares under "
               "a folder and pass --unc-root DIR (or set CMHASH_UNC_ROOT), "
               "so that \\\\server\\share maps to DIR/server/share";
        return NULL;
    }
    /* split on both separators; server and share required; no . or .. */
    size_t n = strlen(src);
    char *out = malloc(strlen(unc_root) + n + 2);
    if (!out) {
        *err = "out of memory";
        return NULL;
    }
    size_t o = 0;
    size_t rl = strlen(unc_root);
    memcpy(out, unc_root, rl);
    o = rl;
    while (o > 1 && out[o - 1] == '/')
        o--;
    int comps = 0;
    const char *p = src + 2;
    while (*p) {
        const char *q = p;
        while (*q && *q != '\\' && *q != '/')
            q++;
        size_t len = (size_t)(q - p);
        if (len == 0 && *q) {
            p = q + 1;
            continue;
        }
        if ((len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.')) {
            free(out);
            *err = "is a UNC path with '.' or '..' components; give the "
                   "share path plainly";
            return NULL;
        }
        if (len) {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
            comps++;
        }
        p = *q ? q + 1 : q;
    }
    out[o] = 0;
    if (comps < 2) {
        free(out);
        *err = "is not a UNC share path: expected \\\\server\\share[\\dir]";
        return NULL;
    }
    return out;
}
