/* The context's error state: set, clear, capture/restore, rewrite
 * (engine/base/util.c, the one place that touches ctx->err). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

static void test_set_and_clear(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    assert_string_equal(cmh__err_msg(ctx), "");
    assert_int_equal(cmh__fail(ctx, CMH_E_IO, "cannot read %s", "/x"),
                     CMH_E_IO);
    assert_string_equal(cmh__err_msg(ctx), "cannot read /x");
    assert_string_equal(cmh_ctx_last_error(ctx), "cannot read /x");
    assert_int_equal(cmh__fail_list(ctx, CMH_E_SOURCE, "bad names", "a\nb",
                                    "rename them"),
                     CMH_E_SOURCE);
    assert_string_equal(cmh__err_msg(ctx), "bad names: a; b; rename them");
    assert_string_equal(cmh_ctx_last_detail(ctx), "a\nb");
    cmh__err_clear(ctx); /* the message and its list go together */
    assert_string_equal(cmh_ctx_last_error(ctx), "");
    assert_string_equal(cmh_ctx_last_detail(ctx), "");
    /* NULL context: nothing to set, "" to read */
    assert_int_equal(cmh__fail(NULL, CMH_E_IO, "x"), CMH_E_IO);
    cmh__err_clear(NULL);
    assert_string_equal(cmh__err_msg(NULL), "");
    cmh_ctx_free(ctx);
}

static void test_capture_restore(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    cmh__fail_list(ctx, CMH_E_SOURCE, "links", "l1\nl2\nl3", "remove them");
    cmh_err_saved saved;
    cmh__err_capture(ctx, &saved);
    assert_string_equal(saved.msg, "links: l1; l2; l3; remove them");
    cmh__fail(ctx, CMH_E_LIBRARY, "an error in between");
    assert_string_equal(cmh_ctx_last_detail(ctx), "");
    cmh__err_restore(ctx, &saved);
    assert_null(saved.detail);
    assert_string_equal(cmh_ctx_last_error(ctx),
                        "links: l1; l2; l3; remove them");
    assert_string_equal(cmh_ctx_last_detail(ctx), "l1\nl2\nl3");
    /* discard: the state after the capture stays */
    cmh__err_capture(ctx, &saved);
    cmh__err_clear(ctx);
    cmh__err_discard(&saved);
    assert_null(saved.detail);
    assert_string_equal(cmh_ctx_last_error(ctx), "");
    cmh_ctx_free(ctx);
}

static void test_replace(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    cmh__fail(ctx, CMH_E_IO, "cannot write /lib: no space; free space");
    cmh__err_replace(ctx, "nothing like this", "X");
    assert_string_equal(cmh__err_msg(ctx),
                        "cannot write /lib: no space; free space");
    cmh__err_replace(ctx, "no space", "no inodes (%d used)", 7);
    assert_string_equal(cmh__err_msg(ctx),
                        "cannot write /lib: no inodes (7 used); free space");
    /* a replacement longer than the room left is cut like the message */
    char big[CMH_ERRMSG_SIZE + 100];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cmh__err_replace(ctx, "no inodes", "%s", big);
    const char *m = cmh__err_msg(ctx);
    assert_int_equal(strlen(m), CMH_ERRMSG_SIZE - 1);
    assert_memory_equal(m, "cannot write /lib: yyy", 22);
    cmh_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_clear),
        cmocka_unit_test(test_capture_restore),
        cmocka_unit_test(test_replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
