/* Helpers shared by the admin commands (extract, diff, ls, delta, patch,
 * gc). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

bool cli_parse_u32(const char *s, const char *what, uint32_t max,
                   uint32_t *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+') {
        cli_error("%s must be a number from 0 to %u, not '%s'", what, max, s);
        return false;
    }
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > max) {
        cli_error("%s must be a number from 0 to %u, not '%s'", what, max, s);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

void cli_error_ctx(cmh_ctx *ctx)
{
    cli_error("%s", cmh_ctx_last_error(ctx));
    const char *d = cmh_ctx_last_detail(ctx);
    /* the whole list, one log line each: the line above shows the first
     * items only */
    for (const char *p = d, *q; *p; p = q + (*q != 0)) {
        q = p + strcspn(p, "\n");
        cli_log(3, "  %.*s", (int)(q - p), p);
    }
}

void cli_json_details(cmh_ctx *ctx)
{
    const char *d = cmh_ctx_last_detail(ctx);
    if (!*d)
        return;
    printf(",\"details\":[");
    for (const char *p = d, *q; *p; p = q + (*q != 0)) {
        q = p + strcspn(p, "\n");
        char *item = strndup(p, (size_t)(q - p));
        if (p > d)
            putchar(',');
        json_str(stdout, item ? item : "");
        free(item);
    }
    putchar(']');
}

int cli_fail(cmh_ctx *ctx, cmh_status st, const char *command, bool json)
{
    int rc = cli_exit_for(st);
    cli_error_ctx(ctx);
    if (json) {
        cli_json_error_done = true;
        printf("{\"command\":");
        json_str(stdout, command);
        printf(",\"error\":");
        json_str(stdout, cmh_ctx_last_error(ctx));
        cli_json_details(ctx);
        printf(",\"exit_code\":%d}\n", rc);
    }
    return rc;
}

/* --filelib DIR (repeatable), then $CMHASH_FILELIB (separated like PATH:
 * ':', on Windows ';' since a drive letter holds a colon): the extra FileLib
 * roots of a spanned library, the same for every command. */
#ifdef _WIN32
#define CLI_FILELIB_SEP ";"
#else
#define CLI_FILELIB_SEP ":"
#endif
static const char **g_filelibs;
static size_t g_nfilelibs;

bool cli_filelib_add(const char *dir)
{
    const char **n = realloc(g_filelibs, (g_nfilelibs + 1) * sizeof *n);
    if (!n) {
        cli_error("out of memory");
        return false;
    }
    g_filelibs = n;
    g_filelibs[g_nfilelibs++] = dir;
    return true;
}

bool cli_filelib_apply(cmh_ctx *ctx)
{
    bool ok = true;
    for (size_t i = 0; i < g_nfilelibs && ok; i++)
        ok = cmh_ctx_add_filelib(ctx, g_filelibs[i]) == CMH_OK;
    const char *env = getenv("CMHASH_FILELIB");
    char *copy = env && *env ? strdup(env) : NULL;
    char *save = NULL;
    for (char *t = copy ? strtok_r(copy, CLI_FILELIB_SEP, &save) : NULL;
         t && ok; t = strtok_r(NULL, CLI_FILELIB_SEP, &save))
        ok = cmh_ctx_add_filelib(ctx, t) == CMH_OK;
    free(copy);
    if (!ok)
        cli_error("out of memory");
    return ok;
}

cmh_ctx *cli_ctx_new(void)
{
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK) {
        cli_error("cannot initialise OpenSSL's SHA-256");
        return NULL;
    }
    if (!cli_filelib_apply(ctx)) {
        cmh_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void cli_human_bytes(char *buf, size_t n, double b)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

bool cli_membuf_open(cli_membuf *m, bool want)
{
    if (want && !(m->f = open_memstream(&m->text, &m->len))) {
        cli_error("out of memory");
        return false;
    }
    return true;
}

void cli_membuf_close(cli_membuf *m)
{
    if (m->f)
        fclose(m->f);
    m->f = NULL;
}

const char *cli_membuf_text(const cli_membuf *m)
{
    return m->text ? m->text : "";
}

void cli_membuf_free(cli_membuf *m)
{
    cli_membuf_close(m);
    free(m->text);
    m->text = NULL;
}

int cli_parse_lib_json(int argc, char **argv, const char *cmd,
                       const char *usage, const char **lib, bool *json)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        CLI_FILELIB_OPT,
        CLI_OPT_JSON,
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
        case 'j': *json = true; break;
        case 'h': fputs(usage, stdout); return EXIT_OK;
        default: return cli_bad_option(cmd, argv);
        }
    }
    return -1;
}
