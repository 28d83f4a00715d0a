/* Fuzz target: the CLI's JSON string writer (cli/util.c json_str) on
 * arbitrary bytes. Asserts the output is one line holding exactly one
 * strict RFC 8259 string literal (valid UTF-8 only: no overlong forms,
 * surrogates or code points above U+10FFFF - what Python's json.loads
 * and jq accept), and that it decodes to the input: each well-formed
 * UTF-8 sequence as itself, each other byte as U+00XX. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict UTF-8 decode of one sequence at p (n bytes left): its length, or
 * 0 when it is not well formed (RFC 3629). */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parse the JSON string literal out[0..n) strictly into code points;
 * returns the count, aborts on anything RFC 8259 rejects. */
static size_t json_decode(const unsigned char *s, size_t n, uint32_t *cps)
{
    size_t k = 0, i = 1;
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        abort();
    while (i < n - 1) {
        uint32_t cp;
        if (s[i] == '"' || s[i] < 0x20)
            abort(); /* unescaped quote or control character */
        if (s[i] == '\\') {
            if (i + 1 >= n - 1)
                abort();
            unsigned char e = s[i + 1];
            i += 2;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'u':
                if (i + 4 > n - 1)
                    abort();
                cp = 0;
                for (int j = 0; j < 4; j++) {
                    int h = hexv(s[i + j]);
                    if (h < 0)
                        abort();
                    cp = cp << 4 | (uint32_t)h;
                }
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    abort(); /* json_str never needs surrogate pairs */
                break;
            default: abort();
            }
        } else {
            size_t len = utf8_seq(s + i, n - 1 - i, &cp);
            if (!len)
                abort(); /* invalid UTF-8 in the output */
            i += len;
        }
        cps[k++] = cp;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = 0;
    size_t inlen = strlen(in); /* json_str takes a C string */
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f) {
        free(in);
        return 0;
    }
    json_str(f, in);
    fclose(f);
    if (memchr(out, '\n', outlen) || memchr(out, '\r', outlen))
        abort(); /* JSON Lines: one object per line */
    uint32_t *got = malloc((outlen + 1) * sizeof *got);
    uint32_t *want = malloc((inlen + 1) * sizeof *want);
    if (!got || !want)
        abort();
    size_t ng = json_decode((const unsigned char *)out, outlen, got);
    size_t nw = 0;
    for (size_t i = 0; i < inlen;) {
        uint32_t cp;
        size_t len = utf8_seq((const unsigned char *)in + i, inlen - i, &cp);
        if (len) {
            want[nw++] = cp;
            i += len;
        } else {
            want[nw++] = (unsigned char)in[i++];
        }
    }
    if (ng != nw || memcmp(got, want, nw * sizeof *got))
        abort(); /* does not decode to the input */
    free(got);
    free(want);
    free(out);
    free(in);
    return 0;
}
