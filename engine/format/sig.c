/* .SIG files (contentlib.md section 6.1): header classification and the
 * length a librsync signature of a file must have. Pure functions on bytes
 * (tests/fuzz/fuzz_sig.c reaches exactly what verify runs). */
#include "format.h"

#define SIG_MD4 0x72730136u
#define SIG_BLAKE2 0x72730137u
#define SIG_RK_MD4 0x72730146u
#define SIG_RK_BLAKE2 0x72730147u

const unsigned char cmh__rdc_sig_header[CMH_RDC_SIG_HEADER_LEN] = {
    0x18, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static bool sig_magic_known(uint32_t m)
{
    return m == SIG_MD4 || m == SIG_BLAKE2 || m == SIG_RK_MD4 ||
           m == SIG_RK_BLAKE2;
}

int cmh__sig_header_parse(const unsigned char *hdr, size_t got,
                          uint32_t *magic, uint32_t *bl, uint32_t *sl)
{
    if (got >= 4 && !sig_magic_known(be32(hdr)))
        return CMH_SIGHDR_FOREIGN;
    if (got < 12)
        return CMH_SIGHDR_SHORT;
    *magic = be32(hdr);
    *bl = be32(hdr + 4);
    *sl = be32(hdr + 8);
    return CMH_SIGHDR_OK;
}

bool cmh__sig_params_ok(uint32_t magic, uint32_t bl, uint32_t sl)
{
    uint32_t maxsl = (magic == SIG_MD4 || magic == SIG_RK_MD4) ? 16 : 32;
    /* librsync reads the block length as an int: above INT32_MAX it
     * calls the signature corrupt, so delta could not use it */
    return bl != 0 && bl <= INT32_MAX && sl != 0 && sl <= maxsl;
}

uint64_t cmh__sig_expected_len(uint32_t bl, uint32_t sl, uint64_t size)
{
    if (!bl)
        return 0;
    uint64_t blocks = size / bl + (size % bl != 0);
    uint64_t rec = 4 + (uint64_t)sl;
    if (blocks > (UINT64_MAX - 12) / rec)
        return UINT64_MAX;
    return 12 + blocks * rec;
}

bool cmh__sig_is_rdc(const unsigned char *hdr, size_t got)
{
    return got >= CMH_RDC_SIG_HEADER_LEN &&
           !memcmp(hdr, cmh__rdc_sig_header, CMH_RDC_SIG_HEADER_LEN);
}
