/**
 * @file diff.h
 * @brief Compare two trees: source folders or library contents.
 */
#ifndef CMHASH_DIFF_H
#define CMHASH_DIFF_H

#include <cmhash/common.h>
#include <cmhash/hash.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Kind of one difference. */
typedef enum cmh_diff_kind {
    CMH_DIFF_ADDED = 1,    /**< only in B */
    CMH_DIFF_REMOVED = 2,  /**< only in A */
    CMH_DIFF_CHANGED = 3,  /**< a file in both whose bytes differ (a file
                                replaced by a folder is a removal and an
                                addition) */
    CMH_DIFF_METADATA = 4, /**< same bytes; last-write time or attributes
                                differ (does not change the content hash) */
} cmh_diff_kind;

/** One difference, valid during the callback only. Paths are relative,
 *  `/`-separated, UTF-8, as spelt in B (A for removals). */
typedef struct cmh_diff_entry {
    cmh_diff_kind kind;
    const char *path;
    int is_dir;              /**< a folder (added/removed only) */
    uint64_t old_size, new_size;         /**< 0 when absent */
    int64_t old_time, new_time;          /**< FILETIME (100 ns since 1601,
                                              UTC); 0 when absent */
    uint32_t old_attrs, new_attrs;       /**< Win32 attributes */
    const char *old_hash, *new_hash;     /**< upper-case hex, "" absent */
} cmh_diff_entry;

/** Called once per difference in NTFS pre-order, on the caller's thread.
 *  Return nonzero to stop (cmh_diff then fails with CMH_E_CANCELED). */
typedef int (*cmh_diff_cb)(const cmh_diff_entry *e, void *payload);

/** A difference callback and its payload. */
typedef struct cmh_diff_hook {
    cmh_diff_cb cb; /**< NULL: counts only */
    void *payload;
} cmh_diff_hook;

/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_DIFF_OPTS_VERSION 2
/** Options of cmh_diff; strings are borrowed for the call. Start from
 *  CMH_DIFF_OPTS_INIT or cmh_diff_opts_init(); zero members are defaults. */
typedef struct cmh_diff_opts {
    unsigned version;  /**< CMH_DIFF_OPTS_VERSION */
    const char *lib;   /**< library for content IDs; NULL: A and B must
                            be folders */
    const char *a;     /**< an existing folder, else a content ID or a
                            package ID (current version) in lib */
    const char *b;     /**< same as a */
    cmh_diff_hook entry;
} cmh_diff_opts;

#define CMH_DIFF_OPTS_INIT                                                     \
    {                                                                          \
        .version = CMH_DIFF_OPTS_VERSION                                       \
    }
/** Set @p o to CMH_DIFF_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_diff_opts_init(cmh_diff_opts *o);

/** Summary of a comparison. */
typedef struct cmh_diff_result {
    uint64_t added, removed, changed, metadata, unchanged; /**< files */
    uint64_t added_dirs, removed_dirs;
    uint64_t added_bytes, removed_bytes;       /**< sizes of those files */
    uint64_t changed_old_bytes, changed_new_bytes;
    char hash_a[CMH_HEX_SIZE], hash_b[CMH_HEX_SIZE]; /**< content hashes */
    int hash_changed;  /**< hash_a != hash_b: "Update distribution
                            points" would send a new version */
    int same;          /**< no difference of any kind */
    char label_a[80], label_b[80]; /**< "folder" or the content ID */
} cmh_diff_result;

/**
 * Compare A and B. Folders are walked and hashed (symbolic links are
 * skipped); contents are read from the library mirror, no FileLib bytes.
 * Files are matched by path the NTFS way (case-insensitively), since the
 * content hash cannot see case. Times are compared at FILETIME resolution.
 * @return CMH_OK (whether or not they differ: see out->same);
 *         CMH_E_INVALID (neither a folder nor an ID), CMH_E_SOURCE,
 *         CMH_E_LIBRARY, CMH_E_IO, CMH_E_CANCELED, CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_diff(cmh_diff_result *out, cmh_ctx *ctx,
                    const cmh_diff_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
