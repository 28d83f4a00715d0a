/* librsync signature sums computed block by block (issue 14).
 *
 * A signature (rdiff signature, librsync 2.x) is a 12-byte header - magic,
 * block length, strong-sum length, each a big-endian uint32 - and then per
 * block of block_len source bytes (the last may be shorter): the 4-byte
 * weak sum, big-endian, and the first strong_len bytes of the strong sum.
 * For RS_RK_BLAKE2_SIG_MAGIC (what rs_sig_args picks) the weak sum is
 * librsync's RabinKarp rollsum (seed 1, multiplier 0x08104225, mod 2^32)
 * and the strong sum is unkeyed BLAKE2b with a 32-byte digest (librsync
 * src/checksum.c: blake2b_init(&ctx, 32)). Blocks are independent, so any
 * block-aligned range of a file can be summed on its own thread; the
 * bytes are identical to librsync's (tests/unit/test_sigsum.c compares
 * with rs_sig_begin at many sizes and with `rdiff signature`). Only that
 * magic is handled here; the others go through librsync (cmh_sig_*). */
#ifndef CMHASH_SIGSUM_H
#define CMHASH_SIGSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMH_SIG_RK_BLAKE2_MAGIC 0x72730147u
#define CMH_SIG_HEADER_LEN 12

/* Can the signature with @p magic be computed by cmh__sigsum_blocks? */
bool cmh__sigsum_supported(uint32_t magic);
/* The 12-byte header. */
void cmh__sigsum_header(uint8_t out[CMH_SIG_HEADER_LEN], uint32_t magic,
                       uint32_t block_len, uint32_t strong_len);
/* Sums of the blocks of @p data (@p len bytes, starting at a block
 * boundary of the file: every block is @p block_len bytes but the last,
 * which may be shorter). Writes ceil(len / block_len) * (4 + strong_len)
 * bytes to @p out; returns that count. @p strong_len <= 32. */
size_t cmh__sigsum_blocks(const uint8_t *data, size_t len, uint32_t block_len,
                         uint32_t strong_len, uint8_t *out);
/* The pieces, for tests and the benchmark. */
uint32_t cmh__sigsum_rabinkarp(const uint8_t *data, size_t len);
void cmh__sigsum_blake2b256(const uint8_t *data, size_t len, uint8_t out[32]);
/* Which BLAKE2b code cmh__sigsum_blocks uses on this CPU ("avx2-4way" or
 * "portable"); CMHASH_SIGSUM=portable forces the portable code. */
const char *cmh__sigsum_impl(void);
/* Tests and the benchmark: 0 = portable code, 1 = the CPU's best, -1 =
 * decide again (CMHASH_SIGSUM). Not thread-safe against running sums. */
void cmh__sigsum_force(int impl);

#endif
