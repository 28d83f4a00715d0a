/* Fuzz target: the .SIG checks verify makes (engine/format/format.h) on
 * arbitrary signature bytes. Input: 8 bytes little-endian data-file size
 * (what the file INIs' Size= would say), then the .SIG bytes.
 * Asserts: the expected length never wraps (compared with 128-bit
 * arithmetic), and a signature verify accepts (librsync magic, possible
 * parameters, length matching the file size) is one librsync itself loads
 * with the block count the length implies - so `cmhash delta` can use
 * every .SIG that `cmhash verify` calls good. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librsync.h>

#include "format/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        rs_trace_set_level(RS_LOG_EMERG); /* librsync's own complaints */
        quiet = 1;
    }
    if (size < 8)
        return 0;
    uint64_t dsize = 0;
    for (int i = 7; i >= 0; i--)
        dsize = dsize << 8 | data[i];
    const unsigned char *sig = data + 8;
    size_t slen = size - 8;
    uint32_t magic = 0, bl = 0, sl = 0;
    int h = cmh__sig_header_parse(sig, slen < 12 ? slen : 12, &magic, &bl,
                                  &sl);
    if (h != CMH_SIGHDR_OK && h != CMH_SIGHDR_SHORT &&
        h != CMH_SIGHDR_FOREIGN)
        abort();
    if ((h == CMH_SIGHDR_OK) != (slen >= 12 && h != CMH_SIGHDR_FOREIGN))
        abort();
    if (h != CMH_SIGHDR_OK || !cmh__sig_params_ok(magic, bl, sl))
        return 0;
    uint64_t exp = cmh__sig_expected_len(bl, sl, dsize);
    unsigned __int128 blocks = ((unsigned __int128)dsize + bl - 1) / bl;
    unsigned __int128 ref = 12 + blocks * (4 + (unsigned __int128)sl);
    if (ref < UINT64_MAX ? exp != (uint64_t)ref : exp != UINT64_MAX)
        abort();
    if (exp != slen)
        return 0; /* verify: SIG_BAD (length) */
    /* verify calls this signature good: librsync must load it */
    FILE *f = fmemopen((void *)sig, slen, "rb");
    if (!f)
        return 0;
    rs_signature_t *s = NULL;
    rs_stats_t st;
    rs_result r = rs_loadsig_file(f, &s, &st);
    fclose(f);
    if (r != RS_DONE) {
        fprintf(stderr, "verify accepts a .SIG librsync rejects: %s "
                "(magic %08x block %u strong %u, %zu bytes)\n",
                rs_strerror(r), magic, bl, sl, slen);
        abort();
    }
    if ((uint64_t)st.sig_blocks != (uint64_t)blocks) {
        fprintf(stderr, "block count %lld, length implies %llu\n",
                (long long)st.sig_blocks, (unsigned long long)blocks);
        abort();
    }
    if (rs_build_hash_table(s) != RS_DONE)
        abort();
    rs_free_sumset(s);
    return 0;
}
