/* PkgLib/<PackageID>.INI (contentlib.md section 3.1): the one reader and
 * the one writer. Lenient per section 9; every entry that does not fit the
 * grammar is a per-line problem the caller reports (verify) or refuses
 * (writers), never silently taken. */
#include "format.h"
#include "grow.h"

#include <errno.h>

typedef struct pparse {
    cmh_pkgini *p;
} pparse;

static void add_bad(cmh_pkgini *p, int line, const char *key,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add_bad(cmh_pkgini *p, int line, const char *key,
                    const char *fmt, ...)
{
    cmh_pkgini_bad *nb = realloc(p->bad, (p->nbad + 1) * sizeof *nb);
    if (!nb) {
        p->oom = true;
        return;
    }
    p->bad = nb;
    cmh_pkgini_bad *b = &p->bad[p->nbad++];
    b->line = line;
    snprintf(b->key, sizeof b->key, "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof b->why, fmt, ap);
    va_end(ap);
}

static bool push_id(char (**v)[64], size_t *n, size_t *cap, cmh_pkgini *p,
                    const char *id)
{
    if (!cmh__grow(v, cap, *n + 1, sizeof **v, 16)) {
        p->oom = true;
        return false;
    }
    /* at most 63 bytes, as snprintf(.., 64, "%s") did; memcpy because
     * GCC -O3 flags that truncation (-Wformat-truncation) */
    size_t len = strnlen(id, 63);
    memcpy((*v)[*n], id, len);
    (*v)[(*n)++][len] = 0;
    return true;
}

/* A [Packages] key or a Keep entry: valid content ID, and a package
 * content must be one of this package. */
static bool check_id(cmh_pkgini *p, int line, const char *id, bool keep)
{
    char pk[CMH_PKGID_SIZE];
    cmh_content_kind k = strlen(id) < 64 ? cmh_content_id_parse(pk, NULL, id)
                                         : CMH_CONTENT_INVALID;
    if (k == CMH_CONTENT_INVALID) {
        add_bad(p, line, id, "line %d: '%.80s' is not a content ID "
                "(PackageID.n, Content_<guid>.n or a GUID); ignored", line,
                id);
        return false;
    }
    if (keep && k != CMH_CONTENT_PACKAGE) {
        add_bad(p, line, id, "line %d: kept content '%s' is not a version "
                "of %s; ignored", line, id, p->pkgid);
        return false;
    }
    if (k == CMH_CONTENT_PACKAGE && strcmp(pk, p->pkgid)) {
        add_bad(p, line, id, "line %d: %s %s belongs to package %s, not "
                "%s; ignored", line, keep ? "kept content" : "content", id,
                pk, p->pkgid);
        return false;
    }
    return true;
}

static void parse_keep(cmh_pkgini *p, int line, const char *value)
{
    const char *s = value;
    while (*s) {
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *b = s, *t = e;
        while (b < t && (*b == ' ' || *b == '\t'))
            b++;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > b) {
            char id[80];
            snprintf(id, sizeof id, "%.*s", (int)(t - b), b);
            if (check_id(p, line, id, true))
                push_id(&p->keep, &p->nkeep, &p->capkeep, p, id);
        }
        s = *e ? e + 1 : e;
    }
}

static int pkg_cb(void *payload, const char *section, const char *key,
                  const char *value, int line)
{
    cmh_pkgini *p = ((pparse *)payload)->p;
    if (!strcasecmp(section, "Packages")) {
        p->have_packages = true;
        if (check_id(p, line, key, false))
            push_id(&p->ids, &p->nids, &p->capids, p, key);
    } else if (!strcasecmp(section, "Info") && !strcasecmp(key, "Version")) {
        if (cmh__version_parse(value, &p->version))
            p->have_version = true;
        else
            add_bad(p, line, value, "line %d: Version '%.40s' is not a "
                    "version number (1..999999999, no sign or padding)",
                    line, value);
    } else if (!strcasecmp(section, "cmhash") && !strcasecmp(key, "Keep")) {
        parse_keep(p, line, value);
    }
    return p->oom;
}

static int sorted_cmp(const void *a, const void *b)
{
    return cmh__cid_cmp(a, b);
}

bool cmh__pkgini_parse(cmh_pkgini *out, const char *pkgid, const char *data,
                      size_t len, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->pkgid, sizeof out->pkgid, "%s", pkgid);
    pparse pp = {out};
    if (!cmh__ini_parse(data, len, pkg_cb, &pp, why, whylen))
        return false;
    if (!out->have_packages)
        add_bad(out, 0, "[Packages]", "no [Packages] section");
    size_t n = out->nids + out->nkeep;
    if (n) {
        out->sorted = malloc(n * sizeof *out->sorted);
        if (!out->sorted) {
            out->oom = true;
            snprintf(why, whylen, "out of memory");
            return false;
        }
        if (out->nids) /* (memcpy from NULL is undefined, even of 0) */
            memcpy(out->sorted, out->ids, out->nids * sizeof *out->ids);
        if (out->nkeep)
            memcpy(out->sorted + out->nids, out->keep,
                   out->nkeep * sizeof *out->keep);
        qsort(out->sorted, n, sizeof *out->sorted, sorted_cmp);
        out->nsorted = n;
    }
    if (out->oom) {
        snprintf(why, whylen, "out of memory");
        return false;
    }
    return true;
}

int cmh__pkgini_read(int pkglib_fd, const char *pkgid, cmh_pkgini *out,
                    char *why, size_t whylen)
{
    char name[32], *data;
    size_t len;
    memset(out, 0, sizeof *out);
    snprintf(name, sizeof name, "%s.INI", pkgid);
    int e = cmh__read_small_file(pkglib_fd, name, CMH_INI_MAX_FILE, &data,
                                &len);
    if (e)
        return e;
    bool ok = cmh__pkgini_parse(out, pkgid, data, len, why, whylen);
    free(data);
    if (!ok) {
        e = out->oom ? ENOMEM : EINVAL;
        cmh__pkgini_free(out);
    }
    return e;
}

void cmh__pkgini_free(cmh_pkgini *p)
{
    free(p->ids);
    free(p->keep);
    free(p->bad);
    free(p->sorted);
    memset(p, 0, sizeof *p);
}

bool cmh__pkgini_lists(const cmh_pkgini *p, const char *cid)
{
    return p->nsorted &&
           bsearch(cid, p->sorted, p->nsorted, sizeof *p->sorted,
                   sorted_cmp) != NULL;
}

uint32_t cmh__pkgini_current(const cmh_pkgini *p, char cid[64])
{
    uint32_t best = 0;
    cid[0] = 0;
    for (size_t i = 0; i < p->nids; i++) {
        uint32_t v = 0;
        if (cmh_content_id_parse(NULL, &v, p->ids[i]) == CMH_CONTENT_PACKAGE &&
            v > best) {
            best = v;
            snprintf(cid, 64, "%s", p->ids[i]);
        }
    }
    if (!cid[0] && p->nids)
        snprintf(cid, 64, "%s", p->ids[0]);
    if (p->have_version && p->version > best)
        best = p->version;
    return best;
}

void cmh__pkgini_write(cmh_buf *b, const char *pkgid, uint32_t version,
                      const char (*keep)[64], size_t nkeep)
{
    cmh__buf_addf(b, "[Packages]\r\n%s.%u=\r\n[Info]\r\nVersion=%u\r\n",
                 pkgid, version, version);
    if (!nkeep)
        return;
    /* docs/FORMAT.md "Kept versions" */
    cmh__buf_adds(b, "[cmhash]\r\nKeep=");
    for (size_t i = 0; i < nkeep; i++)
        cmh__buf_addf(b, "%s%s", i ? "," : "", keep[i]);
    cmh__buf_adds(b, "\r\n");
}
