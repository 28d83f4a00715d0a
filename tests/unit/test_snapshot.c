/* cmh_snapshot through the public API: thread counts give identical
 * libraries, callbacks run on the caller's thread, cancel leaves the
 * library as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static char g_root[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* digest of a tree: names, sizes, contents (not times) */
static void tree_digest(const char *dir, char out[65])
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && (find . -printf '%%p %%y %%s\\n' | LC_ALL=C sort; "
             "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r "
             "sha256sum) | sha256sum",
             dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, 65, p));
    pclose(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/cmh-snap-XXXXXX");
    assert_non_null(mkdtemp(g_root));
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    /* a tree with many small files, duplicates and a few larger ones */
    sh("mkdir -p %s/src/a/b/c %s/src/empty %s/src/d", g_root, g_root, g_root);
    for (int i = 0; i < 60; i++)
        sh("head -c %d /dev/urandom > %s/src/%s/f%02d.bin", i * 997,
           g_root, i % 3 == 0 ? "a" : i % 3 == 1 ? "a/b/c" : "d", i);
    sh("head -c 3000000 /dev/urandom > %s/src/big1", g_root);
    sh("cp %s/src/big1 %s/src/d/big1-copy", g_root, g_root);
    sh("touch -d '2020-01-02 03:04:05' $(find %s/src -type f)", g_root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sh("rm -rf %s", g_root);
    return 0;
}

static pthread_t g_main;
static int g_calls, g_wrong_thread;

static int on_progress(const cmh_progress *p, void *payload)
{
    (void)p;
    (void)payload;
    g_calls++;
    if (!pthread_equal(pthread_self(), g_main))
        g_wrong_thread++;
    return 0;
}

static void test_threads_identical(void **state)
{
    (void)state;
    char first[65] = "";
    unsigned counts[] = {1, 2, 8};
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    g_main = pthread_self();
    for (size_t i = 0; i < 3; i++) {
        char lib[128], src[128];
        snprintf(lib, sizeof lib, "%s/lib%u", g_root, counts[i]);
        snprintf(src, sizeof src, "%s/src", g_root);
        cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
        o.lib = lib;
        o.source = src;
        o.source_display = "\\\\cm1\\src";
        o.pkgid = "MSC0000B";
        o.threads = counts[i];
        o.progress = (cmh_progress_hook){on_progress, NULL};
        cmh_snapshot_result r;
        assert_int_equal(cmh_snapshot(&r, ctx, &o), CMH_OK);
        assert_int_equal(r.files, 62);
        assert_int_equal(r.folders, 5);
        assert_int_equal(r.new_files, 61); /* one duplicate */
        assert_int_equal(r.version, 1);
        char d[65];
        tree_digest(lib, d);
        if (!first[0])
            memcpy(first, d, 65);
        else
            assert_string_equal(d, first);
    }
    assert_int_equal(g_wrong_thread, 0);
    cmh_ctx_free(ctx);
}

static int cancel_at_once(const cmh_progress *p, void *payload)
{
    (void)p;
    (void)payload;
    g_calls++;
    return 1;
}

static void test_cancel_leaves_library(void **state)
{
    (void)state;
    char lib[128], src[128], big[128];
    snprintf(lib, sizeof lib, "%s/libc", g_root);
    snprintf(src, sizeof src, "%s/src", g_root);
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
    o.lib = lib;
    o.source = src;
    o.pkgid = "MSC0000C";
    cmh_snapshot_result r;
    assert_int_equal(cmh_snapshot(&r, ctx, &o), CMH_OK);
    char before[65], after[65];
    tree_digest(lib, before);
    /* a file big enough that hashing outlasts the first progress tick */
    snprintf(big, sizeof big, "%s/src/zz-big", g_root);
    sh("head -c 400000000 /dev/zero > %s", big);
    g_calls = 0;
    o.progress = (cmh_progress_hook){cancel_at_once, NULL};
    o.threads = 1;
    assert_int_equal(cmh_snapshot(&r, ctx, &o), CMH_E_CANCELED);
    assert_true(g_calls >= 1);
    tree_digest(lib, after);
    assert_string_equal(before, after);
    unlink(big);
    cmh_ctx_free(ctx);
}

static void test_bad_options(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
    cmh_snapshot_result r;
    char lib[128], src[128];
    snprintf(lib, sizeof lib, "%s/libbad", g_root);
    snprintf(src, sizeof src, "%s/src", g_root);
    o.lib = lib;
    o.source = src;
    o.pkgid = "NOTANID";
    assert_int_equal(cmh_snapshot(&r, ctx, &o), CMH_E_INVALID);
    assert_non_null(strstr(cmh_ctx_last_error(ctx), "NOTANID"));
    o.pkgid = "MSC00001";
    o.version = 99;
    assert_int_equal(cmh_snapshot(&r, ctx, &o), CMH_E_INVALID);
    struct stat sb;
    assert_int_not_equal(stat(lib, &sb), 0); /* nothing created */
    cmh_ctx_free(ctx);
    cmh_ctx_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_cancel_leaves_library),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
