/* Library layout helpers: temp names, atomic writes, FileLib reference
 * lists and the small encodings of contentlib.md section 3. */
#include "internal.h"
#include "grow.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

static atomic_uint_fast64_t g_tmp_counter;

/* This process's run token: 16 random hex digits, made once. Temp names
 * carry it, and a writer holds `.cmhash/run-<token>.lock` (library.c)
 * while its temps may exist, so a later run can tell the temps of a dead
 * run from a live one's - a PID cannot: in a container every run is PID 1,
 * and PIDs wrap (issue 11, items 10 and 11). */
static pthread_once_t g_token_once = PTHREAD_ONCE_INIT;
static char g_token[CMH_TMP_TOKEN_LEN + 1];

static void token_init(void)
{
    uint8_t r[CMH_TMP_TOKEN_LEN / 2];
    if (cmh__os_random(r, sizeof r) != 0) {
        /* no entropy source: time, PID and an address still differ
         * between runs far more often than a PID alone */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^
                     (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid() ^
                     (uint64_t)(uintptr_t)&ts;
        memcpy(r, &x, sizeof r < sizeof x ? sizeof r : sizeof x);
    }
    cmh_hex_upper(g_token, r, sizeof r);
}

const char *cmh__tmp_token(void)
{
    pthread_once(&g_token_once, token_init);
    return g_token;
}

void cmh__tmp_name(char *buf, size_t size, const char *suffix)
{
    uint64_t n = atomic_fetch_add(&g_tmp_counter, 1);
    snprintf(buf, size, CMH_TMP_PREFIX "%s-%llu%s", cmh__tmp_token(),
             (unsigned long long)n, suffix ? suffix : "");
}

bool cmh__tmp_token_of(const char *name, char token[CMH_TMP_TOKEN_LEN + 1])
{
    size_t pl = strlen(CMH_TMP_PREFIX);
    if (strncmp(name, CMH_TMP_PREFIX, pl) != 0)
        return false;
    const char *p = name + pl;
    for (size_t i = 0; i < CMH_TMP_TOKEN_LEN; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'F')))
            return false;
    if (p[CMH_TMP_TOKEN_LEN] != '-')
        return false;
    memcpy(token, p, CMH_TMP_TOKEN_LEN);
    token[CMH_TMP_TOKEN_LEN] = 0;
    return true;
}

int cmh__write_new(int dirfd, const char *name, const void *data, size_t len,
                  bool do_fsync)
{
    int fd = openat(dirfd, name,
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    0644);
    if (fd < 0)
        return errno;
    const char *p = data;
    int e = 0;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    if (!e && do_fsync)
        e = cmh__os_fsync(fd);
    if (close(fd) != 0 && !e)
        e = errno;
    if (e)
        unlinkat(dirfd, name, 0);
    return e;
}

int cmh__write_atomic(int dirfd, const char *name, const void *data,
                     size_t len, bool do_fsync)
{
    char tmp[64];
    int e;
    do { /* a name taken (a leftover) only costs another try */
        cmh__tmp_name(tmp, sizeof tmp, NULL);
        e = cmh__write_new(dirfd, tmp, data, len, do_fsync);
    } while (e == EEXIST);
    if (e)
        return e;
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        e = errno;
        unlinkat(dirfd, tmp, 0);
        return e;
    }
    if (do_fsync)
        e = cmh__os_fsync(dirfd);
    return e;
}

void cmh__percent_encode(cmh_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t clen = 1;
        bool valid = true;
        if (c >= 0x80) {
            /* keep valid UTF-8 sequences, encode stray bytes */
            clen = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4 : 0;
            if (!clen || i + clen > len) {
                valid = false;
                clen = 1;
            } else {
                uint16_t *u;
                size_t ul;
                if (cmh__utf8_to_utf16((const char *)p + i, clen, &u, &ul))
                    free(u);
                else {
                    valid = false;
                    clen = 1;
                }
            }
        }
        if (c < 0x20 || c == 0x7F || c == '%' || !valid) {
            cmh__buf_addf(b, "%%%02X", c);
            i++;
            continue;
        }
        cmh__buf_add(b, p + i, clen);
        i += clen;
    }
}

#define FILETIME_EPOCH_DIFF 11644473600LL

int64_t cmh__filetime_from_ns(int64_t ns)
{
    /* floor division so pre-1970 times stay consistent */
    int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
    if (rem < 0) {
        sec--;
        rem += 1000000000LL;
    }
    return (sec + FILETIME_EPOCH_DIFF) * 10000000LL + rem / 100;
}

int64_t cmh__ns_from_filetime(int64_t ft)
{
    int64_t sec = ft / 10000000LL - FILETIME_EPOCH_DIFF;
    int64_t rem = ft % 10000000LL;
    return sec * 1000000000LL + rem * 100;
}

/* ---- reference lists ---- */

void cmh__reflist_free(cmh_reflist *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ids[i]);
    free(r->ids);
    memset(r, 0, sizeof *r);
}

/* Binary search; returns the index of id or where it would go. */
static size_t reflist_find(const cmh_reflist *r, const char *id, bool *found)
{
    size_t lo = 0, hi = r->n;
    *found = false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->ids[mid], id); /* ordinal byte compare */
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool cmh__reflist_add(cmh_reflist *r, const char *id)
{
    bool found;
    size_t at = reflist_find(r, id, &found);
    if (found)
        return true;
    if (!cmh__grow(&r->ids, &r->cap, r->n + 1, sizeof *r->ids, 4))
        return false;
    char *d = cmh__strdup(id);
    if (!d)
        return false;
    memmove(r->ids + at + 1, r->ids + at, (r->n - at) * sizeof *r->ids);
    r->ids[at] = d;
    r->n++;
    return true;
}

/* Exact match by binary search, else a GUID that differs in case only
 * (contentlib.md section 2: GUIDs compare case-insensitively). */
static size_t reflist_find_ci(const cmh_reflist *r, const char *id,
                              bool *found)
{
    size_t at = reflist_find(r, id, found);
    for (size_t i = 0; i < r->n && !*found; i++)
        if (!strcasecmp(r->ids[i], id)) {
            *found = true;
            at = i;
        }
    return at;
}

bool cmh__reflist_remove(cmh_reflist *r, const char *id)
{
    bool found;
    size_t at = reflist_find_ci(r, id, &found);
    if (!found)
        return false;
    free(r->ids[at]);
    memmove(r->ids + at, r->ids + at + 1, (r->n - at - 1) * sizeof *r->ids);
    r->n--;
    return true;
}

bool cmh__reflist_has(const cmh_reflist *r, const char *id)
{
    bool found;
    reflist_find_ci(r, id, &found);
    return found;
}

