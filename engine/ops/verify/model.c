/* verify's tables: contents by ID, FileLib entries by digest, and the
 * uses joining them. */
#include "vpriv.h"

/* ---- contents and entries ---- */

static int content_cmp(const void *a, const void *b)
{
    return strcmp(((const vcontent *)a)->id, ((const vcontent *)b)->id);
}

vcontent *cmh__v_find_content(cmh_verify *v, const char *id)
{
    vcontent key;
    if (strlen(id) >= sizeof key.id)
        return NULL;
    memcpy(key.id, id, strlen(id) + 1);
    vcontent *c = bsearch(&key, v->contents, v->ncontents,
                          sizeof *v->contents, content_cmp);
    /* a GUID in another case names the same content (section 2) */
    for (size_t i = 0; !c && i < v->ncontents; i++)
        if (cmh__cid_equal(v->contents[i].id, id))
            c = &v->contents[i];
    return c;
}

/* Append a content record; duplicates are merged by cmh__v_sort_contents. */
vcontent *cmh__v_add_content(cmh_verify *v, const char *id)
{
    if (v->ncontents == v->capcontents) {
        size_t nc = v->capcontents ? v->capcontents * 2 : 64;
        vcontent *n = realloc(v->contents, nc * sizeof *n);
        if (!n) {
            v->oom = true;
            return NULL;
        }
        v->contents = n;
        v->capcontents = nc;
    }
    vcontent *c = &v->contents[v->ncontents++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    char pk[CMH_PKGID_SIZE];
    if (cmh_content_id_parse(pk, NULL, id) == CMH_CONTENT_PACKAGE)
        memcpy(c->pkgid, pk, sizeof pk);
    return c;
}

void cmh__v_sort_contents(cmh_verify *v)
{
    if (v->ncontents > 1)
        qsort(v->contents, v->ncontents, sizeof *v->contents, content_cmp);
    size_t k = 0;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        if (k && !strcmp(v->contents[k - 1].id, c->id)) {
            vcontent *d = &v->contents[k - 1];
            d->has_ini |= c->has_ini;
            d->has_dir |= c->has_dir;
            d->listed |= c->listed;
            d->selected |= c->selected;
            if (!d->pkgid[0])
                memcpy(d->pkgid, c->pkgid, sizeof d->pkgid);
            if (!d->ini_suffix[0])
                memcpy(d->ini_suffix, c->ini_suffix, sizeof d->ini_suffix);
            continue;
        }
        if (k != i)
            v->contents[k] = *c;
        k++;
    }
    v->ncontents = k;
}

bool cmh__v_pkg_busy(const cmh_verify *v, const char *pkgid)
{
    for (size_t i = 0; i < v->nbusy; i++)
        if (!strcmp(v->busy[i], pkgid))
            return true;
    return false;
}

static int entry_cmp(const void *a, const void *b)
{
    const ventry *x = *(ventry *const *)a, *y = *(ventry *const *)b;
    return memcmp(x->sha, y->sha, CMH_SHA256_LEN);
}

ventry *cmh__v_find_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN])
{
    size_t lo = 0, hi = v->nentries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(v->entries[mid]->sha, sha, CMH_SHA256_LEN);
        if (c == 0)
            return v->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

ventry *cmh__v_new_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN])
{
    if (v->nentries == v->capentries) {
        size_t nc = v->capentries ? v->capentries * 2 : 256;
        ventry **n = realloc(v->entries, nc * sizeof *n);
        if (!n) {
            v->oom = true;
            return NULL;
        }
        v->entries = n;
        v->capentries = nc;
    }
    ventry *e = calloc(1, sizeof *e);
    if (!e) {
        v->oom = true;
        return NULL;
    }
    memcpy(e->sha, sha, CMH_SHA256_LEN);
    e->r_data = e->r_ini = e->r_sig = -1;
    v->entries[v->nentries++] = e;
    return e;
}

void cmh__v_sort_entries(cmh_verify *v)
{
    if (v->nentries > 1)
        qsort(v->entries, v->nentries, sizeof *v->entries, entry_cmp);
}

/* "FileLib/H4/HASH<suffix>" under root @p r */
char *cmh__v_entry_path(const cmh_verify *v, const ventry *e, int r,
                        const char *suffix)
{
    if (r < 0)
        r = 0;
    return xasprintf("%s/%.4s/%s%s", v->roots[r].display, EHEX(e), EHEX(e),
                     suffix);
}

bool cmh__v_entry_add_use(cmh_verify *v, ventry *e, uint32_t c, uint32_t f)
{
    vuse u = {c, f};
    if (!e->nuses) {
        e->use0 = u;
        e->nuses = 1;
        return true;
    }
    if (e->nuses - 1 == e->capmore) {
        uint32_t nc = e->capmore ? e->capmore * 2 : 2;
        vuse *n = nc > e->capmore ? realloc(e->more, nc * sizeof *n) : NULL;
        if (!n) {
            v->oom = true;
            return false;
        }
        e->more = n;
        e->capmore = nc;
    }
    e->more[e->nuses++ - 1] = u;
    return true;
}

/* The i-th use of @p e (i < nuses). */
vuse cmh__v_use_at(const ventry *e, size_t i)
{
    return i ? e->more[i - 1] : e->use0;
}

/* First content (in ID order) that uses @p e, or NULL. Uses are added in
 * content order, so that is cmh__v_use_at(e, 0). */
vcontent *cmh__v_first_user(cmh_verify *v, const ventry *e)
{
    return e->nuses ? &v->contents[cmh__v_use_at(e, 0).c] : NULL;
}

void cmh__v_attribute_users(cmh_verify *v, const ventry *e,
                            cmh_verify_code code)
{
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < e->nuses; i++) {
        if (cmh__v_use_at(e, i).c == last)
            continue;
        last = cmh__v_use_at(e, i).c;
        cmh__v_attribute(&v->contents[last], code);
    }
}

/* PkgLib INIs read again after the listings (classify_contents): each
 * package's INI is read and parsed once per pass, however many of its
 * contents are looked up (issue 11.9: once per content was quadratic). */
