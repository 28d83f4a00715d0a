/* The .SIG checks verify makes (section 6.1), pure functions on bytes so
 * that tests/fuzz/fuzz_sig.c reaches exactly what verify runs. Internal. */
#ifndef CMHASH_VERIFY_SIG_H
#define CMHASH_VERIFY_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Header read from the first bytes of a .SIG. */
enum {
    CMH_SIGHDR_OK = 0,      /* librsync magic; *magic, *bl, *sl set */
    CMH_SIGHDR_SHORT = 1,   /* fewer than 12 bytes (a known magic or < 4) */
    CMH_SIGHDR_FOREIGN = 2, /* 4+ bytes, not a librsync magic */
};
/** Classify the first @p got (<= 12 used) bytes @p hdr of a .SIG. */
int cmh__sig_header_parse(const unsigned char *hdr, size_t got,
                          uint32_t *magic, uint32_t *bl, uint32_t *sl);
/** Are block length @p bl and strong-sum length @p sl possible for
 *  @p magic (0 < bl <= INT32_MAX, as librsync reads it; 0 < sl <= 16
 *  for MD4, 32 for BLAKE2)? */
bool cmh__sig_params_ok(uint32_t magic, uint32_t bl, uint32_t sl);
/** Length of a signature of a @p size-byte file: 12-byte header plus one
 *  (4 + sl)-byte record per block; 0 when bl is 0, UINT64_MAX when it
 *  would not fit 64 bits (a crafted Size= must not wrap to a match). */
uint64_t cmh__sig_expected_len(uint32_t bl, uint32_t sl, uint64_t size);

#endif
