/* The public API's conventions (include/cmhash/common.h, issue 13):
 * options from CMH_<OP>_OPTS_INIT or cmh_<op>_opts_init() with zero
 * meaning default, a wrong options version refused with the fix, one
 * {cb, payload} pair per callback, and verify's typed orphan iterator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmhash/cmhash.h>

static char g_dir[256];

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

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/cmh-api-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* cmh_<op>_opts_init() gives exactly CMH_<OP>_OPTS_INIT, and that is the
 * version plus zeros. */
#define SAME_AS_INIT(op, OP)                                                 \
    do {                                                                     \
        cmh_##op##_opts a = CMH_##OP##_OPTS_INIT, b, z;                      \
        memset(&b, 0xA5, sizeof b);                                          \
        cmh_##op##_opts_init(&b);                                            \
        assert_int_equal(a.version, CMH_##OP##_OPTS_VERSION);                \
        assert_int_equal(b.version, CMH_##OP##_OPTS_VERSION);                \
        memset(&z, 0, sizeof z);                                             \
        z.version = CMH_##OP##_OPTS_VERSION;                                 \
        assert_memory_equal(&a, &z, sizeof a);                               \
        assert_memory_equal(&b, &z, sizeof b);                               \
    } while (0)

static void test_opts_init(void **state)
{
    (void)state;
    SAME_AS_INIT(snapshot, SNAPSHOT);
    SAME_AS_INIT(verify, VERIFY);
    SAME_AS_INIT(gc, GC);
    SAME_AS_INIT(extract, EXTRACT);
    SAME_AS_INIT(delta, DELTA);
    SAME_AS_INIT(patch, PATCH);
    SAME_AS_INIT(diff, DIFF);
    SAME_AS_INIT(ls, LS);
    SAME_AS_INIT(dp, DP);
}

/* Options of another version (a caller built against other headers), a
 * zeroed struct and NULL are refused with the fix, before anything is
 * touched. */
static void test_opts_version(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    char lib[300];
    snprintf(lib, sizeof lib, "%s/never", g_dir);

    cmh_snapshot_opts so = CMH_SNAPSHOT_OPTS_INIT;
    so.lib = lib;
    so.source = g_dir;
    so.pkgid = "MSC0000B";
    so.version = CMH_SNAPSHOT_OPTS_VERSION - 1; /* 0.1.0's struct */
    cmh_snapshot_result sr;
    assert_int_equal(cmh_snapshot(&sr, ctx, &so), CMH_E_INVALID);
    assert_non_null(strstr(cmh_ctx_last_error(ctx),
                           "cmh_snapshot_opts_init()"));
    assert_non_null(strstr(cmh_ctx_last_error(ctx), "takes version 3"));
    struct stat sb;
    assert_int_not_equal(stat(lib, &sb), 0); /* nothing created */

    cmh_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.lib = lib;
    cmh_verify *v = (cmh_verify *)&vo;
    assert_int_equal(cmh_verify_new(&v, ctx, &vo), CMH_E_INVALID);
    assert_null(v);
    assert_non_null(strstr(cmh_ctx_last_error(ctx), "version 0"));

    cmh_gc_result gr;
    assert_int_equal(cmh_gc(&gr, ctx, NULL), CMH_E_INVALID);
    assert_string_equal(cmh_ctx_last_error(ctx), "cmh_gc: no options given");
    cmh_ls_opts lo = CMH_LS_OPTS_INIT;
    lo.lib = lib;
    lo.version = 1;
    cmh_ls_result lr;
    assert_int_equal(cmh_ls(&lr, ctx, &lo), CMH_E_INVALID);
    cmh_ctx_free(ctx);
}

typedef struct seen {
    int progress, warning, finding, content;
} seen;
static seen g_seen;
static int g_p, g_w, g_f, g_c; /* four distinct payloads */

static int on_progress(const cmh_progress *p, void *payload)
{
    (void)p;
    assert_ptr_equal(payload, &g_p);
    g_seen.progress++;
    return 0;
}
static void on_warning(const char *msg, void *payload)
{
    assert_ptr_equal(payload, &g_w);
    assert_non_null(strstr(msg, "fifo"));
    g_seen.warning++;
}
static int on_finding(const cmh_verify_finding *f, void *payload)
{
    (void)f;
    assert_ptr_equal(payload, &g_f);
    g_seen.finding++;
    return 0;
}
static int on_content(const cmh_verify_content *c, void *payload)
{
    (void)c;
    assert_ptr_equal(payload, &g_c);
    g_seen.content++;
    return 0;
}

static void snap(cmh_ctx *ctx, const char *lib, const char *src,
                 const char *pkg)
{
    cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
    o.lib = lib;
    o.source = src;
    o.pkgid = pkg;
    o.flags = CMH_SNAPSHOT_NO_FSYNC;
    cmh_snapshot_result r;
    assert_int_equal(cmh_snapshot(&r, ctx, &o), CMH_OK);
}

/* Each callback gets its own payload (no "payload shared by every
 * callback" any more). */
static void test_hooks(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    char lib[300], src[300];
    snprintf(lib, sizeof lib, "%s/hlib", g_dir);
    snprintf(src, sizeof src, "%s/hsrc", g_dir);
    sh("mkdir -p '%s' && mkfifo '%s/fifo'", src, src);
    put("hsrc/a.txt", "alpha");
    memset(&g_seen, 0, sizeof g_seen);
    cmh_snapshot_opts so = CMH_SNAPSHOT_OPTS_INIT;
    so.lib = lib;
    so.source = src;
    so.pkgid = "MSC0000B";
    so.flags = CMH_SNAPSHOT_NO_FSYNC;
    so.progress = (cmh_progress_hook){on_progress, &g_p};
    so.warning = (cmh_warning_hook){on_warning, &g_w};
    cmh_snapshot_result sr;
    assert_int_equal(cmh_snapshot(&sr, ctx, &so), CMH_OK);
    assert_true(g_seen.progress >= 1); /* the commit phase's steps */
    assert_int_equal(g_seen.warning, 1);
    assert_int_equal(sr.skipped, 1);

    /* an orphan content: a finding; the content line: the content hook */
    sh("cp '%s/DataLib/MSC0000B.1.INI' '%s/DataLib/MSC0000C.1.INI' && "
       "cp -r '%s/DataLib/MSC0000B.1' '%s/DataLib/MSC0000C.1'",
       lib, lib, lib, lib);
    cmh_verify_opts vo = CMH_VERIFY_OPTS_INIT;
    vo.lib = lib;
    vo.finding = (cmh_verify_finding_hook){on_finding, &g_f};
    vo.content = (cmh_verify_content_hook){on_content, &g_c};
    vo.progress = (cmh_progress_hook){on_progress, &g_p};
    cmh_verify *v;
    assert_int_equal(cmh_verify_new(&v, ctx, &vo), CMH_OK);
    assert_int_equal(cmh_verify_run(v), CMH_OK);
    const cmh_verify_summary *sum = cmh_verify_get_summary(v);
    assert_int_equal(sum->findings[CMH_VF_ORPHAN_CONTENT], 1);
    assert_int_equal(g_seen.finding,
                     sum->errors + sum->warnings + sum->infos);
    assert_int_equal(g_seen.content, 2); /* MSC0000B.1 and the orphan */
    cmh_verify_free(v);
    cmh_ctx_free(ctx);
}

/* verify's typed orphans: an orphan content (its ID), an orphan FileLib
 * entry (its hash), an old temporary (its age); none from an ID run. */
static void test_orphan_iterator(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    char lib[300], a[300], b[300];
    snprintf(lib, sizeof lib, "%s/olib", g_dir);
    snprintf(a, sizeof a, "%s/oa", g_dir);
    snprintf(b, sizeof b, "%s/ob", g_dir);
    sh("mkdir -p '%s' '%s'", a, b);
    put("oa/one", "one\n");
    put("ob/two", "uniqueb\n");
    snap(ctx, lib, a, "MSC00001");
    snap(ctx, lib, b, "MSC00002");
    snap(ctx, lib, a, "MSC00003");
    /* MSC00002 gone entirely: its file is used by no content; MSC00003's
     * PkgLib INI gone: its content is an orphan */
    sh("cd '%s' && rm -rf PkgLib/MSC00002.INI DataLib/MSC00002.1 "
       "DataLib/MSC00002.1.INI PkgLib/MSC00003.INI && "
       "touch -d '3 days ago' FileLib/.cmhash-tmp-old",
       lib);
    cmh_verify_opts vo = CMH_VERIFY_OPTS_INIT;
    vo.lib = lib;
    vo.flags = CMH_VERIFY_INDEX_ONLY;
    cmh_verify *v;
    assert_int_equal(cmh_verify_new(&v, ctx, &vo), CMH_OK);
    assert_int_equal(cmh_verify_run(v), CMH_OK);
    int content = 0, file = 0, temp = 0;
    cmh_verify_orphan o;
    size_t pos = 0;
    while (cmh_verify_next_orphan(&o, v, &pos)) {
        switch (o.kind) {
        case CMH_ORPHAN_CONTENT:
            content++;
            assert_string_equal(o.content_id, "MSC00003.1");
            assert_string_equal(o.path, "DataLib/MSC00003.1");
            assert_string_equal(o.hash, "");
            break;
        case CMH_ORPHAN_FILE:
            file++;
            /* sha256sum of "uniqueb\n" */
            assert_string_equal(o.hash, "376D84D671325EA8CC5E0F079B3F4078"
                                        "A66A3F9C4F64DDFFCA64AAF0A632943E");
            assert_string_equal(o.content_id, "");
            break;
        case CMH_ORPHAN_TEMP:
            temp++;
            assert_string_equal(o.path, "FileLib/.cmhash-tmp-old");
            assert_true(o.age_seconds > 2 * 86400.0);
            break;
        default: fail_msg("unexpected orphan kind %d", (int)o.kind);
        }
    }
    assert_int_equal(content, 1);
    assert_int_equal(file, 1);
    assert_int_equal(temp, 1);
    assert_int_equal(cmh_verify_next_orphan(&o, v, &pos), 0); /* stays 0 */
    /* a second run starts a new list */
    assert_int_equal(cmh_verify_run(v), CMH_OK);
    pos = 0;
    int n = 0;
    while (cmh_verify_next_orphan(&o, v, &pos))
        n++;
    assert_int_equal(n, 3);
    cmh_verify_free(v);

    /* an ID run does not look for orphans */
    const char *ids[1] = {"MSC00001"};
    vo.ids = ids;
    vo.nids = 1;
    assert_int_equal(cmh_verify_new(&v, ctx, &vo), CMH_OK);
    assert_int_equal(cmh_verify_run(v), CMH_OK);
    pos = 0;
    assert_int_equal(cmh_verify_next_orphan(&o, v, &pos), 0);
    cmh_verify_free(v);
    cmh_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_init),
        cmocka_unit_test(test_opts_version),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_orphan_iterator),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
