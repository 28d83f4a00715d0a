/* verify's hash pass (step 4): hash_task per data file, physical order,
 * reporting what was hashed, draining and the progress tick. */
#include "vpriv.h"

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


void cmh__v_hash_item(void *arg, size_t i, int *dirfd, char *rel,
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


void cmh__v_physical_order(cmh_verify *v, hash_order *o)
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
        cmh__v_tick(v);
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
void cmh__v_trace_io(const cmh_prefetch *pf, const hash_order *o)
{
    cmh__test_trace("CMHASH_TEST_IO_TRACE",
                    "hash pass: %s, %zu of %zu files in physical order "
                    "(%.3f s)", cmh__prefetch_method(pf), o->phys, o->n,
                    o->phys_s);
}

/* The index pass's reads, in its order: each entry's .INI, then its
 * .SIG (dirfd -1: the file is not there). */
void cmh__v_index_item(void *arg, size_t i, int *dirfd, char *rel,
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

void cmh__v_hash_task(void *tk, void *state, void *arg)
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

/* Both reads ended, one or both with an error: a file deleted by a
 * snapshot is not reported; otherwise missing or unreadable. */
static void report_read_error(cmh_verify *v, ventry *e, const vhash *h,
                              const char *path)
{
    if (h->err2 == ENOENT && h->err1 == ENOENT) {
        /* deleted by a running snapshot's retirement (cmh__v_join_entry) */
        if (!e->nuses && v->any_busy)
            return;
        /* ... or by a snapshot that started after the lock probe:
         * every content using it is now locked or retired */
        if (cmh__v_all_uses_retired(v, e, false))
            return;
        cmh__v_emit_entry(v, e, CMH_VF_FILE_MISSING, VF(.path = path),
                          "the FileLib file disappeared during the run");
    } else {
        int err = h->err2 ? h->err2 : h->err1;
        bool ch = h->err2 ? h->changed2 : h->changed1;
        cmh__v_emit_entry(v, e, CMH_VF_FILE_UNREADABLE, VF(.path = path),
                          "cannot read the FileLib file: %s (%s)",
                          read_err_text(err, ch),
                          h->err1 && h->err2 ? "both reads failed"
                                             : "one of two reads failed");
    }
}

/* Findings of one hashed entry (caller's thread). */
static void report_hashed(cmh_verify *v, ventry *e)
{
    v->sum.files_hashed++;
    char *path = cmh__v_entry_path(v, e, e->r_data, "");
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
    cmh_hex_upper(a1, h->sha1, CMH_SHA256_LEN);
    cmh_hex_upper(a2, h->sha2, CMH_SHA256_LEN);
    e->bad = true;
    if (clean(e, h->err2, h->sha2, h->dmis2)) {
        if (h->err1)
            cmh__v_emit_entry(
                v, e, CMH_VF_FILE_UNREADABLE, VF(.path = path),
                "first read failed (%s), a second read was correct: "
                "unreliable I/O, not corruption",
                read_err_text(h->err1, h->changed1));
        else
            cmh__v_emit_entry(
                v, e, CMH_VF_FILE_UNREADABLE,
                VF(.path = path, .expected = EHEX(e), .actual = a1),
                "first read gave different bytes (%s), a second read "
                "was correct: unreliable I/O, not corruption",
                memcmp(h->sha1, e->sha, CMH_SHA256_LEN) ? "hash differed"
                                                        : "signature differed");
        goto out;
    }
    if (h->err1 || h->err2) {
        report_read_error(v, e, h, path);
        goto out;
    }
    bool bad1 = memcmp(h->sha1, e->sha, CMH_SHA256_LEN) != 0;
    bool bad2 = memcmp(h->sha2, e->sha, CMH_SHA256_LEN) != 0;
    if (bad1 || bad2) {
        if (bad1 && bad2 && !memcmp(h->sha1, h->sha2, CMH_SHA256_LEN))
            cmh__v_emit_entry(
                v, e, CMH_VF_FILE_HASH_MISMATCH,
                VF(.path = path, .expected = EHEX(e), .actual = a1),
                "the SHA-256 of the FileLib file differs from its "
                "name (corruption; confirmed by a second read)");
        else
            cmh__v_emit_entry(
                v, e, CMH_VF_FILE_UNREADABLE,
                VF(.path = path, .expected = EHEX(e), .actual = a2),
                "two reads gave different bytes (%s then %s): "
                "unreliable I/O",
                a1, a2);
        goto out;
    }
    /* bytes are right, the fresh signature differed both times */
    free(path);
    path = cmh__v_entry_path(v, e, e->r_sig, ".SIG");
    e->sig_bad = true;
    cmh__v_emit_entry(
        v, e, CMH_VF_SIG_BAD, VF(.path = path ? path : ""),
        "the signature differs from one made from the file's bytes "
        "(--deep; confirmed by a second read)");
out:
    free(path);
}

void cmh__v_drain_done(cmh_verify *v)
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

int cmh__v_tick(void *arg)
{
    cmh_verify *v = arg;
    if (v->deadline > 0 && cmh__now() >= v->deadline &&
        !atomic_load(&v->stop)) {
        v->timed_out = true;
        atomic_store(&v->stop, true);
    }
    if (!strcmp(v->phase, "hash"))
        cmh__v_drain_done(v);
    if (v->o.progress.cb && !v->canceled) {
        cmh_progress p = {0};
        p.phase = v->phase;
        p.files_done = atomic_load(&v->items_done);
        p.files_total = v->items_total;
        p.bytes_done = atomic_load(&v->bytes_done);
        p.bytes_total = v->bytes_total;
        p.elapsed = cmh__now() - v->t0;
        if (v->o.progress.cb(&p, v->o.progress.payload)) {
            v->canceled = true;
            atomic_store(&v->stop, true);
        }
    }
    return 0;
}
