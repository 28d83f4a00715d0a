/**
 * @file verify.h
 * @brief Audit a content library (contentlib.md section 8): corrupted,
 *        missing and orphaned content, broken INIs and references.
 *
 * Verification never writes to the library: every file and folder is opened
 * read-only (O_NOATIME where permitted), IDs read from INIs are validated
 * before they name a path, and every path is opened relative to the
 * library's folders without following symbolic links.
 *
 * A problem found in the library is a *finding*, delivered to a callback;
 * it is not an error of the call. cmh_verify_run() fails only when it cannot
 * do its job (no library, out of memory, bad options).
 *
 * Usage:
 * @code
 *   cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
 *   o.lib = "/srv/SCCMContentLib";
 *   o.finding = (cmh_verify_finding_hook){on_finding, &state}; // this thread
 *   cmh_verify *v;
 *   if (cmh_verify_new(&v, ctx, &o) == CMH_OK) {
 *       cmh_status st = cmh_verify_run(v);
 *       const cmh_verify_summary *s = cmh_verify_get_summary(v);
 *       ...
 *   }
 *   cmh_verify_free(v);
 * @endcode
 */
#ifndef CMHASH_VERIFY_H
#define CMHASH_VERIFY_H

#include <cmhash/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Finding codes (contentlib.md section 8). Values never change; new codes
 *  are only appended. */
typedef enum cmh_verify_code {
    CMH_VF_LIB_LAYOUT = 0,
    CMH_VF_PKG_INI_BAD,
    CMH_VF_PKG_CONTENT_MISSING,
    CMH_VF_CONTENT_INI_BAD,
    CMH_VF_CONTENT_HASH_MISMATCH,
    CMH_VF_FILE_INI_BAD,
    CMH_VF_FILE_MISSING,
    CMH_VF_FILE_SIZE_MISMATCH,
    CMH_VF_FILE_HASH_MISMATCH,
    CMH_VF_FILE_UNREADABLE,
    CMH_VF_REF_MISSING,
    CMH_VF_REF_DANGLING,
    CMH_VF_SIG_MISSING,
    CMH_VF_SIG_BAD,
    CMH_VF_SIG_FOREIGN,
    CMH_VF_SIG_HASH_MISMATCH,
    CMH_VF_ORPHAN_FILE,
    CMH_VF_ORPHAN_CONTENT,
    CMH_VF_STRAY,
    CMH_VF_BUSY,
    /** cmhash addition: lower-case hex in an INI (section 9, "warn:
     *  non-canonical"); the value is accepted. */
    CMH_VF_INI_NONCANONICAL,
    CMH_VF_NCODES /**< number of codes (not a code) */
} cmh_verify_code;

/** Severity of a finding; the numbers are CMTrace's log types. */
typedef enum cmh_severity {
    CMH_SEV_INFO = 1,
    CMH_SEV_WARNING = 2,
    CMH_SEV_ERROR = 3,
} cmh_severity;

/** "FILE_MISSING"... Static string; "?" for an unknown code. */
CMH_EXTERN
const char *cmh_verify_code_name(cmh_verify_code code);
/** The fixed severity of a code (section 8 table). */
CMH_EXTERN
cmh_severity cmh_verify_code_severity(cmh_verify_code code);
/** "info", "warning" or "error". Static string. */
CMH_EXTERN
const char *cmh_severity_name(cmh_severity sev);

/**
 * One problem. Every string is owned by the verifier and valid only during
 * the callback; none is NULL ("" when not applicable).
 */
typedef struct cmh_verify_finding {
    cmh_verify_code code;
    cmh_severity severity;
    const char *code_name;  /**< e.g. "FILE_HASH_MISMATCH" */
    /** The content concerned. For a FileLib entry several contents use,
     *  the first of them in ordinal order. */
    const char *content_id;
    /** Where, relative to the library root with '/' separators, e.g.
     *  "FileLib/9CC8/9CC8...". Entries of an extra FileLib root
     *  (opts.filelibs) start with that root as it was given. */
    const char *path;
    const char *expected;   /**< expected value, e.g. a hash or size */
    const char *actual;     /**< what was found */
    const char *detail;     /**< one human-readable sentence */
    /** For `.cmhash-tmp-*` leftovers: seconds since last modified;
     *  otherwise -1. */
    double age_seconds;
    /** A finding about one FileLib entry: its hash (64 upper-case hex
     *  digits, the entry's name); otherwise "". */
    const char *hash;
} cmh_verify_finding;

/** Findings callback: on the caller's thread. Return nonzero to stop (the
 *  run then ends as canceled, see cmh_verify_run). */
typedef int (*cmh_verify_finding_cb)(const cmh_verify_finding *f,
                                     void *payload);
/** A findings callback and its payload. */
typedef struct cmh_verify_finding_hook {
    cmh_verify_finding_cb cb; /**< NULL: findings are only counted */
    void *payload;
} cmh_verify_finding_hook;

/** Content-validation status of one content, named after the distribution
 *  point status messages an admin knows. */
typedef enum cmh_content_status {
    CMH_CSTATUS_INCOMPLETE = 0,   /**< no error, but not every file was
                                       hashed in this run (subset, resume,
                                       time limit) */
    CMH_CSTATUS_VALIDATED = 2384, /**< verified successfully */
    CMH_CSTATUS_HASH_INVALID = 2382, /**< a hash or size does not match */
    CMH_CSTATUS_FAILED = 2383,    /**< failed to validate: missing or
                                       unreadable files, broken INIs */
    CMH_CSTATUS_SKIPPED = 1,      /**< package busy: not checked */
} cmh_content_status;

/** The outcome for one content; strings valid during the callback. */
typedef struct cmh_verify_content {
    const char *content_id;
    const char *package_id;   /**< package owning it, "" if none */
    cmh_content_status status;
    const char *status_name;  /**< "validated", "hash_invalid", "failed",
                                   "incomplete", "skipped" */
    const char *message;      /**< distmgr-style sentence */
    uint64_t files;           /**< file INIs in its mirror */
    uint64_t files_hashed;    /**< of which hashed in this run (or in an
                                   earlier run of the same cycle) */
    uint64_t bytes;           /**< sum of the Size values */
    uint64_t errors, warnings;
} cmh_verify_content;

/** Content callback: on the caller's thread, once per content after the
 *  findings. Return nonzero to stop (as the findings callback). */
typedef int (*cmh_verify_content_cb)(const cmh_verify_content *c,
                                     void *payload);
/** A content callback and its payload. */
typedef struct cmh_verify_content_hook {
    cmh_verify_content_cb cb; /**< NULL: no content lines */
    void *payload;
} cmh_verify_content_hook;

#define CMH_VERIFY_DEEP 0x1u /**< regenerate every signature and compare */
#define CMH_VERIFY_NICE 0x2u /**< idle I/O class and lowest CPU priority
                                  for the calling thread and the workers
                                  (irreversible for the calling thread) */

/** Index only: read the library's INIs, listings and .SIG headers, never
 *  file data (no hash pass, no signature hashes) - what gc needs. */
#define CMH_VERIFY_INDEX_ONLY 0x4u
/** 2: 0.2.0 (hooks; zero = default). Older structs are refused. */
#define CMH_VERIFY_OPTS_VERSION 2
/** Options of a verification. Start from CMH_VERIFY_OPTS_INIT or
 *  cmh_verify_opts_init(); a member left zero takes its default. Every
 *  pointer is borrowed and must stay valid until cmh_verify_free(). */
typedef struct cmh_verify_opts {
    unsigned version;        /**< CMH_VERIFY_OPTS_VERSION */
    const char *lib;         /**< library root */
    /** Extra FileLib roots of a spanned library: each a FileLib folder or
     *  a library root holding one. May be NULL when nfilelibs is 0. */
    const char *const *filelibs;
    size_t nfilelibs;
    /** Package or content IDs to verify (plus the FileLib files they use);
     *  none = the whole library, orphan and stray checks included. */
    const char *const *ids;
    size_t nids;
    unsigned flags;          /**< CMH_VERIFY_* */
    unsigned threads;        /**< 0 = online CPUs */
    /** Hash only the FileLib files in slice subset_k of subset_n (by hash
     *  prefix); 0/0 = all. Layout and reference checks always run in
     *  full. */
    unsigned subset_k, subset_n;
    double max_seconds;      /**< stop cleanly after this long; 0 = none */
    double io_rate;          /**< read limit in bytes/s; 0 = none */
    /** State text from cmh_verify_resume_state() of an earlier, partial
     *  run: files it hashed are skipped. NULL = start a new cycle. */
    const char *resume_state;
    cmh_verify_finding_hook finding;
    cmh_verify_content_hook content;
    cmh_progress_hook progress; /**< phases "index", "hash" */
} cmh_verify_opts;

#define CMH_VERIFY_OPTS_INIT                                                   \
    {                                                                          \
        .version = CMH_VERIFY_OPTS_VERSION                                     \
    }
/** Set @p o to CMH_VERIFY_OPTS_INIT (for callers without C99). */
CMH_EXTERN
void cmh_verify_opts_init(cmh_verify_opts *o);

/** Totals of a run. */
typedef struct cmh_verify_summary {
    uint64_t packages;          /**< PkgLib INIs read */
    uint64_t contents;          /**< contents checked (not skipped) */
    /** contents by status (cmh_content_status) */
    uint64_t contents_validated;
    uint64_t contents_hash_invalid;
    uint64_t contents_failed;
    uint64_t contents_incomplete;
    uint64_t contents_skipped;
    uint64_t files_total;       /**< FileLib files in scope of this cycle
                                     (after --subset) */
    uint64_t files_hashed;      /**< hashed in this run */
    uint64_t files_previously;  /**< hashed by earlier runs (resume) */
    uint64_t bytes_hashed;
    uint64_t findings[CMH_VF_NCODES]; /**< count per code, indexed by
                                           cmh_verify_code */
    uint64_t errors, warnings, infos;
    unsigned subset_k, subset_n; /**< 1/1 when no subset */
    int partial;       /**< 1: stopped before the end (time or cancel) */
    const char *stop_reason; /**< "", "time limit", "canceled" */
    double seconds;
} cmh_verify_summary;

/** An opaque verification. One thread at a time. */
typedef struct cmh_verify cmh_verify;

/**
 * Prepare a verification.
 * @param[out] out  the new object; free with cmh_verify_free.
 * @param ctx       context for errors; must outlive the object.
 * @param opts      options, copied (the strings they point to are not).
 * @return CMH_OK, CMH_E_INVALID (bad options or resume state),
 *         CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_verify_new(cmh_verify **out, cmh_ctx *ctx,
                          const cmh_verify_opts *opts);

/**
 * Run it once: findings, then one content line per content, through the
 * callbacks. A run that finds problems still returns CMH_OK.
 * @return CMH_OK (also when the time limit cut the run short: see
 *         summary.partial), CMH_E_CANCELED (a callback returned nonzero;
 *         summary and resume state are still valid), CMH_E_LIBRARY (no
 *         library at opts->lib or an extra FileLib root is missing),
 *         CMH_E_INVALID (an ID that is not in the library), CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_verify_run(cmh_verify *v);

/** Totals of the last run; owned by @p v, valid until it is freed. */
CMH_EXTERN
const cmh_verify_summary *cmh_verify_get_summary(const cmh_verify *v);

/**
 * After a partial run: text to pass as opts.resume_state next time (the
 * caller stores it, e.g. in a file). NULL when the cycle is complete.
 * Owned by @p v.
 */
CMH_EXTERN
const char *cmh_verify_resume_state(const cmh_verify *v);

/** What an orphan is (contentlib.md 8: what gc may remove). */
typedef enum cmh_orphan_kind {
    CMH_ORPHAN_CONTENT = 1,   /**< ORPHAN_CONTENT: DataLib content no PkgLib
                                   INI lists */
    CMH_ORPHAN_FILE = 2,      /**< ORPHAN_FILE: FileLib entry no content
                                   uses */
    CMH_ORPHAN_TEMP = 3,      /**< STRAY `.cmhash-tmp-*` (or a dead run's
                                   lock) */
    CMH_ORPHAN_DUPLICATE = 4, /**< STRAY duplicate: a FileLib entry's copy
                                   on a second root of a spanned library */
} cmh_orphan_kind;

/** One orphan of the last run; strings owned by the verifier, valid until
 *  it runs again or is freed. */
typedef struct cmh_verify_orphan {
    cmh_orphan_kind kind;
    const char *path;       /**< as the finding's path */
    const char *content_id; /**< CONTENT: its ID; else "" */
    const char *hash;       /**< FILE, DUPLICATE: the entry's hash; else "" */
    double age_seconds;     /**< TEMP: since last modified; else -1 */
} cmh_verify_orphan;

/**
 * The orphans the last run found, in the order found (only a run over the
 * whole library, opts.ids empty, looks for them; CMH_VERIFY_INDEX_ONLY is
 * enough). Start with *pos = 0; each call fills @p out and returns 1
 * while there is one, then 0.
 */
CMH_EXTERN
int cmh_verify_next_orphan(cmh_verify_orphan *out, const cmh_verify *v,
                           size_t *pos);

/** Free; NULL is a no-op. */
CMH_EXTERN
void cmh_verify_free(cmh_verify *v);

#ifdef __cplusplus
}
#endif
#endif
