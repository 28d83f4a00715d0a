/* DataLib/<ContentID>/<rel>/<name>.INI (contentlib.md section 3.3): the one
 * reader and the one writer of per-file INIs. */
#include "format.h"

/* Decimal, digits only, at most INT64_MAX (sizes and FILETIMEs are signed
 * 64-bit on Windows; a larger value is not one ConfigMgr could write). */
static bool parse_i64(const char *s, uint64_t *out)
{
    if (!*s || strlen(s) > 19)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = v;
    return true;
}

static bool parse_hex8(const char *s, uint32_t *out, bool *lower)
{
    uint32_t v = 0;
    *lower = false;
    if (strlen(s) != 8)
        return false;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        int d = cmh__hex_nibble(c); /* the one hex decoder (hex.c) */
        if (d < 0)
            return false;
        if (c >= 'a')
            *lower = true;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return true;
}

enum { K_ATTR, K_SIZE, K_TIME, K_HASH, K_N };
static const char *const key_names[K_N] = {"Attributes", "Size",
                                           "TimeModified", "Hash"};

typedef struct fparse {
    cmh_fileini *f;
    bool have[K_N];
} fparse;

static void set_bad(cmh_fileini *f, const char *what, const char *value)
{
    if (f->bad[0])
        return;
    snprintf(f->bad, sizeof f->bad, "%s", what);
    snprintf(f->bad_value, sizeof f->bad_value, "%.70s", value);
}

static int file_cb(void *payload, const char *section, const char *key,
                   const char *value, int lineno)
{
    (void)lineno;
    fparse *p = payload;
    cmh_fileini *f = p->f;
    if (strcasecmp(section, "File"))
        return 0;
    int k = 0;
    while (k < K_N && strcasecmp(key, key_names[k]))
        k++;
    if (k == K_N)
        return 0;
    p->have[k] = true;
    uint64_t v = 0;
    switch (k) {
    case K_ATTR:
        if (!parse_hex8(value, &f->attrs, &f->lower_attrs))
            set_bad(f, "Attributes is not 8 hex digits", value);
        break;
    case K_SIZE:
        if (parse_i64(value, &v))
            f->size = v;
        else
            set_bad(f, "Size is not a decimal number", value);
        break;
    case K_TIME:
        if (parse_i64(value, &v))
            f->filetime = (int64_t)v;
        else
            set_bad(f, "TimeModified is not a decimal FILETIME", value);
        break;
    case K_HASH:
        if (cmh__is_hex64(value, &f->lower_hash))
            f->have_hash = cmh__hex64_decode(value, f->sha);
        else
            set_bad(f, "Hash is not 64 hex digits", value);
        break;
    }
    return 0;
}

int cmh__fileini_parse(const char *data, size_t len, cmh_fileini *f,
                      char *why, size_t whylen)
{
    memset(f, 0, sizeof *f);
    fparse p = {f, {false}};
    if (!cmh__ini_parse(data, len, file_cb, &p, why, whylen))
        return CMH_FILEINI_UNPARSABLE;
    for (int k = 0; k < K_N; k++)
        if (!p.have[k]) {
            snprintf(f->missing, sizeof f->missing, "%s", key_names[k]);
            return CMH_FILEINI_MISSING;
        }
    if (f->bad[0])
        return CMH_FILEINI_BAD;
    return CMH_FILEINI_OK;
}

void cmh__fileini_write(cmh_buf *b, uint32_t attrs, uint64_t size,
                       int64_t filetime, const uint8_t sha[CMH_SHA256_LEN])
{
    char hex[CMH_HEX_SIZE];
    cmh_hex_upper(hex, sha, CMH_SHA256_LEN);
    cmh__buf_addf(b,
                 "[File]\r\nAttributes=%08X\r\nSize=%llu\r\n"
                 "TimeModified=%lld\r\nHash=%s\r\n",
                 (unsigned)attrs, (unsigned long long)size,
                 (long long)filetime, hex);
}
