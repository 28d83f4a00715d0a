/* cmhash hash PATH... | cmhash hash --sig FILE OUT */
#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

static const char hash_usage[] =
    "usage: cmhash hash PATH...\n"
    "       cmhash hash --sig FILE OUT\n"
    "For a file, print its upper-case SHA-256; for a folder, the content\n"
    "hash a snapshot of it would get (DataLib [Info] Hash). --sig writes\n"
    "the librsync signature of FILE to OUT (as `rdiff signature`).\n"
    "Exit codes: 0 ok, 2 usage, 3 unreadable path, 5 I/O error.\n";

int cmd_hash(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sig", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool sig = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': sig = true; break;
        case 'h': fputs(hash_usage, stdout); return EXIT_OK;
        default: fputs(hash_usage, stderr); return EXIT_USAGE;
        }
    }
    int n = argc - optind;
    if ((sig && n != 2) || (!sig && n < 1)) {
        fputs(hash_usage, stderr);
        return EXIT_USAGE;
    }
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK) {
        cli_error("cannot initialise OpenSSL's SHA-256");
        return EXIT_IO;
    }
    int rc = EXIT_OK;
    if (sig) {
        cmh_status st = cmh_sig_file(ctx, argv[optind], argv[optind + 1]);
        if (st) {
            cli_error("%s", cmh_ctx_last_error(ctx));
            rc = cli_exit_for(st);
        }
        cmh_ctx_free(ctx);
        return rc;
    }
    for (int i = optind; i < argc; i++) {
        struct stat sb;
        char hex[CMH_HEX_SIZE];
        cmh_status st;
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
            st = cmh_hash_dir(ctx, argv[i], hex);
        else
            st = cmh_hash_file(ctx, argv[i], hex);
        if (st) {
            cli_error("%s", cmh_ctx_last_error(ctx));
            if (rc == EXIT_OK)
                rc = cli_exit_for(st);
            continue;
        }
        printf("%s  %s\n", hex, argv[i]);
    }
    cmh_ctx_free(ctx);
    return rc;
}
