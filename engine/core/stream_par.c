/* One large file on several threads (issue 14; see stream.h).
 *
 * The streaming thread reads the file once, in chunks of whole signature
 * blocks, and feeds SHA-256 (sequential by nature). Each chunk then has
 * independent work - its signature block sums and its piece of the
 * FileLib copy, written at its offset - done by helper threads, or by the
 * streaming thread itself when every chunk buffer is in use. The
 * streaming thread emits the signature in chunk order, so the .SIG bytes
 * are the same at every thread count. Memory: a ring of a few chunks per
 * file, never the whole file. */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"
#include "sigsum.h"

enum { SLOT_FREE, SLOT_FILLED, SLOT_WORKING, SLOT_DONE };

typedef struct par_slot {
    uint8_t *data;
    uint8_t *sig;
    size_t len;
    size_t siglen;
    uint64_t off;
    int state;
    int err; /* errno of the copy write */
} par_slot;

typedef struct par {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* any state change */
    par_slot *slot;
    unsigned nslots;
    uint64_t filled; /* chunks handed over */
    uint64_t taken;  /* chunks taken for work (in order) */
    bool stop;
    uint32_t bl, sl;
    int data_fd;
    bool want_sig;
    atomic_bool hole; /* a zero piece was skipped */
} par;

static bool zero_piece(const uint8_t *p, size_t n)
{
    return n > 0 && p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static void do_work(par *p, par_slot *s)
{
    if (p->want_sig)
        s->siglen = cmh__sigsum_blocks(s->data, s->len, p->bl, p->sl, s->sig);
    s->err = 0;
    if (p->data_fd < 0)
        return;
    /* Zero runs become holes, as on today's path: disk images are stored
     * without their empty blocks. Pieces of CMH_READ_SIZE from the chunk
     * start; a chunk (whole signature blocks) ends in a shorter piece,
     * which becomes a hole too when it is all zero (written at offsets,
     * a skipped piece reads back as zeros). */
    for (size_t o = 0; o < s->len; o += CMH_READ_SIZE) {
        size_t n = s->len - o < CMH_READ_SIZE ? s->len - o : CMH_READ_SIZE;
        if (zero_piece(s->data + o, n)) {
            atomic_store_explicit(&p->hole, true, memory_order_relaxed);
            continue;
        }
        int e = cmh__os_pwrite_all(p->data_fd, s->data + o, n,
                                  s->off + o);
        if (e) {
            s->err = e;
            return;
        }
    }
}

/* Under p->mu: take the oldest filled chunk, if any, and work on it
 * (unlocked). Returns false when there was none. */
static bool take_one(par *p)
{
    if (p->stop || p->taken == p->filled)
        return false;
    par_slot *s = &p->slot[p->taken % p->nslots];
    p->taken++;
    s->state = SLOT_WORKING;
    pthread_mutex_unlock(&p->mu);
    do_work(p, s);
    pthread_mutex_lock(&p->mu);
    s->state = SLOT_DONE;
    pthread_cond_broadcast(&p->cv);
    return true;
}

static void *helper(void *arg)
{
    par *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop)
        if (!take_one(p))
            pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Read up to @p want bytes (fewer only at end of file). */
static int read_chunk(int fd, uint8_t *buf, size_t want, size_t *got)
{
    size_t n = 0;
    while (n < want) {
        ssize_t r = read(fd, buf + n, want - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return 0;
}

/* One cmh__stream_par call: the ring shared with the helpers and what
 * only the streaming thread uses. */
typedef struct par_run {
    par p; /* shared with the helpers */
    cmh_worker *w;
    int fd;
    uint64_t size;
    const cmh_stream_par_io *io;
    cmh_stream_res *res;
    uint32_t magic;
    size_t chunk;  /* bytes per chunk: whole signature blocks */
    pthread_t *tid;
    unsigned started; /* helpers running */
    uint64_t total;   /* bytes read */
    uint64_t emitted; /* chunks emitted (in order) */
    bool locked;      /* this thread holds p.mu */
} par_run;

/* Allocate the ring of chunk buffers and the helpers' thread ids. */
static int par_alloc(par_run *r, unsigned helpers)
{
    par *p = &r->p;
    size_t sigcap = r->chunk / p->bl * (4 + (size_t)p->sl);
    p->slot = calloc(p->nslots, sizeof *p->slot);
    r->tid = calloc(helpers ? helpers : 1, sizeof *r->tid);
    if (!p->slot || !r->tid)
        return ENOMEM;
    for (unsigned i = 0; i < p->nslots; i++) {
        p->slot[i].data = malloc(r->chunk);
        p->slot[i].sig = malloc(sigcap ? sigcap : 1);
        if (!p->slot[i].data || !p->slot[i].sig)
            return ENOMEM;
    }
    return 0;
}

/* The ring's lock and condition; on failure neither is left to destroy. */
static int par_sync_init(par *p)
{
    if (pthread_mutex_init(&p->mu, NULL))
        return ENOMEM;
    if (pthread_cond_init(&p->cv, NULL)) {
        pthread_mutex_destroy(&p->mu);
        return ENOMEM;
    }
    return 0;
}

/* Under p.mu: emit the finished chunks in order and free their buffers.
 * Returns with p.mu held, or unlocked on failure. */
static int par_emit_done(par_run *r)
{
    par *p = &r->p;
    const cmh_stream_par_io *io = r->io;
    while (r->emitted < p->filled &&
           p->slot[r->emitted % p->nslots].state == SLOT_DONE) {
        par_slot *s = &p->slot[r->emitted % p->nslots];
        pthread_mutex_unlock(&p->mu);
        r->locked = false;
        if (s->err) {
            r->res->write_err = true;
            return s->err;
        }
        int e;
        if (p->want_sig && (e = io->sig_emit(s->sig, s->siglen,
                                             io->sig_payload)))
            return e;
        pthread_mutex_lock(&p->mu);
        r->locked = true;
        s->state = SLOT_FREE;
        r->emitted++;
    }
    return 0;
}

/* Unlocked: read the next chunk into @p s and hash it. *got = 0 at the
 * end of the file; *eof is set when this chunk is the last. */
static int par_fill(par_run *r, par_slot *s, size_t *got, bool *eof)
{
    const cmh_stream_par_io *io = r->io;
    *got = 0;
    if (io->cancel && atomic_load_explicit(io->cancel, memory_order_relaxed))
        return ECANCELED;
    size_t want = r->chunk;
    if (io->library_file && r->size - r->total < want)
        want = (size_t)(r->size - r->total);
    int e;
    if (want && (e = read_chunk(r->fd, s->data, want, got)))
        return e;
    if (*got == 0) {
        *eof = true;
        return 0;
    }
    if (r->total + *got > r->size) {
        r->res->changed = true;
        return ESTALE;
    }
    EVP_DigestUpdate(r->w->md, s->data, *got);
    s->len = *got;
    s->off = r->total;
    r->total += *got;
    if (io->progress)
        atomic_fetch_add_explicit(io->progress, (uint_fast64_t)*got,
                                  memory_order_relaxed);
    if (io->on_read)
        io->on_read(*got, io->read_payload);
    /* Crash points count CMH_READ_SIZE pieces, as on today's
     * path (tests/cli/snapshot_crash.sh). */
    for (size_t k = 0; r->p.data_fd >= 0 && k < *got; k += CMH_READ_SIZE)
        cmh__crash_point("read");
    if (*got < want || (io->library_file && r->total == r->size))
        *eof = true;
    return 0;
}

/* The streaming thread: emit the header, then read chunks into free
 * slots, emit done ones in order, and help the helpers when every slot
 * is in use, until the file is read and every chunk emitted. */
static int par_stream(par_run *r)
{
    par *p = &r->p;
    const cmh_stream_par_io *io = r->io;
    int e;
    if (p->want_sig) {
        uint8_t hdr[CMH_SIG_HEADER_LEN];
        cmh__sigsum_header(hdr, r->magic, p->bl, p->sl);
        if ((e = io->sig_emit(hdr, sizeof hdr, io->sig_payload)))
            return e;
    }
    pthread_mutex_lock(&p->mu);
    r->locked = true;
    for (bool eof = false;;) {
        if ((e = par_emit_done(r)))
            return e;
        if (eof) {
            if (r->emitted == p->filled)
                return 0;
            if (!take_one(p))
                pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        par_slot *s = &p->slot[p->filled % p->nslots];
        if (s->state != SLOT_FREE) {
            /* Every buffer is in use: help rather than wait. */
            if (!take_one(p))
                pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        r->locked = false;
        size_t got;
        if ((e = par_fill(r, s, &got, &eof)))
            return e;
        pthread_mutex_lock(&p->mu);
        r->locked = true;
        if (got) {
            s->state = SLOT_FILLED;
            p->filled++;
            pthread_cond_broadcast(&p->cv);
        }
    }
}

/* Stop the helpers and wait for them; a chunk still being worked on
 * belongs to its helper, and the join waits for it. */
static void par_stop(par_run *r)
{
    par *p = &r->p;
    if (!r->locked)
        pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < r->started; i++)
        pthread_join(r->tid[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

static void par_free(par_run *r)
{
    par *p = &r->p;
    if (p->slot)
        for (unsigned i = 0; i < p->nslots; i++) {
            free(p->slot[i].data);
            free(p->slot[i].sig);
        }
    free(p->slot);
    free(r->tid);
}

int cmh__stream_par(cmh_worker *w, int fd, uint64_t size,
                    const cmh_stream_par_io *io, cmh_stream_res *res,
                    uint64_t *total_out, bool *hole_out)
{
    par_run r = {.w = w, .fd = fd, .size = size, .io = io, .res = res};
    par *p = &r.p;
    cmh_sig_params(&r.magic, &p->bl, &p->sl, size);
    p->data_fd = io->data_fd;
    p->want_sig = io->sig_emit != NULL;
    atomic_init(&p->hole, false);
    size_t chunk = w->par_chunk ? w->par_chunk : CMH_PAR_CHUNK;
    r.chunk = (chunk + p->bl - 1) / p->bl * p->bl;
    unsigned helpers = w->sig_helpers;
    p->nslots = 2 * (helpers + 1) + 1;

    int e = par_alloc(&r, helpers);
    if (!e)
        e = par_sync_init(p);
    if (!e) {
        /* Helpers are optional: one that cannot start leaves its share
         * to the others and to this thread. */
        for (unsigned i = 0; i < helpers; i++)
            if (pthread_create(&r.tid[r.started], NULL, helper, p) == 0)
                r.started++;
        e = par_stream(&r);
        par_stop(&r);
    }
    par_free(&r);
    *total_out = r.total;
    *hole_out = atomic_load(&p->hole);
    return e;
}
