/* cmh_verify_new and the setup of a run: the library's folders opened
 * read-only, ID mode's selection, the PkgLib-level findings on contents. */
#include "vpriv.h"

cmh_status cmh_verify_new(cmh_verify **out, cmh_ctx *ctx,
                          const cmh_verify_opts *o)
{
    *out = NULL;
    cmh__err_clear(ctx);
    cmh_status st = CMH__OPTS_CHECK(ctx, o, CMH_VERIFY_OPTS_VERSION, "verify");
    if (st)
        return st;
    if (!o->lib || (o->nfilelibs && !o->filelibs) || (o->nids && !o->ids))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "cmh_verify_new: opts.lib is required, and "
                         "filelibs/ids when their counts are not 0");
    if ((o->subset_n || o->subset_k) &&
        (o->subset_n < 1 || o->subset_k < 1 || o->subset_k > o->subset_n ||
         o->subset_n > 65536))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "--subset %u/%u: K must be from 1 to N (N at most "
                         "65536)", o->subset_k, o->subset_n);
    if (o->max_seconds < 0 || o->io_rate < 0 || isnan(o->max_seconds) ||
        isnan(o->io_rate))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "time limit and I/O rate must not be negative");
    cmh_verify *v = calloc(1, sizeof *v);
    if (!v)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    v->ctx = ctx;
    v->o = *o;
    v->sum.subset_k = o->subset_n ? o->subset_k : 1;
    v->sum.subset_n = o->subset_n ? o->subset_n : 1;
    v->sum.stop_reason = "";
    v->phase = "index";
    pthread_mutex_init(&v->mu, NULL);
    pthread_mutex_init(&v->rate_mu, NULL);
    cmh__library_init(&v->lib);
    atomic_init(&v->stop, false);
    if (o->resume_state && *o->resume_state) {
        st = cmh__v_parse_state(v, o->resume_state);
        if (st != CMH_OK) {
            cmh_verify_free(v);
            return st;
        }
    }
    *out = v;
    return CMH_OK;
}

/* Open the library's folders read-only. Returns CMH_OK with *layout_ok
 * false when a folder is missing (reported as LIB_LAYOUT). */
cmh_status cmh__v_open_library(cmh_verify *v, bool *layout_ok)
{
    cmh_ctx *ctx = v->ctx;
    const char *path = v->o.lib;
    *layout_ok = false;
    v->lib.path = cmh__strdup(path);
    if (!v->lib.path)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    int e = cmh__os_open_dir_noatime(AT_FDCWD, path, &v->lib.root_fd);
    if (e == ENOENT)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "library %s does not exist; check --lib or "
                         "$CMHASH_LIB", path);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot open library %s", path);
    static const char *const names[3] = {"PkgLib", "DataLib", "FileLib"};
    int *fds[3] = {&v->lib.pkglib_fd, &v->lib.datalib_fd, &v->lib.filelib_fd};
    int errs[3], present = 0;
    for (int i = 0; i < 3; i++) {
        errs[i] = cmh__os_open_dir_noatime(v->lib.root_fd, names[i], fds[i]);
        if (errs[i] != ENOENT)
            present++;
    }
    if (!present)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s is not a content library (no PkgLib, DataLib, "
                         "FileLib); point --lib at SCCMContentLib", path);
    *layout_ok = true;
    for (int i = 0; i < 3; i++) {
        if (!errs[i])
            continue;
        *layout_ok = false;
        cmh__v_emitf(v, CMH_VF_LIB_LAYOUT, VF(.path = names[i]), "%s: %s",
                     names[i],
                     errs[i] == ENOENT ? "missing" : strerror(errs[i]));
    }
    if (!*layout_ok)
        return CMH_OK;
    /* nroots only once the array exists: free_run() walks it */
    /* --filelib roots, then the context's (cmh_ctx_add_filelib), then
     * the discovered ones; one folder under two names is opened once
     * (the lookup order of every command: cmh__filelib_roots_open) */
    size_t ngiven = v->o.nfilelibs + ctx->nfilelibs;
    const char **given = ngiven ? malloc(ngiven * sizeof *given) : NULL;
    if (ngiven && !given)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ngiven; i++)
        given[i] = i < v->o.nfilelibs ? v->o.filelibs[i]
                                      : ctx->filelibs[i - v->o.nfilelibs];
    cmh_status st = cmh__filelib_roots_open(ctx, &v->lib, given, ngiven,
                                           true);
    free(given);
    if (st != CMH_OK)
        return st;
    size_t nextra = v->lib.nx;
    v->roots = calloc(1 + nextra, sizeof *v->roots);
    if (!v->roots)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    v->nroots = 1 + nextra;
    for (size_t i = 0; i < v->nroots; i++)
        v->roots[i].fd = -1;
    for (size_t i = 0; i < v->nroots; i++) {
        v->roots[i].display = cmh__strdup(i ? v->lib.xpath[i - 1] : "FileLib");
        v->roots[i].fd = dup(i ? v->lib.xfd[i - 1] : v->lib.filelib_fd);
        if (!v->roots[i].display || v->roots[i].fd < 0)
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    return CMH_OK;
}

/* ID mode: the contents named by opts->ids. */
cmh_status cmh__v_select_ids(cmh_verify *v)
{
    cmh_ctx *ctx = v->ctx;
    for (size_t i = 0; i < v->o.nids; i++) {
        const char *id = v->o.ids[i];
        char pk[CMH_PKGID_SIZE];
        struct stat sb;
        if (cmh_content_id_parse(NULL, NULL, id) != CMH_CONTENT_INVALID) {
            char nm[CMH_CID_SIZE + 8];
            snprintf(nm, sizeof nm, "%s.INI", id);
            bool ini = fstatat(v->lib.datalib_fd, nm, &sb,
                               AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISREG(sb.st_mode);
            bool dir = fstatat(v->lib.datalib_fd, id, &sb,
                               AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISDIR(sb.st_mode);
            if (!ini && !dir)
                return cmh__fail(ctx, CMH_E_LIBRARY,
                                 "content %s is not in library %s (no "
                                 "DataLib/%s.INI); check the ID", id,
                                 v->o.lib, id);
            vcontent *c = cmh__v_add_content(v, id);
            if (!c)
                return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            c->has_ini = ini;
            c->has_dir = dir;
            c->selected = true;
            if (c->pkgid[0] && !cmh__v_pkg_busy(v, c->pkgid))
                cmh__v_probe_lock(v, c->pkgid);
        } else if (cmh_pkgid_parse(pk, id) == CMH_OK) {
            char nm[32];
            snprintf(nm, sizeof nm, "%s.INI", pk);
            if (fstatat(v->lib.pkglib_fd, nm, &sb, AT_SYMLINK_NOFOLLOW) !=
                0)
                return cmh__fail(ctx, CMH_E_LIBRARY,
                                 "package %s is not in library %s (no "
                                 "PkgLib/%s); check the ID", pk, v->o.lib,
                                 nm);
            if (!cmh__v_pkg_busy(v, pk))
                cmh__v_probe_lock(v, pk);
            cmh__v_read_package(v, nm, pk, true);
        } else {
            return cmh__fail(ctx, CMH_E_INVALID,
                             "'%s' is neither a package ID (e.g. MSC0000B) "
                             "nor a content ID (e.g. MSC0000B.2)", id);
        }
    }
    cmh__v_sort_contents(v);
    /* what is on disk for the listed contents */
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        char nm[CMH_CID_SIZE + 8];
        struct stat sb;
        snprintf(nm, sizeof nm, "%s.INI", c->id);
        c->has_ini |= fstatat(v->lib.datalib_fd, nm, &sb,
                              AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISREG(sb.st_mode);
        c->has_dir |= fstatat(v->lib.datalib_fd, c->id, &sb,
                              AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISDIR(sb.st_mode);
    }
    return CMH_OK;
}

/* PkgLib-level findings on contents: missing ones, orphans, busy. */
void cmh__v_classify_contents(cmh_verify *v)
{
    pkg_cache pc = {0};
    for (size_t i = 0; i < v->ncontents && !v->canceled &&
                       !atomic_load(&v->stop);
         i++) {
        vcontent *c = &v->contents[i];
        if (c->pkgid[0] && cmh__v_pkg_busy(v, c->pkgid))
            c->busy = true;
        if (c->busy)
            continue;
        if (c->listed && (!c->has_ini || !c->has_dir) && c->pkgid[0]) {
            /* retired between the PkgLib and DataLib listings? */
            bool locked = cmh__v_pkg_locked_now(v, c->pkgid);
            if (locked ||
                !cmh__v_pkg_lists_now(v, &pc, c->pkgid, c->id, true)) {
                cmh__v_skip_changed(v, c, locked ? "is being retired"
                                          : "was retired");
                continue;
            }
        }
        if (c->listed && (!c->has_ini || !c->has_dir)) {
            char path[32];
            char pk[CMH_PKGID_SIZE];
            memcpy(pk, c->pkgid, sizeof pk);
            snprintf(path, sizeof path, "PkgLib/%s.INI", pk);
            cmh__v_attribute(c, CMH_VF_PKG_CONTENT_MISSING);
            cmh__v_emitf(v, CMH_VF_PKG_CONTENT_MISSING,
                         VF(.cid = c->id, .path = path, .expected = c->id),
                         "the package lists %s but DataLib has no %s", c->id,
                         !c->has_ini && !c->has_dir ? "INI or folder for it"
                         : !c->has_ini              ? "INI for it"
                                                    : "folder for it");
        }
        if (v->full && !c->listed && c->pkgid[0]) {
            /* written by a snapshot that took the lock after the probe:
             * not listed yet, or listed after our PkgLib listing */
            bool locked = cmh__v_pkg_locked_now(v, c->pkgid);
            if (locked ||
                cmh__v_pkg_lists_now(v, &pc, c->pkgid, c->id, false)) {
                cmh__v_skip_changed(v, c, locked ? "is being written"
                                          : "is new");
                continue;
            }
        }
        if (v->full && !c->listed) {
            char *path = xasprintf("DataLib/%s%s", c->id,
                                   c->has_dir ? "" : ".INI");
            cmh__v_emitf(v, CMH_VF_ORPHAN_CONTENT,
                         VF(.cid = c->id, .path = path ? path : ""),
                         "content that no PkgLib INI lists; cmhash gc "
                         "--apply removes it");
            free(path);
        }
    }
    cmh__v_pkg_cache_free(&pc);
}
