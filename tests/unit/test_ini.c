/* Lenient INI reading (contentlib.md section 9) and reference lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

typedef struct kv {
    char text[8192];
    int count;
} kv;

static int collect(void *payload, const char *section, const char *key,
                   const char *value, int lineno)
{
    (void)lineno;
    kv *k = payload;
    size_t l = strlen(k->text);
    snprintf(k->text + l, sizeof k->text - l, "[%s]%s=%s;", section, key,
             value);
    k->count++;
    return 0;
}

static bool parse(const char *data, size_t len, kv *k, char *why)
{
    memset(k, 0, sizeof *k);
    return cmh__ini_parse(data, len, collect, k, why, 256);
}

static void test_crlf_lf_bom_spaces(void **state)
{
    (void)state;
    kv k;
    char why[256];
    const char crlf[] = "[File]\r\nSize=5\r\nHash=AB\r\n";
    assert_true(parse(crlf, sizeof crlf - 1, &k, why));
    assert_string_equal(k.text, "[File]Size=5;[File]Hash=AB;");
    const char lf[] = "\xEF\xBB\xBF[file]\n  size = 5 \n; comment\nhash=AB";
    assert_true(parse(lf, sizeof lf - 1, &k, why));
    assert_string_equal(k.text, "[file]size=5;[file]hash=AB;");
}

static void test_utf16le(void **state)
{
    (void)state;
    const char *src = "[Info]\r\nHash=\xC3\xA9t\xC3\xA9\r\n";
    /* hand-encode as UTF-16LE with BOM */
    unsigned char buf[128];
    size_t n = 0;
    buf[n++] = 0xFF;
    buf[n++] = 0xFE;
    uint16_t *u;
    size_t ul;
    assert_true(cmh__utf8_to_utf16(src, strlen(src), &u, &ul));
    for (size_t i = 0; i < ul; i++) {
        buf[n++] = (unsigned char)(u[i] & 0xFF);
        buf[n++] = (unsigned char)(u[i] >> 8);
    }
    free(u);
    kv k;
    char why[256];
    assert_true(parse((const char *)buf, n, &k, why));
    assert_string_equal(k.text, "[Info]Hash=\xC3\xA9t\xC3\xA9;");
}

static void test_rejects(void **state)
{
    (void)state;
    kv k;
    char why[256];
    const char bin[] = "[File]\nSize=5\n\x01\x02junk\n";
    assert_false(parse(bin, sizeof bin - 1, &k, why));
    assert_non_null(strstr(why, "binary"));
    const char nul[] = "[File]\nSize=5\0x\n";
    assert_false(parse(nul, sizeof nul - 1, &k, why));
    const char noeq[] = "[File]\nthis line has no separator\n";
    assert_false(parse(noeq, sizeof noeq - 1, &k, why));
    assert_non_null(strstr(why, "line 2"));
    /* over-long line */
    size_t big = CMH_INI_MAX_LINE + 100;
    char *longl = malloc(big + 16);
    memcpy(longl, "[a]\nk=", 6);
    memset(longl + 6, 'x', big);
    assert_false(parse(longl, big + 6, &k, why));
    assert_non_null(strstr(why, "longer"));
    free(longl);
}

/* inih's line buffer is 200 bytes: longer (allowed) values arrive whole,
 * and an indented crafted line is not glued onto the previous key. */
static void test_long_values_and_indent(void **state)
{
    (void)state;
    char data[2048];
    char val[1001];
    memset(val, 'p', 1000);
    val[1000] = 0;
    snprintf(data, sizeof data, "[cmhash]\r\nSource=%s\r\n  Hash=X\r\n", val);
    kv k;
    char why[256];
    assert_true(parse(data, strlen(data), &k, why));
    char want[1100];
    snprintf(want, sizeof want, "[cmhash]Source=%s;[cmhash]Hash=X;", val);
    assert_string_equal(k.text, want);
    assert_int_equal(k.count, 2);
}

static void test_reflist(void **state)
{
    (void)state;
    cmh_reflist r = {0};
    char why[256];
    const char ini[] = "[anything]\nMSC00011.1=\nMSC0000B.2=\nMSC0000B.2=\n";
    assert_true(cmh__reflist_parse(&r, ini, sizeof ini - 1, why, sizeof why));
    assert_int_equal(r.n, 2);
    assert_true(cmh__reflist_add(&r, "ABC00001.1"));
    assert_true(cmh__reflist_add(&r, "MSC0000B.10"));
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__reflist_write(&r, &b);
    /* ordinal byte order */
    assert_string_equal(cmh__buf_str(&b),
                        "[File]\r\nABC00001.1=\r\nMSC0000B.10=\r\n"
                        "MSC0000B.2=\r\nMSC00011.1=\r\n");
    assert_true(cmh__reflist_remove(&r, "MSC00011.1"));
    assert_false(cmh__reflist_remove(&r, "MSC00011.1"));
    assert_true(cmh__reflist_has(&r, "MSC0000B.2"));
    cmh__buf_free(&b);
    cmh__reflist_free(&r);
    /* crafted IDs and two sections are refused */
    const char bad1[] = "[File]\n../../etc.1=\n";
    assert_false(cmh__reflist_parse(&r, bad1, sizeof bad1 - 1, why, sizeof why));
    cmh__reflist_free(&r);
    const char bad2[] = "[File]\nMSC00001.1=\n[Other]\nMSC00002.1=\n";
    assert_false(cmh__reflist_parse(&r, bad2, sizeof bad2 - 1, why, sizeof why));
    cmh__reflist_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crlf_lf_bom_spaces),
        cmocka_unit_test(test_utf16le),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_long_values_and_indent),
        cmocka_unit_test(test_reflist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
