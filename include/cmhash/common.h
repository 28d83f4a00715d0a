/**
 * @file common.h
 * @brief Status codes, the context handle and version information.
 */
#ifndef CMHASH_COMMON_H
#define CMHASH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * CMH_EXTERN marks every function of the API (and nothing else): libcmhash
 * is built with hidden visibility, so only these are exported from the
 * shared library (tests/cli/abi_exports.sh checks `nm -D`). On Windows the
 * DLL build defines CMH_BUILDING_DLL and its consumers CMH_DLL (the CMake
 * package sets it for them); the static library needs neither.
 */
#ifndef CMH_EXTERN
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(CMH_BUILDING_DLL)
#define CMH_EXTERN __declspec(dllexport)
#elif defined(CMH_DLL)
#define CMH_EXTERN __declspec(dllimport)
#else
#define CMH_EXTERN
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define CMH_EXTERN __attribute__((visibility("default")))
#else
#define CMH_EXTERN
#endif
#endif

#define CMH_VERSION_STRING "0.2.0"

/**
 * Status of a call. 0 is success, errors are negative. Values never change
 * once released; new ones are only appended.
 */
typedef enum cmh_status {
    CMH_OK = 0,
    CMH_E_INVALID = -1,  /**< bad argument or option (a usage error) */
    CMH_E_NOMEM = -2,    /**< out of memory */
    CMH_E_SOURCE = -3,   /**< the source tree cannot be snapshotted */
    CMH_E_LIBRARY = -4,  /**< the content library is unusable or refused */
    CMH_E_IO = -5,       /**< an I/O error (read, write, no space, ...) */
    CMH_E_BUSY = -6,     /**< a lock is held and waiting was not allowed */
    CMH_E_CANCELED = -7, /**< a callback asked to stop */
} cmh_status;

/** Buffer sizes of the identifiers in the API's structs, NUL included:
 *  a package ID (8 characters), a content ID ("MSC0000B.2",
 *  "Content_<GUID>.1", a software update's GUID), a SHA-256 in upper-case
 *  hex (64 digits). */
#define CMH_PKGID_SIZE 9
#define CMH_CID_SIZE 64
#define CMH_HEX_SIZE 65
/** Bytes of a binary SHA-256. */
#define CMH_SHA256_LEN 32

/** Progress of a long call, reported on the caller's thread. */
typedef struct cmh_progress {
    /** snapshot: "scan", "hash", "commit", "retire"; verify: "index",
     *  "hash"; extract: "extract"; delta: "delta"; patch: "patch" */
    const char *phase;
    uint64_t files_done;
    uint64_t files_total;  /**< 0 while still unknown */
    uint64_t bytes_done;
    uint64_t bytes_total;  /**< 0 while still unknown */
    double elapsed;        /**< seconds since the call started */
} cmh_progress;

/** Progress callback: runs on the caller's thread, about every 100 ms
 *  (snapshot: also at each step of the commit phase). Return nonzero to
 *  cancel; the call then fails with CMH_E_CANCELED. Snapshot: up to the
 *  commit point (phase "commit") the library is left as it was; once
 *  phase "retire" is reported the version is committed, the return value
 *  is ignored and the call finishes the retirement and succeeds. */
typedef int (*cmh_progress_cb)(const cmh_progress *p, void *payload);

/*
 * Conventions of every call below (0.2.0):
 * - Out-parameters come first: cmh_snapshot(&result, ctx, &opts).
 * - Options are a versioned struct: start from CMH_<OP>_OPTS_INIT or
 *   cmh_<op>_opts_init(); every other member left zero means its default.
 *   A struct whose version is not the header's is refused (CMH_E_INVALID).
 * - Each callback is a {cb, payload} pair of its own, e.g.
 *   opts.progress = (cmh_progress_hook){on_progress, &my_state}.
 */

/** A progress callback and the payload passed to it. */
typedef struct cmh_progress_hook {
    cmh_progress_cb cb; /**< NULL: no progress reports */
    void *payload;
} cmh_progress_hook;

/** Warning callback: one line (a skipped FIFO, a skipped link...), on the
 *  caller's thread. */
typedef void (*cmh_warning_cb)(const char *msg, void *payload);
/** A warning callback and its payload. */
typedef struct cmh_warning_hook {
    cmh_warning_cb cb; /**< NULL: warnings are dropped */
    void *payload;
} cmh_warning_hook;

/** Opaque context: settings shared by calls plus the last error message.
 *  A context is used by one thread at a time. */
typedef struct cmh_ctx cmh_ctx;

/**
 * Create a context.
 * @param[out] out  receives the new context; caller frees with cmh_ctx_free.
 * @return CMH_OK or CMH_E_NOMEM / CMH_E_IO (crypto provider unavailable).
 */
CMH_EXTERN
cmh_status cmh_ctx_new(cmh_ctx **out);

/** Free a context. NULL is a no-op. */
CMH_EXTERN
void cmh_ctx_free(cmh_ctx *ctx);

/**
 * The message describing the last failure on this context: one line naming
 * the path concerned and what to do. Owned by the context; valid until the
 * next call on it. Never NULL ("" when there was no error).
 */
CMH_EXTERN
const char *cmh_ctx_last_error(const cmh_ctx *ctx);

/**
 * When the last failure is about a list (names Windows cannot hold,
 * symbolic links), its message shows the first items and "and K more";
 * this returns the whole list, one item a line. "" otherwise. Owned by
 * @p ctx, valid until its next call; never NULL.
 */
CMH_EXTERN
const char *cmh_ctx_last_detail(const cmh_ctx *ctx);

/**
 * Add an extra FileLib root of a spanned library (contentlib.md section
 * 10): @p dir is a drive's SCCMContentLib folder holding FileLib, or that
 * FileLib folder. Every library opened with this context looks hashes up
 * on the primary root first, then on these in the order added.
 * @return CMH_OK or CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_ctx_add_filelib(cmh_ctx *ctx, const char *dir);

/** A static, human-readable name for a status ("I/O error", ...). */
CMH_EXTERN
const char *cmh_status_str(cmh_status st);

/** The library version, e.g. "0.2.0". Static string. */
CMH_EXTERN
const char *cmh_version(void);

#ifdef __cplusplus
}
#endif
#endif
