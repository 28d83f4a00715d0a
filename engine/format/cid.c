/* Package and content identifiers (contentlib.md section 2). */
#include "format.h"

#include <ctype.h>
#include <string.h>

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
           (c >= 'a' && c <= 'f');
}

cmh_status cmh_pkgid_parse(char out[CMH_PKGID_SIZE], const char *text)
{
    if (!text || strlen(text) != 8)
        return CMH_E_INVALID;
    for (int i = 0; i < 8; i++) {
        char c = text[i];
        bool ok = i < 3 ? isascii((unsigned char)c) &&
                              isalnum((unsigned char)c)
                        : is_hex(c);
        if (!ok)
            return CMH_E_INVALID;
        out[i] = (char)toupper((unsigned char)c);
    }
    out[8] = 0;
    return CMH_OK;
}

/* Decimal n >= 1, no padding, at most 9 digits: the version of a content
 * ID and of [Info] Version= (one grammar). */
bool cmh__version_parse(const char *s, uint32_t *out)
{
    if (!*s || *s == '0' || strlen(s) > 9)
        return false;
    uint32_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint32_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* 8-4-4-4-12 lower-case hex. */
static bool is_guid(const char *s, size_t len)
{
    static const int dash[] = {8, 13, 18, 23};
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool want_dash = false;
        for (int k = 0; k < 4; k++)
            if ((size_t)dash[k] == i)
                want_dash = true;
        if (want_dash) {
            if (s[i] != '-')
                return false;
        } else if (!((s[i] >= '0' && s[i] <= '9') ||
                     (s[i] >= 'a' && s[i] <= 'f'))) {
            /* spec 2: content IDs carry lower-case GUIDs; lookups still
             * compare case-insensitively (cmh__cid_equal) */
            return false;
        }
    }
    return true;
}

cmh_content_kind cmh_content_id_parse(char pkgid[CMH_PKGID_SIZE],
                                      uint32_t *version, const char *text)
{
    if (!text)
        return CMH_CONTENT_INVALID;
    size_t len = strlen(text);
    if (len == 36 && is_guid(text, len))
        return CMH_CONTENT_UPDATE;
    const char *dot = strrchr(text, '.');
    if (!dot)
        return CMH_CONTENT_INVALID;
    uint32_t v;
    if (!cmh__version_parse(dot + 1, &v))
        return CMH_CONTENT_INVALID;
    size_t stem = (size_t)(dot - text);
    if (stem == 8) {
        char id[CMH_PKGID_SIZE], tmp[9];
        memcpy(tmp, text, 8);
        tmp[8] = 0;
        if (cmh_pkgid_parse(id, tmp) != CMH_OK || strcmp(id, tmp) != 0)
            return CMH_CONTENT_INVALID; /* stored IDs are upper-case */
        if (pkgid)
            memcpy(pkgid, id, CMH_PKGID_SIZE);
        if (version)
            *version = v;
        return CMH_CONTENT_PACKAGE;
    }
    if (stem == 8 + 36 && !strncmp(text, "Content_", 8) &&
        is_guid(text + 8, 36)) {
        if (version)
            *version = v;
        return CMH_CONTENT_APP;
    }
    return CMH_CONTENT_INVALID;
}

/* Valid content IDs differ in case only in their GUID part (package IDs
 * are upper-case, the "Content_" prefix is fixed), so a case-insensitive
 * compare is exactly "GUIDs compare case-insensitively". */
int cmh__cid_cmp(const char *a, const char *b)
{
    return strcasecmp(a, b);
}

bool cmh__cid_equal(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}
