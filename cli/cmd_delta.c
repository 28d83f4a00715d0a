/* cmhash delta ID_OLD ID_NEW OUTDIR */
#include "cli.h"

#include <cmhash/delta.h>
#include <getopt.h>

static const char delta_usage[] =
    "usage: cmhash delta ID_OLD ID_NEW OUTDIR [options]\n"
    "Binary delta replication: write into OUTDIR what turns content ID_OLD\n"
    "into ID_NEW - a librsync delta for each changed file, computed from\n"
    "the old file's stored .SIG, whole copies of new files, and a MANIFEST\n"
    "of added, removed, unchanged and changed files. Keep older versions\n"
    "with `cmhash snapshot --keep N`. Apply with `cmhash patch`.\n"
    "\n"
    "  --lib DIR     content library (default $CMHASH_LIB, else\n"
    "                ./SCCMContentLib)\n"
    CLI_FILELIB_HELP
    "  --json[=FILE] one JSON object on stdout, or in FILE\n"
    "  --log FILE    append CMTrace-format log lines to FILE\n"
    "\n"
    "Exit codes: 0 ok, 2 usage (bad ID, OUTDIR not empty), 4 library\n"
    "problem (content missing or damaged), 5 I/O error.\n";

static void print_json(const cmh_delta_result *r, const char *outdir,
                       double pct)
{
    printf("{\"command\":\"delta\",\"from\":");
    json_str(stdout, r->from_id);
    printf(",\"to\":");
    json_str(stdout, r->to_id);
    printf(",\"outdir\":");
    json_path(stdout, outdir);
    printf(",\"from_hash\":\"%s\",\"to_hash\":\"%s\",\"unchanged\":%llu,"
           "\"copied\":%llu,\"changed\":%llu,\"full\":%llu,"
           "\"removed\":%llu,\"folders\":%llu,\"full_bytes\":%llu,"
           "\"delta_bytes\":%llu,\"send_bytes\":%llu,"
           "\"send_percent\":%.2f,\"signatures\":\"%s\","
           "\"foreign_signatures\":%llu,\"seconds\":%.3f}\n",
           r->from_hash, r->to_hash, (unsigned long long)r->unchanged,
           (unsigned long long)r->copied, (unsigned long long)r->changed,
           (unsigned long long)r->full, (unsigned long long)r->removed,
           (unsigned long long)r->folders,
           (unsigned long long)r->full_bytes,
           (unsigned long long)r->delta_bytes,
           (unsigned long long)r->send_bytes, pct,
           r->library_sigs_foreign ? "ms-rdc" : "librsync",
           (unsigned long long)r->foreign_sigs, r->seconds);
}

static void print_text(const cmh_delta_result *r, const char *outdir,
                       double pct)
{
    cli_say("Delta %s -> %s written to %s\n", r->from_id, r->to_id, outdir);
    cli_say("Files: %llu unchanged, %llu copied from other paths, %llu "
            "changed (delta), %llu sent whole, %llu removed\n",
            (unsigned long long)r->unchanged,
            (unsigned long long)r->copied, (unsigned long long)r->changed,
            (unsigned long long)r->full, (unsigned long long)r->removed);
    cli_say("Delta bytes %llu; to send %llu bytes of %llu full bytes "
            "(%.2f%%)\n", (unsigned long long)r->delta_bytes,
            (unsigned long long)r->send_bytes,
            (unsigned long long)r->full_bytes, pct);
    if (r->library_sigs_foreign)
        cli_say("Signatures: MS-RDC (Configuration Manager's), which "
                "librsync cannot use: %llu changed files sent whole\n",
                (unsigned long long)r->foreign_sigs);
}

int cmd_delta(int argc, char **argv)
{
    const char *lib = NULL;
    bool json = false;
    int rc = cli_parse_lib_json(argc, argv, "delta", delta_usage, &lib,
                                &json);
    if (rc >= 0)
        return rc;
    if (argc - optind != 3) {
        cli_error("delta takes ID_OLD, ID_NEW and OUTDIR; see cmhash help "
                  "delta");
        return EXIT_USAGE;
    }
    cmh_delta_opts o = CMH_DELTA_OPTS_INIT;
    o.lib = cli_lib_default(lib);
    o.from = argv[optind];
    o.to = argv[optind + 1];
    o.outdir = argv[optind + 2];
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx)
        return EXIT_IO;
    cmh_delta_result r;
    cmh_status st = cmh_delta(&r, ctx, &o);
    rc = EXIT_OK;
    double pct = r.full_bytes ? 100.0 * (double)r.send_bytes /
                                    (double)r.full_bytes
                              : 0.0;
    if (st)
        rc = cli_fail(ctx, st, "delta", json);
    else if (json)
        print_json(&r, o.outdir, pct);
    else
        print_text(&r, o.outdir, pct);
    cmh_ctx_free(ctx);
    return rc;
}
