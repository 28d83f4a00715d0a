/* verify's FileLib entry reads (index pass, worker): one task per <h4>
 * folder reads each entry's INI, data size and .SIG (read_sig). */
#include "vpriv.h"

/* ---- worker state ---- */

void *cmh__v_vworker_make(void *arg)
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

/* The entry reads' threads need no stream buffers (see cmh__v_entry_threads).
 */
void *cmh__v_eworker_make(void *arg)
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

void cmh__v_vworker_free(void *st)
{
    vworker *w = st;
    if (!w)
        return;
    cmh__worker_free(w->w);
    EVP_MD_CTX_free(w->md);
    free(w->buf);
    free(w);
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

/* What read_sig reads of a .SIG */
typedef struct sig_read {
    unsigned char hdr[12]; /* its first bytes: got of them */
    size_t got;
    uint64_t total; /* bytes read */
} sig_read;

/* The start of read_sig on the open .SIG @p fd. Hashing (a content has a
 * SignatureHash): the digest begun and the first read done before any
 * fstat, its byte count in *out_n0; else (or when that read moved
 * nothing) the size from fstat, and *out_n0 = -1. false: e->sig_err set. */
static bool sig_first_read(cmh_verify *v, vworker *w, ventry *e, int fd,
                           ssize_t *out_n0)
{
    ssize_t n0 = -1;
    *out_n0 = -1;
    if (e->want_sig_hash) {
        if (!EVP_DigestInit_ex(w->md, v->ctx->sha256, NULL)) {
            e->sig_err = ENOMEM;
            return false;
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
            return false;
        }
        e->sig_len = (uint64_t)sb.st_size;
    }
    *out_n0 = n0;
    return true;
}

/* Read the .SIG on from the first read (@p n0 bytes already in the worker
 * buffer, or -1): its header into @p s, and when hashing every byte into
 * the digest; a read error is e->sig_err. The header and the hash share
 * the worker buffer. */
static void sig_read_loop(vworker *w, ventry *e, int fd, ssize_t n0,
                          sig_read *s)
{
    bool hashing = e->want_sig_hash;
    for (;;) {
        size_t want = hashing ? SIG_CMP_BUF : sizeof s->hdr - s->got;
        if (!hashing && s->got == sizeof s->hdr)
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
        if (s->got < sizeof s->hdr) {
            size_t k = sizeof s->hdr - s->got < (size_t)n
                           ? sizeof s->hdr - s->got
                           : (size_t)n;
            memcpy(s->hdr + s->got, w->buf, k);
            s->got += k;
        }
        if (hashing && !EVP_DigestUpdate(w->md, w->buf, (size_t)n)) {
            e->sig_err = ENOMEM;
            break;
        }
        s->total += (uint64_t)n;
        if (hashing && (size_t)n < want)
            break; /* a regular file reads short only at its end */
    }
}

/* An entry's .SIG: its header, and its SHA-256 when a content has a
 * SignatureHash, in one pass over the file (sig_first_read, then
 * sig_read_loop). */
static void read_sig(cmh_verify *v, vworker *w, ventry *e, int dirfd,
                     const char *name)
{
    int fd;
    int err = cmh__os_open_read(dirfd, name, &fd);
    if (err) {
        e->sig_err = err;
        return;
    }
    ssize_t n0;
    if (!sig_first_read(v, w, e, fd, &n0)) {
        close(fd);
        return;
    }
    sig_read s = {{0}, 0, 0};
    sig_read_loop(w, e, fd, n0, &s);
    close(fd);
    if (e->want_sig_hash) {
        unsigned int dl;
        if (!EVP_DigestFinal_ex(w->md, e->sig_sha, &dl) && !e->sig_err)
            e->sig_err = ENOMEM;
        if (!e->sig_err) {
            e->sig_hashed = true;
            e->sig_len = s.total;
        }
    }
    if (e->sig_err)
        return;
    int h = cmh__sig_header_parse(s.hdr, s.got, &e->sig_magic, &e->sig_bl,
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
        int err = cmh__v_read_ini(w->buf, dfd, name, &data, &len, &owned);
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
unsigned cmh__v_entry_threads(const cmh_verify *v, unsigned threads)
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
bool cmh__v_index_prefetch(void)
{
    const char *env = getenv("CMHASH_INDEX_PREFETCH");
    if (env && *env)
        return strcmp(env, "0") != 0;
    return INDEX_PREFETCH_DEFAULT;
}

void cmh__v_folder_task(void *tk, void *state, void *arg)
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
