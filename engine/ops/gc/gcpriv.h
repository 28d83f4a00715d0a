/* gc's private declarations (engine/ops/gc/). */
#ifndef CMHASH_GC_PRIV_H
#define CMHASH_GC_PRIV_H

#include "tree_io.h"

#include "os/os.h"
#include <cmhash/gc.h>
#include <cmhash/verify.h>

/* One typed item: what it is, its content ID or FileLib hash, taken once
 * from verify's finding; nothing below re-parses a path. */
typedef struct gc_item {
    cmh_gc_kind kind;
    const char *what; /* "content", "mirror", "filelib-entry", "temp",
                         "lock" (cmh_gc_item.what) */
    char *path;
    char cid[CMH_CID_SIZE];
    char hash[CMH_HEX_SIZE]; /* ORPHAN_FILE, CONTENT_FILE */
    double age;
    uint64_t bytes;
} gc_item;

typedef struct gc_run {
    cmh_ctx *ctx;
    const cmh_gc_opts *o;
    cmh_library lib;
    gc_item *v;
    size_t n, cap;
    bool oom;
    bool apply;          /* CMH_GC_APPLY */
    double min_age;      /* seconds (opts: 0 = default, negative = any) */
    char unparsed[1024]; /* first INI that failed to parse: what is
                            referenced is not known, --apply refuses */
    char (*dups)[CMH_HEX_SIZE]; /* hashes verify found on two roots */
    size_t ndups;
    char (*bad)[CMH_HEX_SIZE]; /* hashes whose used copy verify found
                                  damaged (size, unreadable) */
    size_t nbad;
} gc_run;

/* A new item (path copied); NULL and g->oom when out of memory. */
gc_item *cmh__gc_item_new(gc_run *g, cmh_gc_kind kind, const char *path);

/* 1. verify's orphan engine: an index-only pass over the whole library,
 * then its typed orphans. */
cmh_status cmh__gc_find_orphans(gc_run *g);

/* Bytes of the files at or below @p name in folder @p parent. */
uint64_t cmh__gc_du(int parent, const char *name);

/* Open the folder of @p rel (library-relative) and point *base at the
 * last component. */
int cmh__gc_open_parent(gc_run *g, const char *rel, int *fd,
                       const char **base);

/* Is @p cid reachable from its package's PkgLib INI (current or kept)? */
bool cmh__gc_reachable(gc_run *g, const char *cid);

/* Is there a DataLib INI or mirror folder for @p cid? */
bool cmh__gc_content_exists(gc_run *g, const char *cid);

/* Every hash a content in DataLib uses (sorted, 32 bytes each). */
cmh_status cmh__gc_used_hashes(gc_run *g, uint8_t **out, size_t *n);

/* The FileLib root (its fd) holding any of entry @p hex's data, .SIG or
 * reference INI: the primary root first, then the extra ones; the primary
 * when none does. */
int cmh__gc_entry_root(gc_run *g, const char *hex);

/* Bytes of entry @p hex (data, .SIG, reference INI) on root @p fl. */
uint64_t cmh__gc_entry_bytes(int fl, const char *hex);

/* Is any of entry @p hex's three files still on root @p fl? */
bool cmh__gc_entry_present(int fl, const char *hex);

/* Remove one orphan FileLib entry after the re-check; the caller holds the
 * library lock. Returns NULL when removed, else why not. */
const char *cmh__gc_remove_file(gc_run *g, gc_item *it, const uint8_t *used,
                               size_t nused);

/* The FileLib entries that only listed orphan contents reference: their
 * retirement frees them. Added as CMH_GC_CONTENT_FILE items (before any
 * removal, so the dry run and --apply list the same). */
cmh_status cmh__gc_add_content_files(gc_run *g);

/* Remove one old temporary (re-checked); NULL when removed, else why
 * not. */
const char *cmh__gc_remove_temp(gc_run *g, gc_item *it);

/* One item to the caller's callback, counted in @p res; nonzero stops. */
int cmh__gc_report(gc_run *g, gc_item *it, bool removed, const char *why,
                  cmh_gc_result *res);

/* FileLib root @p r of the library: 0 the primary, then the extra roots
 * in lookup order (cmh__filelib_roots_open). */
int cmh__gc_root_fd(gc_run *g, size_t r);

/* Duplicates (verify's STRAY on a second root): one item per entry and
 * root that is not the used one, listed and, with --apply, removed under
 * the library lock after the re-check. */
cmh_status cmh__gc_duplicates(gc_run *g, bool apply, cmh_gc_result *res);

#endif
