/* Signature sums computed block by block (sigsum.c) and the chunked,
 * multi-threaded large-file path (stream_par.c): byte-identical to
 * librsync and to the stock `rdiff signature` at every thread count, at
 * and around block, chunk (range) and size-threshold boundaries, and with
 * a short last block (issue 14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "pattern.h"
#include "sigsum.h"
#include "stream.h"

typedef struct membuf {
    uint8_t *p;
    size_t n;
} membuf;

static int mem_sink(const void *d, size_t n, void *arg)
{
    membuf *m = arg;
    m->p = realloc(m->p, m->n + n + 1);
    memcpy(m->p + m->n, d, n);
    m->n += n;
    return 0;
}

/* librsync's signature of @p data. */
static membuf librsync_sig(const uint8_t *data, size_t n)
{
    membuf m = {0};
    cmh_sig *s;
    assert_int_equal(cmh_sig_new(&s, n), CMH_OK);
    assert_int_equal(cmh_sig_update(s, data, n, mem_sink, &m), CMH_OK);
    assert_int_equal(cmh_sig_final(s, mem_sink, &m), CMH_OK);
    cmh_sig_free(s);
    return m;
}

/* Header + sums of block-aligned ranges of @p range_blocks blocks. */
static membuf ranged_sig(const uint8_t *data, size_t n, size_t range_blocks)
{
    uint32_t magic, bl, sl;
    cmh_sig_params(&magic, &bl, &sl, n);
    assert_true(cmh__sigsum_supported(magic));
    membuf m = {0};
    m.p = malloc(cmh_sig_size(n) + 1);
    cmh__sigsum_header(m.p, magic, bl, sl);
    m.n = CMH_SIG_HEADER_LEN;
    size_t range = range_blocks * bl;
    for (size_t off = 0; off < n; off += range)
        m.n += cmh__sigsum_blocks(data + off, n - off < range ? n - off : range,
                                 bl, sl, m.p + m.n);
    return m;
}

static void check_blocks(size_t n)
{
    uint8_t *d = pattern(n, (uint32_t)n * 7 + 3);
    membuf want = librsync_sig(d, n);
    assert_int_equal(want.n, cmh_sig_size(n));
    static const size_t ranges[] = {1, 2, 3, 4, 5, 8, 1000000};
    for (int impl = 0; impl <= 1; impl++) {
        cmh__sigsum_force(impl);
        for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
            membuf got = ranged_sig(d, n, ranges[r]);
            assert_int_equal(got.n, want.n);
            assert_memory_equal(got.p, want.p, want.n);
            free(got.p);
        }
    }
    cmh__sigsum_force(-1);
    free(want.p);
    free(d);
}

static void test_blocks_equal_librsync(void **state)
{
    (void)state;
    /* Block length 256 up to 64 KiB; around 1, 4 (the 4-way code) and 5
     * blocks and the BLAKE2b block of 128 bytes. */
    static const size_t sizes[] = {
        0,    1,    2,    31,   32,   33,   127,  128,   129,   255,
        256,  257,  383,  384,  385,  511,  512,  513,   1023,  1024,
        1025, 1279, 1280, 1281, 2047, 2048, 2049, 65535, 65536, 65537,
        70000, 1000003, (1u << 22) + 129};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        check_blocks(sizes[i]);
}

static void test_blake2b_known(void **state)
{
    (void)state;
    /* BLAKE2b-256("abc") (RFC 7693 parameters, digest length 32). */
    static const uint8_t abc[32] = {
        0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72, 0x31, 0x71, 0xef,
        0x3f, 0xee, 0x98, 0x57, 0x9b, 0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb,
        0x3e, 0x42, 0x72, 0x62, 0xc8, 0xc0, 0x68, 0xd5, 0x23, 0x19};
    uint8_t out[32];
    cmh__sigsum_blake2b256((const uint8_t *)"abc", 3, out);
    assert_memory_equal(out, abc, 32);
    /* Rollsum: seed 1 times M^n plus the bytes. */
    assert_int_equal(cmh__sigsum_rabinkarp(NULL, 0), 1);
    assert_int_equal(cmh__sigsum_rabinkarp((const uint8_t *)"\x05", 1),
                     0x08104225u + 5);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    uint8_t *b = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fd);
    *n = got;
    return b;
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < n) {
        ssize_t r = write(fd, b + off, n - off);
        assert_true(r > 0);
        off += (size_t)r;
    }
    close(fd);
}

/* Stream a file of @p n bytes through cmh__stream_fileat with @p helpers
 * helper threads, chunks of @p chunk bytes and the chunked path from
 * @p par_min: the copy, SHA-256 and .SIG must equal the source, a one-shot
 * SHA-256 and @p want (rdiff's signature). */
static void check_stream(cmh_ctx *ctx, const char *dir, const uint8_t *d,
                         size_t n, const membuf *want, unsigned helpers,
                         size_t chunk, uint64_t par_min)
{
    char in[256], cp[256], sg[256];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(cp, sizeof cp, "%s/copy", dir);
    snprintf(sg, sizeof sg, "%s/sig", dir);
    cmh_worker *w = cmh__worker_new(ctx->sha256);
    assert_non_null(w);
    w->sig_helpers = helpers;
    w->par_chunk = chunk;
    w->par_min = par_min;
    int dfd = open(cp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int sfd = open(sg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(dfd >= 0 && sfd >= 0);
    cmh_stream_out out = {.data_fd = dfd, .sig_fd = sfd};
    cmh_stream_res res;
    assert_int_equal(cmh__stream_file(w, in, "in", n, INT64_MIN, &out, &res,
                                     NULL, NULL),
                     0);
    close(dfd);
    close(sfd);
    cmh__worker_free(w);
    size_t gn;
    uint8_t *got = read_all(sg, &gn);
    assert_int_equal(gn, want->n);
    assert_memory_equal(got, want->p, want->n);
    free(got);
    got = read_all(cp, &gn);
    assert_int_equal(gn, n);
    if (n)
        assert_memory_equal(got, d, n);
    free(got);
    uint8_t sha[32];
    unsigned int dl;
    assert_true(EVP_Digest(d, n, sha, &dl, EVP_sha256(), NULL));
    assert_memory_equal(res.sha, sha, 32);
    assert_int_equal(res.size, n);
}

static membuf rdiff_sig(const char *dir)
{
    char cmd[600], sg[256];
    snprintf(sg, sizeof sg, "%s/rdiff.sig", dir);
    snprintf(cmd, sizeof cmd, "rdiff -f signature '%s/in' '%s'", dir, sg);
    assert_int_equal(system(cmd), 0);
    membuf m;
    m.p = read_all(sg, &m.n);
    return m;
}

static void stream_sizes(const size_t *sizes, size_t count, size_t chunk,
                         uint64_t par_min, bool zeros)
{
    char dir[] = "/tmp/cmh-sigpar-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    for (size_t i = 0; i < count; i++) {
        size_t n = sizes[i];
        uint8_t *d = pattern(n, (uint32_t)n + 11);
        if (zeros && n > 3 * CMH_READ_SIZE) /* a hole at each end */
            memset(d, 0, CMH_READ_SIZE + 5),
                memset(d + n - CMH_READ_SIZE - 7, 0, CMH_READ_SIZE + 7);
        char in[256];
        snprintf(in, sizeof in, "%s/in", dir);
        write_file(in, d, n);
        membuf want = rdiff_sig(dir);
        assert_int_equal(want.n, cmh_sig_size(n));
        for (unsigned h = 0; h <= 3; h++)
            check_stream(ctx, dir, d, n, &want, h, chunk, par_min);
        free(want.p);
        free(d);
    }
    cmh_ctx_free(ctx);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_stream_small_ranges(void **state)
{
    (void)state;
    /* Block length 256 (files up to 64 KiB), ranges of 3 blocks (768
     * bytes): at and around block and range boundaries, a short last
     * block, one block, a part of one. */
    static const size_t sizes[] = {1,    255,  256,  257,  767,   768,
                                   769,  1023, 1024, 1025, 1535,  1536,
                                   1537, 2303, 2304, 2305, 65535, 65536};
    stream_sizes(sizes, sizeof sizes / sizeof *sizes, 3 * 256 - 100, 1,
                 false);
}

static void test_stream_real_params(void **state)
{
    (void)state;
    /* The defaults: below, at and above CMH_PAR_MIN; a multiple of the
     * chunk; zero runs that become holes in the copy. Block length for
     * 8 MiB is 2816, so chunks are 373 blocks (1,050,368 bytes). */
    const size_t m = CMH_PAR_MIN, c = 373 * 2816;
    const size_t sizes[] = {m - 1, m, m + 1, 9 * c, 9 * c + 1, 9 * c - 1,
                            m + 2816 * 4 + 17};
    stream_sizes(sizes, sizeof sizes / sizeof *sizes, 0, 0, false);
    const size_t holes[] = {m + 3 * CMH_READ_SIZE + 99};
    stream_sizes(holes, 1, 0, 0, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blake2b_known),
        cmocka_unit_test(test_blocks_equal_librsync),
        cmocka_unit_test(test_stream_small_ranges),
        cmocka_unit_test(test_stream_real_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
