/**
 * @file snapshot.h
 * @brief Write a new package version into a content library.
 */
#ifndef CMHASH_SNAPSHOT_H
#define CMHASH_SNAPSHOT_H

#include <cmhash/common.h>
#include <cmhash/hash.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMH_SNAPSHOT_SKIP_LINKS 0x1u  /**< skip symlinks instead of failing */
#define CMH_SNAPSHOT_NO_WAIT 0x2u     /**< fail with CMH_E_BUSY if locked */
#define CMH_SNAPSHOT_NO_FSYNC 0x4u    /**< benchmarks only: no durability */
#define CMH_SNAPSHOT_IF_CHANGED 0x8u  /**< no new version if hash is equal */
/** Re-hash every present FileLib entry of a large file before trusting it
 *  (small files are always compared): a damaged entry of the right size is
 *  replaced with the fresh bytes (contentlib.md 7.2). */
#define CMH_SNAPSHOT_HEAL 0x10u
/** Write the version even when the source is empty and the current
 *  version is not (default: CMH_E_SOURCE, an unmounted share). */
#define CMH_SNAPSHOT_ALLOW_EMPTY 0x20u
/** Write the version even when the number of files drops by more than
 *  90 % (default: CMH_E_SOURCE, a half-mounted share). */
#define CMH_SNAPSHOT_ALLOW_SHRINK 0x40u
/** Write `[cmhash] Source=` (off by default: libraries are often readable
 *  by every domain user, source paths should not leak through them). */
#define CMH_SNAPSHOT_RECORD_SOURCE 0x80u
/** Write to a library Configuration Manager wrote (contentlib.md 11). */
#define CMH_SNAPSHOT_ALLOW_FOREIGN 0x100u

/** 3: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_SNAPSHOT_OPTS_VERSION 3
/** Options of cmh_snapshot. Start from CMH_SNAPSHOT_OPTS_INIT or
 *  cmh_snapshot_opts_init(); a member left zero takes its default. */
typedef struct cmh_snapshot_opts {
    unsigned version;     /**< CMH_SNAPSHOT_OPTS_VERSION */
    const char *lib;      /**< library root (created if missing); borrowed */
    const char *source;   /**< local source folder (already UNC-mapped) */
    const char *source_display; /**< Source= value; NULL = source */
    const char *pkgid;    /**< package ID, any case */
    unsigned threads;     /**< 0 = online CPUs */
    uint32_t new_version; /**< 0 = current + 1 */
    unsigned flags;       /**< CMH_SNAPSHOT_* */
    /** Keep this many previous versions (newest first) instead of retiring
     *  them, recorded in the PkgLib INI's `[cmhash] Keep=` so verify and
     *  gc count them as referenced (docs/FORMAT.md). 0 = retire all. */
    uint32_t keep;
    cmh_progress_hook progress; /**< phases "scan", "hash", "commit",
                                     "retire" */
    cmh_warning_hook warning;   /**< skipped FIFOs, links... */
} cmh_snapshot_opts;

#define CMH_SNAPSHOT_OPTS_INIT                                                 \
    {                                                                          \
        .version = CMH_SNAPSHOT_OPTS_VERSION                                   \
    }
/** Set @p o to CMH_SNAPSHOT_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_snapshot_opts_init(cmh_snapshot_opts *o);

/** What a snapshot did. */
typedef struct cmh_snapshot_result {
    char pkgid[CMH_PKGID_SIZE];
    char content_id[CMH_CID_SIZE]; /**< e.g. "MSC0000B.2" */
    uint32_t version;           /**< n */
    uint32_t previous_version;  /**< 0 if none */
    int unchanged;              /**< 1: IF_CHANGED and hash equal; nothing
                                     was written */
    uint64_t files;
    uint64_t folders;           /**< root excluded */
    uint64_t bytes;
    uint64_t new_files;         /**< FileLib entries added */
    uint64_t new_bytes;
    uint64_t present_files;     /**< distinct hashes already in FileLib */
    uint64_t skipped;           /**< FIFOs, sockets, devices, links skipped */
    uint64_t retired_files;     /**< FileLib entries removed by retirement */
    char content_hash[CMH_HEX_SIZE];
    char signature_hash[CMH_HEX_SIZE];
    double seconds;
} cmh_snapshot_result;

/**
 * Take a snapshot of opts->source as the next version of opts->pkgid.
 * Crash-safe as contentlib.md section 7 says: until the PkgLib INI is
 * replaced the library still shows the previous version.
 * On failure the library is left as it was and the context holds a one-line
 * message naming the path and the fix.
 * @return CMH_E_INVALID (bad ID or version), CMH_E_SOURCE, CMH_E_LIBRARY,
 *         CMH_E_IO, CMH_E_BUSY, CMH_E_CANCELED, CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_snapshot(cmh_snapshot_result *out, cmh_ctx *ctx,
                        const cmh_snapshot_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
