/* verify's races with a library in use: packages re-read (pkg cache),
 * contents retired or appeared during the run, contents skipped because
 * they changed. */
#include "vpriv.h"


void cmh__v_pkg_cache_free(pkg_cache *pc)
{
    for (size_t i = 0; i < pc->n; i++)
        cmh__pkgini_free(&pc->v[i].ini);
    free(pc->v);
    memset(pc, 0, sizeof *pc);
}

/* Contents are sorted by ID, so one package's contents are adjacent: the
 * last entry is the one asked for almost always. */
static pkg_reread *pkg_cache_get(cmh_verify *v, pkg_cache *pc,
                                 const char *pkgid)
{
    for (size_t i = pc->n; i-- > 0;)
        if (!strcmp(pc->v[i].pkgid, pkgid))
            return &pc->v[i];
    if (pc->n == pc->cap) {
        size_t nc = pc->cap ? pc->cap * 2 : 8;
        pkg_reread *nv = realloc(pc->v, nc * sizeof *nv);
        if (!nv) {
            v->oom = true;
            return NULL;
        }
        pc->v = nv;
        pc->cap = nc;
    }
    pkg_reread *r = &pc->v[pc->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->pkgid, pkgid, CMH_PKGID_SIZE);
    char why[64];
    r->err = cmh__pkgini_read(v->lib.pkglib_fd, pkgid, &r->ini, why,
                             sizeof why);
    return r;
}

/* Does PkgLib/<pkgid>.INI list @p id now? Gone: no. Unreadable or
 * damaged: @p dflt (that is reported on its own). */
bool cmh__v_pkg_lists_now(cmh_verify *v, pkg_cache *pc, const char *pkgid,
                          const char *id, bool dflt)
{
    pkg_reread *r = pkg_cache_get(v, pc, pkgid);
    if (!r || r->err)
        return r && r->err == ENOENT ? false : dflt;
    return cmh__pkgini_lists(&r->ini, id);
}

/* The package's lock is held now: a snapshot that started after the probe. */
bool cmh__v_pkg_locked_now(cmh_verify *v, const char *pkgid)
{
    return cmh__library_pkg_busy(&v->lib, pkgid);
}

/* Skip content @p c like a BUSY one: a snapshot that started after the
 * lock probe changed it (@p what: "was retired", ...). One BUSY finding. */
void cmh__v_skip_changed(cmh_verify *v, vcontent *c, const char *what)
{
    c->busy = true;
    v->any_busy = true;
    const char *pk = c->pkgid[0] ? c->pkgid : c->id;
    char *path = c->pkgid[0] ? xasprintf(CMH_STATE_DIR "/%s.lock", c->pkgid)
                             : xasprintf("DataLib/%s", c->id);
    cmh__v_emitf(
        v, CMH_VF_BUSY, VF(.cid = c->id, .path = path ? path : ""),
        "package %s was written by a snapshot that started during this "
        "run; content %s %s, so it is not checked",
        pk, c->id, what);
    free(path);
}

/* Has a snapshot that took the package lock after our probe retired
 * content @p c meanwhile, or is it retiring it now (spec section 7, step
 * 6)? Its package lock is held now, or its DataLib INI (or, for a content
 * listed without one, its folder) is gone. Asked only on a finding's path,
 * never for a clean entry. On the first yes the content is skipped like a
 * BUSY one and one BUSY finding says why. With @p cache a no is remembered
 * for the current generation (v->retire_gen): every observation the
 * generation's findings rest on was made before its first question, so a
 * retirement that starts later cannot explain them. */
bool cmh__v_content_retired(cmh_verify *v, vcontent *c, bool cache)
{
    if (c->busy)
        return true;
    if (cache && c->alive_gen == v->retire_gen)
        return false;
    char name[CMH_CID_SIZE + 8];
    bool busy = c->pkgid[0] && cmh__v_pkg_locked_now(v, c->pkgid);
    bool gone = false;
    if (!busy && (c->has_ini || c->has_dir)) {
        struct stat sb;
        if (c->has_ini)
            snprintf(name, sizeof name, "%s%s", c->id,
                     c->ini_suffix[0] ? c->ini_suffix : ".INI");
        else
            snprintf(name, sizeof name, "%s", c->id);
        gone = fstatat(v->lib.datalib_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0
               && errno == ENOENT;
    }
    if (!busy && !gone) {
        if (cache)
            c->alive_gen = v->retire_gen;
        return false;
    }
    cmh__v_skip_changed(v, c, busy ? "is being retired" : "was retired");
    return true;
}

/* Has a snapshot retired (or is it retiring) every content that uses
 * @p e? Asked only for a FileLib entry with a part gone. */
bool cmh__v_all_uses_retired(cmh_verify *v, const ventry *e, bool cache)
{
    if (!e->nuses)
        return false;
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < e->nuses; i++) {
        if (cmh__v_use_at(e, i).c == last)
            continue;
        last = cmh__v_use_at(e, i).c;
        if (!cmh__v_content_retired(v, &v->contents[last], cache))
            return false;
    }
    return true;
}

/* A content the listing did not see, named by a reference INI: did it
 * appear during the run (a snapshot that started after the listing holds
 * its package lock, or DataLib has it now)? */
bool cmh__v_content_appeared(cmh_verify *v, const char *id)
{
    char pk[CMH_PKGID_SIZE], nm[CMH_CID_SIZE + 8];
    if (cmh_content_id_parse(pk, NULL, id) == CMH_CONTENT_PACKAGE &&
        cmh__v_pkg_locked_now(v, pk))
        return true;
    struct stat sb;
    snprintf(nm, sizeof nm, "%s.INI", id);
    return fstatat(v->lib.datalib_fd, nm, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
           fstatat(v->lib.datalib_fd, id, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

void cmh__v_emit_entry(cmh_verify *v, ventry *e, cmh_verify_code code,
                       vfield w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = xvasprintf(fmt, ap);
    va_end(ap);
    vcontent *c = cmh__v_first_user(v, e);
    cmh__v_attribute_users(v, e, code);
    v->emit_sha = e->sha;
    w.cid = c ? c->id : "";
    w.aged = false;
    cmh__v_emit(v, code, w, d ? d : "");
    v->emit_sha = NULL;
    free(d);
}
