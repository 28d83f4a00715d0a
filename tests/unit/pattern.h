/* Deterministic test bytes (xorshift32) for the unit tests. */
#ifndef CMHASH_TEST_PATTERN_H
#define CMHASH_TEST_PATTERN_H

#include <stdint.h>
#include <stdlib.h>

/* @p n bytes from @p seed (0 counts as 1); caller frees. */
static inline uint8_t *pattern(size_t n, uint32_t seed)
{
    uint8_t *b = malloc(n ? n : 1);
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (uint8_t)x;
    }
    return b;
}

#endif
