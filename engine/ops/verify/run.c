/* cmh_verify_new/run/free: setup, the run's phases in order, the
 * per-content status and the summary. */
#include "vpriv.h"

/* ---- setup ---- */

static bool in_slice(const cmh_verify *v, const uint8_t *sha)
{
    if (v->sum.subset_n <= 1)
        return true;
    uint64_t x = (uint64_t)sha[0] << 24 | (uint64_t)sha[1] << 16 |
                 (uint64_t)sha[2] << 8 | sha[3];
    return (x * v->sum.subset_n) >> 32 == v->sum.subset_k - 1;
}

cmh_status cmh_verify_new(cmh_verify **out, cmh_ctx *ctx,
                          const cmh_verify_opts *o)
{
    *out = NULL;
    cmh__err_clear(ctx);
    if (!o || o->version != CMH_VERIFY_OPTS_VERSION || !o->lib ||
        (o->nfilelibs && !o->filelibs) || (o->nids && !o->ids))
        return cmh__fail(ctx, CMH_E_INVALID, "bad verify options");
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
        cmh_status st = cmh__v_parse_state(v, o->resume_state);
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
static cmh_status open_library(cmh_verify *v, bool *layout_ok)
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
        cmh__v_emitf(v, CMH_VF_LIB_LAYOUT, "", names[i], "", "", -1,
                     "%s: %s", names[i],
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
static cmh_status select_ids(cmh_verify *v)
{
    cmh_ctx *ctx = v->ctx;
    for (size_t i = 0; i < v->o.nids; i++) {
        const char *id = v->o.ids[i];
        char pk[CMH_PKGID_SIZE];
        struct stat sb;
        if (cmh_content_id_parse(id, NULL, NULL) != CMH_CONTENT_INVALID) {
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
static void classify_contents(cmh_verify *v)
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
            cmh__v_emitf(v, CMH_VF_PKG_CONTENT_MISSING, c->id, path, c->id, "",
                         -1, "the package lists %s but DataLib has no %s",
                         c->id,
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
            cmh__v_emitf(v, CMH_VF_ORPHAN_CONTENT, c->id, path ? path : "", "",
                         "", -1,
                         "content that no PkgLib INI lists; cmhash gc "
                         "--apply removes it");
            free(path);
        }
    }
    cmh__v_pkg_cache_free(&pc);
}

static void emit_content_findings(cmh_verify *v, vcontent *c)
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
        cmh__v_emit(v, f->code, c->id, f->path ? f->path : "", f->expected,
                    f->actual, f->age, f->detail);
    }
    cmh__v_vfinds_free(&c->fnd);
}

static cmh_status run_pass(cmh_verify *v, const char *phase)
{
    v->phase = phase;
    cmh__pool_wait(v->epool ? v->epool : v->pool, 0.1, cmh__v_tick, v);
    if (!strcmp(phase, "hash"))
        cmh__v_drain_done(v);
    return CMH_OK;
}

static void content_status(cmh_verify *v, vcontent *c)
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
    if (v->o.content && !v->canceled && v->o.content(&s, v->o.payload)) {
        v->canceled = true;
        atomic_store(&v->stop, true);
    }
}

static void free_run(cmh_verify *v)
{
    cmh__pool_free(v->epool);
    v->epool = NULL;
    free(v->efold);
    v->efold = NULL;
    v->nefold = 0;
    cmh__pool_free(v->pool);
    v->pool = NULL;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        free(c->files);
        cmh__buf_free(&c->names);
        free(c->plan);
        free(c->dirs16);
        cmh__node_free(c->root);
        cmh__v_vfinds_free(&c->fnd);
    }
    free(v->contents);
    v->contents = NULL;
    v->ncontents = v->capcontents = 0;
    for (size_t i = 0; i < v->nentries; i++) {
        ventry *e = v->entries[i];
        free(e->refs);
        free(e->ini_why);
        free(e->hres);
        free(e->more);
        free(e);
    }
    free(v->entries);
    v->entries = NULL;
    v->nentries = v->capentries = 0;
    for (size_t i = 0; i < v->nroots; i++) {
        free(v->roots[i].display);
        if (v->roots[i].fd >= 0)
            close(v->roots[i].fd);
    }
    free(v->roots);
    v->roots = NULL;
    v->nroots = 0;
    free(v->busy);
    v->busy = NULL;
    v->nbusy = 0;
    v->any_busy = false;
    free(v->doneq);
    v->doneq = NULL;
    v->ndoneq = v->capdoneq = 0;
    cmh__library_close(&v->lib);
}

cmh_status cmh_verify_run(cmh_verify *v)
{
    cmh_ctx *ctx = v->ctx;
    cmh_status st = CMH_OK;
    bool layout_ok;
    cmh__err_clear(ctx);
    free_run(v);
    unsigned sk = v->sum.subset_k, sn = v->sum.subset_n;
    memset(&v->sum, 0, sizeof v->sum);
    v->sum.subset_k = sk;
    v->sum.subset_n = sn;
    v->sum.stop_reason = "";
    v->canceled = v->timed_out = v->oom = false;
    atomic_store(&v->stop, false);
    atomic_store(&v->bytes_done, 0);
    atomic_store(&v->items_done, 0);
    v->t0 = cmh__now();
    v->deadline = v->o.max_seconds > 0 ? v->t0 + v->o.max_seconds : 0;
    v->rate_next = 0;
    v->full = v->o.nids == 0;
    v->phase = "index";
    v->retire_gen = 1; /* contents start at 0: nothing remembered */
    if (v->o.flags & CMH_VERIFY_NICE)
        cmh__os_lower_priority();

    if ((st = open_library(v, &layout_ok)) != CMH_OK || !layout_ok)
        goto done;
    /* 1. listings */
    if (v->full) {
        cmh__v_scan_pkglib(v);
        cmh__pause_point("verify-pkglib");
        cmh__v_scan_datalib(v);
        cmh__v_sort_contents(v);
        cmh__v_scan_filelib(v);
    } else if ((st = select_ids(v)) != CMH_OK) {
        goto done;
    }
    if (v->oom)
        goto nomem;
    cmh__pause_point("verify-listed");
    classify_contents(v);

    unsigned threads = v->o.threads ? v->o.threads : cmh__online_cpus();
    if (cmh__pool_new(&v->pool, threads, cmh__v_vworker_make,
                      cmh__v_vworker_free, v)) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "cannot start %u threads", threads);
        goto done;
    }
    /* 2a. contents */
    v->items_total = 0;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        if (!c->selected || c->busy)
            continue;
        v->items_total++;
        if (cmh__pool_push(v->pool, cmh__v_content_task, c, v))
            goto nomem;
    }
    run_pass(v, "index");
    if (v->canceled || v->timed_out)
        goto stopped;
    cmh__pause_point("verify-mirrors");
    v->retire_gen++; /* the mirror walks are over */
    for (size_t i = 0; i < v->ncontents; i++)
        emit_content_findings(v, &v->contents[i]);
    /* join: uses per entry (contents in ID order: uses[0] is the first) */
    if (!v->full) {
        /* ID mode: entries on demand */
        for (size_t i = 0; i < v->ncontents; i++) {
            vcontent *c = &v->contents[i];
            for (size_t k = 0; k < c->nfiles; k++) {
                vfile *f = &c->files[k];
                if (!f->ok || cmh__v_find_entry(v, f->sha))
                    continue;
                if (!cmh__v_probe_entry(v, f->sha))
                    goto nomem;
                cmh__v_sort_entries(v);
            }
        }
    } else {
        /* digests no FileLib root has: entries without parts, reported
         * as FILE_MISSING by the join */
        size_t nused = 0;
        for (size_t i = 0; i < v->ncontents; i++)
            nused += v->contents[i].nfiles;
        uint8_t *used = nused ? malloc(nused * CMH_SHA256_LEN) : NULL;
        if (nused && !used)
            goto nomem;
        size_t k2 = 0;
        for (size_t i = 0; i < v->ncontents; i++) {
            vcontent *c = &v->contents[i];
            for (size_t k = 0; k < c->nfiles; k++)
                if (c->files[k].ok && !cmh__v_find_entry(v, c->files[k].sha))
                    memcpy(used + CMH_SHA256_LEN * k2++, c->files[k].sha,
                           CMH_SHA256_LEN);
        }
        if (k2 > 1)
            qsort(used, k2, CMH_SHA256_LEN, sha_cmp);
        for (size_t i = 0; i < k2; i++) {
            const uint8_t *sha = used + CMH_SHA256_LEN * i;
            if (i && !memcmp(sha, sha - CMH_SHA256_LEN, CMH_SHA256_LEN))
                continue;
            if (!cmh__v_new_entry(v, sha)) {
                free(used);
                goto nomem;
            }
        }
        free(used);
        cmh__v_sort_entries(v);
    }
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        for (size_t k = 0; k < c->nfiles; k++) {
            vfile *f = &c->files[k];
            if (!f->ok)
                continue;
            f->entry = cmh__v_find_entry(v, f->sha);
            if (!f->entry ||
                !cmh__v_entry_add_use(v, f->entry, (uint32_t)i, (uint32_t)k))
                goto nomem;
            if (c->has_sighash && !(v->o.flags & CMH_VERIFY_INDEX_ONLY))
                f->entry->want_sig_hash = true;
        }
    }
    /* the up-front look at the library's signatures (sections 8, 11): a
     * library whose .SIG files are MS-RDC is ConfigMgr-written before any
     * entry is judged */
    if (!v->foreign_lib)
        v->foreign_lib = cmh__library_sig_rdc(&v->lib, NULL, 0);
    /* 2b. FileLib entries */
    atomic_store(&v->items_done, 0);
    v->items_total = v->nentries;
    /* one task per FileLib <h4> folder (entries are sorted by digest) */
    v->efold = v->nentries ? malloc(v->nentries * sizeof *v->efold) : NULL;
    if (v->nentries && !v->efold)
        goto nomem;
    v->nefold = 0;
    for (size_t i = 0, j; i < v->nentries; i = j) {
        for (j = i + 1; j < v->nentries && j - i < EFOLDER_MAX &&
                        !memcmp(v->entries[j]->sha, v->entries[i]->sha, 2);
             j++)
            ;
        v->efold[v->nefold++] = (efolder){i, j};
    }
    {
        unsigned et = cmh__v_entry_threads(v, threads);
        if (et > threads && cmh__pool_new(&v->epool, et, cmh__v_eworker_make,
                                          cmh__v_vworker_free, v))
            v->epool = NULL; /* no more threads: the pool's do it */
    }
    for (size_t i = 0; i < v->nefold; i++)
        if (cmh__pool_push(v->epool ? v->epool : v->pool, cmh__v_folder_task,
                          &v->efold[i], v))
            goto nomem;
    {
        /* two reads per entry; items_done counts entries: the window is
         * in entries x 2 */
        cmh_prefetch_opts po = {
            .n = 2 * v->nentries, .per = 2, .item = cmh__v_index_item, .arg = v,
            .done = &v->items_done, .stop = &v->stop,
            .io_rate = v->o.io_rate, .threads = threads};
        cmh_prefetch *pf =
            cmh__v_index_prefetch() ? cmh__prefetch_run(&po) : NULL;
        run_pass(v, "index");
        cmh__prefetch_stop(pf);
        cmh__pool_free(v->epool);
        v->epool = NULL;
    }
    if (v->canceled || v->timed_out)
        goto stopped;
    cmh__pause_point("verify-entries");
    /* 3. join */
    v->retire_gen++; /* the entry reads are over */
    for (size_t i = 0; i < v->ncontents && !v->foreign_lib; i++)
        v->foreign_lib = v->contents[i].foreign;
    for (size_t i = 0; i < v->nentries && !v->foreign_lib; i++)
        v->foreign_lib = v->entries[i]->sig_foreign;
    for (size_t i = 0; i < v->nentries && !v->canceled; i++)
        cmh__v_join_entry(v, v->entries[i]);
    cmh__v_emit_sig_summaries(v);
    for (size_t i = 0; i < v->ncontents && !v->canceled; i++)
        cmh__v_check_sighash(v, &v->contents[i]);
    if (v->oom)
        goto nomem;
    if (v->canceled)
        goto stopped;
    if (v->o.flags & CMH_VERIFY_INDEX_ONLY)
        goto stopped; /* no file data read */
    /* 4. hash pass, in digest order (the resume cursor relies on it),
     * each batch of PHYS_BATCH entries in physical order */
    atomic_store(&v->items_done, 0);
    v->items_total = 0;
    v->bytes_total = 0;
    hash_order ho = {v, NULL, 0, 0, 0, 0, false};
    for (size_t i = 0; i < v->nentries; i++) {
        ventry *e = v->entries[i];
        if (e->r_data < 0 || e->data_err || !in_slice(v, e->sha))
            continue;
        if (!e->nuses && (e->busy_ref || !v->full))
            continue; /* only a busy package's, or not asked for */
        e->scope = true;
        v->sum.files_total++;
        e->prev_bad = cmh__v_in_set(v->prev_bad, v->nprev_bad, e->sha);
        if ((v->have_cursor && memcmp(e->sha, v->cursor, CMH_SHA256_LEN) < 0)
            || cmh__v_in_set(v->prev_done, v->nprev_done, e->sha)) {
            e->prev_done = true;
            v->sum.files_previously++;
            continue;
        }
        v->items_total++;
        v->bytes_total += e->data_size;
        /* the order (verify_io.h); without memory for it the pass runs
         * in digest order, unprefetched */
        if (ho.n == ho.cap && !ho.oom) {
            size_t nc = ho.cap ? ho.cap * 2 : 1024;
            ventry **ne = realloc(ho.e, nc * sizeof *ne);
            if (ne) {
                ho.e = ne;
                ho.cap = nc;
            } else {
                /* what was collected first, then the rest as listed */
                ho.oom = true;
                for (size_t j = 0; j < ho.n; j++)
                    if (cmh__pool_push(v->pool, cmh__v_hash_task, ho.e[j], v)) {
                        free(ho.e);
                        goto nomem;
                    }
            }
        }
        if (ho.n < ho.cap && !ho.oom)
            ho.e[ho.n++] = e;
        else if (cmh__pool_push(v->pool, cmh__v_hash_task, e, v)) {
            free(ho.e);
            goto nomem; /* no order: pushed in digest order as listed */
        }
    }
    if (!ho.oom) {
        /* each batch of the digest order in physical order */
        double tp = cmh__now();
        cmh__v_physical_order(v, &ho);
        ho.phys_s = cmh__now() - tp;
        for (size_t i = 0; i < ho.n; i++)
            if (cmh__pool_push(v->pool, cmh__v_hash_task, ho.e[i], v)) {
                free(ho.e);
                goto nomem;
            }
    }
    cmh_prefetch_opts po = {
        .n = ho.oom ? 0 : ho.n, .item = cmh__v_hash_item, .arg = &ho,
        .done = &v->items_done, .bytes = &v->bytes_done, .stop = &v->stop,
        .io_rate = v->o.io_rate, .threads = threads};
    cmh_prefetch *pf = cmh__prefetch_run(&po);
    cmh__v_trace_io(pf, &ho);
    run_pass(v, "hash");
    cmh__prefetch_stop(pf);
    free(ho.e);
    if (v->oom)
        goto nomem;
stopped:
    if (v->timed_out || v->canceled) {
        v->sum.partial = 1;
        v->sum.stop_reason = v->canceled ? "canceled" : "time limit";
        /* let queued tasks see the stop flag and leave */
        cmh__pool_wait(v->pool, 0.1, NULL, NULL);
        cmh__v_drain_done(v);
    }
    /* 5. per content */
    for (size_t i = 0; i < v->ncontents && !v->canceled; i++) {
        vcontent *c = &v->contents[i];
        if (c->selected || c->listed)
            content_status(v, c);
    }
    v->sum.bytes_hashed = atomic_load(&v->bytes_done);
    cmh__v_build_state(v);
    if (v->oom)
        goto nomem;
    if (v->canceled) {
        v->sum.partial = 1;
        v->sum.stop_reason = "canceled";
        st = cmh__fail(ctx, CMH_E_CANCELED, "canceled");
    }
    goto done;
nomem:
    st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    if (v->pool) {
        atomic_store(&v->stop, true);
        cmh__pool_wait(v->pool, 0.1, NULL, NULL);
    }
done:
    v->sum.seconds = cmh__now() - v->t0;
    cmh__pool_free(v->pool);
    v->pool = NULL;
    return st;
}

const cmh_verify_summary *cmh_verify_get_summary(const cmh_verify *v)
{
    return &v->sum;
}

const char *cmh_verify_resume_state(const cmh_verify *v)
{
    return v->state_out;
}

void cmh_verify_free(cmh_verify *v)
{
    if (!v)
        return;
    free_run(v);
    free(v->prev_done);
    free(v->prev_bad);
    free(v->state_out);
    pthread_mutex_destroy(&v->mu);
    pthread_mutex_destroy(&v->rate_mu);
    free(v);
}
