/* cmh_verify_run: the run's phases in order (each below, and its part in
 * vpriv.h's list), and the handle's summary, state and free. */
#include "vpriv.h"

static bool in_slice(const cmh_verify *v, const uint8_t *sha)
{
    if (v->sum.subset_n <= 1)
        return true;
    uint64_t x = (uint64_t)sha[0] << 24 | (uint64_t)sha[1] << 16 |
                 (uint64_t)sha[2] << 8 | sha[3];
    return (x * v->sum.subset_n) >> 32 == v->sum.subset_k - 1;
}

static cmh_status run_pass(cmh_verify *v, const char *phase)
{
    v->phase = phase;
    cmh__pool_wait(v->epool ? v->epool : v->pool, 0.1, cmh__v_tick, v);
    if (!strcmp(phase, "hash"))
        cmh__v_drain_done(v);
    return CMH_OK;
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

/* ---- the run, phase by phase ---- */

/* What the run does after a phase. */
typedef enum { RUN_NEXT, RUN_STOPPED, RUN_NOMEM } run_step;

/* Forget the previous run (the summary keeps the --subset slice). */
static void run_reset(cmh_verify *v)
{
    cmh__err_clear(v->ctx);
    free_run(v);
    cmh__v_orphans_free(v);
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
}

/* 1. listings: the whole library, or the contents named by ID. */
static cmh_status list_library(cmh_verify *v)
{
    if (!v->full)
        return cmh__v_select_ids(v);
    cmh__v_scan_pkglib(v);
    cmh__pause_point("verify-pkglib");
    cmh__v_scan_datalib(v);
    cmh__v_sort_contents(v);
    cmh__v_scan_filelib(v);
    return CMH_OK;
}

/* 2a. pass "index" over the contents: INIs and mirrors. */
static run_step check_contents(cmh_verify *v)
{
    v->items_total = 0;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        if (!c->selected || c->busy)
            continue;
        v->items_total++;
        if (cmh__pool_push(v->pool, cmh__v_content_task, c, v))
            return RUN_NOMEM;
    }
    run_pass(v, "index");
    if (v->canceled || v->timed_out)
        return RUN_STOPPED;
    cmh__pause_point("verify-mirrors");
    v->retire_gen++; /* the mirror walks are over */
    for (size_t i = 0; i < v->ncontents; i++)
        cmh__v_emit_content_findings(v, &v->contents[i]);
    return RUN_NEXT;
}

/* ID mode: the entries the selected contents use, on demand. */
static bool probe_used_entries(cmh_verify *v)
{
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        for (size_t k = 0; k < c->nfiles; k++) {
            vfile *f = &c->files[k];
            if (!f->ok || cmh__v_find_entry(v, f->sha))
                continue;
            if (!cmh__v_probe_entry(v, f->sha))
                return false;
            cmh__v_sort_entries(v);
        }
    }
    return true;
}

/* Full mode: digests no FileLib root has become entries without parts,
 * reported as FILE_MISSING by the join. */
static bool add_missing_entries(cmh_verify *v)
{
    size_t nused = 0;
    for (size_t i = 0; i < v->ncontents; i++)
        nused += v->contents[i].nfiles;
    uint8_t *used = nused ? malloc(nused * CMH_SHA256_LEN) : NULL;
    if (nused && !used)
        return false;
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
            return false;
        }
    }
    free(used);
    cmh__v_sort_entries(v);
    return true;
}

/* The uses per entry (contents in ID order: uses[0] is the first), and
 * the up-front look at the library's signatures (sections 8, 11): a
 * library whose .SIG files are MS-RDC is ConfigMgr-written before any
 * entry is judged. */
static run_step link_uses(cmh_verify *v)
{
    if (!(v->full ? add_missing_entries(v) : probe_used_entries(v)))
        return RUN_NOMEM;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        for (size_t k = 0; k < c->nfiles; k++) {
            vfile *f = &c->files[k];
            if (!f->ok)
                continue;
            f->entry = cmh__v_find_entry(v, f->sha);
            if (!f->entry ||
                !cmh__v_entry_add_use(v, f->entry, (uint32_t)i, (uint32_t)k))
                return RUN_NOMEM;
            if (c->has_sighash && !(v->o.flags & CMH_VERIFY_INDEX_ONLY))
                f->entry->want_sig_hash = true;
        }
    }
    if (!v->foreign_lib)
        v->foreign_lib = cmh__library_sig_rdc(&v->lib, NULL, 0);
    return RUN_NEXT;
}

/* 2b. pass "index" over the FileLib entries: one task per FileLib <h4>
 * folder (entries are sorted by digest). */
static run_step read_entries(cmh_verify *v, unsigned threads)
{
    atomic_store(&v->items_done, 0);
    v->items_total = v->nentries;
    v->efold = v->nentries ? malloc(v->nentries * sizeof *v->efold) : NULL;
    if (v->nentries && !v->efold)
        return RUN_NOMEM;
    v->nefold = 0;
    for (size_t i = 0, j; i < v->nentries; i = j) {
        for (j = i + 1; j < v->nentries && j - i < EFOLDER_MAX &&
                        !memcmp(v->entries[j]->sha, v->entries[i]->sha, 2);
             j++)
            ;
        v->efold[v->nefold++] = (efolder){i, j};
    }
    unsigned et = cmh__v_entry_threads(v, threads);
    if (et > threads && cmh__pool_new(&v->epool, et, cmh__v_eworker_make,
                                      cmh__v_vworker_free, v))
        v->epool = NULL; /* no more threads: the pool's do it */
    for (size_t i = 0; i < v->nefold; i++)
        if (cmh__pool_push(v->epool ? v->epool : v->pool, cmh__v_folder_task,
                           &v->efold[i], v))
            return RUN_NOMEM;
    /* two reads per entry; items_done counts entries: the window is in
     * entries x 2 */
    cmh_prefetch_opts po = {
        .n = 2 * v->nentries, .per = 2, .item = cmh__v_index_item, .arg = v,
        .done = &v->items_done, .stop = &v->stop,
        .io_rate = v->o.io_rate, .threads = threads};
    cmh_prefetch *pf = cmh__v_index_prefetch() ? cmh__prefetch_run(&po) : NULL;
    run_pass(v, "index");
    cmh__prefetch_stop(pf);
    cmh__pool_free(v->epool);
    v->epool = NULL;
    if (v->canceled || v->timed_out)
        return RUN_STOPPED;
    cmh__pause_point("verify-entries");
    return RUN_NEXT;
}

/* 3. the join, on the caller's thread. */
static run_step join(cmh_verify *v)
{
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
        return RUN_NOMEM;
    if (v->canceled)
        return RUN_STOPPED;
    return RUN_NEXT;
}

/* The hash pass's entries, in digest order (the resume cursor relies on
 * it), collected in @p ho (verify_io.h); without memory for the order
 * the pass runs in digest order, unprefetched, its tasks pushed here.
 * False: out of memory (the caller frees ho->e). */
static bool order_hash(cmh_verify *v, hash_order *ho)
{
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
        if (ho->n == ho->cap && !ho->oom) {
            size_t nc = ho->cap ? ho->cap * 2 : 1024;
            ventry **ne = realloc(ho->e, nc * sizeof *ne);
            if (ne) {
                ho->e = ne;
                ho->cap = nc;
            } else {
                /* what was collected first, then the rest as listed */
                ho->oom = true;
                for (size_t j = 0; j < ho->n; j++)
                    if (cmh__pool_push(v->pool, cmh__v_hash_task, ho->e[j], v))
                        return false;
            }
        }
        if (ho->n < ho->cap && !ho->oom)
            ho->e[ho->n++] = e;
        else if (cmh__pool_push(v->pool, cmh__v_hash_task, e, v))
            return false; /* no order: pushed in digest order as listed */
    }
    return true;
}

/* 4. pass "hash": each batch of PHYS_BATCH entries of the digest order
 * in physical order. */
static run_step hash_pass(cmh_verify *v, unsigned threads)
{
    atomic_store(&v->items_done, 0);
    v->items_total = 0;
    v->bytes_total = 0;
    hash_order ho = {v, NULL, 0, 0, 0, 0, false};
    if (!order_hash(v, &ho)) {
        free(ho.e);
        return RUN_NOMEM;
    }
    if (!ho.oom) {
        double tp = cmh__now();
        cmh__v_physical_order(v, &ho);
        ho.phys_s = cmh__now() - tp;
        for (size_t i = 0; i < ho.n; i++)
            if (cmh__pool_push(v->pool, cmh__v_hash_task, ho.e[i], v)) {
                free(ho.e);
                return RUN_NOMEM;
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
    return v->oom ? RUN_NOMEM : RUN_NEXT;
}

/* 5. one status per content, the summary and the resume state (also
 * after a stop). */
static run_step finish(cmh_verify *v)
{
    if (v->timed_out || v->canceled) {
        v->sum.partial = 1;
        v->sum.stop_reason = v->canceled ? "canceled" : "time limit";
        /* let queued tasks see the stop flag and leave */
        cmh__pool_wait(v->pool, 0.1, NULL, NULL);
        cmh__v_drain_done(v);
    }
    for (size_t i = 0; i < v->ncontents && !v->canceled; i++) {
        vcontent *c = &v->contents[i];
        if (c->selected || c->listed)
            cmh__v_content_status(v, c);
    }
    v->sum.bytes_hashed = atomic_load(&v->bytes_done);
    cmh__v_build_state(v);
    return v->oom ? RUN_NOMEM : RUN_NEXT;
}

cmh_status cmh_verify_run(cmh_verify *v)
{
    cmh_ctx *ctx = v->ctx;
    cmh_status st = CMH_OK;
    bool layout_ok;
    run_reset(v);
    if ((st = cmh__v_open_library(v, &layout_ok)) != CMH_OK || !layout_ok)
        goto done;
    if ((st = list_library(v)) != CMH_OK)
        goto done;
    run_step s = RUN_NOMEM;
    unsigned threads = v->o.threads ? v->o.threads : cmh__online_cpus();
    if (!v->oom) {
        cmh__pause_point("verify-listed");
        cmh__v_classify_contents(v);
        if (cmh__pool_new(&v->pool, threads, cmh__v_vworker_make,
                          cmh__v_vworker_free, v)) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "cannot start %u threads",
                           threads);
            goto done;
        }
        s = check_contents(v);
    }
    if (s == RUN_NEXT)
        s = link_uses(v);
    if (s == RUN_NEXT)
        s = read_entries(v, threads);
    if (s == RUN_NEXT)
        s = join(v);
    if (s == RUN_NEXT && !(v->o.flags & CMH_VERIFY_INDEX_ONLY))
        s = hash_pass(v, threads); /* index-only: no file data read */
    if (s != RUN_NOMEM)
        s = finish(v);
    if (s == RUN_NOMEM || v->orphans_oom) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        if (v->pool) {
            atomic_store(&v->stop, true);
            cmh__pool_wait(v->pool, 0.1, NULL, NULL);
        }
    } else if (v->canceled) {
        v->sum.partial = 1;
        v->sum.stop_reason = "canceled";
        st = cmh__fail(ctx, CMH_E_CANCELED, "canceled");
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
    cmh__v_orphans_free(v);
    free(v->prev_done);
    free(v->prev_bad);
    free(v->state_out);
    pthread_mutex_destroy(&v->mu);
    pthread_mutex_destroy(&v->rate_mu);
    free(v);
}
