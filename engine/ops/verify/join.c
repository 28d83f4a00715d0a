/* verify's join (step 3, caller's thread): each entry against the
 * contents that use it, .SIG checks, signature hashes. */
#include "vpriv.h"

/* ---- joining the two sides (caller's thread) ---- */

/* No .SIG next to the entry: SIG_MISSING for a data file in use, counted
 * instead on a ConfigMgr-written library (the first one's *path kept,
 * *path then NULL). */
static void sig_missing(cmh_verify *v, ventry *e, char **path)
{
    if (e->r_data >= 0 && e->nuses && v->foreign_lib) {
        /* legitimate on a ConfigMgr-written library: counted */
        if (!v->nsig_missing++) {
            v->first_sig_missing = *path;
            *path = NULL;
        }
    } else if (e->r_data >= 0 && e->nuses) {
        cmh__v_emit_entry(v, e, CMH_VF_SIG_MISSING, VF(.path = *path),
                          "no signature next to the FileLib file");
    }
}

/* The .SIG could not be read (reported), or is not librsync's (counted,
 * the first one's *path kept, *path then NULL): false. */
static bool sig_readable(cmh_verify *v, ventry *e, char **path)
{
    if (e->sig_err) {
        e->sig_bad = true;
        cmh__v_emit_entry(v, e, CMH_VF_FILE_UNREADABLE, VF(.path = *path),
                          "cannot read the signature: %s",
                          strerror(e->sig_err));
        return false;
    }
    if (e->sig_foreign) {
        if (!v->nsig_foreign++) {
            v->first_sig_foreign = *path;
            *path = NULL;
        }
        return false;
    }
    return true;
}

/* A header shorter than 12 bytes or with impossible parameters is
 * SIG_BAD (@p act: the .SIG's length): false. */
static bool sig_header_ok(cmh_verify *v, ventry *e, const char *path,
                          const char *act)
{
    if (!e->sig_hdr) {
        e->sig_bad = true;
        cmh__v_emit_entry(
            v, e, CMH_VF_SIG_BAD,
            VF(.path = path, .expected = ">= 12 bytes", .actual = act),
            "truncated signature: shorter than its header");
        return false;
    }
    if (!cmh__sig_params_ok(e->sig_magic, e->sig_bl, e->sig_sl)) {
        e->sig_bad = true;
        char hdr[64];
        snprintf(hdr, sizeof hdr, "block %u, strong %u", e->sig_bl,
                 e->sig_sl);
        cmh__v_emit_entry(v, e, CMH_VF_SIG_BAD, VF(.path = path, .actual = hdr),
                          "signature header with impossible parameters");
        return false;
    }
    return true;
}

/* The signature must fit the bytes it describes: the file as it is, or as
 * the file INIs say it should be (a truncated data file keeps a good
 * signature); else SIG_BAD (@p act: the .SIG's length). */
static void sig_length_check(cmh_verify *v, ventry *e, const char *path,
                             const char *act)
{
    bool fits = e->r_data >= 0 && !e->data_err &&
                cmh__sig_expected_len(e->sig_bl, e->sig_sl, e->data_size) ==
                    e->sig_len;
    for (size_t i = 0; i < e->nuses && !fits; i++) {
        vfile *f =
            &v->contents[cmh__v_use_at(e, i).c].files[cmh__v_use_at(e, i).f];
        fits = cmh__sig_expected_len(e->sig_bl, e->sig_sl, f->size) ==
               e->sig_len;
    }
    if (!fits && (e->nuses || e->r_data >= 0)) {
        uint64_t size = e->r_data >= 0 && !e->data_err
                            ? e->data_size
                            : v->contents[cmh__v_use_at(e, 0).c]
                                  .files[cmh__v_use_at(e, 0).f].size;
        char exp[32];
        snprintf(exp, sizeof exp, "%llu",
                 (unsigned long long)cmh__sig_expected_len(
                     e->sig_bl, e->sig_sl, size));
        e->sig_bad = true;
        cmh__v_emit_entry(v, e, CMH_VF_SIG_BAD,
                          VF(.path = path, .expected = exp, .actual = act),
                          "signature length does not match a %llu-byte file "
                          "(truncated or wrong block count)",
                          (unsigned long long)size);
    }
}

/* An entry's .SIG against its data file and the file INIs that use it */
static void check_sig(cmh_verify *v, ventry *e)
{
    char *path = cmh__v_entry_path(v, e, e->r_sig, ".SIG");
    if (!path) {
        v->oom = true;
        return;
    }
    if (e->r_sig < 0) {
        sig_missing(v, e, &path);
    } else if (sig_readable(v, e, &path)) {
        char act[32];
        snprintf(act, sizeof act, "%llu", (unsigned long long)e->sig_len);
        if (sig_header_ok(v, e, path, act))
            sig_length_check(v, e, path, act);
    }
    free(path);
}

/* One SIG_FOREIGN and one SIG_MISSING (ConfigMgr-written library) finding
 * for the whole run: a real distribution point has one per file. */
void cmh__v_emit_sig_summaries(cmh_verify *v)
{
    char n[32];
    if (v->nsig_foreign) {
        snprintf(n, sizeof n, "%llu", (unsigned long long)v->nsig_foreign);
        cmh__v_emitf(
            v, CMH_VF_SIG_FOREIGN,
            VF(.path = v->first_sig_foreign, .actual = n),
            "%llu signature(s) in a format cmhash does not read (MS-RDC, "
            "written by Configuration Manager); not checked; this is the "
            "first",
            (unsigned long long)v->nsig_foreign);
    }
    if (v->nsig_missing) {
        snprintf(n, sizeof n, "%llu", (unsigned long long)v->nsig_missing);
        v->info_override = true;
        cmh__v_emitf(
            v, CMH_VF_SIG_MISSING,
            VF(.path = v->first_sig_missing, .actual = n),
            "%llu FileLib file(s) without a signature, legitimate on a "
            "library Configuration Manager wrote; this is the first",
            (unsigned long long)v->nsig_missing);
        v->info_override = false;
    }
    free(v->first_sig_foreign);
    free(v->first_sig_missing);
    v->first_sig_foreign = v->first_sig_missing = NULL;
    v->nsig_foreign = v->nsig_missing = 0;
}

/* The data file: missing, unreadable, or of another size than a using
 * content's file INI says. */
static void join_data(cmh_verify *v, ventry *e, const char *dpath)
{
    bool used = e->nuses > 0;
    if (used && e->r_data < 0) {
        cmh__v_emit_entry(v, e, CMH_VF_FILE_MISSING, VF(.path = dpath),
                          "the FileLib file is missing");
    } else if (e->r_data >= 0 && e->data_err) {
        cmh__v_emit_entry(v, e, CMH_VF_FILE_UNREADABLE, VF(.path = dpath),
                          "cannot stat the FileLib file: %s",
                          strerror(e->data_err));
    } else if (used) {
        for (size_t i = 0; i < e->nuses; i++) {
            vcontent *c = &v->contents[cmh__v_use_at(e, i).c];
            vfile *f = &c->files[cmh__v_use_at(e, i).f];
            if (f->size == e->data_size)
                continue;
            char *p = xasprintf("DataLib/%s/%s", c->id, frel(c, f));
            char exp[32], act[32];
            snprintf(exp, sizeof exp, "%llu", (unsigned long long)f->size);
            snprintf(act, sizeof act, "%llu",
                     (unsigned long long)e->data_size);
            cmh__v_attribute(c, CMH_VF_FILE_SIZE_MISMATCH);
            cmh__v_emitf(v, CMH_VF_FILE_SIZE_MISMATCH,
                         VF(.cid = c->id, .path = p ? p : "", .expected = exp,
                            .actual = act),
                         "the file INI says Size=%s but %s is %s bytes", exp,
                         dpath, act);
            free(p);
        }
    }
}

/* Each content using the entry must be in its reference list. */
static void join_refs_missing(cmh_verify *v, ventry *e, const char *ipath,
                              const cmh_reflist *refs, bool refs_known)
{
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < e->nuses; i++) {
        if (cmh__v_use_at(e, i).c == last)
            continue;
        last = cmh__v_use_at(e, i).c;
        vcontent *c = &v->contents[last];
        if (refs_known && cmh__reflist_has(refs, c->id))
            continue;
        if (cmh__v_content_retired(v, c, true))
            continue; /* its reference was dropped by a retirement */
        cmh__v_attribute(c, CMH_VF_REF_MISSING);
        cmh__v_emitf(v, CMH_VF_REF_MISSING,
                     VF(.cid = c->id, .path = ipath, .expected = c->id),
                     e->r_ini < 0 ? "%s uses this file but its reference INI "
                                    "is missing"
                                  : "%s uses this file but the reference INI "
                                    "does not list it",
                     c->id);
    }
}

/* Each content in the reference list must exist and use the entry (or
 * be busy, or not checked here). */
static void join_refs_listed(cmh_verify *v, ventry *e, const char *ipath,
                             const cmh_reflist *refs)
{
    for (size_t i = 0; i < refs->n; i++) {
        const char *id = refs->ids[i];
        vcontent *c = cmh__v_find_content(v, id);
        char pk[CMH_PKGID_SIZE];
        if (cmh_content_id_parse(pk, NULL, id) == CMH_CONTENT_PACKAGE &&
            cmh__v_pkg_busy(v, pk)) {
            e->busy_ref = true;
            continue;
        }
        if (c && c->busy) {
            e->busy_ref = true;
            continue;
        }
        bool exists = c && (c->has_ini || c->has_dir);
        if (!exists) {
            /* not listed by us (ID mode), or written by a snapshot
             * that started after the listing */
            if (!c && cmh__v_content_appeared(v, id)) {
                e->busy_ref = true;
                continue;
            }
            cmh__v_emitf(v, CMH_VF_REF_DANGLING,
                         VF(.cid = id, .path = ipath, .actual = id),
                         "the reference INI lists %s, which does not exist",
                         id);
            continue;
        }
        if (!c->selected || !c->mirror_read)
            continue; /* not checked here: usage unknown */
        if (!c->mirror_complete) {
            e->unsure_ref = true;
            continue;
        }
        bool uses = false;
        for (size_t k = 0; k < e->nuses && !uses; k++)
            uses = &v->contents[cmh__v_use_at(e, k).c] == c;
        if (!uses)
            cmh__v_emitf(v, CMH_VF_REF_DANGLING,
                         VF(.cid = id, .path = ipath, .actual = id),
                         "the reference INI lists %s, which does not use "
                         "this file",
                         id);
    }
}

/* Orphans: nothing uses the entry. */
static void join_orphan(cmh_verify *v, ventry *e, const char *dpath,
                        const char *ipath)
{
    const char *p = e->r_data >= 0 ? dpath : ipath;
    char *sp = NULL;
    if (e->r_data < 0 && e->r_ini < 0)
        p = sp = cmh__v_entry_path(v, e, e->r_sig, ".SIG");
    v->emit_sha = e->sha;
    cmh__v_emitf(v, CMH_VF_ORPHAN_FILE, VF(.path = p ? p : ""),
                 "FileLib entry that no content uses; cmhash gc --apply "
                 "removes it");
    v->emit_sha = NULL;
    free(sp);
}

/* Join one entry after the index pass: missing files, sizes, references,
 * orphans and signatures. */
void cmh__v_join_entry(cmh_verify *v, ventry *e)
{
    char **refs_view = NULL; /* allocated view of a long reference list */
    char *dpath = cmh__v_entry_path(v, e, e->r_data, "");
    char *ipath = cmh__v_entry_path(v, e, e->r_ini >= 0 ? e->r_ini : e->r_data,
                                    ".INI");
    if (!dpath || !ipath) {
        v->oom = true;
        goto out;
    }
    bool used = e->nuses > 0;
    /* An entry no checked content uses that vanished between the listing
     * and its stat/read while a package is locked: a running snapshot's
     * retirement deleted it (section 7, step 6). That is the BUSY
     * package's business, not an error or an orphan. */
    bool vanished = !used && v->any_busy &&
                    (e->data_err == ENOENT || e->ini_err == ENOENT);
    if (vanished)
        goto out;
    /* A part gone while every content using it was retired by a snapshot
     * that started after the lock probe: the same, found later. */
    if (used &&
        (e->r_data < 0 || e->data_err == ENOENT || e->r_ini < 0 ||
         e->ini_err == ENOENT || e->r_sig < 0 || e->sig_err == ENOENT) &&
        cmh__v_all_uses_retired(v, e, true))
        goto out;
    join_data(v, e, dpath);
    /* references: a view of the packed list (sorted, as parsed) */
    if (e->ini_oom) {
        v->oom = true;
        goto out;
    }
    cmh_reflist refs = {0};
    const char *small[16];
    refs.n = e->nrefs;
    refs.ids = (char **)small;
    if (e->nrefs > 16 && !(refs.ids = malloc(e->nrefs * sizeof *refs.ids))) {
        v->oom = true;
        goto out;
    }
    refs_view = refs.ids != (char **)small ? refs.ids : NULL;
    const char *rp = e->refs;
    for (size_t i = 0; i < e->nrefs; i++) {
        refs.ids[i] = (char *)rp;
        rp += strlen(rp) + 1;
    }
    bool refs_known = e->r_ini >= 0 && !e->ini_err && !e->ini_bad;
    if (e->r_ini >= 0 && e->ini_err)
        cmh__v_emit_entry(v, e, CMH_VF_FILE_UNREADABLE, VF(.path = ipath),
                          "cannot read the reference INI: %s",
                          strerror(e->ini_err));
    else if (e->r_ini >= 0 && e->ini_bad)
        cmh__v_emit_entry(v, e, CMH_VF_FILE_INI_BAD, VF(.path = ipath),
                          "unparsable FileLib reference INI: %s", e->ini_why);
    if (used && (refs_known || (e->r_ini < 0 && e->r_data >= 0)))
        join_refs_missing(v, e, ipath, &refs, refs_known);
    if (refs_known)
        join_refs_listed(v, e, ipath, &refs);
    if (v->full && !used && !e->busy_ref && !e->unsure_ref)
        join_orphan(v, e, dpath, ipath);
    if (used)
        check_sig(v, e);
out:
    free(refs_view);
    free(dpath);
    free(ipath);
}

/* The plan kept no tree: put each file's .SIG digest in its node. */
static void set_tree_sig(cmh_node *dir, const vcontent *c)
{
    for (size_t i = 0; i < dir->nfiles; i++) {
        uintptr_t k = (uintptr_t)dir->files[i]->aux;
        if (k && k <= c->nfiles && c->files[k - 1].entry)
            memcpy(dir->files[i]->sig_sha, c->files[k - 1].entry->sig_sha,
                   CMH_SHA256_LEN);
    }
    for (size_t i = 0; i < dir->ndirs; i++)
        set_tree_sig(dir->dirs[i], c);
}

/* Signature hash of one content (after the index pass). */
void cmh__v_check_sighash(cmh_verify *v, vcontent *c)
{
    if (!c->has_sighash || !c->mirror_complete || (!c->root && !c->plan))
        return;
    for (size_t i = 0; i < c->nfiles; i++) {
        ventry *e = c->files[i].entry;
        if (!e || !e->sig_hashed || e->sig_bad || e->sig_foreign)
            return; /* missing, broken or foreign .SIG: reported on its
                       own (a foreign one is not cmhash's to hash) */
    }
    if (c->root)
        set_tree_sig(c->root, c);
    uint8_t h[CMH_SHA256_LEN];
    if ((c->root ? cmh__tree_hash(c->root, true, v->ctx->sha256, h)
                 : cmh__v_plan_hash(c, true, v->ctx->sha256, h)) != CMH_OK) {
        v->oom = true;
        return;
    }
    if (!memcmp(h, c->sighash, CMH_SHA256_LEN))
        return;
    char exp[CMH_HEX_SIZE], act[CMH_HEX_SIZE], path[CMH_CID_SIZE + 16];
    cmh_hex_upper(exp, c->sighash, CMH_SHA256_LEN);
    cmh_hex_upper(act, h, CMH_SHA256_LEN);
    snprintf(path, sizeof path, "DataLib/%s.INI", c->id);
    cmh__v_attribute(c, CMH_VF_SIG_HASH_MISMATCH);
    cmh__v_emit(
        v, CMH_VF_SIG_HASH_MISMATCH,
        VF(.cid = c->id, .path = path, .expected = exp, .actual = act),
        "the signature hash recomputed from the .SIG files differs from "
        "[cmhash] SignatureHash");
}
