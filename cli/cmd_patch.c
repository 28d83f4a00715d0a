/* cmhash patch BASEDIR DELTADIR OUTDIR */
#include "cli.h"

#include <cmhash/delta.h>
#include <getopt.h>

static const char patch_usage[] =
    "usage: cmhash patch BASEDIR DELTADIR OUTDIR [options]\n"
    "Rebuild the new version of a content in OUTDIR from the old version's\n"
    "tree BASEDIR (e.g. from `cmhash extract`) and DELTADIR (from `cmhash\n"
    "delta`). Every file's SHA-256 and the content hash of OUTDIR are\n"
    "checked against the manifest.\n"
    "\n"
    "  --json[=FILE] one JSON object on stdout, or in FILE\n"
    "  --log FILE    append CMTrace-format log lines to FILE\n"
    "\n"
    "Exit codes: 0 ok, 2 usage (OUTDIR not empty), 3 BASEDIR or DELTADIR\n"
    "missing, damaged or not matching, 5 I/O error writing OUTDIR.\n";

int cmd_patch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': fputs(patch_usage, stdout); return EXIT_OK;
        default: return cli_bad_option("patch", argv);
        }
    }
    if (argc - optind != 3) {
        cli_error("patch takes BASEDIR, DELTADIR and OUTDIR; see cmhash "
                  "help patch");
        return EXIT_USAGE;
    }
    cmh_patch_opts o = CMH_PATCH_OPTS_INIT;
    o.base = argv[optind];
    o.delta = argv[optind + 1];
    o.out = argv[optind + 2];
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx)
        return EXIT_IO;
    cmh_patch_result r;
    cmh_status st = cmh_patch(&r, ctx, &o);
    int rc = EXIT_OK;
    if (st) {
        rc = cli_fail(ctx, st, "patch", json);
    } else if (json) {
        printf("{\"command\":\"patch\",\"content_id\":");
        json_str(stdout, r.to_id);
        printf(",\"out\":");
        json_path(stdout, o.out);
        printf(",\"files\":%llu,\"folders\":%llu,\"bytes\":%llu,"
               "\"content_hash\":\"%s\",\"verified\":true,"
               "\"seconds\":%.3f}\n",
               (unsigned long long)r.files, (unsigned long long)r.folders,
               (unsigned long long)r.bytes, r.content_hash, r.seconds);
    } else {
        cli_say("Rebuilt %s in %s: %llu files, %llu folders, %llu bytes\n",
                r.to_id, o.out, (unsigned long long)r.files,
                (unsigned long long)r.folders, (unsigned long long)r.bytes);
        cli_say("The hash for algorithm 32780 is %s (verified)\n",
                r.content_hash);
    }
    cmh_ctx_free(ctx);
    return rc;
}
