/**
 * @file dpstatus.h
 * @brief Package status over several distribution points' libraries
 * (what ConfigMgr's package status summarizers report: Targeted vs
 * Installed), and a watch that wakes when a library changes.
 */
#ifndef CMHASH_DPSTATUS_H
#define CMHASH_DPSTATUS_H

#include <cmhash/common.h>
#include <cmhash/hash.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One library's state for the package, valid during the callback. */
typedef struct cmh_dp_lib {
    const char *lib;
    uint32_t version;        /**< the package's version there, 0 = none */
    const char *content_id;  /**< "" when the package is absent */
    int present;             /**< holds the targeted (highest) version */
    int valid;               /**< present and its files check out */
    const char *problem;     /**< NULL, or the first problem found */
    int absent;              /**< the library has no PkgLib INI for the
                                  package (a damaged one is not absent) */
} cmh_dp_lib;

#define CMH_DP_QUICK 0x1u /**< verify's index-only pass (layout, INIs,
                               content hash over the mirror, sizes,
                               references): no file bytes are read */

/** Per library in the given order, on the caller's thread; nonzero
 *  stops (CMH_E_CANCELED). */
typedef int (*cmh_dp_lib_cb)(const cmh_dp_lib *l, void *payload);
/** A library callback and its payload. */
typedef struct cmh_dp_lib_hook {
    cmh_dp_lib_cb cb; /**< NULL: summary only */
    void *payload;
} cmh_dp_lib_hook;

/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_DP_OPTS_VERSION 2
/** Options of cmh_dp_status; borrowed for the call. Start from
 *  CMH_DP_OPTS_INIT or cmh_dp_opts_init(); zero members are defaults. */
typedef struct cmh_dp_opts {
    unsigned version;          /**< CMH_DP_OPTS_VERSION */
    const char *pkgid;         /**< package ID, any case */
    const char *const *libs;   /**< library roots (one per DP) */
    size_t nlibs;
    unsigned flags;            /**< CMH_DP_* */
    cmh_dp_lib_hook lib;
} cmh_dp_opts;

#define CMH_DP_OPTS_INIT                                                       \
    {                                                                          \
        .version = CMH_DP_OPTS_VERSION                                         \
    }
/** Set @p o to CMH_DP_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_dp_opts_init(cmh_dp_opts *o);

/** Summary. */
typedef struct cmh_dp_result {
    char pkgid[CMH_PKGID_SIZE];
    uint32_t target_version;   /**< highest version over the libraries */
    uint32_t targeted;         /**< number of libraries */
    uint32_t installed;        /**< present and valid */
    int distributed;           /**< installed == targeted */
} cmh_dp_result;

/**
 * Check package opts->pkgid in every library: is the targeted version
 * (the highest any library holds) present, and do its files pass a check
 * (full: cmh_verify of its contents, every byte hashed; CMH_DP_QUICK: the
 * same with CMH_VERIFY_INDEX_ONLY, no file data read)? A library that is missing or
 * damaged is a library "not installed", not an error of the call.
 * @return CMH_OK, CMH_E_INVALID (bad package ID, no library), CMH_E_NOMEM,
 *         CMH_E_CANCELED.
 */
CMH_EXTERN
cmh_status cmh_dp_status(cmh_dp_result *out, cmh_ctx *ctx,
                         const cmh_dp_opts *opts);

/** Watch of library folders for changes (inotify where available, else
 *  polling of modification times). */
typedef struct cmh_dp_watch cmh_dp_watch;

/** Watch the PkgLib, DataLib and FileLib folders of @p libs. *polling is
 *  set when inotify is unavailable. Free with cmh_dp_watch_free. */
CMH_EXTERN
cmh_status cmh_dp_watch_new(cmh_dp_watch **out, int *polling, cmh_ctx *ctx,
                            const char *const *libs, size_t nlibs);

/** Wait up to @p timeout seconds (polling: check every @p interval
 *  seconds) for a change; after one, wait until the libraries have been
 *  quiet for 100 ms. *changed = 1 when something changed. */
CMH_EXTERN
cmh_status cmh_dp_watch_wait(int *changed, cmh_dp_watch *w, double timeout,
                             double interval);

/** Free; NULL is a no-op. */
CMH_EXTERN
void cmh_dp_watch_free(cmh_dp_watch *w);

#ifdef __cplusplus
}
#endif
#endif
