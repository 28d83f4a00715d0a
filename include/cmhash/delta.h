/**
 * @file delta.h
 * @brief Binary delta replication between two contents (librsync), like
 * ConfigMgr's USE_BINARY_DELTA_REP, and the patch that applies it.
 *
 * A delta folder holds `MANIFEST` (format: docs/FORMAT.md "Delta
 * folders"), `delta/<OLD>-<NEW>` librsync deltas computed from the old
 * file's stored `.SIG` and `file/<NEW>` full copies of files with no
 * usable base. Files whose bytes exist anywhere in the old version are
 * copied from there by the patch and cost nothing to transfer.
 */
#ifndef CMHASH_DELTA_H
#define CMHASH_DELTA_H

#include <cmhash/common.h>
#include <cmhash/hash.h>

#ifdef __cplusplus
extern "C" {
#endif

/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_DELTA_OPTS_VERSION 2
/** Options of cmh_delta; strings are borrowed for the call. Start from
 *  CMH_DELTA_OPTS_INIT or cmh_delta_opts_init(); zero members are
 *  defaults. */
typedef struct cmh_delta_opts {
    unsigned version;   /**< CMH_DELTA_OPTS_VERSION */
    const char *lib;    /**< library holding both contents */
    const char *from;   /**< old content ID (e.g. kept by snapshot --keep) */
    const char *to;     /**< new content ID, or a package ID (current) */
    const char *outdir; /**< created; must be empty or missing */
    cmh_progress_hook progress; /**< phase "delta" */
} cmh_delta_opts;

#define CMH_DELTA_OPTS_INIT                                                    \
    {                                                                          \
        .version = CMH_DELTA_OPTS_VERSION                                      \
    }
/** Set @p o to CMH_DELTA_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_delta_opts_init(cmh_delta_opts *o);

/** What a delta holds. */
typedef struct cmh_delta_result {
    char from_id[CMH_CID_SIZE], to_id[CMH_CID_SIZE];
    char from_hash[CMH_HEX_SIZE], to_hash[CMH_HEX_SIZE];
    uint64_t unchanged;   /**< same path, same bytes */
    uint64_t copied;      /**< bytes found elsewhere in the old version */
    uint64_t changed;     /**< sent as a librsync delta */
    uint64_t full;        /**< sent whole (new, or delta not smaller) */
    uint64_t removed;     /**< old files absent from the new version */
    uint64_t folders;     /**< folders of the new version */
    uint64_t full_bytes;  /**< size of the new version */
    uint64_t delta_bytes; /**< bytes of the delta files */
    uint64_t send_bytes;  /**< delta files + whole files: what is sent */
    double seconds;
    /** Of the files sent whole: changed files whose old .SIG is MS-RDC
     *  (Configuration Manager's signature, which librsync cannot use). */
    uint64_t foreign_sigs;
    /** The library's signatures are MS-RDC (the up-front look at its
     *  .SIG files, contentlib.md 8 and 11). */
    int library_sigs_foreign;
} cmh_delta_result;

/**
 * Write the delta from content opts->from to opts->to into opts->outdir.
 * @return CMH_OK; CMH_E_INVALID (bad ID, outdir not empty);
 *         CMH_E_LIBRARY (content missing or damaged, FileLib entry or
 *         .SIG unreadable); CMH_E_IO (cannot write outdir); CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_delta(cmh_delta_result *out, cmh_ctx *ctx,
                     const cmh_delta_opts *opts);

/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_PATCH_OPTS_VERSION 2
/** Options of cmh_patch. Start from CMH_PATCH_OPTS_INIT or
 *  cmh_patch_opts_init(); zero members are defaults. */
typedef struct cmh_patch_opts {
    unsigned version;     /**< CMH_PATCH_OPTS_VERSION */
    const char *base;     /**< the old version's tree (e.g. extracted) */
    const char *delta;    /**< a folder written by cmh_delta */
    const char *out;      /**< created; must be empty or missing */
    cmh_progress_hook progress; /**< phase "patch" */
} cmh_patch_opts;

#define CMH_PATCH_OPTS_INIT                                                    \
    {                                                                          \
        .version = CMH_PATCH_OPTS_VERSION                                      \
    }
/** Set @p o to CMH_PATCH_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_patch_opts_init(cmh_patch_opts *o);

/** What a patch rebuilt. */
typedef struct cmh_patch_result {
    char to_id[CMH_CID_SIZE];
    uint64_t files, folders, bytes;
    char content_hash[CMH_HEX_SIZE]; /**< of out, == the manifest's "to" */
    double seconds;
} cmh_patch_result;

/**
 * Rebuild the new version in opts->out from opts->base and opts->delta:
 * every file's SHA-256 is checked as it is written, then the content hash
 * of out against the manifest. Paths in the manifest are validated (no
 * `..`, absolute names or separators inside a name) and out is written
 * with openat/O_NOFOLLOW and temp + rename, so a crafted delta cannot
 * write outside out.
 * @return CMH_OK; CMH_E_INVALID (out not empty); CMH_E_SOURCE (base
 *         missing or a base file absent or different, delta folder
 *         missing or damaged); CMH_E_IO; CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_patch(cmh_patch_result *out, cmh_ctx *ctx,
                     const cmh_patch_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
