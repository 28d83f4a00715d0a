/* librsync signature sums, block by block (see sigsum.h). Written from the
 * signature format and the BLAKE2 specification (RFC 7693); no librsync or
 * libb2 code. */
#include "sigsum.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SIGSUM_X86 1
#include <immintrin.h>
#endif

bool cmh__sigsum_supported(uint32_t magic)
{
    return magic == CMH_SIG_RK_BLAKE2_MAGIC;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void cmh__sigsum_header(uint8_t out[CMH_SIG_HEADER_LEN], uint32_t magic,
                       uint32_t block_len, uint32_t strong_len)
{
    put_be32(out, magic);
    put_be32(out + 4, block_len);
    put_be32(out + 8, strong_len);
}

/* ---- RabinKarp rollsum: H = seed * M^n + sum b[i] * M^(n-1-i) ---- */

#define RK_SEED 1u
#define RK_MULT 0x08104225u

static uint32_t rk_pow(uint64_t n)
{
    uint32_t r = 1, m = RK_MULT;
    while (n) {
        if (n & 1)
            r *= m;
        m *= m;
        n >>= 1;
    }
    return r;
}

static uint32_t rk_tail(uint32_t h, const uint8_t *p, size_t n)
{
    while (n--)
        h = h * RK_MULT + *p++;
    return h;
}

static uint32_t rk_portable(const uint8_t *p, size_t n)
{
    /* Four interleaved streams: four independent multiply chains. */
    if (n == 0)
        return RK_SEED; /* p may be NULL: no pointer arithmetic on it */
    uint32_t a[4] = {0, 0, 0, 0};
    const uint32_t m4 = rk_pow(4);
    size_t q = n / 4;
    for (size_t i = 0; i < q; i++) {
        a[0] = a[0] * m4 + p[4 * i];
        a[1] = a[1] * m4 + p[4 * i + 1];
        a[2] = a[2] * m4 + p[4 * i + 2];
        a[3] = a[3] * m4 + p[4 * i + 3];
    }
    uint32_t h = RK_SEED * rk_pow(4 * (uint64_t)q) + a[0] * rk_pow(3) +
                 a[1] * rk_pow(2) + a[2] * RK_MULT + a[3];
    return rk_tail(h, p + 4 * q, n - 4 * q);
}

#ifdef SIGSUM_X86
/* 32 streams in four vectors of eight 32-bit lanes. */
__attribute__((target("avx2"))) static uint32_t rk_avx2(const uint8_t *p,
                                                        size_t n)
{
    if (n == 0)
        return RK_SEED; /* p may be NULL: no pointer arithmetic on it */
    size_t q = n / 32;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const __m256i m32 = _mm256_set1_epi32((int)rk_pow(32));
    for (size_t i = 0; i < q; i++) {
        const uint8_t *s = p + 32 * i;
        __m128i lo = _mm_loadu_si128((const __m128i *)s);
        __m128i hi = _mm_loadu_si128((const __m128i *)(s + 16));
        a0 = _mm256_add_epi32(_mm256_mullo_epi32(a0, m32),
                              _mm256_cvtepu8_epi32(lo));
        a1 = _mm256_add_epi32(_mm256_mullo_epi32(a1, m32),
                              _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
        a2 = _mm256_add_epi32(_mm256_mullo_epi32(a2, m32),
                              _mm256_cvtepu8_epi32(hi));
        a3 = _mm256_add_epi32(_mm256_mullo_epi32(a3, m32),
                              _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
    }
    /* Lane k of stream j holds the bytes at 32*i + 8*j + k: weight
     * M^(31 - 8*j - k). */
    uint32_t w[32];
    for (int k = 0; k < 32; k++)
        w[k] = rk_pow((uint64_t)(31 - k));
    __m256i s = _mm256_mullo_epi32(a0, _mm256_loadu_si256((__m256i *)w));
    s = _mm256_add_epi32(s, _mm256_mullo_epi32(
                                a1, _mm256_loadu_si256((__m256i *)(w + 8))));
    s = _mm256_add_epi32(s, _mm256_mullo_epi32(
                                a2, _mm256_loadu_si256((__m256i *)(w + 16))));
    s = _mm256_add_epi32(s, _mm256_mullo_epi32(
                                a3, _mm256_loadu_si256((__m256i *)(w + 24))));
    uint32_t l[8];
    _mm256_storeu_si256((__m256i *)l, s);
    uint32_t h = RK_SEED * rk_pow(32 * (uint64_t)q);
    for (int k = 0; k < 8; k++)
        h += l[k];
    return rk_tail(h, p + 32 * q, n - 32 * q);
}
#endif

/* ---- BLAKE2b-256, unkeyed (RFC 7693) ---- */

static const uint64_t b2_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

static const uint8_t b2_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static uint64_t rotr64(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

#define B2G(r, i, a, b, c, d)                                                \
    do {                                                                     \
        a = a + b + m[b2_sigma[r][2 * i]];                                   \
        d = rotr64(d ^ a, 32);                                               \
        c = c + d;                                                           \
        b = rotr64(b ^ c, 24);                                               \
        a = a + b + m[b2_sigma[r][2 * i + 1]];                               \
        d = rotr64(d ^ a, 16);                                               \
        c = c + d;                                                           \
        b = rotr64(b ^ c, 63);                                               \
    } while (0)
#define B2ROUND(r)                                                           \
    do {                                                                     \
        B2G(r, 0, v0, v4, v8, v12);                                          \
        B2G(r, 1, v1, v5, v9, v13);                                          \
        B2G(r, 2, v2, v6, v10, v14);                                         \
        B2G(r, 3, v3, v7, v11, v15);                                         \
        B2G(r, 4, v0, v5, v10, v15);                                         \
        B2G(r, 5, v1, v6, v11, v12);                                         \
        B2G(r, 6, v2, v7, v8, v13);                                          \
        B2G(r, 7, v3, v4, v9, v14);                                          \
    } while (0)

static void b2_compress(uint64_t h[8], const uint8_t *block, uint64_t t,
                        bool last)
{
    uint64_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = load64(block + 8 * i);
    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4],
             v5 = h[5], v6 = h[6], v7 = h[7], v8 = b2_iv[0], v9 = b2_iv[1],
             v10 = b2_iv[2], v11 = b2_iv[3], v12 = b2_iv[4] ^ t,
             v13 = b2_iv[5], v14 = last ? ~b2_iv[6] : b2_iv[6],
             v15 = b2_iv[7];
    B2ROUND(0);
    B2ROUND(1);
    B2ROUND(2);
    B2ROUND(3);
    B2ROUND(4);
    B2ROUND(5);
    B2ROUND(6);
    B2ROUND(7);
    B2ROUND(8);
    B2ROUND(9);
    B2ROUND(10);
    B2ROUND(11);
    h[0] ^= v0 ^ v8;
    h[1] ^= v1 ^ v9;
    h[2] ^= v2 ^ v10;
    h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12;
    h[5] ^= v5 ^ v13;
    h[6] ^= v6 ^ v14;
    h[7] ^= v7 ^ v15;
}

/* Parameter block word 0: digest length 32, no key, fanout 1, depth 1. */
#define B2_P0 (0x01010000ULL ^ 32u)

static void b2_out(const uint64_t h[8], uint8_t out[32])
{
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            out[8 * i + j] = (uint8_t)(h[i] >> (8 * j));
}

/* Message lengths are below 2^64 bytes here: the counter's high word
 * stays 0. */
void cmh__sigsum_blake2b256(const uint8_t *data, size_t len, uint8_t out[32])
{
    uint64_t h[8];
    memcpy(h, b2_iv, sizeof h);
    h[0] ^= B2_P0;
    uint64_t t = 0;
    while (len > 128) {
        t += 128;
        b2_compress(h, data, t, false);
        data += 128;
        len -= 128;
    }
    uint8_t last[128] = {0};
    if (len)
        memcpy(last, data, len);
    b2_compress(h, last, t + len, true);
    b2_out(h, out);
}

#ifdef SIGSUM_X86
/* Four messages of the same length, one per 64-bit lane of each vector
 * (rows of the state are not vectorised: lanes are whole hashes). The
 * length is a positive multiple of 128, as librsync's block lengths are. */
#define V4ROT32(x) _mm256_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1))
#define V4ROT24(x) _mm256_shuffle_epi8(x, r24)
#define V4ROT16(x) _mm256_shuffle_epi8(x, r16)
#define V4ROT63(x) _mm256_or_si256(_mm256_srli_epi64(x, 63), _mm256_add_epi64(x, x))
#define V4G(r, i, a, b, c, d)                                                \
    do {                                                                     \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b), m[b2_sigma[r][2 * i]]); \
        d = V4ROT32(_mm256_xor_si256(d, a));                                 \
        c = _mm256_add_epi64(c, d);                                          \
        b = V4ROT24(_mm256_xor_si256(b, c));                                 \
        a = _mm256_add_epi64(_mm256_add_epi64(a, b),                         \
                             m[b2_sigma[r][2 * i + 1]]);                     \
        d = V4ROT16(_mm256_xor_si256(d, a));                                 \
        c = _mm256_add_epi64(c, d);                                          \
        b = V4ROT63(_mm256_xor_si256(b, c));                                 \
    } while (0)
#define V4ROUND(r)                                                           \
    do {                                                                     \
        V4G(r, 0, v[0], v[4], v[8], v[12]);                                  \
        V4G(r, 1, v[1], v[5], v[9], v[13]);                                  \
        V4G(r, 2, v[2], v[6], v[10], v[14]);                                 \
        V4G(r, 3, v[3], v[7], v[11], v[15]);                                 \
        V4G(r, 4, v[0], v[5], v[10], v[15]);                                 \
        V4G(r, 5, v[1], v[6], v[11], v[12]);                                 \
        V4G(r, 6, v[2], v[7], v[8], v[13]);                                  \
        V4G(r, 7, v[3], v[4], v[9], v[14]);                                  \
    } while (0)

__attribute__((target("avx2"))) static void
b2_4way(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2,
        const uint8_t *p3, size_t len, uint8_t out[4][32])
{
    const __m256i r24 = _mm256_setr_epi8(
        3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10, 3, 4, 5, 6, 7,
        0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
    const __m256i r16 = _mm256_setr_epi8(
        2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9, 2, 3, 4, 5, 6,
        7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
    __m256i h[8];
    for (int i = 0; i < 8; i++)
        h[i] = _mm256_set1_epi64x((long long)(b2_iv[i] ^ (i ? 0 : B2_P0)));
    for (size_t off = 0; off < len; off += 128) {
        __m256i m[16];
        for (int j = 0; j < 16; j += 4) {
            /* 4 x 4 transpose: words j..j+3 of each message. */
            __m256i a = _mm256_loadu_si256((const __m256i *)(p0 + off + 8 * j));
            __m256i b = _mm256_loadu_si256((const __m256i *)(p1 + off + 8 * j));
            __m256i c = _mm256_loadu_si256((const __m256i *)(p2 + off + 8 * j));
            __m256i d = _mm256_loadu_si256((const __m256i *)(p3 + off + 8 * j));
            __m256i ab0 = _mm256_unpacklo_epi64(a, b); /* a0 b0 a2 b2 */
            __m256i ab1 = _mm256_unpackhi_epi64(a, b); /* a1 b1 a3 b3 */
            __m256i cd0 = _mm256_unpacklo_epi64(c, d);
            __m256i cd1 = _mm256_unpackhi_epi64(c, d);
            m[j] = _mm256_permute2x128_si256(ab0, cd0, 0x20);
            m[j + 1] = _mm256_permute2x128_si256(ab1, cd1, 0x20);
            m[j + 2] = _mm256_permute2x128_si256(ab0, cd0, 0x31);
            m[j + 3] = _mm256_permute2x128_si256(ab1, cd1, 0x31);
        }
        bool last = off + 128 == len;
        __m256i v[16];
        for (int i = 0; i < 8; i++) {
            v[i] = h[i];
            v[i + 8] = _mm256_set1_epi64x((long long)b2_iv[i]);
        }
        v[12] = _mm256_xor_si256(v[12],
                                 _mm256_set1_epi64x((long long)(off + 128)));
        if (last)
            v[14] = _mm256_xor_si256(v[14], _mm256_set1_epi64x(-1));
        V4ROUND(0);
        V4ROUND(1);
        V4ROUND(2);
        V4ROUND(3);
        V4ROUND(4);
        V4ROUND(5);
        V4ROUND(6);
        V4ROUND(7);
        V4ROUND(8);
        V4ROUND(9);
        V4ROUND(10);
        V4ROUND(11);
        for (int i = 0; i < 8; i++)
            h[i] = _mm256_xor_si256(h[i], _mm256_xor_si256(v[i], v[i + 8]));
    }
    uint64_t w[8][4];
    for (int i = 0; i < 8; i++)
        _mm256_storeu_si256((__m256i *)w[i], h[i]);
    for (int l = 0; l < 4; l++) {
        uint64_t hl[8];
        for (int i = 0; i < 8; i++)
            hl[i] = w[i][l];
        b2_out(hl, out[l]);
    }
}
#endif

/* ---- dispatch ---- */

static int g_impl = -1; /* 0 portable, 1 avx2; benign race: same value */

static int detect(bool honor_env)
{
    int i = 0;
#ifdef SIGSUM_X86
    const char *env = honor_env ? getenv("CMHASH_SIGSUM") : NULL;
    if (!(env && strcmp(env, "portable") == 0)) {
        __builtin_cpu_init();
        i = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
#else
    (void)honor_env;
#endif
    return i;
}

static int impl(void)
{
    int i = __atomic_load_n(&g_impl, __ATOMIC_RELAXED);
    if (i < 0) {
        i = detect(true);
        __atomic_store_n(&g_impl, i, __ATOMIC_RELAXED);
    }
    return i;
}

void cmh__sigsum_force(int i)
{
    if (i > 0)
        i = detect(false);
    __atomic_store_n(&g_impl, i, __ATOMIC_RELAXED);
}

const char *cmh__sigsum_impl(void)
{
    return impl() ? "avx2-4way" : "portable";
}

uint32_t cmh__sigsum_rabinkarp(const uint8_t *data, size_t len)
{
#ifdef SIGSUM_X86
    if (impl())
        return rk_avx2(data, len);
#endif
    return rk_portable(data, len);
}

static uint8_t *put_block(uint8_t *o, const uint8_t *p, size_t n,
                          const uint8_t strong[32], uint32_t sl)
{
    put_be32(o, cmh__sigsum_rabinkarp(p, n));
    memcpy(o + 4, strong, sl);
    return o + 4 + sl;
}

size_t cmh__sigsum_blocks(const uint8_t *data, size_t len, uint32_t block_len,
                         uint32_t strong_len, uint8_t *out)
{
    uint8_t *o = out;
    size_t bl = block_len;
#ifdef SIGSUM_X86
    if (impl() && bl % 128 == 0) {
        while (len >= 4 * bl) {
            uint8_t s[4][32];
            b2_4way(data, data + bl, data + 2 * bl, data + 3 * bl, bl, s);
            for (int k = 0; k < 4; k++)
                o = put_block(o, data + k * bl, bl, s[k], strong_len);
            data += 4 * bl;
            len -= 4 * bl;
        }
    }
#endif
    while (len) {
        size_t n = len < bl ? len : bl;
        uint8_t s[32];
        cmh__sigsum_blake2b256(data, n, s);
        o = put_block(o, data, n, s, strong_len);
        data += n;
        len -= n;
    }
    return (size_t)(o - out);
}
