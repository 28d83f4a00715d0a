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
 * go through cmh_content_id_parse() before they name anything. */
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

/* verify_os.c */

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

static const struct {
    const char *name;
    cmh_severity sev;
} g_codes[CMH_VF_NCODES] = {
    [CMH_VF_LIB_LAYOUT] = {"LIB_LAYOUT", CMH_SEV_ERROR},
    [CMH_VF_PKG_INI_BAD] = {"PKG_INI_BAD", CMH_SEV_ERROR},
    [CMH_VF_PKG_CONTENT_MISSING] = {"PKG_CONTENT_MISSING", CMH_SEV_ERROR},
    [CMH_VF_CONTENT_INI_BAD] = {"CONTENT_INI_BAD", CMH_SEV_ERROR},
    [CMH_VF_CONTENT_HASH_MISMATCH] = {"CONTENT_HASH_MISMATCH",
                                      CMH_SEV_ERROR},
    [CMH_VF_FILE_INI_BAD] = {"FILE_INI_BAD", CMH_SEV_ERROR},
    [CMH_VF_FILE_MISSING] = {"FILE_MISSING", CMH_SEV_ERROR},
    [CMH_VF_FILE_SIZE_MISMATCH] = {"FILE_SIZE_MISMATCH", CMH_SEV_ERROR},
    [CMH_VF_FILE_HASH_MISMATCH] = {"FILE_HASH_MISMATCH", CMH_SEV_ERROR},
    [CMH_VF_FILE_UNREADABLE] = {"FILE_UNREADABLE", CMH_SEV_ERROR},
    [CMH_VF_REF_MISSING] = {"REF_MISSING", CMH_SEV_ERROR},
    [CMH_VF_REF_DANGLING] = {"REF_DANGLING", CMH_SEV_WARNING},
    [CMH_VF_SIG_MISSING] = {"SIG_MISSING", CMH_SEV_WARNING},
    [CMH_VF_SIG_BAD] = {"SIG_BAD", CMH_SEV_ERROR},
    [CMH_VF_SIG_FOREIGN] = {"SIG_FOREIGN", CMH_SEV_INFO},
    [CMH_VF_SIG_HASH_MISMATCH] = {"SIG_HASH_MISMATCH", CMH_SEV_ERROR},
    [CMH_VF_ORPHAN_FILE] = {"ORPHAN_FILE", CMH_SEV_WARNING},
    [CMH_VF_ORPHAN_CONTENT] = {"ORPHAN_CONTENT", CMH_SEV_WARNING},
    [CMH_VF_STRAY] = {"STRAY", CMH_SEV_WARNING},
    [CMH_VF_BUSY] = {"BUSY", CMH_SEV_INFO},
    [CMH_VF_INI_NONCANONICAL] = {"INI_NONCANONICAL", CMH_SEV_WARNING},
};

const char *cmh_verify_code_name(cmh_verify_code code)
{
    if ((unsigned)code >= CMH_VF_NCODES)
        return "?";
    return g_codes[code].name;
}

cmh_severity cmh_verify_code_severity(cmh_verify_code code)
{
    if ((unsigned)code >= CMH_VF_NCODES)
        return CMH_SEV_ERROR;
    return g_codes[code].sev;
}

const char *cmh_severity_name(cmh_severity sev)
{
    switch (sev) {
    case CMH_SEV_INFO: return "info";
    case CMH_SEV_WARNING: return "warning";
    case CMH_SEV_ERROR: return "error";
    }
    return "?";
}

/* ---- small helpers ---- */

static char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
static char *xvasprintf(const char *fmt, va_list ap)
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

static char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool ends_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static bool is_upper_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mtime_of(const struct stat *sb)
{
    return (double)sb->st_mtim.tv_sec + (double)sb->st_mtim.tv_nsec / 1e9;
}

/* Decimal, digits only, fits in 64 bits. */
static int sha_cmp(const void *a, const void *b)
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
static const char *frel(const vcontent *c, const vfile *f)
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

/* ---- findings ---- */

static void vfinds_free(vfinds *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].path);
        free(f->v[i].expected);
        free(f->v[i].actual);
        free(f->v[i].detail);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

static void vfinds_add(vfinds *f, cmh_verify_code code, double age,
                       const char *expected, const char *actual,
                       char *path_owned, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void vfinds_add(vfinds *f, cmh_verify_code code, double age,
                       const char *expected, const char *actual,
                       char *path_owned, const char *fmt, ...)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        vfind *nv = realloc(f->v, nc * sizeof *nv);
        if (!nv) {
            f->oom = true;
            free(path_owned);
            return;
        }
        f->v = nv;
        f->cap = nc;
    }
    vfind *x = &f->v[f->n++];
    x->code = code;
    x->age = age;
    x->path = path_owned;
    x->expected = cmh__strdup(expected ? expected : "");
    x->actual = cmh__strdup(actual ? actual : "");
    va_list ap;
    va_start(ap, fmt);
    x->detail = xvasprintf(fmt, ap);
    va_end(ap);
    if (!x->path || !x->expected || !x->actual || !x->detail)
        f->oom = true;
}

/* Count a finding against a content's status. */
static void attribute(vcontent *c, cmh_verify_code code)
{
    cmh_severity sev = g_codes[code].sev;
    if (sev == CMH_SEV_ERROR)
        c->errors++;
    else if (sev == CMH_SEV_WARNING)
        c->warnings++;
    switch (code) {
    case CMH_VF_CONTENT_HASH_MISMATCH:
    case CMH_VF_FILE_HASH_MISMATCH:
    case CMH_VF_FILE_SIZE_MISMATCH:
    case CMH_VF_SIG_HASH_MISMATCH:
    case CMH_VF_SIG_BAD:
        c->hash_invalid = true;
        break;
    case CMH_VF_PKG_CONTENT_MISSING:
    case CMH_VF_CONTENT_INI_BAD:
    case CMH_VF_FILE_INI_BAD:
    case CMH_VF_FILE_MISSING:
    case CMH_VF_FILE_UNREADABLE:
    case CMH_VF_REF_MISSING:
        c->failed = true;
        break;
    default:
        break;
    }
}

/* Deliver one finding (caller's thread). */
static void emit(cmh_verify *v, cmh_verify_code code, const char *cid,
                 const char *path, const char *expected, const char *actual,
                 double age, const char *detail)
{
    v->sum.findings[code]++;
    cmh_severity sev = v->info_override ? CMH_SEV_INFO : g_codes[code].sev;
    switch (sev) {
    case CMH_SEV_ERROR: v->sum.errors++; break;
    case CMH_SEV_WARNING: v->sum.warnings++; break;
    case CMH_SEV_INFO: v->sum.infos++; break;
    }
    if (v->canceled || !v->o.finding)
        return;
    cmh_verify_finding f;
    f.code = code;
    f.severity = sev;
    f.code_name = g_codes[code].name;
    f.content_id = cid ? cid : "";
    f.path = path ? path : "";
    f.expected = expected ? expected : "";
    f.actual = actual ? actual : "";
    f.detail = detail ? detail : "";
    f.age_seconds = age;
    char hash[CMH_HEX_SIZE] = "";
    if (v->emit_sha)
        cmh_hex_upper(v->emit_sha, CMH_SHA256_LEN, hash);
    f.hash = hash;
    if (v->o.finding(&f, v->o.payload)) {
        v->canceled = true;
        atomic_store(&v->stop, true);
    }
}

static void emitf(cmh_verify *v, cmh_verify_code code, const char *cid,
                  const char *path, const char *expected, const char *actual,
                  double age, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static void emitf(cmh_verify *v, cmh_verify_code code, const char *cid,
                  const char *path, const char *expected, const char *actual,
                  double age, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = xvasprintf(fmt, ap);
    va_end(ap);
    if (!d)
        v->oom = true;
    emit(v, code, cid, path, expected, actual, age, d ? d : "");
    free(d);
}

/* ---- contents and entries ---- */

static int content_cmp(const void *a, const void *b)
{
    return strcmp(((const vcontent *)a)->id, ((const vcontent *)b)->id);
}

static vcontent *find_content(cmh_verify *v, const char *id)
{
    vcontent key;
    if (strlen(id) >= sizeof key.id)
        return NULL;
    memcpy(key.id, id, strlen(id) + 1);
    vcontent *c = bsearch(&key, v->contents, v->ncontents,
                          sizeof *v->contents, content_cmp);
    /* a GUID in another case names the same content (section 2) */
    for (size_t i = 0; !c && i < v->ncontents; i++)
        if (cmh__cid_equal(v->contents[i].id, id))
            c = &v->contents[i];
    return c;
}

/* Append a content record; duplicates are merged by sort_contents. */
static vcontent *add_content(cmh_verify *v, const char *id)
{
    if (v->ncontents == v->capcontents) {
        size_t nc = v->capcontents ? v->capcontents * 2 : 64;
        vcontent *n = realloc(v->contents, nc * sizeof *n);
        if (!n) {
            v->oom = true;
            return NULL;
        }
        v->contents = n;
        v->capcontents = nc;
    }
    vcontent *c = &v->contents[v->ncontents++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    char pk[CMH_PKGID_SIZE];
    if (cmh_content_id_parse(id, pk, NULL) == CMH_CONTENT_PACKAGE)
        memcpy(c->pkgid, pk, sizeof pk);
    return c;
}

static void sort_contents(cmh_verify *v)
{
    if (v->ncontents > 1)
        qsort(v->contents, v->ncontents, sizeof *v->contents, content_cmp);
    size_t k = 0;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        if (k && !strcmp(v->contents[k - 1].id, c->id)) {
            vcontent *d = &v->contents[k - 1];
            d->has_ini |= c->has_ini;
            d->has_dir |= c->has_dir;
            d->listed |= c->listed;
            d->selected |= c->selected;
            if (!d->pkgid[0])
                memcpy(d->pkgid, c->pkgid, sizeof d->pkgid);
            if (!d->ini_suffix[0])
                memcpy(d->ini_suffix, c->ini_suffix, sizeof d->ini_suffix);
            continue;
        }
        if (k != i)
            v->contents[k] = *c;
        k++;
    }
    v->ncontents = k;
}

static bool pkg_busy(const cmh_verify *v, const char *pkgid)
{
    for (size_t i = 0; i < v->nbusy; i++)
        if (!strcmp(v->busy[i], pkgid))
            return true;
    return false;
}

static int entry_cmp(const void *a, const void *b)
{
    const ventry *x = *(ventry *const *)a, *y = *(ventry *const *)b;
    return memcmp(x->sha, y->sha, CMH_SHA256_LEN);
}

static ventry *find_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN])
{
    size_t lo = 0, hi = v->nentries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(v->entries[mid]->sha, sha, CMH_SHA256_LEN);
        if (c == 0)
            return v->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* An entry's digest in upper-case hex (not stored: 65 bytes an entry).
 * EHEX(e) lives until the end of the enclosing block. */
static const char *ehex(const ventry *e, char *buf)
{
    cmh_hex_upper(e->sha, CMH_SHA256_LEN, buf);
    return buf;
}
#define EHEX(e) ehex((e), (char[CMH_HEX_SIZE]){0})

static ventry *new_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN])
{
    if (v->nentries == v->capentries) {
        size_t nc = v->capentries ? v->capentries * 2 : 256;
        ventry **n = realloc(v->entries, nc * sizeof *n);
        if (!n) {
            v->oom = true;
            return NULL;
        }
        v->entries = n;
        v->capentries = nc;
    }
    ventry *e = calloc(1, sizeof *e);
    if (!e) {
        v->oom = true;
        return NULL;
    }
    memcpy(e->sha, sha, CMH_SHA256_LEN);
    e->r_data = e->r_ini = e->r_sig = -1;
    v->entries[v->nentries++] = e;
    return e;
}

static void sort_entries(cmh_verify *v)
{
    if (v->nentries > 1)
        qsort(v->entries, v->nentries, sizeof *v->entries, entry_cmp);
}

/* "FileLib/H4/HASH<suffix>" under root @p r */
static char *entry_path(const cmh_verify *v, const ventry *e, int r,
                        const char *suffix)
{
    if (r < 0)
        r = 0;
    return xasprintf("%s/%.4s/%s%s", v->roots[r].display, EHEX(e), EHEX(e),
                     suffix);
}

static bool entry_add_use(cmh_verify *v, ventry *e, uint32_t c, uint32_t f)
{
    vuse u = {c, f};
    if (!e->nuses) {
        e->use0 = u;
        e->nuses = 1;
        return true;
    }
    if (e->nuses - 1 == e->capmore) {
        uint32_t nc = e->capmore ? e->capmore * 2 : 2;
        vuse *n = nc > e->capmore ? realloc(e->more, nc * sizeof *n) : NULL;
        if (!n) {
            v->oom = true;
            return false;
        }
        e->more = n;
        e->capmore = nc;
    }
    e->more[e->nuses++ - 1] = u;
    return true;
}

/* The i-th use of @p e (i < nuses). */
static vuse use_at(const ventry *e, size_t i)
{
    return i ? e->more[i - 1] : e->use0;
}

/* First content (in ID order) that uses @p e, or NULL. Uses are added in
 * content order, so that is use_at(e, 0). */
static vcontent *first_user(cmh_verify *v, const ventry *e)
{
    return e->nuses ? &v->contents[use_at(e, 0).c] : NULL;
}

static void attribute_users(cmh_verify *v, const ventry *e,
                            cmh_verify_code code)
{
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < e->nuses; i++) {
        if (use_at(e, i).c == last)
            continue;
        last = use_at(e, i).c;
        attribute(&v->contents[last], code);
    }
}

/* PkgLib INIs read again after the listings (classify_contents): each
 * package's INI is read and parsed once per pass, however many of its
 * contents are looked up (issue 11.9: once per content was quadratic). */
typedef struct pkg_reread {
    char pkgid[CMH_PKGID_SIZE];
    int err;         /* 0: ini valid; else why it is not */
    cmh_pkgini ini;
} pkg_reread;

typedef struct pkg_cache {
    pkg_reread *v;
    size_t n, cap;
} pkg_cache;

static void pkg_cache_free(pkg_cache *pc)
{
    for (size_t i = 0; i < pc->n; i++)
        cmh__pkgini_free(&pc->v[i].ini);
    free(pc->v);
    memset(pc, 0, sizeof *pc);
}

/* Contents are sorted by ID, so one package's contents are adjacent: the
 * last entry is the one asked for almost always. */
static pkg_reread *pkg_cache_get(cmh_verify *v, pkg_cache *pc,
                                 const char *pkgid)
{
    for (size_t i = pc->n; i-- > 0;)
        if (!strcmp(pc->v[i].pkgid, pkgid))
            return &pc->v[i];
    if (pc->n == pc->cap) {
        size_t nc = pc->cap ? pc->cap * 2 : 8;
        pkg_reread *nv = realloc(pc->v, nc * sizeof *nv);
        if (!nv) {
            v->oom = true;
            return NULL;
        }
        pc->v = nv;
        pc->cap = nc;
    }
    pkg_reread *r = &pc->v[pc->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->pkgid, pkgid, CMH_PKGID_SIZE);
    char why[64];
    r->err = cmh__pkgini_read(v->lib.pkglib_fd, pkgid, &r->ini, why,
                             sizeof why);
    return r;
}

/* Does PkgLib/<pkgid>.INI list @p id now? Gone: no. Unreadable or
 * damaged: @p dflt (that is reported on its own). */
static bool pkg_lists_now(cmh_verify *v, pkg_cache *pc, const char *pkgid,
                          const char *id, bool dflt)
{
    pkg_reread *r = pkg_cache_get(v, pc, pkgid);
    if (!r || r->err)
        return r && r->err == ENOENT ? false : dflt;
    return cmh__pkgini_lists(&r->ini, id);
}

/* The package's lock is held now: a snapshot that started after the probe. */
static bool pkg_locked_now(cmh_verify *v, const char *pkgid)
{
    return cmh__library_pkg_busy(&v->lib, pkgid);
}

/* Skip content @p c like a BUSY one: a snapshot that started after the
 * lock probe changed it (@p what: "was retired", ...). One BUSY finding. */
static void skip_changed(cmh_verify *v, vcontent *c, const char *what)
{
    c->busy = true;
    v->any_busy = true;
    const char *pk = c->pkgid[0] ? c->pkgid : c->id;
    char *path = c->pkgid[0] ? xasprintf(CMH_STATE_DIR "/%s.lock", c->pkgid)
                             : xasprintf("DataLib/%s", c->id);
    emitf(v, CMH_VF_BUSY, c->id, path ? path : "", "", "", -1,
          "package %s was written by a snapshot that started during this "
          "run; content %s %s, so it is not checked", pk, c->id, what);
    free(path);
}

/* Has a snapshot that took the package lock after our probe retired
 * content @p c meanwhile, or is it retiring it now (spec section 7, step
 * 6)? Its package lock is held now, or its DataLib INI (or, for a content
 * listed without one, its folder) is gone. Asked only on a finding's path,
 * never for a clean entry. On the first yes the content is skipped like a
 * BUSY one and one BUSY finding says why. With @p cache a no is remembered
 * for the current generation (v->retire_gen): every observation the
 * generation's findings rest on was made before its first question, so a
 * retirement that starts later cannot explain them. */
static bool content_retired(cmh_verify *v, vcontent *c, bool cache)
{
    if (c->busy)
        return true;
    if (cache && c->alive_gen == v->retire_gen)
        return false;
    char name[CMH_CID_SIZE + 8];
    bool busy = c->pkgid[0] && pkg_locked_now(v, c->pkgid);
    bool gone = false;
    if (!busy && (c->has_ini || c->has_dir)) {
        struct stat sb;
        if (c->has_ini)
            snprintf(name, sizeof name, "%s%s", c->id,
                     c->ini_suffix[0] ? c->ini_suffix : ".INI");
        else
            snprintf(name, sizeof name, "%s", c->id);
        gone = fstatat(v->lib.datalib_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0
               && errno == ENOENT;
    }
    if (!busy && !gone) {
        if (cache)
            c->alive_gen = v->retire_gen;
        return false;
    }
    skip_changed(v, c, busy ? "is being retired" : "was retired");
    return true;
}

/* Has a snapshot retired (or is it retiring) every content that uses
 * @p e? Asked only for a FileLib entry with a part gone. */
static bool all_uses_retired(cmh_verify *v, const ventry *e, bool cache)
{
    if (!e->nuses)
        return false;
    uint32_t last = UINT32_MAX;
    for (size_t i = 0; i < e->nuses; i++) {
        if (use_at(e, i).c == last)
            continue;
        last = use_at(e, i).c;
        if (!content_retired(v, &v->contents[last], cache))
            return false;
    }
    return true;
}

/* A content the listing did not see, named by a reference INI: did it
 * appear during the run (a snapshot that started after the listing holds
 * its package lock, or DataLib has it now)? */
static bool content_appeared(cmh_verify *v, const char *id)
{
    char pk[CMH_PKGID_SIZE], nm[CMH_CID_SIZE + 8];
    if (cmh_content_id_parse(id, pk, NULL) == CMH_CONTENT_PACKAGE &&
        pkg_locked_now(v, pk))
        return true;
    struct stat sb;
    snprintf(nm, sizeof nm, "%s.INI", id);
    return fstatat(v->lib.datalib_fd, nm, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
           fstatat(v->lib.datalib_fd, id, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static void emit_entry(cmh_verify *v, ventry *e, cmh_verify_code code,
                       const char *path, const char *expected,
                       const char *actual, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void emit_entry(cmh_verify *v, ventry *e, cmh_verify_code code,
                       const char *path, const char *expected,
                       const char *actual, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = xvasprintf(fmt, ap);
    va_end(ap);
    vcontent *c = first_user(v, e);
    attribute_users(v, e, code);
    v->emit_sha = e->sha;
    emit(v, code, c ? c->id : "", path, expected, actual, -1, d ? d : "");
    v->emit_sha = NULL;
    free(d);
}

/* ---- listing folders ---- */

typedef struct dent {
    char *name;
    unsigned char type; /* DT_* from readdir, DT_UNKNOWN if not given */
} dent;

typedef struct dlist {
    dent *v;
    size_t n, cap;
} dlist;

static void dlist_free(dlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int dent_cmp(const void *a, const void *b)
{
    return strcmp(((const dent *)a)->name, ((const dent *)b)->name);
}

/* Names in folder @p fd (sorted, without . and ..). Returns 0 or errno. */
static int dlist_add(const char *name, unsigned char type, void *arg)
{
    dlist *out = arg;
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 32;
        dent *nv = realloc(out->v, nc * sizeof *nv);
        if (!nv)
            return ENOMEM;
        out->v = nv;
        out->cap = nc;
    }
    char *nm = cmh__strdup(name);
    if (!nm)
        return ENOMEM;
    out->v[out->n].name = nm;
    out->v[out->n].type = type;
    out->n++;
    return 0;
}

/* The names in folder @p fd, sorted; @p fresh: fd was just opened (no
 * rewind needed). */
static int list_dir_at(int fd, bool fresh, dlist *out)
{
    memset(out, 0, sizeof *out);
    int e = cmh__os_list_dir(fd, !fresh, dlist_add, out);
    if (e) {
        dlist_free(out);
        return e;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, dent_cmp);
    return 0;
}

static int list_dir(int fd, dlist *out)
{
    return list_dir_at(fd, false, out);
}

/* Type of dirfd/name without following links: DT_REG, DT_DIR, DT_LNK...
 * @p sb receives the stat when it was needed (else st_mode 0). */
static unsigned char dent_type(int dirfd, const dent *d, struct stat *sb)
{
    memset(sb, 0, sizeof *sb);
    if (d->type != DT_UNKNOWN)
        return d->type;
    if (fstatat(dirfd, d->name, sb, AT_SYMLINK_NOFOLLOW) != 0)
        return DT_UNKNOWN;
    if (S_ISREG(sb->st_mode))
        return DT_REG;
    if (S_ISDIR(sb->st_mode))
        return DT_DIR;
    if (S_ISLNK(sb->st_mode))
        return DT_LNK;
    return DT_UNKNOWN;
}

/* A `.cmhash-tmp-*` leftover or another unexpected name. */
static void stray(cmh_verify *v, int dirfd, const char *name,
                  const char *path, const char *why)
{
    if (!v->full)
        return;
    struct stat sb;
    double age = -1;
    bool tmp = has_prefix(name, CMH_TMP_PREFIX);
    if (tmp) {
        /* A running snapshot's temps look the same: while any package is
         * locked they are not reported. */
        if (v->any_busy)
            return;
        if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
            age = wall_now() - mtime_of(&sb);
            if (age < 0)
                age = 0;
        }
        emitf(v, CMH_VF_STRAY, "", path, "", "", age,
              "leftover temporary of an interrupted cmhash run, %.0f s old;"
              " cmhash gc --apply removes it once it is older than "
              "--min-age (default 1d)", age);
        return;
    }
    emitf(v, CMH_VF_STRAY, "", path, "", "", -1, "%s", why);
}

/* ---- PkgLib ---- */

/* List content @p id of package @p pkgid (from its PkgLib INI). */
static void list_content(cmh_verify *v, const char *pkgid, const char *id,
                         bool selected)
{
    vcontent *c = add_content(v, id);
    if (c) {
        c->listed = true;
        c->selected = selected;
        if (!c->pkgid[0])
            memcpy(c->pkgid, pkgid, CMH_PKGID_SIZE);
    }
}

/* Read PkgLib/<pkgid>.INI (file @p name); list its contents. */
static void read_package(cmh_verify *v, const char *name, const char *pkgid,
                         bool selected)
{
    char *path = xasprintf("PkgLib/%s", name);
    char *data = NULL;
    size_t len;
    if (!path) {
        v->oom = true;
        return;
    }
    v->sum.packages++;
    int e = cmh__read_small_file(v->lib.pkglib_fd, name, CMH_INI_MAX_FILE,
                                &data, &len);
    if (e == ENOENT) {
        /* listed a moment ago: the package was deleted during the run (by
         * ConfigMgr or an admin) - not damage (issue 11, item 15) */
        emitf(v, CMH_VF_BUSY, "", path, "", "", -1,
              "package %s was removed during this run; it is not checked",
              pkgid);
        goto out;
    }
    if (e) {
        emitf(v, e == EFBIG ? CMH_VF_PKG_INI_BAD : CMH_VF_FILE_UNREADABLE,
              "", path, "", "", -1, "cannot read the package INI: %s",
              e == EFBIG ? "larger than 4 MiB" : strerror(e));
        goto out;
    }
    char why[256];
    cmh_pkgini pi;
    if (!cmh__pkgini_parse(&pi, pkgid, data, len, why, sizeof why)) {
        if (pi.oom)
            v->oom = true;
        emitf(v, CMH_VF_PKG_INI_BAD, "", path, "", "", -1,
              "unparsable package INI: %s", why);
        cmh__pkgini_free(&pi);
        goto out;
    }
    /* versions snapshot --keep retains (docs/FORMAT.md) are referenced
     * like the current one, so verified in full and never orphans */
    for (size_t i = 0; i < pi.nkeep; i++)
        list_content(v, pkgid, pi.keep[i], selected);
    for (size_t i = 0; i < pi.nids; i++)
        list_content(v, pkgid, pi.ids[i], selected);
    for (size_t i = 0; i < pi.nbad; i++)
        emitf(v, CMH_VF_PKG_INI_BAD, "", path, "", pi.bad[i].key, -1, "%s",
              pi.bad[i].why);
    cmh__pkgini_free(&pi);
out:
    free(data);
    free(path);
}

static void probe_lock(cmh_verify *v, const char *pkgid)
{
    /* opens read-only, never creates the file */
    if (!pkg_locked_now(v, pkgid))
        return;
    char (*nb)[CMH_PKGID_SIZE] =
        realloc(v->busy, (v->nbusy + 1) * sizeof *v->busy);
    if (!nb) {
        v->oom = true;
        return;
    }
    v->busy = nb;
    memcpy(v->busy[v->nbusy++], pkgid, CMH_PKGID_SIZE);
    v->any_busy = true;
    char path[48];
    snprintf(path, sizeof path, CMH_STATE_DIR "/%s.lock", pkgid);
    emitf(v, CMH_VF_BUSY, "", path, "", "", -1,
          "package %s is being written by a snapshot (its lock is held); "
          "its contents and their files are skipped", pkgid);
}

/* Package locks in <lib>/.cmhash/ (read-only: opened, never made). */
static void probe_state_locks(cmh_verify *v)
{
    int fd;
    if (cmh__os_open_dir_noatime(v->lib.root_fd, CMH_STATE_DIR, &fd) != 0)
        return;
    dlist dl;
    if (list_dir(fd, &dl) == 0) {
        for (size_t i = 0; i < dl.n; i++) {
            const char *nm = dl.v[i].name;
            char pk[CMH_PKGID_SIZE], stem[16];
            if (strlen(nm) != 13 || !ends_ci(nm, ".lock"))
                continue;
            memcpy(stem, nm, 8);
            stem[8] = 0;
            if (cmh_pkgid_parse(pk, stem) == CMH_OK)
                probe_lock(v, pk);
        }
        dlist_free(&dl);
    }
    close(fd);
}

static void scan_pkglib(cmh_verify *v)
{
    dlist dl;
    probe_state_locks(v);
    int e = list_dir(v->lib.pkglib_fd, &dl);
    if (e) {
        emitf(v, CMH_VF_LIB_LAYOUT, "", "PkgLib", "", "", -1,
              "cannot list PkgLib: %s", strerror(e));
        return;
    }
    cmh__pause_point("verify-pkglib-listed");
    /* locks first, so that temps of a running snapshot are recognised */
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        char pk[CMH_PKGID_SIZE], stem[16];
        if (n == 13 && ends_ci(nm, ".lock")) {
            memcpy(stem, nm, 8);
            stem[8] = 0;
            bool seen = false; /* also in .cmhash/: probed already */
            for (size_t k = 0; k < v->nbusy; k++)
                seen = seen || !strcasecmp(v->busy[k], stem);
            if (!seen && cmh_pkgid_parse(pk, stem) == CMH_OK)
                probe_lock(v, pk);
        }
    }
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        struct stat sb;
        unsigned char t = dent_type(v->lib.pkglib_fd, &dl.v[i], &sb);
        char *path = xasprintf("PkgLib/%s", nm);
        if (!path) {
            v->oom = true;
            break;
        }
        char pk[CMH_PKGID_SIZE], stem[16];
        bool pkg_name = false;
        if (n == 12 || n == 13) {
            memcpy(stem, nm, 8);
            stem[8] = 0;
            pkg_name = cmh_pkgid_parse(pk, stem) == CMH_OK;
        }
        if (t == DT_REG && n == 12 && pkg_name && ends_ci(nm, ".INI")) {
            read_package(v, nm, pk, true);
        } else if (t == DT_REG &&
                   ((n == 13 && pkg_name && ends_ci(nm, ".lock")) ||
                    !strcmp(nm, CMH_LIB_LOCK))) {
            /* cmhash's own lock files */
        } else {
            stray(v, v->lib.pkglib_fd, nm, path,
                  t == DT_DIR ? "unexpected folder in PkgLib"
                              : "unexpected file in PkgLib (not "
                                "<PackageID>.INI)");
        }
        free(path);
    }
    dlist_free(&dl);
}

/* ---- DataLib listing ---- */

static void scan_datalib(cmh_verify *v)
{
    dlist dl;
    int e = list_dir(v->lib.datalib_fd, &dl);
    if (e) {
        emitf(v, CMH_VF_LIB_LAYOUT, "", "DataLib", "", "", -1,
              "cannot list DataLib: %s", strerror(e));
        return;
    }
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        struct stat sb;
        unsigned char t = dent_type(v->lib.datalib_fd, &dl.v[i], &sb);
        char id[CMH_CID_SIZE];
        bool is_ini = t == DT_REG && n > 4 && n - 4 < sizeof id &&
                      ends_ci(nm, ".INI");
        if (is_ini) {
            memcpy(id, nm, n - 4);
            id[n - 4] = 0;
        }
        char *path = xasprintf("DataLib/%s", nm);
        if (!path) {
            v->oom = true;
            break;
        }
        if (is_ini && cmh_content_id_parse(id, NULL, NULL) !=
                          CMH_CONTENT_INVALID) {
            vcontent *c = add_content(v, id);
            if (c) {
                c->has_ini = c->selected = true;
                memcpy(c->ini_suffix, nm + n - 4, 5);
            }
        } else if (t == DT_DIR && n < sizeof id &&
                   cmh_content_id_parse(nm, NULL, NULL) !=
                       CMH_CONTENT_INVALID) {
            vcontent *c = add_content(v, nm);
            if (c)
                c->has_dir = c->selected = true;
        } else {
            stray(v, v->lib.datalib_fd, nm, path,
                  t == DT_DIR ? "unexpected folder in DataLib (not a "
                                "content ID)"
                              : "unexpected file in DataLib (not "
                                "<ContentID>.INI)");
        }
        free(path);
    }
    dlist_free(&dl);
}

/* ---- FileLib listing ---- */

typedef struct fname {
    uint8_t sha[CMH_SHA256_LEN];
    int kind; /* 0 data, 1 INI, 2 SIG */
    int root;
} fname;

typedef struct fnames {
    fname *v;
    size_t n, cap;
} fnames;

static int fname_cmp(const void *a, const void *b)
{
    const fname *x = a, *y = b;
    int c = memcmp(x->sha, y->sha, CMH_SHA256_LEN);
    if (c)
        return c;
    if (x->kind != y->kind)
        return x->kind - y->kind;
    return x->root - y->root;
}

static void scan_h4(cmh_verify *v, int r, const char *h4, fnames *out)
{
    vroot *root = &v->roots[r];
    int fd = -1;
    char *dpath = xasprintf("%s/%s", root->display, h4);
    if (!dpath) {
        v->oom = true;
        return;
    }
    int e = cmh__os_open_dir_noatime(root->fd, h4, &fd);
    dlist dl = {0};
    if (!e)
        e = list_dir_at(fd, true, &dl);
    if (e) {
        emitf(v, CMH_VF_FILE_UNREADABLE, "", dpath, "", "", -1,
              "cannot list the FileLib folder: %s", strerror(e));
        free(dpath);
        if (fd >= 0)
            close(fd);
        return;
    }
    for (size_t i = 0; i < dl.n; i++) {
        const char *nm = dl.v[i].name;
        size_t n = strlen(nm);
        struct stat sb;
        unsigned char t = dent_type(fd, &dl.v[i], &sb);
        int kind = -1;
        if (n >= 64 && is_upper_hex(nm, 64) && !memcmp(nm, h4, 4)) {
            if (n == 64)
                kind = 0;
            else if (n == 68 && !strcmp(nm + 64, ".INI"))
                kind = 1;
            else if (n == 68 && !strcmp(nm + 64, ".SIG"))
                kind = 2;
        }
        char *path = xasprintf("%s/%s", dpath, nm);
        if (!path) {
            v->oom = true;
            break;
        }
        if (kind >= 0 && t == DT_REG) {
            if (out->n == out->cap) {
                size_t nc = out->cap ? out->cap * 2 : 1024;
                fname *nv = realloc(out->v, nc * sizeof *nv);
                if (!nv) {
                    v->oom = true;
                    free(path);
                    break;
                }
                out->v = nv;
                out->cap = nc;
            }
            fname *f = &out->v[out->n++];
            (void)cmh__hex64_decode(nm, f->sha);
            f->kind = kind;
            f->root = r;
        } else {
            stray(v, fd, nm, path,
                  kind >= 0 ? "FileLib name that is not a regular file"
                            : "unexpected name in a FileLib folder (not "
                              "<HASH>, <HASH>.INI or <HASH>.SIG)");
        }
        free(path);
    }
    dlist_free(&dl);
    close(fd);
    free(dpath);
}

static void scan_filelib(cmh_verify *v)
{
    fnames fn = {0};
    for (size_t r = 0; r < v->nroots; r++) {
        dlist dl;
        int e = list_dir(v->roots[r].fd, &dl);
        if (e) {
            emitf(v, CMH_VF_LIB_LAYOUT, "", v->roots[r].display, "", "", -1,
                  "cannot list the FileLib folder: %s", strerror(e));
            continue;
        }
        for (size_t i = 0; i < dl.n; i++) {
            const char *nm = dl.v[i].name;
            struct stat sb;
            unsigned char t = dent_type(v->roots[r].fd, &dl.v[i], &sb);
            if (t == DT_DIR && strlen(nm) == 4 && is_upper_hex(nm, 4)) {
                scan_h4(v, (int)r, nm, &fn);
                continue;
            }
            char *path = xasprintf("%s/%s", v->roots[r].display, nm);
            if (!path) {
                v->oom = true;
                break;
            }
            stray(v, v->roots[r].fd, nm, path,
                  "unexpected name in FileLib (not a 4-hex-digit folder)");
            free(path);
        }
        dlist_free(&dl);
    }
    if (fn.n > 1)
        qsort(fn.v, fn.n, sizeof *fn.v, fname_cmp);
    /* One entry per hash. The copy used is the one every command uses
     * (cmh__filelib_find, snapshot's placement): the data on the first
     * root in lookup order (primary, --filelib, $CMHASH_FILELIB,
     * discovered), and the reference INI and .SIG next to it, else the
     * first root holding them. Any other copy is a STRAY duplicate
     * (contentlib.md 10); the finding names the used copy. */
    static const char *const sfx[3] = {"", ".INI", ".SIG"};
    for (size_t i = 0, j; i < fn.n && !v->oom; i = j) {
        for (j = i + 1; j < fn.n && !memcmp(fn.v[j].sha, fn.v[i].sha,
                                            CMH_SHA256_LEN);
             j++)
            ;
        ventry *cur = new_entry(v, fn.v[i].sha);
        if (!cur)
            break;
        int *slots[3] = {&cur->r_data, &cur->r_ini, &cur->r_sig};
        int home = fn.v[i].kind == 0 ? fn.v[i].root : -1; /* sorted */
        for (size_t k = i; k < j; k++) /* the data's root first */
            if (fn.v[k].root == home || *slots[fn.v[k].kind] < 0)
                *slots[fn.v[k].kind] = fn.v[k].root;
        for (size_t k = i; k < j; k++) {
            const fname *f = &fn.v[k];
            int used = *slots[f->kind];
            if (f->root == used)
                continue;
            char *path = entry_path(v, cur, f->root, sfx[f->kind]);
            char *upath = entry_path(v, cur, used, sfx[f->kind]);
            if (path && upath) {
                v->emit_sha = cur->sha;
                emitf(v, CMH_VF_STRAY, "", path, upath, "duplicate", -1,
                      "duplicate of %s, the copy cmhash uses (on %s)", upath,
                      v->roots[used].display);
                v->emit_sha = NULL;
            } else {
                v->oom = true;
            }
            free(path);
            free(upath);
        }
    }
    free(fn.v);
    sort_entries(v);
}

/* ID mode: look the entry up in every root (no listing). */
static ventry *probe_entry(cmh_verify *v, const uint8_t sha[CMH_SHA256_LEN])
{
    ventry *e = new_entry(v, sha);
    if (!e)
        return NULL;
    static const char *const sfx[3] = {"", ".INI", ".SIG"};
    int *slots[3] = {&e->r_data, &e->r_ini, &e->r_sig};
    for (int k = 0; k < 3; k++)
        for (size_t r = 0; r < v->nroots && *slots[k] < 0; r++) {
            char rel[CMH_FILELIB_REL_SIZE];
            cmh__filelib_rel_hex(rel, EHEX(e), sfx[k]);
            struct stat sb;
            if (fstatat(v->roots[r].fd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(sb.st_mode))
                *slots[k] = (int)r;
        }
    return e;
}

/* ---- worker state ---- */

static void *vworker_make(void *arg)
{
    cmh_verify *v = arg;
    vworker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->w = cmh__worker_new(v->ctx->sha256);
    w->md = EVP_MD_CTX_new();
    w->buf = malloc(SIG_CMP_BUF);
    if (!w->w || !w->md || !w->buf ||
        !EVP_DigestInit_ex(w->md, v->ctx->sha256, NULL)) {
        cmh__worker_free(w->w);
        EVP_MD_CTX_free(w->md);
        free(w->buf);
        free(w);
        return NULL;
    }
    return w;
}

/* The entry reads' threads need no stream buffers (see entry_threads). */
static void *eworker_make(void *arg)
{
    cmh_verify *v = arg;
    vworker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->md = EVP_MD_CTX_new();
    w->buf = malloc(SIG_CMP_BUF);
    if (!w->md || !w->buf ||
        !EVP_DigestInit_ex(w->md, v->ctx->sha256, NULL)) {
        EVP_MD_CTX_free(w->md);
        free(w->buf);
        free(w);
        return NULL;
    }
    return w;
}

static void vworker_free(void *st)
{
    vworker *w = st;
    if (!w)
        return;
    cmh__worker_free(w->w);
    EVP_MD_CTX_free(w->md);
    free(w->buf);
    free(w);
}

/* ---- content check (index pass, worker) ---- */

/* ---- signature-hash plan (see PLAN_*) ---- */

typedef struct plan_rec {
    vcontent *c;
    size_t cap, capdirs;
    bool bad;
} plan_rec;

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *n = realloc(*p, nc * elem);
    if (!n)
        return false;
    *p = n;
    *cap = nc;
    return true;
}

static void plan_cb(cmh_stream_kind kind, const cmh_node *node,
                    const uint16_t *s, size_t n, void *arg)
{
    plan_rec *r = arg;
    vcontent *c = r->c;
    if (r->bad)
        return;
    uint32_t op;
    if (kind == CMH_STREAM_DIR) {
        if (c->ndirs16 > PLAN_MAX || n > UINT32_MAX ||
            !grow((void **)&c->dirs16, &r->capdirs, c->ndirs16 + 2 + n,
                  sizeof *c->dirs16)) {
            r->bad = true;
            return;
        }
        op = (uint32_t)PLAN_DIR << 30 | (uint32_t)c->ndirs16;
        c->dirs16[c->ndirs16++] = (uint16_t)(n & 0xFFFF);
        c->dirs16[c->ndirs16++] = (uint16_t)(n >> 16);
        memcpy(c->dirs16 + c->ndirs16, s, n * sizeof *s);
        c->ndirs16 += n;
    } else {
        uintptr_t k = (uintptr_t)node->aux;
        if (!k || k > c->nfiles || k - 1 > PLAN_MAX) {
            r->bad = true;
            return;
        }
        op = (uint32_t)(kind == CMH_STREAM_FILE ? PLAN_PATH : PLAN_HASH)
                 << 30 |
             (uint32_t)(k - 1);
    }
    if (!grow((void **)&c->plan, &r->cap, c->nplan + 1, sizeof *c->plan)) {
        r->bad = true;
        return;
    }
    c->plan[c->nplan++] = op;
}

static bool make_plan(vcontent *c)
{
    plan_rec r = {.c = c};
    if (cmh__tree_stream_nodes(c->root, false, plan_cb, &r) != CMH_OK ||
        r.bad)
        return false;
    /* exact size: plans live for the whole run */
    uint32_t *p = c->nplan ? realloc(c->plan, c->nplan * sizeof *p) : NULL;
    if (p)
        c->plan = p;
    uint16_t *d =
        c->ndirs16 ? realloc(c->dirs16, c->ndirs16 * sizeof *d) : NULL;
    if (d)
        c->dirs16 = d;
    return true;
}

/* Replay the plan: the content hash (sig false, the mirror's file hashes)
 * or the signature hash (the .SIG digests of the joined entries). */
static cmh_status plan_hash(const vcontent *c, bool sig, EVP_MD *mdt,
                            uint8_t out[CMH_SHA256_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cmh_path16 p = {0};
    cmh_status st = CMH_E_NOMEM;
    if (!md || !EVP_DigestInit_ex(md, mdt, NULL))
        goto out;
    for (size_t i = 0; i < c->nplan; i++) {
        uint32_t a = PLAN_ARG(c->plan[i]);
        switch (PLAN_KIND(c->plan[i])) {
        case PLAN_DIR: {
            size_t n = c->dirs16[a] | (size_t)c->dirs16[a + 1] << 16;
            cmh__utf16le_digest(c->dirs16 + a + 2, n, md);
            break;
        }
        case PLAN_PATH: {
            /* the node's path: its INI's path without ".INI", as
             * cmh__tree_stream spells it */
            const char *rel = frel(c, &c->files[a]);
            size_t n = strlen(rel) - 4;
            p.len = 0;
            for (size_t s = 0; s < n;) {
                const char *sl = memchr(rel + s, '/', n - s);
                size_t e = sl ? (size_t)(sl - rel) : n;
                if (!cmh__path16_push(&p, rel + s, e - s))
                    goto out;
                s = e + 1;
            }
            cmh__utf16le_digest(p.u, p.len, md);
            break;
        }
        default: {
            const vfile *f = &c->files[a];
            const uint8_t *sha = f->sha;
            if (sig) {
                if (!f->entry)
                    goto out;
                sha = f->entry->sig_sha;
            }
            char hex[CMH_HEX_SIZE];
            uint16_t u[64];
            cmh_hex_upper(sha, CMH_SHA256_LEN, hex);
            for (size_t k = 0; k < 64; k++)
                u[k] = (uint16_t)hex[k];
            cmh__utf16le_digest(u, 64, md);
            break;
        }
        }
    }
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, out, &len);
    st = CMH_OK;
out:
    free(p.u);
    EVP_MD_CTX_free(md);
    return st;
}

/* Give back what the mirror walk over-allocated (doubling growth). */
static void shrink_content(vcontent *c)
{
    if (c->nfiles && c->nfiles < c->capfiles) {
        vfile *f = realloc(c->files, c->nfiles * sizeof *f);
        if (f) {
            c->files = f;
            c->capfiles = c->nfiles;
        }
    }
    if (c->names.data && c->names.len + 1 < c->names.cap) {
        char *d = realloc(c->names.data, c->names.len + 1);
        if (d) {
            c->names.data = d;
            c->names.cap = c->names.len + 1;
        }
    }
}

/* A small INI: one read into @p buf (SIG_CMP_BUF bytes, a worker's) when
 * it is short and not empty - no fstat: the listing saw a regular file,
 * and a non-empty read is of one; else (empty, 64 KiB or more, an error)
 * the read every command uses (cmh__read_small_file: fstat, size limit),
 * so those findings do not change. *owned: *data is malloc'd. */
static int read_ini(unsigned char *buf, int dirfd, const char *name,
                    char **data, size_t *len, bool *owned)
{
    int fd;
    *owned = false;
    int err = cmh__os_open_read(dirfd, name, &fd);
    if (err)
        return err;
    ssize_t n;
    do
        n = read(fd, buf, SIG_CMP_BUF - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n > 0 && (size_t)n < SIG_CMP_BUF - 1) {
        buf[n] = 0;
        *data = (char *)buf;
        *len = (size_t)n;
        return 0;
    }
    *owned = true;
    return cmh__read_small_file(dirfd, name, CMH_INI_MAX_FILE, data, len);
}

typedef struct mirror_walk {
    cmh_verify *v;
    vcontent *c;
    cmh_buf rel;  /* current folder, relative, with trailing '/' or "" */
    cmh_node **dirs; /* folder being read is dirs[n - 1] */
    size_t *rel_len; /* rel.len when dirs[i] was entered */
    size_t n, cap;
    unsigned char *buf; /* the worker's SIG_CMP_BUF bytes (read_ini) */
} mirror_walk;

static char *mirror_path(mirror_walk *m, const char *name)
{
    return xasprintf("DataLib/%s/%s%s", m->c->id, cmh__buf_str(&m->rel),
                     name);
}

static void check_file_ini(mirror_walk *m, int dirfd, const char *name,
                           cmh_node *dir)
{
    vcontent *c = m->c;
    size_t n = strlen(name);
    char *data = NULL;
    size_t len;
    cmh_node *node = cmh__node_new(name, n - 4, false);
    if (!node || !cmh__node_add(dir, node)) {
        cmh__node_free(node);
        c->fnd.oom = true;
        return;
    }
    if (c->nfiles == c->capfiles) {
        size_t nc = c->capfiles ? c->capfiles * 2 : 16;
        vfile *nv = realloc(c->files, nc * sizeof *nv);
        if (!nv) {
            c->fnd.oom = true;
            return;
        }
        c->files = nv;
        c->capfiles = nc;
    }
    vfile *f = &c->files[c->nfiles++];
    memset(f, 0, sizeof *f);
    node->aux = (void *)(uintptr_t)c->nfiles; /* index + 1, for the plan */
    if (c->names.len >= UINT32_MAX - 2 * PATH_MAX || c->names.oom)
        goto no_name; /* 4 GiB of names in one content, or no memory */
    f->rel = (uint32_t)c->names.len;
    cmh__buf_add(&c->names, m->rel.data ? m->rel.data : "", m->rel.len);
    cmh__buf_add(&c->names, name, n + 1);
    if (c->names.oom)
        goto no_name;
    bool owned;
    int e = read_ini(m->buf, dirfd, name, &data, &len, &owned);
    if (e) {
        c->mirror_complete = false;
        vfinds_add(&c->fnd, e == EFBIG ? CMH_VF_FILE_INI_BAD
                                       : CMH_VF_FILE_UNREADABLE,
                   -1, "", "", mirror_path(m, name),
                   "cannot read the file INI: %s",
                   e == EFBIG ? "larger than 4 MiB" : strerror(e));
        return;
    }
    cmh_fileini fi;
    char why[256];
    int r = cmh__fileini_parse(data, len, &fi, why, sizeof why);
    if (owned)
        free(data);
    if (r != CMH_FILEINI_OK) {
        c->mirror_complete = false;
        if (r == CMH_FILEINI_UNPARSABLE)
            vfinds_add(&c->fnd, CMH_VF_FILE_INI_BAD, -1, "", "",
                       mirror_path(m, name), "unparsable file INI: %s", why);
        else if (r == CMH_FILEINI_MISSING)
            vfinds_add(&c->fnd, CMH_VF_FILE_INI_BAD, -1, fi.missing, "",
                       mirror_path(m, name), "file INI has no [File] %s",
                       fi.missing);
        else
            vfinds_add(&c->fnd, CMH_VF_FILE_INI_BAD, -1, "", fi.bad_value,
                       mirror_path(m, name), "file INI: %s", fi.bad);
        return;
    }
    if (fi.lower_hash || fi.lower_attrs)
        vfinds_add(&c->fnd, CMH_VF_INI_NONCANONICAL, -1, "", "",
                   mirror_path(m, name),
                   "lower-case hex in %s (accepted; writers use upper "
                   "case)", fi.lower_hash ? "Hash" : "Attributes");
    uint64_t size = fi.size;
    memcpy(f->sha, fi.sha, CMH_SHA256_LEN);
    memcpy(node->sha, f->sha, CMH_SHA256_LEN);
    node->size = f->size = size;
    f->ok = true;
    return;
no_name:
    /* No room for its name: the file is forgotten (its node stays, with no
     * plan index) and the run ends out of memory; nothing is recomputed
     * from this mirror. */
    c->nfiles--;
    node->aux = NULL;
    c->mirror_complete = false;
    c->fnd.oom = true;
}

static int mw_enter(void *arg, const char *nm, int depth)
{
    (void)depth;
    mirror_walk *m = arg;
    vcontent *c = m->c;
    if (m->n == m->cap) {
        size_t nc = m->cap * 2;
        cmh_node **nd = realloc(m->dirs, nc * sizeof *nd);
        if (nd)
            m->dirs = nd;
        size_t *nl = nd ? realloc(m->rel_len, nc * sizeof *nl) : NULL;
        if (!nl) {
            c->fnd.oom = true;
            return 1;
        }
        m->rel_len = nl;
        m->cap = nc;
    }
    cmh_node *sub = cmh__node_new(nm, strlen(nm), true);
    if (!sub || !cmh__node_add(m->dirs[m->n - 1], sub)) {
        cmh__node_free(sub);
        c->fnd.oom = true;
        return 1;
    }
    m->rel_len[m->n] = m->rel.len;
    m->dirs[m->n++] = sub;
    cmh__buf_adds(&m->rel, nm);
    cmh__buf_adds(&m->rel, "/");
    return 0;
}

static void mw_leave(void *arg)
{
    mirror_walk *m = arg;
    size_t saved = m->rel_len[--m->n];
    m->rel.len = saved;
    if (m->rel.data)
        m->rel.data[saved] = 0;
}

static int mw_entry(void *arg, int fd, const char *nm, const struct stat *sb)
{
    mirror_walk *m = arg;
    vcontent *c = m->c;
    size_t n = strlen(nm);
    if (S_ISREG(sb->st_mode) && n > 4 && ends_ci(nm, ".INI")) {
        check_file_ini(m, fd, nm, m->dirs[m->n - 1]);
    } else if (has_prefix(nm, CMH_TMP_PREFIX) && m->v->any_busy) {
        /* may belong to a running snapshot */
    } else {
        /* Not in the content hash: the mirror holds folders and file INIs
         * only. */
        double age = has_prefix(nm, CMH_TMP_PREFIX)
                         ? wall_now() - mtime_of(sb)
                         : -1;
        vfinds_add(&c->fnd, CMH_VF_STRAY, age, "", "", mirror_path(m, nm),
                   "%s",
                   S_ISLNK(sb->st_mode) ? "symbolic link in a mirror (not "
                                          "followed)"
                   : S_ISREG(sb->st_mode) ? "file in a mirror that is not a "
                                            "file INI"
                                          : "special file in a mirror");
    }
    return c->fnd.oom;
}

/* Read the mirror DataLib/<id> into c->root (cmh__mirror_walk: one depth
 * limit for every command, no descriptor per level). A folder that cannot
 * be read ends the walk: the mirror is incomplete and not recomputed. */
static void walk_mirror(mirror_walk *m)
{
    static const cmh_mirror_cb cb = {mw_enter, mw_leave, mw_entry, false};
    vcontent *c = m->c;
    m->cap = 64;
    m->n = 1;
    m->dirs = malloc(m->cap * sizeof *m->dirs);
    m->rel_len = malloc(m->cap * sizeof *m->rel_len);
    if (!m->dirs || !m->rel_len) {
        c->fnd.oom = true;
        return;
    }
    m->dirs[0] = c->root;
    m->rel_len[0] = 0;
    char *where = NULL;
    int e = cmh__mirror_walk(m->v->lib.datalib_fd, c->id, &cb, m, &where);
    if (e && !c->fnd.oom && where && !where[0] &&
        (e == ENOENT || e == ENOTDIR || e == ELOOP || e == EACCES)) {
        /* the mirror folder itself could not be opened */
        c->mirror_read = false;
        vfinds_add(&c->fnd, CMH_VF_FILE_UNREADABLE, -1, "", "",
                   xasprintf("DataLib/%s", c->id),
                   "cannot open the mirror: %s", strerror(e));
    } else if (e && !c->fnd.oom) {
        c->mirror_complete = false;
        if (where)
            cmh__path_abbrev(where);
        char *path = xasprintf("DataLib/%s%s%s", c->id,
                               where && where[0] ? "/" : "",
                               where ? where : "");
        if (e == ELOOP)
            vfinds_add(&c->fnd, CMH_VF_FILE_UNREADABLE, -1, "", "", path,
                       "mirror deeper than %d folders; not checked",
                       CMH_MIRROR_MAX_DEPTH);
        else
            vfinds_add(&c->fnd, CMH_VF_FILE_UNREADABLE, -1, "", "", path,
                       "cannot read the mirror folder: %s", strerror(e));
    }
    free(where);
}

static void content_task(void *tk, void *state, void *arg)
{
    vcontent *c = tk;
    cmh_verify *v = arg;
    vworker *w = state;
    if (atomic_load_explicit(&v->stop, memory_order_relaxed))
        return;
    char *data = NULL;
    size_t len;
    char name[CMH_CID_SIZE + 8];
    snprintf(name, sizeof name, "%s%s", c->id,
             c->ini_suffix[0] ? c->ini_suffix : ".INI");
    if (c->has_ini) {
        int e = cmh__read_small_file(v->lib.datalib_fd, name,
                                    CMH_INI_MAX_FILE, &data, &len);
        /* vfinds_add takes over the path it is given */
        char *path = xasprintf("DataLib/%s", name);
        cmh_contentini p;
        char why[256];
        int r = e ? -1 : cmh__contentini_parse(data, len, &p, why, sizeof why);
        if (e) {
            vfinds_add(&c->fnd, e == EFBIG ? CMH_VF_CONTENT_INI_BAD
                                           : CMH_VF_FILE_UNREADABLE,
                       -1, "", "", path, "cannot read the content INI: %s",
                       e == EFBIG ? "larger than 4 MiB" : strerror(e));
        } else if (r == CMH_CONTENTINI_UNPARSABLE) {
            vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "", "", path,
                       "unparsable content INI: %s", why);
        } else if (r == CMH_CONTENTINI_BAD) {
            vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "", "", path,
                       "content INI: %s", why);
        } else if (r == CMH_CONTENTINI_NO_HASH) {
            vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "Hash", "",
                       path, "content INI has no [Info] Hash");
        } else if (r == CMH_CONTENTINI_BAD_ALG) {
            vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "32780", p.alg,
                       path, "unknown HashAlgorithm (32780 = SHA-256 is "
                       "the only one)");
        } else {
            c->ini_ok = true;
            c->foreign = !p.has_cmhash;
            memcpy(c->hash, p.hash, CMH_SHA256_LEN);
            if (p.have_sighash) {
                c->has_sighash = true;
                memcpy(c->sighash, p.sighash, CMH_SHA256_LEN);
            }
            if (p.hash_lower || p.sighash_lower)
                vfinds_add(&c->fnd, CMH_VF_INI_NONCANONICAL, -1, "", "",
                           path,
                           "lower-case hex in %s (accepted; writers use "
                           "upper case)",
                           p.hash_lower ? "Hash" : "SignatureHash");
            else
                free(path);
        }
        free(data);
    }
    if (c->has_dir) {
        c->root = cmh__node_new("", 0, true);
        if (!c->root) {
            c->fnd.oom = true;
            goto out;
        }
        mirror_walk m;
        memset(&m, 0, sizeof m);
        m.v = v;
        m.c = c;
        m.buf = w->buf;
        cmh__buf_init(&m.rel);
        c->mirror_complete = true;
        c->mirror_read = true;
        walk_mirror(&m);
        cmh__buf_free(&m.rel);
        free(m.dirs);
        free(m.rel_len);
        if (m.rel.oom)
            c->fnd.oom = true;
        /* Out of memory part-way: the tree and the file table may be
         * incomplete (a file counted whose name was never stored), so
         * nothing is recomputed from them; the run reports the failure. */
        if (c->fnd.oom)
            c->mirror_complete = false;
        cmh__tree_sort(c->root);
        shrink_content(c);
        uint8_t h[CMH_SHA256_LEN];
        bool have_h = false;
        if (c->mirror_complete) {
            if (cmh__tree_hash(c->root, false, v->ctx->sha256, h) != CMH_OK)
                c->fnd.oom = true;
            else
                have_h = true;
        }
        /* The tree is the bulk of a content's memory; only the signature
         * hash needs it later, and the plan stands in for it (checked: it
         * must give the same content hash). Kept only if that fails. */
        if (have_h && c->has_sighash) {
            uint8_t hp[CMH_SHA256_LEN];
            if (make_plan(c) &&
                plan_hash(c, false, v->ctx->sha256, hp) == CMH_OK &&
                !memcmp(hp, h, CMH_SHA256_LEN)) {
                cmh__node_free(c->root);
                c->root = NULL;
            } else {
                free(c->plan);
                free(c->dirs16);
                c->plan = NULL;
                c->dirs16 = NULL;
                c->nplan = c->ndirs16 = 0;
            }
        } else {
            cmh__node_free(c->root);
            c->root = NULL;
        }
        if (have_h && c->ini_ok) {
            if (memcmp(h, c->hash, CMH_SHA256_LEN)) {
                char exp[CMH_HEX_SIZE], act[CMH_HEX_SIZE];
                cmh_hex_upper(c->hash, CMH_SHA256_LEN, exp);
                cmh_hex_upper(h, CMH_SHA256_LEN, act);
                vfinds_add(&c->fnd, CMH_VF_CONTENT_HASH_MISMATCH, -1, exp,
                           act, xasprintf("DataLib/%s", name),
                           "the content hash recomputed from the mirror's "
                           "file INIs differs from [Info] Hash");
            }
        }
    }
out:
    atomic_fetch_add(&v->items_done, 1);
}

/* ---- FileLib entry (index pass, worker) ----
 *
 * One task per FileLib <h4> folder (the entries whose digests share their
 * first two bytes: v->entries is sorted, so they are a run of it). The
 * task opens the folder once per root it needs and names each part by
 * its one-component name relative to that folder: no path re-resolution
 * per file. Per entry in the common case (a cmhash library, every .SIG
 * hashed for a SignatureHash): openat + read + close of the INI, one
 * fstatat of the data, openat + read + close of the .SIG - the fstat of
 * each small file is needed only when its first read is not a short,
 * non-empty read (an empty or large file, an error, a file that changed
 * kind since the listing): then the part is read again the way it
 * always was, so its findings do not change. */

typedef struct efolder {
    size_t lo, hi;  /* v->entries[lo..hi) */
} efolder;
/* entries per task at most: a folder of a huge library holds thousands
 * (1M entries / 65,536 folders = 16), the tasks stay short */
#define EFOLDER_MAX 256
#define ENTRY_THREADS_PER_CPU 4
#define ENTRY_THREADS_MAX 64
#define INDEX_PREFETCH_DEFAULT 1

/* Where part @p sfx of @p e on root @p r is: the folder fd (opened on
 * first use, kept in fds[r]) and the name in it; when the folder cannot
 * be opened (it changed since the listing) or @p fds is NULL (no memory
 * for it), the root fd and "ABCD/<hex>"
 * - the read then fails or succeeds as it did before batching. */
static int part_at(cmh_verify *v, int *fds, const ventry *e, int r,
                   const char *sfx, char rel[CMH_FILELIB_REL_SIZE],
                   const char **name)
{
    cmh__filelib_rel_hex(rel, EHEX(e), sfx);
    if (fds && fds[r] == -1) {
        char h4[5];
        memcpy(h4, rel, 4);
        h4[4] = 0;
        if (cmh__os_open_dir_noatime(v->roots[r].fd, h4, &fds[r]))
            fds[r] = -2; /* not again for this folder */
    }
    if (fds && fds[r] >= 0) {
        *name = rel + 5;
        return fds[r];
    }
    *name = rel;
    return v->roots[r].fd;
}

static void read_sig(cmh_verify *v, vworker *w, ventry *e, int dirfd,
                     const char *name)
{
    int fd;
    int err = cmh__os_open_read(dirfd, name, &fd);
    if (err) {
        e->sig_err = err;
        return;
    }
    unsigned char hdr[12];
    size_t got = 0;
    bool hashing = e->want_sig_hash;
    uint64_t total = 0;
    ssize_t n0 = -1;
    if (hashing) {
        if (!EVP_DigestInit_ex(w->md, v->ctx->sha256, NULL)) {
            e->sig_err = ENOMEM;
            close(fd);
            return;
        }
        /* the first read before any fstat: a non-empty read is of a
         * regular file (the listing saw one; a read that returns 0 or
         * fails moves nothing, and errno is kept for the fstat below) */
        int saved = errno;
        do
            n0 = read(fd, w->buf, SIG_CMP_BUF);
        while (n0 < 0 && errno == EINTR);
        if (n0 <= 0) {
            errno = saved;
            n0 = -1;
        }
    }
    if (n0 < 0) {
        struct stat sb;
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            e->sig_err = errno ? errno : EINVAL;
            close(fd);
            return;
        }
        e->sig_len = (uint64_t)sb.st_size;
    }
    for (;;) {
        size_t want = hashing ? SIG_CMP_BUF : sizeof hdr - got;
        if (!hashing && got == sizeof hdr)
            break;
        ssize_t n;
        if (n0 > 0) {
            n = n0; /* the first read, already done */
            n0 = -1;
        } else {
            n = read(fd, w->buf, want);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            e->sig_err = errno;
            break;
        }
        if (n == 0)
            break;
        if (got < sizeof hdr) {
            size_t k = sizeof hdr - got < (size_t)n ? sizeof hdr - got
                                                    : (size_t)n;
            memcpy(hdr + got, w->buf, k);
            got += k;
        }
        if (hashing && !EVP_DigestUpdate(w->md, w->buf, (size_t)n)) {
            e->sig_err = ENOMEM;
            break;
        }
        total += (uint64_t)n;
        if (hashing && (size_t)n < want)
            break; /* a regular file reads short only at its end */
    }
    close(fd);
    if (hashing) {
        unsigned int dl;
        if (!EVP_DigestFinal_ex(w->md, e->sig_sha, &dl) && !e->sig_err)
            e->sig_err = ENOMEM;
        if (!e->sig_err) {
            e->sig_hashed = true;
            e->sig_len = total;
        }
    }
    if (e->sig_err)
        return;
    int h = cmh__sig_header_parse(hdr, got, &e->sig_magic, &e->sig_bl,
                                  &e->sig_sl);
    e->sig_foreign = h == CMH_SIGHDR_FOREIGN;
    e->sig_hdr = h == CMH_SIGHDR_OK;
}

/* Keep a parsed reference list as one block (an entry holds it for the
 * whole run; one allocation instead of one per ID plus an array). */
static bool pack_refs(ventry *e, const cmh_reflist *r)
{
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++)
        total += strlen(r->ids[i]) + 1;
    if (!r->n || r->n > UINT32_MAX)
        return r->n == 0;
    char *p = malloc(total);
    if (!p)
        return false;
    e->refs = p;
    e->nrefs = (uint32_t)r->n;
    for (size_t i = 0; i < r->n; i++) {
        size_t l = strlen(r->ids[i]) + 1;
        memcpy(p, r->ids[i], l);
        p += l;
    }
    return true;
}

static void entry_read(cmh_verify *v, vworker *w, ventry *e, int *fds)
{
    char rel[CMH_FILELIB_REL_SIZE];
    const char *name;
    if (e->r_ini >= 0) {
        char *data;
        size_t len;
        bool owned;
        int dfd = part_at(v, fds, e, e->r_ini, ".INI", rel, &name);
        int err = read_ini(w->buf, dfd, name, &data, &len, &owned);
        char why[160];
        if (err == EFBIG) {
            e->ini_bad = true;
            snprintf(why, sizeof why, "larger than 4 MiB");
        } else if (err) {
            e->ini_err = err;
        } else {
            cmh_reflist refs = {0};
            if (!cmh__reflist_parse(&refs, data, len, why, sizeof why))
                e->ini_bad = true;
            else if (!pack_refs(e, &refs))
                e->ini_oom = true;
            cmh__reflist_free(&refs);
            if (owned)
                free(data);
        }
        if (e->ini_bad && !(e->ini_why = cmh__strdup(why)))
            e->ini_oom = true;
    }
    if (e->r_data >= 0) {
        int dfd = part_at(v, fds, e, e->r_data, "", rel, &name);
        struct stat sb;
        if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW))
            e->data_err = errno;
        else
            e->data_size = (uint64_t)sb.st_size;
    }
    if (e->r_sig >= 0) {
        int dfd = part_at(v, fds, e, e->r_sig, ".SIG", rel, &name);
        read_sig(v, w, e, dfd, name);
    }
}

/* Threads for the entry reads. On a cold library each read waits on the
 * disk for an inode or a block, so more reads in flight than cores keep
 * the device busy: ENTRY_THREADS_PER_CPU per hashing thread
 * (CMHASH_ENTRY_THREADS=N sets it, A/B); with --io-rate the hashing
 * threads only (the limit is for the bytes read, and this pass reads
 * few). */
static unsigned entry_threads(const cmh_verify *v, unsigned threads)
{
    const char *env = getenv("CMHASH_ENTRY_THREADS");
    if (env && *env) {
        long n = strtol(env, NULL, 10);
        if (n >= 1 && n <= 256)
            return (unsigned)n;
    }
    if (v->o.io_rate > 0)
        return threads;
    unsigned n = threads * ENTRY_THREADS_PER_CPU;
    return n > ENTRY_THREADS_MAX ? ENTRY_THREADS_MAX : n;
}

/* The index pass's fadvise prefetch of each INI and .SIG ahead of the
 * entry reads (CMHASH_INDEX_PREFETCH=0 turns it off, A/B). */
static bool index_prefetch(void)
{
    const char *env = getenv("CMHASH_INDEX_PREFETCH");
    if (env && *env)
        return strcmp(env, "0") != 0;
    return INDEX_PREFETCH_DEFAULT;
}

static void folder_task(void *tk, void *state, void *arg)
{
    const efolder *f = tk;
    cmh_verify *v = arg;
    vworker *w = state;
    int fds0[8];
    int *fds = v->nroots <= 8 ? fds0 : malloc(v->nroots * sizeof *fds);
    /* no memory for the folder fds: every part by its root path */
    for (size_t r = 0; fds && r < v->nroots; r++)
        fds[r] = -1;
    for (size_t i = f->lo; i < f->hi; i++) {
        if (atomic_load_explicit(&v->stop, memory_order_relaxed))
            break;
        entry_read(v, w, v->entries[i], fds);
        atomic_fetch_add(&v->items_done, 1);
    }
    for (size_t r = 0; fds && r < v->nroots; r++)
        if (fds[r] >= 0)
            close(fds[r]);
    if (fds != fds0)
        free(fds);
}

/* ---- joining the two sides (caller's thread) ---- */

static void check_sig(cmh_verify *v, ventry *e)
{
    char *path = entry_path(v, e, e->r_sig, ".SIG");
    if (!path) {
        v->oom = true;
        return;
    }
    if (e->r_sig < 0) {
        if (e->r_data >= 0 && e->nuses && v->foreign_lib) {
            /* legitimate on a ConfigMgr-written library: counted */
            if (!v->nsig_missing++) {
                v->first_sig_missing = path;
                path = NULL;
            }
        } else if (e->r_data >= 0 && e->nuses) {
            emit_entry(v, e, CMH_VF_SIG_MISSING, path, "", "",
                       "no signature next to the FileLib file");
        }
        goto out;
    }
    if (e->sig_err) {
        e->sig_bad = true;
        emit_entry(v, e, CMH_VF_FILE_UNREADABLE, path, "", "",
                   "cannot read the signature: %s", strerror(e->sig_err));
        goto out;
    }
    if (e->sig_foreign) {
        if (!v->nsig_foreign++) {
            v->first_sig_foreign = path;
            path = NULL;
        }
        goto out;
    }
    char act[32];
    snprintf(act, sizeof act, "%llu", (unsigned long long)e->sig_len);
    if (!e->sig_hdr) {
        e->sig_bad = true;
        emit_entry(v, e, CMH_VF_SIG_BAD, path, ">= 12 bytes", act,
                   "truncated signature: shorter than its header");
        goto out;
    }
    if (!cmh__sig_params_ok(e->sig_magic, e->sig_bl, e->sig_sl)) {
        e->sig_bad = true;
        char hdr[64];
        snprintf(hdr, sizeof hdr, "block %u, strong %u", e->sig_bl,
                 e->sig_sl);
        emit_entry(v, e, CMH_VF_SIG_BAD, path, "", hdr,
                   "signature header with impossible parameters");
        goto out;
    }
    /* The signature must fit the bytes it describes: the file as it is,
     * or as the file INIs say it should be (a truncated data file keeps a
     * good signature). */
    bool fits = e->r_data >= 0 && !e->data_err &&
                cmh__sig_expected_len(e->sig_bl, e->sig_sl, e->data_size) ==
                    e->sig_len;
    for (size_t i = 0; i < e->nuses && !fits; i++) {
        vfile *f = &v->contents[use_at(e, i).c].files[use_at(e, i).f];
        fits = cmh__sig_expected_len(e->sig_bl, e->sig_sl, f->size) ==
               e->sig_len;
    }
    if (!fits && (e->nuses || e->r_data >= 0)) {
        uint64_t size = e->r_data >= 0 && !e->data_err
                            ? e->data_size
                            : v->contents[use_at(e, 0).c]
                                  .files[use_at(e, 0).f].size;
        char exp[32];
        snprintf(exp, sizeof exp, "%llu",
                 (unsigned long long)cmh__sig_expected_len(
                     e->sig_bl, e->sig_sl, size));
        e->sig_bad = true;
        emit_entry(v, e, CMH_VF_SIG_BAD, path, exp, act,
                   "signature length does not match a %llu-byte file "
                   "(truncated or wrong block count)",
                   (unsigned long long)size);
    }
out:
    free(path);
}

/* One SIG_FOREIGN and one SIG_MISSING (ConfigMgr-written library) finding
 * for the whole run: a real distribution point has one per file. */
static void emit_sig_summaries(cmh_verify *v)
{
    char n[32];
    if (v->nsig_foreign) {
        snprintf(n, sizeof n, "%llu", (unsigned long long)v->nsig_foreign);
        emitf(v, CMH_VF_SIG_FOREIGN, "", v->first_sig_foreign, "", n, -1,
              "%llu signature(s) in a format cmhash does not read (MS-RDC, "
              "written by Configuration Manager); not checked; this is the "
              "first",
              (unsigned long long)v->nsig_foreign);
    }
    if (v->nsig_missing) {
        snprintf(n, sizeof n, "%llu", (unsigned long long)v->nsig_missing);
        v->info_override = true;
        emitf(v, CMH_VF_SIG_MISSING, "", v->first_sig_missing, "", n, -1,
              "%llu FileLib file(s) without a signature, legitimate on a "
              "library Configuration Manager wrote; this is the first",
              (unsigned long long)v->nsig_missing);
        v->info_override = false;
    }
    free(v->first_sig_foreign);
    free(v->first_sig_missing);
    v->first_sig_foreign = v->first_sig_missing = NULL;
    v->nsig_foreign = v->nsig_missing = 0;
}

/* Join one entry after the index pass: missing files, sizes, references,
 * orphans and signatures. */
static void join_entry(cmh_verify *v, ventry *e)
{
    char **refs_view = NULL; /* allocated view of a long reference list */
    char *dpath = entry_path(v, e, e->r_data, "");
    char *ipath = entry_path(v, e, e->r_ini >= 0 ? e->r_ini : e->r_data,
                             ".INI");
    if (!dpath || !ipath) {
        v->oom = true;
        goto out;
    }
    bool used = e->nuses > 0;
    /* An entry no checked content uses that vanished between the listing
     * and its stat/read while a package is locked: a running snapshot's
     * retirement deleted it (section 7, step 6). That is the BUSY
     * package's business, not an error or an orphan. */
    bool vanished = !used && v->any_busy &&
                    (e->data_err == ENOENT || e->ini_err == ENOENT);
    if (vanished)
        goto out;
    /* A part gone while every content using it was retired by a snapshot
     * that started after the lock probe: the same, found later. */
    if (used &&
        (e->r_data < 0 || e->data_err == ENOENT || e->r_ini < 0 ||
         e->ini_err == ENOENT || e->r_sig < 0 || e->sig_err == ENOENT) &&
        all_uses_retired(v, e, true))
        goto out;
    if (used && e->r_data < 0) {
        emit_entry(v, e, CMH_VF_FILE_MISSING, dpath, "", "",
                   "the FileLib file is missing");
    } else if (e->r_data >= 0 && e->data_err) {
        emit_entry(v, e, CMH_VF_FILE_UNREADABLE, dpath, "", "",
                   "cannot stat the FileLib file: %s",
                   strerror(e->data_err));
    } else if (used) {
        for (size_t i = 0; i < e->nuses; i++) {
            vcontent *c = &v->contents[use_at(e, i).c];
            vfile *f = &c->files[use_at(e, i).f];
            if (f->size == e->data_size)
                continue;
            char *p = xasprintf("DataLib/%s/%s", c->id, frel(c, f));
            char exp[32], act[32];
            snprintf(exp, sizeof exp, "%llu", (unsigned long long)f->size);
            snprintf(act, sizeof act, "%llu",
                     (unsigned long long)e->data_size);
            attribute(c, CMH_VF_FILE_SIZE_MISMATCH);
            emitf(v, CMH_VF_FILE_SIZE_MISMATCH, c->id, p ? p : "", exp, act,
                  -1, "the file INI says Size=%s but %s is %s bytes", exp,
                  dpath, act);
            free(p);
        }
    }
    /* references: a view of the packed list (sorted, as parsed) */
    if (e->ini_oom) {
        v->oom = true;
        goto out;
    }
    cmh_reflist refs = {0};
    const char *small[16];
    refs.n = e->nrefs;
    refs.ids = (char **)small;
    if (e->nrefs > 16 && !(refs.ids = malloc(e->nrefs * sizeof *refs.ids))) {
        v->oom = true;
        goto out;
    }
    refs_view = refs.ids != (char **)small ? refs.ids : NULL;
    const char *rp = e->refs;
    for (size_t i = 0; i < e->nrefs; i++) {
        refs.ids[i] = (char *)rp;
        rp += strlen(rp) + 1;
    }
    bool refs_known = e->r_ini >= 0 && !e->ini_err && !e->ini_bad;
    if (e->r_ini >= 0 && e->ini_err)
        emit_entry(v, e, CMH_VF_FILE_UNREADABLE, ipath, "", "",
                   "cannot read the reference INI: %s",
                   strerror(e->ini_err));
    else if (e->r_ini >= 0 && e->ini_bad)
        emit_entry(v, e, CMH_VF_FILE_INI_BAD, ipath, "", "",
                   "unparsable FileLib reference INI: %s", e->ini_why);
    if (used && (refs_known || (e->r_ini < 0 && e->r_data >= 0))) {
        uint32_t last = UINT32_MAX;
        for (size_t i = 0; i < e->nuses; i++) {
            if (use_at(e, i).c == last)
                continue;
            last = use_at(e, i).c;
            vcontent *c = &v->contents[last];
            if (refs_known && cmh__reflist_has(&refs, c->id))
                continue;
            if (content_retired(v, c, true))
                continue; /* its reference was dropped by a retirement */
            attribute(c, CMH_VF_REF_MISSING);
            emitf(v, CMH_VF_REF_MISSING, c->id, ipath, c->id, "", -1,
                  e->r_ini < 0 ? "%s uses this file but its reference INI "
                                 "is missing"
                               : "%s uses this file but the reference INI "
                                 "does not list it",
                  c->id);
        }
    }
    if (refs_known) {
        for (size_t i = 0; i < refs.n; i++) {
            const char *id = refs.ids[i];
            vcontent *c = find_content(v, id);
            char pk[CMH_PKGID_SIZE];
            if (cmh_content_id_parse(id, pk, NULL) == CMH_CONTENT_PACKAGE &&
                pkg_busy(v, pk)) {
                e->busy_ref = true;
                continue;
            }
            if (c && c->busy) {
                e->busy_ref = true;
                continue;
            }
            bool exists = c && (c->has_ini || c->has_dir);
            if (!exists) {
                /* not listed by us (ID mode), or written by a snapshot
                 * that started after the listing */
                if (!c && content_appeared(v, id)) {
                    e->busy_ref = true;
                    continue;
                }
                emitf(v, CMH_VF_REF_DANGLING, id, ipath, "", id, -1,
                      "the reference INI lists %s, which does not exist",
                      id);
                continue;
            }
            if (!c->selected || !c->mirror_read)
                continue; /* not checked here: usage unknown */
            if (!c->mirror_complete) {
                e->unsure_ref = true;
                continue;
            }
            bool uses = false;
            for (size_t k = 0; k < e->nuses && !uses; k++)
                uses = &v->contents[use_at(e, k).c] == c;
            if (!uses)
                emitf(v, CMH_VF_REF_DANGLING, id, ipath, "", id, -1,
                      "the reference INI lists %s, which does not use "
                      "this file", id);
        }
    }
    /* orphans: nothing uses the entry */
    if (v->full && !used && !e->busy_ref && !e->unsure_ref) {
        const char *p = e->r_data >= 0 ? dpath : ipath;
        char *sp = NULL;
        if (e->r_data < 0 && e->r_ini < 0)
            p = sp = entry_path(v, e, e->r_sig, ".SIG");
        v->emit_sha = e->sha;
        emitf(v, CMH_VF_ORPHAN_FILE, "", p ? p : "", "", "", -1,
              "FileLib entry that no content uses; cmhash gc --apply "
              "removes it");
        v->emit_sha = NULL;
        free(sp);
    }
    if (used)
        check_sig(v, e);
out:
    free(refs_view);
    free(dpath);
    free(ipath);
}

/* The plan kept no tree: put each file's .SIG digest in its node. */
static void set_tree_sig(cmh_node *dir, const vcontent *c)
{
    for (size_t i = 0; i < dir->nfiles; i++) {
        uintptr_t k = (uintptr_t)dir->files[i]->aux;
        if (k && k <= c->nfiles && c->files[k - 1].entry)
            memcpy(dir->files[i]->sig_sha, c->files[k - 1].entry->sig_sha,
                   CMH_SHA256_LEN);
    }
    for (size_t i = 0; i < dir->ndirs; i++)
        set_tree_sig(dir->dirs[i], c);
}

/* Signature hash of one content (after the index pass). */
static void check_sighash(cmh_verify *v, vcontent *c)
{
    if (!c->has_sighash || !c->mirror_complete || (!c->root && !c->plan))
        return;
    for (size_t i = 0; i < c->nfiles; i++) {
        ventry *e = c->files[i].entry;
        if (!e || !e->sig_hashed || e->sig_bad || e->sig_foreign)
            return; /* missing, broken or foreign .SIG: reported on its
                       own (a foreign one is not cmhash's to hash) */
    }
    if (c->root)
        set_tree_sig(c->root, c);
    uint8_t h[CMH_SHA256_LEN];
    if ((c->root ? cmh__tree_hash(c->root, true, v->ctx->sha256, h)
                 : plan_hash(c, true, v->ctx->sha256, h)) != CMH_OK) {
        v->oom = true;
        return;
    }
    if (!memcmp(h, c->sighash, CMH_SHA256_LEN))
        return;
    char exp[CMH_HEX_SIZE], act[CMH_HEX_SIZE], path[CMH_CID_SIZE + 16];
    cmh_hex_upper(c->sighash, CMH_SHA256_LEN, exp);
    cmh_hex_upper(h, CMH_SHA256_LEN, act);
    snprintf(path, sizeof path, "DataLib/%s.INI", c->id);
    attribute(c, CMH_VF_SIG_HASH_MISMATCH);
    emit(v, CMH_VF_SIG_HASH_MISMATCH, c->id, path, exp, act, -1,
         "the signature hash recomputed from the .SIG files differs from "
         "[cmhash] SignatureHash");
}

/* ---- hash pass ---- */

typedef struct sig_cmp {
    int fd;
    unsigned char *buf;
    bool mismatch;
} sig_cmp;

/* Compare freshly made signature bytes with the stored .SIG as they come;
 * never fails the stream (the data hash is wanted either way). */
static int sig_cmp_sink(const void *data, size_t len, void *payload)
{
    sig_cmp *s = payload;
    const unsigned char *p = data;
    while (len && !s->mismatch) {
        size_t want = len < SIG_CMP_BUF ? len : SIG_CMP_BUF;
        ssize_t n = read(s->fd, s->buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || memcmp(s->buf, p, (size_t)n)) {
            s->mismatch = true;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void throttle(size_t n, void *payload)
{
    cmh_verify *v = payload;
    double rate = v->o.io_rate;
    if (rate <= 0)
        return;
    pthread_mutex_lock(&v->rate_mu);
    double now = cmh__now();
    if (v->rate_next < now)
        v->rate_next = now;
    v->rate_next += (double)n / rate;
    double until = v->rate_next;
    pthread_mutex_unlock(&v->rate_mu);
    /* sleep in short steps so a stop is seen quickly */
    while (!atomic_load_explicit(&v->stop, memory_order_relaxed)) {
        double left = until - cmh__now();
        if (left <= 0)
            break;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* One read of the entry's data; returns errno (ECANCELED when stopped). */
static int hash_once(cmh_verify *v, vworker *w, ventry *e, uint8_t *sha,
                     bool *changed, bool *deep, bool *dmis)
{
    char rel[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(rel, EHEX(e), "");
    cmh_stream_out so = {-1, -1};
    cmh_stream_hooks hk = {
        .on_read = throttle, .read_payload = v, .library_file = true};
    sig_cmp sc = {-1, w->buf, false};
    *deep = *dmis = false;
    /* a .SIG already reported as broken is not compared again */
    if ((v->o.flags & CMH_VERIFY_DEEP) && e->r_sig >= 0 && e->sig_hdr &&
        !e->sig_err && !e->sig_bad) {
        char srel[CMH_FILELIB_REL_SIZE];
        cmh__filelib_rel_hex(srel, EHEX(e), ".SIG");
        if (cmh__os_open_read(v->roots[e->r_sig].fd, srel, &sc.fd) == 0) {
            hk.sig_sink = sig_cmp_sink;
            hk.sig_payload = &sc;
        }
    }
    cmh_stream_res r;
    int err = cmh__stream_fileat(w->w, v->roots[e->r_data].fd, rel, EHEX(e),
                                UINT64_MAX, INT64_MIN, &so, &hk, &r,
                                &v->bytes_done, &v->stop);
    *changed = r.changed;
    if (!err) {
        memcpy(sha, r.sha, CMH_SHA256_LEN);
        if (sc.fd >= 0) {
            unsigned char extra;
            ssize_t n;
            do
                n = read(sc.fd, &extra, 1);
            while (n < 0 && errno == EINTR);
            if (n != 0)
                sc.mismatch = true; /* stored .SIG is longer */
            *deep = true;
            *dmis = sc.mismatch;
        }
    }
    if (sc.fd >= 0)
        close(sc.fd);
    return err;
}

/* verify_io.c's view of the hash pass: item i of the pushed order. */
typedef struct hash_order {
    cmh_verify *v;
    ventry **e;
    size_t n, cap;
    size_t phys; /* entries whose physical position was known */
    double phys_s; /* seconds physical_order took */
    bool oom; /* no memory for the order: no prefetch */
} hash_order;

static void hash_item(void *arg, size_t i, int *dirfd, char *rel,
                      size_t relsize, uint64_t *size)
{
    const hash_order *o = arg;
    const ventry *e = o->e[i];
    char r[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(r, EHEX(e), "");
    snprintf(rel, relsize, "%s", r);
    *dirfd = o->v->roots[e->r_data].fd;
    *size = e->data_size;
}

/* Physical order (issue 14): the hash pass reads each batch of
 * PHYS_BATCH entries of the digest order sorted by where the first byte
 * of each data file lies on the device (FIEMAP), so a disk reads forward
 * instead of seeking between folders. Batches, not the whole pass: a run
 * stopped by --max-time writes a "done" line per entry hashed past the
 * resume cursor (the first entry not hashed in digest order), at most a
 * batch and the threads' files. Entries whose position is unknown keep
 * their digest order after the batch's known ones; when the first
 * PHYS_PROBE files of the pass tell nothing (no FIEMAP: tmpfs, network
 * shares, Windows), the pass stays in digest order and asks no more.
 * CMHASH_FIEMAP=0 in the environment turns it off (A/B). */
#define PHYS_BATCH 4096
#define PHYS_PROBE 16

typedef struct phys_key {
    uint64_t off;
    size_t i; /* digest order within the batch */
    bool known;
} phys_key;

static int phys_cmp(const void *a, const void *b)
{
    const phys_key *x = a, *y = b;
    if (x->known != y->known)
        return x->known ? -1 : 1;
    if (x->known && x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int tick(void *arg);

static void physical_order(cmh_verify *v, hash_order *o)
{
    const char *env = getenv("CMHASH_FIEMAP");
    if ((env && !strcmp(env, "0")) || o->n < 2)
        return;
    size_t nb = o->n < PHYS_BATCH ? o->n : PHYS_BATCH;
    phys_key *k = malloc(nb * sizeof *k);
    ventry **tmp = malloc(nb * sizeof *tmp);
    size_t asked = 0, told = 0;
    v->phase = "hash";
    for (size_t b = 0; k && tmp && b < o->n; b += nb) {
        /* progress, Ctrl-C and --max-time are seen between batches */
        tick(v);
        if (atomic_load(&v->stop))
            break; /* the rest in digest order; the pass stops at once */
        size_t m = o->n - b < nb ? o->n - b : nb;
        for (size_t i = 0; i < m; i++) {
            const ventry *e = o->e[b + i];
            char rel[CMH_FILELIB_REL_SIZE];
            cmh__filelib_rel_hex(rel, EHEX(e), "");
            k[i].i = i;
            k[i].known = (asked < PHYS_PROBE || told) &&
                         cmh__os_physical_offset(v->roots[e->r_data].fd, rel,
                                                &k[i].off) == 0;
            asked++;
            told += k[i].known;
        }
        if (!told)
            break; /* the file system does not tell */
        qsort(k, m, sizeof *k, phys_cmp);
        for (size_t i = 0; i < m; i++)
            tmp[i] = o->e[b + k[i].i];
        memcpy(o->e + b, tmp, m * sizeof *tmp);
    }
    o->phys = told;
    free(k);
    free(tmp);
}

/* CMHASH_TEST_IO_TRACE=1 (test builds, internal.h): one line on stderr
 * naming how the hash pass reads (tests check that the io_uring path ran). */
static void trace_io(const cmh_prefetch *pf, const hash_order *o)
{
    cmh__test_trace("CMHASH_TEST_IO_TRACE",
                    "hash pass: %s, %zu of %zu files in physical order "
                    "(%.3f s)", cmh__prefetch_method(pf), o->phys, o->n,
                    o->phys_s);
}

/* The index pass's reads, in its order: each entry's .INI, then its
 * .SIG (dirfd -1: the file is not there). */
static void index_item(void *arg, size_t i, int *dirfd, char *rel,
                       size_t relsize, uint64_t *size)
{
    const cmh_verify *v = arg;
    const ventry *e = v->entries[i / 2];
    int r = i % 2 ? e->r_sig : e->r_ini;
    char b[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(b, EHEX(e), i % 2 ? ".SIG" : ".INI");
    snprintf(rel, relsize, "%s", b);
    *dirfd = r >= 0 ? v->roots[r].fd : -1;
    *size = 64 * 1024; /* the INI, and the .SIG's head that is read */
}

static bool clean(const ventry *e, int err, const uint8_t *sha, bool dmis)
{
    return !err && !memcmp(sha, e->sha, CMH_SHA256_LEN) && !dmis;
}

static void push_done(cmh_verify *v, ventry *e)
{
    pthread_mutex_lock(&v->mu);
    if (v->ndoneq == v->capdoneq) {
        size_t nc = v->capdoneq ? v->capdoneq * 2 : 256;
        ventry **n = realloc(v->doneq, nc * sizeof *n);
        if (!n) {
            v->doneq_oom = true;
            pthread_mutex_unlock(&v->mu);
            return;
        }
        v->doneq = n;
        v->capdoneq = nc;
    }
    v->doneq[v->ndoneq++] = e;
    pthread_mutex_unlock(&v->mu);
}

static void hash_task(void *tk, void *state, void *arg)
{
    ventry *e = tk;
    cmh_verify *v = arg;
    vworker *w = state;
    if (atomic_load_explicit(&v->stop, memory_order_relaxed))
        return;
    vhash h;
    memset(&h, 0, sizeof h);
    h.err1 = hash_once(v, w, e, h.sha1, &h.changed1, &h.deep1, &h.dmis1);
    if (h.err1 == ECANCELED)
        return;
    if (!clean(e, h.err1, h.sha1, h.dmis1)) {
        /* a mismatch or error is read once more before it is reported */
        h.reread = true;
        h.err2 = hash_once(v, w, e, h.sha2, &h.changed2, &h.deep2, &h.dmis2);
        if (h.err2 == ECANCELED)
            return;
        /* only what is not clean is kept until the report */
        e->hres = malloc(sizeof h);
        if (e->hres)
            *e->hres = h;
        else
            e->hres_oom = true;
    }
    e->hashed = true;
    atomic_fetch_add(&v->items_done, 1);
    push_done(v, e);
}

static const char *read_err_text(int err, bool changed)
{
    if (changed)
        return "the file changed while it was read";
    return strerror(err);
}

/* Findings of one hashed entry (caller's thread). */
static void report_hashed(cmh_verify *v, ventry *e)
{
    v->sum.files_hashed++;
    char *path = entry_path(v, e, e->r_data, "");
    if (!path) {
        v->oom = true;
        return;
    }
    if (e->hres_oom) {
        v->oom = true;
        goto out;
    }
    const vhash *h = e->hres;
    if (!h)
        goto out; /* clean at the first read */
    char a1[CMH_HEX_SIZE], a2[CMH_HEX_SIZE];
    cmh_hex_upper(h->sha1, CMH_SHA256_LEN, a1);
    cmh_hex_upper(h->sha2, CMH_SHA256_LEN, a2);
    e->bad = true;
    if (clean(e, h->err2, h->sha2, h->dmis2)) {
        if (h->err1)
            emit_entry(v, e, CMH_VF_FILE_UNREADABLE, path, "", "",
                       "first read failed (%s), a second read was correct: "
                       "unreliable I/O, not corruption",
                       read_err_text(h->err1, h->changed1));
        else
            emit_entry(v, e, CMH_VF_FILE_UNREADABLE, path, EHEX(e), a1,
                       "first read gave different bytes (%s), a second read "
                       "was correct: unreliable I/O, not corruption",
                       memcmp(h->sha1, e->sha, CMH_SHA256_LEN)
                           ? "hash differed" : "signature differed");
        goto out;
    }
    if (h->err1 || h->err2) {
        if (h->err2 == ENOENT && h->err1 == ENOENT) {
            /* deleted by a running snapshot's retirement (join_entry) */
            if (!e->nuses && v->any_busy)
                goto out;
            /* ... or by a snapshot that started after the lock probe:
             * every content using it is now locked or retired */
            if (all_uses_retired(v, e, false))
                goto out;
            emit_entry(v, e, CMH_VF_FILE_MISSING, path, "", "",
                       "the FileLib file disappeared during the run");
        } else {
            int err = h->err2 ? h->err2 : h->err1;
            bool ch = h->err2 ? h->changed2 : h->changed1;
            emit_entry(v, e, CMH_VF_FILE_UNREADABLE, path, "", "",
                       "cannot read the FileLib file: %s (%s)",
                       read_err_text(err, ch),
                       h->err1 && h->err2 ? "both reads failed"
                                          : "one of two reads failed");
        }
        goto out;
    }
    bool bad1 = memcmp(h->sha1, e->sha, CMH_SHA256_LEN) != 0;
    bool bad2 = memcmp(h->sha2, e->sha, CMH_SHA256_LEN) != 0;
    if (bad1 || bad2) {
        if (bad1 && bad2 && !memcmp(h->sha1, h->sha2, CMH_SHA256_LEN))
            emit_entry(v, e, CMH_VF_FILE_HASH_MISMATCH, path, EHEX(e), a1,
                       "the SHA-256 of the FileLib file differs from its "
                       "name (corruption; confirmed by a second read)");
        else
            emit_entry(v, e, CMH_VF_FILE_UNREADABLE, path, EHEX(e), a2,
                       "two reads gave different bytes (%s then %s): "
                       "unreliable I/O", a1, a2);
        goto out;
    }
    /* bytes are right, the fresh signature differed both times */
    free(path);
    path = entry_path(v, e, e->r_sig, ".SIG");
    e->sig_bad = true;
    emit_entry(v, e, CMH_VF_SIG_BAD, path ? path : "", "", "",
               "the signature differs from one made from the file's bytes "
               "(--deep; confirmed by a second read)");
out:
    free(path);
}

static void drain_done(cmh_verify *v)
{
    for (;;) {
        ventry *batch[64];
        size_t n = 0;
        pthread_mutex_lock(&v->mu);
        while (n < 64 && v->ndoneq)
            batch[n++] = v->doneq[--v->ndoneq];
        if (v->doneq_oom)
            v->oom = true;
        pthread_mutex_unlock(&v->mu);
        if (!n)
            return;
        for (size_t i = 0; i < n; i++)
            report_hashed(v, batch[i]);
    }
}

static int tick(void *arg)
{
    cmh_verify *v = arg;
    if (v->deadline > 0 && cmh__now() >= v->deadline &&
        !atomic_load(&v->stop)) {
        v->timed_out = true;
        atomic_store(&v->stop, true);
    }
    if (!strcmp(v->phase, "hash"))
        drain_done(v);
    if (v->o.progress && !v->canceled) {
        cmh_progress p = {0};
        p.phase = v->phase;
        p.files_done = atomic_load(&v->items_done);
        p.files_total = v->items_total;
        p.bytes_done = atomic_load(&v->bytes_done);
        p.bytes_total = v->bytes_total;
        p.elapsed = cmh__now() - v->t0;
        if (v->o.progress(&p, v->o.payload)) {
            v->canceled = true;
            atomic_store(&v->stop, true);
        }
    }
    return 0;
}

/* ---- resume state ---- */

static bool in_set(const uint8_t *set, size_t n, const uint8_t *sha)
{
    return n && bsearch(sha, set, n, CMH_SHA256_LEN, sha_cmp) != NULL;
}

static bool set_add(uint8_t **set, size_t *n, const char *hex)
{
    uint8_t *s = realloc(*set, (*n + 1) * CMH_SHA256_LEN);
    if (!s)
        return false;
    *set = s;
    (void)cmh__hex64_decode(hex, s + *n * CMH_SHA256_LEN);
    (*n)++;
    return true;
}

/* The "check" line: SHA-256 of every byte before it, upper-case hex. */
static bool state_digest(cmh_ctx *ctx, const char *text, size_t len,
                         char out[CMH_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(text, len, md, &mdlen, ctx->sha256, NULL) ||
        mdlen != CMH_SHA256_LEN)
        return false;
    cmh_hex_upper(md, CMH_SHA256_LEN, out);
    return true;
}

static cmh_status parse_state(cmh_verify *v, const char *text)
{
    cmh_ctx *ctx = v->ctx;
    /* integrity first: nothing of a damaged state is believed */
    const char *chk = strstr(text, "\ncheck ");
    char want[CMH_HEX_SIZE];
    if (strncmp(text, STATE_MAGIC "\n", strlen(STATE_MAGIC) + 1) != 0)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state: not a cmhash verify state of this "
                         "version (first line must be '" STATE_MAGIC "'); "
                         "start a new state");
    if (!chk || !state_digest(ctx, text, (size_t)(chk - text) + 1, want) ||
        strncmp(chk + 7, want, CMH_HEX_SIZE - 1) != 0 ||
        strspn(chk + 7 + CMH_HEX_SIZE - 1, "\r\n") !=
            strlen(chk + 7 + CMH_HEX_SIZE - 1))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state is damaged or was edited (its check "
                         "line does not match); start a new state");
    const char *p = text;
    unsigned k = 0, n = 0;
    int deep = -1;
    bool magic = false;
    int lineno = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[128];
        lineno++;
        if (len >= sizeof line)
            return cmh__fail(ctx, CMH_E_INVALID,
                             "resume state: line %d is too long", lineno);
        memcpy(line, p, len);
        line[len] = 0;
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        p = nl ? nl + 1 : p + len;
        if (!len)
            continue;
        if (!magic) {
            if (strcmp(line, STATE_MAGIC))
                return cmh__fail(ctx, CMH_E_INVALID,
                                 "resume state: not a cmhash verify state "
                                 "(first line must be '" STATE_MAGIC "')");
            magic = true;
            continue;
        }
        bool lower;
        if (sscanf(line, "subset %u/%u", &k, &n) == 2)
            continue;
        if (!strncmp(line, "deep ", 5)) {
            deep = line[5] == '1';
            continue;
        }
        if (sscanf(line, "library %llu %llu", &v->state_dev,
                   &v->state_ino) == 2) {
            v->state_lib_set = true;
            continue;
        }
        if (!strncmp(line, "check ", 6))
            break; /* checked above; nothing follows it */
        const char *hex = NULL;
        int kind = -1;
        if (!strncmp(line, "cursor ", 7)) {
            hex = line + 7;
            kind = 0;
        } else if (!strncmp(line, "done ", 5)) {
            hex = line + 5;
            kind = 1;
        } else if (!strncmp(line, "bad ", 4)) {
            hex = line + 4;
            kind = 2;
        }
        if (!hex || !cmh__is_hex64(hex, &lower) || lower)
            return cmh__fail(ctx, CMH_E_INVALID,
                             "resume state: line %d is not understood",
                             lineno);
        bool ok = true;
        if (kind == 0) {
            (void)cmh__hex64_decode(hex, v->cursor);
            v->have_cursor = true;
        } else if (kind == 1) {
            ok = set_add(&v->prev_done, &v->nprev_done, hex);
        } else {
            ok = set_add(&v->prev_bad, &v->nprev_bad, hex);
        }
        if (!ok)
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    if (!magic)
        return cmh__fail(ctx, CMH_E_INVALID, "resume state is empty");
    struct stat lsb;
    if (!v->state_lib_set)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state names no library; start a new state");
    if (stat(v->o.lib, &lsb) == 0 &&
        ((unsigned long long)lsb.st_dev != v->state_dev ||
         (unsigned long long)lsb.st_ino != v->state_ino))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state was made for another library "
                         "(device %llu inode %llu), not %s; give this "
                         "library's state or start a new one",
                         v->state_dev, v->state_ino, v->o.lib);
    if (k != v->sum.subset_k || n != v->sum.subset_n)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state was made with --subset %u/%u, not "
                         "%u/%u; use the same subset or start a new state",
                         k, n, v->sum.subset_k, v->sum.subset_n);
    if (deep != ((v->o.flags & CMH_VERIFY_DEEP) != 0))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state was made %s --deep; use the same "
                         "mode or start a new state",
                         deep == 1 ? "with" : "without");
    if (v->nprev_done > 1)
        qsort(v->prev_done, v->nprev_done, CMH_SHA256_LEN, sha_cmp);
    if (v->nprev_bad > 1)
        qsort(v->prev_bad, v->nprev_bad, CMH_SHA256_LEN, sha_cmp);
    return CMH_OK;
}

/* After a run: the state to resume from, or NULL when the cycle is done. */
static void build_state(cmh_verify *v)
{
    free(v->state_out);
    v->state_out = NULL;
    const ventry *first = NULL;
    for (size_t i = 0; i < v->nentries; i++) {
        const ventry *e = v->entries[i];
        if (e->scope && !e->prev_done && !e->hashed) {
            first = e;
            break;
        }
    }
    if (!first)
        return; /* cycle complete */
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__buf_addf(&b, STATE_MAGIC "\nsubset %u/%u\ndeep %d\n",
                 v->sum.subset_k, v->sum.subset_n,
                 (v->o.flags & CMH_VERIFY_DEEP) ? 1 : 0);
    struct stat lsb;
    if (fstat(v->lib.root_fd, &lsb) == 0)
        cmh__buf_addf(&b, "library %llu %llu\n",
                     (unsigned long long)lsb.st_dev,
                     (unsigned long long)lsb.st_ino);
    cmh__buf_addf(&b, "cursor %s\n", EHEX(first));
    for (size_t i = 0; i < v->nentries; i++) {
        const ventry *e = v->entries[i];
        if (e->scope && memcmp(e->sha, first->sha, CMH_SHA256_LEN) > 0 &&
            (e->prev_done || e->hashed))
            cmh__buf_addf(&b, "done %s\n", EHEX(e));
        if (e->prev_bad || e->bad)
            cmh__buf_addf(&b, "bad %s\n", EHEX(e));
    }
    char dg[CMH_HEX_SIZE];
    if (!b.oom && state_digest(v->ctx, b.data, b.len, dg))
        cmh__buf_addf(&b, "check %s\n", dg);
    else
        b.oom = true;
    if (b.oom) {
        cmh__buf_free(&b);
        v->oom = true;
        return;
    }
    v->state_out = b.data; /* taken over */
}

/* ---- setup ---- */

static bool in_slice(const cmh_verify *v, const uint8_t *sha)
{
    if (v->sum.subset_n <= 1)
        return true;
    uint64_t x = (uint64_t)sha[0] << 24 | (uint64_t)sha[1] << 16 |
                 (uint64_t)sha[2] << 8 | sha[3];
    return (x * v->sum.subset_n) >> 32 == v->sum.subset_k - 1;
}

cmh_status cmh_verify_new(cmh_verify **out, cmh_ctx *ctx,
                          const cmh_verify_opts *o)
{
    *out = NULL;
    cmh__err_clear(ctx);
    if (!o || o->version != CMH_VERIFY_OPTS_VERSION || !o->lib ||
        (o->nfilelibs && !o->filelibs) || (o->nids && !o->ids))
        return cmh__fail(ctx, CMH_E_INVALID, "bad verify options");
    if ((o->subset_n || o->subset_k) &&
        (o->subset_n < 1 || o->subset_k < 1 || o->subset_k > o->subset_n ||
         o->subset_n > 65536))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "--subset %u/%u: K must be from 1 to N (N at most "
                         "65536)", o->subset_k, o->subset_n);
    if (o->max_seconds < 0 || o->io_rate < 0 || isnan(o->max_seconds) ||
        isnan(o->io_rate))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "time limit and I/O rate must not be negative");
    cmh_verify *v = calloc(1, sizeof *v);
    if (!v)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    v->ctx = ctx;
    v->o = *o;
    v->sum.subset_k = o->subset_n ? o->subset_k : 1;
    v->sum.subset_n = o->subset_n ? o->subset_n : 1;
    v->sum.stop_reason = "";
    v->phase = "index";
    pthread_mutex_init(&v->mu, NULL);
    pthread_mutex_init(&v->rate_mu, NULL);
    cmh__library_init(&v->lib);
    atomic_init(&v->stop, false);
    if (o->resume_state && *o->resume_state) {
        cmh_status st = parse_state(v, o->resume_state);
        if (st != CMH_OK) {
            cmh_verify_free(v);
            return st;
        }
    }
    *out = v;
    return CMH_OK;
}

/* Open the library's folders read-only. Returns CMH_OK with *layout_ok
 * false when a folder is missing (reported as LIB_LAYOUT). */
static cmh_status open_library(cmh_verify *v, bool *layout_ok)
{
    cmh_ctx *ctx = v->ctx;
    const char *path = v->o.lib;
    *layout_ok = false;
    v->lib.path = cmh__strdup(path);
    if (!v->lib.path)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    int e = cmh__os_open_dir_noatime(AT_FDCWD, path, &v->lib.root_fd);
    if (e == ENOENT)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "library %s does not exist; check --lib or "
                         "$CMHASH_LIB", path);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot open library %s", path);
    static const char *const names[3] = {"PkgLib", "DataLib", "FileLib"};
    int *fds[3] = {&v->lib.pkglib_fd, &v->lib.datalib_fd, &v->lib.filelib_fd};
    int errs[3], present = 0;
    for (int i = 0; i < 3; i++) {
        errs[i] = cmh__os_open_dir_noatime(v->lib.root_fd, names[i], fds[i]);
        if (errs[i] != ENOENT)
            present++;
    }
    if (!present)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s is not a content library (no PkgLib, DataLib, "
                         "FileLib); point --lib at SCCMContentLib", path);
    *layout_ok = true;
    for (int i = 0; i < 3; i++) {
        if (!errs[i])
            continue;
        *layout_ok = false;
        emitf(v, CMH_VF_LIB_LAYOUT, "", names[i], "", "", -1,
              "%s: %s", names[i],
              errs[i] == ENOENT ? "missing" : strerror(errs[i]));
    }
    if (!*layout_ok)
        return CMH_OK;
    /* nroots only once the array exists: free_run() walks it */
    /* --filelib roots, then the context's (cmh_ctx_add_filelib), then
     * the discovered ones; one folder under two names is opened once
     * (the lookup order of every command: cmh__filelib_roots_open) */
    size_t ngiven = v->o.nfilelibs + ctx->nfilelibs;
    const char **given = ngiven ? malloc(ngiven * sizeof *given) : NULL;
    if (ngiven && !given)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ngiven; i++)
        given[i] = i < v->o.nfilelibs ? v->o.filelibs[i]
                                      : ctx->filelibs[i - v->o.nfilelibs];
    cmh_status st = cmh__filelib_roots_open(ctx, &v->lib, given, ngiven,
                                           true);
    free(given);
    if (st != CMH_OK)
        return st;
    size_t nextra = v->lib.nx;
    v->roots = calloc(1 + nextra, sizeof *v->roots);
    if (!v->roots)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    v->nroots = 1 + nextra;
    for (size_t i = 0; i < v->nroots; i++)
        v->roots[i].fd = -1;
    for (size_t i = 0; i < v->nroots; i++) {
        v->roots[i].display = cmh__strdup(i ? v->lib.xpath[i - 1] : "FileLib");
        v->roots[i].fd = dup(i ? v->lib.xfd[i - 1] : v->lib.filelib_fd);
        if (!v->roots[i].display || v->roots[i].fd < 0)
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    return CMH_OK;
}

/* ID mode: the contents named by opts->ids. */
static cmh_status select_ids(cmh_verify *v)
{
    cmh_ctx *ctx = v->ctx;
    for (size_t i = 0; i < v->o.nids; i++) {
        const char *id = v->o.ids[i];
        char pk[CMH_PKGID_SIZE];
        struct stat sb;
        if (cmh_content_id_parse(id, NULL, NULL) != CMH_CONTENT_INVALID) {
            char nm[CMH_CID_SIZE + 8];
            snprintf(nm, sizeof nm, "%s.INI", id);
            bool ini = fstatat(v->lib.datalib_fd, nm, &sb,
                               AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISREG(sb.st_mode);
            bool dir = fstatat(v->lib.datalib_fd, id, &sb,
                               AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISDIR(sb.st_mode);
            if (!ini && !dir)
                return cmh__fail(ctx, CMH_E_LIBRARY,
                                 "content %s is not in library %s (no "
                                 "DataLib/%s.INI); check the ID", id,
                                 v->o.lib, id);
            vcontent *c = add_content(v, id);
            if (!c)
                return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            c->has_ini = ini;
            c->has_dir = dir;
            c->selected = true;
            if (c->pkgid[0] && !pkg_busy(v, c->pkgid))
                probe_lock(v, c->pkgid);
        } else if (cmh_pkgid_parse(pk, id) == CMH_OK) {
            char nm[32];
            snprintf(nm, sizeof nm, "%s.INI", pk);
            if (fstatat(v->lib.pkglib_fd, nm, &sb, AT_SYMLINK_NOFOLLOW) !=
                0)
                return cmh__fail(ctx, CMH_E_LIBRARY,
                                 "package %s is not in library %s (no "
                                 "PkgLib/%s); check the ID", pk, v->o.lib,
                                 nm);
            if (!pkg_busy(v, pk))
                probe_lock(v, pk);
            read_package(v, nm, pk, true);
        } else {
            return cmh__fail(ctx, CMH_E_INVALID,
                             "'%s' is neither a package ID (e.g. MSC0000B) "
                             "nor a content ID (e.g. MSC0000B.2)", id);
        }
    }
    sort_contents(v);
    /* what is on disk for the listed contents */
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        char nm[CMH_CID_SIZE + 8];
        struct stat sb;
        snprintf(nm, sizeof nm, "%s.INI", c->id);
        c->has_ini |= fstatat(v->lib.datalib_fd, nm, &sb,
                              AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISREG(sb.st_mode);
        c->has_dir |= fstatat(v->lib.datalib_fd, c->id, &sb,
                              AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISDIR(sb.st_mode);
    }
    return CMH_OK;
}

/* PkgLib-level findings on contents: missing ones, orphans, busy. */
static void classify_contents(cmh_verify *v)
{
    pkg_cache pc = {0};
    for (size_t i = 0; i < v->ncontents && !v->canceled &&
                       !atomic_load(&v->stop);
         i++) {
        vcontent *c = &v->contents[i];
        if (c->pkgid[0] && pkg_busy(v, c->pkgid))
            c->busy = true;
        if (c->busy)
            continue;
        if (c->listed && (!c->has_ini || !c->has_dir) && c->pkgid[0]) {
            /* retired between the PkgLib and DataLib listings? */
            bool locked = pkg_locked_now(v, c->pkgid);
            if (locked || !pkg_lists_now(v, &pc, c->pkgid, c->id, true)) {
                skip_changed(v, c, locked ? "is being retired"
                                          : "was retired");
                continue;
            }
        }
        if (c->listed && (!c->has_ini || !c->has_dir)) {
            char path[32];
            char pk[CMH_PKGID_SIZE];
            memcpy(pk, c->pkgid, sizeof pk);
            snprintf(path, sizeof path, "PkgLib/%s.INI", pk);
            attribute(c, CMH_VF_PKG_CONTENT_MISSING);
            emitf(v, CMH_VF_PKG_CONTENT_MISSING, c->id, path, c->id, "", -1,
                  "the package lists %s but DataLib has no %s", c->id,
                  !c->has_ini && !c->has_dir ? "INI or folder for it"
                  : !c->has_ini              ? "INI for it"
                                             : "folder for it");
        }
        if (v->full && !c->listed && c->pkgid[0]) {
            /* written by a snapshot that took the lock after the probe:
             * not listed yet, or listed after our PkgLib listing */
            bool locked = pkg_locked_now(v, c->pkgid);
            if (locked || pkg_lists_now(v, &pc, c->pkgid, c->id, false)) {
                skip_changed(v, c, locked ? "is being written"
                                          : "is new");
                continue;
            }
        }
        if (v->full && !c->listed) {
            char *path = xasprintf("DataLib/%s%s", c->id,
                                   c->has_dir ? "" : ".INI");
            emitf(v, CMH_VF_ORPHAN_CONTENT, c->id, path ? path : "", "", "",
                  -1, "content that no PkgLib INI lists; cmhash gc "
                  "--apply removes it");
            free(path);
        }
    }
    pkg_cache_free(&pc);
}

static void emit_content_findings(cmh_verify *v, vcontent *c)
{
    if (c->fnd.oom)
        v->oom = true;
    /* a mirror that a snapshot started meanwhile retired (deleted) */
    bool errors = false;
    for (size_t i = 0; i < c->fnd.n && !errors; i++)
        errors = g_codes[c->fnd.v[i].code].sev == CMH_SEV_ERROR;
    if (errors && content_retired(v, c, true)) {
        vfinds_free(&c->fnd);
        return;
    }
    for (size_t i = 0; i < c->fnd.n; i++) {
        vfind *f = &c->fnd.v[i];
        attribute(c, f->code);
        emit(v, f->code, c->id, f->path ? f->path : "", f->expected,
             f->actual, f->age, f->detail);
    }
    vfinds_free(&c->fnd);
}

static cmh_status run_pass(cmh_verify *v, const char *phase)
{
    v->phase = phase;
    cmh__pool_wait(v->epool ? v->epool : v->pool, 0.1, tick, v);
    if (!strcmp(phase, "hash"))
        drain_done(v);
    return CMH_OK;
}

static void content_status(cmh_verify *v, vcontent *c)
{
    cmh_verify_content s;
    memset(&s, 0, sizeof s);
    char msg[256];
    s.content_id = c->id;
    s.package_id = c->pkgid;
    s.files = c->nfiles;
    s.errors = c->errors;
    s.warnings = c->warnings;
    uint64_t hashed = 0, bytes = 0;
    bool prev_bad = false;
    for (size_t i = 0; i < c->nfiles; i++) {
        ventry *e = c->files[i].entry;
        bytes += c->files[i].size;
        if (e && (e->hashed || e->prev_done))
            hashed++;
        if (e && e->prev_bad && !e->hashed)
            prev_bad = true;
    }
    s.files_hashed = hashed;
    s.bytes = bytes;
    const char *pk = c->pkgid[0] ? c->pkgid : c->id;
    uint64_t *slot;
    if (c->busy) {
        s.status = CMH_CSTATUS_SKIPPED;
        s.status_name = "skipped";
        snprintf(msg, sizeof msg,
                 "Package %s is being written by a snapshot; content %s was "
                 "not checked", pk, c->id);
        slot = &v->sum.contents_skipped;
    } else if (c->failed) {
        s.status = CMH_CSTATUS_FAILED;
        s.status_name = "failed";
        snprintf(msg, sizeof msg,
                 "Failed to validate package %s (content %s): files are "
                 "missing or unreadable, or their INIs are broken", pk,
                 c->id);
        slot = &v->sum.contents_failed;
    } else if (c->hash_invalid || prev_bad) {
        s.status = CMH_CSTATUS_HASH_INVALID;
        s.status_name = "hash_invalid";
        snprintf(msg, sizeof msg,
                 "The hash of package %s (content %s) is invalid%s", pk,
                 c->id, prev_bad && !c->hash_invalid
                            ? " (a file found bad earlier in this cycle)"
                            : "");
        slot = &v->sum.contents_hash_invalid;
    } else if (hashed < c->nfiles) {
        s.status = CMH_CSTATUS_INCOMPLETE;
        s.status_name = "incomplete";
        snprintf(msg, sizeof msg,
                 "Content %s of package %s: %llu of %zu files hashed so "
                 "far in this cycle, no problem found", c->id, pk,
                 (unsigned long long)hashed, c->nfiles);
        slot = &v->sum.contents_incomplete;
    } else {
        s.status = CMH_CSTATUS_VALIDATED;
        s.status_name = "validated";
        snprintf(msg, sizeof msg,
                 "Package %s (content %s) has been verified successfully",
                 pk, c->id);
        slot = &v->sum.contents_validated;
    }
    s.message = msg;
    (*slot)++;
    if (!c->busy)
        v->sum.contents++;
    if (v->o.content && !v->canceled && v->o.content(&s, v->o.payload)) {
        v->canceled = true;
        atomic_store(&v->stop, true);
    }
}

static void free_run(cmh_verify *v)
{
    cmh__pool_free(v->epool);
    v->epool = NULL;
    free(v->efold);
    v->efold = NULL;
    v->nefold = 0;
    cmh__pool_free(v->pool);
    v->pool = NULL;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        free(c->files);
        cmh__buf_free(&c->names);
        free(c->plan);
        free(c->dirs16);
        cmh__node_free(c->root);
        vfinds_free(&c->fnd);
    }
    free(v->contents);
    v->contents = NULL;
    v->ncontents = v->capcontents = 0;
    for (size_t i = 0; i < v->nentries; i++) {
        ventry *e = v->entries[i];
        free(e->refs);
        free(e->ini_why);
        free(e->hres);
        free(e->more);
        free(e);
    }
    free(v->entries);
    v->entries = NULL;
    v->nentries = v->capentries = 0;
    for (size_t i = 0; i < v->nroots; i++) {
        free(v->roots[i].display);
        if (v->roots[i].fd >= 0)
            close(v->roots[i].fd);
    }
    free(v->roots);
    v->roots = NULL;
    v->nroots = 0;
    free(v->busy);
    v->busy = NULL;
    v->nbusy = 0;
    v->any_busy = false;
    free(v->doneq);
    v->doneq = NULL;
    v->ndoneq = v->capdoneq = 0;
    cmh__library_close(&v->lib);
}

cmh_status cmh_verify_run(cmh_verify *v)
{
    cmh_ctx *ctx = v->ctx;
    cmh_status st = CMH_OK;
    bool layout_ok;
    cmh__err_clear(ctx);
    free_run(v);
    unsigned sk = v->sum.subset_k, sn = v->sum.subset_n;
    memset(&v->sum, 0, sizeof v->sum);
    v->sum.subset_k = sk;
    v->sum.subset_n = sn;
    v->sum.stop_reason = "";
    v->canceled = v->timed_out = v->oom = false;
    atomic_store(&v->stop, false);
    atomic_store(&v->bytes_done, 0);
    atomic_store(&v->items_done, 0);
    v->t0 = cmh__now();
    v->deadline = v->o.max_seconds > 0 ? v->t0 + v->o.max_seconds : 0;
    v->rate_next = 0;
    v->full = v->o.nids == 0;
    v->phase = "index";
    v->retire_gen = 1; /* contents start at 0: nothing remembered */
    if (v->o.flags & CMH_VERIFY_NICE)
        cmh__os_lower_priority();

    if ((st = open_library(v, &layout_ok)) != CMH_OK || !layout_ok)
        goto done;
    /* 1. listings */
    if (v->full) {
        scan_pkglib(v);
        cmh__pause_point("verify-pkglib");
        scan_datalib(v);
        sort_contents(v);
        scan_filelib(v);
    } else if ((st = select_ids(v)) != CMH_OK) {
        goto done;
    }
    if (v->oom)
        goto nomem;
    cmh__pause_point("verify-listed");
    classify_contents(v);

    unsigned threads = v->o.threads ? v->o.threads : cmh__online_cpus();
    if (cmh__pool_new(&v->pool, threads, vworker_make, vworker_free, v)) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "cannot start %u threads", threads);
        goto done;
    }
    /* 2a. contents */
    v->items_total = 0;
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        if (!c->selected || c->busy)
            continue;
        v->items_total++;
        if (cmh__pool_push(v->pool, content_task, c, v))
            goto nomem;
    }
    run_pass(v, "index");
    if (v->canceled || v->timed_out)
        goto stopped;
    cmh__pause_point("verify-mirrors");
    v->retire_gen++; /* the mirror walks are over */
    for (size_t i = 0; i < v->ncontents; i++)
        emit_content_findings(v, &v->contents[i]);
    /* join: uses per entry (contents in ID order: uses[0] is the first) */
    if (!v->full) {
        /* ID mode: entries on demand */
        for (size_t i = 0; i < v->ncontents; i++) {
            vcontent *c = &v->contents[i];
            for (size_t k = 0; k < c->nfiles; k++) {
                vfile *f = &c->files[k];
                if (!f->ok || find_entry(v, f->sha))
                    continue;
                if (!probe_entry(v, f->sha))
                    goto nomem;
                sort_entries(v);
            }
        }
    } else {
        /* digests no FileLib root has: entries without parts, reported
         * as FILE_MISSING by the join */
        size_t nused = 0;
        for (size_t i = 0; i < v->ncontents; i++)
            nused += v->contents[i].nfiles;
        uint8_t *used = nused ? malloc(nused * CMH_SHA256_LEN) : NULL;
        if (nused && !used)
            goto nomem;
        size_t k2 = 0;
        for (size_t i = 0; i < v->ncontents; i++) {
            vcontent *c = &v->contents[i];
            for (size_t k = 0; k < c->nfiles; k++)
                if (c->files[k].ok && !find_entry(v, c->files[k].sha))
                    memcpy(used + CMH_SHA256_LEN * k2++, c->files[k].sha,
                           CMH_SHA256_LEN);
        }
        if (k2 > 1)
            qsort(used, k2, CMH_SHA256_LEN, sha_cmp);
        for (size_t i = 0; i < k2; i++) {
            const uint8_t *sha = used + CMH_SHA256_LEN * i;
            if (i && !memcmp(sha, sha - CMH_SHA256_LEN, CMH_SHA256_LEN))
                continue;
            if (!new_entry(v, sha)) {
                free(used);
                goto nomem;
            }
        }
        free(used);
        sort_entries(v);
    }
    for (size_t i = 0; i < v->ncontents; i++) {
        vcontent *c = &v->contents[i];
        for (size_t k = 0; k < c->nfiles; k++) {
            vfile *f = &c->files[k];
            if (!f->ok)
                continue;
            f->entry = find_entry(v, f->sha);
            if (!f->entry ||
                !entry_add_use(v, f->entry, (uint32_t)i, (uint32_t)k))
                goto nomem;
            if (c->has_sighash && !(v->o.flags & CMH_VERIFY_INDEX_ONLY))
                f->entry->want_sig_hash = true;
        }
    }
    /* the up-front look at the library's signatures (sections 8, 11): a
     * library whose .SIG files are MS-RDC is ConfigMgr-written before any
     * entry is judged */
    if (!v->foreign_lib)
        v->foreign_lib = cmh__library_sig_rdc(&v->lib, NULL, 0);
    /* 2b. FileLib entries */
    atomic_store(&v->items_done, 0);
    v->items_total = v->nentries;
    /* one task per FileLib <h4> folder (entries are sorted by digest) */
    v->efold = v->nentries ? malloc(v->nentries * sizeof *v->efold) : NULL;
    if (v->nentries && !v->efold)
        goto nomem;
    v->nefold = 0;
    for (size_t i = 0, j; i < v->nentries; i = j) {
        for (j = i + 1; j < v->nentries && j - i < EFOLDER_MAX &&
                        !memcmp(v->entries[j]->sha, v->entries[i]->sha, 2);
             j++)
            ;
        v->efold[v->nefold++] = (efolder){i, j};
    }
    {
        unsigned et = entry_threads(v, threads);
        if (et > threads &&
            cmh__pool_new(&v->epool, et, eworker_make, vworker_free, v))
            v->epool = NULL; /* no more threads: the pool's do it */
    }
    for (size_t i = 0; i < v->nefold; i++)
        if (cmh__pool_push(v->epool ? v->epool : v->pool, folder_task,
                          &v->efold[i], v))
            goto nomem;
    {
        /* two reads per entry; items_done counts entries: the window is
         * in entries x 2 */
        cmh_prefetch_opts po = {
            .n = 2 * v->nentries, .per = 2, .item = index_item, .arg = v,
            .done = &v->items_done, .stop = &v->stop,
            .io_rate = v->o.io_rate, .threads = threads};
        cmh_prefetch *pf = index_prefetch() ? cmh__prefetch_run(&po) : NULL;
        run_pass(v, "index");
        cmh__prefetch_stop(pf);
        cmh__pool_free(v->epool);
        v->epool = NULL;
    }
    if (v->canceled || v->timed_out)
        goto stopped;
    cmh__pause_point("verify-entries");
    /* 3. join */
    v->retire_gen++; /* the entry reads are over */
    for (size_t i = 0; i < v->ncontents && !v->foreign_lib; i++)
        v->foreign_lib = v->contents[i].foreign;
    for (size_t i = 0; i < v->nentries && !v->foreign_lib; i++)
        v->foreign_lib = v->entries[i]->sig_foreign;
    for (size_t i = 0; i < v->nentries && !v->canceled; i++)
        join_entry(v, v->entries[i]);
    emit_sig_summaries(v);
    for (size_t i = 0; i < v->ncontents && !v->canceled; i++)
        check_sighash(v, &v->contents[i]);
    if (v->oom)
        goto nomem;
    if (v->canceled)
        goto stopped;
    if (v->o.flags & CMH_VERIFY_INDEX_ONLY)
        goto stopped; /* no file data read */
    /* 4. hash pass, in digest order (the resume cursor relies on it),
     * each batch of PHYS_BATCH entries in physical order */
    atomic_store(&v->items_done, 0);
    v->items_total = 0;
    v->bytes_total = 0;
    hash_order ho = {v, NULL, 0, 0, 0, 0, false};
    for (size_t i = 0; i < v->nentries; i++) {
        ventry *e = v->entries[i];
        if (e->r_data < 0 || e->data_err || !in_slice(v, e->sha))
            continue;
        if (!e->nuses && (e->busy_ref || !v->full))
            continue; /* only a busy package's, or not asked for */
        e->scope = true;
        v->sum.files_total++;
        e->prev_bad = in_set(v->prev_bad, v->nprev_bad, e->sha);
        if ((v->have_cursor && memcmp(e->sha, v->cursor, CMH_SHA256_LEN) < 0)
            || in_set(v->prev_done, v->nprev_done, e->sha)) {
            e->prev_done = true;
            v->sum.files_previously++;
            continue;
        }
        v->items_total++;
        v->bytes_total += e->data_size;
        /* the order (verify_io.h); without memory for it the pass runs
         * in digest order, unprefetched */
        if (ho.n == ho.cap && !ho.oom) {
            size_t nc = ho.cap ? ho.cap * 2 : 1024;
            ventry **ne = realloc(ho.e, nc * sizeof *ne);
            if (ne) {
                ho.e = ne;
                ho.cap = nc;
            } else {
                /* what was collected first, then the rest as listed */
                ho.oom = true;
                for (size_t j = 0; j < ho.n; j++)
                    if (cmh__pool_push(v->pool, hash_task, ho.e[j], v)) {
                        free(ho.e);
                        goto nomem;
                    }
            }
        }
        if (ho.n < ho.cap && !ho.oom)
            ho.e[ho.n++] = e;
        else if (cmh__pool_push(v->pool, hash_task, e, v)) {
            free(ho.e);
            goto nomem; /* no order: pushed in digest order as listed */
        }
    }
    if (!ho.oom) {
        /* each batch of the digest order in physical order */
        double tp = cmh__now();
        physical_order(v, &ho);
        ho.phys_s = cmh__now() - tp;
        for (size_t i = 0; i < ho.n; i++)
            if (cmh__pool_push(v->pool, hash_task, ho.e[i], v)) {
                free(ho.e);
                goto nomem;
            }
    }
    cmh_prefetch_opts po = {
        .n = ho.oom ? 0 : ho.n, .item = hash_item, .arg = &ho,
        .done = &v->items_done, .bytes = &v->bytes_done, .stop = &v->stop,
        .io_rate = v->o.io_rate, .threads = threads};
    cmh_prefetch *pf = cmh__prefetch_run(&po);
    trace_io(pf, &ho);
    run_pass(v, "hash");
    cmh__prefetch_stop(pf);
    free(ho.e);
    if (v->oom)
        goto nomem;
stopped:
    if (v->timed_out || v->canceled) {
        v->sum.partial = 1;
        v->sum.stop_reason = v->canceled ? "canceled" : "time limit";
        /* let queued tasks see the stop flag and leave */
        cmh__pool_wait(v->pool, 0.1, NULL, NULL);
        drain_done(v);
    }
    /* 5. per content */
    for (size_t i = 0; i < v->ncontents && !v->canceled; i++) {
        vcontent *c = &v->contents[i];
        if (c->selected || c->listed)
            content_status(v, c);
    }
    v->sum.bytes_hashed = atomic_load(&v->bytes_done);
    build_state(v);
    if (v->oom)
        goto nomem;
    if (v->canceled) {
        v->sum.partial = 1;
        v->sum.stop_reason = "canceled";
        st = cmh__fail(ctx, CMH_E_CANCELED, "canceled");
    }
    goto done;
nomem:
    st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    if (v->pool) {
        atomic_store(&v->stop, true);
        cmh__pool_wait(v->pool, 0.1, NULL, NULL);
    }
done:
    v->sum.seconds = cmh__now() - v->t0;
    cmh__pool_free(v->pool);
    v->pool = NULL;
    return st;
}

const cmh_verify_summary *cmh_verify_get_summary(const cmh_verify *v)
{
    return &v->sum;
}

const char *cmh_verify_resume_state(const cmh_verify *v)
{
    return v->state_out;
}

void cmh_verify_free(cmh_verify *v)
{
    if (!v)
        return;
    free_run(v);
    free(v->prev_done);
    free(v->prev_bad);
    free(v->state_out);
    pthread_mutex_destroy(&v->mu);
    pthread_mutex_destroy(&v->rate_mu);
    free(v);
}
