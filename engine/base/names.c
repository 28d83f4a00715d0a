/* UTF-8/UTF-16, the case mapping and NTFS order of contentlib.md section 5,
 * and the Windows name rules of section 4. */
#include "internal.h"

#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

bool cmh__utf8_to_utf16(const char *s, size_t len, uint16_t **out,
                       size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint16_t *o = malloc((len + 1) * sizeof *o);
    if (!o)
        return false;
    size_t n = 0, i = 0;
    while (i < len) {
        uint32_t c = p[i];
        size_t need;
        uint32_t min;
        if (c < 0x80) {
            need = 0;
            min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1;
            c &= 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2;
            c &= 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3;
            c &= 0x07;
            min = 0x10000;
        } else {
            goto bad;
        }
        if (i + need >= len && need)
            goto bad;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                goto bad;
            c = c << 6 | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            goto bad;
        i += need + 1;
        if (c >= 0x10000) {
            c -= 0x10000;
            o[n++] = (uint16_t)(0xD800 | (c >> 10));
            o[n++] = (uint16_t)(0xDC00 | (c & 0x3FF));
        } else {
            o[n++] = (uint16_t)c;
        }
    }
    *out = o;
    *out_len = n;
    return true;
bad:
    free(o);
    return false;
}

char *cmh__utf16le_to_utf8(const unsigned char *s, size_t nbytes,
                          size_t *out_len)
{
    size_t units = nbytes / 2;
    char *o = malloc(units * 3 + 1);
    if (!o)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < units; i++) {
        uint32_t c = (uint32_t)s[2 * i] | (uint32_t)s[2 * i + 1] << 8;
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < units) {
            uint32_t d = (uint32_t)s[2 * i + 2] | (uint32_t)s[2 * i + 3] << 8;
            if (d >= 0xDC00 && d <= 0xDFFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                i++;
            } else {
                c = 0xFFFD;
            }
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD;
        }
        if (c < 0x80) {
            o[n++] = (char)c;
        } else if (c < 0x800) {
            o[n++] = (char)(0xC0 | c >> 6);
            o[n++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            o[n++] = (char)(0xE0 | c >> 12);
            o[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            o[n++] = (char)(0x80 | (c & 0x3F));
        } else {
            o[n++] = (char)(0xF0 | c >> 18);
            o[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
            o[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            o[n++] = (char)(0x80 | (c & 0x3F));
        }
    }
    o[n] = 0;
    *out_len = n;
    return o;
}

/* The spec fixes the case mapping as glibc's towupper/towlower in a UTF-8
 * locale (Unicode simple 1:1 mappings of the BMP). A private C.UTF-8 locale
 * object keeps that independent of the process's setlocale(). */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!utf8_locale)
        utf8_locale = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
}

static uint16_t map_unit(uint16_t c, bool upper)
{
    if (c < 0x80) {
        if (upper && c >= 'a' && c <= 'z')
            return (uint16_t)(c - 32);
        if (!upper && c >= 'A' && c <= 'Z')
            return (uint16_t)(c + 32);
        return c;
    }
    if (c >= 0xD800 && c <= 0xDFFF)
        return c; /* above U+FFFF: unchanged */
    pthread_once(&utf8_once, utf8_locale_init);
    if (!utf8_locale)
        return c;
    wint_t r = upper ? towupper_l(c, utf8_locale) : towlower_l(c, utf8_locale);
    return r <= 0xFFFF ? (uint16_t)r : c;
}

void cmh__utf16_upper(uint16_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i] = map_unit(s[i], true);
}

void cmh__utf16_lower(uint16_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i] = map_unit(s[i], false);
}

int cmh__utf16_cmp(const uint16_t *a, size_t an, const uint16_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

/* Is s (n bytes) one of the device names Windows reserves in every
 * folder, compared ASCII case-insensitively? CON PRN AUX NUL, COM0-COM9
 * and LPT0-LPT9, COM and LPT with a superscript digit 1-3 (U+00B9, U+00B2,
 * U+00B3, which Windows treats as digits here), CONIN$ and CONOUT$. */
static bool reserved_device(const char *s, size_t n)
{
    static const char *const plain[] = {"CON", "PRN", "AUX", "NUL",
                                        "CONIN$", "CONOUT$"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (n == strlen(plain[i]) && !strncasecmp(s, plain[i], n))
            return true;
    if (n < 4 || (strncasecmp(s, "COM", 3) && strncasecmp(s, "LPT", 3)))
        return false;
    if (n == 4 && s[3] >= '0' && s[3] <= '9')
        return true;
    /* superscript one, two, three: C2 B9, C2 B2, C2 B3 */
    return n == 5 && (unsigned char)s[3] == 0xC2 &&
           ((unsigned char)s[4] == 0xB9 || (unsigned char)s[4] == 0xB2 ||
            (unsigned char)s[4] == 0xB3);
}

const char *cmh__name_problem(const char *name)
{
    return cmh__name_problem_kind(name, false);
}

const char *cmh__name_problem_kind(const char *name, bool is_dir)
{
    size_t len = strlen(name);
    uint16_t *u;
    size_t ulen;
    if (!cmh__utf8_to_utf16(name, len, &u, &ulen))
        return "is not valid UTF-8";
    free(u);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7F)
            return "contains a control character";
        if (strchr("\\:*?\"<>|", c))
            return "contains one of \\ : * ? \" < > |";
    }
    if (len && (name[len - 1] == ' ' || name[len - 1] == '.'))
        return "ends in a space or a dot";
    /* Reserved device names, with or without an extension, any case. */
    size_t stem = strcspn(name, ".");
    /* Windows also ignores trailing spaces before the extension. */
    while (stem > 0 && name[stem - 1] == ' ')
        stem--;
    if (reserved_device(name, stem))
        return "is a reserved device name";
    /* NTFS holds 255 UTF-16 code units per name (not bytes: a CJK name of
     * 200 characters is fine); the mirror stores a file F as F.INI. */
    if (ulen + (is_dir ? 0 : 4) > 255)
        return is_dir ? "is too long (more than 255 UTF-16 units)"
                      : "is too long (more than 251 UTF-16 units, the "
                        "mirror adds .INI)";
    return NULL;
}
