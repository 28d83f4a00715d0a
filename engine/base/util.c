/* Context, error messages and small helpers. */
#include "grow.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

cmh_status cmh_ctx_new(cmh_ctx **out)
{
    *out = NULL;
    cmh_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return CMH_E_NOMEM;
    /* Fetched once and shared: per-call EVP_get_digestbyname lookups cost
     * a provider query each time (OpenSSL 3 "fetching" guide). */
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!c->sha256) {
        free(c);
        return CMH_E_IO;
    }
    *out = c;
    return CMH_OK;
}

void cmh_ctx_free(cmh_ctx *ctx)
{
    if (!ctx)
        return;
    EVP_MD_free(ctx->sha256);
    free(ctx->detail);
    for (size_t i = 0; i < ctx->nfilelibs; i++)
        free(ctx->filelibs[i]);
    free(ctx->filelibs);
    free(ctx);
}

const char *cmh_ctx_last_error(const cmh_ctx *ctx)
{
    return ctx ? ctx->err : "";
}

const char *cmh_ctx_last_detail(const cmh_ctx *ctx)
{
    return ctx && ctx->detail ? ctx->detail : "";
}

cmh_status cmh__fail_list(cmh_ctx *ctx, cmh_status st, const char *head,
                          const char *lines, const char *hint)
{
    enum { SHOWN = 10 };
    if (!ctx)
        return st;
    size_t total = 0;
    for (const char *p = lines; *p; p++)
        if (*p == '\n' || !p[1])
            total++;
    /* room for the items: the message minus head, hint and "and K more" */
    size_t room = sizeof ctx->err - strlen(head) - strlen(hint) - 64;
    size_t per = room / SHOWN;
    size_t o = (size_t)snprintf(ctx->err, sizeof ctx->err, "%s: ", head);
    size_t shown = 0;
    const char *p = lines;
    while (*p && shown < SHOWN && o < sizeof ctx->err) {
        const char *q = strchr(p, '\n');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len <= per || per < 100) {
            o += (size_t)snprintf(ctx->err + o, sizeof ctx->err - o,
                                  "%s%.*s", shown ? "; " : "", (int)len, p);
        } else { /* a long name: its start, "...", and the end with why */
            size_t tail = 70;
            o += (size_t)snprintf(ctx->err + o, sizeof ctx->err - o,
                                  "%s%.*s...%.*s", shown ? "; " : "",
                                  (int)(per - tail - 3), p, (int)tail,
                                  p + len - tail);
        }
        shown++;
        p = q ? q + 1 : p + len;
    }
    if (o < sizeof ctx->err && total > shown)
        o += (size_t)snprintf(ctx->err + o, sizeof ctx->err - o,
                              "; and %zu more", total - shown);
    if (o < sizeof ctx->err)
        snprintf(ctx->err + o, sizeof ctx->err - o, "; %s", hint);
    free(ctx->detail);
    ctx->detail = strdup(lines);
    return st;
}

const char *cmh_status_str(cmh_status st)
{
    switch (st) {
    case CMH_OK: return "ok";
    case CMH_E_INVALID: return "invalid argument";
    case CMH_E_NOMEM: return "out of memory";
    case CMH_E_SOURCE: return "source problem";
    case CMH_E_LIBRARY: return "library problem";
    case CMH_E_IO: return "I/O error";
    case CMH_E_BUSY: return "busy";
    case CMH_E_CANCELED: return "canceled";
    }
    return "unknown status";
}

const char *cmh_version(void)
{
    return CMH_VERSION_STRING;
}

cmh_status cmh__fail(cmh_ctx *ctx, cmh_status st, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
        free(ctx->detail);
        ctx->detail = NULL;
    }
    return st;
}

cmh_status cmh__opts_check(cmh_ctx *ctx, bool given, unsigned version,
                           unsigned want, const char *op)
{
    if (!given)
        return cmh__fail(ctx, CMH_E_INVALID, "cmh_%s: no options given", op);
    if (version != want)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "cmh_%s: options of version %u, this libcmhash "
                         "(%s) takes version %u; initialise them with "
                         "cmh_%s_opts_init() and rebuild against its headers",
                         op, version, CMH_VERSION_STRING, want, op);
    return CMH_OK;
}

cmh_status cmh__fail_errno(cmh_ctx *ctx, cmh_status st, int err,
                           const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof ctx->err)
            snprintf(ctx->err + n, sizeof ctx->err - (size_t)n, ": %s",
                     strerror(err));
        free(ctx->detail);
        ctx->detail = NULL;
    }
    return st;
}

const char *cmh__err_msg(const cmh_ctx *ctx)
{
    return ctx ? ctx->err : "";
}

void cmh__err_clear(cmh_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->err[0] = 0;
    free(ctx->detail);
    ctx->detail = NULL;
}

void cmh__err_capture(const cmh_ctx *ctx, cmh_err_saved *saved)
{
    snprintf(saved->msg, sizeof saved->msg, "%s", cmh__err_msg(ctx));
    /* a detail that cannot be copied is lost, not the message */
    saved->detail = ctx && ctx->detail ? strdup(ctx->detail) : NULL;
}

void cmh__err_restore(cmh_ctx *ctx, cmh_err_saved *saved)
{
    if (!ctx) {
        cmh__err_discard(saved);
        return;
    }
    snprintf(ctx->err, sizeof ctx->err, "%s", saved->msg);
    free(ctx->detail);
    ctx->detail = saved->detail;
    saved->detail = NULL;
}

void cmh__err_discard(cmh_err_saved *saved)
{
    free(saved->detail);
    saved->detail = NULL;
}

void cmh__err_replace(cmh_ctx *ctx, const char *old, const char *fmt, ...)
{
    char *at = ctx ? strstr(ctx->err, old) : NULL;
    if (!at)
        return;
    char tail[CMH_ERRMSG_SIZE];
    snprintf(tail, sizeof tail, "%s", at + strlen(old));
    size_t room = sizeof ctx->err - (size_t)(at - ctx->err);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room)
        snprintf(at + n, room - (size_t)n, "%s", tail);
}

cmh_status cmh__status_for_write_errno(int err)
{
    switch (err) {
    case ENOMEM: return CMH_E_NOMEM;
    case EROFS:
    case EACCES:
    case EPERM: return CMH_E_LIBRARY;
    default: return CMH_E_IO;
    }
}

const char *cmh__write_hint(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT: return "free space on the library's disk and run again";
    case EROFS: return "the library is on a read-only filesystem; "
                       "remount it read-write or use another --lib";
    case EACCES:
    case EPERM: return "give this user write access to the library";
    case EISDIR:
    case ENOTDIR:
    case ELOOP:
    case EEXIST: return "something unexpected is in the way in the library; "
                        "run cmhash verify";
    case EIO: return "check the disk and run again";
    default: return "check the library's path and disk and run again";
    }
}

const char *cmh__dest_hint(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT: return "free space on the destination's disk and run again";
    case EROFS: return "the destination is on a read-only filesystem; "
                       "choose another";
    case EACCES:
    case EPERM: return "give this user write access to the destination";
    case EISDIR: return "a folder is in the way of a file; remove it or "
                        "choose another destination";
    case ENOTDIR: return "a file is in the way of a folder; remove it or "
                         "choose another destination";
    case ELOOP: return "a symbolic link is in the way; remove it or choose "
                       "another destination";
    case EEXIST: return "something is in the way; choose an empty "
                        "destination";
    case EIO: return "check the destination's disk and run again";
    default: return "check the destination path and run again";
    }
}

const char *cmh__read_hint(int err)
{
    switch (err) {
    case EACCES:
    case EPERM: return "permission denied: give this user read access";
    case ELOOP: return "a symbolic link, which a library never holds: run "
                       "cmhash verify";
    case ENOTDIR: return "not a folder: run cmhash verify";
    case EIO: return "read error: check the disk";
    default: return "run cmhash verify";
    }
}

void cmh__buf_init(cmh_buf *b)
{
    memset(b, 0, sizeof *b);
}

void cmh__buf_free(cmh_buf *b)
{
    free(b->data);
    cmh__buf_init(b);
}

void cmh__buf_reset(cmh_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

static bool buf_grow(cmh_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    if (extra > SIZE_MAX - 1 - b->len ||
        !cmh__grow(&b->data, &b->cap, b->len + extra + 1, 1, 256)) {
        b->oom = true;
        return false;
    }
    return true;
}

void cmh__buf_add(cmh_buf *b, const void *data, size_t len)
{
    if (!buf_grow(b, len))
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

void cmh__buf_adds(cmh_buf *b, const char *s)
{
    cmh__buf_add(b, s, strlen(s));
}

void cmh__buf_addf(cmh_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *cmh__buf_str(cmh_buf *b)
{
    return b->data ? b->data : "";
}

char *cmh__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *cmh__path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    bool slash = na > 0 && a[na - 1] != '/';
    char *p = malloc(na + nb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, na);
    if (slash)
        p[na++] = '/';
    memcpy(p + na, b, nb + 1);
    return p;
}

bool cmh__is_hex64(const char *s, bool *lower_seen)
{
    size_t i = 0;
    bool lower = false;
    for (; s[i]; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))
            continue;
        if (c >= 'a' && c <= 'f') {
            lower = true;
            continue;
        }
        return false;
    }
    if (lower_seen)
        *lower_seen = lower;
    return i == 64;
}

double cmh__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmh__write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void cmh_hex_upper(char *out, const uint8_t *bin, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bin[i] >> 4];
        out[2 * i + 1] = hex[bin[i] & 15];
    }
    out[2 * n] = 0;
}

int cmh__mkdir_p(const char *path)
{
    char *p = cmh__strdup(path);
    if (!p)
        return ENOMEM;
    int e = 0;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            e = errno;
            break;
        }
        *q = '/';
    }
    if (!e && mkdir(p, 0755) != 0 && errno != EEXIST)
        e = errno;
    free(p);
    return e;
}
