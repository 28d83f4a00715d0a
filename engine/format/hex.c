/* Hex digests: the one decoder (encoding is cmh_hex_upper, util.c). */
#include "format.h"

int cmh__hex_nibble(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool cmh__hex64_decode(const char *s, uint8_t out[CMH_SHA256_LEN])
{
    for (int i = 0; i < CMH_SHA256_LEN; i++) {
        int hi = cmh__hex_nibble(s[2 * i]);
        int lo = hi < 0 ? -1 : cmh__hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}
