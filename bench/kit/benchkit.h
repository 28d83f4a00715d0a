/**
 * @file benchkit.h
 * @brief Measuring instruments: a deterministic test corpus, the CPU rates
 *        of the hashing core and the cold read rate of storage.
 *
 * The private benchmark kit (bench/kit/, a static library that is not
 * installed and not part of libcmhash; issue 13). It backs `cmhash bench`
 * and the programs in bench/. None of them touches
 * a content library; the corpus generator and the read test write only
 * below the folder they are given.
 */
#ifndef CMHASH_BENCHKIT_H
#define CMHASH_BENCHKIT_H

#include <cmhash/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- corpus ---- */

#define CMH_BENCH_CORPUS_OPTS_VERSION 1
/** Options of cmh_bench_corpus. Initialise with CMH_BENCH_CORPUS_OPTS_INIT. */
typedef struct cmh_bench_corpus_opts {
    unsigned version; /**< CMH_BENCH_CORPUS_OPTS_VERSION */
    /** "large" (4 x 1 GiB), "mixed" (~2 GiB over 20,000 files, log-normal
     *  1 KiB..200 MiB, folders up to depth 6, empty files and folders, ~5 %
     *  duplicate contents), "tiny" (100,000 files of 0..4 KiB) or "single"
     *  (one 1 GiB file: the single-file snapshot of issue 14). Borrowed. */
    const char *shape;
    /** Multiplies file counts ("mixed", "tiny") or file sizes ("large");
     *  1.0 is the full shape. Must be > 0 and <= 16. */
    double scale;
    uint64_t seed; /**< same seed + shape + scale = same bytes and names */
} cmh_bench_corpus_opts;

#define CMH_BENCH_CORPUS_OPTS_INIT                                           \
    {                                                                        \
        CMH_BENCH_CORPUS_OPTS_VERSION, "mixed", 1.0, 1                       \
    }

/** What cmh_bench_corpus wrote. */
typedef struct cmh_bench_corpus_stats {
    uint64_t files;         /**< regular files, empty ones included */
    uint64_t folders;       /**< folders below the root */
    uint64_t bytes;         /**< sum of file sizes */
    uint64_t empty_files;
    uint64_t empty_folders;
    uint64_t duplicates;    /**< files whose bytes equal an earlier file's */
    uint64_t largest;       /**< size of the largest file */
    double seconds;         /**< wall time of the generation */
} cmh_bench_corpus_stats;

/**
 * Write a deterministic corpus of incompressible bytes (xoshiro256**
 * stream) under @p dir, which is created if missing and must otherwise be
 * empty (CMH_E_INVALID when not: the generator never overwrites).
 * @param[out] out  filled on success; may be NULL.
 * @return CMH_OK, CMH_E_INVALID (bad shape/scale, @p dir not empty),
 *         CMH_E_IO (write failure; the context says which path),
 *         CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_bench_corpus(cmh_ctx *ctx, const char *dir,
                            const cmh_bench_corpus_opts *opts,
                            cmh_bench_corpus_stats *out);

/* ---- CPU rates of the hashing core ---- */

/** What cmh_bench_cpu measures. */
typedef enum cmh_bench_kind {
    CMH_BENCH_SHA256 = 1, /**< SHA-256 (cmh_sha256_*) */
    /** Signature as a large file's snapshot makes it: block sums in
     *  whole-block chunks (engine/core/sigsum.c; byte-identical to
     *  librsync). */
    CMH_BENCH_SIG = 2,
    CMH_BENCH_BOTH = 3,   /**< both, fed from one pass over each buffer */
    /** Signature through librsync (cmh_sig_*: files below 8 MiB). */
    CMH_BENCH_LIBRSYNC = 4,
} cmh_bench_kind;

/**
 * Feed @p bytes_per_thread bytes of in-memory random data, in chunks of
 * @p chunk bytes, to the primitives named by @p kind on each of @p threads
 * threads at once, and report the aggregate rate. The signature uses the
 * parameters of a file of @p bytes_per_thread bytes (contentlib.md 6.1).
 * No I/O is done: this is the CPU ceiling of snapshot and verify.
 * @param[out] out_bytes_per_s  sum over threads of bytes / wall seconds.
 * @return CMH_OK, CMH_E_INVALID (threads 0 or > 256, chunk 0),
 *         CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_bench_cpu(cmh_ctx *ctx, cmh_bench_kind kind, unsigned threads,
                         uint64_t bytes_per_thread, size_t chunk,
                         double *out_bytes_per_s);

/* ---- storage ---- */

/** Result of cmh_bench_read. */
typedef struct cmh_bench_read_result {
    double read_bytes_per_s;  /**< sequential read, page cache bypassed */
    double write_bytes_per_s; /**< writing the test file, fsync included */
    uint64_t bytes;           /**< size of the test file */
    /** How the page cache was kept out: "O_DIRECT", or
     *  "posix_fadvise(DONTNEED)" when the file system refuses O_DIRECT.
     *  Static string. */
    const char *method;
    /** Fraction of the test file still in the page cache when the timed
     *  read began (mincore); 0 means the read was truly cold. */
    double resident_fraction;
} cmh_bench_read_result;

/**
 * Write a test file of @p bytes random bytes in @p dir (fsync'd), evict it
 * from the page cache and time one sequential read of it with 1 MiB reads,
 * then remove it. Dropping the whole page cache needs privileges and is
 * never attempted.
 * @return CMH_OK, CMH_E_INVALID (bytes < 1 MiB), CMH_E_IO, CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_bench_read(cmh_ctx *ctx, const char *dir, uint64_t bytes,
                          cmh_bench_read_result *out);

/* ---- stage costs of one large file (issue 14) ---- */

/** CPU seconds per 10^9 bytes of each stage of a large file's snapshot,
 *  on one thread (user + system time of the thread that did the stage). */
typedef struct cmh_bench_stages {
    double read;   /**< read(2) of a file in the page cache, 1 MiB reads */
    double sha256; /**< SHA-256 of those bytes */
    double sig;    /**< signature block sums (CMH_BENCH_SIG) */
    double store;  /**< write(2) of the copy into the page cache */
    uint64_t bytes;      /**< bytes measured per stage */
    const char *sig_impl; /**< "avx2-4way" or "portable"; static */
} cmh_bench_stages;

/**
 * Measure the stage costs on @p bytes random bytes: write them to the new
 * file @p path (store; no fsync), read it back from the page cache (read),
 * hash what was read (SHA-256, signature). The file is left in place, for
 * a single-file snapshot of it; the caller removes it.
 * @return CMH_OK, CMH_E_INVALID (bytes < 1 MiB), CMH_E_IO, CMH_E_NOMEM.
 */
CMH_EXTERN
cmh_status cmh_bench_stage_costs(cmh_ctx *ctx, const char *path,
                                 uint64_t bytes, cmh_bench_stages *out);

/**
 * Predicted snapshot rate (bytes/s) of one large file on @p threads
 * threads from the stage costs: one thread reads and feeds SHA-256 in
 * order; the signature sums and the copy are split over all threads (the
 * reading thread helps when it would wait). Per 10^9 bytes this takes
 * max(read + sha256, (read + sha256 + sig + store) / threads) seconds.
 * @param[out] bound  if not NULL: "reading thread (read + SHA-256)" or
 *                    "all cores" - which term is the larger. Static.
 */
CMH_EXTERN
double cmh_bench_predict_single(const cmh_bench_stages *s, unsigned threads,
                                const char **bound);

/**
 * Evict every regular file under @p path from the page cache
 * (posix_fadvise DONTNEED; dirty pages are written first with fdatasync
 * so that they can go). Symbolic links are not followed. What a nightly
 * audit on a library far larger than RAM sees.
 * @param[out] files  files evicted; may be NULL.
 * @return CMH_OK or CMH_E_IO.
 */
CMH_EXTERN
cmh_status cmh_bench_evict(cmh_ctx *ctx, const char *path, uint64_t *files);

/**
 * Remove @p path (a file or a whole folder tree) as a benchmark cleanup;
 * symbolic links are removed, never followed. A missing path is CMH_OK.
 * @return CMH_OK or CMH_E_IO.
 */
CMH_EXTERN
cmh_status cmh_bench_remove(cmh_ctx *ctx, const char *path);

#ifdef __cplusplus
}
#endif
#endif
