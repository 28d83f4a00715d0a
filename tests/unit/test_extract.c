/* The admin toolkit through the public API (extract, diff, ls, delta,
 * patch) plus the safety predicates of tree_io.h: a round trip over a
 * generated tree, option validation, and path components that must never
 * reach the file system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "tree_io.h"

static char g_root[64];
static cmh_ctx *g_ctx;

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

static char *path(const char *rel)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_root, rel);
    return buf[k];
}

static void snapshot(const char *src, uint32_t keep)
{
    cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
    cmh_snapshot_result r;
    o.lib = path("lib");
    o.source = path(src);
    o.pkgid = "msc00001";
    o.flags = CMH_SNAPSHOT_NO_FSYNC;
    o.keep = keep;
    assert_int_equal(cmh_snapshot(&r, g_ctx, &o), CMH_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/cmh-extract-XXXXXX");
    assert_non_null(mkdtemp(g_root));
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    /* read sizes around the buffer size: 0 1 2 3 7 15 100 10000 200000
     * and one past 256 KiB */
    static const int sizes[] = {0, 1, 2, 3, 7, 15, 100, 10000, 200000,
                                262145};
    sh("mkdir -p %s/v1/x/y %s/v1/empty", g_root, g_root);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        sh("head -c %d /dev/urandom > %s/v1/%s/f%zu", sizes[i], g_root,
           i % 2 ? "x" : "x/y", i);
    sh("touch -d '2019-05-06 07:08:09.1234567' $(find %s/v1 -type f)",
       g_root);
    assert_int_equal(cmh_ctx_new(&g_ctx), CMH_OK);
    snapshot("v1", 0);
    /* v2: one byte changed in the largest file, one file removed */
    sh("cp -a %s/v1 %s/v2 && printf Z | dd of=%s/v2/x/f9 bs=1 seek=70000 "
       "conv=notrunc 2>/dev/null && rm %s/v2/x/y/f0",
       g_root, g_root, g_root, g_root);
    snapshot("v2", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cmh_ctx_free(g_ctx);
    sh("chmod -R u+w %s; rm -rf %s", g_root, g_root);
    return 0;
}

static void test_safe_component(void **state)
{
    (void)state;
    static const char *const bad[] = {"", ".", "..", "a/b", "a\\b",
                                      "/", "\\", "../x", "..\\x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(cmh__safe_component(bad[i]));
    static const char *const good[] = {"a", "...", ".hidden", "a..b",
                                       "x.INI", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(cmh__safe_component(good[i]));
}

static void test_extract_diff_roundtrip(void **state)
{
    (void)state;
    cmh_extract_opts o = CMH_EXTRACT_OPTS_INIT;
    cmh_extract_result r;
    o.lib = path("lib");
    o.id = "MSC00001.1"; /* kept by --keep 1 */
    o.dest = path("out1");
    assert_int_equal(cmh_extract(&r, g_ctx, &o), CMH_OK);
    assert_int_equal(r.files, 10);
    assert_int_equal(r.folders, 3);
    char want[CMH_HEX_SIZE];
    assert_int_equal(cmh_hash_dir(want, g_ctx, path("v1")), CMH_OK);
    assert_string_equal(r.content_hash, want);
    /* a second extraction into the same folder needs FORCE */
    assert_int_equal(cmh_extract(&r, g_ctx, &o), CMH_E_INVALID);
    assert_non_null(strstr(cmh_ctx_last_error(g_ctx), "not empty"));
    o.flags = CMH_EXTRACT_FORCE;
    assert_int_equal(cmh_extract(&r, g_ctx, &o), CMH_OK);

    cmh_diff_opts d = CMH_DIFF_OPTS_INIT;
    cmh_diff_result dr;
    d.lib = path("lib");
    d.a = "MSC00001.1";
    d.b = path("out1");
    assert_int_equal(cmh_diff(&dr, g_ctx, &d), CMH_OK);
    assert_true(dr.same);
    assert_int_equal(dr.unchanged, 10);
    d.b = "MSC00001"; /* current version: v2 */
    assert_int_equal(cmh_diff(&dr, g_ctx, &d), CMH_OK);
    assert_false(dr.same);
    assert_true(dr.hash_changed);
    assert_int_equal(dr.changed, 1);
    assert_int_equal(dr.removed, 1);
    assert_int_equal(dr.added, 0);
    assert_int_equal(dr.removed_bytes, 0); /* f0 was empty */
}

static void test_delta_patch(void **state)
{
    (void)state;
    cmh_delta_opts o = CMH_DELTA_OPTS_INIT;
    cmh_delta_result r;
    o.lib = path("lib");
    o.from = "MSC00001.1";
    o.to = "MSC00001.2";
    o.outdir = path("delta");
    assert_int_equal(cmh_delta(&r, g_ctx, &o), CMH_OK);
    assert_int_equal(r.changed, 1);
    assert_int_equal(r.unchanged, 8);
    assert_int_equal(r.removed, 1);
    assert_true(r.delta_bytes > 0 && r.delta_bytes < 20000);
    assert_int_equal(r.send_bytes, r.delta_bytes);

    cmh_extract_opts e = CMH_EXTRACT_OPTS_INIT;
    cmh_extract_result er;
    e.lib = path("lib");
    e.id = "MSC00001.1";
    e.dest = path("base");
    assert_int_equal(cmh_extract(&er, g_ctx, &e), CMH_OK);
    cmh_patch_opts p = CMH_PATCH_OPTS_INIT;
    cmh_patch_result pr;
    p.base = path("base");
    p.delta = path("delta");
    p.out = path("new");
    assert_int_equal(cmh_patch(&pr, g_ctx, &p), CMH_OK);
    char want[CMH_HEX_SIZE];
    assert_int_equal(cmh_hash_dir(want, g_ctx, path("v2")), CMH_OK);
    assert_string_equal(pr.content_hash, want);
    assert_string_equal(pr.to_id, "MSC00001.2");
}

static int count_pkg(const cmh_ls_package *p, void *payload)
{
    (void)p;
    (*(int *)payload)++;
    return 0;
}

static void test_ls_and_bad_options(void **state)
{
    (void)state;
    int n = 0;
    cmh_ls_opts o = CMH_LS_OPTS_INIT;
    cmh_ls_result r;
    o.lib = path("lib");
    o.package = (cmh_ls_package_hook){count_pkg, &n};
    assert_int_equal(cmh_ls(&r, g_ctx, &o), CMH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r.packages, 1);
    /* the totals count the kept v1 too: logical 2 x 472,273 bytes;
     * stored 472,273 + the changed 262,145-byte file; ratio 1.286 */
    assert_true(r.dedup_ratio > 1.28 && r.dedup_ratio < 1.29);
    const char *bad[] = {"MSC0001"};
    o.pkgids = bad;
    o.npkgids = 1;
    assert_int_equal(cmh_ls(&r, g_ctx, &o), CMH_E_INVALID);
    o.version = 99;
    assert_int_equal(cmh_ls(&r, g_ctx, &o), CMH_E_INVALID);

    cmh_extract_opts e = CMH_EXTRACT_OPTS_INIT;
    cmh_extract_result er;
    e.lib = path("lib");
    e.dest = path("never");
    e.id = "../../etc";
    assert_int_equal(cmh_extract(&er, g_ctx, &e), CMH_E_INVALID);
    e.id = "MSC00001.9";
    assert_int_equal(cmh_extract(&er, g_ctx, &e), CMH_E_LIBRARY);
    struct stat sb;
    assert_int_not_equal(stat(path("never"), &sb), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_component),
        cmocka_unit_test(test_extract_diff_roundtrip),
        cmocka_unit_test(test_delta_patch),
        cmocka_unit_test(test_ls_and_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
