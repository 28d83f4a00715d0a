/* cmhash status PKGID --lib LIB1 --lib LIB2 ... [--watch] */
#include "cli.h"

#include <cmhash/dpstatus.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char status_usage[] =
    "usage: cmhash status PKGID --lib LIB1 [--lib LIB2 ...] [options]\n"
    "Package status over several distribution points' libraries: per\n"
    "library whether the package's targeted version (the highest any of\n"
    "them holds) is present and its files pass a verify; totals Targeted\n"
    "(libraries) and Installed (present and valid), \"distributed\" when\n"
    "equal.\n"
    "\n"
    "  --lib DIR       a library (repeat for each distribution point;\n"
    "                  default $CMHASH_LIB, else ./SCCMContentLib)\n"
    CLI_FILELIB_HELP
    "  --quick         verify's index-only pass: INIs, sizes, references\n"
    "                  (no file data read)\n"
    "  --watch         report again whenever a library changes (inotify;\n"
    "                  polling where unavailable) until interrupted\n"
    "  --interval S    polling period in seconds (default 2)\n"
    "  --json[=FILE]   one JSON object per report\n"
    "  --log FILE      append CMTrace-format log lines to FILE\n"
    "\n"
    "Exit codes: 0 distributed, 1 not distributed, 2 usage, 5 I/O error.\n";

typedef struct st_out {
    bool json;
    bool watch; /* text lines get a timestamp */
    size_t n;
    size_t absent; /* libraries without the package's PkgLib INI */
} st_out;

static int on_lib(const cmh_dp_lib *l, void *payload)
{
    st_out *s = payload;
    if (l->absent)
        s->absent++;
    if (s->json) {
        printf("%s{\"library\":", s->n++ ? "," : "");
        json_path(stdout, l->lib);
        printf(",\"version\":%u,\"content_id\":", l->version);
        json_str(stdout, l->content_id);
        printf(",\"present\":%s,\"installed\":%s,\"problem\":",
               l->present ? "true" : "false", l->valid ? "true" : "false");
        if (l->problem)
            json_str(stdout, l->problem);
        else
            fputs("null", stdout);
        putchar('}');
        return 0;
    }
    if (l->valid)
        cli_say("  %-40s installed      %s\n", l->lib, l->content_id);
    else
        cli_say("  %-40s not installed  %s\n", l->lib,
                l->problem ? l->problem : "");
    return 0;
}

static int report(cmh_ctx *ctx, cmh_dp_opts *o, st_out *s)
{
    cmh_dp_result r;
    s->n = 0;
    s->absent = 0;
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (s->json) {
        printf("{\"command\":\"status\",\"time\":\"%s\",\"libraries\":[",
               when);
    }
    cmh_status st = cmh_dp_status(&r, ctx, o);
    if (st) {
        if (s->json)
            printf("]}\n");
        fflush(stdout);
        return cli_fail(ctx, st, "status", false);
    }
    if (r.target_version == 0 && s->absent == o->nlibs) {
        /* in none of the libraries: not "version 0, not distributed" */
        if (s->json)
            printf("]}\n");
        cli_error("package %s is in none of the %zu libraries; check the "
                  "ID and --lib", r.pkgid, o->nlibs);
        fflush(stdout);
        return EXIT_LIBRARY;
    }
    if (s->json) {
        printf("],\"package_id\":\"%s\",\"target_version\":%u,\"targeted\":%u,"
               "\"installed\":%u,\"distributed\":%s}\n", r.pkgid,
               r.target_version, r.targeted, r.installed,
               r.distributed ? "true" : "false");
    } else {
        cli_say("%s%sPackage %s version %u: Targeted %u, Installed %u: %s\n",
                s->watch ? when : "", s->watch ? " " : "",
                r.pkgid, r.target_version, r.targeted, r.installed,
                r.distributed ? "distributed" : "not distributed");
    }
    fflush(stdout);
    return r.distributed ? EXIT_OK : EXIT_FINDINGS;
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        CLI_FILELIB_OPT,
        {"quick", no_argument, NULL, 'q'},
        {"watch", no_argument, NULL, 'w'},
        {"interval", required_argument, NULL, 'i'},
        CLI_OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **libs = calloc((size_t)argc + 1, sizeof *libs);
    size_t nlibs = 0;
    bool watch = false;
    double interval = 2;
    st_out s = {false, false, 0, 0};
    cmh_dp_opts o = CMH_DP_OPTS_INIT;
    int c, rc = EXIT_OK;
    if (!libs) {
        cli_error("out of memory");
        return EXIT_IO;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': {
            /* the same library twice (any spelling) is one target */
            bool dup = false;
            char *a = realpath(optarg, NULL);
            for (size_t i = 0; a && i < nlibs && !dup; i++) {
                char *b = realpath(libs[i], NULL);
                dup = b && !strcmp(a, b);
                free(b);
            }
            free(a);
            if (!dup)
                libs[nlibs++] = optarg;
            break;
        }
        case CLI_OPT_FILELIB:
            if (!cli_filelib_add(optarg))
                return EXIT_IO;
            break;
        case 'q': o.flags |= CMH_DP_QUICK; break;
        case 'w': watch = s.watch = true; break;
        case 'i': {
            char *end;
            interval = strtod(optarg, &end);
            if (*end || !(interval > 0 && interval <= 86400)) {
                cli_error("--interval must be seconds from 0 to 86400, not "
                          "'%s'", optarg);
                free(libs);
                return EXIT_USAGE;
            }
            break;
        }
        case 'j': s.json = true; break;
        case 'h': fputs(status_usage, stdout); free(libs); return EXIT_OK;
        default: free(libs); return cli_bad_option("status", argv);
        }
    }
    if (argc - optind != 1) {
        free(libs);
        return cli_usage("status", "status takes one PKGID");
    }
    if (!nlibs)
        libs[nlibs++] = cli_lib_default(NULL);
    o.pkgid = argv[optind];
    o.libs = libs;
    o.nlibs = nlibs;
    o.lib = (cmh_dp_lib_hook){on_lib, &s};
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx) {
        free(libs);
        return EXIT_IO;
    }
    cmh_dp_watch *w = NULL;
    int polling = 0;
    if (watch) {
        cli_install_signals();
        cmh_status st = cmh_dp_watch_new(&w, &polling, ctx, libs, nlibs);
        if (st) {
            rc = cli_fail(ctx, st, "status", s.json);
            goto out;
        }
        if (polling)
            cli_warning("inotify is unavailable; polling every %g s",
                        interval);
    }
    rc = report(ctx, &o, &s);
    while (watch && !cli_interrupted && rc != EXIT_USAGE) {
        int changed = 0;
        /* short waits so SIGINT/SIGTERM end the watch promptly */
        cmh_dp_watch_wait(&changed, w, 0.5, interval);
        if (changed && !cli_interrupted)
            rc = report(ctx, &o, &s);
    }
out:
    cmh_dp_watch_free(w);
    cmh_ctx_free(ctx);
    free(libs);
    return rc;
}
