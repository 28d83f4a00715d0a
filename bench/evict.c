/* evict DIR...: drop every regular file under each DIR from the page cache
 * (posix_fadvise DONTNEED; cmh_bench_evict), so the next run reads from
 * storage - what a nightly audit of a library far larger than RAM sees.
 * Dropping the whole page cache needs root and is never attempted.
 * Prints the number of files evicted. */
#include "benchkit.h"
#include <cmhash/cmhash.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: evict DIR...\n", stderr);
        return 2;
    }
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK)
        return 5;
    unsigned long long total = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        uint64_t n = 0;
        if (cmh_bench_evict(ctx, argv[i], &n) != CMH_OK) {
            fprintf(stderr, "evict: %s\n", cmh_ctx_last_error(ctx));
            rc = 5;
        }
        total += n;
    }
    printf("%llu\n", total);
    cmh_ctx_free(ctx);
    return rc;
}
