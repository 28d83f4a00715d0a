/**
 * @file extract.h
 * @brief Rebuild a content's source tree from a content library.
 */
#ifndef CMHASH_EXTRACT_H
#define CMHASH_EXTRACT_H

#include <cmhash/common.h>
#include <cmhash/hash.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Write into a DEST that is not empty (same-named files are replaced,
 *  other entries are left as they are). */
#define CMH_EXTRACT_FORCE 0x1u

/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_EXTRACT_OPTS_VERSION 2
/** Options of cmh_extract. Start from CMH_EXTRACT_OPTS_INIT or
 *  cmh_extract_opts_init(); zero members are defaults. All strings are
 *  borrowed for the duration of the call. */
typedef struct cmh_extract_opts {
    unsigned version;       /**< CMH_EXTRACT_OPTS_VERSION */
    const char *lib;        /**< library root (must exist) */
    const char *id;         /**< content ID (MSC0000B.2) or package ID
                                 (its current version) */
    const char *dest;       /**< destination folder (created if missing) */
    unsigned flags;         /**< CMH_EXTRACT_* */
    cmh_progress_hook progress; /**< phase "extract" */
} cmh_extract_opts;

#define CMH_EXTRACT_OPTS_INIT                                                  \
    {                                                                          \
        .version = CMH_EXTRACT_OPTS_VERSION                                    \
    }
/** Set @p o to CMH_EXTRACT_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_extract_opts_init(cmh_extract_opts *o);

/** What an extraction did. */
typedef struct cmh_extract_result {
    char content_id[CMH_CID_SIZE]; /**< the content extracted */
    uint64_t files;
    uint64_t folders;       /**< root excluded */
    uint64_t bytes;
    char content_hash[CMH_HEX_SIZE]; /**< of the tree written (== the
                                          library's [Info] Hash) */
    double seconds;
    /** 1: the content hash of DEST as a whole was checked (DEST was new
     *  or empty, or --force left it holding exactly the content); 0:
     *  --force into a folder with other entries, only the files written
     *  were checked. */
    int tree_verified;
} cmh_extract_result;

/**
 * Rebuild content opts->id of opts->lib in opts->dest: every folder (empty
 * ones too), every file's bytes from FileLib, its last-write time from
 * TimeModified and the read-only bit from Attributes (0x1 -> mode 0444,
 * else 0644). Each file's SHA-256 is checked while it is copied, and the
 * content hash of the written tree against the DataLib [Info] Hash.
 *
 * Nothing is written outside opts->dest, whatever the library holds: IDs
 * are validated, the mirror is read with O_NOFOLLOW and a mirror entry
 * that is a symbolic link, `.`/`..` or holds a path separator fails the
 * call before anything is written; files are written as temporaries in
 * their destination folder and renamed into place, never through a link.
 *
 * @return CMH_OK; CMH_E_INVALID (bad ID, DEST not empty without
 *         CMH_EXTRACT_FORCE); CMH_E_LIBRARY (content missing, mirror
 *         crafted or damaged, FileLib file missing or not matching its
 *         hash); CMH_E_IO (cannot write DEST); CMH_E_CANCELED; CMH_E_NOMEM.
 *         On failure files already written stay; the message names the
 *         path.
 */
CMH_EXTERN
cmh_status cmh_extract(cmh_extract_result *out, cmh_ctx *ctx,
                       const cmh_extract_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
