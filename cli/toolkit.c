/* Helpers shared by the admin commands (extract, diff, ls, delta, patch). */
#include "cli.h"

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

int cli_fail(cmh_ctx *ctx, cmh_status st, const char *command, bool json)
{
    int rc = cli_exit_for(st);
    cli_error("%s", cmh_ctx_last_error(ctx));
    if (json) {
        printf("{\"command\":");
        json_str(stdout, command);
        printf(",\"error\":");
        json_str(stdout, cmh_ctx_last_error(ctx));
        printf(",\"exit_code\":%d}\n", rc);
    }
    return rc;
}

cmh_ctx *cli_ctx_new(void)
{
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK) {
        cli_error("cannot initialise OpenSSL's SHA-256");
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
