/* SHA-256 and librsync signature cores: known answers, buffer-size sweeps,
 * and byte equality with the stock `rdiff signature`. */
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

static const size_t sweep[] = {0, 1, 2, 3, 7, 15, 100, 10000, 200000};

static void test_sha256_known(void **state)
{
    (void)state;
    cmh_sha256 *h;
    uint8_t d[32];
    char hex[65];
    assert_int_equal(cmh_sha256_new(&h), CMH_OK);
    assert_int_equal(cmh_sha256_final(d, h), CMH_OK);
    cmh_hex_upper(hex, d, 32);
    assert_string_equal(hex, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B"
                             "934CA495991B7852B855");
    cmh_sha256_update(h, "abc", 3);
    assert_int_equal(cmh_sha256_final(d, h), CMH_OK);
    cmh_hex_upper(hex, d, 32);
    assert_string_equal(hex, "BA7816BF8F01CFEA414140DE5DAE2223B00361A39617"
                             "7A9CB410FF61F20015AD");
    cmh_sha256_free(h);
    cmh_sha256_free(NULL);
}

/* Any chunking of the same bytes gives the same digest. */
static void test_sha256_sweep(void **state)
{
    (void)state;
    const size_t n = 200000 + 13;
    uint8_t *data = pattern(n, 7);
    cmh_sha256 *h;
    assert_int_equal(cmh_sha256_new(&h), CMH_OK);
    uint8_t ref[32], d[32];
    cmh_sha256_update(h, data, n);
    assert_int_equal(cmh_sha256_final(ref, h), CMH_OK);
    for (size_t k = 0; k < sizeof sweep / sizeof *sweep; k++) {
        size_t step = sweep[k] ? sweep[k] : n;
        for (size_t off = 0; off < n; off += step)
            cmh_sha256_update(h, data + off, off + step > n ? n - off : step);
        assert_int_equal(cmh_sha256_final(d, h), CMH_OK);
        assert_memory_equal(d, ref, 32);
    }
    cmh_sha256_free(h);
    free(data);
}

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static int mem_sink(const void *data, size_t len, void *payload)
{
    membuf *m = payload;
    if (m->n + len > m->cap) {
        m->cap = (m->n + len) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
    return 0;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void write_all_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Signature of @p n bytes: streaming (every chunk size), cmh_sig_file and
 * the stock rdiff must agree to the byte. */
static void check_sig_size(size_t n, bool sweep_chunks)
{
    char dir[] = "/tmp/cmh-sig-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[64], rd[64], ours[64], cmd[256];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(rd, sizeof rd, "%s/rdiff.sig", dir);
    snprintf(ours, sizeof ours, "%s/ours.sig", dir);
    uint8_t *data = pattern(n, (uint32_t)n + 1);
    write_all_file(in, data, n);
    snprintf(cmd, sizeof cmd, "rdiff signature '%s' '%s'", in, rd);
    assert_int_equal(system(cmd), 0);
    size_t rn;
    uint8_t *want = read_all(rd, &rn);
    assert_int_equal(rn, cmh_sig_size(n));

    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    assert_int_equal(cmh_sig_file(ctx, in, ours), CMH_OK);
    size_t on;
    uint8_t *got = read_all(ours, &on);
    assert_int_equal(on, rn);
    assert_memory_equal(got, want, rn);
    free(got);
    cmh_ctx_free(ctx);

    size_t nsweep = sweep_chunks ? sizeof sweep / sizeof *sweep : 1;
    for (size_t k = 0; k < nsweep; k++) {
        size_t step = sweep[k] ? sweep[k] : (n ? n : 1);
        cmh_sig *s;
        membuf m = {0};
        assert_int_equal(cmh_sig_new(&s, n), CMH_OK);
        for (size_t off = 0; off < n; off += step)
            assert_int_equal(cmh_sig_update(s, data + off,
                                            off + step > n ? n - off : step,
                                            mem_sink, &m),
                             CMH_OK);
        assert_int_equal(cmh_sig_final(s, mem_sink, &m), CMH_OK);
        cmh_sig_free(s);
        assert_int_equal(m.n, rn);
        assert_memory_equal(m.p, want, rn);
        free(m.p);
    }
    free(want);
    free(data);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_sig_small(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 255, 256, 257, 65536, 65537, 102400};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        check_sig_size(sizes[i], true);
}

static void test_sig_1mb(void **state)
{
    (void)state;
    check_sig_size(1000000, true);
    check_sig_size(1 << 20, false);
}

static void test_sig_100mb(void **state)
{
    (void)state;
    check_sig_size(100u * 1000 * 1000, false);
}

/* Parameters as the spec states them (section 6.1). */
static void test_sig_params(void **state)
{
    (void)state;
    uint32_t magic, bl, sl;
    cmh_sig_params(&magic, &bl, &sl, 100 * 1000);
    assert_int_equal(magic, 0x72730147);
    assert_int_equal(bl, 256);
    assert_int_equal(sl, 32);
    cmh_sig_params(&magic, &bl, &sl, 1ull << 30);
    assert_int_equal(bl, 32768);
    assert_int_equal(cmh_sig_size(0), 12);
    assert_int_equal(cmh_sig_size(257), 12 + 2 * 36);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known),
        cmocka_unit_test(test_sha256_sweep),
        cmocka_unit_test(test_sig_params),
        cmocka_unit_test(test_sig_small),
        cmocka_unit_test(test_sig_1mb),
        cmocka_unit_test(test_sig_100mb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
