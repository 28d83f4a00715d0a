/* gen_corpus: write a deterministic benchmark corpus (cmh_bench_corpus).
 *
 *   gen_corpus SHAPE DIR [--scale F] [--seed N]
 *
 * SHAPE is large, mixed or tiny (bench/kit/benchkit.h). Prints one JSON
 * object with what was written. */
#include <cmhash/cmhash.h>

#include "benchkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    cmh_bench_corpus_opts o = CMH_BENCH_CORPUS_OPTS_INIT;
    const char *dir = NULL;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            o.scale = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            o.seed = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && pos == 0) {
            o.shape = argv[i];
            pos++;
        } else if (argv[i][0] != '-' && pos == 1) {
            dir = argv[i];
            pos++;
        } else {
            pos = -1;
            break;
        }
    }
    if (pos != 2) {
        fputs("usage: gen_corpus large|mixed|tiny DIR [--scale F] "
              "[--seed N]\n", stderr);
        return 2;
    }
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK)
        return 1;
    cmh_bench_corpus_stats s;
    cmh_status st = cmh_bench_corpus(ctx, dir, &o, &s);
    if (st != CMH_OK) {
        fprintf(stderr, "gen_corpus: %s\n", cmh_ctx_last_error(ctx));
        cmh_ctx_free(ctx);
        return st == CMH_E_INVALID ? 2 : 1;
    }
    printf("{\"shape\":\"%s\",\"scale\":%g,\"seed\":%llu,\"files\":%llu,"
           "\"folders\":%llu,\"bytes\":%llu,\"empty_files\":%llu,"
           "\"empty_folders\":%llu,\"duplicates\":%llu,\"largest\":%llu,"
           "\"seconds\":%.3f}\n",
           o.shape, o.scale, (unsigned long long)o.seed,
           (unsigned long long)s.files, (unsigned long long)s.folders,
           (unsigned long long)s.bytes, (unsigned long long)s.empty_files,
           (unsigned long long)s.empty_folders,
           (unsigned long long)s.duplicates, (unsigned long long)s.largest,
           s.seconds);
    cmh_ctx_free(ctx);
    return 0;
}
