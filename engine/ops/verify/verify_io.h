/* I/O scheduling of verify's hash pass (issue 14): a prefetcher that keeps
 * many reads in flight ahead of the hashing threads.
 *
 * The hash pass reads FileLib files in digest order (its resume cursor
 * relies on that order; each batch of 4,096 in physical order), one file
 * per thread at a time: on a cold library
 * that is one or two small reads in flight, and the disk waits on each
 * seek. The prefetcher walks the same order a window ahead of the
 * threads and asks the kernel to start reading each file
 * (cmh__os_prefetch: posix_fadvise WILLNEED on Linux), so the device has
 * a queue of requests to serve and reorder; the threads then find the
 * bytes in the page cache. Memory: nothing but the window's page cache.
 *
 * With CMHASH_IO=uring in the environment, where io_uring works
 * (cmh_os_aread), the prefetcher instead keeps up to CMHASH_IO_DEPTH (32)
 * reads of 512 KiB in flight and reads large files whole within the byte
 * window, the files the threads are on round-robin (not the default: see
 * IO_DEFAULT_URING). The hash pass also sorts its work by physical
 * position (FIEMAP) in digest-order batches: see hashpass.c. */
#ifndef CMHASH_VERIFY_IO_H
#define CMHASH_VERIFY_IO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Item @p i of the pass: the folder it is relative to, its path and size.
 * Called from the prefetch thread; must only read data that stays fixed
 * during the pass. */
typedef void (*cmh_prefetch_item)(void *arg, size_t i, int *dirfd,
                                  char *rel, size_t relsize,
                                  uint64_t *size);

typedef struct cmh_prefetch cmh_prefetch;

/* Start prefetching @p n items in order, staying at most a window (files
 * and bytes) ahead of @p done (items the threads finished; each unit of
 * it covers @p per items: the index pass reads an .INI and a .SIG per
 * entry, per = 2). An item whose dirfd is -1 is skipped. Stops at the
 * end, or when @p stop becomes true. Returns NULL when prefetching is off
 * (CMHASH_PREFETCH=0 in the environment, an --io-rate limit - the
 * prefetch would read ahead of the limit - fewer than 2 items, or no
 * thread could start): the pass works the same without it. @p bytes
 * (bytes the threads hashed so far, or NULL) bounds the bytes read ahead;
 * @p threads (the hashing threads) is how many files are read at once. */
typedef struct cmh_prefetch_opts {
    size_t n;
    unsigned per;
    cmh_prefetch_item item;
    void *arg;
    const _Atomic uint_fast64_t *done, *bytes;
    const _Atomic bool *stop;
    double io_rate;
    unsigned threads;
} cmh_prefetch_opts;
cmh_prefetch *cmh__prefetch_run(const cmh_prefetch_opts *o);
/* "io_uring", "fadvise", or "none" for NULL (logs and tests). */
const char *cmh__prefetch_method(const cmh_prefetch *p);
/* Stop (if still running) and free. NULL is a no-op. */
void cmh__prefetch_stop(cmh_prefetch *p);

#endif
