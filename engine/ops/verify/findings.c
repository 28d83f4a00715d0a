/* verify's findings: the codes table, per-content finding lists made by
 * workers, attribution to contents, and emit()/emitf() to the caller. */
#include "vpriv.h"

#include "grow.h"

static const struct {
    const char *name;
    cmh_severity sev;
} g_codes[CMH_VF_NCODES] = {
    [CMH_VF_LIB_LAYOUT] = {"LIB_LAYOUT", CMH_SEV_ERROR},
    [CMH_VF_PKG_INI_BAD] = {"PKG_INI_BAD", CMH_SEV_ERROR},
    [CMH_VF_PKG_CONTENT_MISSING] = {"PKG_CONTENT_MISSING", CMH_SEV_ERROR},
    [CMH_VF_CONTENT_INI_BAD] = {"CONTENT_INI_BAD", CMH_SEV_ERROR},
    [CMH_VF_CONTENT_HASH_MISMATCH] = {"CONTENT_HASH_MISMATCH",
                                      CMH_SEV_ERROR},
    [CMH_VF_FILE_INI_BAD] = {"FILE_INI_BAD", CMH_SEV_ERROR},
    [CMH_VF_FILE_MISSING] = {"FILE_MISSING", CMH_SEV_ERROR},
    [CMH_VF_FILE_SIZE_MISMATCH] = {"FILE_SIZE_MISMATCH", CMH_SEV_ERROR},
    [CMH_VF_FILE_HASH_MISMATCH] = {"FILE_HASH_MISMATCH", CMH_SEV_ERROR},
    [CMH_VF_FILE_UNREADABLE] = {"FILE_UNREADABLE", CMH_SEV_ERROR},
    [CMH_VF_REF_MISSING] = {"REF_MISSING", CMH_SEV_ERROR},
    [CMH_VF_REF_DANGLING] = {"REF_DANGLING", CMH_SEV_WARNING},
    [CMH_VF_SIG_MISSING] = {"SIG_MISSING", CMH_SEV_WARNING},
    [CMH_VF_SIG_BAD] = {"SIG_BAD", CMH_SEV_ERROR},
    [CMH_VF_SIG_FOREIGN] = {"SIG_FOREIGN", CMH_SEV_INFO},
    [CMH_VF_SIG_HASH_MISMATCH] = {"SIG_HASH_MISMATCH", CMH_SEV_ERROR},
    [CMH_VF_ORPHAN_FILE] = {"ORPHAN_FILE", CMH_SEV_WARNING},
    [CMH_VF_ORPHAN_CONTENT] = {"ORPHAN_CONTENT", CMH_SEV_WARNING},
    [CMH_VF_STRAY] = {"STRAY", CMH_SEV_WARNING},
    [CMH_VF_BUSY] = {"BUSY", CMH_SEV_INFO},
    [CMH_VF_INI_NONCANONICAL] = {"INI_NONCANONICAL", CMH_SEV_WARNING},
};

const char *cmh_verify_code_name(cmh_verify_code code)
{
    if ((unsigned)code >= CMH_VF_NCODES)
        return "?";
    return g_codes[code].name;
}

cmh_severity cmh_verify_code_severity(cmh_verify_code code)
{
    if ((unsigned)code >= CMH_VF_NCODES)
        return CMH_SEV_ERROR;
    return g_codes[code].sev;
}

const char *cmh_severity_name(cmh_severity sev)
{
    switch (sev) {
    case CMH_SEV_INFO: return "info";
    case CMH_SEV_WARNING: return "warning";
    case CMH_SEV_ERROR: return "error";
    }
    return "?";
}

/* ---- findings ---- */

void cmh__v_vfinds_free(vfinds *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].path);
        free(f->v[i].expected);
        free(f->v[i].actual);
        free(f->v[i].detail);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

void cmh__v_vfinds_add(vfinds *f, cmh_verify_code code, double age,
                       const char *expected, const char *actual,
                       char *path_owned, const char *fmt, ...)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        vfind *nv = realloc(f->v, nc * sizeof *nv);
        if (!nv) {
            f->oom = true;
            free(path_owned);
            return;
        }
        f->v = nv;
        f->cap = nc;
    }
    vfind *x = &f->v[f->n++];
    x->code = code;
    x->age = age;
    x->path = path_owned;
    x->expected = cmh__strdup(expected ? expected : "");
    x->actual = cmh__strdup(actual ? actual : "");
    va_list ap;
    va_start(ap, fmt);
    x->detail = xvasprintf(fmt, ap);
    va_end(ap);
    if (!x->path || !x->expected || !x->actual || !x->detail)
        f->oom = true;
}

/* Count a finding against a content's status. */
void cmh__v_attribute(vcontent *c, cmh_verify_code code)
{
    cmh_severity sev = g_codes[code].sev;
    if (sev == CMH_SEV_ERROR)
        c->errors++;
    else if (sev == CMH_SEV_WARNING)
        c->warnings++;
    switch (code) {
    case CMH_VF_CONTENT_HASH_MISMATCH:
    case CMH_VF_FILE_HASH_MISMATCH:
    case CMH_VF_FILE_SIZE_MISMATCH:
    case CMH_VF_SIG_HASH_MISMATCH:
    case CMH_VF_SIG_BAD:
        c->hash_invalid = true;
        break;
    case CMH_VF_PKG_CONTENT_MISSING:
    case CMH_VF_CONTENT_INI_BAD:
    case CMH_VF_FILE_INI_BAD:
    case CMH_VF_FILE_MISSING:
    case CMH_VF_FILE_UNREADABLE:
    case CMH_VF_REF_MISSING:
        c->failed = true;
        break;
    default:
        break;
    }
}

/* The orphan a finding names, if it is one (cmh_orphan_kind), else 0. */
static cmh_orphan_kind orphan_kind(cmh_verify_code code, const vfield *w)
{
    switch (code) {
    case CMH_VF_ORPHAN_CONTENT:
        return CMH_ORPHAN_CONTENT;
    case CMH_VF_ORPHAN_FILE:
        return CMH_ORPHAN_FILE;
    case CMH_VF_STRAY:
        if (w->aged)
            return CMH_ORPHAN_TEMP;
        return w->actual && !strcmp(w->actual, "duplicate")
                   ? CMH_ORPHAN_DUPLICATE
                   : 0;
    default:
        return 0;
    }
}

/* Keep an orphan for cmh_verify_next_orphan (caller's thread). */
static void keep_orphan(cmh_verify *v, cmh_orphan_kind kind, const vfield *w)
{
    if (v->orphans_oom)
        return;
    if (!cmh__grow(&v->orphans, &v->caporphans, v->norphans + 1,
                   sizeof *v->orphans, 16)) {
        v->orphans_oom = true;
        return;
    }
    vorphan *o = &v->orphans[v->norphans];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->age = w->aged ? w->age : -1;
    if (kind == CMH_ORPHAN_CONTENT && w->cid)
        snprintf(o->cid, sizeof o->cid, "%s", w->cid);
    if ((kind == CMH_ORPHAN_FILE || kind == CMH_ORPHAN_DUPLICATE) &&
        v->emit_sha)
        cmh_hex_upper(o->hash, v->emit_sha, CMH_SHA256_LEN);
    if (!(o->path = cmh__strdup(w->path ? w->path : ""))) {
        v->orphans_oom = true;
        return;
    }
    v->norphans++;
}

void cmh__v_orphans_free(cmh_verify *v)
{
    for (size_t i = 0; i < v->norphans; i++)
        free(v->orphans[i].path);
    free(v->orphans);
    v->orphans = NULL;
    v->norphans = v->caporphans = 0;
    v->orphans_oom = false;
}

int cmh_verify_next_orphan(cmh_verify_orphan *out, const cmh_verify *v,
                           size_t *pos)
{
    if (!v || !pos || *pos >= v->norphans)
        return 0;
    const vorphan *o = &v->orphans[(*pos)++];
    out->kind = o->kind;
    out->path = o->path;
    out->content_id = o->cid;
    out->hash = o->hash;
    out->age_seconds = o->age;
    return 1;
}

/* Deliver one finding (caller's thread). */
void cmh__v_emit(cmh_verify *v, cmh_verify_code code, vfield w,
                 const char *detail)
{
    v->sum.findings[code]++;
    cmh_severity sev = v->info_override ? CMH_SEV_INFO : g_codes[code].sev;
    switch (sev) {
    case CMH_SEV_ERROR: v->sum.errors++; break;
    case CMH_SEV_WARNING: v->sum.warnings++; break;
    case CMH_SEV_INFO: v->sum.infos++; break;
    }
    cmh_orphan_kind ok = orphan_kind(code, &w);
    if (ok && !v->canceled)
        keep_orphan(v, ok, &w);
    if (v->canceled || !v->o.finding.cb)
        return;
    cmh_verify_finding f;
    f.code = code;
    f.severity = sev;
    f.code_name = g_codes[code].name;
    f.content_id = w.cid ? w.cid : "";
    f.path = w.path ? w.path : "";
    f.expected = w.expected ? w.expected : "";
    f.actual = w.actual ? w.actual : "";
    f.detail = detail ? detail : "";
    f.age_seconds = w.aged ? w.age : -1;
    char hash[CMH_HEX_SIZE] = "";
    if (v->emit_sha)
        cmh_hex_upper(hash, v->emit_sha, CMH_SHA256_LEN);
    f.hash = hash;
    if (v->o.finding.cb(&f, v->o.finding.payload)) {
        v->canceled = true;
        atomic_store(&v->stop, true);
    }
}

void cmh__v_emitf(cmh_verify *v, cmh_verify_code code, vfield w,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = xvasprintf(fmt, ap);
    va_end(ap);
    if (!d)
        v->oom = true;
    cmh__v_emit(v, code, w, d ? d : "");
    free(d);
}

/* ---- per content: its findings from the index pass, its status ---- */

void cmh__v_emit_content_findings(cmh_verify *v, vcontent *c)
{
    if (c->fnd.oom)
        v->oom = true;
    /* a mirror that a snapshot started meanwhile retired (deleted) */
    bool errors = false;
    for (size_t i = 0; i < c->fnd.n && !errors; i++)
        errors = cmh_verify_code_severity(c->fnd.v[i].code) == CMH_SEV_ERROR;
    if (errors && cmh__v_content_retired(v, c, true)) {
        cmh__v_vfinds_free(&c->fnd);
        return;
    }
    for (size_t i = 0; i < c->fnd.n; i++) {
        vfind *f = &c->fnd.v[i];
        cmh__v_attribute(c, f->code);
        cmh__v_emit(v, f->code,
                    VF(.cid = c->id, .path = f->path ? f->path : "",
                       .expected = f->expected, .actual = f->actual,
                       .age = f->age, .aged = true),
                    f->detail);
    }
    cmh__v_vfinds_free(&c->fnd);
}

void cmh__v_content_status(cmh_verify *v, vcontent *c)
{
    cmh_verify_content s;
    memset(&s, 0, sizeof s);
    char msg[256];
    s.content_id = c->id;
    s.package_id = c->pkgid;
    s.files = c->nfiles;
    s.errors = c->errors;
    s.warnings = c->warnings;
    uint64_t hashed = 0, bytes = 0;
    bool prev_bad = false;
    for (size_t i = 0; i < c->nfiles; i++) {
        ventry *e = c->files[i].entry;
        bytes += c->files[i].size;
        if (e && (e->hashed || e->prev_done))
            hashed++;
        if (e && e->prev_bad && !e->hashed)
            prev_bad = true;
    }
    s.files_hashed = hashed;
    s.bytes = bytes;
    const char *pk = c->pkgid[0] ? c->pkgid : c->id;
    uint64_t *slot;
    if (c->busy) {
        s.status = CMH_CSTATUS_SKIPPED;
        s.status_name = "skipped";
        snprintf(msg, sizeof msg,
                 "Package %s is being written by a snapshot; content %s was "
                 "not checked", pk, c->id);
        slot = &v->sum.contents_skipped;
    } else if (c->failed) {
        s.status = CMH_CSTATUS_FAILED;
        s.status_name = "failed";
        snprintf(msg, sizeof msg,
                 "Failed to validate package %s (content %s): files are "
                 "missing or unreadable, or their INIs are broken", pk,
                 c->id);
        slot = &v->sum.contents_failed;
    } else if (c->hash_invalid || prev_bad) {
        s.status = CMH_CSTATUS_HASH_INVALID;
        s.status_name = "hash_invalid";
        snprintf(msg, sizeof msg,
                 "The hash of package %s (content %s) is invalid%s", pk,
                 c->id, prev_bad && !c->hash_invalid
                            ? " (a file found bad earlier in this cycle)"
                            : "");
        slot = &v->sum.contents_hash_invalid;
    } else if (hashed < c->nfiles) {
        s.status = CMH_CSTATUS_INCOMPLETE;
        s.status_name = "incomplete";
        snprintf(msg, sizeof msg,
                 "Content %s of package %s: %llu of %zu files hashed so "
                 "far in this cycle, no problem found", c->id, pk,
                 (unsigned long long)hashed, c->nfiles);
        slot = &v->sum.contents_incomplete;
    } else {
        s.status = CMH_CSTATUS_VALIDATED;
        s.status_name = "validated";
        snprintf(msg, sizeof msg,
                 "Package %s (content %s) has been verified successfully",
                 pk, c->id);
        slot = &v->sum.contents_validated;
    }
    s.message = msg;
    (*slot)++;
    if (!c->busy)
        v->sum.contents++;
    if (v->o.content.cb && !v->canceled &&
        v->o.content.cb(&s, v->o.content.payload)) {
        v->canceled = true;
        atomic_store(&v->stop, true);
    }
}
