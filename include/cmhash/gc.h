/**
 * @file gc.h
 * @brief Remove what verify calls orphans, and old temporaries.
 */
#ifndef CMHASH_GC_H
#define CMHASH_GC_H

#include <cmhash/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What an item is. */
typedef enum cmh_gc_kind {
    CMH_GC_ORPHAN_CONTENT = 1, /**< DataLib content no PkgLib INI lists */
    CMH_GC_ORPHAN_FILE = 2,    /**< FileLib entry no content uses */
    CMH_GC_TEMP = 3,           /**< `.cmhash-tmp-*` older than min_age */
    /** FileLib entry that only orphan contents use: removing them frees
     *  it (their retirement deletes it in the same run) */
    CMH_GC_CONTENT_FILE = 4,
    /** A FileLib entry's copy on a second root of a spanned library
     *  (verify's STRAY duplicate): not the copy commands use, so nothing
     *  references it. Removed only when each of its files has the same
     *  size on the used root (the reference INI: the same bytes) and the
     *  used copy is intact; else listed with why it stays. */
    CMH_GC_DUPLICATE = 5,
} cmh_gc_kind;

/** One item, valid during the callback only. */
typedef struct cmh_gc_item {
    cmh_gc_kind kind;
    const char *path;       /**< relative to the library, '/'-separated */
    const char *content_id; /**< ORPHAN_CONTENT: its ID; else "" */
    uint64_t bytes;         /**< space it takes (files below it) */
    double age_seconds;     /**< TEMP: since last modified; else -1 */
    int removed;            /**< CMH_GC_APPLY: removed */
    /** CMH_GC_APPLY and not removed: why (busy, now referenced...).
     *  DUPLICATE: also in a dry run, when the copy would stay. */
    const char *skipped;
    /** What the item is on disk: "content" (DataLib INI and mirror),
     *  "mirror" (a DataLib folder without its INI, or a temp mirror),
     *  "filelib-entry" (data, .SIG and reference INI), "temp" (a temp
     *  file) or "lock" (a lock file of a dead run). */
    const char *what;
    /** ORPHAN_FILE, CONTENT_FILE, DUPLICATE: the entry's hash (64
     *  upper-case hex);
     *  else "". CONTENT_FILE's content_id is the orphan content that
     *  frees it. */
    const char *hash;
} cmh_gc_item;

#define CMH_GC_APPLY 0x1u /**< delete; without it a dry run */
/** --apply on a library Configuration Manager wrote (contentlib.md 11). */
#define CMH_GC_ALLOW_FOREIGN 0x2u

#define CMH_GC_OPTS_VERSION 1
/** Options of cmh_gc; strings are borrowed for the call. */
typedef struct cmh_gc_opts {
    unsigned version;  /**< CMH_GC_OPTS_VERSION */
    const char *lib;   /**< library root */
    unsigned flags;    /**< CMH_GC_* */
    double min_age;    /**< seconds a temporary must be old (default 1 day) */
    unsigned threads;  /**< for the verify pass; 0 = online CPUs */
    /** Per item, on the caller's thread; nonzero stops (CMH_E_CANCELED). */
    int (*item)(const cmh_gc_item *it, void *payload);
    cmh_progress_cb progress; /**< the verify pass's progress */
    void *payload;
} cmh_gc_opts;

#define CMH_GC_OPTS_INIT { CMH_GC_OPTS_VERSION, NULL, 0, 86400.0, 0, NULL, NULL, NULL }

/** Totals. */
typedef struct cmh_gc_result {
    uint64_t items, bytes;          /**< found (what a dry run would free) */
    uint64_t removed, removed_bytes;
    uint64_t skipped;               /**< found but not removed (apply) */
    uint64_t protected_items;       /**< verify's orphans that a PkgLib
                                         INI still reaches ([cmhash] Keep=)
                                         or a locked package uses: never
                                         listed, never removed */
} cmh_gc_result;

/**
 * Find orphans with a full verify pass (cmh_verify: ORPHAN_CONTENT,
 * ORPHAN_FILE, `.cmhash-tmp-*` STRAY older than min_age) and list them.
 * Anything a PkgLib INI reaches - the current version or a kept one - is
 * never listed. With CMH_GC_APPLY each item is re-checked just before it
 * is deleted: contents under their package lock (a busy package is
 * skipped), FileLib entries under the library lock, and an entry is kept
 * if any content still in DataLib uses it or its reference INI names a
 * content that exists or whose package is being written.
 * @return CMH_OK; CMH_E_INVALID; CMH_E_LIBRARY; CMH_E_IO; CMH_E_NOMEM;
 *         CMH_E_CANCELED.
 */
CMH_EXTERN
cmh_status cmh_gc(cmh_gc_result *out, cmh_ctx *ctx, const cmh_gc_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
