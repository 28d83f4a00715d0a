/* Internal declarations shared by the engine's files. Not installed. */
#ifndef CMHASH_INTERNAL_H
#define CMHASH_INTERNAL_H

#include <cmhash/cmhash.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

/* Footguns banned at compile time (after the libc headers that declare
 * them, which every engine file reaches through this header first). */
#pragma GCC poison strcpy strcat sprintf vsprintf gets

#define CMH_ERRMSG_SIZE 2048

struct cmh_ctx {
    char err[CMH_ERRMSG_SIZE];
    char *detail; /* full list behind err (cmh__fail_list), or NULL */
    EVP_MD *sha256; /* fetched once, shared read-only by all threads */
    char **filelibs; /* extra FileLib roots (cmh_ctx_add_filelib) */
    size_t nfilelibs;
};

/* Fail with a list that may be long (bad names, links): the message is
 * "HEAD: 'a'; 'b'; ... and K more; HINT" with at most 10 items, so the
 * hint always fits; the whole list (one item a line) is kept for
 * cmh_ctx_last_detail. @p lines: items separated by '\n'. */
cmh_status cmh__fail_list(cmh_ctx *ctx, cmh_status st, const char *head,
                          const char *lines, const char *hint);
/* Set the context's error message (printf style); returns @p st. */
cmh_status cmh__fail(cmh_ctx *ctx, cmh_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The check every entry point starts with (common.h's conventions): NULL
 * options, or a version other than @p want (a caller built against other
 * headers), is CMH_E_INVALID with the fix; CMH_OK otherwise. @p op names
 * the call ("snapshot"). */
#define CMH__OPTS_CHECK(ctx, o, want, op)                                      \
    cmh__opts_check((ctx), (o) != NULL, (o) ? (o)->version : 0u, (want), (op))
cmh_status cmh__opts_check(cmh_ctx *ctx, bool given, unsigned version,
                           unsigned want, const char *op);
/* Like cmh__fail, appending ": strerror(err)". */
cmh_status cmh__fail_errno(cmh_ctx *ctx, cmh_status st, int err,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The error state of a context is touched only through these functions
 * (util.c); engine files never read or write ctx->err themselves. */
/* The message of the last failure ("" when none); owned by @p ctx, valid
 * until the next failure or clear. */
const char *cmh__err_msg(const cmh_ctx *ctx);
/* Forget the last failure (message and its list detail): an error that was
 * handled (reported as a warning, a finding, a problem of a result) must
 * not reach the caller as the call's own error. */
void cmh__err_clear(cmh_ctx *ctx);
/* A copy of a context's error state, to run calls that may fail between
 * cmh__err_capture and cmh__err_restore (or cmh__err_discard) without
 * losing the error that was there before. */
typedef struct cmh_err_saved {
    char msg[CMH_ERRMSG_SIZE];
    char *detail; /* copy of the list detail, or NULL */
} cmh_err_saved;
void cmh__err_capture(const cmh_ctx *ctx, cmh_err_saved *saved);
/* Put the captured state back; releases @p saved. */
void cmh__err_restore(cmh_ctx *ctx, cmh_err_saved *saved);
/* Release @p saved without restoring it. */
void cmh__err_discard(cmh_err_saved *saved);
/* Replace the first occurrence of @p old in the message by the printf
 * style text (the rest of the message is kept after it); the list detail
 * stays. No-op when @p old does not occur. */
void cmh__err_replace(cmh_ctx *ctx, const char *old, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Status for an errno from a library write (ENOSPC, EROFS, EIO...). */
cmh_status cmh__status_for_write_errno(int err);
/* A one-line fix hint for a write errno. */
const char *cmh__write_hint(int err);
/* The same for a destination folder (extract DEST, delta/patch OUTDIR):
 * the destination, not the library, is the problem. */
const char *cmh__dest_hint(int err);
/* Advice for a read of library content failing with errno err. */
const char *cmh__read_hint(int err);

/* ---- growable byte buffer ---- */
typedef struct cmh_buf {
    char *data;
    size_t len, cap;
    bool oom; /* sticky: set when an append failed */
} cmh_buf;
void cmh__buf_init(cmh_buf *b);
void cmh__buf_free(cmh_buf *b);
void cmh__buf_reset(cmh_buf *b);
void cmh__buf_add(cmh_buf *b, const void *data, size_t len);
void cmh__buf_adds(cmh_buf *b, const char *s);
void cmh__buf_addf(cmh_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* NUL-terminated view (data may be NULL when empty: returns ""). */
const char *cmh__buf_str(cmh_buf *b);

char *cmh__strdup(const char *s);
char *cmh__path_join(const char *a, const char *b);
/* mkdir -p (0755); returns 0 or an errno. */
int cmh__mkdir_p(const char *path);
bool cmh__is_hex64(const char *s, bool *lower_seen);
double cmh__now(void);
/* write(2) all @p len bytes, again after EINTR; 0 or an errno. */
int cmh__write_all(int fd, const void *data, size_t len);

/* ---- names (names.c) ---- */
/* UTF-8 -> UTF-16; returns false on invalid UTF-8 (overlong, surrogates,
 * > U+10FFFF). *out is malloc'd (may be NULL when len 0). */
bool cmh__utf8_to_utf16(const char *s, size_t len, uint16_t **out,
                       size_t *out_len);
/* UTF-16LE bytes -> UTF-8 (lone surrogates become U+FFFD). */
char *cmh__utf16le_to_utf8(const unsigned char *s, size_t nbytes,
                          size_t *out_len);
void cmh__utf16_upper(uint16_t *s, size_t n);
void cmh__utf16_lower(uint16_t *s, size_t n);
/* NTFS order of two upper-cased names. */
int cmh__utf16_cmp(const uint16_t *a, size_t an, const uint16_t *b, size_t bn);
/* Why a name cannot live on Windows, or NULL if it can. */
const char *cmh__name_problem(const char *name);
/* The same for a folder (is_dir: no ".INI" is added in the mirror). */
const char *cmh__name_problem_kind(const char *name, bool is_dir);

/* ---- content tree (tree.c): what the content hash is computed over ---- */
typedef struct cmh_node cmh_node;
struct cmh_node {
    char *name;        /* UTF-8, as on disk */
    uint16_t *key;     /* upper-cased UTF-16 (NTFS order key) */
    uint32_t key_len;
    bool is_dir;
    cmh_node *parent;
    /* folders */
    cmh_node **dirs, **files;
    size_t ndirs, nfiles, capdirs, capfiles;
    /* files */
    uint64_t size;
    int64_t mtime_ns;  /* POSIX mtime in ns since 1970 */
    uint32_t attrs;
    uint8_t sha[CMH_SHA256_LEN];
    uint8_t sig_sha[CMH_SHA256_LEN];
    void *aux;         /* owner-defined (snapshot per-file state) */
};
cmh_node *cmh__node_new(const char *name, size_t len, bool is_dir);
/* Thread-unsafe: caller serialises additions to one folder. */
bool cmh__node_add(cmh_node *dir, cmh_node *child);
void cmh__node_free(cmh_node *n);
/* Sort every folder's dirs and files in NTFS order (recursive). */
void cmh__tree_sort(cmh_node *root);
/* Content hash (section 5); sig = true: signature hash (6.2). */
cmh_status cmh__tree_hash(const cmh_node *root, bool sig, EVP_MD *md,
                         uint8_t out[CMH_SHA256_LEN]);
/* Emit the content-hash stream string by string (tests, diagnostics). */
cmh_status cmh__tree_stream(const cmh_node *root, bool sig,
                           void (*fn)(const uint16_t *s, size_t n, void *arg),
                           void *arg);
/* A lower-cased UTF-16 relative path as the stream spells it. */
typedef struct cmh_path16 {
    uint16_t *u;
    size_t len, cap;
} cmh_path16;
/* Append one UTF-8 name, after a '\\' unless p is empty; false: no memory. */
bool cmh__path16_push(cmh_path16 *p, const char *name, size_t len);
/* The same stream, each string with its kind and the node it comes from
 * (verify records where the strings come from, then frees the tree). */
typedef enum cmh_stream_kind {
    CMH_STREAM_DIR,  /* a folder's path */
    CMH_STREAM_FILE, /* a file's path */
    CMH_STREAM_HASH  /* a file's hash (or signature hash), 64 hex digits */
} cmh_stream_kind;
typedef void (*cmh_stream_fn)(cmh_stream_kind kind, const cmh_node *node,
                              const uint16_t *s, size_t n, void *arg);
cmh_status cmh__tree_stream_nodes(const cmh_node *root, bool sig,
                                 cmh_stream_fn fn, void *arg);
/* Feed one stream string to @p md (an EVP_MD_CTX *) as UTF-16LE. */
void cmh__utf16le_digest(const uint16_t *u, size_t n, void *md_ctx);
/* Walk and hash the folder @p path (no library): the content tree with every
 * file's SHA-256 filled in. Caller frees with cmh__node_free. */
cmh_status cmh__hash_dir_tree(cmh_ctx *ctx, const char *path,
                             cmh_node **out);
/* Relative path with '/' separators, malloc'd. */
char *cmh__node_relpath(const cmh_node *n);

/* ---- INI (ini.c) ---- */
/* Called for each key; value is the full value even for long lines.
 * Return 0 to go on, nonzero to stop with that error text kept. */
typedef int (*cmh_ini_cb)(void *payload, const char *section,
                          const char *key, const char *value, int lineno);
#define CMH_INI_MAX_FILE (4u << 20)  /* larger INIs are refused */
#define CMH_INI_MAX_LINE 65536       /* longer lines are refused */
/* Parse bytes (any of the encodings spec section 9 accepts). On failure
 * @p why (size whylen) says what is wrong, and the return is false. */
bool cmh__ini_parse(const char *data, size_t len, cmh_ini_cb cb, void *payload,
                   char *why, size_t whylen);
/* Read a whole INI file (regular files only, no symlinks, <= max bytes).
 * Returns 0, or an errno (ENOENT, EFBIG for too large, EFTYPE-like EINVAL
 * for not a regular file). */
int cmh__read_small_file(int dirfd, const char *name, size_t max, char **out,
                        size_t *out_len);

/* ---- library layout (layout.c) ---- */
#define CMH_TMP_PREFIX ".cmhash-tmp-"
/* Unique temp name: ".cmhash-tmp-<token>-<counter><suffix>" into buf;
 * <token> is cmh__tmp_token(). Creators use O_EXCL and, on EEXIST, take
 * another name. */
#define CMH_TMP_TOKEN_LEN 16
void cmh__tmp_name(char *buf, size_t size, const char *suffix);
/* This process's run token (16 upper-case hex digits, random). */
const char *cmh__tmp_token(void);
/* The run token of temp @p name, when it has one (earlier cmhash versions
 * named temps ".cmhash-tmp-<pid>-..."). */
bool cmh__tmp_token_of(const char *name, char token[CMH_TMP_TOKEN_LEN + 1]);
/* Write @p len bytes to dirfd/name atomically (temp + [fsync] + rename). */
int cmh__write_atomic(int dirfd, const char *name, const void *data,
                     size_t len, bool do_fsync);
/* Write a temp file in dirfd; returns 0 or errno. */
int cmh__write_new(int dirfd, const char *name, const void *data, size_t len,
                  bool do_fsync);
/* Test hooks (base/test_hooks.c), compiled only with -DCMHASH_TEST_HOOKS
 * (the CMake option of that name, on whenever the tests are built); in a
 * release build every hook is an empty inline function.
 *
 * Crash points (tests/cli/snapshot_crash.sh): inert unless
 * $CMHASH_TEST_CRASH_AT is "<point>:<n>": then the n-th time (counted
 * over all threads, from 1) the named point is reached, the process sends
 * itself SIGKILL, like a power cut between two steps. Points:
 * read (after each chunk a worker copied), file (a file streamed), temps,
 * refini, rename, install, commit, committed, drop, unlink,
 * retire-rename, uninstall - see the calls. When the variable is unset a
 * call costs a pthread_once check and a byte compare.
 *
 * Pause points (tests/cli/verify_races.sh). Inert unless
 * $CMHASH_TEST_PAUSE_AT is "<point>:<file>": then when the named point is
 * reached the process writes "cmhash: test pause at <point>" to stderr and
 * waits (up to 60 s) until <file> exists, so a test can change the library
 * at an exact moment of a run. Points: verify-pkglib-listed (PkgLib is
 * listed, no INI read yet), verify-pkglib (PkgLib is read,
 * DataLib and FileLib not yet), verify-listed (all listings are read),
 * verify-mirrors (the mirrors are walked), verify-entries (the
 * FileLib entries are read, before the join and the hash pass),
 * snapshot-hashed (every source file is streamed into temps, nothing is
 * placed yet), snapshot-committed (PkgLib names the new version, older
 * versions not yet retired).
 *
 * Traces: when $<var> is "1", one line "cmhash-test: <message>" on
 * stderr (CMHASH_TEST_IO_TRACE: verify's hash pass names its reads). */
#ifdef CMHASH_TEST_HOOKS
void cmh__crash_point(const char *point);
void cmh__pause_point(const char *point);
void cmh__test_trace(const char *var, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#else
static inline void cmh__crash_point(const char *point) { (void)point; }
static inline void cmh__pause_point(const char *point) { (void)point; }
static inline __attribute__((format(printf, 2, 3))) void
cmh__test_trace(const char *var, const char *fmt, ...)
{
    (void)var;
    (void)fmt;
}
#endif
/* Percent-encode control characters, '%' and invalid UTF-8. */
void cmh__percent_encode(cmh_buf *b, const char *s);
/* FILETIME from POSIX ns. */
int64_t cmh__filetime_from_ns(int64_t ns);
int64_t cmh__ns_from_filetime(int64_t ft);

/* FileLib reference list: a sorted, de-duplicated list of content IDs. */
typedef struct cmh_reflist {
    char **ids;
    size_t n, cap;
} cmh_reflist;
void cmh__reflist_free(cmh_reflist *r);
bool cmh__reflist_add(cmh_reflist *r, const char *id); /* keeps sorted */
bool cmh__reflist_remove(cmh_reflist *r, const char *id);
bool cmh__reflist_has(const cmh_reflist *r, const char *id);
/* Parse a FileLib INI (any single section). Returns false on bad INI. */
bool cmh__reflist_parse(cmh_reflist *r, const char *data, size_t len,
                       char *why, size_t whylen);
void cmh__reflist_write(const cmh_reflist *r, cmh_buf *b);

/* ---- thread pool (pool.c) ---- */
typedef struct cmh_pool cmh_pool;
typedef void (*cmh_task_fn)(void *task, void *worker_state, void *arg);
/* Start @p n workers; each gets its own state from make_state. */
int cmh__pool_new(cmh_pool **out, unsigned n,
                 void *(*make_state)(void *arg),
                 void (*free_state)(void *state), void *arg);
/* Queue a task (unbounded FIFO; producers are the walk and the caller). */
int cmh__pool_push(cmh_pool *p, cmh_task_fn fn, void *task, void *arg);
/* Wait until the queue is empty and all workers idle, calling tick every
 * interval seconds on the caller's thread; tick returning nonzero sets the
 * pool's cancel flag (tasks should check cmh__pool_canceled). */
int cmh__pool_wait(cmh_pool *p, double interval, int (*tick)(void *), void *a);
bool cmh__pool_canceled(const cmh_pool *p);
/* The cancel flag itself, for long tasks to poll between reads. */
const _Atomic bool *cmh__pool_cancel_flag(const cmh_pool *p);
void cmh__pool_cancel(cmh_pool *p);
void cmh__pool_free(cmh_pool *p);
/* Run fn(0..n-1, arg) on the pool's workers (in chunks, any order) and
 * wait for all; @p p NULL runs them here. fn must be thread-safe. */
void cmh__pool_for(cmh_pool *p, size_t n, void (*fn)(size_t i, void *arg),
                  void *arg);
unsigned cmh__online_cpus(void);

#endif
