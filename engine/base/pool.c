/* A fixed pool of worker threads over one FIFO task queue.
 *
 * Tasks may push further tasks (the parallel walk queues sub-folders). The
 * caller's thread waits in cmh__pool_wait(), where it runs the progress tick;
 * callbacks of the public API therefore never run on a worker. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct task {
    cmh_task_fn fn;
    void *task, *arg;
    struct task *next;
} task;

struct cmh_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;   /* signalled: a task was queued or stopping */
    pthread_cond_t idle;   /* signalled: queue empty and nobody busy */
    /* Queue and counters: written and read under mu only. */
    task *head, *tail;
    unsigned busy;         /* workers running a task */
    bool stopping;
    /* cancel: set by any thread (tick or a failing task), read by tasks
     * without the lock; a relaxed flag is enough, tasks only stop early. */
    atomic_bool canceled;
    unsigned n;            /* threads started */
    unsigned nstates;      /* states slots allocated */
    pthread_t *threads;
    void **states;         /* per-worker state, owned by that worker */
    void (*free_state)(void *);
};

typedef struct worker_arg {
    cmh_pool *p;
    unsigned idx;
} worker_arg;

static void *worker_main(void *a)
{
    cmh_pool *p = ((worker_arg *)a)->p;
    unsigned idx = ((worker_arg *)a)->idx;
    free(a);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->work, &p->mu);
        if (!p->head && p->stopping)
            break;
        task *t = p->head;
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        t->fn(t->task, p->states[idx], t->arg);
        free(t);
        pthread_mutex_lock(&p->mu);
        p->busy--;
        if (!p->head && p->busy == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

unsigned cmh__online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int cmh__pool_new(cmh_pool **out, unsigned n, void *(*make_state)(void *arg),
                 void (*free_state)(void *state), void *arg)
{
    *out = NULL;
    cmh_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    atomic_init(&p->canceled, false);
    p->free_state = free_state;
    p->threads = calloc(n, sizeof *p->threads);
    p->states = calloc(n, sizeof *p->states);
    if (!p->threads || !p->states)
        goto fail;
    p->nstates = n;
    for (unsigned i = 0; i < n; i++) {
        if (make_state) {
            p->states[i] = make_state(arg);
            if (!p->states[i])
                goto fail;
        }
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            goto fail;
        wa->p = p;
        wa->idx = i;
        int e = pthread_create(&p->threads[i], NULL, worker_main, wa);
        if (e) {
            free(wa);
            if (free_state && p->states[i])
                free_state(p->states[i]);
            p->states[i] = NULL;
            goto fail;
        }
        p->n++;
    }
    *out = p;
    return 0;
fail:
    cmh__pool_free(p);
    return EAGAIN;
}

int cmh__pool_push(cmh_pool *p, cmh_task_fn fn, void *tk, void *arg)
{
    task *t = malloc(sizeof *t);
    if (!t)
        return ENOMEM;
    t->fn = fn;
    t->task = tk;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int cmh__pool_wait(cmh_pool *p, double interval, int (*tick)(void *), void *a)
{
    pthread_mutex_lock(&p->mu);
    while (p->head || p->busy) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = (long)(interval * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec += ns % 1000000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int r = pthread_cond_timedwait(&p->idle, &p->mu, &ts);
        if (r == ETIMEDOUT && tick) {
            pthread_mutex_unlock(&p->mu);
            if (tick(a))
                atomic_store(&p->canceled, true);
            pthread_mutex_lock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

bool cmh__pool_canceled(const cmh_pool *p)
{
    return atomic_load_explicit(&((cmh_pool *)p)->canceled,
                                memory_order_relaxed);
}

const _Atomic bool *cmh__pool_cancel_flag(const cmh_pool *p)
{
    return &p->canceled;
}

void cmh__pool_cancel(cmh_pool *p)
{
    atomic_store(&p->canceled, true);
}

void cmh__pool_free(cmh_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    if (p->states && p->free_state)
        for (unsigned i = 0; i < p->nstates; i++)
            if (p->states[i])
                p->free_state(p->states[i]);
    for (task *t = p->head; t;) {
        task *nx = t->next;
        free(t);
        t = nx;
    }
    free(p->threads);
    free(p->states);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

typedef struct for_chunk {
    size_t from, to;
    void (*fn)(size_t i, void *arg);
    void *arg;
} for_chunk;

static void for_task(void *tk, void *state, void *arg)
{
    (void)state;
    (void)arg;
    for_chunk *c = tk;
    for (size_t i = c->from; i < c->to; i++)
        c->fn(i, c->arg);
    free(c);
}

void cmh__pool_for(cmh_pool *p, size_t n, void (*fn)(size_t i, void *arg),
                  void *arg)
{
    /* Several chunks per worker so uneven items still spread; with no
     * pool, or a pool that cannot take tasks, the loop runs right here. */
    size_t per = p ? n / ((size_t)p->n * 8) : n;
    if (per < 16)
        per = 16;
    size_t i = 0;
    while (p && i < n) {
        for_chunk *c = malloc(sizeof *c);
        if (!c)
            break;
        size_t to = i + per < n ? i + per : n;
        c->from = i;
        c->to = to;
        c->fn = fn;
        c->arg = arg;
        if (cmh__pool_push(p, for_task, c, NULL)) {
            free(c);
            break;
        }
        i = to; /* not c->to: a worker may already have freed c */
    }
    for (; i < n; i++)
        fn(i, arg);
    if (p)
        cmh__pool_wait(p, 0.1, NULL, NULL);
}

