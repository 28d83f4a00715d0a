/* verify's hash pass: reads in flight ahead of the hashing threads (see
 * verify_io.h). */
#include "verify_io.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    unsigned per;
    size_t window;
    _Atomic bool quit;
};

static void nap(void)
{
    struct timespec ts = {0, 200 * 1000}; /* 0.2 ms */
    nanosleep(&ts, NULL);
}

static void *run(void *arg)
{
    cmh_prefetch *p = arg;
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
            cmh_os_prefetch(dirfd, rel, len);
            ring[next % W] = len;
            inflight += len;
        }
        next++;
    }
    return NULL;
}

cmh_prefetch *cmh_prefetch_start(size_t n, cmh_prefetch_item item, void *arg,
                                 const _Atomic uint_fast64_t *done,
                                 const _Atomic bool *stop, double io_rate)
{
    return cmh_prefetch_start2(n, 1, item, arg, done, stop, io_rate);
}

cmh_prefetch *cmh_prefetch_start2(size_t n, unsigned per,
                                  cmh_prefetch_item item, void *arg,
                                  const _Atomic uint_fast64_t *done,
                                  const _Atomic bool *stop, double io_rate)
{
    const char *env = getenv("CMHASH_PREFETCH");
    if ((env && strcmp(env, "0") == 0) || io_rate > 0 || n < 2)
        return NULL;
    cmh_prefetch *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n;
    p->item = item;
    p->arg = arg;
    p->done = done;
    p->stop = stop;
    p->per = per ? per : 1;
    p->window = PREFETCH_FILES;
    if (env) {
        long w = strtol(env, NULL, 10);
        if (w > 1 && w <= PREFETCH_MAX)
            p->window = (size_t)w;
    }
    atomic_init(&p->quit, false);
    if (pthread_create(&p->tid, NULL, run, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

void cmh_prefetch_stop(cmh_prefetch *p)
{
    if (!p)
        return;
    atomic_store(&p->quit, true);
    pthread_join(p->tid, NULL);
    free(p);
}
