/* primitives: the library's own CPU rates, no I/O.
 *
 *   primitives [--threads N] [--mib M] [--chunk KIB] [--size BYTES]
 *
 * For SHA-256, the librsync signature, and both fed from one pass, prints
 * one JSON line each: {"what":..,"threads":N,"mb_per_s":..}. --size is the
 * file size whose signature parameters are used (default 1 GiB: the
 * `large` shape's block length of 32 KiB). */
#include <cmhash/cmhash.h>

#include "benchkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    unsigned threads = 1;
    unsigned long mib = 512, chunk_kib = 256;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
            chunk_kib = strtoul(argv[++i], NULL, 10);
        else {
            fputs("usage: primitives [--threads N] [--mib M] "
                  "[--chunk KIB]\n", stderr);
            return 2;
        }
    }
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK)
        return 1;
    static const struct {
        const char *name;
        cmh_bench_kind kind;
    } kinds[] = {{"sha256", CMH_BENCH_SHA256},
                 {"sig", CMH_BENCH_SIG},
                 {"sha256+sig", CMH_BENCH_BOTH},
                 {"sig-librsync", CMH_BENCH_LIBRSYNC}};
    int rc = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        double rate;
        cmh_status st = cmh_bench_cpu(ctx, kinds[k].kind, threads,
                                      (uint64_t)mib << 20,
                                      (size_t)chunk_kib << 10, &rate);
        if (st != CMH_OK) {
            fprintf(stderr, "primitives: %s\n", cmh_ctx_last_error(ctx));
            rc = 1;
            break;
        }
        printf("{\"what\":\"%s\",\"threads\":%u,\"chunk_kib\":%lu,"
               "\"mib\":%lu,\"mb_per_s\":%.1f}\n",
               kinds[k].name, threads, chunk_kib, mib, rate / 1e6);
        fflush(stdout);
    }
    cmh_ctx_free(ctx);
    return rc;
}
