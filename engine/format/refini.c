/* FileLib/<H4>/<HASH>.INI (contentlib.md sections 3.4, 9, 11): the one
 * reader and writer of reference INIs. cmhash's own are rewritten whole
 * (sorted, [File], CRLF, ASCII); a foreign one (ConfigMgr's: any section
 * name, UTF-16LE, arrival order) is only ever edited line by line in its
 * own encoding and line ending. */
#include "format.h"

#include <errno.h>

typedef struct reflist_parse {
    cmh_reflist *r;
    char section[128];
    bool have_section;
    char *why;
    size_t whylen;
} reflist_parse;

static int reflist_cb(void *payload, const char *section, const char *key,
                      const char *value, int lineno)
{
    reflist_parse *p = payload;
    (void)value;
    if (!p->have_section) {
        snprintf(p->section, sizeof p->section, "%s", section);
        p->have_section = true;
    } else if (strcasecmp(p->section, section) != 0) {
        snprintf(p->why, p->whylen, "line %d: more than one section",
                 lineno);
        return 1;
    }
    if (!section[0]) {
        snprintf(p->why, p->whylen, "line %d: key outside a section",
                 lineno);
        return 1;
    }
    if (cmh_content_id_parse(NULL, NULL, key) == CMH_CONTENT_INVALID) {
        snprintf(p->why, p->whylen, "line %d: bad content ID", lineno);
        return 1;
    }
    if (!cmh__reflist_add(p->r, key)) {
        snprintf(p->why, p->whylen, "out of memory");
        return 1;
    }
    return 0;
}

bool cmh__reflist_parse(cmh_reflist *r, const char *data, size_t len,
                       char *why, size_t whylen)
{
    reflist_parse p = {.r = r, .why = why, .whylen = whylen};
    return cmh__ini_parse(data, len, reflist_cb, &p, why, whylen);
}

void cmh__reflist_write(const cmh_reflist *r, cmh_buf *b)
{
    cmh__buf_adds(b, "[File]\r\n");
    for (size_t i = 0; i < r->n; i++)
        cmh__buf_addf(b, "%s=\r\n", r->ids[i]);
}

bool cmh__refini_is_cmhash(const char *data, size_t len,
                          const cmh_reflist *r)
{
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__reflist_write(r, &b);
    bool same = !b.oom && b.len == len && !memcmp(b.data, data, len);
    cmh__buf_free(&b);
    return same;
}

/* ---- line edits in the file's own encoding ---- */

typedef struct enc {
    bool utf16;      /* UTF-16LE with BOM */
    size_t unit;     /* 1 or 2 bytes per code unit */
    bool crlf;       /* line ending of the file (CRLF unless only LF seen) */
} enc;

static unsigned unit_at(const enc *e, const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return e->utf16 ? (unsigned)(u[0] | u[1] << 8) : u[0];
}

static void add_unit(const enc *e, cmh_buf *b, unsigned c)
{
    unsigned char u[2] = {(unsigned char)(c & 0xFF), (unsigned char)(c >> 8)};
    cmh__buf_add(b, u, e->unit);
}

static void detect(enc *e, const char *data, size_t len)
{
    e->utf16 = len >= 2 && (unsigned char)data[0] == 0xFF &&
               (unsigned char)data[1] == 0xFE;
    e->unit = e->utf16 ? 2 : 1;
    bool lf = false, crlf = false;
    for (size_t i = e->unit; i + e->unit <= len; i += e->unit)
        if (unit_at(e, data + i) == '\n') {
            if (unit_at(e, data + i - e->unit) == '\r')
                crlf = true;
            else
                lf = true;
        }
    e->crlf = crlf || !lf;
}

/* Key of the line [b, end) (units), as ASCII, into @p key; "" if none. */
static void line_key(const enc *e, const char *b, const char *end, char *key,
                     size_t size)
{
    size_t n = 0;
    const char *p = b;
    while (p < end && (unit_at(e, p) == ' ' || unit_at(e, p) == '\t'))
        p += e->unit;
    for (; p < end && n + 1 < size; p += e->unit) {
        unsigned c = unit_at(e, p);
        if (c == '=' || c >= 0x80)
            break;
        key[n++] = (char)c;
    }
    while (n && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        n--;
    key[n] = 0;
    if (p >= end || unit_at(e, p) != '=')
        key[0] = 0;
}

int cmh__refini_edit(const char *data, size_t len, const char *add,
                    const char *drop, cmh_buf *out)
{
    enc e;
    detect(&e, data, len);
    if (e.utf16 && len % 2)
        return EINVAL;
    size_t start = e.utf16 ? 2 : (len >= 3 && !memcmp(data, "\xEF\xBB\xBF",
                                                       3))
                                     ? 3
                                     : 0;
    cmh__buf_add(out, data, start);
    const char *p = data + start, *end = data + len;
    while (p < end) {
        const char *q = p;
        while (q < end && unit_at(&e, q) != '\n')
            q += e.unit;
        const char *next = q < end ? q + e.unit : end;
        char key[80];
        line_key(&e, p, q, key, sizeof key);
        if (!(drop && key[0] && cmh__cid_equal(key, drop)))
            cmh__buf_add(out, p, (size_t)(next - p));
        p = next;
    }
    if (add) {
        /* a last line without its line ending gets one first */
        if (out->len > start &&
            unit_at(&e, out->data + out->len - e.unit) != '\n') {
            if (e.crlf)
                add_unit(&e, out, '\r');
            add_unit(&e, out, '\n');
        }
        for (const char *s = add; *s; s++)
            add_unit(&e, out, (unsigned char)*s);
        add_unit(&e, out, '=');
        if (e.crlf)
            add_unit(&e, out, '\r');
        add_unit(&e, out, '\n');
    }
    return out->oom ? ENOMEM : 0;
}
