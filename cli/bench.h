/* cmhash bench (cmd_bench.c runs the measurements, bench_report.c prints
 * them): what the two share. */
#ifndef CMHASH_CLI_BENCH_H
#define CMHASH_CLI_BENCH_H

#include "cli.h"

#include "benchkit.h"

#define MAX_THREADS_LIST 16
enum { NKINDS = 4 };
/* The CPU rows, in output order. */
extern const cmh_bench_kind bench_kinds[NKINDS];

/* The command line. */
typedef struct bench_args {
    const char *dir, *shape;
    double libsize, scale;
    unsigned long read_mb, cpu_mb, file_mb;
    unsigned tlist[MAX_THREADS_LIST];
    size_t nt;
    unsigned ncpu;
    bool json, keep, no_fsync;
} bench_args;

typedef struct e2e {
    unsigned threads;
    double snap_s;
    int verify_rc;    /* exit code `cmhash verify` would give */
    double verify_s;
    int cold_rc;      /* verify after evicting the library; -1 = not run */
    double cold_s;
    double single_s;  /* snapshot of the one large file */
} e2e;

/* Everything measured. */
typedef struct bench_res {
    double cpu[NKINDS][MAX_THREADS_LIST]; /* [kind][thread-count index] */
    cmh_bench_read_result rd;
    cmh_bench_stages sg;
    cmh_bench_corpus_stats cs;
    e2e runs[MAX_THREADS_LIST];
} bench_res;

/* The scratch folders under --dir. */
typedef struct bench_paths {
    char *work, *corpus, *lib, *single;
    size_t dl;
} bench_paths;

/* The conclusion drawn from the measurements. */
typedef struct verdict {
    double cpu_ceiling, storage, best_verify, est, hours;
    unsigned best_t;
    bool storage_bound;
} verdict;

/* The report on stdout: one JSON object, or the text table. */
void bench_print_json(FILE *o, const bench_args *a, const bench_res *r,
                      const verdict *v);
void bench_print_text(FILE *o, const bench_args *a, const bench_res *r,
                      const verdict *v);

#endif
