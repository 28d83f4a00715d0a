/* Identifiers (section 2), Windows name rules (section 4), encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

static void test_pkgid(void **state)
{
    (void)state;
    char id[CMH_PKGID_SIZE];
    assert_int_equal(cmh_pkgid_parse(id, "msc0000b"), CMH_OK);
    assert_string_equal(id, "MSC0000B");
    assert_int_equal(cmh_pkgid_parse(id, "CM100001"), CMH_OK);
    const char *bad[] = {"", "MSC0000", "MSC0000BB", "MS-0000B", "MSC0000G",
                         "MSC 000B", "../00001", "MSC0000\xC3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cmh_pkgid_parse(id, bad[i]), CMH_E_INVALID);
}

static void test_content_id(void **state)
{
    (void)state;
    char id[CMH_PKGID_SIZE];
    uint32_t v = 0;
    assert_int_equal(cmh_content_id_parse(id, &v, "MSC0000B.12"),
                     CMH_CONTENT_PACKAGE);
    assert_string_equal(id, "MSC0000B");
    assert_int_equal(v, 12);
    assert_int_equal(
        cmh_content_id_parse(NULL, &v,
                             "Content_0a1b2c3d-0000-4000-8000-00000000abcd.3"),
        CMH_CONTENT_APP);
    assert_int_equal(v, 3);
    assert_int_equal(cmh_content_id_parse(
                         NULL, NULL, "0a1b2c3d-0000-4000-8000-00000000abcd"),
                     CMH_CONTENT_UPDATE);
    const char *bad[] = {"MSC0000B", "MSC0000B.0", "MSC0000B.01",
                         "msc0000b.1", "MSC0000B.1/..", "../MSC0000B.1",
                         "MSC0000B..1", "MSC0000B.1x", "..", ".",
                         "Content_0A1B2C3D-0000-4000-8000-00000000ABCD.1",
                         "0a1b2c3d-0000-4000-8000-00000000abc/",
                         "MSC0000B.1234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cmh_content_id_parse(NULL, NULL, bad[i]),
                         CMH_CONTENT_INVALID);
}

static void test_name_rules(void **state)
{
    (void)state;
    const char *good[] = {"setup.exe", ".hidden", "x.ini", "CONSOLE",
                          "com10", "a b", "\xC3\xA9t\xC3\xA9",
                          "\xF0\x9F\x98\x80.txt"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_null(cmh__name_problem(good[i]));
    const char *bad[] = {"a:b", "a*b", "a?b", "a\"b", "a<b", "a>b", "a|b",
                         "a\\b", "tab\there", "end.", "end ", "CON",
                         "con.txt", "Aux.tar.gz", "nul", "COM1", "lpt9.log",
                         "bad\xC3", "\xED\xA0\x80surrogate"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_non_null(cmh__name_problem(bad[i]));
    char longname[260];
    memset(longname, 'a', 252);
    longname[252] = 0;
    assert_non_null(cmh__name_problem(longname));
    longname[251] = 0;
    assert_null(cmh__name_problem(longname));
}

static void test_case_mapping(void **state)
{
    (void)state;
    /* simple 1:1 mappings as glibc's towupper/towlower in UTF-8 */
    uint16_t s[] = {'a', 0xE4, 0xDF, 0xFF41, 0xD83D, 0xDE00, 0x0130};
    cmh__utf16_upper(s, 7);
    assert_int_equal(s[0], 'A');
    assert_int_equal(s[1], 0xC4);
    assert_int_equal(s[2], 0xDF); /* no simple upper of sharp s */
    assert_int_equal(s[3], 0xFF21);
    assert_int_equal(s[4], 0xD83D); /* above U+FFFF unchanged */
    assert_int_equal(s[5], 0xDE00);
    cmh__utf16_lower(s, 7);
    assert_int_equal(s[6], 'i'); /* U+0130 lowers to i */
}

static void test_encodings(void **state)
{
    (void)state;
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__percent_encode(&b, "C:\\src\n100%\x7f\xC3\xA9\xFF");
    assert_string_equal(cmh__buf_str(&b), "C:\\src%0A100%25%7F\xC3\xA9%FF");
    cmh__buf_free(&b);
    /* spec 3.3 example and the epoch */
    assert_int_equal(cmh__filetime_from_ns(0), 116444736000000000LL);
    assert_int_equal(cmh__filetime_from_ns(1234567891234567891LL),
                     (1234567891LL + 11644473600LL) * 10000000LL +
                         234567891LL / 100);
    assert_int_equal(cmh__ns_from_filetime(cmh__filetime_from_ns(
                         1700000000123456700LL)),
                     1700000000123456700LL);
    uint16_t *u;
    size_t n;
    assert_true(cmh__utf8_to_utf16("\xF0\x9F\x98\x80", 4, &u, &n));
    assert_int_equal(n, 2);
    assert_int_equal(u[0], 0xD83D);
    assert_int_equal(u[1], 0xDE00);
    free(u);
    assert_false(cmh__utf8_to_utf16("\xC0\x80", 2, &u, &n)); /* overlong */
    assert_false(cmh__utf8_to_utf16("\xE2\x82", 2, &u, &n)); /* truncated */
    assert_false(cmh__utf8_to_utf16("\xF4\x90\x80\x80", 4, &u, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkgid),
        cmocka_unit_test(test_content_id),
        cmocka_unit_test(test_name_rules),
        cmocka_unit_test(test_case_mapping),
        cmocka_unit_test(test_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
