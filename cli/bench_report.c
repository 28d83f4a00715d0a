/* The report of cmhash bench (bench.h): the JSON object and the text
 * table, from what cmd_bench.c measured. */
#include "bench.h"

/* Cold verify bound: the storage when the run reaches 0.8 of its direct
 * sequential read, else the CPU when SHA-256 on the threads is below the
 * storage, else the per-file cost (opens, small reads, seeks between
 * files: latency, not bandwidth). */
static const char *cold_bound(double rate, double storage, double cpu)
{
    if (rate >= 0.8 * storage)
        return "storage";
    if (cpu < storage && rate >= 0.8 * cpu)
        return "CPU (SHA-256)";
    return "per-file latency";
}

static const char *kind_name(cmh_bench_kind k)
{
    return k == CMH_BENCH_SHA256     ? "sha256"
           : k == CMH_BENCH_SIG      ? "signature"
           : k == CMH_BENCH_LIBRSYNC ? "signature-librsync"
                                     : "sha256+signature";
}

/* JSON: the CPU rows, the stage costs and the predicted single-file
 * rates, the storage and the corpus. */
static void json_measured(FILE *o, const bench_args *a, const bench_res *r)
{
    fprintf(o, "{\"command\":\"bench\",\"cpus\":%u,\"cpu\":[", a->ncpu);
    for (size_t k = 0; k < NKINDS; k++)
        for (size_t i = 0; i < a->nt; i++)
            fprintf(o, "%s{\"what\":\"%s\",\"threads\":%u,"
                       "\"mb_per_s\":%.1f}",
                    k || i ? "," : "", kind_name(bench_kinds[k]), a->tlist[i],
                    r->cpu[k][i] / 1e6);
    const cmh_bench_stages *sg = &r->sg;
    fprintf(o, "],\"stages\":{\"bytes\":%llu,\"sig_impl\":\"%s\","
               "\"cpu_s_per_gb\":{\"read\":%.3f,\"sha256\":%.3f,"
               "\"signature\":%.3f,\"store\":%.3f}},"
               "\"single_file_predicted\":[",
            (unsigned long long)sg->bytes, sg->sig_impl, sg->read,
            sg->sha256, sg->sig, sg->store);
    for (unsigned n = 1, first = 1; n <= 16; n *= 2, first = 0) {
        const char *b;
        double v = cmh_bench_predict_single(sg, n, &b);
        fprintf(o, "%s{\"threads\":%u,\"mb_per_s\":%.1f,\"bound\":\"%s\"}",
                first ? "" : ",", n, v / 1e6, b);
    }
    fprintf(o, "],\"storage\":{\"dir\":");
    json_str(o, a->dir);
    fprintf(o, ",\"method\":\"%s\",\"resident_fraction\":%.3f,"
               "\"read_mb_per_s\":%.1f,\"write_mb_per_s\":%.1f,"
               "\"bytes\":%llu},",
            r->rd.method, r->rd.resident_fraction,
            r->rd.read_bytes_per_s / 1e6, r->rd.write_bytes_per_s / 1e6,
            (unsigned long long)r->rd.bytes);
    fprintf(o, "\"corpus\":{\"shape\":");
    json_str(o, a->shape);
    fprintf(o, ",\"scale\":%g,\"files\":%llu,\"folders\":%llu,"
               "\"bytes\":%llu},\"fsync\":%s,\"runs\":[",
            a->scale, (unsigned long long)r->cs.files,
            (unsigned long long)r->cs.folders,
            (unsigned long long)r->cs.bytes, a->no_fsync ? "false" : "true");
}

/* JSON: one object of "runs". */
static void json_run(FILE *o, const bench_res *r, size_t i)
{
    const e2e *e = &r->runs[i];
    double bytes = (double)r->cs.bytes;
    fprintf(o, "%s{\"threads\":%u,\"snapshot_seconds\":%.3f,"
               "\"snapshot_mb_per_s\":%.1f,",
            i ? "," : "", e->threads, e->snap_s, bytes / e->snap_s / 1e6);
    const char *sb;
    double pred = cmh_bench_predict_single(&r->sg, e->threads, &sb);
    fprintf(o, "\"single_file_seconds\":%.3f,"
               "\"single_file_mb_per_s\":%.1f,"
               "\"single_file_predicted_mb_per_s\":%.1f,"
               "\"single_file_bound\":\"%s\",",
            e->single_s, (double)r->sg.bytes / e->single_s / 1e6,
            pred / 1e6, sb);
    fprintf(o, "\"verify_exit\":%d,\"verify_seconds\":%.3f,"
               "\"verify_mb_per_s\":%.1f,",
            e->verify_rc, e->verify_s, bytes / e->verify_s / 1e6);
    if (e->cold_rc < 0) {
        fprintf(o, "\"cold_verify\":null}");
        return;
    }
    double cr = bytes / e->cold_s;
    fprintf(o, "\"cold_verify_exit\":%d,\"cold_verify_seconds\":%.3f,"
               "\"cold_verify_mb_per_s\":%.1f,"
               "\"cold_verify_bound\":\"%s\"}",
            e->cold_rc, e->cold_s, cr / 1e6,
            cold_bound(cr, r->rd.read_bytes_per_s, r->cpu[0][i]));
}

void bench_print_json(FILE *o, const bench_args *a, const bench_res *r,
                      const verdict *v)
{
    json_measured(o, a, r);
    for (size_t i = 0; i < a->nt; i++)
        json_run(o, r, i);
    fprintf(o, "],\"verdict\":{\"bottleneck\":\"%s\","
               "\"cpu_ceiling_mb_per_s\":%.1f,"
               "\"storage_mb_per_s\":%.1f,"
               "\"verify_estimate_mb_per_s\":%.1f,"
               "\"library_bytes\":%.0f,\"hours\":%.2f}}\n",
            v->storage_bound ? "storage" : "cpu", v->cpu_ceiling / 1e6,
            v->storage / 1e6, v->est / 1e6, a->libsize, v->hours);
}

/* Text: the CPU table, the stage costs and the storage. */
static void text_measured(FILE *o, const bench_args *a, const bench_res *r)
{
    fprintf(o, "CPU (%u online), MB/s    ", a->ncpu);
    for (size_t i = 0; i < a->nt; i++)
        fprintf(o, " %3u thread%s", a->tlist[i],
                a->tlist[i] == 1 ? " " : "s");
    fputc('\n', o);
    for (size_t k = 0; k < NKINDS; k++) {
        fprintf(o, "  %-23s", kind_name(bench_kinds[k]));
        for (size_t i = 0; i < a->nt; i++)
            fprintf(o, " %11.0f", r->cpu[k][i] / 1e6);
        fputc('\n', o);
    }
    const cmh_bench_stages *sg = &r->sg;
    fprintf(o, "Stages of one large file, CPU seconds per GB on one "
               "thread (signature: %s)\n"
               "  read %.2f  SHA-256 %.2f  signature %.2f  store %.2f\n",
            sg->sig_impl, sg->read, sg->sha256, sg->sig, sg->store);
    fprintf(o, "  predicted single-file snapshot, MB/s:");
    for (unsigned n = 1; n <= 16; n *= 2)
        fprintf(o, " %u core%s %.0f%s", n, n == 1 ? "" : "s",
                cmh_bench_predict_single(sg, n, NULL) / 1e6,
                n < 16 ? "," : "\n");
    fprintf(o, "Storage under %s (page cache bypassed with %s; %.0f %% "
               "cached at start)\n",
            a->dir, r->rd.method, r->rd.resident_fraction * 100);
    fprintf(o, "  sequential read            %9.0f MB/s\n",
            r->rd.read_bytes_per_s / 1e6);
    fprintf(o, "  write + fsync              %9.0f MB/s\n",
            r->rd.write_bytes_per_s / 1e6);
}

/* Text: the corpus and its warm snapshot and verify per thread count. */
static void text_warm(FILE *o, const bench_args *a, const bench_res *r)
{
    char hb[32];
    double bytes = (double)r->cs.bytes;
    cli_human_bytes(hb, sizeof hb, bytes);
    fprintf(o, "Corpus: %s x %g, %llu files in %llu folders, %s "
               "(warm page cache)\n",
            a->shape, a->scale, (unsigned long long)r->cs.files,
            (unsigned long long)r->cs.folders, hb);
    fprintf(o, "  threads   snapshot%s           verify (warm)\n",
            a->no_fsync ? " (no fsync)" : " (fsync)  ");
    for (size_t i = 0; i < a->nt; i++) {
        const e2e *e = &r->runs[i];
        fprintf(o, "  %7u   %6.2f s %6.0f MB/s", e->threads, e->snap_s,
                bytes / e->snap_s / 1e6);
        if (e->verify_rc != 0)
            fprintf(o, "   failed (exit %d)\n", e->verify_rc);
        else
            fprintf(o, "   %6.2f s %6.0f MB/s\n", e->verify_s,
                    bytes / e->verify_s / 1e6);
    }
}

/* Text: cold verify and single-file snapshot per thread count. */
static void text_cold_single(FILE *o, const bench_args *a,
                             const bench_res *r)
{
    for (size_t i = 0; i < a->nt; i++) {
        const e2e *e = &r->runs[i];
        const char *s = e->threads == 1 ? "" : "s";
        if (e->cold_rc < 0)
            continue;
        if (e->cold_rc != 0) {
            fprintf(o, "Cold verify, %u thread%s: failed (exit %d)\n",
                    e->threads, s, e->cold_rc);
            continue;
        }
        double cr = (double)r->cs.bytes / e->cold_s;
        fprintf(o, "Cold verify, %u thread%s: %.2f s %.0f MB/s = %.2f x "
                   "the storage's direct read; bound: %s\n",
                e->threads, s, e->cold_s, cr / 1e6,
                cr / r->rd.read_bytes_per_s,
                cold_bound(cr, r->rd.read_bytes_per_s, r->cpu[0][i]));
    }
    char hb[32];
    cli_human_bytes(hb, sizeof hb, (double)r->sg.bytes);
    for (size_t i = 0; i < a->nt; i++) {
        const e2e *e = &r->runs[i];
        const char *sb;
        double pred = cmh_bench_predict_single(&r->sg, e->threads, &sb);
        fprintf(o, "Single-file snapshot (%s, warm%s), %u thread%s: "
                   "%.2f s %.0f MB/s, predicted %.0f; bound: %s\n",
                hb, a->no_fsync ? ", no fsync" : ", fsync", e->threads,
                e->threads == 1 ? "" : "s", e->single_s,
                (double)r->sg.bytes / e->single_s / 1e6, pred / 1e6,
                a->no_fsync ? sb : "storage (fsync of the copy)");
    }
}

void bench_print_text(FILE *o, const bench_args *a, const bench_res *r,
                      const verdict *v)
{
    text_measured(o, a, r);
    text_warm(o, a, r);
    text_cold_single(o, a, r);
    char ls[32];
    cli_human_bytes(ls, sizeof ls, a->libsize);
    if (v->best_t)
        fprintf(o, "Verdict: %s-bound (verify %.0f MB/s with %u threads "
                   "vs storage %.0f MB/s); verifying %s takes about "
                   "%.1f h\n",
                v->storage_bound ? "storage" : "CPU", v->best_verify / 1e6,
                v->best_t, v->storage / 1e6, ls, v->hours);
    else
        fprintf(o, "Verdict: %s-bound (SHA-256 on all cores %.0f MB/s "
                   "vs storage %.0f MB/s); verifying %s takes about "
                   "%.1f h\n",
                v->storage_bound ? "storage" : "CPU", v->cpu_ceiling / 1e6,
                v->storage / 1e6, ls, v->hours);
}

