/**
 * @file ls.h
 * @brief List the packages of a content library with sizes and dedup.
 */
#ifndef CMHASH_LS_H
#define CMHASH_LS_H

#include <cmhash/common.h>
#include <cmhash/hash.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One package, valid during the callback only. */
typedef struct cmh_ls_package {
    const char *pkgid;
    uint32_t version;          /**< current version */
    const char *content_id;    /**< current content, e.g. "MSC0000B.2" */
    uint64_t files;
    uint64_t folders;          /**< root excluded */
    uint64_t bytes;            /**< logical: sum of file sizes */
    uint64_t distinct_files;   /**< distinct hashes */
    uint64_t stored_bytes;     /**< FileLib bytes of those hashes */
    const char *content_hash;  /**< DataLib [Info] Hash */
    const char *const *kept;   /**< kept older contents (snapshot --keep) */
    size_t nkept;
    /** NULL, or why the package could not be read (then only pkgid is
     *  meaningful); the listing goes on. */
    const char *problem;
} cmh_ls_package;

/** One file of a package's current content (CMH_LS_FILES). */
typedef struct cmh_ls_file {
    const char *path;   /**< relative, '/'-separated */
    uint64_t size;
    uint32_t attrs;     /**< Win32 attributes */
    int64_t time;       /**< last write, FILETIME */
    const char *hash;   /**< upper-case hex SHA-256 */
} cmh_ls_file;

#define CMH_LS_FILES 0x1u /**< call opts->file for every file */

/** Per package, in package ID order, on the caller's thread; nonzero
 *  stops (CMH_E_CANCELED). */
typedef int (*cmh_ls_package_cb)(const cmh_ls_package *p, void *payload);
/** A package callback and its payload. */
typedef struct cmh_ls_package_hook {
    cmh_ls_package_cb cb; /**< NULL: totals only */
    void *payload;
} cmh_ls_package_hook;
/** Per file, after its package, in NTFS pre-order (CMH_LS_FILES). */
typedef int (*cmh_ls_file_cb)(const cmh_ls_package *p, const cmh_ls_file *f,
                              void *payload);
/** A file callback and its payload. */
typedef struct cmh_ls_file_hook {
    cmh_ls_file_cb cb; /**< NULL: no file lines */
    void *payload;
} cmh_ls_file_hook;

/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_LS_OPTS_VERSION 2
/** Options of cmh_ls; everything is borrowed for the call. Start from
 *  CMH_LS_OPTS_INIT or cmh_ls_opts_init(); zero members are defaults. */
typedef struct cmh_ls_opts {
    unsigned version;             /**< CMH_LS_OPTS_VERSION */
    const char *lib;              /**< library root (must exist) */
    const char *const *pkgids;    /**< packages to list; NULL = all */
    size_t npkgids;
    unsigned flags;               /**< CMH_LS_* */
    cmh_ls_package_hook package;
    cmh_ls_file_hook file;
} cmh_ls_opts;

#define CMH_LS_OPTS_INIT                                                       \
    {                                                                          \
        .version = CMH_LS_OPTS_VERSION                                         \
    }
/** Set @p o to CMH_LS_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_ls_opts_init(cmh_ls_opts *o);

/** Library totals over the packages listed. */
typedef struct cmh_ls_result {
    uint64_t packages;
    uint64_t damaged;          /**< packages reported with a problem */
    uint64_t files, bytes;     /**< logical */
    uint64_t stored_files;     /**< distinct hashes over all packages */
    uint64_t stored_bytes;     /**< their FileLib bytes */
    double dedup_ratio;        /**< bytes / stored_bytes (1.0 if empty) */
} cmh_ls_result;

/**
 * List packages: for each, its current content from PkgLib and the
 * DataLib mirror (no file bytes are read; sizes of FileLib entries come
 * from the file system).
 * @return CMH_OK (damaged packages are reported through the callback and
 *         counted, not errors); CMH_E_INVALID (a bad package ID in
 *         opts->pkgids); CMH_E_LIBRARY (not a library, or a requested
 *         package is not in it); CMH_E_IO; CMH_E_NOMEM; CMH_E_CANCELED.
 */
CMH_EXTERN
cmh_status cmh_ls(cmh_ls_result *out, cmh_ctx *ctx, const cmh_ls_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
