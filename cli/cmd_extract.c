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
    "  --json[=FILE] one JSON object on stdout, or in FILE\n"
    "  --progress    always show progress on stderr\n"
    "  --quiet       never show progress\n"
    "  --log FILE    append CMTrace-format log lines to FILE\n"
    "\n"
    "Exit codes: 0 ok, 2 usage (bad ID, DEST not empty), 4 library problem\n"
    "(content missing, damaged or crafted mirror, corrupt FileLib file),\n"
    "5 I/O error writing DEST, 7 interrupted.\n";

/* Fill O (and *json, *prog_mode) from the command line; -1 to go on,
 * else the exit code. */
static int parse_args(int argc, char **argv, cmh_extract_opts *o,
                      bool *json, int *prog_mode)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        CLI_FILELIB_OPT,
        {"force", no_argument, NULL, 'f'},
        CLI_OPT_JSON,
        {"progress", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *lib = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lib = optarg; break;
        case CLI_OPT_FILELIB:
            if (!cli_filelib_add(optarg))
                return EXIT_IO;
            break;
        case 'f': o->flags |= CMH_EXTRACT_FORCE; break;
        case 'j': *json = true; break;
        case 'p': *prog_mode = 1; break;
        case 'q': *prog_mode = -1; break;
        case 'h': fputs(extract_usage, stdout); return EXIT_OK;
        default: return cli_bad_option("extract", argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage("extract", "extract takes ID and DEST");
    o->lib = cli_lib_default(lib);
    o->id = argv[optind];
    o->dest = argv[optind + 1];
    return -1;
}

static void print_json(const cmh_extract_result *r,
                       const cmh_extract_opts *o)
{
    printf("{\"command\":\"extract\",\"content_id\":");
    json_str(stdout, r->content_id);
    printf(",\"library\":");
    json_path(stdout, o->lib);
    printf(",\"dest\":");
    json_path(stdout, o->dest);
    printf(",\"files\":%llu,\"folders\":%llu,\"bytes\":%llu,"
           "\"content_hash\":\"%s\",\"verified\":%s,"
           "\"seconds\":%.3f}\n",
           (unsigned long long)r->files, (unsigned long long)r->folders,
           (unsigned long long)r->bytes, r->content_hash,
           r->tree_verified ? "true" : "false", r->seconds);
}

static void print_text(const cmh_extract_result *r, const char *dest)
{
    cli_say("Extracted content %s to %s: %llu files, %llu folders, "
            "%llu bytes\n", r->content_id, dest,
            (unsigned long long)r->files, (unsigned long long)r->folders,
            (unsigned long long)r->bytes);
    if (!r->content_hash[0]) /* several contents, DEST/<ID>/ each */
        cli_say("Every content was checked against its hash for "
                "algorithm 32780%s\n", r->tree_verified ? " (verified)"
                : ", file by file (the folders also hold other entries)");
    else if (r->tree_verified)
        cli_say("The hash for algorithm 32780 is %s (verified)\n",
                r->content_hash);
    else
        cli_say("The hash for algorithm 32780 is %s; every file "
                "written was checked, but %s also holds other entries, "
                "so the tree as a whole differs\n", r->content_hash, dest);
}

int cmd_extract(int argc, char **argv)
{
    cmh_extract_opts o = CMH_EXTRACT_OPTS_INIT;
    bool json = false;
    int prog_mode = 0;
    int rc = parse_args(argc, argv, &o, &json, &prog_mode);
    if (rc >= 0)
        return rc;
    progress pr;
    progress_init(&pr, json ? -1 : prog_mode);
    o.progress = (cmh_progress_hook){progress_cb, &pr};
    cli_install_signals();
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx)
        return EXIT_IO;
    cmh_extract_result r;
    cmh_status st = cmh_extract(&r, ctx, &o);
    progress_done(&pr);
    rc = EXIT_OK;
    if (st)
        rc = cli_fail(ctx, st, "extract", json);
    else if (json)
        print_json(&r, &o);
    else
        print_text(&r, o.dest);
    cmh_ctx_free(ctx);
    return rc;
}
