/* cmh_gc: orphans found by verify's engine, removed only after a re-check
 * (gc.h). The orphan definition is verify's (cmh_verify_next_orphan); gc
 * adds what deletion needs: the PkgLib-reachable set including kept
 * versions ([cmhash] Keep=), locks and the re-checks. The parts:
 * find.c (orphans as items), check.c (reachability and re-checks),
 * dups.c (second-root copies), this file (the phases). */
#include "gcpriv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmhash/gc.h>
#include <cmhash/verify.h>

/* The options checked and the run set up. */
static cmh_status gc_start(gc_run *g, cmh_ctx *ctx, const cmh_gc_opts *o)
{
    memset(g, 0, sizeof *g);
    cmh__library_init(&g->lib);
    cmh_status st = CMH__OPTS_CHECK(ctx, o, CMH_GC_OPTS_VERSION, "gc");
    if (st)
        return st;
    if (!o->lib || isnan(o->min_age))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "cmh_gc: opts.lib is required and min_age a number");
    g->ctx = ctx;
    g->o = o;
    g->apply = o->flags & CMH_GC_APPLY;
    g->min_age = o->min_age == 0  ? CMH_GC_DEFAULT_MIN_AGE
                 : o->min_age < 0 ? 0
                                  : o->min_age;
    return CMH_OK;
}

/* After the orphan pass: the library open, and --apply's refusals (an INI
 * that does not parse, a ConfigMgr-written library). */
static cmh_status gc_ready(gc_run *g)
{
    cmh_status st;
    if (g->lib.root_fd < 0 &&
        (st = cmh__library_open(g->ctx, &g->lib, g->o->lib, false)) != CMH_OK)
        return st;
    if (g->apply && g->unparsed[0])
        return cmh__fail(g->ctx, CMH_E_LIBRARY,
                         "gc --apply refuses: %s/%s does not parse, so what "
                         "is referenced is not known; run cmhash verify and "
                         "repair it first",
                         g->lib.path, g->unparsed);
    if (g->apply && !(g->o->flags & CMH_GC_ALLOW_FOREIGN))
        return cmh__library_refuse_foreign(g->ctx, &g->lib, "gc --apply");
    return CMH_OK;
}

/* Orphan contents a PkgLib INI reaches (a kept version) are set aside:
 * never listed, never removed. */
static void set_aside_reachable(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind == CMH_GC_ORPHAN_CONTENT && cmh__gc_reachable(g, it->cid)) {
            res->protected_items++;
            it->kind = 0; /* never listed */
        }
    }
}

/* --apply on one orphan content: under its package lock, re-check, then
 * retire every content of the package PkgLib does not reach. Returns why
 * it stays (NULL: removed). */
static const char *remove_content(gc_run *g, gc_item *it)
{
    char pk[CMH_PKGID_SIZE];
    const char *why = NULL;
    if (cmh_content_id_parse(pk, NULL, it->cid) != CMH_CONTENT_PACKAGE)
        return "not a package content; remove it by hand";
    if (cmh__library_lock_package(g->ctx, &g->lib, pk, false) != CMH_OK) {
        cmh__err_clear(g->ctx);
        return "its package is locked by a running snapshot";
    }
    cmh_pkg_info info;
    uint64_t retired = 0;
    if (cmh__gc_reachable(g, it->cid))
        why = "a PkgLib INI lists it now";
    else if (cmh__pkglib_read(g->ctx, &g->lib, pk, &info) != CMH_OK ||
             cmh__retire_package(g->ctx, &g->lib, pk, info.cid, true,
                                 &retired) != CMH_OK)
        why = "could not retire it (run cmhash verify)";
    else if (cmh__gc_content_exists(g, it->cid))
        why = "still present after retirement";
    cmh__err_clear(g->ctx);
    close(g->lib.pkg_lock_fd);
    g->lib.pkg_lock_fd = -1;
    return why;
}

/* 2. contents, package by package under the package lock. */
static cmh_status gc_contents(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_ORPHAN_CONTENT)
            continue;
        char ini[CMH_CID_SIZE + 8];
        snprintf(ini, sizeof ini, "%s.INI", it->cid);
        it->bytes = cmh__gc_du(g->lib.datalib_fd, it->cid) + cmh__gc_du(g->lib.datalib_fd, ini);
        res->items++;
        res->bytes += it->bytes;
        const char *why = g->apply ? remove_content(g, it) : NULL;
        if (cmh__gc_report(g, it, g->apply && !why, why, res))
            return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    return CMH_OK;
}

/* 2b. the entries those contents freed (their retirement deleted the ones
 * no other content references by now). */
static cmh_status gc_content_files(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_CONTENT_FILE)
            continue;
        res->items++;
        res->bytes += it->bytes;
        bool removed =
            g->apply && !cmh__gc_entry_present(cmh__gc_entry_root(g, it->hash), it->hash);
        const char *why = g->apply && !removed
                              ? "still referenced (its content was kept, "
                                "or another content uses it now)"
                              : NULL;
        if (cmh__gc_report(g, it, removed, why, res))
            return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    return CMH_OK;
}

/* 3. FileLib entries, under the library lock; copies on a second root
 * first (an orphan's duplicate goes with it). */
static cmh_status gc_entries(gc_run *g, cmh_gc_result *res)
{
    uint8_t *used = NULL;
    size_t nused = 0;
    cmh_status st;
    if (g->apply && (st = cmh__gc_used_hashes(g, &used, &nused)) != CMH_OK)
        return st;
    if (g->apply && (st = cmh__library_lock(g->ctx, &g->lib)) != CMH_OK) {
        free(used);
        return st;
    }
    st = cmh__gc_duplicates(g, g->apply, res);
    for (size_t i = 0; st == CMH_OK && i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_ORPHAN_FILE)
            continue;
        it->bytes = cmh__gc_entry_bytes(cmh__gc_entry_root(g, it->hash), it->hash);
        res->items++;
        res->bytes += it->bytes;
        const char *why = g->apply ? cmh__gc_remove_file(g, it, used, nused) : NULL;
        if (cmh__gc_report(g, it, g->apply && !why, why, res))
            st = cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    if (g->apply)
        cmh__library_unlock(&g->lib);
    free(used);
    return st;
}

/* 4. old temporaries. */
static cmh_status gc_temps(gc_run *g, cmh_gc_result *res)
{
    for (size_t i = 0; i < g->n; i++) {
        gc_item *it = &g->v[i];
        if (it->kind != CMH_GC_TEMP)
            continue;
        int fd;
        const char *base;
        if (cmh__gc_open_parent(g, it->path, &fd, &base) == 0) {
            it->bytes = cmh__gc_du(fd, base);
            close(fd);
        }
        res->items++;
        res->bytes += it->bytes;
        const char *why = g->apply ? cmh__gc_remove_temp(g, it) : NULL;
        if (cmh__gc_report(g, it, g->apply && !why, why, res))
            return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
    }
    return CMH_OK;
}

static void gc_free(gc_run *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].path);
    free(g->v);
    free(g->dups);
    free(g->bad);
    cmh__library_close(&g->lib);
}

cmh_status cmh_gc(cmh_gc_result *res, cmh_ctx *ctx, const cmh_gc_opts *o)
{
    memset(res, 0, sizeof *res);
    cmh__err_clear(ctx);
    gc_run g;
    cmh_status st = gc_start(&g, ctx, o);
    if (st == CMH_OK)
        st = cmh__gc_find_orphans(&g); /* 1. verify's orphans */
    if (st == CMH_OK)
        st = gc_ready(&g);
    if (st == CMH_OK) {
        set_aside_reachable(&g, res);
        st = cmh__gc_add_content_files(&g); /* what orphan contents free */
    }
    if (st == CMH_OK)
        st = gc_contents(&g, res);
    if (st == CMH_OK)
        st = gc_content_files(&g, res);
    if (st == CMH_OK)
        st = gc_entries(&g, res);
    if (st == CMH_OK)
        st = gc_temps(&g, res);
    gc_free(&g);
    return st;
}
