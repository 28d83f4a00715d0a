/* Private declarations of the benchmark kit (bench/kit/, not installed,
 * not part of libcmhash): the random stream the corpus and the tests
 * write, and the kit's platform calls (kit_posix.c, kit_win32.c - the
 * kit's own OS seam, kept out of engine/os/ so that libcmhash ships no
 * unbuffered reader, page-cache probe or rm -rf). */
#ifndef CMHASH_BENCHKIT_KIT_H
#define CMHASH_BENCHKIT_KIT_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- xoshiro256** (Blackman & Vigna): ~1 ns per 8 bytes here, so the
 * generator writes faster than the page cache takes the bytes. ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Fill @p n bytes; the stream does not depend on how it is chunked as long
 * as every chunk but the last is a multiple of 8. */
static inline void rng_fill(rng *r, unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, n);
    }
}

/* Uniform in [0, 1). */
static inline double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline uint64_t rng_below(rng *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

/* Standard normal (Box-Muller, one value per call: simple, and the corpus
 * plan is tiny next to writing the bytes). */
static inline double rng_normal(rng *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- kit_posix.c / kit_win32.c ---- */

/* Open @p path for reads that bypass the OS cache (O_DIRECT,
 * FILE_FLAG_NO_BUFFERING); *method names the mechanism. EINVAL when the
 * file system refuses it. Buffers and sizes must be 4 KiB aligned. */
int kit_os_open_unbuffered(const char *path, int *out_fd,
                           const char **method);
/* Fraction of the file's pages in the OS cache (mincore), -1 when
 * unknown. */
double kit_os_resident_fraction(int fd, uint64_t size);
/* Memory aligned for unbuffered I/O; free with kit_os_aligned_free. */
void *kit_os_aligned_alloc(size_t align, size_t size);
void kit_os_aligned_free(void *p);
/* The file's bytes are no longer needed in the page cache. */
void kit_os_advise_dontneed(int fd);
/* CPU seconds used by the calling thread. */
double kit_os_thread_cpu(void);
/* Is the folder open as @p fd empty (no names but . and ..)? */
bool kit_os_dir_is_empty(int fd);
/* Evict every regular file under @p path from the page cache (dirty
 * pages written first with fdatasync); symlinks are not followed.
 * *files gets the count; 0, or an errno of the walk (*open_err: the last
 * file that could not be opened, 0 if none). */
int kit_os_evict_tree(const char *path, uint64_t *files, int *open_err);
/* Recursively remove dirfd/name (a folder tree or a file); no symlink is
 * followed. Returns 0 if it did not exist. */
int kit_os_remove_tree(int dirfd, const char *name);

#endif
