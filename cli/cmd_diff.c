/* cmhash diff A B */
#include "cli.h"

#include <cmhash/diff.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char diff_usage[] =
    "usage: cmhash diff A B [options]\n"
    "Compare two trees; each is a source folder or a content ID in the\n"
    "library (MSC0000B.2, or a package ID for its current version). Lists\n"
    "added, removed and changed files with sizes, metadata-only changes\n"
    "(last-write time, attributes), and whether the content hash - what\n"
    "\"Update distribution points\" sends - would change.\n"
    "\n"
    "  --lib DIR     content library for IDs (default $CMHASH_LIB, else\n"
    "                ./SCCMContentLib)\n"
    CLI_FILELIB_HELP
    "  --json[=FILE] one JSON object on stdout, or in FILE\n"
    "  --log FILE    append CMTrace-format log lines to FILE\n"
    "\n"
    "An existing folder wins over an ID of the same spelling.\n"
    "Changed means what snapshot --if-changed and ConfigMgr go by: the\n"
    "content hash (names, folders, bytes). Time and attribute differences\n"
    "are listed as metadata but do not make the trees different.\n"
    "Exit codes: 0 same content (metadata may differ), 1 changed, 2 usage,\n"
    "3 a folder is missing or unreadable, 4 library problem, 5 I/O error.\n";

static const char *kind_word(cmh_diff_kind k)
{
    switch (k) {
    case CMH_DIFF_ADDED: return "added";
    case CMH_DIFF_REMOVED: return "removed";
    case CMH_DIFF_CHANGED: return "changed";
    case CMH_DIFF_METADATA: return "metadata";
    }
    return "?";
}

typedef struct out_state {
    bool json;
    FILE *mem; /* JSON entries, printed once the call succeeded */
    size_t n;
} out_state;

static int on_entry(const cmh_diff_entry *e, void *payload)
{
    out_state *s = payload;
    if (s->json) {
        FILE *f = s->mem;
        fprintf(f, "%s{\"kind\":\"%s\",\"path\":", s->n++ ? "," : "",
                kind_word(e->kind));
        json_str(f, e->path);
        fprintf(f, ",\"is_dir\":%s", e->is_dir ? "true" : "false");
        if (!e->is_dir)
            fprintf(f, ",\"old_size\":%llu,\"new_size\":%llu,"
                    "\"old_time_modified\":%lld,\"new_time_modified\":%lld,"
                    "\"old_attributes\":\"%08X\","
                    "\"new_attributes\":\"%08X\","
                    "\"old_hash\":\"%s\",\"new_hash\":\"%s\"",
                    (unsigned long long)e->old_size,
                    (unsigned long long)e->new_size, (long long)e->old_time,
                    (long long)e->new_time, e->old_attrs, e->new_attrs,
                    e->old_hash, e->new_hash);
        fputc('}', f);
        return 0;
    }
    const char *slash = e->is_dir ? "/" : "";
    switch (e->kind) {
    case CMH_DIFF_ADDED:
        if (e->is_dir)
            cli_say("added     %s/\n", e->path);
        else
            cli_say("added     %s (%llu bytes)\n", e->path,
                    (unsigned long long)e->new_size);
        break;
    case CMH_DIFF_REMOVED:
        if (e->is_dir)
            cli_say("removed   %s%s\n", e->path, slash);
        else
            cli_say("removed   %s (%llu bytes)\n", e->path,
                    (unsigned long long)e->old_size);
        break;
    case CMH_DIFF_CHANGED:
        cli_say("changed   %s (%llu -> %llu bytes)\n", e->path,
                (unsigned long long)e->old_size,
                (unsigned long long)e->new_size);
        break;
    case CMH_DIFF_METADATA: {
        char what[64] = "";
        if (e->old_time != e->new_time)
            snprintf(what, sizeof what, "time");
        if (e->old_attrs != e->new_attrs)
            snprintf(what + strlen(what), sizeof what - strlen(what),
                     "%sattributes %08X -> %08X", what[0] ? ", " : "",
                     e->old_attrs, e->new_attrs);
        cli_say("metadata  %s (%s; %llu bytes)\n", e->path, what,
                (unsigned long long)e->new_size);
        break;
    }
    }
    return 0;
}

/* A side of the comparison: a folder as an absolute path, an ID as is. */
static void json_side(const char *label, const char *side)
{
    if (!strcmp(label, "folder"))
        json_path(stdout, side);
    else
        json_str(stdout, side);
}

static void print_json(const cmh_diff_opts *o, const cmh_diff_result *r,
                       const char *entries)
{
    printf("{\"command\":\"diff\",\"a\":");
    json_side(r->label_a, o->a);
    printf(",\"b\":");
    json_side(r->label_b, o->b);
    printf(",\"a_is\":");
    json_str(stdout, r->label_a);
    printf(",\"b_is\":");
    json_str(stdout, r->label_b);
    printf(",\"same\":%s,\"hash_changed\":%s,\"hash_a\":\"%s\","
           "\"hash_b\":\"%s\",\"added\":%llu,\"removed\":%llu,"
           "\"changed\":%llu,\"metadata\":%llu,\"unchanged\":%llu,"
           "\"added_dirs\":%llu,\"removed_dirs\":%llu,"
           "\"added_bytes\":%llu,\"removed_bytes\":%llu,"
           "\"changed_old_bytes\":%llu,\"changed_new_bytes\":%llu,"
           "\"entries\":[%s]}\n",
           r->same ? "true" : "false",
           r->hash_changed ? "true" : "false", r->hash_a, r->hash_b,
           (unsigned long long)r->added, (unsigned long long)r->removed,
           (unsigned long long)r->changed,
           (unsigned long long)r->metadata,
           (unsigned long long)r->unchanged,
           (unsigned long long)r->added_dirs,
           (unsigned long long)r->removed_dirs,
           (unsigned long long)r->added_bytes,
           (unsigned long long)r->removed_bytes,
           (unsigned long long)r->changed_old_bytes,
           (unsigned long long)r->changed_new_bytes, entries);
}

static void print_text(const cmh_diff_result *r)
{
    cli_say("Summary: %llu added (%llu bytes), %llu removed (%llu "
            "bytes), %llu changed (%llu -> %llu bytes), %llu "
            "metadata-only, %llu unchanged; folders: %llu added, "
            "%llu removed\n",
            (unsigned long long)r->added,
            (unsigned long long)r->added_bytes,
            (unsigned long long)r->removed,
            (unsigned long long)r->removed_bytes,
            (unsigned long long)r->changed,
            (unsigned long long)r->changed_old_bytes,
            (unsigned long long)r->changed_new_bytes,
            (unsigned long long)r->metadata,
            (unsigned long long)r->unchanged,
            (unsigned long long)r->added_dirs,
            (unsigned long long)r->removed_dirs);
    if (r->hash_changed)
        cli_say("The content hash would change: %s -> %s\n", r->hash_a,
                r->hash_b);
    else
        cli_say("The content hash is unchanged: %s\n", r->hash_a);
    cli_say("%s\n", r->same ? "No differences"
                     : r->hash_changed
                         ? "Changed"
                         : "Same content, metadata differs "
                           "(snapshot --if-changed writes nothing)");
}

int cmd_diff(int argc, char **argv)
{
    const char *lib = NULL;
    bool json = false;
    int rc = cli_parse_lib_json(argc, argv, "diff", diff_usage, &lib, &json);
    if (rc >= 0)
        return rc;
    if (argc - optind != 2) {
        cli_error("diff takes A and B; see cmhash help diff");
        return EXIT_USAGE;
    }
    out_state s = {json, NULL, 0};
    cli_membuf mem = {0};
    if (!cli_membuf_open(&mem, json))
        return EXIT_IO;
    s.mem = mem.f;
    cmh_diff_opts o = CMH_DIFF_OPTS_INIT;
    o.lib = cli_lib_default(lib);
    o.a = argv[optind];
    o.b = argv[optind + 1];
    o.entry = (cmh_diff_hook){on_entry, &s};
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx) {
        cli_membuf_free(&mem);
        return EXIT_IO;
    }
    cmh_diff_result r;
    cmh_status st = cmh_diff(&r, ctx, &o);
    cli_membuf_close(&mem);
    if (st) {
        rc = cli_fail(ctx, st, "diff", json);
    } else {
        /* one definition of "changed" with snapshot --if-changed: the
         * content hash (README "diff") */
        rc = r.hash_changed ? EXIT_FINDINGS : EXIT_OK;
        if (json)
            print_json(&o, &r, cli_membuf_text(&mem));
        else
            print_text(&r);
    }
    cli_membuf_free(&mem);
    cmh_ctx_free(ctx);
    return rc;
}
