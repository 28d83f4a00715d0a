/* cmhash gc [--apply] */
#include "cli.h"

#include <cmhash/gc.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char gc_usage[] =
    "usage: cmhash gc [--lib DIR] [--apply] [--min-age DUR] [options]\n"
    "Find what verify calls orphans - DataLib contents no PkgLib INI lists,\n"
    "FileLib entries no content uses - and .cmhash-tmp-* leftovers older\n"
    "than --min-age; list them with sizes and the space they take, and\n"
    "what each is (content, mirror, filelib-entry, temp, lock). The FileLib\n"
    "entries only orphan contents use are listed with them (content-file):\n"
    "removing the content frees them. A copy of an entry on a second\n"
    "FileLib root (spanned library) is listed as a duplicate, and goes\n"
    "only when it matches the copy in use (else: would keep, and why).\n"
    "Only --apply deletes, re-checking\n"
    "each item under the package or library lock first. Nothing a PkgLib\n"
    "INI reaches (current or kept version) is ever listed or removed.\n"
    "\n"
    "  --lib DIR       content library (default $CMHASH_LIB, else\n"
    "                  ./SCCMContentLib)\n"
    CLI_FILELIB_HELP
    "  --apply         delete (default: dry run)\n"
    "  --allow-foreign --apply on a library Configuration Manager wrote\n"
    "  --min-age DUR   age a temporary must have: 90s, 30m, 12h, 1d\n"
    "                  (default 1d)\n"
    "  --threads N     threads of the verify pass\n"
    "  --json[=FILE]   one JSON object on stdout, or in FILE\n"
    "  --log FILE      append CMTrace-format log lines to FILE\n"
    "\n"
    "Exit codes: 0 ok, 1 --apply left items (busy, referenced again),\n"
    "2 usage, 4 library problem, 5 I/O error, 7 interrupted.\n";

#define CMH_GC_BY_SIZE 96

static const char *kind_word(cmh_gc_kind k)
{
    switch (k) {
    case CMH_GC_ORPHAN_CONTENT: return "orphan-content";
    case CMH_GC_ORPHAN_FILE: return "orphan-file";
    case CMH_GC_TEMP: return "temporary";
    case CMH_GC_CONTENT_FILE: return "content-file";
    case CMH_GC_DUPLICATE: return "duplicate";
    }
    return "?";
}

typedef struct gc_out {
    bool json, apply;
    FILE *mem;
    size_t n;
} gc_out;

static int on_item(const cmh_gc_item *it, void *payload)
{
    gc_out *s = payload;
    if (s->json) {
        fprintf(s->mem, "%s{\"kind\":\"%s\",\"path\":", s->n++ ? "," : "",
                kind_word(it->kind));
        json_str(s->mem, it->path);
        fprintf(s->mem, ",\"what\":");
        json_str(s->mem, it->what);
        fprintf(s->mem, ",\"content_id\":");
        json_str(s->mem, it->content_id);
        fprintf(s->mem, ",\"hash\":");
        json_str(s->mem, it->hash);
        fprintf(s->mem, ",\"bytes\":%llu,\"removed\":%s",
                (unsigned long long)it->bytes,
                it->removed ? "true" : "false");
        if (it->age_seconds >= 0)
            fprintf(s->mem, ",\"age_seconds\":%.0f", it->age_seconds);
        if (it->skipped) {
            fprintf(s->mem, ",\"skipped\":");
            json_str(s->mem, it->skipped);
        }
        fputc('}', s->mem);
        return 0;
    }
    const char *verb = !s->apply ? (it->skipped ? "would keep"
                                                : "would remove")
                       : it->removed ? "removed" : "kept";
    /* a content's entries name the content that frees them */
    char by[CMH_GC_BY_SIZE] = "";
    if (it->kind == CMH_GC_CONTENT_FILE)
        snprintf(by, sizeof by, ", freed with %s", it->content_id);
    if (it->skipped)
        cli_say("%-12s %-14s %s (%s, %llu bytes%s): %s\n", verb,
                kind_word(it->kind), it->path, it->what,
                (unsigned long long)it->bytes, by, it->skipped);
    else
        cli_say("%-12s %-14s %s (%s, %llu bytes%s)\n", verb,
                kind_word(it->kind), it->path, it->what,
                (unsigned long long)it->bytes, by);
    return 0;
}

static bool parse_age(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return false;
    double mul = !*end || !strcmp(end, "s") ? 1
                 : !strcmp(end, "m") ? 60
                 : !strcmp(end, "h") ? 3600
                 : !strcmp(end, "d") ? 86400 : -1;
    if (mul < 0)
        return false;
    *out = v * mul;
    return true;
}

/* Fill O (and *lib, *json) from the command line; -1 to go on, else the
 * exit code. */
static int parse_args(int argc, char **argv, cmh_gc_opts *o,
                      const char **lib, bool *json)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        CLI_FILELIB_OPT,
        {"apply", no_argument, NULL, 'a'},
        {"allow-foreign", no_argument, NULL, 'A'},
        {"min-age", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
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
        case 'a': o->flags |= CMH_GC_APPLY; break;
        case 'A': o->flags |= CMH_GC_ALLOW_FOREIGN; break;
        case 'm':
            if (!parse_age(optarg, &o->min_age)) {
                cli_error("--min-age must be a duration like 90s, 30m, 12h "
                          "or 1d, not '%s'", optarg);
                return EXIT_USAGE;
            }
            if (o->min_age == 0) /* the engine reads 0 as "default" */
                o->min_age = CMH_GC_ANY_AGE;
            break;
        case 't': {
            uint32_t t;
            if (!cli_parse_u32(optarg, "--threads", 256, &t))
                return EXIT_USAGE;
            o->threads = t;
            break;
        }
        case 'j': *json = true; break;
        case 'h': fputs(gc_usage, stdout); return EXIT_OK;
        default: return cli_bad_option("gc", argv);
        }
    }
    if (optind != argc) {
        cli_error("gc takes no arguments; see cmhash help gc");
        return EXIT_USAGE;
    }
    return -1;
}

/* The report of a finished gc: one JSON object, or the text total. */
static void report(const cmh_gc_result *r, const char *lib, bool json,
                   bool apply, const char *list)
{
    if (json) {
        printf("{\"command\":\"gc\",\"library\":");
        json_path(stdout, lib);
        printf(",\"apply\":%s,\"items\":%llu,\"bytes\":%llu,"
               "\"removed\":%llu,\"removed_bytes\":%llu,"
               "\"skipped\":%llu,\"protected\":%llu,\"list\":[%s]}\n",
               apply ? "true" : "false", (unsigned long long)r->items,
               (unsigned long long)r->bytes, (unsigned long long)r->removed,
               (unsigned long long)r->removed_bytes,
               (unsigned long long)r->skipped,
               (unsigned long long)r->protected_items, list);
    } else if (apply) {
        cli_say("Removed %llu of %llu items, %llu bytes freed; %llu "
                "kept\n", (unsigned long long)r->removed,
                (unsigned long long)r->items,
                (unsigned long long)r->removed_bytes,
                (unsigned long long)r->skipped);
    } else {
        cli_say("%llu items, %llu bytes would be freed (dry run; "
                "--apply deletes)\n", (unsigned long long)r->items,
                (unsigned long long)r->bytes);
    }
}

int cmd_gc(int argc, char **argv)
{
    cmh_gc_opts o = CMH_GC_OPTS_INIT;
    const char *lib = NULL;
    gc_out s = {0};
    int rc = parse_args(argc, argv, &o, &lib, &s.json);
    if (rc >= 0)
        return rc;
    s.apply = o.flags & CMH_GC_APPLY;
    o.lib = cli_lib_default(lib);
    o.item = (cmh_gc_item_hook){on_item, &s};
    cli_membuf mem = {0};
    if (!cli_membuf_open(&mem, s.json))
        return EXIT_IO;
    s.mem = mem.f;
    cli_install_signals();
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx) {
        cli_membuf_free(&mem);
        return EXIT_IO;
    }
    cmh_gc_result r;
    cmh_status st = cmh_gc(&r, ctx, &o);
    cli_membuf_close(&mem);
    rc = EXIT_OK;
    if (st) {
        rc = cli_fail(ctx, st, "gc", s.json);
    } else {
        if (r.skipped)
            rc = EXIT_FINDINGS;
        report(&r, o.lib, s.json, s.apply, cli_membuf_text(&mem));
    }
    cli_membuf_free(&mem);
    cmh_ctx_free(ctx);
    return rc;
}
