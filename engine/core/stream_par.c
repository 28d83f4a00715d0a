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

int cmh__stream_par(cmh_worker *w, int fd, uint64_t size,
                    const cmh_stream_par_io *io, cmh_stream_res *res,
                    uint64_t *total_out, bool *hole_out)
{
    par p = {0};
    int e = 0;
    uint32_t magic;
    cmh_sig_params(&magic, &p.bl, &p.sl, size);
    p.data_fd = io->data_fd;
    p.want_sig = io->sig_emit != NULL;
    atomic_init(&p.hole, false);
    size_t chunk = w->par_chunk ? w->par_chunk : CMH_PAR_CHUNK;
    chunk = (chunk + p.bl - 1) / p.bl * p.bl;
    size_t sigcap = chunk / p.bl * (4 + (size_t)p.sl);
    unsigned helpers = w->sig_helpers;
    p.nslots = 2 * (helpers + 1) + 1;
    pthread_t *tid = NULL;
    unsigned started = 0;
    uint64_t total = 0, emitted = 0;
    bool locked = false;

    p.slot = calloc(p.nslots, sizeof *p.slot);
    tid = calloc(helpers ? helpers : 1, sizeof *tid);
    if (!p.slot || !tid) {
        e = ENOMEM;
        goto out_free;
    }
    for (unsigned i = 0; i < p.nslots; i++) {
        p.slot[i].data = malloc(chunk);
        p.slot[i].sig = malloc(sigcap ? sigcap : 1);
        if (!p.slot[i].data || !p.slot[i].sig) {
            e = ENOMEM;
            goto out_free;
        }
    }
    if (pthread_mutex_init(&p.mu, NULL)) {
        e = ENOMEM;
        goto out_free;
    }
    if (pthread_cond_init(&p.cv, NULL)) {
        pthread_mutex_destroy(&p.mu);
        e = ENOMEM;
        goto out_free;
    }
    /* Helpers are optional: one that cannot start leaves its share to
     * the others and to this thread. */
    for (unsigned i = 0; i < helpers; i++)
        if (pthread_create(&tid[started], NULL, helper, &p) == 0)
            started++;
    if (p.want_sig) {
        uint8_t hdr[CMH_SIG_HEADER_LEN];
        cmh__sigsum_header(hdr, magic, p.bl, p.sl);
        if ((e = io->sig_emit(hdr, sizeof hdr, io->sig_payload)))
            goto out;
    }
    pthread_mutex_lock(&p.mu);
    locked = true;
    for (bool eof = false;;) {
        /* Emit finished chunks in order; free their buffers. */
        while (emitted < p.filled &&
               p.slot[emitted % p.nslots].state == SLOT_DONE) {
            par_slot *s = &p.slot[emitted % p.nslots];
            pthread_mutex_unlock(&p.mu);
            locked = false;
            if (s->err) {
                e = s->err;
                res->write_err = true;
                goto out;
            }
            if (p.want_sig &&
                (e = io->sig_emit(s->sig, s->siglen, io->sig_payload)))
                goto out;
            pthread_mutex_lock(&p.mu);
            locked = true;
            s->state = SLOT_FREE;
            emitted++;
        }
        if (eof) {
            if (emitted == p.filled)
                break;
            if (!take_one(&p))
                pthread_cond_wait(&p.cv, &p.mu);
            continue;
        }
        par_slot *s = &p.slot[p.filled % p.nslots];
        if (s->state != SLOT_FREE) {
            /* Every buffer is in use: help rather than wait. */
            if (!take_one(&p))
                pthread_cond_wait(&p.cv, &p.mu);
            continue;
        }
        pthread_mutex_unlock(&p.mu);
        locked = false;
        if (io->cancel &&
            atomic_load_explicit(io->cancel, memory_order_relaxed)) {
            e = ECANCELED;
            goto out;
        }
        size_t want = chunk;
        if (io->library_file && size - total < want)
            want = (size_t)(size - total);
        size_t got = 0;
        if (want && (e = read_chunk(fd, s->data, want, &got)))
            goto out;
        if (got == 0) {
            eof = true;
        } else {
            if (total + got > size) {
                res->changed = true;
                e = ESTALE;
                goto out;
            }
            EVP_DigestUpdate(w->md, s->data, got);
            s->len = got;
            s->off = total;
            total += got;
            if (io->progress)
                atomic_fetch_add_explicit(io->progress, (uint_fast64_t)got,
                                          memory_order_relaxed);
            if (io->on_read)
                io->on_read(got, io->read_payload);
            /* Crash points count CMH_READ_SIZE pieces, as on today's
             * path (tests/cli/snapshot_crash.sh). */
            for (size_t k = 0; p.data_fd >= 0 && k < got;
                 k += CMH_READ_SIZE)
                cmh__crash_point("read");
            if (got < want || (io->library_file && total == size))
                eof = true;
        }
        pthread_mutex_lock(&p.mu);
        locked = true;
        if (got) {
            s->state = SLOT_FILLED;
            p.filled++;
            pthread_cond_broadcast(&p.cv);
        }
    }
out:
    if (!locked)
        pthread_mutex_lock(&p.mu);
    p.stop = true;
    pthread_cond_broadcast(&p.cv);
    /* A chunk still being worked on belongs to its helper: the join
     * below waits for it. */
    pthread_mutex_unlock(&p.mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
out_free:
    if (p.slot)
        for (unsigned i = 0; i < p.nslots; i++) {
            free(p.slot[i].data);
            free(p.slot[i].sig);
        }
    free(p.slot);
    free(tid);
    *total_out = total;
    *hole_out = atomic_load(&p.hole);
    return e;
}
