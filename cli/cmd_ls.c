/* cmhash ls [PKGID...] */
#include "cli.h"

#include <cmhash/ls.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char ls_usage[] =
    "usage: cmhash ls [PKGID...] [options]\n"
    "List packages of a content library: current version, content ID,\n"
    "files, folders, bytes, distinct FileLib bytes (STORED: the current\n"
    "and the kept versions), content hash, kept versions; then library\n"
    "totals with the deduplication ratio (logical bytes / stored bytes).\n"
    "\n"
    "  --lib DIR     content library (default $CMHASH_LIB, else\n"
    "                ./SCCMContentLib)\n"
    CLI_FILELIB_HELP
    "  --long        also list each package's files (path, size,\n"
    "                attributes, modified time (UTC), hash)\n"
    "  --json[=FILE] one JSON object on stdout, or in FILE\n"
    "  --log FILE    append CMTrace-format log lines to FILE\n"
    "\n"
    "Exit codes: 0 ok, 2 usage or bad package ID, 4 not a library, a\n"
    "package not in it, or a damaged package (listed with the reason),\n"
    "5 I/O error.\n";

typedef struct ls_out {
    bool json, long_list;
    FILE *f;      /* JSON: memstream of the packages array */
    size_t npk, nfiles_in_pk;
    bool open_pk; /* JSON: a package object awaits its closing brace */
} ls_out;

static void filetime_iso(char *buf, size_t n, int64_t ft)
{
    int64_t secs = ft / 10000000LL - 11644473600LL;
    int frac = (int)(ft % 10000000LL);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%07dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
}

static void close_pk(ls_out *s)
{
    if (!s->open_pk)
        return;
    if (s->long_list)
        fputc(']', s->f);
    fputc('}', s->f);
    s->open_pk = false;
}

static int on_package(const cmh_ls_package *p, void *payload)
{
    ls_out *s = payload;
    if (s->json) {
        FILE *f = s->f;
        close_pk(s);
        fprintf(f, "%s{\"package_id\":", s->npk++ ? "," : "");
        json_str(f, p->pkgid);
        if (p->problem) {
            fprintf(f, ",\"problem\":");
            json_str(f, p->problem);
            fputc('}', f);
            return 0;
        }
        fprintf(f, ",\"version\":%u,\"content_id\":", p->version);
        json_str(f, p->content_id);
        fprintf(f, ",\"files\":%llu,\"folders\":%llu,\"bytes\":%llu,"
                "\"distinct_files\":%llu,\"stored_bytes\":%llu,"
                "\"content_hash\":\"%s\",\"kept\":[",
                (unsigned long long)p->files, (unsigned long long)p->folders,
                (unsigned long long)p->bytes,
                (unsigned long long)p->distinct_files,
                (unsigned long long)p->stored_bytes, p->content_hash);
        for (size_t i = 0; i < p->nkept; i++) {
            if (i)
                fputc(',', f);
            json_str(f, p->kept[i]);
        }
        fputc(']', f);
        if (s->long_list)
            fprintf(f, ",\"file_list\":[");
        s->open_pk = true;
        s->nfiles_in_pk = 0;
        return 0;
    }
    if (p->problem) {
        cli_say("%-8s  damaged: %s\n", p->pkgid, p->problem);
        return 0;
    }
    cli_say("%-8s %5u  %-12s %7llu %7llu %14llu %14llu  %s\n", p->pkgid,
            p->version, p->content_id, (unsigned long long)p->files,
            (unsigned long long)p->folders, (unsigned long long)p->bytes,
            (unsigned long long)p->stored_bytes, p->content_hash);
    for (size_t i = 0; i < p->nkept; i++)
        cli_say("%-8s        kept: %s\n", "", p->kept[i]);
    return 0;
}

static int on_file(const cmh_ls_package *p, const cmh_ls_file *fl,
                   void *payload)
{
    (void)p;
    ls_out *s = payload;
    char when[48];
    filetime_iso(when, sizeof when, fl->time);
    if (s->json) {
        FILE *f = s->f;
        fprintf(f, "%s{\"path\":", s->nfiles_in_pk++ ? "," : "");
        json_str(f, fl->path);
        fprintf(f, ",\"size\":%llu,\"attributes\":\"%08X\","
                "\"time_modified\":%lld,\"modified\":\"%s\",\"hash\":\"%s\"}",
                (unsigned long long)fl->size, fl->attrs, (long long)fl->time,
                when, fl->hash);
        return 0;
    }
    cli_say("    %14llu  %08X  %s  %s  %s\n", (unsigned long long)fl->size,
            fl->attrs, when, fl->hash, fl->path);
    return 0;
}

/* Fill *lib and S's flags from the command line; -1 to go on, else the
 * exit code. */
static int parse_args(int argc, char **argv, const char **lib, ls_out *s)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        CLI_FILELIB_OPT,
        {"long", no_argument, NULL, 'L'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': *lib = optarg; break;
        case CLI_OPT_FILELIB:
            if (!cli_filelib_add(optarg))
                return EXIT_IO;
            break;
        case 'L': s->long_list = true; break;
        case 'j': s->json = true; break;
        case 'h': fputs(ls_usage, stdout); return EXIT_OK;
        default: return cli_bad_option("ls", argv);
        }
    }
    return -1;
}

/* The totals of a listing: one JSON object (PACKAGES the array's items),
 * or the text line; a package that could not be read makes exit 4. */
static int report(const cmh_ls_result *r, const char *lib, bool json,
                  const char *packages)
{
    if (json) {
        printf("{\"command\":\"ls\",\"library\":");
        json_path(stdout, lib);
        printf(",\"packages\":[%s],\"total\":{\"packages\":%llu,"
               "\"damaged\":%llu,\"files\":%llu,\"bytes\":%llu,"
               "\"stored_files\":%llu,\"stored_bytes\":%llu,"
               "\"dedup_ratio\":%.3f}}\n",
               packages, (unsigned long long)r->packages,
               (unsigned long long)r->damaged, (unsigned long long)r->files,
               (unsigned long long)r->bytes,
               (unsigned long long)r->stored_files,
               (unsigned long long)r->stored_bytes, r->dedup_ratio);
    } else {
        char lb[32], sb[32];
        cli_human_bytes(lb, sizeof lb, (double)r->bytes);
        cli_human_bytes(sb, sizeof sb, (double)r->stored_bytes);
        cli_say("Total: %llu packages, %llu files, %llu bytes (%s) "
                "logical; %llu distinct files, %llu bytes (%s) stored; "
                "dedup ratio %.2f\n",
                (unsigned long long)r->packages,
                (unsigned long long)r->files, (unsigned long long)r->bytes,
                lb, (unsigned long long)r->stored_files,
                (unsigned long long)r->stored_bytes, sb, r->dedup_ratio);
    }
    if (r->damaged) {
        cli_error("%llu package(s) in %s could not be read (see "
                  "above); run cmhash verify",
                  (unsigned long long)r->damaged, lib);
        return EXIT_LIBRARY;
    }
    return EXIT_OK;
}

int cmd_ls(int argc, char **argv)
{
    const char *lib = NULL;
    ls_out s = {0};
    int rc = parse_args(argc, argv, &lib, &s);
    if (rc >= 0)
        return rc;
    cmh_ls_opts o = CMH_LS_OPTS_INIT;
    o.lib = cli_lib_default(lib);
    o.pkgids = (const char *const *)(argv + optind);
    o.npkgids = (size_t)(argc - optind);
    o.flags = s.long_list ? CMH_LS_FILES : 0;
    o.package = (cmh_ls_package_hook){on_package, &s};
    o.file = (cmh_ls_file_hook){on_file, &s};
    cli_membuf mem = {0};
    if (!cli_membuf_open(&mem, s.json))
        return EXIT_IO;
    s.f = mem.f;
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx) {
        cli_membuf_free(&mem);
        return EXIT_IO;
    }
    if (!s.json)
        cli_say("%-8s %5s  %-12s %7s %7s %14s %14s  %s\n", "PACKAGE", "VER",
                "CONTENT", "FILES", "FOLDERS", "BYTES", "STORED", "HASH");
    cmh_ls_result r;
    cmh_status st = cmh_ls(&r, ctx, &o);
    if (s.f)
        close_pk(&s);
    cli_membuf_close(&mem);
    if (st)
        rc = cli_fail(ctx, st, "ls", s.json);
    else
        rc = report(&r, o.lib, s.json, cli_membuf_text(&mem));
    cli_membuf_free(&mem);
    cmh_ctx_free(ctx);
    return rc;
}
