/* cmhash hash PATH... | cmhash hash --sig FILE OUT */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char hash_usage[] =
    "usage: cmhash hash PATH... [options]\n"
    "       cmhash hash --sig FILE OUT\n"
    "For a file, print its upper-case SHA-256; for a folder, the content\n"
    "hash a snapshot of it would get (DataLib [Info] Hash). A folder a\n"
    "snapshot would refuse (symbolic links, names Windows cannot hold) is\n"
    "refused the same way (exit 3).\n"
    "\n"
    "  --sig           write the librsync signature of FILE to OUT (as\n"
    "                  `rdiff signature`)\n"
    "  --unc-root DIR  where UNC paths (\\\\server\\share\\dir) are mounted\n"
    "                  (default $CMHASH_UNC_ROOT)\n"
    "  --json[=FILE]   one JSON object on stdout, or in FILE\n"
    "  --log FILE      append CMTrace-format log lines (with the hashes)\n"
    "\n"
    "Exit codes: 0 ok, 2 usage, 3 unreadable path or a folder a snapshot\n"
    "would refuse, 5 I/O error.\n";

/* hash --sig FILE OUT: the librsync signature of FILE. */
static int hash_sig(cmh_ctx *ctx, const char *file, const char *out,
                    bool json)
{
    int rc = EXIT_OK;
    cmh_status st = cmh_sig_file(ctx, file, out);
    if (st)
        rc = cli_fail(ctx, st, "hash", json);
    else if (json) {
        printf("{\"command\":\"hash\",\"signature_of\":");
        json_path(stdout, file);
        printf(",\"out\":");
        json_path(stdout, out);
        printf("}\n");
    }
    return rc;
}

/* Hash one PATH and report it: a line, or (with json) an item of the
 * list, FIRST without the comma; the exit code of PATH. */
static int hash_one(cmh_ctx *ctx, const char *path, const char *unc_root,
                    bool json, bool first)
{
    const char *err = NULL;
    char *local = cli_map_unc(path, unc_root, &err);
    char hex[CMH_HEX_SIZE];
    cmh_status st = CMH_E_SOURCE;
    bool dir = false;
    if (!local) {
        cli_error("%s %s", path, err);
    } else {
        struct stat sb;
        dir = stat(local, &sb) == 0 && S_ISDIR(sb.st_mode);
        st = dir ? cmh_hash_dir(hex, ctx, local)
                 : cmh_hash_file(hex, ctx, local);
        if (st)
            cli_error_ctx(ctx);
    }
    if (json) {
        printf("%s{\"path\":", first ? "" : ",");
        json_path(stdout, path);
        printf(",\"kind\":\"%s\"", dir ? "folder" : "file");
        if (st) {
            printf(",\"error\":");
            json_str(stdout, local ? cmh_ctx_last_error(ctx) : err);
            if (local)
                cli_json_details(ctx);
        } else {
            printf(",\"hash\":\"%s\"", hex);
        }
        printf("}");
    } else if (!st) {
        cli_say("%s  %s\n", hex, path);
    }
    int rc = !st ? EXIT_OK : local ? cli_exit_for(st) : EXIT_SOURCE;
    free(local);
    return rc;
}

/* Hash every PATH; the exit code of the first that failed. */
static int hash_paths(cmh_ctx *ctx, char **paths, int n,
                      const char *unc_root, bool json)
{
    int rc = EXIT_OK;
    if (json)
        printf("{\"command\":\"hash\",\"items\":[");
    for (int i = 0; i < n; i++) {
        int one = hash_one(ctx, paths[i], unc_root, json, i == 0);
        if (rc == EXIT_OK)
            rc = one;
    }
    if (json) {
        printf("]");
        if (rc) { /* the last failure, as in every command */
            printf(",\"error\":");
            json_str(stdout, cli_last_error());
        }
        printf(",\"exit_code\":%d}\n", rc);
        cli_json_error_done = true; /* the errors are in the items */
    }
    return rc;
}

int cmd_hash(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sig", no_argument, NULL, 's'},
        {"unc-root", required_argument, NULL, 'u'},
        CLI_OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool sig = false, json = false;
    const char *unc_root = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': sig = true; break;
        case 'u': unc_root = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(hash_usage, stdout); return EXIT_OK;
        default: return cli_bad_option("hash", argv);
        }
    }
    int n = argc - optind;
    if (sig && n != 2)
        return cli_usage("hash", "hash --sig takes FILE and OUT");
    if (!sig && n < 1)
        return cli_usage("hash", "hash takes at least one PATH");
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx)
        return EXIT_IO;
    int rc = sig ? hash_sig(ctx, argv[optind], argv[optind + 1], json)
                 : hash_paths(ctx, argv + optind, n, unc_root, json);
    cmh_ctx_free(ctx);
    return rc;
}
