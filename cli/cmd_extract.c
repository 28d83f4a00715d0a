/* cmhash extract ID DEST */
#include "cli.h"

#include <cmhash/extract.h>
#include <getopt.h>
#include <string.h>

static const char extract_usage[] =
    "usage: cmhash extract ID DEST [options]\n"
    "Rebuild the source tree of content ID (MSC0000B.2, or a package ID for\n"
    "its current version) in DEST: every folder, file bytes from FileLib,\n"
    "last-write times and the read-only bit. Each file's hash and the\n"
    "content hash of the result are checked.\n"
    "\n"
    "  --lib DIR     content library (default $CMHASH_LIB, else\n"
    "                ./SCCMContentLib)\n"
    CLI_FILELIB_HELP
    "  --force       write into a DEST that is not empty\n"
    "  --json        print one JSON object\n"
    "  --progress    always show progress on stderr\n"
    "  --quiet       never show progress\n"
    "  --log FILE    append CMTrace-format log lines to FILE\n"
    "\n"
    "Exit codes: 0 ok, 2 usage (bad ID, DEST not empty), 4 library problem\n"
    "(content missing, damaged or crafted mirror, corrupt FileLib file),\n"
    "5 I/O error writing DEST, 7 interrupted.\n";

int cmd_extract(int argc, char **argv)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        CLI_FILELIB_OPT,
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"progress", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cmh_extract_opts o = CMH_EXTRACT_OPTS_INIT;
    const char *lib = NULL;
    bool json = false;
    int prog_mode = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lib = optarg; break;
        case CLI_OPT_FILELIB:
            if (!cli_filelib_add(optarg))
                return EXIT_IO;
            break;
        case 'f': o.flags |= CMH_EXTRACT_FORCE; break;
        case 'j': json = true; break;
        case 'p': prog_mode = 1; break;
        case 'q': prog_mode = -1; break;
        case 'h': fputs(extract_usage, stdout); return EXIT_OK;
        default: fputs(extract_usage, stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        cli_error("extract takes ID and DEST; see cmhash help extract");
        return EXIT_USAGE;
    }
    o.lib = cli_lib_default(lib);
    o.id = argv[optind];
    o.dest = argv[optind + 1];
    progress pr;
    progress_init(&pr, json ? -1 : prog_mode);
    o.progress = progress_cb;
    o.payload = &pr;
    cli_install_signals();
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx)
        return EXIT_IO;
    cmh_extract_result r;
    cmh_status st = cmh_extract(ctx, &o, &r);
    progress_done(&pr);
    int rc = EXIT_OK;
    if (st) {
        rc = cli_fail(ctx, st, "extract", json);
    } else if (json) {
        printf("{\"command\":\"extract\",\"content_id\":");
        json_str(stdout, r.content_id);
        printf(",\"library\":");
        json_str(stdout, o.lib);
        printf(",\"dest\":");
        json_str(stdout, o.dest);
        printf(",\"files\":%llu,\"folders\":%llu,\"bytes\":%llu,"
               "\"content_hash\":\"%s\",\"verified\":true,"
               "\"seconds\":%.3f}\n",
               (unsigned long long)r.files, (unsigned long long)r.folders,
               (unsigned long long)r.bytes, r.content_hash, r.seconds);
    } else {
        cli_say("Extracted content %s to %s: %llu files, %llu folders, "
                "%llu bytes\n", r.content_id, o.dest,
                (unsigned long long)r.files, (unsigned long long)r.folders,
                (unsigned long long)r.bytes);
        if (r.content_hash[0]) /* empty: several contents, DEST/<ID>/ */
            cli_say("The hash for algorithm 32780 is %s (verified)\n",
                    r.content_hash);
    }
    cmh_ctx_free(ctx);
    return rc;
}
