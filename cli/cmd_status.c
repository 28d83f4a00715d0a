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

/* The parsed command line of status. */
typedef struct status_args {
    cmh_dp_opts o;
    st_out s;
    const char **libs; /* --lib values, each library once (malloc'd) */
    size_t nlibs;
    bool watch;
    double interval;
} status_args;

/* Add --lib DIR unless the same library (any spelling) is there already. */
static void add_lib(status_args *a, const char *lib)
{
    bool dup = false;
    char *p = realpath(lib, NULL);
    for (size_t i = 0; p && i < a->nlibs && !dup; i++) {
        char *q = realpath(a->libs[i], NULL);
        dup = q && !strcmp(p, q);
        free(q);
    }
    free(p);
    if (!dup)
        a->libs[a->nlibs++] = lib;
}

/* One option of getopt_long; -1 to go on, else the exit code. */
static int parse_option(status_args *a, int c, char **argv)
{
    switch (c) {
    case 'l': add_lib(a, optarg); break;
    case CLI_OPT_FILELIB:
        if (!cli_filelib_add(optarg))
            return EXIT_IO;
        break;
    case 'q': a->o.flags |= CMH_DP_QUICK; break;
    case 'w': a->watch = a->s.watch = true; break;
    case 'i': {
        char *end;
        a->interval = strtod(optarg, &end);
        if (*end || !(a->interval > 0 && a->interval <= 86400)) {
            cli_error("--interval must be seconds from 0 to 86400, not "
                      "'%s'", optarg);
            return EXIT_USAGE;
        }
        break;
    }
    case 'j': a->s.json = true; break;
    case 'h': fputs(status_usage, stdout); return EXIT_OK;
    default: return cli_bad_option("status", argv);
    }
    return -1;
}

/* Fill A from the command line; -1 to go on, else the exit code. */
static int parse_args(status_args *a, int argc, char **argv)
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
    int c, rc;
    if (!a->libs) {
        cli_error("out of memory");
        return EXIT_IO;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
        if ((rc = parse_option(a, c, argv)) >= 0)
            return rc;
    if (argc - optind != 1)
        return cli_usage("status", "status takes one PKGID");
    if (!a->nlibs)
        a->libs[a->nlibs++] = cli_lib_default(NULL);
    a->o.pkgid = argv[optind];
    a->o.libs = a->libs;
    a->o.nlibs = a->nlibs;
    return -1;
}

/* Report once, then with --watch again on every change until
 * interrupted; the exit code of the last report. */
static int run(status_args *a, cmh_ctx *ctx)
{
    cmh_dp_watch *w = NULL;
    int polling = 0, rc;
    if (a->watch) {
        cli_install_signals();
        cmh_status st = cmh_dp_watch_new(&w, &polling, ctx, a->libs,
                                         a->nlibs);
        if (st)
            return cli_fail(ctx, st, "status", a->s.json);
        if (polling)
            cli_warning("inotify is unavailable; polling every %g s",
                        a->interval);
    }
    rc = report(ctx, &a->o, &a->s);
    while (a->watch && !cli_interrupted && rc != EXIT_USAGE) {
        int changed = 0;
        /* short waits so SIGINT/SIGTERM end the watch promptly */
        cmh_dp_watch_wait(&changed, w, 0.5, a->interval);
        if (changed && !cli_interrupted)
            rc = report(ctx, &a->o, &a->s);
    }
    cmh_dp_watch_free(w);
    return rc;
}

int cmd_status(int argc, char **argv)
{
    status_args a = {.o = CMH_DP_OPTS_INIT, .interval = 2};
    a.libs = calloc((size_t)argc + 1, sizeof *a.libs);
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0) {
        free(a.libs);
        return rc;
    }
    a.o.lib = (cmh_dp_lib_hook){on_lib, &a.s};
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx) {
        free(a.libs);
        return EXIT_IO;
    }
    rc = run(&a, ctx);
    cmh_ctx_free(ctx);
    free(a.libs);
    return rc;
}
