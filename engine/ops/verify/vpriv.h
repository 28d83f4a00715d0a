/* cmh_verify: read-only audit of a content library (contentlib.md 8, 9).
 *
 * Order of work:
 *   1. open the library's folders read-only; list PkgLib (package INIs,
 *      lock probes), DataLib (contents) and every FileLib root (entries);
 *   2. pass "index", parallel: per content, its INI and mirror (content
 *      hash from the file INIs); then per FileLib entry, its INI
 *      (reference list), the data file's size and the .SIG (header, and its
 *      SHA-256 when a content has a SignatureHash);
 *   3. the caller's thread joins both sides: missing files, sizes,
 *      references, orphans, signatures, signature hashes;
 *   4. pass "hash", parallel: each FileLib data file in scope is read once
 *      (SHA-256, and with DEEP a fresh signature compared with the .SIG as
 *      it is made); a mismatch is read a second time before it is
 *      reported;
 *   5. one status per content, the summary and the resume state.
 * Workers never call back: they fill their own content or entry, and the
 * caller's thread turns the facts into findings (in order, after each
 * pass, and for pass 4 as files complete).
 *
 * Safety: nothing is opened for writing; every path is opened relative to
 * a library folder fd, never following symbolic links; IDs read from INIs
 * go through cmh_content_id_parse() before they name anything.
 *
 * The parts (this header holds what they share; the rest is static):
 *   run.c       cmh_verify_run: the phases above in order; free
 *   setup.c     cmh_verify_new, library open, ID selection, PkgLib checks
 *   findings.c  codes, emit/emitf, attribution to contents
 *   model.c     the contents and entries tables
 *   listing.c   1: PkgLib, DataLib, FileLib listings, stray names
 *   contents.c  2: content INI, mirror walk, signature-hash plan
 *   entries.c   2: FileLib entry reads, .SIG headers
 *   join.c      3: the join, .SIG checks, signature hashes
 *   races.c     contents retired/appeared/changed while verify runs
 *   hashpass.c  4: the hash pass (verify_io.c: its reads in flight)
 *   state.c     5: the resume state */
#ifndef CMHASH_VPRIV_H
#define CMHASH_VPRIV_H

#include "internal.h"
#include "library.h"
#include "stream.h"
#include "verify_io.h"
#include "format/format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmhash/verify.h>

#include "os/os.h"


/* Version 2 records the library's identity ("library <dev> <ino>") and
 * ends with "check <SHA-256 of every byte before this line>": a state of
 * another library, or an edited or damaged one, is refused (issue 11,
 * item 4). The check guards against damage and mix-ups, not against an
 * attacker who can write the state file and compute SHA-256: keep the
 * state where only the verifying account can write. */
#define STATE_MAGIC "cmhash-verify-state 2"
/* Buffer for .SIG reads (hashing, --deep comparison): the signature
 * generator hands its output over in chunks of at most 64 KiB
 * (SIG_OUT_SIZE in hash.c), so one read per chunk; also the unit of the
 * .SIG hashing reads, small next to CMH_READ_SIZE per worker. */
#define SIG_CMP_BUF (64 * 1024)

/* ---- small helpers ---- */

static inline char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
static inline char *xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static inline char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

static inline bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static inline bool ends_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static inline bool is_upper_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

static inline double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double mtime_of(const struct stat *sb)
{
    return (double)sb->st_mtim.tv_sec + (double)sb->st_mtim.tv_nsec / 1e9;
}

/* Decimal, digits only, fits in 64 bits. */
static inline int sha_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CMH_SHA256_LEN);
}

/* ---- data ---- */

/* A finding made by a worker, handed to the caller's thread later. */
typedef struct vfind {
    cmh_verify_code code;
    char *path, *expected, *actual, *detail;
    double age;
} vfind;

typedef struct vfinds {
    vfind *v;
    size_t n, cap;
    bool oom;
} vfinds;

struct ventry;

/* One file INI of a mirror. Verify holds one per file of every content
 * for the whole run, so it is kept small (issue 6: 1M entries). */
typedef struct vfile {
    struct ventry *entry; /* set by the join */
    uint64_t size;
    uint32_t rel;         /* offset in vcontent.names of "sub/b.bin.INI",
                           * relative to DataLib/<cid>/ */
    bool ok;              /* Size and Hash valid */
    uint8_t sha[CMH_SHA256_LEN];
} vfile;

/* The signature-hash stream of a content (section 6.2) without its tree:
 * the content-hash walk records each string's source - a folder path
 * (kept in dirs16), a file's path (rebuilt from its vfile.rel) or a file's
 * hash (that file's .SIG digest) - and the tree is freed. */
enum { PLAN_DIR = 0, PLAN_PATH = 1, PLAN_HASH = 2 };
#define PLAN_KIND(op) ((op) >> 30)
#define PLAN_ARG(op) ((op) & 0x3FFFFFFFu)
#define PLAN_MAX 0x3FFFFFFFu

typedef struct vcontent {
    char id[CMH_CID_SIZE];
    char pkgid[CMH_PKGID_SIZE]; /* owning package, "" if unknown */
    /* Set on the caller's thread before the index pass. */
    bool has_ini, has_dir, listed, selected, busy;
    char ini_suffix[5];   /* ".INI" as spelled on disk ("" = ".INI") */
    /* Written by the one worker that checks the content, read by the
     * caller's thread after the pass. */
    bool ini_ok;          /* [Info] Hash read */
    bool foreign;         /* content INI without [cmhash] (ConfigMgr's) */
    bool has_sighash;
    uint8_t hash[CMH_SHA256_LEN], sighash[CMH_SHA256_LEN];
    bool mirror_complete; /* every folder listed and file INI valid */
    bool mirror_read;     /* the mirror was walked at all */
    cmh_node *root;       /* the mirror's tree, NULL once the plan exists */
    uint32_t *plan;       /* signature-hash recipe (PLAN_*) */
    size_t nplan;
    uint16_t *dirs16;     /* PLAN_DIR strings: length, then UTF-16 units */
    size_t ndirs16;
    cmh_buf names;        /* vfile.rel strings, NUL-terminated */
    vfile *files;
    size_t nfiles, capfiles;
    vfinds fnd;
    /* Caller's thread only. */
    uint64_t errors, warnings, bytes;
    bool failed, hash_invalid;
    unsigned alive_gen;   /* content_retired() said no in this generation */
} vcontent;

/* A file's path relative to DataLib/<cid>/ ("sub/b.bin.INI"). */
static inline const char *frel(const vcontent *c, const vfile *f)
{
    return c->names.data + f->rel;
}

typedef struct vuse {
    uint32_t c; /* content index */
    uint32_t f; /* file index in that content */
} vuse;

typedef struct ventry {
    uint8_t sha[CMH_SHA256_LEN];
    int r_data, r_ini, r_sig; /* FileLib root holding each part, -1 = none */
    /* Index pass: written by one worker, read by the caller after it. */
    bool want_sig_hash;
    int data_err;
    uint64_t data_size;
    int ini_err;          /* errno reading the INI */
    bool ini_bad;         /* unparsable */
    bool ini_oom;         /* no memory to keep what it says */
    char *ini_why;        /* why, when ini_bad */
    char *refs;           /* the INI's content IDs, sorted, each NUL-
                           * terminated (one block: see pack_refs) */
    uint32_t nrefs;
    int sig_err;
    uint64_t sig_len;
    uint32_t sig_magic, sig_bl, sig_sl;
    bool sig_hdr;         /* >= 12 bytes with a librsync magic */
    bool sig_foreign;     /* >= 4 bytes, unknown magic */
    bool sig_hashed;
    uint8_t sig_sha[CMH_SHA256_LEN];
    /* Join: caller's thread. use0 is the first use, more[] the others
     * (most files have one user): see use_at(). */
    vuse use0;
    vuse *more;
    uint32_t nuses, capmore;
    bool busy_ref;        /* used or listed by a busy package's content */
    bool unsure_ref;      /* listed by a content whose mirror is partial */
    bool sig_bad;         /* structural .SIG problem reported */
    bool scope;           /* to be hashed in this cycle */
    bool prev_done, prev_bad;
    /* Hash pass: written by the worker that hashes the entry, read by the
     * caller's thread after the entry went through the done queue. */
    struct vhash *hres;   /* the reads, when not clean (NULL: clean) */
    bool hres_oom;        /* not clean, and no memory to say how */
    bool hashed;          /* completed in this run */
    bool bad;             /* an error was reported for its bytes */
} ventry;

/* The two reads of a FileLib file that was not clean at the first. */
typedef struct vhash {
    int err1, err2;
    bool changed1, changed2;
    uint8_t sha1[CMH_SHA256_LEN], sha2[CMH_SHA256_LEN];
    bool deep1, deep2;    /* a fresh signature was compared */
    bool dmis1, dmis2;    /* ... and differed */
    bool reread;
} vhash;

typedef struct vroot {
    char *display; /* "FileLib" or the extra root as given */
    int fd;
} vroot;

typedef struct vworker {
    cmh_worker *w;
    EVP_MD_CTX *md;
    unsigned char *buf; /* SIG_CMP_BUF bytes */
} vworker;

/* One orphan kept for cmh_verify_next_orphan (strings owned). */
typedef struct vorphan {
    cmh_orphan_kind kind;
    char *path;
    char cid[CMH_CID_SIZE];
    char hash[CMH_HEX_SIZE];
    double age;
} vorphan;

struct cmh_verify {
    cmh_ctx *ctx;
    cmh_verify_opts o;
    /* resume state given */
    bool have_cursor;
    uint8_t cursor[CMH_SHA256_LEN];
    /* the library a resume state was made for (its root folder's device
     * and inode), checked against o.lib before anything is skipped */
    bool state_lib_set;
    unsigned long long state_dev, state_ino;
    uint8_t *prev_done, *prev_bad; /* sorted arrays of digests */
    size_t nprev_done, nprev_bad;
    char *state_out;
    cmh_verify_summary sum;
    /* run */
    cmh_library lib;
    vroot *roots;
    size_t nroots;
    bool full;            /* no IDs: whole library */
    bool any_busy;
    char (*busy)[CMH_PKGID_SIZE];
    size_t nbusy;
    unsigned retire_gen;  /* see content_retired() */
    vcontent *contents;   /* sorted by id */
    size_t ncontents, capcontents;
    ventry **entries;     /* sorted by digest */
    size_t nentries, capentries;
    cmh_pool *pool;
    cmh_pool *epool;      /* the entry reads' threads (index pass 2b) */
    struct efolder *efold; /* their tasks: one per FileLib folder */
    size_t nefold;
    const char *phase;
    double t0, deadline;
    /* stop: set by the caller's thread (time limit, cancel), read by
     * workers without a lock: they only stop early. */
    _Atomic bool stop;
    bool canceled;        /* a callback returned nonzero */
    bool timed_out;
    /* Progress counters: workers add, the caller's tick reads. */
    _Atomic uint_fast64_t bytes_done, items_done;
    uint64_t items_total, bytes_total;
    /* Done queue of the hash pass: workers push, the caller drains; both
     * under mu. */
    pthread_mutex_t mu;
    ventry **doneq;
    size_t ndoneq, capdoneq;
    bool doneq_oom;
    /* --io-rate: next free slot, under rate_mu. */
    pthread_mutex_t rate_mu;
    double rate_next;
    bool oom;
    /* orphans of this run (cmh_verify_next_orphan), kept by cmh__v_emit */
    vorphan *orphans;
    size_t norphans, caporphans;
    bool orphans_oom;
    /* contentlib.md section 11: ConfigMgr-written library (a content INI
     * without [cmhash] or an MS-RDC .SIG); then SIG_MISSING is info */
    bool foreign_lib;
    /* SIG_FOREIGN (always) and SIG_MISSING (foreign library) are one
     * finding per run: the count and the first path */
    uint64_t nsig_foreign, nsig_missing;
    char *first_sig_foreign, *first_sig_missing;
    bool info_override; /* the finding being emitted is info */
    const uint8_t *emit_sha; /* the finding being emitted is about the
                                FileLib entry of this hash (or NULL) */
};


/* An entry's digest in upper-case hex (not stored: 65 bytes an entry).
 * EHEX(e) lives until the end of the enclosing block. */
static inline const char *ehex(const ventry *e, char *buf)
{
    cmh_hex_upper(buf, e->sha, CMH_SHA256_LEN);
    return buf;
}
#define EHEX(e) ehex((e), (char[CMH_HEX_SIZE]){0})

typedef struct pkg_reread {
    char pkgid[CMH_PKGID_SIZE];
    int err;         /* 0: ini valid; else why it is not */
    cmh_pkgini ini;
} pkg_reread;

typedef struct pkg_cache {
    pkg_reread *v;
    size_t n, cap;
} pkg_cache;

/* verify_io.c's view of the hash pass: item i of the pushed order. */
typedef struct hash_order {
    cmh_verify *v;
    ventry **e;
    size_t n, cap;
    size_t phys; /* entries whose physical position was known */
    double phys_s; /* seconds cmh__v_physical_order took */
    bool oom; /* no memory for the order: no prefetch */
} hash_order;

typedef struct efolder {
    size_t lo, hi;  /* v->entries[lo..hi) */
} efolder;
/* entries per task at most: a folder of a huge library holds thousands
 * (1M entries / 65,536 folders = 16), the tasks stay short */
#define EFOLDER_MAX 256

/* A finding's fields besides its code and detail, by name; a field not
 * given is "" (the age: unknown, -1):
 *   cmh__v_emitf(v, CMH_VF_STRAY, VF(.path = p, .actual = "dup"), ...) */
typedef struct vfield {
    const char *cid, *path, *expected, *actual;
    double age; /* seconds since the thing changed, when .aged */
    bool aged;
} vfield;
#define VF(...) ((vfield){__VA_ARGS__})

/* ---- shared between the parts ---- */

/* findings.c */
void cmh__v_attribute(vcontent *c, cmh_verify_code code);
/* Forget the orphans of the last run. */
void cmh__v_orphans_free(cmh_verify *v);
void cmh__v_emit(cmh_verify *v, cmh_verify_code code, vfield w,
                 const char *detail);
void cmh__v_emitf(cmh_verify *v, cmh_verify_code code, vfield w,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cmh__v_vfinds_add(vfinds *f, cmh_verify_code code, double age,
                       const char *expected, const char *actual,
                       char *path_owned, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void cmh__v_vfinds_free(vfinds *f);
void cmh__v_emit_content_findings(cmh_verify *v, vcontent *c);
void cmh__v_content_status(cmh_verify *v, vcontent *c);

/* model.c */
vcontent *cmh__v_add_content(cmh_verify *v, const char *id);
void cmh__v_attribute_users(cmh_verify *v, const ventry *e,
                            cmh_verify_code code);
bool cmh__v_entry_add_use(cmh_verify *v, ventry *e, uint32_t c, uint32_t f);
char *cmh__v_entry_path(const cmh_verify *v, const ventry *e, int r,
                        const char *suffix);
vcontent *cmh__v_find_content(cmh_verify *v, const char *id);
ventry *cmh__v_find_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN]);
vcontent *cmh__v_first_user(cmh_verify *v, const ventry *e);
ventry *cmh__v_new_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN]);
bool cmh__v_pkg_busy(const cmh_verify *v, const char *pkgid);
void cmh__v_sort_contents(cmh_verify *v);
void cmh__v_sort_entries(cmh_verify *v);
vuse cmh__v_use_at(const ventry *e, size_t i);

/* races.c */
bool cmh__v_all_uses_retired(cmh_verify *v, const ventry *e, bool cache);
bool cmh__v_content_appeared(cmh_verify *v, const char *id);
bool cmh__v_content_retired(cmh_verify *v, vcontent *c, bool cache);
/* The entry's first user is the finding's content (w.cid and w.age are
 * not used) and the entry's digest its hash. */
void cmh__v_emit_entry(cmh_verify *v, ventry *e, cmh_verify_code code,
                       vfield w, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void cmh__v_pkg_cache_free(pkg_cache *pc);
bool cmh__v_pkg_lists_now(cmh_verify *v, pkg_cache *pc, const char *pkgid,
                          const char *id, bool dflt);
bool cmh__v_pkg_locked_now(cmh_verify *v, const char *pkgid);
void cmh__v_skip_changed(cmh_verify *v, vcontent *c, const char *what);

/* listing.c */
ventry *cmh__v_probe_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN]);
void cmh__v_probe_lock(cmh_verify *v, const char *pkgid);
void cmh__v_read_package(cmh_verify *v, const char *name, const char *pkgid,
                         bool selected);
void cmh__v_scan_datalib(cmh_verify *v);
void cmh__v_scan_filelib(cmh_verify *v);
void cmh__v_scan_pkglib(cmh_verify *v);

/* contents.c */
void cmh__v_content_task(void *tk, void *state, void *arg);
cmh_status cmh__v_plan_hash(const vcontent *c, bool sig, EVP_MD *mdt,
                            uint8_t out[CMH_SHA256_LEN]);
int cmh__v_read_ini(unsigned char *buf, int dirfd, const char *name,
                    char **data, size_t *len, bool *owned);

/* entries.c */
unsigned cmh__v_entry_threads(const cmh_verify *v, unsigned threads);
void *cmh__v_eworker_make(void *arg);
void cmh__v_folder_task(void *tk, void *state, void *arg);
bool cmh__v_index_prefetch(void);
void cmh__v_vworker_free(void *st);
void *cmh__v_vworker_make(void *arg);

/* join.c */
void cmh__v_check_sighash(cmh_verify *v, vcontent *c);
void cmh__v_emit_sig_summaries(cmh_verify *v);
void cmh__v_join_entry(cmh_verify *v, ventry *e);

/* hashpass.c */
void cmh__v_drain_done(cmh_verify *v);
void cmh__v_hash_item(void *arg, size_t i, int *dirfd, char *rel,
                      size_t relsize, uint64_t *size);
void cmh__v_hash_task(void *tk, void *state, void *arg);
void cmh__v_index_item(void *arg, size_t i, int *dirfd, char *rel,
                       size_t relsize, uint64_t *size);
void cmh__v_physical_order(cmh_verify *v, hash_order *o);
int cmh__v_tick(void *arg);
void cmh__v_trace_io(const cmh_prefetch *pf, const hash_order *o);

/* setup.c */
cmh_status cmh__v_open_library(cmh_verify *v, bool *layout_ok);
cmh_status cmh__v_select_ids(cmh_verify *v);
void cmh__v_classify_contents(cmh_verify *v);

/* state.c */
void cmh__v_build_state(cmh_verify *v);
bool cmh__v_in_set(const uint8_t *set, size_t n, const uint8_t *sha);
cmh_status cmh__v_parse_state(cmh_verify *v, const char *text);

#endif
