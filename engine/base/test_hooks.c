/* Test hooks (internal.h): crash points, pause points and test traces.
 * Compiled only into a build configured with CMHASH_TEST_HOOKS (on
 * whenever the tests are built: CMakeLists.txt); a release library has
 * none of this code, and the calls are empty inline functions there. This
 * file is the only engine code that reads test variables from the
 * environment or writes to stderr (README, "Building a release"). */
#ifndef CMHASH_TEST_HOOKS
#error "test_hooks.c is built only with CMHASH_TEST_HOOKS"
#endif
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- crash points: $CMHASH_TEST_CRASH_AT=<point>:<n> ---- */

static pthread_once_t g_crash_once = PTHREAD_ONCE_INIT;
static char g_crash_point[32];   /* "" = inert; written once under once */
static unsigned long g_crash_at; /* hit count that kills */
static atomic_ulong g_crash_hits;

static void crash_init(void)
{
    const char *v = getenv("CMHASH_TEST_CRASH_AT");
    const char *colon = v ? strchr(v, ':') : NULL;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof g_crash_point)
        return;
    char *end;
    unsigned long n = strtoul(colon + 1, &end, 10);
    if (*end || n == 0)
        return;
    memcpy(g_crash_point, v, (size_t)(colon - v));
    g_crash_point[colon - v] = 0;
    g_crash_at = n;
}

void cmh__crash_point(const char *point)
{
    pthread_once(&g_crash_once, crash_init);
    if (!g_crash_point[0] || strcmp(point, g_crash_point) != 0)
        return;
    if (atomic_fetch_add(&g_crash_hits, 1) + 1 == g_crash_at)
        raise(SIGKILL);
}

/* ---- pause points: $CMHASH_TEST_PAUSE_AT=<point>:<file> ---- */

static pthread_once_t g_pause_once = PTHREAD_ONCE_INIT;
static char g_pause_point[32]; /* "" = inert */
static char g_pause_file[4096];

static void pause_init(void)
{
    const char *v = getenv("CMHASH_TEST_PAUSE_AT");
    const char *colon = v ? strchr(v, ':') : NULL;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof g_pause_point ||
        !colon[1] || strlen(colon + 1) >= sizeof g_pause_file)
        return;
    memcpy(g_pause_point, v, (size_t)(colon - v));
    g_pause_point[colon - v] = 0;
    snprintf(g_pause_file, sizeof g_pause_file, "%s", colon + 1);
}

void cmh__pause_point(const char *point)
{
    pthread_once(&g_pause_once, pause_init);
    if (!g_pause_point[0] || strcmp(point, g_pause_point) != 0)
        return;
    fprintf(stderr, "cmhash: test pause at %s\n", point);
    fflush(stderr);
    struct timespec ts = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 6000 && access(g_pause_file, F_OK) != 0; i++)
        nanosleep(&ts, NULL);
}

/* ---- traces: $<var>=1 ---- */

void cmh__test_trace(const char *var, const char *fmt, ...)
{
    const char *env = getenv(var);
    if (!env || strcmp(env, "1") != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cmhash-test: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
