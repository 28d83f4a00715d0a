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

/** Per item, on the caller's thread; nonzero stops (CMH_E_CANCELED). */
typedef int (*cmh_gc_item_cb)(const cmh_gc_item *it, void *payload);
/** An item callback and its payload. */
typedef struct cmh_gc_item_hook {
    cmh_gc_item_cb cb; /**< NULL: totals only */
    void *payload;
} cmh_gc_item_hook;

/** min_age when the option is 0: one day. */
#define CMH_GC_DEFAULT_MIN_AGE 86400.0
/** min_age for "any age" (0 means the default). */
#define CMH_GC_ANY_AGE (-1.0)

/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_GC_OPTS_VERSION 2
/** Options of cmh_gc; strings are borrowed for the call. Start from
 *  CMH_GC_OPTS_INIT or cmh_gc_opts_init(); a member left zero takes its
 *  default. */
typedef struct cmh_gc_opts {
    unsigned version;  /**< CMH_GC_OPTS_VERSION */
    const char *lib;   /**< library root */
    unsigned flags;    /**< CMH_GC_* */
    /** Seconds a temporary must be old: 0 = CMH_GC_DEFAULT_MIN_AGE (one
     *  day), negative (CMH_GC_ANY_AGE) = any age. A dead run's temporary
     *  goes whatever its age. */
    double min_age;
    unsigned threads;  /**< for the verify pass; 0 = online CPUs */
    cmh_gc_item_hook item;
    cmh_progress_hook progress; /**< the verify pass's progress */
} cmh_gc_opts;

#define CMH_GC_OPTS_INIT                                                       \
    {                                                                          \
        .version = CMH_GC_OPTS_VERSION                                         \
    }
/** Set @p o to CMH_GC_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_gc_opts_init(cmh_gc_opts *o);

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
 * Find orphans with an index-only verify pass (cmh_verify_next_orphan:
 * ORPHAN_CONTENT, ORPHAN_FILE, `.cmhash-tmp-*` STRAY older than min_age,
 * STRAY duplicates) and list them.
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
