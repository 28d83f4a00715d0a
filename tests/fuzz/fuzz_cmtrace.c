/* Fuzz target: the CMTrace line writer (cli/log.c) on arbitrary messages.
 * Input: one byte for the type (1 info, 2 warning, 3 error), then the
 * message. Asserts: exactly one line per message; it matches the CMTrace
 * line shape  <![LOG[msg]LOG]!><time="HH:MM:SS.mmm+000"
 * date="MM-DD-YYYY" component="cmhash" context="" type="T" thread="N"
 * file="">  with the message ending at the first "]LOG]!>" (so CMTrace
 * shows all of it, never a forged time or type), and the message keeps
 * the input's text up to its first line break or ']'. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[64];

static void cleanup(void)
{
    cli_log_close();
    unlink(g_path);
}

static void setup(void)
{
    snprintf(g_path, sizeof g_path, "/tmp/cmhash-fuzz-cmtrace-XXXXXX");
    int fd = mkstemp(g_path);
    if (fd < 0)
        abort();
    close(fd);
    if (cli_log_open(g_path) != 0)
        abort();
    atexit(cleanup);
}

static bool digits(const char **p, int n)
{
    for (int i = 0; i < n; i++, (*p)++)
        if (**p < '0' || **p > '9')
            return false;
    return true;
}

static bool lit(const char **p, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*p, s, n))
        return false;
    *p += n;
    return true;
}

/* The part after the message: ]LOG]!><time=... file="">\n */
static bool tail_ok(const char *p, int type)
{
    char t[16];
    snprintf(t, sizeof t, "type=\"%d\"", type);
    if (!lit(&p, "]LOG]!><time=\"") || !digits(&p, 2) || !lit(&p, ":") ||
        !digits(&p, 2) || !lit(&p, ":") || !digits(&p, 2) ||
        !lit(&p, ".") || !digits(&p, 3) || !lit(&p, "+000\" date=\"") ||
        !digits(&p, 2) || !lit(&p, "-") || !digits(&p, 2) ||
        !lit(&p, "-") || !digits(&p, 4) ||
        !lit(&p, "\" component=\"cmhash\" context=\"\" ") || !lit(&p, t) ||
        !lit(&p, " thread=\""))
        return false;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    return lit(&p, "\" file=\"\">\n") && *p == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_path[0])
        setup();
    if (size < 1 || size > 6000)
        return 0;
    int type = data[0] % 3 + 1;
    char *msg = malloc(size);
    if (!msg)
        abort();
    memcpy(msg, data + 1, size - 1);
    msg[size - 1] = 0;
    /* the log is opened for appending: empty it, log, read it back */
    if (truncate(g_path, 0) != 0)
        abort();
    cli_log(type, "%s", msg);
    FILE *f = fopen(g_path, "rb");
    if (!f)
        abort();
    /* every input byte may become a 4-byte \xHH escape: 6000 * 4 + the
     * CMTrace fields fit */
    enum { LINE_MAX_BYTES = 32768 };
    char *line = malloc(LINE_MAX_BYTES + 1);
    size_t n = line ? fread(line, 1, LINE_MAX_BYTES, f) : 0;
    fclose(f);
    if (!line)
        abort();
    line[n] = 0;
    if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1) ||
        memchr(line, '\r', n))
        abort(); /* exactly one line */
    if (strncmp(line, "<![LOG[", 7))
        abort();
    const char *body = line + 7;
    const char *end = strstr(body, "]LOG]!>");
    if (!end || !tail_ok(end, type))
        abort(); /* message would end early: forged or lost fields */
    /* the message's printable ASCII up to its first ']' is kept as is
     * (control bytes and invalid UTF-8 are escaped as \xHH, line breaks
     * included, so they need not survive byte for byte) */
    size_t keep = 0;
    while (msg[keep] >= 0x20 && msg[keep] < 0x7f && msg[keep] != ']')
        keep++;
    if (keep > 4000)
        keep = 4000;
    if ((size_t)(end - body) < keep || memcmp(body, msg, keep))
        abort();
    free(line);
    free(msg);
    return 0;
}
