/* Output helpers of the cmhash tool. */
#include "cli.h"

#include <dirent.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <getopt.h>
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

static char g_last_error[2048];

/* One message line to stderr and the log, control characters escaped
 * (names come from sources and libraries an attacker may have crafted). */
static void say_err(int type, const char *prefix, const char *fmt,
                    va_list ap) __attribute__((format(printf, 3, 0)));

static void say_err(int type, const char *prefix, const char *fmt,
                    va_list ap)
{
    char *msg = cli_vformat(fmt, ap);
    char *safe = cli_safe_dup(msg ? msg : fmt);
    const char *text = safe ? safe : "(out of memory)";
    fprintf(stderr, "cmhash: %s: %s\n", prefix, text);
    if (type == 3)
        snprintf(g_last_error, sizeof g_last_error, "%s",
                 msg ? msg : text);
    cli_log(type, "%s", text);
    free(safe);
    free(msg);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_err(3, "error", fmt, ap);
    va_end(ap);
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_err(2, "warning", fmt, ap);
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
    char line[256];
    if (pr->files_total)
        snprintf(line, sizeof line, "%-6s %llu/%llu files  %s/%s  %s/s%s",
                 pr->phase, (unsigned long long)pr->files_done,
                 (unsigned long long)pr->files_total, done, total, rate,
                 eta);
    else
        snprintf(line, sizeof line, "%-6s %llu files found", pr->phase,
                 (unsigned long long)pr->files_done);
    /* clipped to the terminal: a wrapped line cannot be redrawn with \r */
    int cols = cli_terminal_columns();
    int w = fprintf(stderr, "\r%.*s\x1b[K", cols > 1 ? cols - 1 : 1, line);
    p->width = w;
    fflush(stderr);
    return 0;
}

int cli_terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int n = c ? atoi(c) : 0;
    return n > 0 ? n : 80;
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

/* The last component (len bytes) of out[0..o) names a server or share:
 * when it does not exist as spelt, use the one entry of its folder that
 * equals it ignoring ASCII case. Returns the (unchanged) length. */
static size_t unc_match_case(char *out, size_t o, size_t len)
{
    struct stat sb;
    if (stat(out, &sb) == 0)
        return o;
    char *name = out + o - len;
    name[-1] = 0;
    DIR *d = opendir(o - len - 1 ? out : "/");
    name[-1] = '/';
    if (!d)
        return o;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == len && !strncasecmp(de->d_name, name, len)) {
            memcpy(name, de->d_name, len);
            break;
        }
    }
    closedir(d);
    return o;
}

/* A copy of S, or NULL with *err = "out of memory". */
static char *dup_or_err(const char *s, const char **err)
{
    char *d = strdup(s);
    if (!d)
        *err = "out of memory";
    return d;
}

/* Append the components of the UNC path P (after its leading two
 * separators) to OUT, O bytes so far, as "/NAME" each (empty ones
 * skipped; server and share matched case-insensitively); *comps counts
 * them. The new length, or (size_t)-1 with *err set on '.' or '..'. */
static size_t unc_append(char *out, size_t o, const char *p, int *comps,
                         const char **err)
{
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
            *err = "is a UNC path with '.' or '..' components; give the "
                   "share path plainly";
            return (size_t)-1;
        }
        if (len) {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
            out[o] = 0;
            (*comps)++;
            /* Windows matches server and share names case-insensitively:
             * \\CM2\REAL is the share mounted as <root>/cm2/real */
            if (*comps <= 2)
                o = unc_match_case(out, o, len);
        }
        p = *q ? q + 1 : q;
    }
    return o;
}

char *cli_map_unc(const char *src, const char *unc_root, const char **err)
{
    *err = NULL;
    bool unc = (src[0] == '\\' && src[1] == '\\') ||
               (src[0] == '/' && src[1] == '/' && src[2] != '/');
    if (!unc)
        return dup_or_err(src, err);
    if (!unc_root || !*unc_root)
        unc_root = getenv("CMHASH_UNC_ROOT");
#ifdef CMH_OS_NATIVE_UNC
    if (!unc_root || !*unc_root) /* Windows: the OS seam opens UNC paths */
        return dup_or_err(src, err);
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
    size_t o = strlen(unc_root);
    memcpy(out, unc_root, o);
    while (o > 1 && out[o - 1] == '/')
        o--;
    int comps = 0;
    o = unc_append(out, o, src + 2, &comps, err);
    if (o == (size_t)-1) {
        free(out);
        return NULL;
    }
    out[o] = 0;
    if (comps < 2) {
        free(out);
        *err = "is not a UNC share path: expected \\\\server\\share[\\dir]";
        return NULL;
    }
    return out;
}

bool cli_json_wanted;
bool cli_json_error_done;
const char *cli_last_error(void)
{
    return g_last_error;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_error("%s; see cmhash help %s", msg, cmd);
    return EXIT_USAGE;
}

int cli_bad_option(const char *cmd, char **argv)
{
    /* getopt_long has moved optind past the offending element, except for
     * a missing value at the end of argv */
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (optopt && optopt != '?' && optopt < 256 && arg[0] == '-' &&
        arg[1] == '-' && !strchr(arg, '='))
        return cli_usage(cmd, "option '%s' needs a value", arg);
    if (arg[0] == '-' && arg[1] == '-' && strchr(arg, '=')) {
        char *e = cli_safe_dup(arg);
        int rc = cli_usage(cmd, "option '%.*s' takes no value or is "
                           "unknown", (int)(strchr(e ? e : arg, '=') -
                                            (e ? e : arg)), e ? e : arg);
        free(e);
        return rc;
    }
    char *e = cli_safe_dup(arg);
    int rc = cli_usage(cmd, "unknown option '%s'", e ? e : arg);
    free(e);
    return rc;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), 0 if none. */
static int utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    int n = c >= 0xC2 && c <= 0xDF ? 2 : (c & 0xF0) == 0xE0 ? 3
          : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    for (int i = 1; n && i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)))
        return 0;
    if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
        return 0;
    /* C1 controls U+0080..U+009F (C2 80..C2 9F): CSI etc. on terminals */
    if (n == 2 && c == 0xC2 && p[1] < 0xA0)
        return 0;
    return n;
}

static size_t safe_into(char *out, const char *s)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p >= 0x20 && *p < 0x7F) {
            if (out)
                out[o] = (char)*p;
            o++;
            p++;
            continue;
        }
        int n = *p >= 0x80 ? utf8_len(p) : 0;
        if (n) {
            if (out)
                memcpy(out + o, p, (size_t)n);
            o += (size_t)n;
            p += n;
            continue;
        }
        if (out)
            snprintf(out + o, 5, "\\x%02X", *p);
        o += 4;
        p++;
    }
    if (out)
        out[o] = 0;
    return o;
}

void cli_put_safe(FILE *f, const char *s)
{
    char *e = cli_safe_dup(s);
    fputs(e ? e : "?", f);
    free(e);
}

char *cli_safe_dup(const char *s)
{
    if (!s)
        s = "";
    char *out = malloc(safe_into(NULL, s) + 1);
    if (out)
        safe_into(out, s);
    return out;
}

char *cli_abs_path(const char *path)
{
    char *r = realpath(path, NULL);
    if (r)
        return r;
    if (path[0] == '/')
        return strdup(path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        return strdup(path);
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *o = malloc(n);
    if (o)
        snprintf(o, n, "%s/%s", cwd, path);
    return o;
}

void json_path(FILE *f, const char *path)
{
    bool unc = (path[0] == '\\' && path[1] == '\\') ||
               (path[0] == '/' && path[1] == '/' && path[2] != '/');
    char *a = unc ? NULL : cli_abs_path(path);
    json_str(f, a ? a : path);
    free(a);
}

char *cli_vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int len = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    char *raw = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (raw)
        vsnprintf(raw, (size_t)len + 1, fmt, ap);
    return raw;
}

void cli_printf_safe(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = cli_vformat(fmt, ap);
    va_end(ap);
    if (!raw)
        return;
    size_t n = strlen(raw);
    bool nl = n && raw[n - 1] == '\n';
    if (nl)
        raw[n - 1] = 0;
    cli_put_safe(f, raw);
    if (nl)
        fputc('\n', f);
    free(raw);
}
