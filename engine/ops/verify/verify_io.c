/* verify's hash pass: reads in flight ahead of the hashing threads (see
 * verify_io.h). */
#include "verify_io.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

/* Window: files and bytes ahead of the threads. 256 files cover the tiny
 * library's per-file latency (cold, 10k-file tiny library, 2 alternated
 * runs per window 0/16/64/256/1024: 4.0-4.1/2.5-3.0/2.2-3.1/2.0-2.5/
 * 1.9-2.0 s); 64 MiB keeps what is read ahead far below the page cache of any DP, so it is still
 * there when a thread gets to it. Large files are prefetched in their
 * first PREFETCH_HEAD bytes only: the kernel's readahead follows a
 * sequential read by itself. */
#define PREFETCH_FILES 256
#define PREFETCH_MAX 1024 /* CMHASH_PREFETCH=N sets the file window (A/B) */
#define PREFETCH_BYTES (64u << 20)
#define PREFETCH_HEAD (2u << 20)

struct cmh_prefetch {
    pthread_t tid;
    size_t n;
    cmh_prefetch_item item;
    void *arg;
    const _Atomic uint_fast64_t *done;
    const _Atomic bool *stop;
    const _Atomic uint_fast64_t *bytes; /* hashed so far, or NULL */
    unsigned per;
    size_t window;
    cmh_os_aread *aq; /* reads in flight, or NULL: posix_fadvise */
    unsigned depth, active;
    int aerr; /* why there is no aq */
    uint64_t small; /* files up to this size: posix_fadvise (io_uring) */
    bool uring; /* aq was opened (run_aread frees it when done) */
    _Atomic bool quit;
};

static void nap(void)
{
    struct timespec ts = {0, 200 * 1000}; /* 0.2 ms */
    nanosleep(&ts, NULL);
}

static void run_fadvise(cmh_prefetch *p)
{
    /* bytes issued per item, in a ring: the window's byte count */
    uint64_t ring[PREFETCH_MAX];
    uint64_t inflight = 0;
    size_t next = 0;
    memset(ring, 0, sizeof ring);
    while (next < p->n) {
        if (atomic_load_explicit(&p->quit, memory_order_relaxed) ||
            atomic_load_explicit(p->stop, memory_order_relaxed))
            break;
        uint64_t done =
            atomic_load_explicit(p->done, memory_order_relaxed) * p->per;
        /* retire what the threads finished from the window */
        const size_t W = p->window;
        size_t lo = next > W ? next - W : 0;
        for (size_t i = lo; i < next && i < done; i++) {
            inflight -= ring[i % W];
            ring[i % W] = 0;
        }
        if (next >= done + W || inflight >= PREFETCH_BYTES) {
            nap();
            continue;
        }
        int dirfd;
        char rel[256];
        uint64_t size;
        p->item(p->arg, next, &dirfd, rel, sizeof rel, &size);
        uint64_t len = size < PREFETCH_HEAD ? size : PREFETCH_HEAD;
        if (next >= done && dirfd >= 0) { /* else read already, or none */
            cmh__os_prefetch(dirfd, rel, len);
            ring[next % W] = len;
            inflight += len;
        }
        next++;
    }
}

/* ---- reads in flight through cmh_os_aread (io_uring) ----
 *
 * The same walk, but each file is read - into a scratch buffer, for the
 * page cache it fills - in CHUNK pieces with up to `depth` reads in flight,
 * and a large file is read whole within the byte window, not only its
 * head: the device always has a queue. The first `active` files of the
 * window (one per hashing thread: the files the threads are on) are read
 * round-robin, so no thread waits on a file the prefetch reaches last. */
#define AREAD_CHUNK (512u << 10)
#define AREAD_DEPTH 32
#define AREAD_DEPTH_MAX 256 /* CMHASH_IO_DEPTH=N sets it (A/B) */
#define AREAD_ACTIVE_MAX 16
/* Default scheme: posix_fadvise. io_uring measured no better on the bench
 * machine (docs/BENCHMARKS.md, "Cold I/O schemes": cold tiny 1.13x,
 * mixed 0.99-1.09x, large 0.97-1.29x the fadvise time, alternated) and
 * costs a copy of every byte into the scratch buffer; CMHASH_IO=uring. */
#define IO_DEFAULT_URING 0
#define AREAD_SMALL 0 /* CMHASH_IO_SMALL=BYTES: see run_aread (A/B) */

typedef struct afile {
    int fd;           /* -1: slot free */
    unsigned pending; /* reads in flight */
    bool submitted;   /* no more reads will be queued */
} afile;

typedef struct acur {
    unsigned slot; /* afile slot */
    uint64_t off, size;
} acur;

static int afile_slot(afile *f, unsigned nf)
{
    for (unsigned i = 0; i < nf; i++)
        if (f[i].fd < 0)
            return (int)i;
    return -1;
}

static void afile_done(afile *a)
{
    if (a->submitted && !a->pending && a->fd >= 0) {
        close(a->fd);
        a->fd = -1;
    }
}

/* run_aread's state: the file slots, the active files, the place in the
 * order */
typedef struct aread_run {
    cmh_prefetch *p;
    afile *f;
    unsigned nf, nactive;
    acur cur[AREAD_ACTIVE_MAX];
    unsigned ncur, rr;
    /* bytes of the order queued (or skipped: hashed already, or not
     * there), against the bytes the threads hashed */
    uint64_t issued;
    size_t next;
} aread_run;

/* the @p k reads of @p tags finished: a file with none left is closed */
static void aread_reaped(afile *f, const uint64_t *tags, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        afile *a = &f[tags[i]];
        a->pending--;
        afile_done(a);
    }
}

/* fill the active set from the order: the files the threads are on
 * always; more within the window (@p done items, @p bdone bytes hashed) */
static void aread_fill(aread_run *r, uint64_t done, uint64_t bdone)
{
    cmh_prefetch *p = r->p;
    while (r->ncur < r->nactive && r->next < p->n &&
           r->next < done + p->window &&
           (r->next < done + r->nactive || !p->bytes ||
            r->issued < bdone + PREFETCH_BYTES)) {
        int dirfd;
        char rel[256];
        uint64_t size;
        p->item(p->arg, r->next, &dirfd, rel, sizeof rel, &size);
        size_t i = r->next++;
        if (i < done || dirfd < 0 || !size) {
            r->issued += size;
            continue;
        }
        if (size <= p->small) {
            /* CMHASH_IO_SMALL: WILLNEED queues it, with no slot */
            cmh__os_prefetch(dirfd, rel, size);
            r->issued += size;
            continue;
        }
        int s = afile_slot(r->f, r->nf);
        int fd;
        if (s < 0)
            break; /* cannot happen: nf > reads in flight + active */
        if (cmh__os_open_read(dirfd, rel, &fd))
            continue; /* the hashing thread reports it */
        r->f[s] = (afile){fd, 0, false};
        r->cur[r->ncur++] = (acur){(unsigned)s, 0, size};
    }
}

/* queue reads round-robin over the active files; true if any was */
static bool aread_queue(aread_run *r, uint64_t bdone)
{
    cmh_prefetch *p = r->p;
    afile *f = r->f;
    bool queued = false;
    while (r->ncur && (!p->bytes || r->issued < bdone + PREFETCH_BYTES)) {
        r->rr %= r->ncur;
        acur *c = &r->cur[r->rr];
        uint64_t left = c->size - c->off;
        size_t len = left < AREAD_CHUNK ? (size_t)left : AREAD_CHUNK;
        if (cmh__os_aread_submit(p->aq, f[c->slot].fd, c->off, len, c->slot))
            break; /* queue full */
        f[c->slot].pending++;
        c->off += len;
        r->issued += len;
        queued = true;
        if (c->off >= c->size) {
            f[c->slot].submitted = true;
            r->cur[r->rr] = r->cur[--r->ncur];
        } else {
            r->rr++;
        }
    }
    return queued;
}

static void run_aread(cmh_prefetch *p)
{
    const unsigned depth = p->depth, nactive = p->active;
    aread_run r = {.p = p, .nf = depth + nactive + 1, .nactive = nactive};
    r.f = malloc(r.nf * sizeof *r.f);
    if (!r.f)
        return; /* no read-ahead; cmh__prefetch_stop closes the queue */
    for (unsigned i = 0; i < r.nf; i++)
        r.f[i] = (afile){-1, 0, false};
    for (;;) {
        bool quit = atomic_load_explicit(&p->quit, memory_order_relaxed) ||
                    atomic_load_explicit(p->stop, memory_order_relaxed);
        uint64_t tags[64];
        int res[64];
        unsigned k = cmh__os_aread_reap(p->aq, tags, res, 64, 0);
        aread_reaped(r.f, tags, k);
        if (quit)
            break;
        uint64_t done =
            atomic_load_explicit(p->done, memory_order_relaxed) * p->per;
        uint64_t bdone =
            p->bytes ? atomic_load_explicit(p->bytes, memory_order_relaxed)
                     : 0;
        aread_fill(&r, done, bdone);
        bool queued = aread_queue(&r, bdone);
        if (!r.ncur && r.next >= p->n)
            break; /* everything queued: the last reads finish below */
        if (!queued) {
            /* wait for a read to finish, or for the threads to move */
            k = cmh__os_aread_reap(p->aq, tags, res, 64, 200);
            aread_reaped(r.f, tags, k);
            if (!k)
                nap();
        }
    }
    /* the kernel writes into the scratch buffer until each read is reaped:
     * close the queue (it waits), then the files */
    cmh__os_aread_close(p->aq);
    p->aq = NULL;
    for (unsigned i = 0; i < r.nf; i++)
        if (r.f[i].fd >= 0)
            close(r.f[i].fd);
    free(r.f);
}

static void *run(void *arg)
{
    cmh_prefetch *p = arg;
    if (p->aq)
        run_aread(p);
    else
        run_fadvise(p);
    return NULL;
}

static unsigned env_uint(const char *name, unsigned lo, unsigned hi,
                         unsigned def)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    long w = strtol(s, NULL, 10);
    return w >= (long)lo && w <= (long)hi ? (unsigned)w : def;
}

const char *cmh__prefetch_method(const cmh_prefetch *p)
{
    static _Thread_local char b[64];
    if (p && !p->uring && p->aerr) {
        snprintf(b, sizeof b, "fadvise (io_uring: %s)", strerror(p->aerr));
        return b;
    }
    return !p ? "none" : p->uring ? "io_uring" : "fadvise";
}

cmh_prefetch *cmh__prefetch_run(const cmh_prefetch_opts *o)
{
    const char *env = getenv("CMHASH_PREFETCH");
    if ((env && strcmp(env, "0") == 0) || o->io_rate > 0 || o->n < 2)
        return NULL;
    cmh_prefetch *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = o->n;
    p->item = o->item;
    p->arg = o->arg;
    p->done = o->done;
    p->bytes = o->bytes;
    p->stop = o->stop;
    p->per = o->per ? o->per : 1;
    p->window = env_uint("CMHASH_PREFETCH", 2, PREFETCH_MAX, PREFETCH_FILES);
    p->active = o->threads ? o->threads : 1;
    if (p->active > AREAD_ACTIVE_MAX)
        p->active = AREAD_ACTIVE_MAX;
    p->depth = env_uint("CMHASH_IO_DEPTH", 1, AREAD_DEPTH_MAX, AREAD_DEPTH);
    p->small = env_uint("CMHASH_IO_SMALL", 0, 1u << 30, AREAD_SMALL);
    /* CMHASH_IO=uring or =fadvise picks the scheme (A/B, and the test
     * that both give the same findings); unset, IO_DEFAULT_URING */
    const char *io = getenv("CMHASH_IO");
    bool uring = io && *io ? strcmp(io, "uring") == 0 : IO_DEFAULT_URING;
    if (uring)
        p->aerr = cmh__os_aread_open(p->depth, AREAD_CHUNK, &p->aq);
    p->uring = p->aq != NULL;
    atomic_init(&p->quit, false);
    if (pthread_create(&p->tid, NULL, run, p) != 0) {
        cmh__os_aread_close(p->aq);
        free(p);
        return NULL;
    }
    return p;
}

void cmh__prefetch_stop(cmh_prefetch *p)
{
    if (!p)
        return;
    atomic_store(&p->quit, true);
    pthread_join(p->tid, NULL);
    cmh__os_aread_close(p->aq); /* NULL unless run_aread could not start */
    free(p);
}
