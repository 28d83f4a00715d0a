/* cmh__grow (engine/base/grow.c): growth by doubling, contents kept, and
 * the refusal of sizes that do not fit in a size_t. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "grow.h"

static void test_grow_doubles(void **state)
{
    (void)state;
    uint32_t *v = NULL;
    size_t cap = 0;
    /* from nothing: the first capacity */
    assert_true(cmh__grow(&v, &cap, 1, sizeof *v, 4));
    assert_non_null(v);
    assert_int_equal(cap, 4);
    /* room enough: nothing changes */
    uint32_t *was = v;
    assert_true(cmh__grow(&v, &cap, 4, sizeof *v, 4));
    assert_ptr_equal(v, was);
    assert_int_equal(cap, 4);
    /* one more: doubled */
    assert_true(cmh__grow(&v, &cap, 5, sizeof *v, 4));
    assert_int_equal(cap, 8);
    /* far more: doubled until it fits (8 -> 16 -> 32 -> 64) */
    assert_true(cmh__grow(&v, &cap, 33, sizeof *v, 4));
    assert_int_equal(cap, 64);
    free(v);
    /* first 0 still grows */
    v = NULL;
    cap = 0;
    assert_true(cmh__grow(&v, &cap, 3, sizeof *v, 0));
    assert_int_equal(cap, 4);
    free(v);
}

static void test_grow_keeps_contents(void **state)
{
    (void)state;
    uint64_t *v = NULL;
    size_t cap = 0, n = 0;
    for (uint64_t i = 0; i < 10000; i++) {
        assert_true(cmh__grow(&v, &cap, n + 1, sizeof *v, 8));
        assert_true(cap >= n + 1);
        v[n++] = i * 2654435761u;
    }
    assert_int_equal(cap, 16384); /* 8 doubled 11 times */
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(v[i], i * 2654435761u);
    free(v);
}

static void test_grow_refuses_overflow(void **state)
{
    (void)state;
    char *v = malloc(16);
    assert_non_null(v);
    for (int i = 0; i < 16; i++)
        v[i] = (char)('a' + i);
    size_t cap = 16;
    char *was = v;
    /* elements * size past SIZE_MAX */
    assert_false(cmh__grow(&v, &cap, SIZE_MAX / 8 + 1, 8, 4));
    assert_ptr_equal(v, was);
    assert_int_equal(cap, 16);
    /* the doubling itself past SIZE_MAX */
    assert_false(cmh__grow(&v, &cap, SIZE_MAX, 1, 4));
    assert_ptr_equal(v, was);
    assert_int_equal(cap, 16);
    /* the array is intact and still grows */
    assert_true(cmh__grow(&v, &cap, 17, 1, 4));
    assert_int_equal(cap, 32);
    for (int i = 0; i < 16; i++)
        assert_int_equal(v[i], 'a' + i);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_doubles),
        cmocka_unit_test(test_grow_keeps_contents),
        cmocka_unit_test(test_grow_refuses_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
