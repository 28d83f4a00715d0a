/* --log FILE: CMTrace-format log lines (what ConfigMgr admins read with
 * CMTrace/OneTrace), one per message the terminal shows. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

/* The open log; NULL = no --log. Written by the main thread only. */
static FILE *g_log;

int cli_log_open(const char *path)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    g_log = f;
    return 0;
}

void cli_log_close(void)
{
    if (g_log)
        fclose(g_log);
    g_log = NULL;
}

bool cli_log_enabled(void)
{
    return g_log != NULL;
}

static long thread_id(void)
{
#ifdef SYS_gettid
    return (long)syscall(SYS_gettid);
#else
    return (long)getpid();
#endif
}

/* CMTrace escapes nothing; a message must not close the LOG[ ] bracket or
 * span lines, so "]LOG]!>" is neutralised and control characters (line
 * breaks, ESC) are escaped as \xHH by cli_safe_dup before this. */
static void put_msg(FILE *f, const char *msg)
{
    for (const char *p = msg; *p; p++) {
        if (!strncmp(p, "]LOG]!>", 7)) {
            fputs("]LOG] ", f); /* the "!>" follows */
            p += 4;
        } else
            fputc(*p, f);
    }
}

void cli_log_v(int type, const char *fmt, va_list ap)
{
    if (!g_log)
        return;
    /* the whole message, however long (a list of every bad name) */
    char *raw = cli_vformat(fmt, ap);
    if (!raw)
        return;
    size_t n = strlen(raw);
    while (n && raw[n - 1] == '\n')
        raw[--n] = 0;
    char *msg = cli_safe_dup(raw);
    free(raw);
    if (!msg)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t t = tv.tv_sec;
    gmtime_r(&t, &tm);
    fputs("<![LOG[", g_log);
    put_msg(g_log, msg);
    fprintf(g_log,
            "]LOG]!><time=\"%02d:%02d:%02d.%03d+000\" "
            "date=\"%02d-%02d-%04d\" component=\"cmhash\" context=\"\" "
            "type=\"%d\" thread=\"%ld\" file=\"\">\n",
            tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
            tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900, type, thread_id());
    fflush(g_log);
    free(msg);
}

void cli_log(int type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_log_v(type, fmt, ap);
    va_end(ap);
}

void cli_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = cli_vformat(fmt, ap);
    va_end(ap);
    if (!raw)
        return;
    cli_printf_safe(stdout, "%s", raw); /* a line, escaped */
    cli_log(1, "%s", raw);
    free(raw);
}

int cli_log_take_option(int *argc, char **argv, const char **err)
{
    *err = NULL;
    const char *path = NULL;
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--")) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(argv[i], "--log")) {
            if (i + 1 >= *argc) {
                *err = "--log needs a FILE";
                return -1;
            }
            path = argv[++i];
            continue;
        }
        if (!strncmp(argv[i], "--log=", 6)) {
            path = argv[i] + 6;
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    *argc = out;
    if (path) {
        if (!*path) {
            *err = "--log needs a FILE";
            return -1;
        }
        if (cli_log_open(path) != 0) {
            *err = path;
            return -2;
        }
    }
    return 0;
}
